"""Small geometric helpers shared by the mechanics (positions are int32 [..., 2] as (row, col))."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import constants as C

# numpy, not jnp: a jnp array made at import would start JAX's backends before the CLI can fix the
# number of CPU devices (caredrive.devices)
MOVES = np.asarray(C.MOVES, np.int32)  # [NUM_ACTIONS, 2]
NEIGHBOURS = np.asarray(C.NEIGHBOURS, np.int32)  # [4, 2]


def manhattan(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pairwise Manhattan distance [N, M] between positions a [N, 2] and b [M, 2]."""
    return jnp.abs(a[:, None, :] - b[None, :, :]).sum(-1)


def chebyshev(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pairwise Chebyshev distance [N, M]."""
    return jnp.abs(a[:, None, :] - b[None, :, :]).max(-1)


def at(grid: jax.Array, pos: jax.Array) -> jax.Array:
    """grid[pos] for a batch of positions [..., 2]."""
    return grid[pos[..., 0], pos[..., 1]]


def first_true(mask: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """(index of the first True along axis, whether any). Fixed order makes ties deterministic."""
    return jnp.argmax(mask, axis=axis), mask.any(axis=axis)


def free_neighbour(terrain: jax.Array, pos: jax.Array, avoid_hazard: bool = True) -> tuple[jax.Array, jax.Array]:
    """First walkable (and hazard-free) neighbour of each position [N, 2] in NEIGHBOURS order.

    Returns (cell [N, 2], found [N]); where none is free the cell is the position itself.
    """
    cells = pos[:, None, :] + NEIGHBOURS[None]  # [N, 4, 2]
    kind = at(terrain, cells)
    ok = kind != C.WALL
    if avoid_hazard:
        ok = ok & (kind != C.HAZARD)
    idx, found = first_true(ok)
    chosen = jnp.take_along_axis(cells, idx[:, None, None], axis=1)[:, 0]
    return jnp.where(found[:, None], chosen, pos), found


def claim(wants: jax.Array, priority: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Resolve who gets which item when several reach for the same one.

    wants [N, M] bool (claimant n could take item m), priority [N, M] (higher is preferred by n).
    Each claimant picks its preferred item; each item goes to the lowest-index claimant that picked it.
    Returns (item [N], granted [N]).
    """
    score = jnp.where(wants, priority, -1)
    choice = jnp.argmax(score, axis=1)
    has = wants.any(axis=1)
    picked = has[:, None] & (choice[:, None] == jnp.arange(wants.shape[1])[None])  # [N, M]
    winner = jnp.argmax(picked, axis=0)  # first claimant per item
    granted = has & (winner[choice] == jnp.arange(wants.shape[0]))
    return choice, granted
