"""Baby brains: who decides what a baby does.

A brain is a function `(key, obs, state, params) -> actions [A]`; the world uses its actions for the
slots whose role is BABY and the caller's actions for everyone else. `obs` is None for brains that
declare `needs_obs = False` (the scripted toddler reads the state directly), so they cost no extra
observation. Network brains (a separate policy, a frozen copy of the mother) are brains that need obs;
a brain trained together with the mother ("shared") is simply `baby_brain="external"`: the caller
passes the babies' actions.
"""

from __future__ import annotations

from typing import Protocol

import jax
import jax.numpy as jnp

from caredrive.env import constants as C
from caredrive.env.state import EnvState


class BabyBrain(Protocol):
    needs_obs: bool

    def __call__(self, key: jax.Array, obs, state: EnvState, params) -> jax.Array: ...


def toward(src: jax.Array, dst: jax.Array) -> jax.Array:
    """The move action that closes the larger of the row/column gaps from src to dst (STAY if there)."""
    d = dst - src
    vertical = jnp.abs(d[..., 0]) >= jnp.abs(d[..., 1])
    row_move = jnp.where(d[..., 0] < 0, C.UP, C.DOWN)
    col_move = jnp.where(d[..., 1] < 0, C.LEFT, C.RIGHT)
    act = jnp.where(vertical, row_move, col_move)
    return jnp.where((d == 0).all(-1), C.STAY, act).astype(jnp.int32)


class Toddler:
    """A scripted toddler: rests sometimes, wanders at random, and is drawn to the nearest novel thing
    within `REACH` cells — food and hazards alike, which is how it endangers itself. It looks only at
    its own neighbourhood, so it costs a small window per baby, not a pass over the grid."""

    needs_obs = False
    REACH = 2

    def __call__(self, key, obs, state: EnvState, params) -> jax.Array:
        ag, r = state.agents, self.REACH
        w = 2 * r + 1
        u = jax.random.uniform(key, (2, ag.alive.shape[0]))
        padded = jnp.pad(state.terrain == C.HAZARD, r)
        window = jax.vmap(lambda p: jax.lax.dynamic_slice(padded, (p[0], p[1]), (w, w)))(ag.pos).reshape(-1, w * w)
        off = jnp.stack(jnp.meshgrid(jnp.arange(-r, r + 1), jnp.arange(-r, r + 1), indexing="ij"), -1).reshape(-1, 2)
        d_haz = jnp.where(window, jnp.abs(off).max(-1)[None], 10**6)  # [A, w*w]
        food = state.food
        d_food = jnp.where(food.on_ground[None], jnp.abs(ag.pos[:, None] - food.pos[None]).max(-1), 10**6)  # [A, F]
        haz_closer = d_haz.min(1) <= d_food.min(1)
        target = jnp.where(haz_closer[:, None], ag.pos + off[jnp.argmin(d_haz, 1)], food.pos[jnp.argmin(d_food, 1)])
        seen = jnp.minimum(d_haz.min(1), d_food.min(1)) <= r
        wander = C.UP + jnp.floor(u[1] * 4).astype(jnp.int32)
        rest = u[0] < params.toddler_rest
        curious = ~rest & (u[0] < params.toddler_rest + params.toddler_curiosity) & seen
        return jnp.where(rest, C.STAY, jnp.where(curious, toward(ag.pos, target), wander)).astype(jnp.int32)


BRAINS: dict[str, BabyBrain | None] = {"scripted": Toddler(), "external": None}
