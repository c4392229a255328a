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


def arena(params, n: int) -> tuple[jax.Array, jax.Array]:
    """(offset, side) of the play area: `params.arena` cells centred in an n x n grid (the whole grid if 0).

    A smaller world walled in inside a bigger static grid is the same world (the view sees walls past
    the border either way), so worlds of different sizes share one compiled step."""
    size = jnp.where(params.arena > 0, params.arena, n).astype(jnp.int32)
    return (n - size) // 2, size


def generate(u_cells: jax.Array, u_misc: jax.Array, params) -> jax.Array:
    """Terrain [n, n] int8 for `params.layout` (hazards are added by the caller on free cells).

    `u_cells` [n, n] and `u_misc` [5] are uniforms: one draw per reset feeds every random choice.
    Every layout is drawn inside the arena (`arena`); cells outside it are wall."""
    n = u_cells.shape[0]
    off, size = arena(params, n)
    r, c = _coords(n)
    r, c = r - off, c - off
    outside = (r < 0) | (c < 0) | (r >= size) | (c >= size)
    border = outside | (r == 0) | (c == 0) | (r == size - 1) | (c == size - 1)
    mid = size // 2

    walls = u_cells < params.wall_density
    # keep a plus of free cells around the centre so random walls rarely cut the map in two
    walls = walls & (r != mid) & (c != mid)

    # one door per half-wall of the cross, never in the border: [1, mid) before the centre, (mid, size-1) after
    first = 1 + jnp.floor(u_misc[:4] * (mid - 1)).astype(jnp.int32)
    second = mid + 1 + jnp.floor(u_misc[:4] * (size - 2 - mid)).astype(jnp.int32)
    rooms = ((r == mid) | (c == mid)) & ~(
        ((r == mid) & (c == first[0]))
        | ((r == mid) & (c == second[1]))
        | ((c == mid) & (r == first[2]))
        | ((c == mid) & (r == second[3]))
    )

    # corridor: wall rows every third row, each open at alternating ends -> a serpentine
    row_k = r // 3
    gap_left = u_misc[4] < 0.5
    open_end = jnp.where((row_k % 2 == 0) == gap_left, c == 1, c == size - 2)
    corridor = (r % 3 == 0) & (r > 0) & (r < size - 2) & ~open_end

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
