"""What agents do in a tick: move, pick up, put down, feed, scare, eat. One function per mechanic.

Each is `state -> state` given the actions; the step in `nursery.py` chains them. Babies can only
move (and, once old enough, eat); the hands-on actions are an adult's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from caredrive.env import constants as C
from caredrive.env.grid import MOVES, at, chebyshev, claim, free_neighbour, manhattan
from caredrive.env.state import EnvState


def baby_food_items(n_items: int, params) -> jax.Array:
    """Bool [F]: the food items that are baby food (the last `baby_food` of the `n_food` in play)."""
    i = jnp.arange(n_items)
    return (i < params.n_food) & (i >= params.n_food - params.baby_food)


def baby_move_period(age: jax.Array, params) -> jax.Array:
    """A newborn moves every `baby_move_period` ticks; the period shrinks to 1 as it grows up."""
    growth = jnp.minimum(age / params.adult_age, 1.0)
    return jnp.maximum(1, jnp.round(params.baby_move_period * (1.0 - growth))).astype(jnp.int32)


def move(state: EnvState, actions: jax.Array, params) -> EnvState:
    ag = state.agents
    is_baby = ag.role == C.BABY
    may = ag.alive & (ag.carried_by < 0) & (~is_baby | (state.t % baby_move_period(ag.age, params) == 0))
    delta = jnp.asarray(MOVES)[actions] * may[:, None]
    target = ag.pos + delta
    kind = at(state.terrain, target)
    pos = jnp.where((kind == C.WALL)[:, None], ag.pos, target)
    # guard: an adult within one cell (diagonals too, after her own move) catches a baby about to
    # step into a hazard
    near_adult = ((chebyshev(ag.pos, pos) <= 1) & (ag.alive & ~is_baby)[None, :]).any(axis=1)
    held_back = params.guard & is_baby & (kind == C.HAZARD) & near_adult & (delta != 0).any(-1)
    pos = jnp.where(held_back[:, None], ag.pos, pos)
    pos = jnp.where((ag.carried_by >= 0)[:, None], pos[jnp.maximum(ag.carried_by, 0)], pos)
    log = state.log.replace(hazard_blocks=state.log.hazard_blocks + held_back)
    return state.replace(agents=ag.replace(pos=pos), log=log)


def _hands_free(ag, actions, action):
    """An adult, not herself carried (no nested carrying), with nothing in her hands."""
    return (
        ag.alive & (ag.role == C.ADULT) & (actions == action) & (ag.carrying < 0) & (ag.holding < 0)
        & (ag.carried_by < 0)
    )


def pick_up(state: EnvState, actions: jax.Array, child_of: jax.Array, params) -> EnvState:
    """Pick up an adjacent baby (her own first), or else adjacent food. Carrying is allowed on purpose:
    it is the "cryosleep" route that the evaluation must detect, so it is recorded, not forbidden
    (a world may still rule it out: `carry_babies=False`)."""
    ag, food = state.agents, state.food
    n = ag.alive.shape[0]
    wants = _hands_free(ag, actions, C.PICK_UP)
    reach = manhattan(ag.pos, ag.pos) <= 1
    free_baby = ag.alive & (ag.role == C.BABY) & (ag.carried_by < 0) & params.carry_babies
    cand = wants[:, None] & reach & free_baby[None, :] & ~jnp.eye(n, dtype=bool)
    own = child_of[:, None] == jnp.arange(n)[None, :]
    baby, got_baby = claim(cand, own.astype(jnp.int32))
    carrying = jnp.where(got_baby, baby, ag.carrying)
    carried_by = ag.carried_by.at[jnp.where(got_baby, baby, n)].set(jnp.arange(n), mode="drop")
    pos = jnp.where((carried_by >= 0)[:, None], ag.pos[jnp.maximum(carried_by, 0)], ag.pos)

    wants_food = wants & ~cand.any(axis=1)
    fcand = wants_food[:, None] & (manhattan(ag.pos, food.pos) <= 1) & food.on_ground[None, :]
    item, got_food = claim(fcand, jnp.zeros_like(fcand, jnp.int32))
    holding = jnp.where(got_food, item, ag.holding)
    nf = food.on_ground.shape[0]
    held_by = food.held_by.at[jnp.where(got_food, item, nf)].set(jnp.arange(n), mode="drop")
    on_ground = food.on_ground & (held_by < 0)

    log = state.log.replace(pickups=state.log.pickups + got_baby)
    return state.replace(
        agents=ag.replace(carrying=carrying, carried_by=carried_by, holding=holding, pos=pos),
        food=food.replace(held_by=held_by, on_ground=on_ground),
        log=log,
    )


def put_down(state: EnvState, actions: jax.Array) -> EnvState:
    """Put a carried baby on the first hazard-free neighbouring cell (or food on a walkable one)."""
    ag, food = state.agents, state.food
    n = ag.alive.shape[0]
    wants = ag.alive & (actions == C.PUT_DOWN)
    cell, found = free_neighbour(state.terrain, ag.pos, avoid_hazard=True)
    # never onto a hazard: with no hazard-free neighbour she keeps the baby unless she stands on safe ground
    drop_baby = wants & (ag.carrying >= 0) & (found | (at(state.terrain, ag.pos) != C.HAZARD))
    baby = jnp.where(drop_baby, ag.carrying, n)
    pos = ag.pos.at[baby].set(cell, mode="drop")
    carried_by = ag.carried_by.at[baby].set(-1, mode="drop")
    carrying = jnp.where(drop_baby, -1, ag.carrying)

    drop_food = wants & (ag.holding >= 0)
    fcell, _ = free_neighbour(state.terrain, ag.pos, avoid_hazard=False)
    nf = food.on_ground.shape[0]
    item = jnp.where(drop_food, ag.holding, nf)
    food = food.replace(
        pos=food.pos.at[item].set(fcell, mode="drop"),
        on_ground=food.on_ground.at[item].set(True, mode="drop"),
        held_by=food.held_by.at[item].set(-1, mode="drop"),
    )
    holding = jnp.where(drop_food, -1, ag.holding)
    return state.replace(agents=ag.replace(pos=pos, carried_by=carried_by, carrying=carrying, holding=holding), food=food)


def feed(state: EnvState, actions: jax.Array, params, child_of: jax.Array) -> EnvState:
    """Feed an adjacent (or carried) baby: held food if any, else nurse from her own energy.

    Nursing costs the mother what the baby gains (less losses): the evaluation reads it as what
    she gave up for the baby."""
    ag, food = state.agents, state.food
    n = ag.alive.shape[0]
    wants = ag.alive & (ag.role == C.ADULT) & (actions == C.FEED)
    cand = wants[:, None] & (manhattan(ag.pos, ag.pos) <= 1) & (ag.alive & (ag.role == C.BABY))[None, :]
    cand = cand & ~jnp.eye(n, dtype=bool)
    own = (child_of[:, None] == jnp.arange(n)[None, :]).astype(jnp.int32)
    target = jnp.argmax(jnp.where(cand, own, -1), axis=1)
    has = cand.any(axis=1)
    with_food = has & (ag.holding >= 0)
    nursed = jnp.where(has & ~with_food, jnp.minimum(params.nurse_amount, ag.energy), 0.0)
    # mirror worlds (baby_food > 0): only baby food nourishes a baby; her milk and her food do not
    mirror = params.baby_food > 0
    right_food = ~mirror | baby_food_items(food.on_ground.shape[0], params)[jnp.maximum(ag.holding, 0)]
    gain = jnp.where(with_food, params.food_energy * right_food, jnp.where(mirror, 0.0, nursed * params.nurse_efficiency))
    to = jax.nn.one_hot(jnp.where(has, target, n), n, dtype=jnp.float32)  # [A(feeder), A(baby)]
    energy = jnp.clip(ag.energy - nursed + gain @ to, 0.0, 1.0)
    nf = food.on_ground.shape[0]
    food = food.replace(held_by=food.held_by.at[jnp.where(with_food, ag.holding, nf)].set(-1, mode="drop"))
    holding = jnp.where(with_food, -1, ag.holding)
    log = state.log.replace(fed=state.log.fed + has, energy_given=state.log.energy_given + nursed)
    return state.replace(agents=ag.replace(energy=energy, holding=holding), food=food, log=log)


def scare(state: EnvState, actions: jax.Array, params) -> EnvState:
    """An adult's scare action sends every predator within `scare_radius` fleeing."""
    ag, pr = state.agents, state.predators
    acting = ag.alive & (ag.role == C.ADULT) & (actions == C.SCARE)
    hit = acting[:, None] & (chebyshev(ag.pos, pr.pos) <= params.scare_radius) & pr.active[None, :]
    scared = jnp.where(hit.any(axis=0), params.scare_duration, pr.scared)
    log = state.log.replace(scares=state.log.scares + hit.sum(axis=1))
    return state.replace(predators=pr.replace(scared=scared), log=log)


def eat(state: EnvState, params) -> EnvState:
    """Adults (and babies old enough) eat food on their cell; each item feeds one agent."""
    ag, food = state.agents, state.food
    can = ag.alive & (ag.carried_by < 0) & ((ag.role == C.ADULT) | (ag.age >= params.self_feed_age))
    # mirror worlds: adults never eat baby food, babies eat nothing else
    baby_item = baby_food_items(food.on_ground.shape[0], params)
    is_baby = ag.role == C.BABY
    edible = jnp.where(baby_item[None, :], is_baby[:, None], ~(is_baby[:, None] & (params.baby_food > 0)))
    same = (ag.pos[:, None, :] == food.pos[None, :, :]).all(-1) & food.on_ground[None, :] & can[:, None] & edible
    eaten_by = jnp.argmax(same, axis=0)  # [F] first eater
    eaten = same.any(axis=0)
    got = (jax.nn.one_hot(eaten_by, ag.alive.shape[0], dtype=jnp.int32) * eaten[:, None]).sum(0)  # [A]
    energy = jnp.clip(ag.energy + got * params.food_energy, 0.0, 1.0)
    log = state.log.replace(eaten=state.log.eaten + got)
    return state.replace(
        agents=ag.replace(energy=energy), food=food.replace(on_ground=food.on_ground & ~eaten), log=log
    )
