"""The interp section's figures as small PNGs (matplotlib's object API on Agg, as `eval.plots`), each
from one section of interp.json: probes per tap vs their controls, the lesion scatter, the patching
heatmap, retargeting with its controls, the CKA matrix with its baselines, probes over training.

Every function takes the section dict and returns PNG bytes (or None when it holds nothing to draw);
missing values leave gaps, never an exception.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from caredrive.agents.networks import TAPS
from caredrive.eval.plots import SEED_COLOURS, num

DPI = 80
GREY, ORANGE, BLUE, RED = "#8c8c8c", "#ff7f0e", "#1f77b4", "#d62728"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _m(s) -> float:
    return num((s or {}).get("mean"))


def _err(s) -> tuple[float, float]:
    """(below, above) the mean from an `across` dict's interval, 0 when there is none."""
    ci, m = (s or {}).get("ci"), _m(s)
    if not ci or np.isnan(m):
        return 0.0, 0.0
    return max(m - num(ci[0]), 0.0), max(num(ci[1]) - m, 0.0)


def _seed_colour(i: int) -> str:
    return SEED_COLOURS[i % len(SEED_COLOURS)]


def probes(sec: dict) -> bytes | None:
    summ = sec.get("summary") or {}
    targets = (sec.get("config") or {}).get("targets") or []
    taps = [t for t in TAPS if t in summ and t != "input"] + [t for t in summ if t not in TAPS]
    if not taps or not targets:
        return None
    cols = 4
    rows = -(-len(targets) // cols)
    fig = Figure(figsize=(12, 2.6 * rows), dpi=DPI)
    x = np.arange(len(taps))
    for k, target in enumerate(targets):
        ax = fig.add_subplot(rows, cols, k + 1)
        get = lambda key, t=target: [(summ[tap].get(t) or {}).get(key) for tap in taps]
        score = get("score")
        ax.errorbar(
            x,
            [_m(s) for s in score],
            yerr=np.array([_err(s) for s in score]).T,
            fmt="o-",
            color=BLUE,
            ms=4,
            lw=1.5,
            capsize=2,
            label="probe (mean, t95 over seeds)",
        )
        ax.plot(x, [_m(s) for s in get("shuffled")], "s--", color=GREY, ms=3, lw=1, label="shuffled labels")
        raw = _m((summ.get("input") or {}).get(target, {}).get("score")) if "input" in summ else np.nan
        ax.axhline(raw, color=ORANGE, ls=":", lw=1.5, label="raw observation")
        chance = _m(get("chance")[0])
        metric = (summ[taps[0]].get(target) or {}).get("metric", "")
        if metric == "accuracy" and not np.isnan(chance):
            ax.axhline(chance, color="k", lw=0.8, alpha=0.5, label="chance (majority)")
        ax.set_title(f"{target} ({'R²' if metric == 'r2' else 'accuracy'})", fontsize=9)
        ax.set_xticks(x, taps, rotation=60, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylim(min(-0.1, np.nanmin([_m(s) for s in score] + [0.0])), 1.02)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=6, loc="lower left")
    fig.suptitle("Linear probes per layer vs controls (held-out episodes)", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def lesions(sec: dict) -> bytes | None:
    per = sec.get("per_seed") or {}
    if not per:
        return None
    fig = Figure(figsize=(11, 4.2), dpi=DPI)
    panels = [
        (title, ks)
        for title, ks in (
            ("mean ablation: single units (dots) and groups", ("mean",)),
            ("zero (■) / resample (▲): groups", ("zero", "resample")),
        )
        if any(k in v for v in per.values() for k in ks)
    ]
    for j, (title, kinds) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), j + 1)
        for i, by_kind in enumerate(per.values()):
            for kd in kinds:
                res = by_kind.get(kd) or {}
                spec = set(res.get("care_specific") or [])
                for r in res.get("rows") or []:
                    xv, yv = num(r.get("self_drop")), num(r.get("care_drop"))
                    if np.isnan(xv) or np.isnan(yv):
                        continue
                    ci, sci = r.get("care_drop_ci") or [yv, yv], r.get("self_drop_ci") or [xv, xv]
                    single = r["label"].startswith("unit")
                    mk = {"mean": "o", "zero": "s", "resample": "^"}[kd] if not single else "."
                    ax.errorbar(
                        xv,
                        yv,
                        yerr=[[max(yv - num(ci[0]), 0)], [max(num(ci[1]) - yv, 0)]],
                        xerr=[[max(xv - num(sci[0]), 0)], [max(num(sci[1]) - xv, 0)]],
                        fmt=mk,
                        color=_seed_colour(i),
                        ms=3 if single else 6,
                        elinewidth=0.5,
                        alpha=0.8,
                    )
                    if not single and r["label"] == "all":
                        ax.annotate(
                            f"all ({kd})", (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points"
                        )
                    if r["label"] in spec:
                        ax.plot(xv, yv, "o", mfc="none", mec=RED, ms=10, mew=1.5)
        thr = (sec.get("thresholds") or {}).get("care_drop")
        if thr is not None:
            ax.axhline(thr, color=RED, ls=":", lw=1)
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlabel("self-survival drop (ticks alive, births off)", fontsize=8)
        ax.set_ylabel("care score drop", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    handles = [ax.plot([], [], "o", color=_seed_colour(i), label=f"seed {s}")[0] for i, s in enumerate(per)]
    handles.append(ax.plot([], [], "o", mfc="none", mec=RED, label="kills care, spares self")[0])
    ax.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(
        f"Lesions at {sec.get('tap')}: care drop vs self-survival drop (95% paired intervals)", fontsize=11
    )
    fig.tight_layout()
    return _png(fig)


def patching(sec: dict) -> bytes | None:
    summ = {k: v for k, v in (sec.get("summary") or {}).items() if isinstance(v, dict) and "skipped" not in v}
    if not summ:
        return None
    fig = Figure(figsize=(4.2 * len(summ) + 1, 3.4), dpi=DPI)
    for j, (kind, per_tap) in enumerate(summ.items()):
        ax = fig.add_subplot(1, len(summ), j + 1)
        taps = list(per_tap)
        groups = list(per_tap[taps[0]])
        grid = np.array([[_m(per_tap[t].get(g)) for g in groups] for t in taps])
        im = ax.imshow(np.clip(grid, -1.5, 1.5), cmap="RdBu_r", vmin=-1.5, vmax=1.5, aspect="auto")
        for (a, b), v in np.ndenumerate(grid):
            ax.text(b, a, "—" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7)
        short = [g.replace("quarter ", "q").replace("half ", "h") for g in groups]
        ax.set_xticks(range(len(groups)), short, rotation=50, fontsize=7)
        ax.set_yticks(range(len(taps)), taps, fontsize=8)
        gap = (sec.get("gaps") or {}).get(kind) or {}
        ci = gap.get("ci")
        gap_s = (
            ""
            if gap.get("mean") is None
            else f"\ngap {gap['mean']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        )
        ax.set_title(f"{kind}{gap_s}", fontsize=8)
    fig.subplots_adjust(bottom=0.2, top=0.74, wspace=0.35)
    fig.colorbar(im, ax=fig.axes, shrink=0.8, label="restored fraction")
    fig.suptitle(
        "Activation patching: share of the logit difference toward her baby restored (mean over seeds)\n"
        "h = half, q = quarter of the units, top4 = the 4 most changed; gap = clean - corrupted",
        fontsize=9,
    )
    return _png(fig)


def steer(sec: dict) -> bytes | None:
    per = sec.get("per_seed") or {}
    if not per:
        return None
    worlds = list((sec.get("summary") or {}).get("retarget") or {})
    fig = Figure(figsize=(4 * (len(worlds) + 1), 3.8), dpi=DPI)
    seeds = list(per)
    x = np.arange(len(seeds))
    for j, w in enumerate(worlds):
        ax = fig.add_subplot(1, len(worlds) + 1, j + 1)
        for i, s in enumerate(seeds):
            r = per[s]["own_vs_other"]["retarget"][w]
            st = r["steered"]
            v, ci = num(st.get("lifetime_vs_none")), st.get("lifetime_vs_none_ci") or [np.nan, np.nan]
            ax.bar(i, v, color=_seed_colour(i), alpha=0.85)
            if not np.isnan(v):
                ax.errorbar(
                    i, v, yerr=[[max(v - num(ci[0]), 0)], [max(num(ci[1]) - v, 0)]], color="k", capsize=3
                )
            rnd = [num(q.get("lifetime_vs_none")) for q in r["random"]]
            ax.plot([i + 0.3] * len(rnd), rnd, "x", color=GREY, ms=6)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [f"seed {s}" for s in seeds], fontsize=8)
        ax.set_ylabel("other baby's lifetime vs unsteered (ticks)", fontsize=8)
        ax.set_title(f"retarget in {w}: steered (bars, 95%) vs random equal-norm (x)", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    ax = fig.add_subplot(1, len(worlds) + 1, len(worlds) + 1)
    width = 0.38
    for k, (name, colour) in enumerate((("own_vs_other", BLUE), ("needs_vs_not", ORANGE))):
        off = [per[s][name]["switch_off"]["train"] for s in seeds]
        vals = np.array([-num(o.get("care_vs_none")) for o in off])
        cis = [o.get("care_vs_none_ci") or [np.nan, np.nan] for o in off]
        lo = np.array([-num(c[1]) for c in cis])
        hi = np.array([-num(c[0]) for c in cis])
        at = x + (k - 0.5) * width
        ax.bar(at, vals, width, color=colour, label=f"-{name}: care drop")
        ax.errorbar(
            at,
            vals,
            yerr=[np.nan_to_num(np.maximum(vals - lo, 0)), np.nan_to_num(np.maximum(hi - vals, 0))],
            fmt="none",
            color="k",
            capsize=2,
        )
        for i, s in enumerate(seeds):
            rnd = [num(q.get("care_drop")) for q in per[s][name].get("switch_off_random") or []]
            ax.plot(
                [at[i]] * len(rnd),
                rnd,
                "x",
                color=GREY,
                ms=5,
                label="random equal-norm" if k == i == 0 else None,
            )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [f"seed {s}" for s in seeds], fontsize=8)
    ax.set_ylabel("care score drop (95%)", fontsize=8)
    ax.set_title("switch-off: subtracting the vector (training world)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Steering at {sec.get('tap')} (alpha {sec.get('alpha')})", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def cka(sec: dict) -> bytes | None:
    rep = sec.get("report") or {}
    mat, labels, summ = rep.get("matrix"), rep.get("labels") or [], rep.get("summary") or {}
    if not mat:
        return None
    fig = Figure(figsize=(12, 5.2), dpi=DPI)
    ax = fig.add_subplot(1, 2, 1)
    im = ax.imshow(np.array(mat, float), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=5)
    ax.set_yticks(range(len(labels)), labels, fontsize=5)
    ax.set_title("linear CKA, every (seed, layer) pair", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax = fig.add_subplot(1, 2, 2)
    taps = list(summ)
    series = (
        ("trained", BLUE, "trained seeds"),
        ("untrained", GREY, "untrained seeds (baseline)"),
        ("trained_vs_untrained", "#9467bd", "trained vs its init"),
        ("control_episodes", ORANGE, "episodes shuffled (control)"),
        ("control_rows", "k", "rows shuffled (floor)"),
    )
    width = 0.8 / len(series)
    for k, (key, colour, lab) in enumerate(series):
        ax.bar(
            np.arange(len(taps)) + (k - 2) * width,
            [num(summ[t].get(key)) for t in taps],
            width,
            color=colour,
            label=lab,
        )
    ax.set_xticks(range(len(taps)), taps, rotation=45, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("CKA, mean over seed pairs", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("same layer across seeds vs baselines", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def training(sec: dict) -> bytes | None:
    series, updates = sec.get("series") or {}, sec.get("updates") or []
    tap = "gru" if "gru" in series else next(iter(series), None)
    if tap is None or len(updates) < 2:
        return None
    targets = list(series[tap])[:8]
    fig = Figure(figsize=(10, 4), dpi=DPI)
    ax = fig.add_subplot(1, 1, 1)
    for k, t in enumerate(targets):
        score = np.array([[num(v) for v in row] for row in series[tap][t]["score"]], float)
        c = SEED_COLOURS[k % len(SEED_COLOURS)]
        ax.plot(updates, np.nanmean(score, 1), "o-", color=c, ms=3, label=t)
        shuf = np.array([[num(v) for v in row] for row in series[tap][t]["shuffled"]], float)
        ax.plot(updates, np.nanmean(shuf, 1), ":", color=c, lw=1)
    ax.set_xlabel("updates", fontsize=8)
    ax.set_ylabel("probe score (mean over seeds)", fontsize=8)
    ax.set_title(f"Probes at {tap} over training (dotted: shuffled-label control)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


PLOTS = {
    "probes": probes,
    "lesions": lesions,
    "patching": patching,
    "steer": steer,
    "cka": cka,
    "training": training,
}
