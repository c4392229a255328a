"""Golden tests of each mechanic of the Nursery world on tiny hand-built states.

Babies are driven by the caller (`baby_brain="external"`), and every mechanic not under test is switched
off (no predators, no regrowth, no drains), so each test pins one rule. Each world's step is jitted once
per module; hand-built states and params keep the dtypes of the real ones, so nothing recompiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import AutoReset, make
from caredrive.env import constants as C
from caredrive.env.reward import rewards
from conftest import build_state, params_like

ROOM = [
    "#######",
    "#.....#",
    "#.....#",
    "#.....#",
    "#.....#",
    "#.....#",
    "#######",
]


def _terrain(*cells, kind="~"):
    """ROOM with `kind` ('~' hazard, '#' wall) at the given (row, col) cells."""
    rows = [list(r) for r in ROOM]
    for y, x in cells:
        rows[y][x] = kind
    return ["".join(r) for r in rows]


QUIET = dict(
    n_predators=0, n_hazards=0, n_food=0, food_regrow=0.0, passive_scare=0.0, predator_speed=0.0,
    adult_drain=0.0, baby_drain=0.0, carry_cost=0.0, regen=0.0, baby_move_period=1, births_per_life=1,
    rebirth_prob=0.0,
)
# one mother (slot 0) and her baby (slot 1)
E1 = make("Nursery-7x7", baby_brain="external", **QUIET)
# two families: mothers 0, 1; babies 2 (of 0), 3 (of 1)
E2 = make("Nursery-7x7", n_families=2, baby_brain="external", **QUIET)
# a four-generation line: 0 -> 1 -> 2 -> 3
E4 = make("Nursery-7x7", generations=4, baby_brain="external", **QUIET)
STEP = {id(e): jax.jit(e.step) for e in (E1, E2, E4)}
CHILD_OF = {id(e): jnp.asarray(e.child_of) for e in (E1, E2, E4)}
_rewards = jax.jit(rewards)


def run(env, state, actions, params=None, key=0):
    """Step `env` once per row of `actions`; returns the list of (obs, state, reward, done, info)."""
    params = env.default_params if params is None else params
    out = []
    for t, row in enumerate(actions):
        res = STEP[id(env)](jax.random.key(key + t), state, jnp.asarray(row, jnp.int32), params)
        state = res[1]
        out.append(res)
    return out


def one(env, state, actions, params=None):
    return run(env, state, [actions], params)[0]


def pos(state, i):
    return tuple(int(v) for v in state.agents.pos[i])


# --------------------------------------------------------------------------------------------- moves


@pytest.mark.parametrize(
    "action,expected",
    [
        (C.STAY, (3, 3)), (C.UP, (2, 3)), (C.RIGHT, (3, 4)), (C.DOWN, (4, 3)), (C.LEFT, (3, 2)),
        (C.PICK_UP, (3, 3)), (C.PUT_DOWN, (3, 3)), (C.FEED, (3, 3)), (C.SCARE, (3, 3)),
    ],
)
def test_each_action_moves_the_mother_as_named(action, expected):
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))})
    _, s1, *_ = one(E1, s, [action, C.STAY])
    assert pos(s1, 0) == expected
    assert pos(s1, 1) == (1, 1)


@pytest.mark.parametrize("action", [C.UP, C.LEFT])
def test_border_wall_blocks_a_move(action):
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(5, 5))})
    _, s1, *_ = one(E1, s, [action, C.STAY])
    assert pos(s1, 0) == (1, 1)


def test_inner_wall_blocks_mother_and_baby():
    rows = _terrain((3, 4), (2, 1), kind="#")
    s = build_state(E1, rows, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))})
    _, s1, *_ = one(E1, s, [C.RIGHT, C.DOWN])
    assert pos(s1, 0) == (3, 3) and pos(s1, 1) == (1, 1)
    _, s2, *_ = one(E1, s, [C.UP, C.RIGHT])  # free cells: both move
    assert pos(s2, 0) == (2, 3) and pos(s2, 1) == (1, 2)


def test_newborn_moves_only_every_kth_tick_and_adult_every_tick():
    p = params_like(E1, **{"baby_move_period": 3, "adult_age": 400})
    s = build_state(E1, ROOM, {0: dict(pos=(5, 1)), 1: dict(pos=(1, 1), age=0)})
    cols_baby, cols_mother = [], []
    for _, st, *_ in run(E1, s, [[C.RIGHT, C.RIGHT]] * 4 + [[C.STAY, C.RIGHT]] * 2, p):
        cols_baby.append(pos(st, 1)[1])
        cols_mother.append(pos(st, 0)[1])
    # ticks 1..6: the baby moves on ticks 3 and 6 only
    assert cols_baby == [1, 1, 2, 2, 2, 3]
    assert cols_mother == [2, 3, 4, 5, 5, 5]


def test_grown_baby_moves_every_tick():
    p = params_like(E1, baby_move_period=3, adult_age=50)
    s = build_state(E1, ROOM, {0: dict(pos=(5, 5)), 1: dict(pos=(1, 1), age=49)})
    cols = [pos(st, 1)[1] for _, st, *_ in run(E1, s, [[C.STAY, C.RIGHT]] * 3, p)]
    assert cols == [2, 3, 4]


# --------------------------------------------------------------------------------- pick up / put down


def test_pick_up_baby_then_she_moves_with_the_mother():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4))})
    steps = run(E1, s, [[C.PICK_UP, C.STAY], [C.DOWN, C.RIGHT], [C.LEFT, C.UP]])
    s1 = steps[0][1]
    assert int(s1.agents.carrying[0]) == 1 and int(s1.agents.carried_by[1]) == 0
    assert pos(s1, 1) == pos(s1, 0) == (3, 3)
    assert int(s1.log.pickups[0]) == 1
    s2, s3 = steps[1][1], steps[2][1]
    assert pos(s2, 0) == pos(s2, 1) == (4, 3)  # her own RIGHT is ignored: she is carried
    assert pos(s3, 0) == pos(s3, 1) == (4, 2)
    assert int(s3.log.carried_ticks[1]) == 3


def test_pick_up_prefers_her_own_baby():
    # mother 0 has her own baby (2) to the right and the other family's baby (3) above (first in order)
    s = build_state(E2, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 5)), 2: dict(pos=(3, 4)), 3: dict(pos=(2, 3))})
    _, s1, *_ = one(E2, s, [C.PICK_UP, C.STAY, C.STAY, C.STAY])
    assert int(s1.agents.carrying[0]) == 2
    assert int(s1.agents.carried_by[3]) == -1


def test_two_mothers_reaching_for_one_baby_only_one_gets_it():
    s = build_state(E2, ROOM, {0: dict(pos=(3, 2)), 1: dict(pos=(3, 4)), 2: dict(pos=(1, 1)), 3: dict(pos=(3, 3))})
    _, s1, *_ = one(E2, s, [C.PICK_UP, C.PICK_UP, C.STAY, C.STAY])
    carriers = [i for i in (0, 1) if int(s1.agents.carrying[i]) == 3]
    assert len(carriers) == 1 and int(s1.agents.carried_by[3]) == carriers[0]
    # and a carried baby cannot be taken from her carrier
    _, s2, *_ = one(E2, s1, [C.PICK_UP, C.PICK_UP, C.STAY, C.STAY])
    assert int(s2.agents.carried_by[3]) == carriers[0]


def test_pick_up_food_when_no_baby_is_in_reach():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.PICK_UP, C.STAY])
    assert int(s1.agents.holding[0]) == 0
    assert int(s1.food.held_by[0]) == 0 and not bool(s1.food.on_ground[0])
    assert float(s1.agents.energy[0]) == pytest.approx(0.8)  # held, not eaten


def test_pick_up_takes_the_baby_before_the_food():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(2, 3))}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.PICK_UP, C.STAY])
    assert int(s1.agents.carrying[0]) == 1 and int(s1.agents.holding[0]) == -1
    assert bool(s1.food.on_ground[0])


def test_no_carry_world_a_baby_cannot_be_picked_up_but_food_can():
    p = params_like(E1, carry_babies=False)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(2, 3))}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.PICK_UP, C.STAY], p)
    assert int(s1.agents.carrying[0]) == -1 and int(s1.agents.carried_by[1]) == -1
    assert int(s1.agents.holding[0]) == 0  # her hands went to the food instead
    assert int(s1.log.pickups[0]) == 0


def test_put_down_baby_on_the_first_free_non_hazard_neighbour():
    # up (the first neighbour) is a hazard: the baby goes right
    s = build_state(E1, _terrain((2, 3)), {0: dict(pos=(3, 3), carrying=1), 1: dict(pos=(3, 3), carried_by=0)})
    _, s1, *_ = one(E1, s, [C.PUT_DOWN, C.STAY])
    assert pos(s1, 1) == (3, 4) and pos(s1, 0) == (3, 3)
    assert int(s1.agents.carrying[0]) == -1 and int(s1.agents.carried_by[1]) == -1
    assert bool(s1.agents.alive[1])
    # and then she moves on her own again
    _, s2, *_ = one(E1, s1, [C.STAY, C.DOWN])
    assert pos(s2, 1) == (4, 4)


def test_put_down_never_drops_the_baby_onto_a_hazard():
    """A mother standing on a hazard with no hazard-free neighbour must keep her baby (or at least not
    drop it where it burns). (The bug this pins, now fixed: the baby was dropped on her own cell, i.e. on
    the hazard.)"""
    rows = _terrain((2, 3), (3, 2), (3, 3), (3, 4), (4, 3))
    s = build_state(E1, rows, {0: dict(pos=(3, 3), carrying=1), 1: dict(pos=(3, 3), carried_by=0, energy=0.4)})
    _, s1, *_ = one(E1, s, [C.PUT_DOWN, C.STAY])
    carried = int(s1.agents.carried_by[1]) == 0
    on_hazard = s1.terrain[pos(s1, 1)] == C.HAZARD
    assert carried or not on_hazard, "the baby was put down on a hazard"
    assert bool(s1.agents.alive[1])


def test_put_down_food_on_the_first_walkable_neighbour():
    rows = _terrain((2, 3), kind="#")
    s = build_state(E1, rows, {0: dict(pos=(3, 3), holding=0), 1: dict(pos=(1, 1))}, food=[{"pos": (5, 5), "held_by": 0}])
    _, s1, *_ = one(E1, s, [C.PUT_DOWN, C.STAY])
    assert int(s1.agents.holding[0]) == -1 and int(s1.food.held_by[0]) == -1
    assert bool(s1.food.on_ground[0]) and tuple(int(v) for v in s1.food.pos[0]) == (3, 4)


# ---------------------------------------------------------------------------------------------- feed


def test_feed_with_held_food():
    s = build_state(
        E1, ROOM, {0: dict(pos=(3, 3), holding=0, energy=0.8), 1: dict(pos=(3, 4), energy=0.2)},
        food=[{"pos": (1, 1), "held_by": 0}],
    )
    _, s1, *_ = one(E1, s, [C.FEED, C.STAY])
    p = E1.default_params
    assert float(s1.agents.energy[1]) == pytest.approx(0.2 + float(p.food_energy))
    assert float(s1.agents.energy[0]) == pytest.approx(0.8)  # she gives the food, not herself
    assert int(s1.agents.holding[0]) == -1 and int(s1.food.held_by[0]) == -1 and not bool(s1.food.on_ground[0])
    assert int(s1.log.fed[0]) == 1 and float(s1.log.energy_given[0]) == 0.0


@pytest.mark.parametrize("mother_energy,given", [(0.8, 0.1), (0.05, 0.05)])
def test_nursing_costs_the_mother_what_the_baby_gains_less_losses(mother_energy, given):
    p = params_like(E1, nurse_amount=0.1, nurse_efficiency=0.8)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=mother_energy), 1: dict(pos=(4, 3), energy=0.2)})
    _, s1, *_ = one(E1, s, [C.FEED, C.STAY], p)
    assert float(s1.agents.energy[0]) == pytest.approx(mother_energy - given, abs=1e-6)
    assert float(s1.agents.energy[1]) == pytest.approx(0.2 + 0.8 * given, abs=1e-6)
    assert float(s1.log.energy_given[0]) == pytest.approx(given, abs=1e-6)
    assert int(s1.log.fed[0]) == 1


def test_feed_reaches_a_carried_baby_but_not_a_distant_one():
    carried = build_state(E1, ROOM, {0: dict(pos=(3, 3), carrying=1), 1: dict(pos=(3, 3), carried_by=0, energy=0.2)})
    _, s1, *_ = one(E1, carried, [C.FEED, C.STAY])
    assert float(s1.agents.energy[1]) > 0.2
    far = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 5), energy=0.2)})
    _, s2, *_ = one(E1, far, [C.FEED, C.STAY])
    assert float(s2.agents.energy[1]) == pytest.approx(0.2) and float(s2.agents.energy[0]) == pytest.approx(0.8)
    assert int(s2.log.fed[0]) == 0


def test_a_baby_cannot_feed_or_pick_up():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.2), 1: dict(pos=(3, 4), energy=0.9)}, food=[(2, 4)])
    _, s1, *_ = one(E1, s, [C.STAY, C.FEED])
    assert float(s1.agents.energy[0]) == pytest.approx(0.2) and float(s1.agents.energy[1]) == pytest.approx(0.9)
    _, s2, *_ = one(E1, s, [C.STAY, C.PICK_UP])
    assert int(s2.agents.holding[1]) == -1 and int(s2.agents.carrying[1]) == -1 and bool(s2.food.on_ground[0])


# --------------------------------------------------------------------------------------- predators


def test_scare_sends_a_predator_fleeing():
    # the baby is out of the predator's reach: the mother is its only prey
    p = params_like(E1, predator_speed=1.0, passive_scare=0.0, scare_radius=2, scare_duration=12, predator_radius=2)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(5, 1))}, predators=[(2, 4)])
    _, s1, *_ = one(E1, s, [C.SCARE, C.STAY], p)
    d_before = 2
    d_after = int(np.abs(np.asarray(s1.predators.pos[0]) - np.asarray(s1.agents.pos[0])).sum())
    assert d_after > d_before
    assert int(s1.predators.scared[0]) == 11
    assert int(s1.log.scares[0]) == 1
    assert float(s1.log.damage.sum()) == 0.0
    # without the scare the same predator closes in and bites the mother (the only prey in reach)
    _, s2, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert int(np.abs(np.asarray(s2.predators.pos[0]) - np.asarray(s2.agents.pos[0])).sum()) <= 1
    assert float(s2.log.damage[0]) == pytest.approx(float(p.predator_damage_adult))


def test_scare_out_of_radius_does_nothing():
    p = params_like(E1, scare_radius=1)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(5, 1))}, predators=[(1, 5)])
    _, s1, *_ = one(E1, s, [C.SCARE, C.STAY], p)
    assert int(s1.predators.scared[0]) == 0 and int(s1.log.scares[0]) == 0


def test_predator_bites_the_weakest_agent_in_reach():
    # predator next to both the mother (health 1) and the baby (health 0.4): the baby is bitten
    s = build_state(E1, ROOM, {0: dict(pos=(2, 3)), 1: dict(pos=(3, 4), energy=0.4)}, predators=[(2, 4)])
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY])
    p = E1.default_params
    assert float(s1.log.damage[1]) == pytest.approx(float(p.predator_damage_baby))
    assert float(s1.log.damage[0]) == 0.0
    assert float(s1.agents.health[1]) == pytest.approx(0.4 - float(p.predator_damage_baby))
    assert bool(s1.agents.cry[1])  # a hurt baby cries


def test_a_carried_baby_cannot_be_bitten():
    s = build_state(
        E1, ROOM, {0: dict(pos=(3, 3), carrying=1), 1: dict(pos=(3, 3), carried_by=0, energy=0.4)}, predators=[(3, 4)]
    )
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY])
    p = E1.default_params
    assert float(s1.log.damage[1]) == 0.0
    assert float(s1.log.damage[0]) == pytest.approx(float(p.predator_damage_adult))


def test_predator_bite_kills_with_cause_predator():
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 4), health=0.2, energy=0.4)}, predators=[(3, 5)])
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY])
    assert not bool(s1.agents.alive[1])
    assert int(s1.log.death_cause[1]) == C.PREDATOR_DEATH and int(s1.log.death_tick[1]) == 1


def test_an_adult_next_to_a_predator_scares_it_passively():
    p = params_like(E1, passive_scare=1.0, scare_duration=5)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 5), energy=0.4)}, predators=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert int(s1.predators.scared[0]) == 4 and int(s1.log.scares[0]) == 1
    assert float(s1.log.damage.sum()) == 0.0


# ---------------------------------------------------------------------------------------------- eat


def test_adult_eats_on_stepping_onto_food():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.5), 1: dict(pos=(1, 1))}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.RIGHT, C.STAY])
    assert float(s1.agents.energy[0]) == pytest.approx(0.5 + float(E1.default_params.food_energy))
    assert not bool(s1.food.on_ground[0]) and int(s1.log.eaten[0]) == 1


def test_energy_is_capped_at_one():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.9), 1: dict(pos=(1, 1))}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.RIGHT, C.STAY])
    assert float(s1.agents.energy[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("age,eats", [(0, False), (9, False), (10, True), (30, True)])
def test_a_baby_eats_only_from_self_feed_age(age, eats):
    p = params_like(E1, self_feed_age=10, adult_age=400)
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), energy=0.2, age=age)}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.STAY, C.RIGHT], p)
    assert pos(s1, 1) == (3, 4)
    assert bool(s1.food.on_ground[0]) != eats
    expected = 0.2 + float(p.food_energy) if eats else 0.2
    assert float(s1.agents.energy[1]) == pytest.approx(expected)


# ------------------------------------------------------------------------------------ guard, hazards


def test_guard_holds_a_baby_next_to_an_adult_back_from_a_hazard():
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=(3, 2)), 1: dict(pos=(3, 3), energy=0.4)})
    _, s1, *_ = one(E1, s, [C.STAY, C.RIGHT])
    assert pos(s1, 1) == (3, 3) and bool(s1.agents.alive[1])
    assert int(s1.log.hazard_blocks[1]) == 1


@pytest.mark.parametrize("mother_at,guard", [((1, 1), True), ((3, 2), False)])
def test_baby_walks_into_a_hazard_and_dies_when_not_guarded(mother_at, guard):
    p = params_like(E1, guard=guard)
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=mother_at), 1: dict(pos=(3, 3), energy=0.4)})
    _, s1, *_ = one(E1, s, [C.STAY, C.RIGHT], p)
    assert pos(s1, 1) == (3, 4)
    assert not bool(s1.agents.alive[1])
    assert C.CAUSE_NAMES[int(s1.log.death_cause[1])] == "hazard" and int(s1.log.death_tick[1]) == 1


def test_a_well_fed_baby_also_dies_in_a_hazard():
    """A free baby on a hazard dies (body.hazards), however well fed: the same tick's regeneration must not
    lift its health from exactly 0 back to `regen` (it did, for energy > 0.5)."""
    p = params_like(E1, regen=0.01)
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), energy=0.9)})
    _, s1, *_ = one(E1, s, [C.STAY, C.RIGHT], p)
    assert pos(s1, 1) == (3, 4)
    assert not bool(s1.agents.alive[1]), f"baby on a hazard survived with health {float(s1.agents.health[1])}"
    assert int(s1.log.death_cause[1]) == C.HAZARD_DEATH


@pytest.mark.parametrize(
    "mother_at,mother_action",
    [((2, 2), C.STAY), ((2, 4), C.STAY), ((1, 3), C.DOWN)],
    ids=["diagonal", "diagonal_other_side", "steps_next_to_her"],
)
def test_guard_counts_an_adult_within_one_cell_after_her_move(mother_at, mother_action):
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=mother_at), 1: dict(pos=(3, 3), energy=0.4)})
    _, s1, *_ = one(E1, s, [mother_action, C.RIGHT])
    assert pos(s1, 1) == (3, 3) and bool(s1.agents.alive[1]) and int(s1.log.hazard_blocks[1]) == 1


def test_guard_lets_go_when_the_adult_steps_away():
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=(3, 2)), 1: dict(pos=(3, 3), energy=0.4)})
    _, s1, *_ = one(E1, s, [C.LEFT, C.RIGHT])
    assert pos(s1, 1) == (3, 4) and not bool(s1.agents.alive[1])


def test_a_carrier_dying_on_a_hazard_does_not_drop_the_baby_into_it():
    """body.deaths: 'a dead carrier drops what it carries'. (The bug this pins, now fixed: she dropped it
    on her own cell, whatever it was, so a mother killed on a hazard left her baby free on that hazard,
    alive at the end of the tick (an invariant break) and burning at the next unless it stepped off.)"""
    p = params_like(E1, hazard_damage_adult=0.2)
    s = build_state(
        E1, _terrain((3, 3)),
        {0: dict(pos=(3, 3), carrying=1, health=0.1), 1: dict(pos=(3, 3), carried_by=0, energy=0.4)},
    )
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert not bool(s1.agents.alive[0]) and int(s1.log.death_cause[0]) == C.HAZARD_DEATH
    assert int(s1.agents.carried_by[1]) == -1
    assert s1.terrain[pos(s1, 1)] != C.HAZARD, "the dead mother's baby was dropped onto a hazard"
    _, s2, *_ = one(E1, s1, [C.STAY, C.STAY], p)
    assert bool(s2.agents.alive[1]), "the baby burnt on the hazard it was dropped on"


def test_an_adult_on_a_hazard_is_hurt_not_killed():
    p = params_like(E1, hazard_damage_adult=0.2)
    s = build_state(E1, _terrain((3, 4)), {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))})
    _, s1, *_ = one(E1, s, [C.RIGHT, C.STAY], p)
    assert pos(s1, 0) == (3, 4) and bool(s1.agents.alive[0])
    assert float(s1.agents.health[0]) == pytest.approx(0.8)


# ----------------------------------------------------------------------------------- body and life


def test_starvation_drains_health_then_kills_with_cause_starved():
    p = params_like(E1, adult_drain=0.006, starve_damage=0.05)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.0, health=0.12), 1: dict(pos=(1, 1))})
    steps = run(E1, s, [[C.STAY, C.STAY]] * 3, p)
    healths = [float(st.agents.health[0]) for _, st, *_ in steps]
    assert healths[:2] == pytest.approx([0.07, 0.02], abs=1e-6)
    last = steps[-1][1]
    assert not bool(last.agents.alive[0]) and healths[2] == 0.0
    assert C.CAUSE_NAMES[int(last.log.death_cause[0])] == "starved" and int(last.log.death_tick[0]) == 3
    assert float(last.agents.energy[0]) == 0.0


def test_energy_above_zero_does_no_harm_and_high_energy_regenerates():
    p = params_like(E1, adult_drain=0.006, regen=0.01)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.9, health=0.5), 1: dict(pos=(1, 1), energy=0.3)})
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert float(s1.agents.energy[0]) == pytest.approx(0.894)
    assert float(s1.agents.health[0]) == pytest.approx(0.51)


def test_dead_stay_dead():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1), alive=False, births=1, birth_tick=0)})
    steps = run(E1, s, [[C.STAY, C.RIGHT]] * 3)
    for _, st, *_ in steps:
        assert not bool(st.agents.alive[1]) and pos(st, 1) == (1, 1)


def test_a_baby_grows_into_an_adult_at_adult_age():
    p = params_like(E1, adult_age=50)
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), age=49, health=0.9)}, food=[(3, 4)])
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert int(s1.agents.role[1]) == C.ADULT and int(s1.agents.age[1]) == 50
    assert not bool(s1.agents.cry[1])
    # now she has hands: she can pick up food
    _, s2, *_ = one(E1, s1, [C.STAY, C.PICK_UP], p)
    assert int(s2.agents.holding[1]) == 0


CRY = C.BODY_FEATURES.index("cry")


@pytest.mark.parametrize("energy,cries", [(0.1, True), (0.29, True), (0.31, False), (0.9, False)])
def test_a_hungry_baby_cries_and_a_fed_one_does_not(energy, cries):
    p = params_like(E1, cry_hunger=0.3)
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), energy=energy)})
    obs, s1, *_ = one(E1, s, [C.STAY, C.STAY], p)
    assert bool(s1.agents.cry[1]) == cries
    assert float(obs.body[0, CRY]) == float(cries)  # the mother hears it
    if cries:
        assert int(s1.log.cry_ticks[1]) == 1


@pytest.mark.parametrize("with_direction", [True, False])
def test_the_cry_says_where_only_when_the_world_allows(with_direction):
    p = params_like(E1, cry_hunger=0.3, cry_direction=with_direction)
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), energy=0.1)})
    obs, *_ = one(E1, s, [C.STAY, C.STAY], p)
    d = [float(obs.body[0, C.BODY_FEATURES.index(f)]) for f in ("cry_dy", "cry_dx")]
    assert float(obs.body[0, CRY]) == 1.0  # she hears it either way
    assert d == ([1.0, 1.0] if with_direction else [0.0, 0.0])


@pytest.mark.parametrize("birth_cry", [0, 3])
def test_a_newborn_cries_the_birth_cry_ticks_after_its_birth_then_only_when_in_need(birth_cry):
    """`birth_cry`: a cue of where a baby was born (the default world has none: 0)."""
    p = params_like(E1, cry_hunger=0.3, birth_cry=birth_cry)
    s = build_state(E1, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), energy=0.9, age=0)})
    steps = run(E1, s, [[C.STAY, C.STAY]] * 5, p)
    assert [bool(st.agents.cry[1]) for _, st, *_ in steps] == [t < birth_cry for t in range(5)]
    assert [float(obs.body[0, CRY]) for obs, *_ in steps] == [float(t < birth_cry) for t in range(5)]


@pytest.mark.parametrize("hear_others", [False, True])
def test_a_known_voice_hears_other_babies_only_where_the_world_says(hear_others):
    """`know_own_cry` among look-alikes: her own baby's cry is level 1 and wins; while hers is quiet, the other
    family's crying baby reaches her at level 0.5 with its direction only under `hear_other_cries`."""
    p = params_like(E2, cry_hunger=0.3, label_own_baby=False, know_own_cry=True, hear_other_cries=hear_others)
    hers_fed = build_state(E2, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1)), 2: dict(pos=(3, 1)),
                                       3: dict(pos=(1, 3), energy=0.1)})
    obs, *_ = one(E2, hers_fed, [C.STAY] * 4, p)
    dy, dx = (float(obs.body[0, C.BODY_FEATURES.index(f)]) for f in ("cry_dy", "cry_dx"))
    assert (float(obs.body[0, CRY]), dy, dx) == ((0.5, -1.0, 0.0) if hear_others else (0.0, 0.0, 0.0))
    both = hers_fed.replace(agents=hers_fed.agents.replace(energy=hers_fed.agents.energy.at[2].set(0.1)))
    obs, *_ = one(E2, both, [C.STAY] * 4, p)  # hers cries too, as near as the other: hers is what she hears
    dy, dx = (float(obs.body[0, C.BODY_FEATURES.index(f)]) for f in ("cry_dy", "cry_dx"))
    assert (float(obs.body[0, CRY]), dy, dx) == (1.0, 0.0, -1.0)


def test_feeding_stops_the_cry():
    p = params_like(E1, cry_hunger=0.3)
    s = build_state(
        E1, ROOM, {0: dict(pos=(3, 3), holding=0), 1: dict(pos=(3, 4), energy=0.1)}, food=[{"pos": (1, 1), "held_by": 0}]
    )
    (_, s1, *_), (obs2, s2, *_) = run(E1, s, [[C.STAY, C.STAY], [C.FEED, C.STAY]], p)
    assert bool(s1.agents.cry[1]) and not bool(s2.agents.cry[1]) and float(obs2.body[0, CRY]) == 0.0


# -------------------------------------------------------------------------------- births and rebirth


def test_birth_at_the_due_tick_next_to_the_mother():
    # the first neighbour (up) is a hazard: the baby is born to the right
    s = build_state(E1, _terrain((2, 3)), {0: dict(pos=(3, 3)), 1: dict(alive=False, next_birth=3)})
    steps = run(E1, s, [[C.STAY, C.STAY]] * 3)
    assert not bool(steps[0][1].agents.alive[1]) and not bool(steps[1][1].agents.alive[1])
    obs, s3 = steps[2][0], steps[2][1]
    ag, p = s3.agents, E1.default_params
    assert bool(ag.alive[1]) and pos(s3, 1) == (3, 4)
    assert int(ag.births[1]) == 1 and int(s3.log.birth_tick[1]) == 3 and int(ag.age[1]) == 0
    assert int(ag.role[1]) == C.BABY
    assert float(ag.energy[1]) == pytest.approx(float(p.baby_energy0))
    assert float(ag.health[1]) == pytest.approx(float(p.baby_health0))
    child_born = C.BODY_FEATURES.index("child_born")
    assert float(steps[1][0].body[0, child_born]) == 0.0 and float(obs.body[0, child_born]) == 1.0


@pytest.mark.parametrize("cuckoo", [False, True])
def test_a_cuckoo_world_lays_each_baby_beside_the_other_mother(cuckoo):
    s = build_state(E2, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(5, 5)), 2: dict(alive=False, next_birth=1),
                               3: dict(alive=False, next_birth=1)})
    _, s1, *_ = one(E2, s, [C.STAY] * 4, params_like(E2, cuckoo=cuckoo))
    near = lambda i, j: int(np.abs(np.asarray(s1.agents.pos[i]) - np.asarray(s1.agents.pos[j])).sum()) == 1
    assert bool(s1.agents.alive[2]) and bool(s1.agents.alive[3])
    assert near(2, 1 if cuckoo else 0) and near(3, 0 if cuckoo else 1)  # baby 2 is mother 0's, baby 3 mother 1's


def test_no_birth_without_a_free_cell_next_to_the_mother():
    rows = _terrain((2, 3), (3, 2), (3, 4), (4, 3))
    s = build_state(E1, rows, {0: dict(pos=(3, 3)), 1: dict(alive=False, next_birth=1)})
    _, s1, *_ = one(E1, s, [C.STAY, C.STAY])
    assert not bool(s1.agents.alive[1]) and int(s1.agents.births[1]) == 0
    _, s2, *_ = one(E1, s1, [C.DOWN, C.STAY])  # she walks out of the hazard ring (hurt): born next tick
    assert bool(s2.agents.alive[1]) and int(np.abs(np.asarray(s2.agents.pos[1]) - np.asarray(s2.agents.pos[0])).sum()) == 1


def _starving_baby(**baby):
    fields = dict(pos=(1, 1), energy=0.0, health=0.01)
    fields.update(baby)
    return build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: fields})


def test_rebirth_after_a_death_when_rebirth_prob_is_one():
    p = params_like(E1, births_per_life=2, rebirth_prob=1.0, rebirth_delay=3, starve_damage=0.05)
    steps = run(E1, _starving_baby(), [[C.STAY, C.STAY]] * 4, p)
    s1 = steps[0][1]
    assert not bool(s1.agents.alive[1]) and int(s1.log.death_tick[1]) == 1
    assert int(s1.agents.next_birth[1]) == 4
    assert not bool(steps[0][4]["terminated"])  # a rebirth is due: the mother can still earn reward
    assert not bool(steps[2][1].agents.alive[1])
    s4 = steps[3][1]
    assert bool(s4.agents.alive[1]) and int(s4.agents.births[1]) == 2 and int(s4.log.birth_tick[1]) == 4
    assert int(s4.log.death_tick[1]) == -1
    assert int(np.abs(np.asarray(s4.agents.pos[1]) - np.asarray(s4.agents.pos[0])).sum()) == 1


@pytest.mark.parametrize("prob,per_life", [(0.0, 3), (1.0, 1)])
def test_no_rebirth_when_prob_is_zero_or_births_are_used_up(prob, per_life):
    p = params_like(E1, births_per_life=per_life, rebirth_prob=prob, rebirth_delay=1, starve_damage=0.05)
    steps = run(E1, _starving_baby(), [[C.STAY, C.STAY]] * 5, p)
    assert int(steps[0][1].agents.next_birth[1]) == C.NEVER
    assert all(not bool(st.agents.alive[1]) for _, st, *_ in steps)
    assert bool(steps[0][4]["terminated"])


def test_a_grown_baby_gives_birth_in_a_chain():
    p = params_like(E4, chain=True, adult_age=20, chain_birth_delay=2)
    s = build_state(E4, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), age=19, health=0.9)})
    steps = run(E4, s, [[C.STAY] * 4] * 3, p)
    s1 = steps[0][1]
    assert int(s1.agents.role[1]) == C.ADULT and int(s1.agents.next_birth[2]) == 3
    assert not bool(steps[1][1].agents.alive[2])
    s3 = steps[2][1]
    assert bool(s3.agents.alive[2]) and int(s3.log.birth_tick[2]) == 3
    assert int(np.abs(np.asarray(s3.agents.pos[2]) - np.asarray(s3.agents.pos[1])).sum()) == 1
    assert not bool(s3.agents.alive[3])  # the great-grandchild waits for its own parent to grow up
    # without chain, a grown baby has no child
    q = params_like(E4, p, chain=False)
    for _, st, *_ in run(E4, s, [[C.STAY] * 4] * 4, q):
        assert not bool(st.agents.alive[2]) and int(st.agents.next_birth[2]) == C.NEVER


def test_nested_carrying_keeps_everyone_on_their_carriers_cell():
    """A baby that grows up while carried is an adult with 'free hands' (actions._hands_free does not
    check carried_by), so she can pick up a baby while carried. Three levels deep (legal from a legal
    start, generations >= 4), the bottom one is left behind: move/pick_up only fix positions 2 deep."""
    p = params_like(E4, chain=True, adult_age=20, chain_birth_delay=0)
    s = build_state(
        E4, ROOM,
        {
            0: dict(pos=(3, 3), carrying=1),
            1: dict(pos=(3, 3), carried_by=0, role=C.ADULT, age=20),  # grew up in her mother's arms
            2: dict(pos=(3, 4), age=19, health=0.9),  # about to grow up
        },
    )
    # tick 1: 1 (carried) picks up 2; 2 grows up and gives birth to 3 at once (delay 0)
    # tick 2: 2 (carried) picks up 3; tick 3: the mother walks
    steps = run(E4, s, [[C.STAY, C.PICK_UP, C.STAY, C.STAY], [C.STAY, C.STAY, C.PICK_UP, C.STAY], [C.DOWN] + [C.STAY] * 3], p)
    for t, (_, st, *_) in enumerate(steps, start=1):
        ag = st.agents
        for j in range(4):
            i = int(ag.carried_by[j])
            if i >= 0:
                assert pos(st, j) == pos(st, i), f"tick {t}: {j} at {pos(st, j)}, carrier {i} at {pos(st, i)}"


# -------------------------------------------------------------------------------- the mother leaves


def test_mother_leaves_at_the_birth():
    p = params_like(E1, mother_leaves=True)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(alive=False, next_birth=1)})
    _, s1, _, done, info = one(E1, s, [C.STAY, C.STAY], p)
    assert bool(s1.agents.alive[1]) and not bool(s1.agents.alive[0])
    assert C.CAUSE_NAMES[int(s1.log.death_cause[0])] == "left" and int(s1.log.death_tick[0]) == 1
    assert bool(info["terminated"]) and bool(done)  # no founding mother is left to earn reward
    # and the baby lives on alone
    steps = run(E1, s1, [[C.STAY, C.RIGHT]] * 3, p)
    assert bool(steps[-1][1].agents.alive[1]) and not bool(steps[-1][1].agents.alive[0])


@pytest.mark.parametrize("what", ["baby", "food"])
def test_a_mother_who_leaves_lets_go_of_what_she_holds(what):
    """mother_leaves (body.births) sets the leaver's `carrying` to -1 but leaves the carried baby's
    `carried_by` (and a held food item's `held_by` / her `holding`) pointing at her: the other family's
    baby stays 'carried' by nobody, frozen on her cell."""
    p = params_like(E2, mother_leaves=True)
    if what == "baby":
        fam0 = {0: dict(pos=(3, 3), carrying=3), 3: dict(pos=(3, 3), carried_by=0)}
        food = []
    else:
        fam0 = {0: dict(pos=(3, 3), holding=0), 3: dict(pos=(5, 5))}
        food = [{"pos": (1, 1), "held_by": 0}]
    s = build_state(E2, ROOM, {**fam0, 1: dict(pos=(1, 5)), 2: dict(alive=False, next_birth=1)}, food=food)
    _, s1, *_ = one(E2, s, [C.STAY] * 4, p)
    ag = s1.agents
    assert not bool(ag.alive[0]) and bool(ag.alive[2])
    assert int(ag.carrying[0]) == -1 and int(ag.holding[0]) == -1
    assert int(ag.carried_by[3]) == -1, "the baby is still 'carried' by a mother who left"
    assert int(s1.food.held_by[0]) == -1
    if what == "baby":
        _, s2, *_ = one(E2, s1, [C.STAY, C.STAY, C.STAY, C.RIGHT], p)
        assert pos(s2, 3) == (3, 4)


# ------------------------------------------------------------------------------------------ rewards


def _mode_params(env, mode, **kw):
    return params_like(env, reward_mode=C.REWARD_MODES.index(mode), reward_mix=0.25, **kw)


def _reward(env, prev_alive, state, params):
    return np.asarray(_rewards(jnp.asarray(prev_alive), state, params, CHILD_OF[id(env)]))


# scenario -> (mother's fields, baby's fields, alive before the tick [mother, baby])
SCENARIOS = {
    # the child is not born yet: everyone is rewarded for herself
    "unborn": (dict(), dict(alive=False, next_birth=50), [True, False]),
    "alive": (dict(), dict(pos=(3, 4), energy=0.6), [True, True]),
    "carried": (dict(carrying=1), dict(energy=0.6, carried_by=0), [True, True]),
    # the child died during this tick (alive before it, dead after)
    "child_died": (dict(), dict(alive=False, births=1), [True, True]),
    # the mother died during this tick, the child lives on
    "mother_died": (dict(alive=False), dict(pos=(3, 4), energy=0.6), [True, True]),
    # the mother was already dead before the tick
    "mother_dead_before": (dict(alive=False), dict(pos=(3, 4), energy=0.6), [False, True]),
}
EXPECTED = {
    "unborn": {"self": [1, 0], "baby": [1, 0], "baby_welfare": [1, 0], "mixed": [1, 0], "lineage": [1, 0]},
    "alive": {"self": [1, 1], "baby": [1, 1], "baby_welfare": [0.8, 1], "mixed": [1, 1], "lineage": [1, 1]},
    "carried": {"self": [1, 1], "baby": [1, 1], "baby_welfare": [0.3, 1], "mixed": [1, 1], "lineage": [1, 1]},
    "child_died": {"self": [1, 0], "baby": [0, 0], "baby_welfare": [0, 0], "mixed": [0.25, 0], "lineage": [0, 0]},
    "mother_died": {"self": [0, 1], "baby": [1, 1], "baby_welfare": [0.8, 1], "mixed": [0.75, 1], "lineage": [1, 1]},
    "mother_dead_before": {"self": [0, 1], "baby": [0, 1], "baby_welfare": [0, 1], "mixed": [0, 1], "lineage": [0, 1]},
}


@pytest.mark.parametrize("mode", C.REWARD_MODES)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_reward_per_mode_on_hand_built_states(scenario, mode):
    mother, baby, prev_alive = SCENARIOS[scenario]
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), **mother), 1: dict(pos=(3, 3)) | baby})
    r = _reward(E1, prev_alive, s, _mode_params(E1, mode))
    assert r.dtype == np.float32 and r.shape == (2,)
    np.testing.assert_allclose(r, EXPECTED[scenario][mode], atol=1e-6)


def test_lineage_rewards_every_generation_for_its_own_child():
    base = {0: dict(pos=(1, 1)), 1: dict(pos=(3, 3), role=C.ADULT, age=400)}
    alive = build_state(E4, ROOM, {**base, 2: dict(pos=(3, 4))})
    lost = build_state(E4, ROOM, {**base, 2: dict(alive=False, births=1)})
    prev = [True, True, True, False]
    r_alive = _reward(E4, prev, alive, _mode_params(E4, "lineage"))
    r_lost = _reward(E4, prev, lost, _mode_params(E4, "lineage"))
    np.testing.assert_allclose(r_alive, [1, 1, 1, 0])
    np.testing.assert_allclose(r_lost, [1, 0, 0, 0])  # the grown baby lost her child
    np.testing.assert_allclose(_reward(E4, prev, lost, _mode_params(E4, "self")), [1, 1, 0, 0])


def test_step_reward_matches_the_mode():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4), energy=0.6)})
    for mode, expected in (("self", [1, 1]), ("baby_welfare", [0.8, 1]), ("mixed", [1, 1])):
        _, _, r, done, info = one(E1, s, [C.STAY, C.STAY], _mode_params(E1, mode))
        assert r.dtype == jnp.float32 and r.shape == (2,)
        np.testing.assert_allclose(np.asarray(r), expected, atol=1e-6)
        assert not bool(done)


# ----------------------------------------------------------------------------- terminated/truncated


@pytest.mark.parametrize("mode", C.REWARD_MODES)
def test_mother_death_terminates(mode):
    p = _mode_params(E1, mode, starve_damage=0.05)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.0, health=0.01), 1: dict(pos=(1, 1))})
    _, s1, _, done, info = one(E1, s, [C.STAY, C.STAY], p)
    assert not bool(s1.agents.alive[0])
    assert bool(info["terminated"]) and not bool(info["truncated"]) and bool(done)


@pytest.mark.parametrize(
    "mode,ends", [("baby", True), ("baby_welfare", True), ("lineage", True), ("self", False), ("mixed", False)]
)
def test_baby_death_without_rebirth_terminates_only_child_based_modes(mode, ends):
    p = _mode_params(E1, mode, starve_damage=0.05, births_per_life=1, rebirth_prob=0.0)
    _, s1, _, done, info = one(E1, _starving_baby(), [C.STAY, C.STAY], p)
    assert not bool(s1.agents.alive[1]) and bool(s1.agents.alive[0])
    assert bool(info["terminated"]) == ends and bool(done) == ends
    assert not bool(info["truncated"])


def test_time_limit_truncates_only():
    p = params_like(E1, max_steps=10)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))}, t=8)
    (_, _, _, d9, i9), (_, s10, _, d10, i10) = run(E1, s, [[C.STAY, C.STAY]] * 2, p)
    assert not bool(d9) and not bool(i9["truncated"]) and not bool(i9["terminated"])
    assert int(s10.t) == 10
    assert bool(d10) and bool(i10["truncated"]) and not bool(i10["terminated"])


def test_termination_at_the_time_limit_is_not_a_truncation():
    p = params_like(E1, max_steps=10, starve_damage=0.05)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.0, health=0.01), 1: dict(pos=(1, 1))}, t=9)
    _, _, _, done, info = one(E1, s, [C.STAY, C.STAY], p)
    assert bool(done) and bool(info["terminated"]) and not bool(info["truncated"])


# --------------------------------------------------------------------------------------- AutoReset

AUTO = AutoReset(E1)
AUTO_STEP = jax.jit(AUTO.step)
OBSERVE1 = jax.jit(E1.observe)


def test_autoreset_keeps_the_final_observation_and_resets():
    p = params_like(E1, starve_damage=0.05)
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3), energy=0.0, health=0.01), 1: dict(pos=(1, 1))}, t=5)
    a = jnp.asarray([C.STAY, C.STAY], jnp.int32)
    obs, s_new, r, done, info = AUTO_STEP(jax.random.key(0), s, a, p)
    raw_obs, raw_state, raw_r, raw_done, raw_info = one(E1, s, [C.STAY, C.STAY], p)  # no randomness here
    assert bool(done) and bool(raw_done) and bool(info["terminated"])
    for x, y in zip(jax.tree.leaves(info["final_obs"]), jax.tree.leaves(raw_obs), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(r), np.asarray(raw_r))
    assert int(s_new.t) == 0 and int(info["final_state_t"]) == 6
    assert bool(s_new.agents.alive[0]) and float(s_new.agents.health[0]) == 1.0  # a fresh world
    fresh = OBSERVE1(s_new, p)
    for x, y in zip(jax.tree.leaves(obs), jax.tree.leaves(fresh), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_autoreset_does_not_reset_a_running_world():
    s = build_state(E1, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(1, 1))}, t=5)
    obs, s_new, r, done, info = AUTO_STEP(jax.random.key(0), s, jnp.asarray([C.RIGHT, C.STAY], jnp.int32), E1.default_params)
    assert not bool(done) and int(s_new.t) == 6 and pos(s_new, 0) == (3, 4)
    for x, y in zip(jax.tree.leaves(obs), jax.tree.leaves(info["final_obs"]), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
