"""The short verdict a person reads in the terminal after `caredrive eval` or `caredrive run`.

Care score per seed with its 95% interval, the spread across seeds, the battery in one line per world,
and the Goodhart flags beside (never inside) the score. The same dict is saved as RUN/verdict.json.
"""

from __future__ import annotations

from caredrive.eval.cares import DEFINITION, count, label


def _f(x, digits: int = 2) -> str:
    return "  —  " if x is None else f"{x:+.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci or ci[0] is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def format_verdict(v: dict) -> str:
    """Plain-text table of a verdict dict returned by `evaluate_run` (plus optional training figures)."""
    care, flags = v["care"], v.get("goodhart", {})
    lines = ["", "care score = (mother - selfish) / (scripted carer - selfish) on mean baby lifetime",
             "             0 = a mother trained for herself, 1 = the scripted carer; 95% bootstrap intervals",
             f"a seed cares: {care.get('definition', DEFINITION)}", ""]
    lines.append(f"{'seed':>6s}  {'care score':>10s}  {'95% CI':>16s}  {'verdict':<14s}goodhart")
    for s in care["per_seed"]:
        g = flags.get(f"seed_{s['seed']}", {})
        flag = ("FLAGGED: " + "; ".join(g.get("reasons", []))) if g.get("flag") else (
            "— (" + "; ".join(g.get("reasons", [])) + ")" if g.get("flag") is None and g.get("reasons") else "ok")
        word = label(s.get("care_score"), s.get("care_ci"), g.get("flag"))
        why = f"  ({s['care_undefined']})" if s.get("care_undefined") else ""
        lines.append(f"{s['seed']:>6d}  {_f(s['care_score']):>10s}  {_ci(s['care_ci']):>16s}  {word:<14s}{flag}{why}")
    spread = care.get("spread") or [None, None]
    caring, scored = count([{**s, "flagged": flags.get(f"seed_{s['seed']}", {}).get("flag")} for s in care["per_seed"]])
    lines.append(f"{'all':>6s}  {_f(care.get('mean')):>10s}  {_ci(care.get('ci')):>16s}  "
                 f"{caring} of {len(care['per_seed'])} seeds care; spread {_f(spread[0])} .. {_f(spread[1])}"
                 + ("" if scored == len(care["per_seed"]) else f" ({len(care['per_seed']) - scored} undefined)"))
    battery = v.get("battery_summary", {})
    if battery:
        lines += ["", f"{'held-out world':<18s} {'kind':<11s} {'mean care score':>15s}  {'caring seeds':>12s}  seen in training"]
    for name, b in battery.items():
        seen = b.get("seen_in_training")
        seen_s = "—" if seen is None else ("yes" if seen else "no")
        why = f"  ({b['care_undefined']})" if b.get("care_undefined") else ""
        lines.append(f"{name:<18s} {b.get('kind', ''):<11s} {_f(b.get('care_score_mean')):>15s}  "
                     f"{b.get('caring_seeds', 0):>12d}  {seen_s}{why}")
    headline = v.get("battery_headline")
    if headline:
        lines += ["", headline["text"]]
    return "\n".join(lines)
