"""Across-seed summaries and the headline sentences of caredrive interp.

A figure over seeds is the seeds' mean with a Student-t 95% interval over the seeds (mean +- t * sd /
sqrt(n)): with 4 seeds a bootstrap over seeds has only 35 distinct resamples and understates the spread,
and the t interval is the usual honest choice for so few. Each summary keeps the per-seed values beside
it, because a mean over four seeds hides a seed that does something else.

The headline is a short list of plain sentences built from the numbers only (no judgement beyond the
thresholds named in them), so the report and the README can quote it as it is.
"""

from __future__ import annotations

import math

import numpy as np

# two-sided 95% quantiles of Student's t by degrees of freedom (scipy is not a dependency)
T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    30: 2.042,
    60: 2.000,
}


def t975(df: int) -> float:
    """The 0.975 quantile of t with df degrees of freedom (the next tabulated df below; 1.96 past 60)."""
    if df > 60:
        return 1.96
    return T975[max(k for k in T975 if k <= df)]


def across(values) -> dict:
    """{"mean", "ci", "per_seed", "n"} of per-seed values (None / NaN skipped): the t interval over seeds,
    None with fewer than two seeds."""
    per = [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]
    ok = np.array([v for v in per if v is not None], np.float64)
    out = {
        "mean": None,
        "ci": None,
        "per_seed": [None if v is None else round(v, 4) for v in per],
        "n": int(ok.size),
    }
    if ok.size:
        out["mean"] = round(float(ok.mean()), 4)
    if ok.size >= 2:
        half = t975(ok.size - 1) * float(ok.std(ddof=1)) / math.sqrt(ok.size)
        out["ci"] = [round(float(ok.mean()) - half, 4), round(float(ok.mean()) + half, 4)]
    return out


def f2(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}"


def span(s: dict, digits: int = 2) -> str:
    """'0.41 [0.30, 0.52]' from an across dict."""
    if s.get("mean") is None:
        return "n/a"
    ci = s.get("ci")
    inner = f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else ""
    return f"{s['mean']:.{digits}f}{inner}"


def _probe_lines(sec: dict) -> list[str]:
    summ, tap = sec.get("summary") or {}, sec.get("headline_tap", "gru")
    rows = summ.get(tap) or {}
    beyond, within = [], []
    for target, r in rows.items():
        gain = r.get("gain_over_raw") or {}
        over_shuffle = (
            (r.get("score") or {}).get("mean") is not None
            and (r.get("shuffled") or {}).get("mean") is not None
            and r["score"]["mean"] > r["shuffled"]["mean"]
        )
        if gain.get("ci") and gain["ci"][0] > 0 and over_shuffle:
            beyond.append(f"{target} {span(r['score'])} vs raw obs {span(r['raw_obs'])}")
        else:
            within.append(target)
    n = len(sec.get("seeds") or [])
    lines = [
        f"Probes at {tap} ({n} seeds, held-out episodes, t95 over seeds): "
        + (
            (
                "decodable better than from the raw observation (interval of the gain above 0) and above the "
                "shuffled-label control: " + "; ".join(beyond)
            )
            if beyond
            else "no target is decoded better than from the raw observation with an interval above 0."
        )
    ]
    if within:
        lines.append(
            f"Probes at {tap} no better than the raw observation (or the shuffled control): "
            + ", ".join(within)
            + "."
        )
    return lines


def _lesion_lines(sec: dict) -> list[str]:
    lines = []
    for kind, k in (sec.get("summary") or {}).items():
        singles = k.get("singles")
        if singles:
            spec = k.get("care_specific") or {}
            named = "; ".join(f"seed {s}: {', '.join(u)}" for s, u in spec.items() if u) or "none in any seed"
            lines.append(
                f"{kind} ablation of each of the {singles.get('units')} {sec.get('tap')} units alone: the "
                f"largest care drop per seed {span(singles.get('max_care_drop') or {})} (mean over seeds, "
                f"t95; per seed {_per(singles.get('max_care_drop'))}); units whose lesion kills care but "
                f"spares self-survival: {named}."
            )
        whole = (k.get("groups") or {}).get("all")
        if whole:
            base = span(k.get("base_self") or {}, 1)
            lines.append(
                f"{kind} ablation of all {sec.get('tap')} units: care drop {span(whole['care_drop'])}, "
                f"self-survival drop {span(whole['self_drop'], 1)} ticks of {base} (per seed care drop "
                f"{_per(whole['care_drop'])})."
            )
    return lines


def _per(s: dict | None) -> str:
    vals = (s or {}).get("per_seed") or []
    return ", ".join("n/a" if v is None else f"{v:.2f}" for v in vals) or "n/a"


def _patch_lines(sec: dict) -> list[str]:
    lines = []
    for kind, per_tap in (sec.get("summary") or {}).items():
        gap = (sec.get("gaps") or {}).get(kind) or {}
        seeds = [s for s, p in (sec.get("per_seed") or {}).items() if "gap" in (p.get(kind) or {})]
        gap_txt = ", ".join(
            f"seed {s} {v:+.2f}"
            for s, v in zip(seeds, gap.get("per_seed") or [], strict=False)
            if v is not None
        )
        if not isinstance(per_tap, dict) or "skipped" in per_tap:
            why = per_tap.get("skipped") if isinstance(per_tap, dict) else None
            lines.append(
                f"Patching {kind}: not measured ({why})" + (f"; gaps {gap_txt}." if gap_txt else ".")
            )
            continue
        used = (sec.get("seeds_used") or {}).get(kind) or []
        top = [
            f"{tap} {span(g['top4'])}" for tap, g in per_tap.items() if isinstance(g, dict) and "top4" in g
        ]
        lines.append(
            f"Patching {kind}: clean minus corrupted logit difference toward her baby {gap_txt}; over the seeds "
            f"where it differs from 0 (seeds {', '.join(used)}), the share restored by patching the 4 most-changed "
            f"units of a layer: {'; '.join(top)} (all units of a layer restore 1 by construction)."
        )
    return lines


def _steer_lines(sec: dict) -> list[str]:
    lines = []
    for w, r in (sec.get("summary") or {}).get("retarget", {}).items():
        lines.append(
            f"Steering (+own_vs_other at {sec.get('tap')}, alpha {sec.get('alpha')}) in {w}: the other "
            f"baby's lifetime vs the unsteered mother {span(r['steered'], 1)} ticks; equal-norm random "
            f"vectors {span(r['random'], 1)} ticks (means over seeds, t95)."
        )
    off = (sec.get("summary") or {}).get("switch_off") or {}
    for name, r in off.items():
        lines.append(
            f"Switch-off (-{name}): care drop on the training world {span(r['care_drop'])}, "
            f"self-survival drop {span(r['self_drop'], 1)} ticks; equal-norm random vectors: care drop "
            f"{span(r.get('random_care_drop') or {})}, self-survival drop "
            f"{span(r.get('random_self_drop') or {}, 1)} ticks."
        )
    tr = sec.get("transfer")
    if isinstance(tr, dict) and "cos_raw_vs_own" in tr:
        own = ((sec.get("per_seed") or {}).get(tr["to"]) or {}).get("own_vs_other") or {}
        own_gain = (((own.get("retarget") or {}).get("foster") or {}).get("steered") or {}).get(
            "lifetime_vs_none"
        )
        got = lambda k: ((tr.get(k) or {}).get("foster") or {}).get("lifetime_vs_none")
        lines.append(
            f"Vector moved from seed {tr['from']} to seed {tr['to']}: cosine with seed {tr['to']}'s own vector "
            "raw "
            f"{f2(tr['cos_raw_vs_own'])}, through a linear map {f2(tr['cos_mapped_vs_own'])}; the other baby's "
            f"lifetime in foster vs unsteered: raw {f2(got('raw'), 1)}, mapped {f2(got('mapped'), 1)}, "
            f"seed {tr['to']}'s own vector {f2(own_gain, 1)} ticks."
        )
    return lines


def _cka_lines(sec: dict) -> list[str]:
    summ = (sec.get("report") or {}).get("summary") or {}
    parts = [
        f"{tap} {f2(s.get('trained'))} (untrained {f2(s.get('untrained'))}, rows shuffled "
        f"{f2(s.get('control_rows'))}, episodes shuffled {f2(s.get('control_episodes'))})"
        for tap, s in summ.items()
        if tap in ("enc1", "gru", "pi0")
    ]
    return ["CKA between trained seeds, mean over seed pairs: " + "; ".join(parts) + "."] if parts else []


def _override_lines(sec: dict) -> list[str]:
    lines = []
    for w, r in (sec.get("summary") or {}).items():
        lines.append(
            f"Override {', '.join(sec.get('overrides') or [])} on {w}: care score {span(r['original'])} "
            f"-> {span(r['overridden'])} (means over seeds, t95)."
        )
    return lines


WRITERS = {
    "probes": _probe_lines,
    "lesions": _lesion_lines,
    "patching": _patch_lines,
    "steer": _steer_lines,
    "cka": _cka_lines,
    "override": _override_lines,
}


def headline(sections: dict) -> list[str]:
    """Plain sentences from every section present (a section that was skipped says why)."""
    out = []
    for name, sec in sections.items():
        if not isinstance(sec, dict):
            continue
        if sec.get("skipped"):
            out.append(f"{name}: not run ({sec['skipped']}).")
        elif name in WRITERS:
            out += WRITERS[name](sec)
    return out
