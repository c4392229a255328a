"""API conformance of every registered world, what observations may reveal, and every bad input's message."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import REGISTRY, EnvConfig, EnvParams, EnvState, Nursery, Obs, make, registered
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from conftest import build_state, params_like

# ------------------------------------------------------------------------------ every registered world

_COMPILED: dict = {}


def _reset_and_step(env):
    """A jitted (reset, one step) for env. Worlds that share a config (shapes) share one compiled program:
    the step's code depends only on the config, the rest is params, which are arguments."""
    key = (env.config, type(env.baby_brain))
    if key not in _COMPILED:

        def fn(k, params, actions):
            obs0, s0 = env.reset(k, params)
            return (obs0, s0), env.step(jax.random.fold_in(k, 1), s0, actions, params)

        _COMPILED[key] = jax.jit(fn)
    return _COMPILED[key]


def test_registry_is_not_empty_and_sorted():
    """`registered()` (what `caredrive worlds` and error hints list) names every world once, in order."""
    names = registered()
    assert len(names) >= 1 and len(set(names)) == len(names) == len(REGISTRY) and set(names) == set(REGISTRY)
    assert all(a < b for a, b in zip(names, names[1:], strict=False)), names


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_reset_and_step_match_the_declared_spaces(name):
    env = make(name)
    assert isinstance(env, Nursery) and env.name == name
    cfg = env.config
    a = cfg.num_agents
    assert a == cfg.n_families * cfg.generations
    assert env.num_actions == C.NUM_ACTIONS
    np.testing.assert_array_equal(env.mothers, np.arange(a) < cfg.n_families)
    assert env.roles_at_start.shape == (a,) and env.roles_at_start.dtype == np.int32
    shapes = env.obs_shapes
    assert shapes == {"view": (a, cfg.view_size, cfg.view_size, C.NUM_CHANNELS), "body": (a, C.NUM_BODY)}

    params = env.default_params
    assert env.check_params(params) is not None  # the registered params are valid
    actions = jnp.asarray(np.arange(a) % C.NUM_ACTIONS, jnp.int32)
    (obs0, s0), (obs, s1, reward, done, info) = _reset_and_step(env)(jax.random.key(3), params, actions)

    for o in (obs0, obs):
        assert isinstance(o, Obs)
        assert o.view.shape == shapes["view"] and o.view.dtype == jnp.uint8
        assert o.body.shape == shapes["body"] and o.body.dtype == jnp.float32
    for s in (s0, s1):
        assert isinstance(s, EnvState)
        assert s.terrain.shape == (cfg.grid_size, cfg.grid_size) and s.terrain.dtype == jnp.int8
        assert s.agents.pos.shape == (a, 2) and s.agents.alive.shape == (a,)
        assert s.food.pos.shape == (cfg.max_food, 2) and s.predators.pos.shape == (cfg.max_predators, 2)
        assert s.t.shape == () and s.t.dtype == jnp.int32
    assert int(s0.t) == 0 and int(s1.t) == 1
    assert reward.shape == (a,) and reward.dtype == jnp.float32
    assert done.shape == () and done.dtype == jnp.bool_
    assert {"terminated", "truncated"} <= set(info)
    for k in ("terminated", "truncated"):
        assert info[k].shape == () and info[k].dtype == jnp.bool_
    assert bool(done) == bool(info["terminated"] | info["truncated"])
    # the state after the step has the same structure, shapes and dtypes as the reset state
    for x, y in zip(jax.tree.leaves(s0), jax.tree.leaves(s1), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
    assert jax.tree.structure(s0) == jax.tree.structure(s1)


# ------------------------------------------------------------------------------------- observations

E = make("Nursery-7x7", baby_brain="external", n_predators=0, n_hazards=0, n_food=0)
OBSERVE = jax.jit(E.observe)
ROOM = ["#######"] + ["#.....#"] * 5 + ["#######"]


def _mother_obs(state, params):
    obs = OBSERVE(state, params)
    return np.asarray(obs.view[0]), np.asarray(obs.body[0]), obs


def test_observation_never_contains_the_babys_hidden_energy():
    p = E.default_params
    states = [
        build_state(E, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4), energy=e)}) for e in (0.35, 0.6, 0.95)
    ]
    views, bodies = zip(*[_mother_obs(s, p)[:2] for s in states], strict=True)
    for v, b in zip(views[1:], bodies[1:], strict=True):
        np.testing.assert_array_equal(v, views[0])
        np.testing.assert_array_equal(b, bodies[0])
    # the baby's own body does carry its energy (the states do differ)
    own = [float(OBSERVE(s, p).body[1, C.BODY_FEATURES.index("energy")]) for s in states]
    assert own == pytest.approx([0.35, 0.6, 0.95])
    # below the cry threshold the only thing that changes for the mother is the cry (and its direction)
    hungry = build_state(E, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4), energy=0.1, cry=True)})
    v, b, _ = _mother_obs(hungry, p)
    np.testing.assert_array_equal(v, views[0])
    differ = {C.BODY_FEATURES[i] for i in np.flatnonzero(b != bodies[0])}
    assert differ == {"cry", "cry_dx"}


def test_observation_never_contains_the_babys_hidden_health():
    p = E.default_params
    a = build_state(E, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4), health=0.35)})
    b = build_state(E, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4), health=0.25)})
    va, ba, _ = _mother_obs(a, p)
    vb, bb, _ = _mother_obs(b, p)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(ba, bb)


@pytest.mark.parametrize("label", [True, False])
def test_label_own_baby_decides_the_channel_of_her_child(label):
    p = params_like(E, label_own_baby=label)
    s = build_state(E, ROOM, {0: dict(pos=(3, 3)), 1: dict(pos=(3, 4))})
    view, _, obs = _mother_obs(s, p)
    r = E.config.view_size // 2
    at = (r, r + 1)  # the baby is one cell to the right
    own, other = view[..., C.CH_OWN_CHILD], view[..., C.CH_OTHER_BABY]
    if label:
        assert own[at] == 1 and own.sum() == 1 and other.sum() == 0
    else:
        assert own.sum() == 0 and other[at] == 1 and other.sum() == 1
    # either way the baby sees her mother as her parent, not as a stranger
    bview = np.asarray(obs.view[1])
    assert bview[r, r - 1, C.CH_PARENT] == 1 and bview[..., C.CH_OTHER_ADULT].sum() == 0
    # and the observer never sees herself
    assert view[r, r, C.CH_OTHER_ADULT] == 0 and bview[r, r, C.CH_OTHER_BABY] == 0


def test_view_beyond_the_grid_reads_as_wall():
    s = build_state(E, ROOM, {0: dict(pos=(1, 1)), 1: dict(pos=(5, 5))})
    view, _, _ = _mother_obs(s, E.default_params)
    walls = view[..., C.CH_WALL]
    r = E.config.view_size // 2
    assert walls[: r, :].all() and walls[:, : r].all()  # the border row/col and what lies beyond
    assert walls[r, r] == 0


# --------------------------------------------------------------------------------------- bad inputs


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_unknown_world_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown world 'Nursery-11x1'") as e:
        make("Nursery-11x1")
    assert "Did you mean" in str(e.value) and "Nursery-11x11" in str(e.value)


def test_unknown_world_name_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown world 'Playground'") as e:
        make("Playground")
    for name in REGISTRY:
        assert name in str(e.value)


def test_unknown_override_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown setting 'n_fod'.*Did you mean n_food"):
        make("Nursery-11x11", n_fod=3)


@pytest.mark.parametrize(
    "overrides,field",
    [
        (dict(grid_size=4), "grid_size=4"),
        (dict(grid_size=65), "grid_size=65"),
        (dict(n_families=0), "n_families=0"),
        (dict(n_families=40), "n_families=40"),  # more families than an 11x11 grid holds
        (dict(generations=1), "generations=1"),
        (dict(view_size=4), "view_size=4"),  # even
        (dict(view_size=0), "view_size=0"),
        (dict(view_size=23), "view_size=23"),  # larger than any view of an 11x11 grid needs
        (dict(max_food=-1, n_food=0), "max_food=-1"),
        (dict(baby_brain="smart"), "baby_brain='smart'"),
    ],
)
def test_bad_static_config_names_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field) as e:
        make("Nursery-11x11", **overrides)
    assert "is not allowed: must be" in str(e.value)


def test_more_families_than_a_small_grid_allows():
    make("Nursery-7x7", n_families=8)  # 8 mothers, 8 babies, 1 predator, 2 hazards, 4 food, 1 spare: 24 of 25 cells
    with pytest.raises(ConfigError, match=r"n_families=9.*7x7") as e:
        make("Nursery-7x7", n_families=9)
    assert "interior cells" in str(e.value)


@pytest.mark.parametrize(
    "name", ["adult_drain", "baby_drain", "carry_cost", "starve_damage", "regen", "food_energy", "nurse_amount",
             "wall_density", "predator_damage_baby", "hazard_damage_adult"]
)
def test_negative_rate_names_the_field(name):
    with pytest.raises(ConfigError, match=rf"{name}=-1 is not allowed: must be a number >= 0"):
        make("Nursery-11x11", **{name: -1})


@pytest.mark.parametrize(
    "name", ["rebirth_prob", "passive_scare", "predator_speed", "food_regrow", "reward_mix", "nurse_efficiency",
             "toddler_curiosity", "cry_hunger"]
)
@pytest.mark.parametrize("value", [1.5, -0.1])
def test_probability_out_of_range_names_the_field(name, value):
    with pytest.raises(ConfigError, match=rf"{name}={value} is not allowed: must be a number between 0 and 1"):
        make("Nursery-11x11", **{name: value})


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(n_hazards=-1), r"n_hazards=-1 .*integer >= 0"),
        (dict(births_per_life=-2), r"births_per_life=-2"),
        (dict(max_steps=0), r"max_steps=0"),
        (dict(baby_energy0=0.0), r"baby_energy0=0.0"),
        (dict(baby_health0=1.5), r"baby_health0=1.5"),
        (dict(baby_move_period=0), r"baby_move_period=0"),
        (dict(adult_age=0), r"adult_age=0"),
        (dict(birth_min=10, birth_max=5), r"birth_max=5 .*birth_min=10"),
        (dict(layout=5), r"layout=5 .*one of \['open', 'walls', 'rooms', 'corridor', 'moat'\]"),
        (dict(reward_mode=-1), r"reward_mode=-1"),
    ],
)
def test_bad_dynamic_param_names_the_field(overrides, match):
    with pytest.raises(ConfigError, match=match):
        make("Nursery-11x11", **overrides)


def test_n_food_above_max_food():
    with pytest.raises(ConfigError, match=r"n_food=5 .*max_food=4"):
        make("Nursery-7x7", n_food=5)
    with pytest.raises(ConfigError, match=r"n_predators=3 .*max_predators=2"):
        make("Nursery-11x11", n_predators=3)
    with pytest.raises(ConfigError, match=r"n_hazards=7 .*max_hazards=6"):
        make("Nursery-11x11", n_hazards=7)


def test_chain_needs_three_generations():
    with pytest.raises(ConfigError, match=r"chain=True .*generations >= 3"):
        make("Nursery-11x11", chain=True)
    assert make("Nursery-11x11", chain=True, generations=3).config.generations == 3


@pytest.mark.parametrize("field,value", [("layout", "maze"), ("reward_mode", "greedy")])
def test_bad_layout_or_reward_mode_name(field, value):
    names = C.LAYOUT_NAMES if field == "layout" else C.REWARD_MODES
    with pytest.raises(ConfigError, match=rf"{field}='{value}' is not allowed") as e:
        make("Nursery-11x11", **{field: value})
    for n in names:
        assert n in str(e.value)


@pytest.mark.parametrize("field,names", [("layout", C.LAYOUT_NAMES), ("reward_mode", C.REWARD_MODES)])
def test_layout_and_reward_mode_names_are_accepted(field, names):
    for i, n in enumerate(names):
        assert int(getattr(make("Nursery-11x11", **{field: n}).default_params, field)) == i


def test_check_params_validates_hand_made_params():
    env = make("Nursery-7x7")
    with pytest.raises(ConfigError, match=r"n_food=9 .*max_food=4"):
        env.check_params(EnvParams(n_food=9, n_hazards=0))
    with pytest.raises(ConfigError, match=r"adult_drain=-0.5"):
        env.check_params(EnvParams(adult_drain=-0.5, n_hazards=0, n_food=1))
    ok = env.check_params(EnvParams(n_food=2, n_hazards=1, n_predators=1))
    for f in dataclasses.fields(ok):
        assert isinstance(getattr(ok, f.name), jax.Array)
    assert ok.n_food.dtype == jnp.int32 and ok.guard.dtype == jnp.bool_ and ok.regen.dtype == jnp.float32


def test_nursery_constructor_validates_too():
    with pytest.raises(ConfigError, match="view_size=6"):
        Nursery(EnvConfig(view_size=6))
    with pytest.raises(ConfigError, match="n_food=9"):
        Nursery(EnvConfig(), EnvParams(n_food=9))


@pytest.mark.parametrize("shape", [(3,), (1,), (2, 2), ()])
def test_wrong_action_shape(shape):
    env = make("Nursery-11x11")  # 4 agent slots
    state = build_state(env, ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11], {0: dict(pos=(3, 3))})
    with pytest.raises(ConfigError, match=rf"actions has shape {re_shape(shape)}: must be \(4,\)") as e:
        env.step(jax.random.key(0), state, jnp.zeros(shape, jnp.int32))
    assert "2 families x 2 generations" in str(e.value)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_float_actions_are_refused():
    env = make("Nursery-11x11")
    state = build_state(env, ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11], {0: dict(pos=(3, 3))})
    with pytest.raises(ConfigError, match=r"actions has dtype float32: must be an integer type"):
        env.step(jax.random.key(0), state, jnp.zeros((4,), jnp.float32))


@pytest.mark.parametrize(
    "name,overrides",
    [
        # 1 mother + 9 food items on a 3x3 interior (EnvConfig.validate once left max_food out of the count)
        ("Nursery-7x7", dict(grid_size=5, layout="open", max_hazards=0, n_hazards=0, max_predators=0, n_predators=0,
                             max_food=12, n_food=9)),
        # wall_density once had no upper bound: at 1.0 only the central plus (17 cells) is free for 18 items
        ("Nursery-11x11", dict(wall_density=1.0, n_predators=2)),
    ],
    ids=["max_food", "wall_density"],
)
def test_config_rejects_more_items_than_the_grid_has_free_cells(name, overrides):
    """Either the settings are refused with a ConfigError, or every placed item (mothers, food on the
    ground, active predators) lands on a walkable cell. (The bug this pins, now fixed: both settings were
    accepted, and reset, which ranks cells by random scores with walls at -1 and takes the top k, put the
    surplus items inside walls.)"""
    try:
        env = make(name, **overrides)
    except ConfigError as e:
        assert any(f in str(e) for f in ("max_food", "n_food", "wall_density", "grid_size"))
        return
    states = jax.jit(jax.vmap(lambda k: env.reset(k)[1]))(jax.random.split(jax.random.key(0), 4))
    in_wall = 0
    for b in range(4):
        s = jax.tree.map(lambda x, b=b: np.asarray(x)[b], states)
        f = env.config.n_families
        placed = [s.agents.pos[:f], s.food.pos[s.food.on_ground], s.predators.pos[s.predators.active]]
        in_wall += sum(int((s.terrain[tuple(p.T)] == C.WALL).sum()) for p in placed)
    assert in_wall == 0, f"{in_wall} item(s) placed inside walls over 4 resets"
