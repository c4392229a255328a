"""Lesion sweeps: ablate units of one tap, one lesion per row, and measure what is lost.

For each lesion: the drop in care score on the training world (vs the unlesioned mother, the same episode
keys, a paired bootstrap interval) and the drop in her own survival before any birth (births off). Every
lesion and the unlesioned mother (row 0, an all-zero mask: exactly the trained computation) on both
worlds is ONE jitted call: a `vmap` over masks `[K + 1, units]` around `tracker.run_worlds`, so the
sweep over every GRU unit compiles once (`TRACES` counts the traces, for the test that says so).

References and care scores go through the scoring seam (`caredrive.eval.score.make_bench` plays the
selfish and carer references once; `metrics.baby_table` and `metrics.care_scores` turn runs into scores).
Self-survival is measured as `score.self_survival` measures it (founding mothers' ticks alive with
`births_per_life = 0`), but per episode and paired with the unlesioned mother, which is what a drop's
interval needs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.errors import ConfigError
from caredrive.eval import metrics as M
from caredrive.eval.score import Bench, make_bench
from caredrive.eval.tracker import run_worlds
from caredrive.interp.edits import (
    ablated,
    check_kind,
    check_tap,
    group_masks,
    pool_of,
    record,
    tap_width,
    unpack,
)

TRACES: Counter = Counter()  # traces of the sweep's jitted body, per (kind, tap): one per compile


@dataclass(frozen=True)
class Thresholds:
    """When a lesion "kills care but spares self-survival" — the one place these numbers live."""

    care_drop: float = 0.5  # care score lost (in units of the carer-selfish gap) ...
    care_ci_low: float = 0.0  # ... with the low end of its 95% interval above this
    self_drop_rel: float = 0.10  # self-survival spared: relative drop below this, or its interval holds 0

    def care_specific(self, row: dict) -> bool:
        ci, sci = row["care_drop_ci"], row["self_drop_ci"]
        if row["care_drop"] is None or ci is None:
            return False
        kills = row["care_drop"] >= self.care_drop and ci[0] > self.care_ci_low
        spares = (sci[0] <= 0.0 <= sci[1]) or row["self_drop_rel"] < self.self_drop_rel
        return bool(kills and spares)


THRESHOLDS = Thresholds()


@lru_cache(maxsize=16)
def _sweep_fn(env, steps: int, kind: str, tap: str, chunk: int | None):
    """jit((policy, masks [K, units], pool, params [W], keys) -> (finals, trackers) [K, W, E, ...])."""

    def body(pol, masks, pool, params, keys):
        TRACES[(kind, tap)] += 1
        one = lambda m: run_worlds(env, ablated(pol, tap, kind, m, pool), params, keys, steps)
        return jax.lax.map(one, masks, batch_size=chunk) if chunk else jax.vmap(one)(masks)

    return jax.jit(body)


def _lesion_labels(width: int, units) -> list[list[int]]:
    if units is None:
        return [[u] for u in range(width)]
    return [[int(u)] if np.ndim(u) == 0 else [int(x) for x in u] for u in units]


def paired(point, base, boots: np.ndarray, base_boots: np.ndarray) -> tuple[float | None, list[float] | None]:
    """`point - base` and the 95% interval of `boots - base_boots` (bootstrap replicates over the same
    episode resamples: a paired interval); None where either side is undefined."""
    if point is None or base is None:
        return None, None
    d = boots - base_boots
    d = d[np.isfinite(d)]
    return float(point - base), ([float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))] if d.size else None)


def life_boots(table: dict, idx: np.ndarray) -> tuple[float | None, np.ndarray]:
    """Mean lifetime of the counted babies and its bootstrap replicates (episodes resampled by `idx`)."""
    s = np.where(table["counted"], table["lifetime"], 0.0).sum(1)
    n = table["counted"].sum(1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (float(s.sum() / n.sum()) if n.sum() else None), s[idx].sum(1) / n[idx].sum(1)


def self_lifetimes(alive_ticks: np.ndarray, f: int) -> np.ndarray:
    """Per episode [E]: the founding mothers' mean ticks alive, from a births-off world's tracker
    `alive_ticks` [E, A] (absent mothers, 0 ticks, skipped), as `score.self_survival` counts it."""
    life = alive_ticks[:, :f].astype(np.float64)
    present = life > 0
    return (life * present).sum(1) / np.maximum(present.sum(1), 1)


def lesion_sweep(trained_or_policy, world=None, env_params=None, kind: str = "zero", tap: str = "gru", units=None,
                 episodes: int = 64, seed: int = 0, member: int = 0, bench: Bench | None = None, pool=None,
                 pool_episodes: int = 16, chunk: int | None = None, thresholds: Thresholds = THRESHOLDS) -> dict:
    """Lesion every unit of `tap` alone (`units=None`), the listed units alone (`[3, 7]`) or groups
    (`[[0, 1], [2, 3]]`) by `kind` (zero | mean | resample) and score each against the unlesioned mother.

    `trained_or_policy`: a `Trained` (seed `member` is used) or a NetworkPolicy with `world` and
    `env_params`. `bench`: a prebuilt `make_bench(..., names=("train", ...))` to share references between
    sweeps (built from `episodes`/`seed` otherwise). `pool`: recorded activations [N, units] for mean and
    resample (recorded here over `pool_episodes` episodes otherwise). `chunk`: lesions run this many at a
    time (`lax.map`; still one compile) to bound memory on wide sweeps.

    Returns `{"base": ..., "lesions": [row per lesion], "care_specific": [indices], "thresholds": ...}`;
    a row holds the units, care score, its drop with a paired 95% interval, and the self-survival drop."""
    check_kind(kind)
    check_tap(tap)
    policy, world, env_params = unpack(trained_or_policy, world, env_params, member)
    width = tap_width(policy, tap)
    labels = _lesion_labels(width, units)
    masks = np.concatenate([np.zeros((1, width), np.float32), group_masks(width, labels, tap)])
    if bench is None:
        bench = make_bench(world, env_params, names=("train",), episodes=episodes, seed=seed)
    if "train" not in bench.names:
        raise ConfigError(f"the bench has no 'train' world (it has {list(bench.names)}): build it with 'train'.")
    wi = bench.names.index("train")
    env, steps = bench.battery.env, bench.steps
    train_p = bench.battery.world_params(wi)
    if kind != "zero" and pool is None:
        trace = record(policy, env, train_p, pool_episodes, seed + 1, steps)
        pool = pool_of(trace, tap, policy.learners)
    pool = jnp.zeros((1, width), jnp.float32) if pool is None else jnp.asarray(pool, jnp.float32)
    off = train_p.replace(births_per_life=jnp.zeros_like(train_p.births_per_life))
    params = jax.tree.map(lambda a, b: jnp.stack([a, b]), train_p, off)
    res = _sweep_fn(env, steps, kind, tap, chunk)(policy, jnp.asarray(masks), pool, params, bench.keys)
    res = jax.tree.map(np.asarray, jax.device_get(res))
    return _summarise(bench, wi, res, labels, env.config.n_families, thresholds)


def _summarise(bench: Bench, wi: int, res, labels: list[list[int]], f: int, thresholds: Thresholds) -> dict:
    selfish, carer, idx = bench.refs["selfish"][wi], bench.refs["carer"][wi], bench.idx
    rows = []
    for k in range(len(labels) + 1):
        finals, trackers = jax.tree.map(lambda x, k=k: x[k], res)
        table = _table_at(bench, wi, finals, trackers)
        score, ci, boots = M.care_scores(table, selfish, carer, idx)
        life, lboots = life_boots(table, idx)
        own = self_lifetimes(trackers.alive_ticks[1], f)
        sboots = own[idx].mean(1)
        if k == 0:
            ref = (score, boots, life, lboots, own, sboots)
            base = {"care_score": score, "care_ci": ci, "lifetime": life, "self_lifetime": float(own.mean())}
            continue
        drop, drop_ci = paired(ref[0], score, ref[1], boots)
        life_drop, life_ci = paired(ref[2], life, ref[3], lboots)
        s_drop, s_ci = paired(float(ref[4].mean()), float(own.mean()), ref[5], sboots)
        rows.append({
            "units": labels[k - 1], "care_score": score, "care_ci": ci, "care_drop": drop, "care_drop_ci": drop_ci,
            "lifetime": life, "lifetime_drop": life_drop, "lifetime_drop_ci": life_ci,
            "self_lifetime": float(own.mean()), "self_drop": s_drop, "self_drop_ci": s_ci,
            "self_drop_rel": s_drop / max(base["self_lifetime"], 1e-9),
        })
    specific = [i for i, r in enumerate(rows) if thresholds.care_specific(r)]
    return {"base": base, "lesions": rows, "care_specific": specific, "thresholds": vars(thresholds),
            "care_reference": bench.selfish_kind}


def _table_at(bench: Bench, wi: int, finals, trackers) -> dict:
    """The baby table of the sweep's world 0 (the bench's world `wi`: same hosts, same counting)."""
    w = lambda x: x[0]
    return M.baby_table(jax.tree.map(w, finals), jax.tree.map(w, trackers), bench.hosts[wi], bench.adopted[wi],
                        bool(bench.battery.counts_adopted[wi]), bench.battery.env.config.n_families, bench.steps)
