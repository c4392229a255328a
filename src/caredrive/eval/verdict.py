"""The short verdict a person reads in the terminal after `caredrive eval` or `caredrive run`.

Care score per seed with its 95% interval, the spread across seeds, the battery in one line per world,
and the Goodhart flags beside (never inside) the score. The same dict is saved as RUN/verdict.json.
"""

from __future__ import annotations


def _f(x, digits: int = 2) -> str:
    return "  —  " if x is None else f"{x:+.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci or ci[0] is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def format_verdict(v: dict) -> str:
    """Plain-text table of a verdict dict returned by `evaluate_run` (plus optional training figures)."""
    care, flags = v["care"], v.get("goodhart", {})
    lines = ["", "care score = (mother - selfish) / (scripted carer - selfish) on mean baby lifetime",
             "             0 = a mother trained for herself, 1 = the scripted carer; 95% bootstrap intervals", ""]
    lines.append(f"{'seed':>6s}  {'care score':>10s}  {'95% CI':>16s}  goodhart")
    for s in care["per_seed"]:
        g = flags.get(f"seed_{s['seed']}", {})
        flag = ("FLAGGED: " + "; ".join(g.get("reasons", []))) if g.get("flag") else "ok"
        lines.append(f"{s['seed']:>6d}  {_f(s['care_score']):>10s}  {_ci(s['care_ci']):>16s}  {flag}")
    spread = care.get("spread") or [None, None]
    lines.append(f"{'all':>6s}  {_f(care.get('mean')):>10s}  {_ci(care.get('ci')):>16s}  "
                 f"spread across seeds {_f(spread[0])} .. {_f(spread[1])}")
    lines += ["", f"{'held-out world':<18s} {'mean care score':>15s}  carer beats no mother"]
    for name, b in v.get("battery_summary", {}).items():
        lines.append(f"{name:<18s} {_f(b.get('care_score_mean')):>15s}  {'yes' if b.get('carer_beats_none') else 'no'}")
    return "\n".join(lines)
