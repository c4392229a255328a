"""Scripted mothers: the baselines every trained mother is compared with.

- `idle`: stands still (a mother who is there but does nothing).
- `random`: uniform random actions.
- `selfish`: a forager who keeps herself fed and safe and ignores the baby.
- `carer`: the upper reference; reads privileged state (the baby's true energy, every position) to
  feed, guard, fetch food and scare predators.
- `holder` and `free_range`: the carer made to confine (carry her baby always) or never to carry: the
  Goodhart detector's calibration (tests/test_goodhart_calibration.py), not baselines.
A policy is `(key, obs, state, params) -> actions [A]`; baby slots are overridden by the baby brain.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import constants as C
from caredrive.env.body import birth_host
from caredrive.env.grid import NEIGHBOURS, at, chebyshev
from caredrive.env.nursery import Nursery
from caredrive.env.state import EnvState

Policy = Callable[[jax.Array, object, EnvState, object], jax.Array]
_FAR = 10**4


def distance_field(terrain: jax.Array, sources: jax.Array) -> jax.Array:
    """Shortest walking distance [H, W] from every cell to the nearest source, around walls and hazards."""
    n = terrain.shape[0]
    blocked = terrain != C.EMPTY
    d0 = jnp.where(sources, 0, _FAR)

    def relax(_, d):
        p = jnp.pad(d, 1, constant_values=_FAR)
        best = jnp.minimum(jnp.minimum(p[:-2, 1:-1], p[2:, 1:-1]), jnp.minimum(p[1:-1, :-2], p[1:-1, 2:])) + 1
        return jnp.where(blocked & ~sources, _FAR, jnp.minimum(d, best))

    return jax.lax.fori_loop(0, 2 * n, relax, d0)


def step_down(field: jax.Array, pos: jax.Array) -> jax.Array:
    """The move action [N] that goes downhill on a distance field (STAY at a minimum)."""
    cells = pos[:, None, :] + NEIGHBOURS[None]  # [N, 4, 2]
    vals = at(field, jnp.clip(cells, 0, field.shape[0] - 1))
    here = at(field, pos)
    best = jnp.argmin(vals, axis=1)
    return jnp.where(vals.min(1) < here, best + 1, C.STAY).astype(jnp.int32)  # NEIGHBOURS order = UP..LEFT


def _cells_mask(n: int, pos: jax.Array, mask: jax.Array) -> jax.Array:
    rows = jnp.arange(n)
    in_row = (pos[:, 0, None] == rows[None, :]) & mask[:, None]  # [N, n]
    in_col = pos[:, 1, None] == rows[None, :]
    return (in_row[:, :, None] & in_col[:, None, :]).any(0)


def idle(env: Nursery) -> Policy:
    return lambda key, obs, state, params: jnp.zeros((env.num_agents,), jnp.int32)


def random(env: Nursery) -> Policy:
    return lambda key, obs, state, params: jax.random.randint(key, (env.num_agents,), 0, C.NUM_ACTIONS)


def _forage(state: EnvState, params) -> tuple[jax.Array, jax.Array]:
    """Per agent: (move toward the nearest food, predator next to me?) — shared by selfish and carer."""
    n = state.terrain.shape[0]
    food = distance_field(state.terrain, _cells_mask(n, state.food.pos, state.food.on_ground))
    to_food = step_down(food, state.agents.pos)
    pr = state.predators
    near = ((chebyshev(state.agents.pos, pr.pos) <= 1) & (pr.active & (pr.scared <= 0))[None]).any(1)
    return to_food, near


def selfish(env: Nursery) -> Policy:
    def act(key, obs, state, params):
        to_food, threatened = _forage(state, params)
        hungry = state.agents.energy < 0.9
        return jnp.where(threatened, C.SCARE, jnp.where(hungry, to_food, C.STAY)).astype(jnp.int32)

    return act


def _ward(ag, params, parent_of: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per agent: the living baby she looks after (her child; in battery adoption worlds also the baby
    born beside her unless it is a decoy), the hungriest first; and whether she has one."""
    host, adopted = birth_host(params, parent_of)
    a = parent_of.shape[0]
    mine = (parent_of >= 0) & ag.alive & (~adopted | (params.adopted_label != 1))
    cand = (host[None, :] == jnp.arange(a)[:, None]) & mine[None, :]  # [carer, baby]
    ward = jnp.argmin(jnp.where(cand, ag.energy[None, :], jnp.inf), axis=1)
    return ward, cand.any(axis=1)


def carer(env: Nursery) -> Policy:
    parent_of = jnp.asarray(env.parent_of)
    parents = np.nonzero(env.child_of >= 0)[0]

    def act(key, obs, state, params):
        ag, pr = state.agents, state.predators
        n = state.terrain.shape[0]
        c, has_child = _ward(ag, params, parent_of)
        to_food, threatened = _forage(state, params)
        child_pos = ag.pos[c]
        gap = jnp.abs(child_pos - ag.pos).sum(-1)
        # walk to the child: a field per agent toward its own child's cell
        # a field only for slots that can have a baby (the last generation never does): fewer fields per tick
        fields = jax.vmap(lambda p: distance_field(state.terrain, _cells_mask(n, p[None], jnp.ones((1,), bool))))(
            child_pos[parents])
        walk = jax.vmap(lambda f, p: step_down(f, p[None])[0])(fields, ag.pos[parents])
        to_child = jnp.full((env.num_agents,), C.STAY, jnp.int32).at[parents].set(walk)
        danger = pr.active & (pr.scared <= 0)
        pred_near_child = ((chebyshev(child_pos, pr.pos) <= 3) & danger[None]).any(1)
        pred_in_scare = ((chebyshev(ag.pos, pr.pos) <= params.scare_radius) & danger[None]).any(1)
        child_hungry = ag.energy[c] < 0.6
        holding = ag.holding >= 0
        can_feed = gap <= 1
        hungry = ag.energy < 0.4
        food_close = ((jnp.abs(state.food.pos[None] - ag.pos[:, None]).sum(-1) <= 1) & state.food.on_ground[None]).any(1)
        carrying = ag.carrying >= 0
        action = jnp.select(
            [
                ~has_child,
                (pred_near_child | threatened) & pred_in_scare,
                can_feed & child_hungry & (holding | (ag.energy > 0.3)),
                # hungry: take the baby along to the food rather than leave it alone
                hungry & ~carrying & (gap <= 1),
                hungry & (carrying | (ag.energy < 0.2)),
                hungry,
                carrying,
                ~holding & child_hungry & food_close & (gap <= 3),
                gap > 1,
            ],
            [
                jnp.where(threatened, C.SCARE, jnp.where(ag.energy < 0.9, to_food, C.STAY)),
                jnp.full_like(to_food, C.SCARE),
                jnp.full_like(to_food, C.FEED),
                jnp.full_like(to_food, C.PICK_UP),
                to_food,
                to_child,  # fetch the baby first, then carry it to the food
                jnp.full_like(to_food, C.PUT_DOWN),
                jnp.full_like(to_food, C.PICK_UP),
                to_child,
            ],
            C.STAY,
        )
        return action.astype(jnp.int32)

    return act


def _adjacent_baby(state: EnvState) -> jax.Array:
    """Per agent: a living, uncarried baby within one step (what PICK_UP would take before any food)."""
    ag = state.agents
    free = ag.alive & (ag.role == C.BABY) & (ag.carried_by < 0)
    near = jnp.abs(ag.pos[:, None] - ag.pos[None]).sum(-1) <= 1
    return (near & free[None] & ~jnp.eye(free.shape[0], dtype=bool)).any(1)


def holder(env: Nursery) -> Policy:
    """A confining mother for the Goodhart detector's calibration: the scripted carer who picks her baby up
    as soon as she can and never puts it down (she nurses it while carrying it): "cryosleep"."""
    base = carer(env)
    child = jnp.asarray(env.child_of)

    def act(key, obs, state, params):
        ag = state.agents
        a = base(key, obs, state, params)
        has = child >= 0
        c = jnp.maximum(child, 0)
        carrying_child = has & (ag.carrying == c) & (ag.carrying >= 0)
        near_child = has & ag.alive[c] & (jnp.abs(ag.pos[c] - ag.pos).sum(-1) <= 1) & (ag.carrying < 0) & (ag.holding < 0)
        hungry_child = ag.energy[c] < 0.6
        keep = jnp.where(hungry_child, C.FEED, jnp.where(a == C.PUT_DOWN, C.STAY, a))
        a = jnp.where(carrying_child, jnp.where(a == C.PICK_UP, C.STAY, keep), a)
        return jnp.where(near_child & params.carry_babies, C.PICK_UP, a).astype(jnp.int32)

    return act


def free_range(env: Nursery) -> Policy:
    """A free-range mother for the calibration: the scripted carer who never picks a baby up (where a baby
    is within reach, she walks to food instead of picking anything up)."""
    base = carer(env)

    def act(key, obs, state, params):
        a = base(key, obs, state, params)
        to_food, _ = _forage(state, params)
        a = jnp.where((a == C.PICK_UP) & _adjacent_baby(state), to_food, a)
        return jnp.where(state.agents.carrying >= 0, C.PUT_DOWN, a).astype(jnp.int32)

    return act


POLICIES: dict[str, Callable[[Nursery], Policy]] = {"idle": idle, "random": random, "selfish": selfish, "carer": carer,
                                                    "holder": holder, "free_range": free_range}
