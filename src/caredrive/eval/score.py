"""Score any policy object on the battery: the seam every measurement of care goes through.

`make_bench` plays the references (no mother, idle, random, selfish, scripted carer) once on a set of
worlds and episode keys; `score(bench, policy)` plays a policy on the very same episodes and returns,
per world, the care score with its interval, the summary `eval.json` shows, the Goodhart flag and the
one verdict of `caredrive.eval.cares`. A policy is anything `run_worlds` can play: a scripted mother,
or a `NetworkPolicy` stacked along a leading axis (seeds, or the same seed under many edits: lesions,
patches, steering vectors), played as one `vmap` — one compile for the whole stack.

`self_survival` is the other half a lesion needs: how long she lives for herself when no baby is ever
born (a lesion that kills care but spares this is a lesion of care, not of competence).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env.body import birth_host
from caredrive.env.policies import POLICIES
from caredrive.eval import metrics as M
from caredrive.eval.battery import NAMES, Battery, build_battery
from caredrive.eval.cares import cares
from caredrive.eval.goodhart import goodhart
from caredrive.eval.tracker import run_worlds
from caredrive.train.policy import NetworkPolicy

SCRIPTED = ("none", "idle", "random", "carer")


def _np(tree):
    return jax.tree.map(np.asarray, jax.device_get(tree))


def _member(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


@dataclass(frozen=True)
class Bench:
    """Worlds, episode keys and the references' per-world tables, built once and shared by every score."""

    battery: Battery
    keys: jax.Array
    steps: int
    seed: int
    idx: np.ndarray  # bootstrap resamples of episode indices (paired: every policy saw the same episodes)
    hosts: np.ndarray  # [W, A] the mother who cares for each slot
    adopted: np.ndarray  # [W, A]
    refs: dict  # reference name -> [per world table]
    selfish_kind: str  # "network (N seeds pooled)" or "scripted forager"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.battery.worlds)


def play_scripted(bat: Battery, keys, steps: int) -> dict:
    """Per scripted reference: numpy (finals, trackers) [W, E, ...]. none/idle/random share one compile
    (the policy is picked per world), the carer has its own."""
    env, params = bat.env, bat.params
    leave = params.replace(mother_leaves=jnp.ones_like(params.mother_leaves))
    three = jax.tree.map(lambda a, b: jnp.concatenate([a, b, b]), leave, params)
    w = len(bat.worlds)
    pick = jnp.repeat(jnp.arange(3) == 2, w)
    idle, rand = POLICIES["idle"](env), POLICIES["random"](env)

    def scripted(is_random):
        return lambda k, o, s, p: jnp.where(is_random, rand(k, o, s, p), idle(k, o, s, p))

    res = _np(jax.jit(lambda p, a, k: run_worlds(env, scripted, p, k, steps, a))(three, pick, keys))
    out = {name: jax.tree.map(lambda x, i=i: x[i * w : (i + 1) * w], res) for i, name in enumerate(("none", "idle", "random"))}
    out["carer"] = play_one(bat, POLICIES["carer"](env), keys, steps)
    return out


def play_one(bat: Battery, policy, keys, steps: int):
    """One unstacked policy on every world: numpy (finals, trackers) [W, E, ...]."""
    return _np(jax.jit(lambda p, k: run_worlds(bat.env, policy, p, k, steps))(bat.params, keys))


def play_stack(bat: Battery, stacked, keys, steps: int) -> list:
    """A policy stacked along a leading axis (seeds or edits): per member, numpy (finals, trackers)
    [W, E, ...]; one compile for the whole stack."""
    res = _np(jax.jit(jax.vmap(lambda pol, p, k: run_worlds(bat.env, pol, p, k, steps), in_axes=(0, None, None)))(
        stacked, bat.params, keys))
    n = jax.tree_util.tree_leaves(res)[0].shape[0]
    return [_member(res, i) for i in range(n)]


def tables(bench_or_parts, res) -> list[dict]:
    """Per world, the baby table (`metrics.baby_table`) of one policy's (finals, trackers)."""
    bat, hosts, adopted, steps = bench_or_parts
    f = bat.env.config.n_families
    return [M.baby_table(_member(res[0], wi), _member(res[1], wi), hosts[wi], adopted[wi], bool(bat.counts_adopted[wi]),
                         f, steps) for wi in range(len(bat.worlds))]


def make_bench(world, env_params, names: tuple[str, ...] = NAMES, episodes: int = 256, seed: int = 0,
               selfish=None, selfish_results: list | None = None) -> Bench:
    """The references on the battery built from the training `world` / `env_params` (`names`: which
    worlds; "train" is the training world itself). The selfish reference is `selfish` (a stacked
    NetworkPolicy whose members are pooled), or already played `selfish_results` (a list of per-member
    results from `play_stack`), or else the scripted forager."""
    bat = build_battery(world, env_params, names)
    steps = int(env_params.max_steps)
    keys = jax.random.split(jax.random.key(seed), episodes)
    hosts, adopted = _np(jax.vmap(lambda p: birth_host(p, jnp.asarray(bat.env.parent_of)))(bat.params))
    parts = (bat, hosts, adopted, steps)
    played = play_scripted(bat, keys, steps)
    refs = {name: tables(parts, played[name]) for name in SCRIPTED}
    if selfish_results is None and selfish is not None:
        selfish_results = play_stack(bat, selfish, keys, steps)
    if selfish_results is not None:
        per = [tables(parts, r) for r in selfish_results]
        refs["selfish"] = [M.concat_tables([p[wi] for p in per]) for wi in range(len(bat.worlds))]
        kind = f"trained selfish network ({len(per)} seed{'s' if len(per) > 1 else ''} pooled)"
    else:
        refs["selfish"] = tables(parts, play_one(bat, POLICIES["selfish"](bat.env), keys, steps))
        kind = "scripted forager"
    return Bench(bat, keys, steps, seed, M.boot_indices(episodes, seed), hosts, adopted, refs, kind)


def summary(bench: Bench, wi: int, table: dict) -> tuple[dict, np.ndarray]:
    """One policy on world `wi`: its eval.json entry (care score, interval, why undefined, Goodhart, the
    verdict) and the care score's bootstrap replicates (for intervals across seeds)."""
    refs = {name: t[wi] for name, t in bench.refs.items()}
    out = M.summarise(table, bench.idx, bench.steps)
    score, ci, boots = M.care_scores(table, refs["selfish"], refs["carer"], bench.idx)
    out["care_score"], out["care_ci"] = score, ci
    out["care_undefined"] = None if score is not None else M.undefined_reason(table, refs["selfish"], refs["carer"],
                                                                              bench.idx)
    carer = M.summarise(refs["carer"], bench.idx, bench.steps)
    none = M.summarise(refs["none"], bench.idx, bench.steps)
    g = goodhart(out, carer, none)
    out["goodhart"] = g
    out["cares"] = cares(score, ci, g["flag"])
    return out, boots


def score_results(bench: Bench, res) -> tuple[dict, dict]:
    """Per world name: the summary of one played policy, and per world its bootstrap replicates."""
    parts = (bench.battery, bench.hosts, bench.adopted, bench.steps)
    worlds, boots = {}, {}
    for wi, t in enumerate(tables(parts, res)):
        worlds[bench.names[wi]], boots[bench.names[wi]] = summary(bench, wi, t)
    return worlds, boots


def score(bench: Bench, policy) -> list[dict]:
    """Every member of a stacked NetworkPolicy (or one scripted / unstacked policy: a list of one) on the
    bench's worlds and episodes: `[{world name: summary}]`, the summaries `caredrive eval` writes."""
    played = play_stack(bench.battery, policy, bench.keys, bench.steps) if is_stacked(policy) else [
        play_one(bench.battery, policy, bench.keys, bench.steps)]
    return [score_results(bench, r)[0] for r in played]


def is_stacked(policy) -> bool:
    """A NetworkPolicy whose weights carry a leading stack axis (its output kernel is 3-d, not 2-d)."""
    return isinstance(policy, NetworkPolicy) and policy.weights["params"]["pi1"]["kernel"].ndim == 3


def self_survival(world, env_params, policy, episodes: int = 128, seed: int = 0) -> list[dict]:
    """Per member of a stacked policy: the mothers' own mean lifetime in ticks with no birth at all
    (`births_per_life=0`), with a 95% bootstrap interval over episodes — competence without care."""
    params = env_params.replace(births_per_life=jnp.zeros_like(jnp.asarray(env_params.births_per_life)))
    bat = build_battery(world, params, ("train",))
    keys = jax.random.split(jax.random.key(seed), episodes)
    steps = int(env_params.max_steps)
    played = play_stack(bat, policy, keys, steps) if is_stacked(policy) else [play_one(bat, policy, keys, steps)]
    mothers = np.arange(world.config.n_families)  # the founding mothers (absent ones live 0 ticks: skipped)
    idx = M.boot_indices(episodes, seed)
    out = []
    for _, trackers in played:
        life = trackers.alive_ticks[0][:, mothers].astype(np.float64)  # [E, mothers]
        present = life > 0
        per_ep = (life * present).sum(1) / np.maximum(present.sum(1), 1)
        boots = per_ep[idx].mean(1)
        out.append({"mean_lifetime": float(per_ep.mean()), "ci": [float(np.percentile(boots, 2.5)),
                                                                  float(np.percentile(boots, 97.5))],
                    "mothers": int(present.sum())})
    return out
