"""The report's figures, as PNG bytes: matplotlib's object API on the Agg canvas (no pyplot, so no
global state and no display needed), one colour per policy on every figure so a reader learns it once.

Every function takes plain JSON-like data (eval.json / metrics.jsonl rows) and tolerates NaN and None:
a missing value leaves a gap or an "n/a" label, never an exception.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BASELINES = ("none", "idle", "random", "selfish", "carer")
POLICY_COLOURS = {
    "none": "#8c8c8c", "idle": "#c7b98a", "random": "#a0785a", "selfish": "#d62728", "carer": "#2ca02c",
}
SEED_COLOURS = ("#1f77b4", "#9467bd", "#17becf", "#ff7f0e", "#e377c2", "#393b79", "#bcbd22", "#8c6d31")
CAUSE_COLOURS = {
    "alive": "#74c476", "starved": "#fd8d3c", "hazard": "#e6550d", "predator": "#756bb1", "left": "#bdbdbd",
}
POLICY_LABELS = {
    "none": "no mother", "idle": "idle mother", "random": "random mother", "selfish": "selfish (trained)",
    "carer": "scripted carer",
}


def num(x) -> float:
    """A JSON value as a float, NaN for None/strings/non-finite, so arithmetic never raises."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def seed_index(policy: str) -> int | None:
    if policy.startswith("seed_") and policy[5:].isdigit():
        return int(policy[5:])
    return None


def colour(policy: str) -> str:
    s = seed_index(policy)
    return SEED_COLOURS[s % len(SEED_COLOURS)] if s is not None else POLICY_COLOURS.get(policy, "#444444")


def label(policy: str) -> str:
    s = seed_index(policy)
    return f"seed {s} (trained)" if s is not None else POLICY_LABELS.get(policy, policy)


def order(policies) -> list[str]:
    """Baselines first in a fixed order, then seeds by number, then anything else by name."""
    names = list(policies)
    base = [p for p in BASELINES if p in names]
    seeds = sorted((p for p in names if seed_index(p) is not None), key=seed_index)
    rest = sorted(p for p in names if p not in base and p not in seeds)
    return base + seeds + rest


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _style(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def phase_boundaries(rows: list[dict]) -> list[tuple[float, str]]:
    """(env steps where a phase starts, its name): read from the rows, as the logged steps are what the
    curves' x axis shows (the config's budgets are rounded to whole updates)."""
    out, last_phase, last_t = [], None, 0.0
    for r in sorted(rows, key=lambda r: (num(r.get("timesteps")), num(r.get("update")))):
        phase = str(r.get("phase", ""))
        if phase != last_phase:
            out.append((last_t, phase))
            last_phase = phase
        last_t = num(r.get("timesteps"))
    return out


def training_curves(rows: list[dict]) -> bytes:
    """Return, baby-alive share and entropy per seed against env steps, phase starts marked."""
    panels = (("return", "Episode return", "return"),
              ("info/baby_alive", "Babies alive", "share of babies alive"),
              ("entropy", "Policy entropy", "entropy (nats)"))
    fig = Figure(figsize=(11.3, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    seeds = sorted({int(num(r["seed"])) for r in rows if not math.isnan(num(r.get("seed")))})
    bounds = phase_boundaries(rows)
    # One x range for all panels (a metric that is NaN early must not shrink its axis and push the phase
    # labels out of it).
    t_max = np.nanmax([num(r.get("timesteps")) for r in rows] + [1.0])
    for ax, (key, title, ylabel) in zip(axes, panels, strict=True):
        for s in seeds:
            mine = sorted((r for r in rows if num(r.get("seed")) == s), key=lambda r: num(r.get("timesteps")))
            x = np.array([num(r.get("timesteps")) for r in mine])
            y = np.array([num(r.get(key)) for r in mine])
            ax.plot(x, y, color=SEED_COLOURS[s % len(SEED_COLOURS)], lw=1.8, label=f"seed {s}",
                    marker="o" if len(x) <= 30 else None, ms=3)
        for k, (t, name) in enumerate(bounds):
            if k > 0:
                ax.axvline(t, color="#555555", ls="--", lw=1)
            ax.annotate(name, (t, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", va="top", fontsize=8, color="#555555")
        ax.set_xlim(0, t_max * 1.02)
        ys = np.array([num(r.get(key)) for r in rows])
        ys = ys[np.isfinite(ys)]
        if ys.size and np.ptp(ys) < 1e-3 * max(1.0, float(np.abs(ys).max())):
            ax.set_ylim(ys.mean() - 0.05, ys.mean() + 0.05)  # a flat metric should look flat, not like noise
        ax.yaxis.get_major_formatter().set_useOffset(False)  # "1e-6+2.19722" above an axis reads as noise
        if key == "info/baby_alive":
            ax.set_ylim(-0.03, 1.03)
        _style(ax, title, "env steps (per seed)", ylabel)
    if seeds:
        axes[0].legend(loc="lower right", fontsize=8)
    return _png(fig)


def survival_curves(policies: dict) -> bytes:
    """Kaplan-Meier style: share of babies still alive t ticks after birth, one step curve per policy."""
    fig = Figure(figsize=(11.3, 4.2), layout="constrained")
    ax = fig.subplots()
    for p in order(policies):
        curve = np.array([num(v) for v in (policies[p].get("survival_curve") or [])])
        if curve.size == 0:
            continue
        trained = seed_index(p) is not None or p == "selfish"
        ax.step(np.arange(curve.size), curve, where="post", color=colour(p), label=label(p),
                lw=2.2 if trained else 1.6, ls="-" if trained or p == "carer" else "--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    _style(ax, "Baby survival on the training world", "ticks after birth", "share of babies alive")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False)
    return _png(fig)


def battery_chart(worlds: list[dict]) -> bytes:
    """Care score per world per trained seed, as a dot with its 95% interval: dots stay readable with many
    worlds and seeds where grouped bars would not. 0 = selfish mother, 1 = scripted carer."""
    seeds = order({p for w in worlds for p in w.get("policies", {}) if seed_index(p) is not None})
    names = [f"{w.get('name', '?')} ({w.get('kind', '?')})" for w in worlds]
    fig = Figure(figsize=(11.3, 1.6 + 0.42 * max(len(worlds), 1)), layout="constrained")
    ax = fig.subplots()
    for i in range(0, len(worlds), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f1efe9", zorder=0)
    step = 0.7 / max(len(seeds), 1)
    for j, p in enumerate(seeds):
        ys, xs, lo, hi = [], [], [], []
        for i, w in enumerate(worlds):
            r = w.get("policies", {}).get(p) or {}
            score, y = num(r.get("care_score")), i - 0.35 + step * (j + 0.5)
            if math.isnan(score):
                ax.annotate("n/a", (0, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7,
                            color=colour(p))
                continue
            ci = r.get("care_ci") or [math.nan, math.nan]
            a, b = num(ci[0]), num(ci[-1])
            ys.append(y)
            xs.append(score)
            lo.append(0.0 if math.isnan(a) else max(score - a, 0.0))
            hi.append(0.0 if math.isnan(b) else max(b - score, 0.0))
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", ms=5, color=colour(p), ecolor=colour(p), elinewidth=1.6,
                    capsize=2, label=label(p), zorder=3)
    for x, text, c in ((0, "selfish mother (0)", "#d62728"), (1, "scripted carer (1)", "#2ca02c")):
        ax.axvline(x, color=c, lw=1.2, ls="--", zorder=1, label=text)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    _style(ax, "Care score per world (dots: trained seeds, whiskers: 95% interval)",
           "care score (0 = selfish mother, 1 = scripted carer)", "")
    ax.grid(axis="y", alpha=0)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False)
    return _png(fig)


def death_causes(policies: dict) -> bytes:
    """How each policy's babies ended the episode, as shares of all babies, one stacked bar per policy."""
    names = order(policies)
    causes = list(CAUSE_COLOURS)
    extra = sorted({c for p in names for c in (policies[p].get("death_causes") or {})} - set(causes))
    causes += extra
    fig = Figure(figsize=(11.3, 1.4 + 0.38 * max(len(names), 1)), layout="constrained")
    ax = fig.subplots()
    counts = np.array([[num((policies[p].get("death_causes") or {}).get(c)) for c in causes] for p in names])
    counts = np.nan_to_num(counts, nan=0.0).reshape(len(names), len(causes))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    left = np.zeros(len(names))
    for k, c in enumerate(causes):
        ax.barh(range(len(names)), shares[:, k], left=left, color=CAUSE_COLOURS.get(c, "#444444"),
                label=c, height=0.7, edgecolor="white", lw=0.5)
        for i, v in enumerate(shares[:, k]):
            if v >= 0.07:
                ax.text(left[i] + v / 2, i, f"{v:.0%}", ha="center", va="center", fontsize=8)
        left += shares[:, k]
    ax.set_yticks(range(len(names)), [label(p) for p in names])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    _style(ax, "How the babies' episodes ended (training world)", "share of babies", "policy")
    ax.grid(axis="y", alpha=0)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(causes), fontsize=9,
               frameon=False)
    return _png(fig)
