"""A study's figures: results.json, one small PNG and a Markdown section for docs/RESULTS.md.

The unit of evidence is the seed (a whole training run): across-seed means carry a Student-t 95% interval
over seeds, shares (seeds that care, seeds flagged) a Wilson 95% interval, and comparisons between settings
an exact permutation test over seeds (`caredrive.eval.compare`) with the smallest difference the design
detects with 80% power, so a null result is reported with its power. "Cares" is `caredrive.eval.cares`.

results.json holds no wall times, paths or machine names (those go to timings.json), so the same study run
in-process or through Ray gives byte-identical results.json.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from caredrive.eval.cares import DEFINITION
from caredrive.eval.compare import permutation_test
from caredrive.experiments.measures import LABELS
from caredrive.experiments.spec import Plan
from caredrive.train.rundir import write_atomic

# two-sided 95% Student-t quantiles by degrees of freedom; beyond 30, 1.96 + 2.5/df is within 0.002
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z80 = 0.8416  # one-sided normal quantile of 80% power
_NOT_MEASURES = ("seed", "care_ci", "flagged", "cares")


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.5 / df


def mean_ci(values: list) -> dict:
    """Mean over seeds with a Student-t 95% interval (None where fewer than 2 values are defined)."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], float)
    if x.size == 0:
        return {"mean": None, "ci": None, "sd": None, "n": 0}
    if x.size == 1:
        return {"mean": float(x[0]), "ci": None, "sd": None, "n": 1}
    sd = float(x.std(ddof=1))
    half = t975(x.size - 1) * sd / math.sqrt(x.size)
    m = float(x.mean())
    return {"mean": m, "ci": [m - half, m + half], "sd": sd, "n": int(x.size)}


def wilson(k: int, n: int) -> dict:
    """A share k/n with its Wilson 95% interval (sound at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return {"k": 0, "n": 0, "share": None, "ci": None}
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo, hi = (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))
    return {"k": k, "n": n, "share": p, "ci": [lo, hi]}


def measure_names(records: list[dict]) -> list[str]:
    names = []
    for r in records:
        for row in r["seeds"]:
            names += [k for k in row if k not in _NOT_MEASURES and k not in names]
    return names


def summarise(record: dict, names: list[str]) -> dict:
    rows = record["seeds"]
    verdicts = [r["cares"] for r in rows]
    return {
        "setting": record["setting"], "label": record["label"], "tokens": record["tokens"],
        "timesteps_per_seed": record["timesteps_per_seed"], "episodes": record["episodes"],
        "selfish_reference": record["selfish_reference"], "seeds": rows,
        "across_seeds": {m: mean_ci([r.get(m) for r in rows]) for m in names},
        "share_caring": wilson(sum(v is True for v in verdicts), sum(v is not None for v in verdicts)),
        "share_flagged": wilson(sum(bool(r["flagged"]) for r in rows), len(rows)),
    }


def compare(a: dict, b: dict, measure: str) -> dict:
    """`a` - `b` on a per-seed measure: permutation test over seeds and the 80%-power detectable difference."""
    xa = [r[measure] for r in a["seeds"] if r.get(measure) is not None]
    xb = [r[measure] for r in b["seeds"] if r.get(measure) is not None]
    out = {"a": a["setting"], "b": b["setting"], "measure": measure, "n_a": len(xa), "n_b": len(xb)}
    if len(xa) < 2 or len(xb) < 2:
        return {**out, "difference": None, "p_two_sided": None, "p_greater": None, "detectable_80": None,
                "note": "fewer than 2 seeds with a value in an arm: no test"}
    res = permutation_test(xa, xb)
    df = len(xa) + len(xb) - 2
    pooled = math.sqrt(((len(xa) - 1) * np.var(xa, ddof=1) + (len(xb) - 1) * np.var(xb, ddof=1)) / df)
    detect = (t975(df) + Z80) * pooled * math.sqrt(1 / len(xa) + 1 / len(xb))
    return {**out, "difference": res["difference"], "p_two_sided": res["p_two_sided"], "p_greater": res["p_greater"],
            "exact": res["exact"], "detectable_80": float(detect)}


def build(plan: Plan, records: list[dict]) -> dict:
    st = plan.study
    names = measure_names(records)
    settings = [summarise(r, names) for r in records]
    by = {s["setting"]: s for s in settings}
    return {
        "study": st.name, "title": st.title, "question": st.question, "command": plan.command,
        "budget": {"name": plan.budget.name, "preset": plan.budget.preset, "tokens": list(plan.budget.tokens),
                   "note": plan.budget.note, "episodes": plan.budget.episodes, "seeds": plan.budget.seeds},
        "seeds": plan.seeds, "measures": names, "cares_definition": DEFINITION, "caveat": st.caveat,
        "settings": settings,
        "comparisons": [compare(by[c.a], by[c.b], c.measure) for c in st.comparisons],
        "plots": list(st.plots),
    }


def plot(results: dict, path: Path) -> Path:
    """One row of panels: each plotted measure per setting (seeds as dots, mean and 95% interval over
    seeds as a bar), then the share of seeds that care (Wilson 95%)."""
    panels = [m for m in results["plots"] if m in results["measures"]] + ["share_caring"]
    settings = results["settings"]
    xs = np.arange(len(settings))
    fig = Figure(figsize=(1.2 + 0.45 * len(settings) * len(panels) + 1.3 * len(panels), 3.0), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, m in zip(axes, panels, strict=True):
        for i, s in enumerate(settings):
            if m == "share_caring":
                w = s["share_caring"]
                if w["share"] is not None:
                    ax.bar(i, w["share"], color="#9ecae1", width=0.6)
                    ax.errorbar(i, w["share"], yerr=[[w["share"] - w["ci"][0]], [w["ci"][1] - w["share"]]],
                                color="k", capsize=3, lw=1)
                continue
            vals = [r.get(m) for r in s["seeds"] if r.get(m) is not None]
            jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(len(vals))
            ax.scatter(i + jitter, vals, s=10, color="#1f77b4", alpha=0.6, zorder=3)
            a = s["across_seeds"].get(m, {})
            if a.get("mean") is not None:
                lo, hi = a["ci"] if a.get("ci") else (a["mean"], a["mean"])
                ax.errorbar(i + 0.3, a["mean"], yerr=[[a["mean"] - lo], [hi - a["mean"]]], fmt="o", color="k",
                            ms=4, capsize=3, lw=1)
        ax.set_title("seeds that care" if m == "share_caring" else LABELS.get(m, m), fontsize=8)
        ax.set_xticks(xs, [s["setting"] for s in settings], rotation=45, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(settings) - 0.4)
        ax.tick_params(axis="y", labelsize=7)
        if m == "share_caring":
            ax.set_ylim(0, 1.05)
        elif m == "care_score":
            ax.axhline(0, color="#d62728", lw=0.6, ls=":")
            ax.axhline(1, color="#2ca02c", lw=0.6, ls=":")
    fig.suptitle(f"{results['study']}: {results['seeds']} seeds per setting, 95% intervals over seeds", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _f(x, digits: int = 2, sign: bool = False) -> str:
    if x is None:
        return "—"
    # three digits or more: one decimal (".2g" printed 103.19 as "1e+02")
    return f"{x:+.{digits}f}" if sign else f"{x:.1f}" if abs(x) >= 100 else f"{x:.{digits}f}"


def _mci(a: dict, sign: bool = False) -> str:
    if a.get("mean") is None:
        return "—"
    ci = "" if not a.get("ci") else f" [{_f(a['ci'][0], sign=sign)}, {_f(a['ci'][1], sign=sign)}]"
    return _f(a["mean"], sign=sign) + ci


def markdown(results: dict, timings: dict | None = None, image: str | None = None) -> str:
    """The study's section for docs/RESULTS.md: the command, the figures, the plot, what they do not say.
    Interpretation is left to the person who reads the figures; the generator only states them."""
    extra = [m for m in results["measures"] if m != "care_score"]
    b = results["budget"]
    lines = [f"## {results['title']}", "", results["question"], "", "```bash", results["command"], "```", ""]
    n = results["seeds"]
    instead = f" (`--seeds {n}` in place of the budget's {b['seeds']})" if b.get("seeds", n) != n else ""
    ran = f"Budget `{b['name']}`: {b['note']}; {n} seeds per setting{instead}."
    refs = {s["selfish_reference"] for s in results["settings"]}
    ran += f" The care score's zero: {', '.join(sorted(r for r in refs if r))}."
    if timings:
        busy = sum(t.get("total_s", 0.0) for t in timings.get("settings", {}).values())
        hw = (f"{timings.get('cpu', 'CPU')} ({timings.get('cpu_cores', '?')} cores)" if timings.get("platform") == "cpu"
              else f"{timings.get('devices', '?')} x {timings.get('device_kind', '?')}")
        ran += f" Measured on {hw}: the settings took {busy / 60:.0f} min in all (timings.json)."
    lines += [ran, ""]
    head = ["setting", "care score (95% CI over seeds)", "seeds that care", "flagged"] + [LABELS.get(m, m) for m in extra]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in results["settings"]:
        a = s["across_seeds"]
        row = [f"`{s['setting']}` {s['label'] if s['label'] != s['setting'] else ''}".strip(),
               _mci(a.get("care_score", {}), sign=True),
               f"{s['share_caring']['k']}/{s['share_caring']['n']}",
               f"{s['share_flagged']['k']}/{s['share_flagged']['n']}"] + [_mci(a.get(m, {})) for m in extra]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Care score per seed (* flagged by the Goodhart detector):"]
    for s in results["settings"]:
        vals = ", ".join(_f(r["care_score"], sign=True) + ("*" if r["flagged"] else "") for r in s["seeds"])
        lines.append(f"- `{s['setting']}`: {vals}")
    if results["comparisons"]:
        lines += ["", "Comparisons (exact permutation test over seeds; the smallest difference this many seeds "
                      "detect with 80% power beside it):"]
        for c in results["comparisons"]:
            what = f"`{c['a']}` − `{c['b']}`, {LABELS.get(c['measure'], c['measure'])}"
            if c["difference"] is None:
                lines.append(f"- {what}: {c['note']}")
            else:
                lines.append(f"- {what}: {_f(c['difference'], sign=True)} (two-sided p = {c['p_two_sided']:.3g}, "
                             f"{c['n_a']} vs {c['n_b']} seeds; detectable: ±{_f(c['detectable_80'])})")
    if image:
        lines += ["", f"![{results['study']}]({image})"]
    lines += ["", f"A seed *cares* when its {results['cares_definition']}. {results['caveat']}", ""]
    return "\n".join(lines)


def machine() -> dict:
    """The hardware, for timings.json and the RESULTS.md line that names it."""
    import jax

    d = jax.devices()
    cpu = "CPU"
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:  # not Linux
        pass
    return {"platform": d[0].platform, "device_kind": d[0].device_kind, "devices": len(d), "cpu": cpu,
            "cpu_cores": os.cpu_count()}


def write_results(out: Path, plan: Plan, records: list[dict], wall_s: float) -> list[Path]:
    """results.json, timings.json, <study>.png and RESULTS.md in the result folder `out`. timings.json holds
    the machine, each setting's own times (kept from the call that ran it) and `invocation_wall_s`, this
    call's wall time (near zero when every setting was already finished)."""
    res = build(plan, records)
    timings = {"invocation_wall_s": wall_s, **machine(), "settings": {}}
    for r in records:
        f = out / r["setting"] / "timing.json"
        if f.exists():
            timings["settings"][r["setting"]] = json.loads(f.read_text())
    paths = [out / "results.json", out / "timings.json", out / f"{plan.study.name}.png", out / "RESULTS.md"]
    write_atomic(paths[0], json.dumps(res, indent=1))  # a kill leaves the old file or the new, never half
    write_atomic(paths[1], json.dumps(timings, indent=1))
    plot(res, paths[2])
    write_atomic(paths[3], markdown(res, timings, image=paths[2].name))
    return paths
