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
    within 3 cells — food and hazards alike, which is how it endangers itself."""

    needs_obs = False

    def __call__(self, key, obs, state: EnvState, params) -> jax.Array:
        ag = state.agents
        n = state.terrain.shape[0]
        k_u, k_dir = jax.random.split(key)
        a = ag.alive.shape[0]
        r, c = jnp.meshgrid(jnp.arange(n), jnp.arange(n), indexing="ij")
        cells = jnp.stack([r.ravel(), c.ravel()], -1)  # [N*N, 2]
        novel = (state.terrain.ravel() == C.HAZARD)
        dist = jnp.abs(ag.pos[:, None, :] - cells[None]).max(-1)  # [A, N*N]
        d_haz = jnp.where(novel[None], dist, 10**6)
        d_food = jnp.where(state.food.on_ground[None], jnp.abs(ag.pos[:, None] - state.food.pos[None]).max(-1), 10**6)
        best_haz, best_food = jnp.argmin(d_haz, 1), jnp.argmin(d_food, 1)
        haz_closer = d_haz.min(1) <= d_food.min(1)
        target = jnp.where(haz_closer[:, None], cells[best_haz], state.food.pos[best_food])
        seen = jnp.minimum(d_haz.min(1), d_food.min(1)) <= 3
        u = jax.random.uniform(k_u, (a,))
        wander = jax.random.randint(k_dir, (a,), C.UP, C.LEFT + 1)
        curious = (u >= params.toddler_rest) & (u < params.toddler_rest + params.toddler_curiosity) & seen
        return jnp.where(u < params.toddler_rest, C.STAY, jnp.where(curious, toward(ag.pos, target), wander)).astype(jnp.int32)


BRAINS: dict[str, BabyBrain | None] = {"scripted": Toddler(), "external": None}
