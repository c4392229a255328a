"""Observations: what each agent can sense. Never the baby's hidden energy or health.

Per agent: an egocentric `view` [V, V, NUM_CHANNELS] (uint8, channels in constants.CHANNEL_NAMES;
outside the grid reads as wall) and a `body` vector [NUM_BODY] (constants.BODY_FEATURES) with the
agent's own state and the cry it hears: its own child's cry and the cry's direction, or, when
`label_own_baby` is off, the cry of the nearest crying baby (all babies sound alike) unless
`know_own_cry` is on (babies look alike, but she knows her own baby's voice). Where she knows the voice,
`hear_other_cries` lets her also hear the nearest other crying baby while hers is quiet, at level 0.5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from caredrive.env import constants as C
from caredrive.env.fusion import barrier
from caredrive.env.state import EnvState


@struct.dataclass
class Obs:
    view: jax.Array  # [A, V, V, NUM_CHANNELS] uint8
    body: jax.Array  # [A, NUM_BODY] float32


def _fields(a: int, f: int, p: int) -> dict[str, tuple[int, int]]:
    """Bit fields (shift, width) of an occupancy-grid cell code: a count per entity kind, wide enough for
    all of them on one cell, then the terrain bits."""
    fields, shift = {}, 0
    for name, most in (("food", f), ("pred", p), ("baby", a), ("adult", a), ("carried", a), ("wall", 1), ("hazard", 1)):
        fields[name] = (shift, max(most, 1).bit_length())
        shift += fields[name][1]
    if shift > 24:  # float32 table below is exact up to 2**24
        raise ValueError(f"too many entities for the observation's cell codes ({shift} bits)")
    return fields


def _entity_table(state: EnvState, bits: dict[str, tuple[int, int]]) -> jax.Array:
    """[A + F + P, 5] int32: (row, col, cell code, alive, adult) per entity (codes masked by alive,
    on_ground, active), behind a fusion barrier: the view-sized loops read a small stored table instead
    of inlining (and recomputing per view cell) whatever produced the state."""
    ag, food, pr = state.agents, state.food, state.predators
    baby = ag.role == C.BABY
    i32 = lambda x: x.astype(jnp.int32)
    code = jnp.concatenate(
        [
            i32(ag.alive & baby) << bits["baby"][0] | i32(ag.alive & ~baby) << bits["adult"][0]
            | i32(ag.alive & (ag.carried_by >= 0)) << bits["carried"][0],
            i32(food.on_ground) << bits["food"][0],
            i32(pr.active) << bits["pred"][0],
        ]
    )
    z = jnp.zeros((food.on_ground.shape[0] + pr.active.shape[0],), jnp.int32)
    alive = jnp.concatenate([i32(ag.alive), z])
    adult = jnp.concatenate([i32(ag.role == C.ADULT), z])
    pos = jnp.concatenate([ag.pos, food.pos, pr.pos], axis=0)
    return barrier(jnp.concatenate([pos, jnp.stack([code, alive, adult], -1)], axis=-1).astype(jnp.int32))


def _mark(observer: jax.Array, target: jax.Array, valid: jax.Array, v: int) -> jax.Array:
    """[A, V, V] one-hot of each observer's own target (its child, its parent) inside its view."""
    rel = target - observer + v // 2
    inside = valid & (rel >= 0).all(-1) & (rel < v).all(-1)
    ar = jnp.arange(v)
    return (rel[:, 0, None, None] == ar[None, :, None]) & (rel[:, 1, None, None] == ar[None, None, :]) & inside[:, None, None]


def _adoptee(params, child_of: jax.Array, parent_of: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per agent: the baby she adopted in a battery `adopt` world (the next family's first baby) and
    whether it passes for her own (`adopted_label` > 0); the flag is False everywhere else."""
    a = child_of.shape[0]
    founder = parent_of < 0
    partner_founder = jnp.roll(founder, -1) & (jnp.arange(a) + 1 < a)
    ok = founder & (jnp.arange(a) % 2 == 0) & partner_founder & (child_of >= 0)
    ok = ok & (params.family_mode == C.FAMILY_ADOPT) & (params.adopted_label > 0)
    return jnp.minimum(jnp.maximum(child_of, 0) + 1, a - 1), ok


def observe(state: EnvState, params, child_of: jax.Array, parent_of: jax.Array, view_size: int) -> Obs:
    ag, n, v = state.agents, state.terrain.shape[0], view_size
    r = v // 2
    baby = ag.role == C.BABY
    a = ag.alive.shape[0]
    bits = _fields(a, state.food.on_ground.shape[0], state.predators.active.shape[0])
    table = _entity_table(state, bits)
    pos, alive, adult = table[:a, :2], table[:a, 3] > 0, table[:a, 4] > 0
    # one occupancy grid per world (terrain bits + entity counts, padded with wall by the view radius),
    # built by a scatter-add of the entity codes; each view is then a gather of V x V cells
    m = n + 2 * r
    grid = jnp.pad(
        jnp.where(state.terrain == C.WALL, 1 << bits["wall"][0], jnp.where(state.terrain == C.HAZARD, 1 << bits["hazard"][0], 0)),
        r, constant_values=1 << bits["wall"][0],
    ).astype(jnp.int32).ravel()
    grid = grid.at[(table[:, 0] + r) * m + table[:, 1] + r].add(table[:, 2], mode="drop")
    # one V x V window per agent (one gather index per window, not one per cell: ~1.1x on a whole
    # batched tick, benchmarks/README.md)
    grid = grid.reshape(m, m)
    code = jax.vmap(lambda p: jax.lax.dynamic_slice(grid, (p[0], p[1]), (v, v)))(pos)  # [A, V, V]
    count = lambda name: (code >> bits[name][0]) & ((1 << bits[name][1]) - 1)

    child, parent = jnp.maximum(child_of, 0), jnp.maximum(parent_of, 0)
    adoptee, adopt_seen = _adoptee(params, child_of, parent_of)
    adopt_look = adopt_seen & alive[adoptee] & params.label_own_baby
    own_n = _mark(pos, pos[child], (child_of >= 0) & alive[child] & params.label_own_baby, v).astype(jnp.int32)
    own_n = own_n + _mark(pos, pos[adoptee], adopt_look, v)
    own = own_n > 0
    par = _mark(pos, pos[parent], (parent_of >= 0) & alive[parent] & adult[parent], v)
    centre = jnp.zeros((v, v), bool).at[r, r].set(True)[None]
    me_baby = centre & (alive & ~adult)[:, None, None]
    me_adult = centre & (alive & adult)[:, None, None]
    other_baby = (count("baby") - own_n - me_baby) > 0
    other_adult = (count("adult") - par - me_adult) > 0
    channels = [
        count("wall") > 0, count("food") > 0, count("hazard") > 0, count("pred") > 0, own, other_baby, par,
        other_adult, count("carried") > 0,
    ]
    # one bit per channel in a per-cell word, then one broadcast expands it to bytes: XLA:CPU writes the
    # [.., C] array in a single loop (stacking C planes on the minor axis is a strided, slow concatenate)
    # stored once (fusion.barrier): otherwise each of a cell's channel bytes recomputes the whole word
    word = barrier(sum(c.astype(jnp.int32) << i for i, c in enumerate(channels)))
    shifts = jnp.arange(len(channels), dtype=jnp.int32).reshape((1,) * word.ndim + (-1,))
    view = ((word[..., None] >> shifts) & 1).astype(jnp.uint8)

    # the cry: her own child's (labelled, or she knows its voice), else the nearest crying baby's, with its direction
    others = ~jnp.eye(ag.alive.shape[0], dtype=bool)
    dist = jnp.abs(ag.pos[:, None, :] - ag.pos[None, :, :]).sum(-1)
    crying = ag.cry[None, :] & others
    nearest = jnp.argmin(jnp.where(crying, dist, 10**6), axis=1)
    own_cry = (child_of >= 0) & ag.cry[child]
    # an adopted baby that sounds like hers (twins): she hears whichever of the two crying is nearer
    twin_cry = adopt_seen & (params.adopted_label == 2) & ag.cry[adoptee]
    idx = jnp.arange(ag.alive.shape[0])
    twin_nearer = twin_cry & (~own_cry | (dist[idx, adoptee] < dist[idx, child]))
    labelled_src = jnp.where(twin_nearer, adoptee, child)
    knows_voice = params.label_own_baby | params.know_own_cry
    own_heard = own_cry | twin_cry
    # hear_other_cries: a voice she knows does not deafen her to other babies; while hers is quiet she hears
    # the nearest crying one, at half the level that says "mine" (a fostered baby's cry still reaches her)
    listen_out = params.hear_other_cries & ~own_heard
    src = jnp.where(knows_voice & ~listen_out, labelled_src, nearest)
    heard = jnp.where(knows_voice, own_heard | (listen_out & crying.any(axis=1)), crying.any(axis=1))
    level = heard * jnp.where(knows_voice & listen_out, 0.5, 1.0)
    direction = jnp.sign(ag.pos[src] - ag.pos) * (heard & params.cry_direction)[:, None]
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
            level.astype(jnp.float32),
            direction[:, 0].astype(jnp.float32),
            direction[:, 1].astype(jnp.float32),
            jnp.broadcast_to(jnp.minimum(state.t / params.max_steps, 1.0), ag.energy.shape),
        ],
        axis=-1,
    ).astype(jnp.float32)
    return Obs(view=view, body=body)
