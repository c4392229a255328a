"""Per-tick care measurements accumulated inside the rollout scan, so they cost nothing outside `jit`.

The world's own `EventLog` counts events (feedings, pick-ups, scares, deaths with cause). What needs a
look at every tick — the baby's energy, its *options* (cells it could reach), whether it is boxed in,
how far its mother is and whether it is out of her sight, how long she takes to answer a cry — is
accumulated here, per agent slot, by a
pure function of the state: `track(tracker, state, host, t)`. Metrics (`eval/metrics.py`) read the
first-generation baby slots and their hosts (the mother who cares for each: her own, or adopted).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from caredrive.env import constants as C
from caredrive.env.body import birth_host
from caredrive.env.nursery import Nursery
from caredrive.env.state import EnvState
from caredrive.eval.rollout import play_episode

OPTIONS_K = 3  # options: cells reachable in this many steps
BOXED_MAX = 2  # boxed in: this many options or fewer (or carried)


@struct.dataclass
class Tracker:
    alive_ticks: jax.Array  # [A] int32 ticks alive
    energy_sum: jax.Array  # [A] float32 energy summed over alive ticks (welfare)
    options_sum: jax.Array  # [A] float32 options summed over alive ticks
    boxed_ticks: jax.Array  # [A] int32 alive ticks carried or with <= BOXED_MAX options
    carried_ticks: jax.Array  # [A] int32 alive ticks carried
    dist_sum: jax.Array  # [A] float32 distance to the host, over ticks both are alive
    dist_ticks: jax.Array  # [A] int32
    unseen_ticks: jax.Array  # [A] int32 of those ticks, outside the host's view (memory's test)
    cry_open: jax.Array  # [A] int32 tick an unanswered cry began, -1 if none
    resp_sum: jax.Array  # [A] int32 ticks from cry onset to the host being adjacent, summed
    resp_n: jax.Array  # [A] int32 cries answered
    prev_cry: jax.Array  # [A] bool


def init_tracker(a: int) -> Tracker:
    zi, zf = jnp.zeros((a,), jnp.int32), jnp.zeros((a,), jnp.float32)
    return Tracker(zi, zf, zf, zi, zi, zf, zi, zi, jnp.full((a,), -1, jnp.int32), zi, zi, jnp.zeros((a,), bool))


def options(terrain: jax.Array, pos: jax.Array, carried: jax.Array, k: int = OPTIONS_K) -> jax.Array:
    """Cells [A] each agent could walk to in `k` steps through cells that are neither wall nor hazard
    (its own cell not counted). A carried agent has no options: it goes where it is taken."""
    w = 2 * k + 1
    free = jnp.pad(terrain == C.EMPTY, k, constant_values=False)
    win = jax.vmap(lambda p: jax.lax.dynamic_slice(free, (p[0], p[1]), (w, w)))(pos)  # [A, w, w]
    reach = jnp.zeros_like(win).at[:, k, k].set(True)
    for _ in range(k):
        p = jnp.pad(reach, ((0, 0), (1, 1), (1, 1)))
        grown = reach | p[:, :-2, 1:-1] | p[:, 2:, 1:-1] | p[:, 1:-1, :-2] | p[:, 1:-1, 2:]
        reach = (grown & win) | reach
    return jnp.where(carried, 0, reach.sum((1, 2)) - 1).astype(jnp.int32)


def track(tr: Tracker, state: EnvState, host: jax.Array, view_radius: int = 2) -> Tracker:
    """Add one tick (the state after it) to the tracker. `host` [A]: who cares for each slot;
    `view_radius`: half the side of the host's view (out of it, only memory says where the baby is)."""
    ag = state.agents
    alive = ag.alive
    carried = ag.carried_by >= 0
    opts = options(state.terrain, ag.pos, carried)
    boxed = carried | (opts <= BOXED_MAX)
    with_host = alive & ag.alive[host] & (host != jnp.arange(alive.shape[0]))
    gap = jnp.abs(ag.pos - ag.pos[host])  # [A, 2]
    d = gap.sum(-1)
    unseen = with_host & (gap.max(-1) > view_radius)
    onset = ag.cry & ~tr.prev_cry
    opened = jnp.where(onset & (tr.cry_open < 0) & alive, state.t, tr.cry_open)
    answered = (opened >= 0) & with_host & (d <= 1)
    return Tracker(
        alive_ticks=tr.alive_ticks + alive,
        energy_sum=tr.energy_sum + jnp.where(alive, ag.energy, 0.0),
        options_sum=tr.options_sum + jnp.where(alive, opts, 0).astype(jnp.float32),
        boxed_ticks=tr.boxed_ticks + (alive & boxed),
        carried_ticks=tr.carried_ticks + (alive & carried),
        dist_sum=tr.dist_sum + jnp.where(with_host, d, 0).astype(jnp.float32),
        dist_ticks=tr.dist_ticks + with_host,
        unseen_ticks=tr.unseen_ticks + unseen,
        cry_open=jnp.where(answered | ~alive, -1, opened),
        resp_sum=tr.resp_sum + jnp.where(answered, state.t - opened, 0),
        resp_n=tr.resp_n + answered,
        prev_cry=ag.cry,
    )


def _episode(env: Nursery, policy, params, key: jax.Array, steps: int, keep_states: bool):
    """One episode as `rollout.play_episode` plays it (same key use), with the tracker folded in."""
    host, _ = birth_host(params, jnp.asarray(env.parent_of))
    first, final, tr, states = play_episode(env, policy, params, key, steps, init_tracker(env.num_agents),
                                            lambda tr, state: track(tr, state, host, env.config.view_size // 2),
                                            keep_states)
    return (final, tr, first, states) if keep_states else (final, tr)


def run_worlds(env: Nursery, policy, params, keys: jax.Array, steps: int, policy_arg=None) -> tuple[EnvState, Tracker]:
    """Final states and trackers [W, E, ...]: a vmap over worlds (`params` stacked) and episodes (`keys`).
    With `policy_arg` [W, ...], `policy(arg)` builds each world's policy (several cheap scripted
    policies in one compile). Un-jitted, so callers can also vmap it over a stack of policies (seeds)."""
    if policy_arg is None:
        return jax.vmap(lambda p: jax.vmap(lambda k: _episode(env, policy, p, k, steps, False))(keys))(params)
    per_world = lambda p, a: jax.vmap(lambda k: _episode(env, policy(a), p, k, steps, False))(keys)
    return jax.vmap(per_world)(params, policy_arg)


def episode_states_fn(env: Nursery, policy, steps: int):
    """A jitted `(params, key) -> (first state, states after each tick [T, ...])` replaying the very
    episode `run_worlds` plays with `key`. Build it once and call it per episode (one compile)."""
    if hasattr(policy, "init_carry"):  # a network: pass the weights as an argument, not a constant
        fn = jax.jit(lambda pol, p, k: _episode(env, pol, p, k, steps, True)[2:])
        return lambda p, k: fn(policy, p, k)
    return jax.jit(lambda p, k: _episode(env, policy, p, k, steps, True)[2:])
