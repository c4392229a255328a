"""Recording: every tap of a network policy, per tick and mother, aligned with the ground truth.

`record_sequences` is ONE jitted call built on `eval.rollout.play_episode(..., record=True)`: a `vmap`
over episodes, and over seeds when the policy's weights are stacked. World params are an argument of the
compiled function, so every world of a battery (same `Nursery`) reuses one compile. The truth is taken
inside the same call from the recorded states (`interp.truth`), so only activations and [T, M] columns
leave the device, never the states.

`Recording` flattens that to samples: one row per (seed, episode, tick, mother) with the mother alive,
numpy arrays only. `replay` runs one recorded observation stream through every seed's network (teacher
forcing), which aligns the seeds' activations row by row: what CKA and probe transfer compare.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import TAPS, taps
from caredrive.devices import spread
from caredrive.errors import ConfigError
from caredrive.eval.rollout import play_episode
from caredrive.interp.truth import episode_truth
from caredrive.train.policy import NetworkPolicy


@dataclass(frozen=True)
class Sequences:
    """Recorded episodes before flattening: arrays `[S, E, T, M, ...]` (seed, episode, tick, mother)."""

    acts: dict[str, np.ndarray]  # {tap: [S, E, T, M, units]}
    truth: dict[str, np.ndarray]  # {target: [S, E, T, M]}
    alive: np.ndarray  # [S, E, T, M] bool: the mother is alive at the tick
    mothers: tuple[int, ...]  # agent slots of the M mothers
    every: int  # ticks kept: 0, every, 2 * every, ...


@dataclass(frozen=True)
class Recording:
    """Samples as rows: one per (seed, episode, tick, mother) with the mother alive.

    `acts[tap]` is `[N, units]` (`value` is `[N, 1]`); `obs` is the `input` tap (the flattened observation
    the network reads, role one-hot included when the network has one); the GRU's memory before tick t is
    the `gru` tap of tick t - 1 (zero at tick 0). `truth` holds the columns of `interp.truth.TARGETS`
    (NaN where undefined)."""

    acts: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    seed: np.ndarray  # [N] int32: index along the policy's seed axis
    episode: np.ndarray  # [N] int32: index of the episode key (the same keys for every seed)
    tick: np.ndarray  # [N] int32
    mother: np.ndarray  # [N] int32: agent slot

    @property
    def n(self) -> int:
        return int(self.seed.shape[0])

    @property
    def obs(self) -> np.ndarray:
        return self.acts["input"]

    @property
    def logits(self) -> np.ndarray:
        return self.acts["logits"]

    @property
    def value(self) -> np.ndarray:
        return self.acts["value"][:, 0]

    @property
    def actions(self) -> np.ndarray:
        return self.truth["action"].astype(np.int32)

    def select(self, rows: np.ndarray) -> Recording:
        """The recording restricted to `rows` (a bool mask or indices)."""
        pick = lambda x: x[rows]
        return Recording({k: pick(v) for k, v in self.acts.items()}, {k: pick(v) for k, v in self.truth.items()},
                         pick(self.seed), pick(self.episode), pick(self.tick), pick(self.mother))


def check_aligned(rec: Recording) -> np.ndarray:
    """The seeds of `rec`, after checking that every seed has the same (episode, tick, mother) rows in the
    same order (what `replay` gives): row i of one seed is row i of every other."""
    seeds = np.unique(rec.seed)
    ref = rec.seed == seeds[0]
    for s in seeds[1:]:
        mine = rec.seed == s
        same = mine.sum() == ref.sum() and all(
            np.array_equal(a[mine], a[ref]) for a in (rec.episode, rec.tick, rec.mother))
        if not same:
            raise ConfigError("CKA and probe transfer need aligned rows: pass the output of interp.record.replay.")
    return seeds


def n_seeds(policy: NetworkPolicy) -> int:
    """Length of the policy's leading seed axis, 0 if its weights are not stacked."""
    kernel = policy.weights["params"]["enc0"]["kernel"]
    return int(kernel.shape[0]) if kernel.ndim == 3 else 0


def mother_slots(policy: NetworkPolicy, n_families: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(positions in `policy.learners`, agent slots) of the founding mothers the network plays."""
    pos = tuple(i for i, s in enumerate(policy.learners) if s < n_families)
    if not pos:
        raise ConfigError("the policy plays no founding mother (learners must include a slot < n_families).")
    return pos, tuple(policy.learners[i] for i in pos)


def _check_taps(names) -> tuple[str, ...]:
    names = TAPS if names is None else tuple(names)
    bad = [t for t in names if t not in TAPS]
    if bad:
        raise ConfigError(f"unknown tap(s) {bad}: choose from {list(TAPS)}.")
    return names


@partial(jax.jit, static_argnames=("env", "steps", "tap_names", "every", "stacked"))
def _record(policy, keys, params, env, steps, tap_names, every, stacked):
    pos, slots = mother_slots(policy, env.config.n_families)
    cfg = env.config

    def episode(pol, key):
        _, _, _, tr = play_episode(env, pol, params, key, steps, record=True)
        acts = {k: tr["acts"][k][:, pos] for k in tap_names}
        acts = {k: v[..., None] if v.ndim == 2 else v for k, v in acts.items()}  # value: [T, M] -> [T, M, 1]
        truth = episode_truth(tr["state"], tr["actions"], params, np.asarray(slots), cfg.n_families, cfg.view_size)
        alive = tr["state"].agents.alive[:, np.asarray(slots)]
        keep = lambda x: x[::every]
        return jax.tree.map(keep, acts), jax.tree.map(keep, truth), keep(alive)

    over_episodes = lambda pol: jax.vmap(lambda k: episode(pol, k))(keys)
    if not stacked:
        return jax.tree.map(lambda x: x[None], over_episodes(policy))
    axes = dataclasses.replace(policy, weights=jax.tree.map(lambda _: 0, policy.weights),
                               edit=jax.tree.map(lambda _: None, policy.edit))
    return jax.vmap(over_episodes, in_axes=(axes,))(policy)


def record_sequences(policy: NetworkPolicy, env, params, keys: jax.Array, steps: int | None = None,
                     taps: tuple[str, ...] | None = None, every: int = 1) -> Sequences:
    """Play one episode per key (per seed if the weights are stacked; an `edit` is shared by all seeds)
    in one jitted call and keep the taps `taps` (default all) and the truth every `every` ticks.

    The compile is reused for any `params` of the same `env` object, keys of the same length and the same
    `steps`, `taps`, `every`. Memory: about S x E x T/every x M x 760 floats at hidden 64 (every tap);
    choose fewer `taps` or a larger `every` for big recordings."""
    if not isinstance(policy, NetworkPolicy):
        raise ConfigError(f"recording needs a NetworkPolicy, got {type(policy).__name__}.")
    if every < 1:
        raise ConfigError(f"every={every} is not allowed: must be an integer >= 1.")
    steps = int(params.max_steps) if steps is None else int(steps)
    if steps < 1:
        raise ConfigError(f"steps={steps} is not allowed: must be an integer >= 1.")
    names = _check_taps(taps)
    _, slots = mother_slots(policy, env.config.n_families)
    s = n_seeds(policy)
    if s > 0:  # seeds side by side, one CPU core each, when the entry point asked for them (caredrive.devices)
        policy = dataclasses.replace(policy, weights=spread(policy.weights, s))
    acts, truth, alive = _record(policy, keys, params, env=env, steps=steps, tap_names=names, every=every,
                                 stacked=s > 0)
    np_ = lambda tree: {k: np.asarray(v) for k, v in tree.items()}
    return Sequences(np_(acts), np_(truth), np.asarray(alive), slots, every)


def flatten(seqs: Sequences, mask: np.ndarray | None = None) -> Recording:
    """Rows of `seqs` where `mask` (default: the mother alive) holds, in (seed, episode, tick, mother) order."""
    mask = seqs.alive if mask is None else mask
    s, e, t, m = np.nonzero(mask)
    return Recording(
        acts={k: v[s, e, t, m] for k, v in seqs.acts.items()},
        truth={k: v[s, e, t, m] for k, v in seqs.truth.items()},
        seed=s.astype(np.int32), episode=e.astype(np.int32), tick=(t * seqs.every).astype(np.int32),
        mother=np.asarray(seqs.mothers, np.int32)[m],
    )


def record(policy: NetworkPolicy, env, params, keys: jax.Array, steps: int | None = None,
           taps: tuple[str, ...] | None = None, every: int = 1) -> Recording:
    """Record `len(keys)` episodes of `policy` (stacked over seeds or not) on the world `params` of `env`:
    one row per tick (every `every`-th) and living mother. See `record_sequences`."""
    return flatten(record_sequences(policy, env, params, keys, steps, taps, every))


# --- teacher forcing: the same inputs through every seed's network ---------------------------------


@partial(jax.jit, static_argnames=("tap_names",))
def _replay(policy, x, role, tap_names):
    """`{tap: [S, T, B, units]}` of each stacked network on the flat inputs `x` [T, B, D]."""
    net = policy.net
    t, b = x.shape[:2]
    reset = jnp.zeros((t, b), bool).at[0].set(True)

    def one(w):
        _, acts = net.apply(w, net.initial_carry(b, net.hidden), x, reset, role, policy.edit, mutable=["acts"])
        out = {k: v for k, v in taps(acts["acts"]).items() if k in tap_names}
        return {k: v[..., None] if v.ndim == 2 else v for k, v in out.items()}

    return jax.vmap(one)(policy.weights)


def replay(policy: NetworkPolicy, seqs: Sequences, source: int = 0, taps: tuple[str, ...] | None = None) -> Recording:
    """The observations that seed `source` of `seqs` saw, fed through every seed of `policy` (stacked):
    rows are the source's (living mothers), identical for every seed; `seed` is the network's index.

    `seqs` must keep every tick (`every=1`) and the `input` tap. Each network starts from a zero memory at
    tick 0 and never acts: its activations answer "what would this network compute on these inputs"."""
    if seqs.every != 1 or "input" not in seqs.acts:
        raise ConfigError("replay needs a recording of every tick (every=1) with the 'input' tap.")
    if n_seeds(policy) == 0:
        raise ConfigError("replay needs a policy stacked over seeds (weights with a leading seed axis).")
    names = _check_taps(taps)
    x = seqs.acts["input"][source]  # [E, T, M, D]
    e, t, m, _ = x.shape
    net = policy.net
    role = None
    if net.num_roles > 0:
        x = x[..., : x.shape[-1] - net.num_roles]
        roles = np.asarray(policy.roles)[np.asarray([policy.learners.index(s) for s in seqs.mothers])]
        role = jnp.broadcast_to(jnp.asarray(roles, jnp.int32)[None, None, :], (t, e, m)).reshape(t, e * m)
    flat = jnp.asarray(x).transpose(1, 0, 2, 3).reshape(t, e * m, -1)
    out = _replay(policy, flat, role, tap_names=names)
    s = n_seeds(policy)
    acts = {k: np.asarray(v).reshape(s, t, e, m, -1).transpose(0, 2, 1, 3, 4) for k, v in out.items()}
    tile = lambda a: np.broadcast_to(a[source][None], (s,) + a.shape[1:])
    aligned = Sequences(acts, {k: tile(v) for k, v in seqs.truth.items()}, tile(seqs.alive), seqs.mothers, 1)
    return flatten(aligned)


def fresh_policy(policy: NetworkPolicy, key: jax.Array, seeds: int | None = None, env=None) -> NetworkPolicy:
    """`policy` with untrained weights (a fresh init of the same architecture, one per seed; `seeds=0`:
    not stacked): the baseline of every comparison between seeds. The input width comes from the
    policy's weights, or from `env` when it has none yet."""
    net = policy.net
    if policy.weights is not None:
        d = int(policy.weights["params"]["enc0"]["kernel"].shape[-2]) - net.num_roles
        s = n_seeds(policy) if seeds is None else seeds
    elif env is not None:
        d = sum(int(np.prod(shape[1:])) for shape in env.obs_shapes.values())
        s = 0 if seeds is None else seeds
    else:
        raise ConfigError("fresh_policy needs the policy's weights or the env to know the input width.")
    role = jnp.zeros((1, 1), jnp.int32) if net.num_roles > 0 else None
    init = lambda k: net.init(k, net.initial_carry(1, net.hidden), jnp.zeros((1, 1, d)), jnp.zeros((1, 1), bool), role)
    weights = jax.jit(jax.vmap(init))(jax.random.split(key, max(s, 1)))
    if s == 0:
        weights = jax.tree.map(lambda x: x[0], weights)
    return dataclasses.replace(policy, weights=weights)
