"""Bodies and life cycle: hazards, metabolism, death, growth, cries, births and food regrowth.

Energy drains every tick; at zero energy health drains; at zero health the agent dies and stays dead.
A baby is fragile (low max health), cannot feed itself before `self_feed_age`, and grows into an adult
at `adult_age`. It cries (a binary cue) when hungry or hurt: the mother senses the cry, never the energy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from caredrive.env import constants as C
from caredrive.env.grid import at, free_neighbour
from caredrive.env.layout import arena
from caredrive.env.state import EnvState


def growth(age: jax.Array, params) -> jax.Array:
    return jnp.minimum(age / params.adult_age, 1.0)


def max_health(role: jax.Array, age: jax.Array, params) -> jax.Array:
    baby = params.baby_health0 + (1.0 - params.baby_health0) * growth(age, params)
    return jnp.where(role == C.BABY, baby, 1.0)


def hazards(state: EnvState, params) -> tuple[EnvState, jax.Array]:
    """A free baby on a hazard dies; an adult there is hurt. Returns the agents harmed."""
    ag = state.agents
    on = (at(state.terrain, ag.pos) == C.HAZARD) & ag.alive & (ag.carried_by < 0)
    baby = ag.role == C.BABY
    dmg = jnp.where(on, jnp.where(baby, ag.health, params.hazard_damage_adult), 0.0)
    agents = ag.replace(health=ag.health - dmg, hurt=jnp.where(on, 0, ag.hurt))
    return state.replace(agents=agents, log=state.log.replace(damage=state.log.damage + dmg)), on


def metabolism(state: EnvState, params) -> EnvState:
    ag = state.agents
    drain = jnp.where(ag.role == C.BABY, params.baby_drain, params.adult_drain)
    drain = drain + params.carry_cost * (ag.carrying >= 0)
    energy = jnp.where(ag.alive, ag.energy - drain, ag.energy)
    starving = energy <= 0.0
    top = max_health(ag.role, ag.age, params)
    health = ag.health - jnp.where(ag.alive & starving, params.starve_damage, 0.0)
    # a body at zero health is dying this tick (a hazard, a bite): regeneration must not revive it
    health = jnp.where(ag.alive & (energy > 0.5) & (health > 1e-6), jnp.minimum(health + params.regen, top), health)
    return state.replace(agents=ag.replace(energy=jnp.clip(energy, 0.0, 1.0), health=jnp.minimum(health, top)))


def deaths(state: EnvState, u: jax.Array, params, bitten: jax.Array, burnt: jax.Array) -> EnvState:
    """Agents at zero health die. A dead baby is dropped; a lost baby may be replaced (rebirth).
    `u` is [A] uniforms for the rebirth draw."""
    ag, log = state.agents, state.log
    dies = ag.alive & (ag.health <= 1e-6)
    cause = jnp.where(burnt, C.HAZARD_DEATH, jnp.where(bitten, C.PREDATOR_DEATH, C.STARVED))
    log = log.replace(
        death_tick=jnp.where(dies, state.t, log.death_tick), death_cause=jnp.where(dies, cause, log.death_cause)
    )
    # rebirth: decided once, at the death
    replace = (u < params.rebirth_prob) & (ag.births < params.births_per_life)
    next_birth = jnp.where(dies, jnp.where(replace, state.t + params.rebirth_delay, C.NEVER), ag.next_birth)
    state = state.replace(
        agents=ag.replace(alive=ag.alive & ~dies, health=jnp.maximum(ag.health, 0.0), next_birth=next_birth, cry=ag.cry & ~dies),
        log=log,
    )
    return release(state, dies)


def release(state: EnvState, gone: jax.Array) -> EnvState:
    """Agents in `gone` (dying, or leaving the world) let go of everything: a baby they carried is put
    down (off a hazard if it can be), whoever carried them lets go, and food they held is lost."""
    ag, food = state.agents, state.food
    dropped = (ag.carried_by >= 0) & gone[jnp.maximum(ag.carried_by, 0)] & ~gone
    cell, found = free_neighbour(state.terrain, ag.pos, avoid_hazard=True)
    onto_hazard = dropped & (at(state.terrain, ag.pos) == C.HAZARD) & found
    agents = ag.replace(
        pos=jnp.where(onto_hazard[:, None], cell, ag.pos),
        carried_by=jnp.where(gone | dropped, -1, ag.carried_by),
        carrying=jnp.where(gone | ((ag.carrying >= 0) & gone[jnp.maximum(ag.carrying, 0)]), -1, ag.carrying),
        holding=jnp.where(gone, -1, ag.holding),
    )
    lost = (food.held_by >= 0) & gone[jnp.maximum(food.held_by, 0)]
    return state.replace(agents=agents, food=food.replace(held_by=jnp.where(lost, -1, food.held_by)))


def age_and_cry(state: EnvState, params, child_of: jax.Array) -> EnvState:
    """Ageing, growing up (a grown baby becomes an adult and, in a chain, is due to give birth), cries."""
    ag = state.agents
    n = ag.alive.shape[0]
    age = ag.age + ag.alive
    grown = ag.alive & (ag.role == C.BABY) & (age >= params.adult_age)
    role = jnp.where(grown, C.ADULT, ag.role)
    has_child = child_of >= 0
    due = grown & params.chain & has_child
    next_birth = ag.next_birth.at[jnp.where(due, child_of, n)].set(state.t + params.chain_birth_delay, mode="drop")
    hurt = jnp.minimum(ag.hurt + 1, 1000)
    top = max_health(role, age, params)
    cry = ag.alive & (role == C.BABY) & (
        (ag.energy < params.cry_hunger) | (ag.health < params.cry_hurt * top) | (hurt <= 2) | (age <= params.birth_cry)
    )
    log = state.log.replace(cry_ticks=state.log.cry_ticks + cry, carried_ticks=state.log.carried_ticks + (ag.carried_by >= 0))
    return state.replace(agents=ag.replace(age=age, role=role, next_birth=next_birth, hurt=hurt, cry=cry), log=log)


def family_plan(due: jax.Array, params, f: int) -> tuple[jax.Array, jax.Array]:
    """Battery family modes at reset: (first birth tick per slot, founding mothers absent).

    In `solo` and `adopt` worlds the odd families' mothers are absent. `solo`: their babies are never
    born. `adopt`: each is born beside the even mother before it, at the tick her own is due (twins come
    together); with `adopt_only` her own baby is never born (a foster)."""
    idx = jnp.arange(due.shape[0])
    founder, first_gen = idx < f, (idx >= f) & (idx < 2 * f)
    fam = jnp.where(first_gen, idx - f, idx)
    odd = fam % 2 == 1
    away = (params.family_mode != C.FAMILY_ALL) & odd
    adopt = params.family_mode == C.FAMILY_ADOPT
    partner_due = jnp.roll(due, 1)
    out = jnp.where(first_gen & away, jnp.where(adopt, partner_due, C.NEVER), due)
    fosters = first_gen & adopt & params.adopt_only & ~odd & (fam + 1 < f)
    return jnp.where(fosters, C.NEVER, out).astype(jnp.int32), founder & away


def first_generation(parent_of: jax.Array) -> jax.Array:
    """Per slot: a founding mother's child (the babies battery family modes and cuckoo births move)."""
    return (parent_of >= 0) & (parent_of[jnp.maximum(parent_of, 0)] < 0)


def birth_host(params, parent_of: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(the agent each slot is born beside and cared for by, whether the slot is an adopted baby)."""
    parent = jnp.maximum(parent_of, 0)
    adopted = (params.family_mode == C.FAMILY_ADOPT) & first_generation(parent_of) & (parent % 2 == 1)
    return jnp.where(adopted, parent - 1, parent), adopted


def _farthest_free(terrain: jax.Array, pos: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per position [N, 2]: the empty cell farthest from it (Manhattan; first in row-major order on ties)."""
    n = terrain.shape[0]
    rows = jnp.arange(n)
    d = jnp.abs(rows[None, :, None] - pos[:, 0, None, None]) + jnp.abs(rows[None, None, :] - pos[:, 1, None, None])
    score = jnp.where((terrain == C.EMPTY)[None], d, -1).reshape(pos.shape[0], -1)
    k = jnp.argmax(score, axis=1)
    return jnp.stack([k // n, k % n], -1).astype(jnp.int32), score.max(axis=1) >= 0


def _cuckoo_host(ag, host: jax.Array, keep: jax.Array, parent_of: jax.Array) -> jax.Array:
    """`cuckoo`: a first-generation baby is born beside the other living mother of its family's pair
    (families 0-1, 2-3, ...; where there is one), not beside its own; `keep` slots stay with their host."""
    partner = jnp.minimum(host ^ 1, parent_of.shape[0] - 1)
    swap = first_generation(parent_of) & ~keep & (parent_of[partner] < 0) & ag.alive[partner] & (ag.role[partner] == C.ADULT)
    return jnp.where(swap, partner, host)


def births(state: EnvState, params, parent_of: jax.Array) -> EnvState:
    """A due baby is born on a free cell next to its living adult parent (delayed while none is free);
    in battery worlds beside its host (adoption) or far from her (`birth_far`); with `cuckoo` beside the
    other mother of its family's pair."""
    ag = state.agents
    has_parent = parent_of >= 0
    host, adopted = birth_host(params, parent_of)
    far = params.birth_far & ~adopted
    # a `cond` as for birth_far below: worlds without cuckoo births (all but a training knob's) skip it
    beside = jax.lax.cond(params.cuckoo, lambda: _cuckoo_host(ag, host, adopted | far, parent_of), lambda: host)
    cell, found = free_neighbour(state.terrain, ag.pos[beside], avoid_hazard=True)
    # only battery worlds born far need the farthest cell: a real `cond` skips this grid-sized argmax
    # (~15% of a batched tick) whenever params are shared by the batch (under a vmap over params it
    # becomes a select, still exact)
    far_cell, far_found = jax.lax.cond(
        params.birth_far,
        lambda: _farthest_free(state.terrain, ag.pos[host]),
        lambda: (jnp.zeros_like(ag.pos), jnp.zeros_like(ag.alive)),
    )
    cell, found = jnp.where(far[:, None], far_cell, cell), jnp.where(far, far_found, found)
    born = (
        has_parent & ~ag.alive & (state.t >= ag.next_birth) & ag.alive[host] & (ag.role[host] == C.ADULT)
        & (ag.births < params.births_per_life) & found
    )
    agents = ag.replace(
        pos=jnp.where(born[:, None], cell, ag.pos),
        alive=ag.alive | born,
        role=jnp.where(born, C.BABY, ag.role),
        energy=jnp.where(born, params.baby_energy0, ag.energy),
        health=jnp.where(born, params.baby_health0, ag.health),
        age=jnp.where(born, 0, ag.age),
        hurt=jnp.where(born, 1000, ag.hurt),
        births=ag.births + born,
        next_birth=jnp.where(born, C.NEVER, ag.next_birth),
        carried_by=jnp.where(born, -1, ag.carried_by),
        carrying=jnp.where(born, -1, ag.carrying),
        holding=jnp.where(born, -1, ag.holding),
    )
    # the "no mother" baseline: the parent leaves the world at the birth
    leaves = (jnp.zeros_like(born).at[host].max(born & has_parent)) & params.mother_leaves
    agents = agents.replace(alive=agents.alive & ~leaves)
    log = state.log.replace(
        birth_tick=jnp.where(born, state.t, state.log.birth_tick),
        death_tick=jnp.where(born, -1, jnp.where(leaves, state.t, state.log.death_tick)),
        death_cause=jnp.where(born, C.ALIVE_CAUSE, jnp.where(leaves, C.LEFT, state.log.death_cause)),
    )
    return release(state.replace(agents=agents, log=log), leaves)


def regrow_food(state: EnvState, u: jax.Array, params) -> EnvState:
    """An eaten item regrows with chance `food_regrow` per tick, on a random empty cell (retrying later
    if the cell drawn is a wall or hazard). Items beyond `n_food` never appear. `u` is [F, 3] uniforms."""
    food = state.food
    nf = food.on_ground.shape[0]
    n = state.terrain.shape[0]
    off, size = arena(params, n)
    cand = off + 1 + jnp.floor(u[:, 1:3] * (size - 2)).astype(jnp.int32)
    ok = at(state.terrain, cand) == C.EMPTY
    regrow = (
        ~food.on_ground & (food.held_by < 0) & (jnp.arange(nf) < params.n_food) & ok
        & (u[:, 0] < params.food_regrow)
    )
    return state.replace(
        food=food.replace(pos=jnp.where(regrow[:, None], cand, food.pos), on_ground=food.on_ground | regrow)
    )
