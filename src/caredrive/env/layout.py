"""Layouts: the terrain of an episode (walls and hazards) as an int8 grid.

Every generator is a pure function of (key, params), computed for all layouts and selected by
`params.layout`, so worlds with different layouts vmap together; only reset pays for it.
Named fixed layouts can also be given as ASCII (`parse_ascii`) for hand-built tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import constants as C


def _coords(n: int) -> tuple[jax.Array, jax.Array]:
    return jnp.meshgrid(jnp.arange(n), jnp.arange(n), indexing="ij")


def generate(u_cells: jax.Array, u_misc: jax.Array, params) -> jax.Array:
    """Terrain [n, n] int8 for `params.layout` (hazards are added by the caller on free cells).

    `u_cells` [n, n] and `u_misc` [5] are uniforms: one draw per reset feeds every random choice."""
    n = u_cells.shape[0]
    r, c = _coords(n)
    border = (r == 0) | (c == 0) | (r == n - 1) | (c == n - 1)
    mid = n // 2

    walls = u_cells < params.wall_density
    # keep a plus of free cells around the centre so random walls rarely cut the map in two
    walls = walls & (r != mid) & (c != mid)

    # one door per half-wall of the cross, never in the border: [1, mid) before the centre, (mid, n-1) after
    first = 1 + jnp.floor(u_misc[:4] * (mid - 1)).astype(jnp.int32)
    second = mid + 1 + jnp.floor(u_misc[:4] * (n - 2 - mid)).astype(jnp.int32)
    rooms = ((r == mid) | (c == mid)) & ~(
        ((r == mid) & (c == first[0]))
        | ((r == mid) & (c == second[1]))
        | ((c == mid) & (r == first[2]))
        | ((c == mid) & (r == second[3]))
    )

    # corridor: wall rows every third row, each open at alternating ends -> a serpentine
    row_k = r // 3
    gap_left = u_misc[4] < 0.5
    open_end = jnp.where((row_k % 2 == 0) == gap_left, c == 1, c == n - 2)
    corridor = (r % 3 == 0) & (r > 0) & (r < n - 2) & ~open_end

    # moat: a ring of hazard two cells inside the border, with two gaps
    ring = (jnp.maximum(jnp.abs(r - mid), jnp.abs(c - mid)) == mid - 2) & (r != mid) & (c != mid)

    inner_wall = jnp.select(
        [params.layout == C.LAYOUT_WALLS, params.layout == C.LAYOUT_ROOMS, params.layout == C.LAYOUT_CORRIDOR],
        [walls, rooms, corridor],
        jnp.zeros((n, n), bool),
    )
    hazard = (params.layout == C.LAYOUT_MOAT) & ring
    terrain = jnp.where(border | inner_wall, C.WALL, jnp.where(hazard, C.HAZARD, C.EMPTY))
    return terrain.astype(jnp.int8)


def parse_ascii(rows: list[str]) -> np.ndarray:
    """'#' wall, '~' hazard, anything else empty. For tests and hand-built states."""
    table = {"#": C.WALL, "~": C.HAZARD}
    return np.array([[table.get(ch, C.EMPTY) for ch in row] for row in rows], dtype=np.int8)
