"""Recording (caredrive.interp.record) and its ground truth (interp.truth): the same episode as without
recording, rows aligned with what the mother saw, one compile for every battery world, replay exact."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import caredrive
from caredrive.agents.networks import ActorCritic
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.eval.battery import build_battery
from caredrive.eval.rollout import play_episode
from caredrive.interp.record import _record, flatten, fresh_policy, record, record_sequences, replay
from caredrive.interp.truth import TARGETS, episode_truth, tick_truth
from caredrive.train.policy import NetworkPolicy
from conftest import build_state

STEPS = 48


def make_policy(env, seeds: int, hidden: int = 8, key: int = 0) -> NetworkPolicy:
    mask = env.mothers
    base = NetworkPolicy(weights=None, net=ActorCritic(num_actions=C.NUM_ACTIONS, hidden=hidden, num_roles=2),
                         learners=tuple(int(i) for i in np.nonzero(mask)[0]),
                         roles=tuple(int(r) for r in env.roles_at_start[mask]), num_agents=env.num_agents)
    return fresh_policy(base, jax.random.key(key), seeds=seeds, env=env)


@pytest.fixture(scope="module")
def world():
    """The battery's world (every entry shares it), its training entry and the battery."""
    env = caredrive.make("Nursery-11x11")
    bat = build_battery(env, env.default_params, names=("train", "foster"))
    return bat.env, bat.world_params(0), bat


@pytest.fixture(scope="module")
def stacked(world):
    env, params, _ = world
    pol = make_policy(env, seeds=2)
    keys = jax.random.split(jax.random.key(3), 6)
    return pol, keys, record_sequences(pol, env, params, keys, steps=STEPS)


def test_recording_plays_the_same_episode_as_not_recording(world):
    """record() keeps the very episode an un-recorded rollout plays: its truth at tick t is the plain
    rollout's state after tick t-1 (positions, the hidden energy), tick by tick."""
    env, params, _ = world
    pol = make_policy(env, seeds=0)
    key = jax.random.key(11)
    _, _, _, states = jax.jit(lambda k: play_episode(env, pol, params, k, STEPS, keep_states=True))(key)
    rec = record(pol, env, params, key[None], steps=STEPS)
    mothers, f = np.arange(env.config.n_families), env.config.n_families
    pos, alive = np.asarray(states.agents.pos), np.asarray(states.agents.alive)
    energy = np.asarray(states.agents.energy)
    rows = rec.tick >= 1
    t, m = rec.tick[rows] - 1, rec.mother[rows]
    assert rows.sum() > 40 and set(np.unique(rec.mother)) <= set(mothers.tolist())
    has = alive[t, m + f]
    assert has.sum() > 10
    np.testing.assert_array_equal(np.isnan(rec.truth["baby_dx"][rows]), ~has)
    np.testing.assert_array_equal(rec.truth["baby_dx"][rows][has], (pos[t, m + f, 1] - pos[t, m, 1])[has])
    np.testing.assert_array_equal(rec.truth["baby_dy"][rows][has], (pos[t, m + f, 0] - pos[t, m, 0])[has])
    np.testing.assert_allclose(rec.truth["baby_energy"][rows][has], energy[t, m + f][has])
    assert alive[t, m].all()  # rows are living mothers only
    assert rec.n == len(mothers) + alive[:-1, mothers].sum()  # tick 0: both founders; tick t: after t-1


def test_rows_align_with_what_she_saw(world, stacked):
    env, _, _ = world
    rec = flatten(stacked[2])
    v, r = env.config.view_size, env.config.view_size // 2
    view = rec.obs[:, : v * v * C.NUM_CHANNELS].reshape(-1, v, v, C.NUM_CHANNELS)
    own = view[..., C.CH_OWN_CHILD]
    in_view = rec.truth["baby_in_view"] == 1
    assert 20 < in_view.sum() < rec.n
    np.testing.assert_array_equal(own.reshape(rec.n, -1).sum(1) > 0, in_view)  # NaN (no baby) is not 1
    cell = own[in_view].reshape(in_view.sum(), -1).argmax(1)
    np.testing.assert_array_equal(cell // v - r, rec.truth["baby_dy"][in_view])
    np.testing.assert_array_equal(cell % v - r, rec.truth["baby_dx"][in_view])
    has = ~np.isnan(rec.truth["baby_cry"])
    body = rec.obs[:, v * v * C.NUM_CHANNELS:]
    np.testing.assert_array_equal(body[has, C.BODY_FEATURES.index("cry")], rec.truth["baby_cry"][has])
    # the input tap is the observation plus the role one-hot (mothers: adult)
    assert rec.obs.shape[1] == v * v * C.NUM_CHANNELS + C.NUM_BODY + 2 and (rec.obs[:, -2] == 1).all()
    np.testing.assert_array_equal(rec.actions, rec.truth["action"].astype(int))
    assert set(rec.truth) == set(TARGETS) and rec.acts["value"].shape == (rec.n, 1)


def test_truth_of_a_hand_built_state():
    env = caredrive.make("Nursery-11x11")
    params = env.default_params
    rows = ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11]
    state = build_state(env, rows, {0: {"pos": (5, 5)}, 1: {"pos": (2, 2)}, 2: {"pos": (6, 3), "cry": True},
                                    3: {"pos": (5, 6)}}, food=[(1, 5), (8, 8)], predators=[(8, 2)])
    tr = {k: np.asarray(v) for k, v in tick_truth(state, params, np.arange(2), 2, 5).items()}
    assert (tr["baby_dx"][0], tr["baby_dy"][0], tr["baby_dist"][0]) == (-2, 1, 3)
    assert tr["baby_dir"][0] == 4  # W: |dx| > |dy|
    assert tr["baby_in_view"][0] == 1 and tr["baby_cry"][0] == 1
    assert tr["own_nearest"][0] == 0  # mother 1's baby (5, 6) is one cell from mother 0, hers is three
    assert tr["food_dist"][0] == 4 and tr["pred_near_baby"][0] == 1  # predator 2 rows, 1 col from her baby
    assert (tr["baby_dx"][1], tr["baby_dy"][1], tr["baby_dir"][1]) == (4, 3, 2)  # E
    assert tr["baby_in_view"][1] == 0 and tr["own_nearest"][1] == 0  # the other baby is 5 away, hers 7


def test_since_fed_restarts_at_each_feed():
    env = caredrive.make("Nursery-11x11")
    params = env.default_params
    rows = ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11]
    base = build_state(env, rows, {0: {"pos": (5, 5)}, 1: {"pos": (2, 2)}, 2: {"pos": (5, 6), "birth_tick": 2}})
    fed = [0, 1, 1, 2, 2, 2, 4]  # the feed at tick 1 came before this baby's birth at tick 2
    states = [base.replace(t=jnp.int32(i), log=base.log.replace(fed=base.log.fed.at[0].set(f))) for i, f in enumerate(fed)]
    states = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    tr = episode_truth(states, jnp.zeros((len(fed), env.num_agents), jnp.int32), params, np.arange(2), 2, 5)
    np.testing.assert_array_equal(np.asarray(tr["since_fed"][2:, 0]), [0, 0, 1, 2, 0])
    assert np.isnan(np.asarray(tr["since_fed"][:, 1])).all()  # mother 1's baby never born


def test_battery_worlds_share_one_compile_and_seeds_are_stacked(world, stacked):
    env, params, bat = world
    pol, keys, seqs = stacked
    before = _record._cache_size()
    foster = record(pol, env, bat.world_params(1), keys, steps=STEPS)  # the fixture compiled world 0
    assert _record._cache_size() == before
    train = flatten(seqs)
    assert set(np.unique(train.seed)) == {0, 1} and set(np.unique(train.episode)) == set(range(len(keys)))
    assert train.tick.max() == STEPS - 1
    assert np.isnan(foster.truth["baby_dx"]).all() and set(np.unique(foster.mother)) == {0}  # no baby of hers
    assert not np.isnan(train.truth["baby_dx"]).all()
    strided = flatten(dataclasses.replace(seqs, **{k: jax.tree.map(lambda x: x[:, :, ::2], getattr(seqs, k))
                                                    for k in ("acts", "truth", "alive")}, every=2))
    assert (strided.tick % 2 == 0).all() and strided.tick.max() == STEPS - 2


def test_replay_reproduces_each_seeds_activations(world, stacked):
    pol, _, seqs = stacked
    rec = flatten(seqs)
    for source in (0, 1):
        al = replay(pol, seqs, source=source)
        assert set(np.unique(al.seed)) == {0, 1}
        mine, theirs = al.select(al.seed == source), rec.select(rec.seed == source)
        np.testing.assert_array_equal(mine.episode, theirs.episode)
        for tap in rec.acts:
            np.testing.assert_allclose(mine.acts[tap], theirs.acts[tap], atol=2e-5, err_msg=tap)
        other = al.select(al.seed == 1 - source)
        np.testing.assert_array_equal(other.tick, mine.tick)
        assert not np.allclose(other.acts["gru"], mine.acts["gru"])  # the other seed's network, same inputs


def test_bad_input_is_one_clear_error(world, stacked):
    env, params, _ = world
    pol, keys, seqs = stacked
    with pytest.raises(ConfigError, match="unknown tap"):
        record(pol, env, params, keys, taps=("gru", "nope"))
    with pytest.raises(ConfigError, match="every"):
        record(pol, env, params, keys, every=0)
    with pytest.raises(ConfigError, match="NetworkPolicy"):
        record(lambda *a: None, env, params, keys)
    with pytest.raises(ConfigError, match="every tick"):
        replay(pol, dataclasses.replace(seqs, every=2))
    with pytest.raises(ConfigError, match="stacked"):
        replay(jax.tree.map(lambda x: x[0], pol), seqs)
