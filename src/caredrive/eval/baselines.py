"""The scripted baselines on one world: does care matter here, and is the world winnable?

"none" is a world whose mother leaves at the birth; the others are the scripted mothers of
`env.policies`. All see the same worlds (same keys).
"""

from __future__ import annotations

import numpy as np

from caredrive.env.nursery import Nursery
from caredrive.env.policies import POLICIES
from caredrive.eval.rollout import baby_lifetimes, rollout

BASELINES = ("none", "idle", "random", "selfish", "carer")


def run_baselines(env: Nursery, key, n_episodes: int = 1000, names=BASELINES, progress=None) -> dict[str, dict]:
    """Per baseline: median / mean baby lifetime, share alive at the end, episodes and babies counted."""
    out = {}
    steps = int(env.default_params.max_steps)
    for name in names:
        params = env.default_params
        policy_name = name
        if name == "none":
            params, policy_name = params.replace(mother_leaves=True), "idle"
        final = rollout(env, POLICIES[policy_name](env), params, key, n_episodes)
        life, alive = baby_lifetimes(env, final, steps)
        out[name] = {
            "median_lifetime": float(np.median(life)) if life.size else 0.0,
            "mean_lifetime": float(life.mean()) if life.size else 0.0,
            "survival": float(alive.mean()) if alive.size else 0.0,
            "babies": int(life.size),
            "episodes": n_episodes,
            "episode_length": steps,
        }
        if progress is not None:
            progress(name)
    return out
