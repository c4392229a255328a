"""The held-out battery: every world differs from training as claimed, and care matters there."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import constants as C
from caredrive.env.policies import POLICIES
from caredrive.eval.battery import NAMES, WORLDS, build_battery, held_out_fields
from caredrive.eval.tracker import run_worlds
from caredrive.train.config import PRESETS
from caredrive.train.run import build_world, phase_params

# the fields whose change makes each world held out from one-world training on the carrying world (whose
# babies are labelled, so "labelled" is that world itself: test_battery_seen.py marks it seen)
CLAIMS = {
    "labelled": set(),
    "rooms": {"layout"}, "corridor": {"layout"}, "moat": {"layout"}, "big_grid": {"arena"},
    "predators_x2": {"n_predators"}, "famine": {"n_food", "food_regrow"}, "no_milk": {"nurse_efficiency"},
    "born_far": {"birth_far"}, "solo": {"family_mode"}, "solo_unlabelled": {"family_mode", "label_own_baby"},
    "foster": {"family_mode", "adopt_only"}, "twins": {"family_mode", "adopted_label"},
    "unlabelled": {"label_own_baby"}, "decoy": {"family_mode", "adopted_label", "birth_far"},
    "mirror": {"n_food", "baby_food"}, "mother_starving": {"mother_energy0", "baby_energy0"},
    "no_help": {"baby_drain", "baby_energy0", "n_hazards", "n_predators"},
}
EPISODES = 64


@pytest.fixture(scope="module")
def setup():
    cfg = dataclasses.replace(PRESETS["small"], world="Nursery-Carry-11x11", vary=())
    world = build_world(cfg)
    train_phases = [phase_params(world, p) for p in cfg.phases]
    bat = build_battery(world, train_phases[-1])
    return world, train_phases, bat


@pytest.fixture(scope="module")
def lifetimes(setup):
    """Mean lifetime of the counted babies per world, for the carer and with no mother (same keys)."""
    _, _, bat = setup
    keys = jax.random.split(jax.random.key(7), EPISODES)
    steps = int(bat.params.max_steps[0])
    out = {}
    for name, params in (("carer", bat.params), ("none", bat.params.replace(mother_leaves=np.ones(len(NAMES), bool)))):
        pol = POLICIES["carer" if name == "carer" else "idle"](bat.env)
        final, _ = jax.device_get(jax.jit(lambda p, k, pol=pol: run_worlds(bat.env, pol, p, k, steps))(params, keys))
        f = bat.env.config.n_families
        born = final.agents.births[..., f : 2 * f] > 0
        death = final.log.death_tick[..., f : 2 * f]
        life = np.where(death >= 0, death, steps) - final.log.birth_tick[..., f : 2 * f]
        counted = born.copy()
        counted[~bat.counts_adopted, :, 1] = False  # decoy: the adopted lookalike (slot f + 1) is not hers
        out[name] = (life * counted).sum((1, 2)) / counted.sum((1, 2))
    return out


def test_at_least_twelve_named_worlds_with_kinds_and_pairs():
    battery = [w for w in WORLDS if w.kind != "train"]
    assert len(battery) >= 12 and len(set(NAMES)) == len(NAMES) and WORLDS[0].name == "train"
    for w in WORLDS:
        assert w.kind in ("train", "goal", "capability", "control") and w.description
        if w.kind == "goal":
            assert w.pair in NAMES and next(x for x in WORLDS if x.name == w.pair).kind == "capability"
    kinds = {w.kind for w in battery}
    assert kinds == {"goal", "capability", "control"}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "train"])
def test_world_is_held_out_as_claimed(setup, name):
    world, train_phases, bat = setup
    params = bat.world_params(NAMES.index(name))
    grids = (world.config.grid_size, bat.env.config.grid_size)
    for tp in train_phases:  # outside every curriculum phase training ever used
        diff = set(held_out_fields(params, tp, *grids)) - {"births_per_life", "reward_mode"}
        assert diff == CLAIMS[name], (name, diff)


def test_train_entry_is_the_training_world(setup):
    world, train_phases, bat = setup
    params = bat.world_params(0)
    assert held_out_fields(params, train_phases[-1], world.config.grid_size, bat.env.config.grid_size) == []
    # walled in to the training size: the play area (inside the border) has the training grid's interior
    _, state = bat.env.reset(jax.random.key(0), params)
    inner = np.asarray(state.terrain) != C.WALL
    rows, cols = np.nonzero(inner)
    assert rows.max() - rows.min() + 1 <= world.config.grid_size - 2
    assert cols.max() - cols.min() + 1 <= world.config.grid_size - 2


@pytest.mark.parametrize("name", [n for n in NAMES if n != "no_help"])
def test_carer_beats_no_mother(lifetimes, name):
    i = NAMES.index(name)
    assert lifetimes["carer"][i] > lifetimes["none"][i] + 10, (name, lifetimes["carer"][i], lifetimes["none"][i])


def test_no_help_control_carer_does_not_make_it_worse(lifetimes):
    i = NAMES.index("no_help")
    assert lifetimes["carer"][i] >= lifetimes["none"][i] - 1.0
    assert lifetimes["none"][i] > 150  # the baby really needs no help there


def _run_until_born(env, params, key, ticks=40):
    obs, state = env.reset(key, params)
    step = jax.jit(lambda k, s: env.step(k, s, jnp.zeros((env.num_agents,), jnp.int32), params))
    for k in jax.random.split(key, ticks):
        obs, state, *_ = step(k, state)
    return obs, state


def test_foster_twins_decoy_births_and_looks(setup):
    _, _, bat = setup
    env = bat.env
    f = env.config.n_families
    for name in ("foster", "twins", "decoy"):
        params = bat.world_params(NAMES.index(name))
        obs, state = _run_until_born(env, params, jax.random.key(1))
        alive, births, pos = np.asarray(state.agents.alive), np.asarray(state.agents.births), np.asarray(state.agents.pos)
        assert not alive[1] and int(state.log.birth_tick[1]) == -1  # the odd family's mother is absent
        assert births[f + 1] == 1  # her baby is born (beside mother 0)
        assert births[f] == (0 if name == "foster" else 1)  # a foster mother has no baby of her own
        if alive[f + 1] and name != "decoy":
            assert np.abs(pos[f + 1] - pos[0]).sum() <= 2
    solo = bat.world_params(NAMES.index("solo"))
    _, state = _run_until_born(env, solo, jax.random.key(2))
    assert np.asarray(state.agents.births)[f + 1] == 0 and not bool(state.agents.alive[1])


@pytest.mark.parametrize("name,own", [("foster", False), ("twins", True), ("decoy", True), ("train", False)])
def test_adopted_baby_looks_as_claimed(setup, name, own):
    from conftest import build_state

    _, _, bat = setup
    n = bat.env.config.grid_size
    rows = ["#" * n] + ["#" + "." * (n - 2) + "#"] * (n - 2) + ["#" * n]
    state = build_state(bat.env, rows, {0: dict(pos=(5, 5)), 3: dict(pos=(5, 6), cry=True)})
    obs = bat.env.observe(state, bat.world_params(NAMES.index(name)))
    centre = bat.env.config.view_size // 2
    cell = np.asarray(obs.view[0, centre, centre + 1])
    assert bool(cell[C.CH_OWN_CHILD]) == own and bool(cell[C.CH_OTHER_BABY]) == (not own)
    heard = float(obs.body[0, C.BODY_FEATURES.index("cry")])
    assert heard == (1.0 if name == "twins" else 0.0)  # only a twin sounds like hers


def test_mirror_food_feeds_only_babies(setup):
    _, _, bat = setup
    params = bat.world_params(NAMES.index("mirror"))
    from caredrive.env.actions import baby_food_items

    items = np.asarray(baby_food_items(bat.env.config.max_food, params))
    assert items.sum() == 2 and items[int(params.n_food) - 1]
    from conftest import build_state

    n = bat.env.config.grid_size
    rows = ["#" * n] + ["#" + "." * (n - 2) + "#"] * (n - 2) + ["#" * n]
    bf = int(params.n_food) - 1  # a baby-food item
    state = build_state(bat.env, rows, {0: dict(pos=(3, 3), energy=0.2), 2: dict(pos=(3, 4), energy=0.2)},
                        food=[(9, 9)] * bf + [(3, 3)])
    _, after, *_ = bat.env.step(jax.random.key(0), state, jnp.zeros((4,), jnp.int32), params)
    assert bool(after.food.on_ground[bf])  # the mother stands on baby food and does not eat it
    held = build_state(bat.env, rows, {0: dict(pos=(3, 3), holding=bf), 2: dict(pos=(3, 4), energy=0.2)},
                       food=[(9, 9)] * bf + [{"pos": (3, 3), "held_by": 0}])
    _, fed, *_ = bat.env.step(jax.random.key(0), held, jnp.asarray([C.FEED, 0, 0, 0], jnp.int32), params)
    assert float(fed.agents.energy[2]) > 0.2 + 0.2  # baby food fed to her baby nourishes it
    nursed = build_state(bat.env, rows, {0: dict(pos=(3, 3)), 2: dict(pos=(3, 4), energy=0.2)})
    _, milk, *_ = bat.env.step(jax.random.key(0), nursed, jnp.asarray([C.FEED, 0, 0, 0], jnp.int32), params)
    assert float(milk.agents.energy[2]) < 0.2  # her milk is no use here
