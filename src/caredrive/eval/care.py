"""Does the trained mother care? Her babies' lifetimes against the baselines, per seed, same worlds.

The pass mark of the training issue: a seed "cares" when its mean baby lifetime is at least 3x the
selfish forager's and at least 60% of the scripted carer's, on the world it was trained on.
"""

from __future__ import annotations

import jax
import numpy as np

from caredrive.env.nursery import Nursery
from caredrive.env.policies import POLICIES
from caredrive.eval.rollout import baby_lifetimes, rollout, rollout_batch

SELFISH_FACTOR, CARER_SHARE = 3.0, 0.6


def _summary(life: np.ndarray, alive: np.ndarray) -> dict:
    return {
        "mean_lifetime": float(life.mean()) if life.size else 0.0,
        "median_lifetime": float(np.median(life)) if life.size else 0.0,
        "survival": float(alive.mean()) if alive.size else 0.0,
        "babies": int(life.size),
    }


def baseline_lifetimes(env: Nursery, params, key, n_episodes: int, names=("selfish", "carer")) -> dict[str, dict]:
    out = {}
    steps = int(params.max_steps)
    for name in names:
        p, pol = (params.replace(mother_leaves=True), "idle") if name == "none" else (params, name)
        out[name] = _summary(*baby_lifetimes(env, rollout(env, POLICIES[pol](env), p, key, n_episodes), steps))
    return out


def seed_lifetimes(env: Nursery, stacked_policy, params, key, n_episodes: int) -> list[dict]:
    """Per seed of a stacked `NetworkPolicy`: the baby-lifetime summary on the same episode keys."""
    finals = jax.jit(jax.vmap(lambda pol: rollout_batch(env, pol, params, key, n_episodes)))(stacked_policy)
    seeds = jax.tree_util.tree_leaves(stacked_policy.weights)[0].shape[0]
    steps = int(params.max_steps)
    return [
        _summary(*baby_lifetimes(env, jax.tree.map(lambda x, s=s: x[s], finals), steps)) for s in range(seeds)
    ]


def verdict(per_seed: list[dict], baselines: dict[str, dict]) -> list[dict]:
    sel, car = baselines["selfish"]["mean_lifetime"], baselines["carer"]["mean_lifetime"]
    out = []
    for s, r in enumerate(per_seed):
        vs_selfish = r["mean_lifetime"] / max(sel, 1e-9)
        vs_carer = r["mean_lifetime"] / max(car, 1e-9)
        out.append({
            "seed": s, **r, "x_selfish": vs_selfish, "share_of_carer": vs_carer,
            "cares": bool(vs_selfish >= SELFISH_FACTOR and vs_carer >= CARER_SHARE),
        })
    return out
