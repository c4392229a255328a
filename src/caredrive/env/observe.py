"""Observations: what each agent can sense. Never the baby's hidden energy or health.

Per agent: an egocentric `view` [V, V, NUM_CHANNELS] (uint8, channels in constants.CHANNEL_NAMES;
outside the grid reads as wall) and a `body` vector [NUM_BODY] (constants.BODY_FEATURES) with the
agent's own state and the cry it hears: its own child's cry and the cry's direction, or, when
`label_own_baby` is off, the cry of the nearest crying baby (all babies sound alike).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from caredrive.env import constants as C
from caredrive.env.state import EnvState


@struct.dataclass
class Obs:
    view: jax.Array  # [A, V, V, NUM_CHANNELS] uint8
    body: jax.Array  # [A, NUM_BODY] float32


def _count(pos: jax.Array, mask: jax.Array, n: int) -> jax.Array:
    """How many masked entities stand on each cell: [n, n] (an outer product, no scatter)."""
    rows = jnp.arange(n)
    oy = ((pos[:, 0, None] == rows[None]) & mask[:, None]).astype(jnp.float32)
    ox = (pos[:, 1, None] == rows[None]).astype(jnp.float32)
    return oy.T @ ox


def _mark(observer: jax.Array, target: jax.Array, valid: jax.Array, v: int) -> jax.Array:
    """[A, V, V] one-hot of each observer's own target (its child, its parent) inside its view."""
    rel = target - observer + v // 2
    inside = valid & (rel >= 0).all(-1) & (rel < v).all(-1)
    ar = jnp.arange(v)
    return (rel[:, 0, None, None] == ar[None, :, None]) & (rel[:, 1, None, None] == ar[None, None, :]) & inside[:, None, None]


def observe(state: EnvState, params, child_of: jax.Array, parent_of: jax.Array, view_size: int) -> Obs:
    ag, n, v = state.agents, state.terrain.shape[0], view_size
    r = v // 2
    baby = ag.role == C.BABY
    layers = jnp.stack(
        [
            state.terrain == C.WALL,
            _count(state.food.pos, state.food.on_ground, n) > 0,
            state.terrain == C.HAZARD,
            _count(state.predators.pos, state.predators.active, n) > 0,
            _count(ag.pos, ag.alive & baby, n),
            _count(ag.pos, ag.alive & ~baby, n),
            _count(ag.pos, ag.alive & (ag.carried_by >= 0), n) > 0,
        ],
        axis=-1,
    ).astype(jnp.float32)
    padded = jnp.pad(layers, ((r, r), (r, r), (0, 0)))
    padded = padded.at[..., 0].set(jnp.pad(layers[..., 0], r, constant_values=1.0))  # beyond the grid: wall
    win = jax.vmap(lambda p: jax.lax.dynamic_slice(padded, (p[0], p[1], 0), (v, v, 7)))(ag.pos)  # [A, V, V, 7]

    child, parent = jnp.maximum(child_of, 0), jnp.maximum(parent_of, 0)
    own = _mark(ag.pos, ag.pos[child], (child_of >= 0) & ag.alive[child] & params.label_own_baby, v)
    par = _mark(ag.pos, ag.pos[parent], (parent_of >= 0) & ag.alive[parent] & (ag.role[parent] == C.ADULT), v)
    centre = jnp.zeros((v, v), bool).at[r, r].set(True)[None]
    me_baby = centre & (ag.alive & baby)[:, None, None]
    me_adult = centre & (ag.alive & ~baby)[:, None, None]
    other_baby = (win[..., 4] - own - me_baby) > 0
    other_adult = (win[..., 5] - par - me_adult) > 0
    view = jnp.stack(
        [win[..., 0] > 0, win[..., 1] > 0, win[..., 2] > 0, win[..., 3] > 0, own, other_baby, par, other_adult, win[..., 6] > 0],
        axis=-1,
    ).astype(jnp.uint8)

    # the cry: her own child's, or (unlabelled) the nearest crying baby's, with its direction
    others = ~jnp.eye(ag.alive.shape[0], dtype=bool)
    dist = jnp.abs(ag.pos[:, None, :] - ag.pos[None, :, :]).sum(-1)
    crying = ag.cry[None, :] & others
    nearest = jnp.argmin(jnp.where(crying, dist, 10**6), axis=1)
    src = jnp.where(params.label_own_baby, child, nearest)
    heard = jnp.where(params.label_own_baby, (child_of >= 0) & ag.cry[child], crying.any(axis=1))
    direction = jnp.sign(ag.pos[src] - ag.pos) * heard[:, None]
    child_born = (child_of >= 0) & (ag.births[child] > 0)
    body = jnp.stack(
        [
            ag.energy,
            ag.health,
            jnp.minimum(ag.age / params.adult_age, 1.0),
            baby.astype(jnp.float32),
            (ag.carrying >= 0).astype(jnp.float32),
            (ag.holding >= 0).astype(jnp.float32),
            child_born.astype(jnp.float32),
            heard.astype(jnp.float32),
            direction[:, 0].astype(jnp.float32),
            direction[:, 1].astype(jnp.float32),
            jnp.broadcast_to(jnp.minimum(state.t / params.max_steps, 1.0), ag.energy.shape),
        ],
        axis=-1,
    ).astype(jnp.float32)
    return Obs(view=view, body=body)
