"""Per-seed measures a study needs beyond the care score, from a finished, evaluated run folder.

Each group maps to a function `(run folder, eval.json, episodes, eval seed) -> {name: [value per seed]}`.
`lifetime` and `mirror` read `eval.json`. `abandonment` and `chain` need what `eval.json` does not keep (where
the mother was when her baby died; the grandchildren), so they replay the trained seeds on the episode keys
`caredrive eval` uses (`jax.random.split(key(seed), episodes)`) through `rollout.play_episode`, the one
episode loop, with their own per-tick watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from caredrive.env import constants as C
from caredrive.env.body import birth_host
from caredrive.env.registry import make
from caredrive.errors import ConfigError
from caredrive.eval.rollout import play_episode
from caredrive.train.load import load_config, load_trained
from caredrive.train.policy import NetworkPolicy

ABLE_ENERGY = 0.1  # she is "able" when alive with more energy than this (not starving herself)
REACH = 1  # she is "in reach" when at most this far (Manhattan): beside it she can feed, shield, scare

LABELS = {
    "care_score": "care score",
    "mean_lifetime": "mean baby lifetime (ticks)",
    "mirror_care": "care score, held-out mirror world",
    "abandonment": "abandoned deaths per baby born",
    "deaths_per_birth": "deaths per baby born",
    "grandchild_born": "grandchildren born per family",
    "grandchild_lifetime": "grandchild lifetime (ticks)",
    "grandchild_survival": "grandchildren alive at the end",
}


def _seeds(eval_json: dict) -> list[str]:
    return [f"seed_{i}" for i in range(int(eval_json["seeds"]))]


def _world(eval_json: dict, name: str) -> dict:
    for w in eval_json["worlds"]:
        if w["name"] == name:
            return w
    raise ConfigError(f"eval.json has no world {name!r}: evaluate the run with the whole battery.")


def lifetime(run: Path, eval_json: dict, episodes: int, seed: int) -> dict[str, list]:
    train = _world(eval_json, "train")["policies"]
    return {"mean_lifetime": [train[s]["mean_lifetime"] for s in _seeds(eval_json)]}


def mirror(run: Path, eval_json: dict, episodes: int, seed: int) -> dict[str, list]:
    pols = _world(eval_json, "mirror")["policies"]
    return {"mirror_care": [pols[s]["care_score"] for s in _seeds(eval_json)]}


@struct.dataclass
class Watch:
    prev_alive: jax.Array  # [A] bool
    deaths: jax.Array  # [A] int32 deaths of each slot
    abandoned: jax.Array  # [A] int32 of those, with the host alive, able and out of reach


def watch(w: Watch, state, host: jax.Array) -> Watch:
    """Fold one tick in: a slot that was alive and is not now died this tick; was its host (the mother it
    was born beside) alive, able (energy > ABLE_ENERGY) and farther than REACH from it?"""
    ag = state.agents
    died = w.prev_alive & ~ag.alive & (state.log.death_cause != C.LEFT)
    gap = jnp.abs(ag.pos - ag.pos[host]).sum(-1)
    able = ag.alive[host] & (ag.energy[host] > ABLE_ENERGY) & (host != jnp.arange(host.shape[0]))
    return Watch(ag.alive, w.deaths + died, w.abandoned + (died & able & (gap > REACH)))


def _replay(world, policy, params, episodes: int, seed: int, watched: bool):
    """Final states (and watches) [S, E, ...] of a seed-stacked policy on `caredrive eval`'s episode keys."""
    keys = jax.random.split(jax.random.key(seed), episodes)
    steps = int(params.max_steps)
    host, _ = birth_host(params, jnp.asarray(world.parent_of))
    a = world.num_agents
    start = Watch(jnp.zeros(a, bool), jnp.zeros(a, jnp.int32), jnp.zeros(a, jnp.int32)) if watched else None
    update = (lambda w, s: watch(w, s, host)) if watched else None

    def episode(pol, k):
        _, final, w, _ = play_episode(world, pol, params, k, steps, start, update)
        return final, w

    run = jax.jit(jax.vmap(lambda pol: jax.vmap(lambda k: episode(pol, k))(keys)))
    return jax.tree.map(np.asarray, jax.device_get(run(policy)))


def abandonment(run: Path, eval_json: dict, episodes: int, seed: int) -> dict[str, list]:
    """Per seed, over her first-generation babies (every birth, rebirths included): abandoned deaths per
    baby born, and deaths per baby born. In the run's evaluation world (`caredrive eval`'s)."""
    t = load_trained(run)
    final, w = _replay(t.world, t.policy, t.env_params, episodes, seed, watched=True)
    f = t.world.config.n_families
    sl = slice(f, 2 * f)
    born = final.agents.births[:, :, sl].sum((1, 2)).astype(np.float64)  # [S]
    out = {"abandonment": [], "deaths_per_birth": []}
    for s in range(t.seeds):
        n = born[s]
        out["abandonment"].append(float(w.abandoned[s, :, sl].sum() / n) if n > 0 else None)
        out["deaths_per_birth"].append(float(w.deaths[s, :, sl].sum() / n) if n > 0 else None)
    return out


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Both:
    """The mothers' network and the babies' network (or frozen copy) in one world, each for its slots."""

    mothers: NetworkPolicy
    babies: NetworkPolicy

    def init_carry(self):
        return self.mothers.init_carry(), self.babies.init_carry()

    def __call__(self, key, obs, state, params, carry):
        k_m, k_b = jax.random.split(key)
        a_m, c_m = self.mothers(k_m, obs, state, params, carry[0])
        a_b, c_b = self.babies(k_b, obs, state, params, carry[1])
        mine = np.zeros(self.mothers.num_agents, bool)
        mine[list(self.mothers.learners)] = True
        return jnp.where(jnp.asarray(mine), a_m, a_b), (c_m, c_b)


def brain_world(run: Path):
    """`(world, policy, params, seeds)` with the babies played as in training: the trained babies' network or
    the frozen copy when there is one (the evaluation world otherwise gives them the scripted toddler)."""
    cfg, t = load_config(run), load_trained(run)
    if t.baby_policy is None:
        return t.world, t.policy, t.env_params, t.seeds
    return make(cfg.world, baby_brain="external", **cfg.env), Both(t.policy, t.baby_policy), t.env_params, t.seeds


def chain(run: Path, eval_json: dict, episodes: int, seed: int) -> dict[str, list]:
    """Per seed, the grandchildren (third-generation slots): how many are born per family, how long they
    live after birth (to the episode's end) and the share alive at the end, babies played as in training."""
    world, policy, params, seeds = brain_world(run)
    if world.config.generations < 3:
        raise ConfigError(f"measure 'chain' needs a world with generations >= 3; {world.name} has "
                          f"{world.config.generations}.")
    final, _ = _replay(world, policy, params, episodes, seed, watched=False)
    f, steps = world.config.n_families, int(params.max_steps)
    sl = slice(2 * f, 3 * f)
    born = final.agents.births[:, :, sl] > 0  # [S, E, F]
    death, birth = final.log.death_tick[:, :, sl], final.log.birth_tick[:, :, sl]
    life = np.where(death >= 0, death, steps) - birth
    alive = final.agents.alive[:, :, sl]
    out = {"grandchild_born": [], "grandchild_lifetime": [], "grandchild_survival": []}
    for s in range(seeds):
        b = born[s]
        out["grandchild_born"].append(float(b.mean()))
        out["grandchild_lifetime"].append(float(life[s][b].mean()) if b.any() else None)
        out["grandchild_survival"].append(float(alive[s][b].mean()) if b.any() else None)
    return out


MEASURES = {"lifetime": lifetime, "mirror": mirror, "abandonment": abandonment, "chain": chain}


def compute(groups: tuple[str, ...], run: Path, eval_json: dict, episodes: int, seed: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for g in groups:
        if g not in MEASURES:
            raise ConfigError(f"unknown measure group {g!r}: must be one of {sorted(MEASURES)}.")
        out.update(MEASURES[g](Path(run), eval_json, episodes, seed))
    return out
