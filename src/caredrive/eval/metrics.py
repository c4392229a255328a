"""From final states and trackers to numbers with error bars (NumPy, outside jit).

`baby_table` turns one world's batch [E, ...] into per-episode, per-baby arrays [E, F] (F = first-
generation baby slots) with a `counted` mask; `summarise` pools them into one policy's summary
(the `eval.json` policy entry); `care_scores` normalises baby lifetime between the selfish mother (0)
and the scripted carer (1). Intervals are percentile bootstraps over episodes with a fixed rng, and
paired: every policy saw the same episode keys, so one resample of episode indices serves all.
"""

from __future__ import annotations

import math

import numpy as np

from caredrive.env import constants as C

N_BOOT = 1000
# The care score divides by (carer - selfish). Where the scripted carer does not clearly beat the selfish
# mother, that denominator is noise and the ratio explodes (a world with 6 hazards and no guarding: carer
# 29.5 vs selfish 22.8 ticks gave scores of 16-18). So the score is defined only where the low end of the
# gap's paired 95% interval is at least REFERENCE_MARGIN of the selfish lifetime (and at least MIN_GAP ticks).
REFERENCE_MARGIN = 0.25
MIN_GAP = 1.0
NO_BABIES = "no babies counted"


def baby_table(final, tr, host: np.ndarray, adopted: np.ndarray, counts_adopted: bool, f: int, max_steps: int) -> dict:
    """Per episode and first-generation baby slot [E, F]: lifetime, fate and welfare of the baby, and
    what its host mother (the one it was born beside) did. Inputs are numpy trees of one world."""
    sl = slice(f, 2 * f)
    ag, log = final.agents, final.log
    born = ag.births[:, sl] > 0
    counted = born & (counts_adopted | ~adopted[sl])[None, :]
    death = log.death_tick[:, sl]
    life = np.where(death >= 0, death, max_steps) - log.birth_tick[:, sl]
    alive = ag.alive[:, sl]
    ticks = np.maximum(tr.alive_ticks[:, sl], 1)
    h = host[sl]
    dist_ticks = tr.dist_ticks[:, sl]
    return {
        "counted": counted,
        "lifetime": life.astype(np.float64),
        "alive": alive.astype(np.float64),
        "cause": np.where(alive, C.ALIVE_CAUSE, log.death_cause[:, sl]),
        "welfare": tr.energy_sum[:, sl] / ticks,
        "options": tr.options_sum[:, sl] / ticks,
        "carried_share": tr.carried_ticks[:, sl] / ticks,
        "boxed_share": tr.boxed_ticks[:, sl] / ticks,
        "mother_survival": ag.alive[:, h].astype(np.float64),
        "energy_given": log.energy_given[:, h].astype(np.float64),
        "feedings": log.fed[:, h].astype(np.float64),
        "predators_repelled": log.scares[:, h].astype(np.float64),
        "hazard_blocks": log.hazard_blocks[:, sl].astype(np.float64),
        "distance": np.where(dist_ticks > 0, tr.dist_sum[:, sl] / np.maximum(dist_ticks, 1), np.nan),
        "out_of_view": np.where(dist_ticks > 0, tr.unseen_ticks[:, sl] / np.maximum(dist_ticks, 1), np.nan),
        "resp_sum": tr.resp_sum[:, sl].astype(np.float64),
        "resp_n": tr.resp_n[:, sl].astype(np.float64),
    }


def concat_tables(tables: list[dict]) -> dict:
    """Pool several tables of the same episodes (e.g. the seeds of one baseline) along the baby axis."""
    return {k: np.concatenate([t[k] for t in tables], axis=1) for k in tables[0]}


def _pooled(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-episode (sum, count) over counted babies with a finite value."""
    ok = mask & np.isfinite(values)
    return np.where(ok, values, 0.0).sum(1), ok.sum(1).astype(np.float64)


def boot_indices(episodes: int, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, episodes, size=(n_boot, episodes))


def _ratio(s: np.ndarray, n: np.ndarray) -> float | None:
    total = n.sum()
    return float(s.sum() / total) if total > 0 else None


def mean_ci(values: np.ndarray, mask: np.ndarray, idx: np.ndarray) -> tuple[float | None, list[float] | None]:
    """Pooled mean over counted babies and its bootstrap 95% interval (episodes resampled by `idx`)."""
    s, n = _pooled(values, mask)
    m = _ratio(s, n)
    if m is None:
        return None, None
    bs, bn = s[idx].sum(1), n[idx].sum(1)
    boots = bs[bn > 0] / bn[bn > 0]
    return m, [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]


def survival_curve(life: np.ndarray, died: np.ndarray, max_steps: int) -> list[float]:
    """Kaplan-Meier share of babies alive t ticks after birth, t = 0..max_steps. A baby alive at the
    end is censored at its age then (it was born late, not saved)."""
    life, died = life.astype(int), died.astype(bool)
    if life.size == 0:
        return [1.0] * (max_steps + 1)
    deaths = np.bincount(life[died], minlength=max_steps + 2)[: max_steps + 1]
    at_risk = np.array([(life >= t).sum() for t in range(max_steps + 1)], dtype=np.float64)
    hazard = np.where(at_risk > 0, deaths / np.maximum(at_risk, 1), 0.0)
    return [float(x) for x in np.cumprod(1.0 - hazard)]


def summarise(table: dict, idx: np.ndarray, max_steps: int) -> dict:
    """One policy on one world: the `eval.json` policy entry (care fields are filled in by the caller)."""
    m = table["counted"]
    life, life_ci = mean_ci(table["lifetime"], m, idx)
    surv, surv_ci = mean_ci(table["alive"], m, idx)
    causes = {name: int(((table["cause"] == i) & m).sum()) for i, name in enumerate(C.CAUSE_NAMES)}
    resp_n = float((table["resp_n"] * m).sum())
    out = {  # None, never 0.0, where no baby was counted: "no data" is not "died at once"
        "babies": int(m.sum()), "mean_lifetime": life, "lifetime_ci": life_ci,
        "survival": surv, "survival_ci": surv_ci,
        "care_score": None, "care_ci": None, "death_causes": causes,
    }
    for key in ("welfare", "options", "carried_share", "boxed_share", "mother_survival", "energy_given", "distance",
                "out_of_view",
                "feedings", "hazard_blocks"):
        out[key] = _ratio(*_pooled(table[key], m))
    out["response_time"] = float((table["resp_sum"] * m).sum() / resp_n) if resp_n > 0 else None
    out["predators_repelled"] = _ratio(*_pooled(table["predators_repelled"], m))
    died = m & (table["alive"] < 0.5)
    out["survival_curve"] = survival_curve(table["lifetime"][m], died[m], max_steps)
    return out


def _lifetime_sums(table: dict) -> tuple[np.ndarray, np.ndarray]:
    return _pooled(table["lifetime"], table["counted"])


def care_scores(agent: dict, selfish: dict, carer: dict, idx: np.ndarray) -> tuple[float | None, list | None, np.ndarray]:
    """Care score = (agent - selfish) / (carer - selfish) on mean baby lifetime, with a paired bootstrap
    interval over episodes. Also returns the bootstrap replicates (NaN where undefined) for pooling.
    None (with NaN replicates) where `undefined_reason` says why."""
    undefined = np.full(idx.shape[0], np.nan)
    if undefined_reason(agent, selfish, carer, idx) is not None:
        return None, None, undefined
    (sa, na), (ss, ns), (sc, nc) = _lifetime_sums(agent), _lifetime_sums(selfish), _lifetime_sums(carer)
    point = float(_score(sa.sum(), na.sum(), ss.sum(), ns.sum(), sc.sum(), nc.sum()))
    boots = _score(sa[idx].sum(1), na[idx].sum(1), ss[idx].sum(1), ns[idx].sum(1), sc[idx].sum(1), nc[idx].sum(1))
    if not np.isfinite(point):
        return None, None, undefined
    ok = boots[np.isfinite(boots)]
    ci = [float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5))] if ok.size else None
    return point, ci, boots


def undefined_reason(agent: dict, selfish: dict, carer: dict, idx: np.ndarray) -> str | None:
    """Why the care score is undefined on this world, or None where it is defined: no counted baby (of
    the agent or a reference), or a scripted carer that does not beat the selfish mother by the margin."""
    (_, na), (ss, ns), (sc, nc) = _lifetime_sums(agent), _lifetime_sums(selfish), _lifetime_sums(carer)
    for who, n in (("this policy", na), ("the selfish reference", ns), ("the scripted carer", nc)):
        if n.sum() == 0:
            return f"{NO_BABIES} for {who}"
    with np.errstate(divide="ignore", invalid="ignore"):
        s_point = ss.sum() / ns.sum()
        gap_point = sc.sum() / nc.sum() - s_point
        gaps = np.divide(sc[idx].sum(1), nc[idx].sum(1)) - np.divide(ss[idx].sum(1), ns[idx].sum(1))
    gaps = gaps[np.isfinite(gaps)]
    low = float(np.percentile(gaps, 2.5)) if gaps.size else float("nan")
    need = max(MIN_GAP, REFERENCE_MARGIN * s_point)
    if not low >= need:
        return (f"the scripted carer does not clearly beat the selfish mother here ({gap_point:+.1f} ticks, 95% "
                f"interval low end {low:+.1f} < {need:.1f} = {REFERENCE_MARGIN:.0%} of the selfish lifetime)")
    return None


def _score(sa, na, ss, ns, sc, nc):
    with np.errstate(divide="ignore", invalid="ignore"):
        a, s, c = np.divide(sa, na), np.divide(ss, ns), np.divide(sc, nc)
        gap = c - s
        return np.where(np.abs(gap) >= MIN_GAP, (a - s) / np.where(gap == 0, 1.0, gap), np.nan)


def across_seeds(points: list[float | None], boots: list[np.ndarray], seed: int) -> dict:
    """Mean care over seeds, a hierarchical bootstrap interval (seeds and episodes resampled) and the
    spread (min, max) — the spread is reported because a mean over few seeds hides a failed one."""
    good = [i for i, p in enumerate(points) if p is not None]
    if not good:
        return {"mean": None, "ci": None, "spread": None}
    vals = np.array([points[i] for i in good])
    b = np.stack([boots[i] for i in good])  # [S, B]
    rng = np.random.default_rng(seed + 1)
    pick = rng.integers(0, len(good), size=(b.shape[1], len(good)))
    reps = np.nanmean(b[pick, np.arange(b.shape[1])[:, None]], axis=1)
    reps = reps[np.isfinite(reps)]
    ci = [float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))] if reps.size else None
    return {"mean": float(vals.mean()), "ci": ci, "spread": [float(vals.min()), float(vals.max())]}


def clean(obj):
    """JSON-safe copy: NaN and infinities become null (JSON has no NaN; browsers reject it)."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
