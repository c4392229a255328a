"""Activation patching (caredrive.interp.patching) on the hand-wired mother of interp_planted: patching the
planted unit from the clean run into the corrupted one restores the logit difference toward her baby,
patching any other unit does not; the matched pairs are built from states by the env's own observe."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.interp import edits as E
from caredrive.interp import patching as P
from conftest import build_state
from interp_planted import DIRECTION_UNITS, FEED_UNIT, H, planted_policy, planted_world

ROWS = ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11]
RIGHT_UNIT = DIRECTION_UNITS[C.RIGHT]


def trace_of(states, hidden: int = H, learners: int = 2):
    """A recording-shaped dict (leaves [E, T=1, ...]) of hand-built states, fresh memory."""
    stacked = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs])[:, None], *states)
    e = len(states)
    a = stacked.agents.alive.shape[-1]
    return {"state": stacked, "carry": np.zeros((e, 1, learners, hidden), np.float32),
            "actions": np.zeros((e, 1, a), np.int32)}


@pytest.fixture(scope="module")
def setup():
    env, params = planted_world()
    policy = planted_policy(env)
    right = build_state(env, ROWS, {0: {"pos": (5, 3)}, 2: {"pos": (5, 5)}, 1: {"pos": (1, 1)}, 3: {"pos": (1, 1)}},
                        t=3)  # her baby two cells right; mother 1's baby on her cell: no pair for her
    crying = build_state(env, ROWS, {0: {"pos": (5, 3)}, 2: {"pos": (5, 4), "cry": False}, 1: {"pos": (1, 1)},
                                     3: {"pos": (1, 1)}}, t=3)  # her baby next to her (cry set per pair)
    return env, params, policy, right, crying


def by_group(rows):
    return {r["group"]: r["restored"] for r in rows}


def test_toward_is_the_move_that_shrinks_the_larger_gap():
    gaps = np.array([[0, 2], [-3, 1], [1, -1], [0, -1], [2, 2]])
    assert P.toward_action(gaps).tolist() == [C.RIGHT, C.UP, C.DOWN, C.LEFT, C.DOWN]


def test_patching_her_baby_unit_restores_the_move_toward_her_baby(setup):
    env, params, policy, right, _ = setup
    pairs = P.matched_pairs(env, params, trace_of([right]), policy, "own_vs_other")
    assert pairs.n == 1 and pairs.toward.tolist() == [C.RIGHT]
    assert pairs.clean.view[0, ..., C.CH_OWN_CHILD].sum() == 1 and pairs.corrupt.view[0, ..., C.CH_OWN_CHILD].sum() == 0
    assert pairs.corrupt.view[0, ..., C.CH_OTHER_BABY].sum() == 1  # the same baby, now drawn as another's
    out = P.patch_sweep(policy, pairs, taps=("enc0", "gru", "pi0", "v0"), groups=("all", "units", "top1"))
    assert out["gap"] > 3.0  # the label is what sends her right
    for tap in ("enc0", "gru", "pi0"):
        g = by_group(out["taps"][tap])
        # the noise units (6, 7) read every channel, so they carry a sliver of the difference too
        assert g[f"unit {RIGHT_UNIT}"] == pytest.approx(1.0, abs=1e-2) and g["all"] == pytest.approx(1.0, abs=1e-5)
        assert g["top1"] == g[f"unit {RIGHT_UNIT}"]
        assert all(abs(g[f"unit {u}"]) < 1e-2 for u in range(H) if u != RIGHT_UNIT)
    assert all(abs(r["restored"]) < 1e-4 for r in out["taps"]["v0"])  # the value head moves no action


def test_patching_the_cry_unit_restores_the_cry_effect(setup):
    env, params, policy, _, crying = setup
    pairs = P.matched_pairs(env, params, trace_of([crying]), policy, "cry_vs_quiet")
    assert pairs.n == 1
    cry = C.BODY_FEATURES.index("cry")
    assert pairs.clean.body[0, cry] == 1.0 and pairs.corrupt.body[0, cry] == 0.0
    out = P.patch_sweep(policy, pairs, taps=("gru",), groups=("units", "halves"))
    # crying next to her makes her nurse instead of stepping toward it: a negative gap, restored by unit 4
    assert out["gap"] < -0.5  # FEED rises by ~7.3, so the mean of the other logits by ~0.9
    g = by_group(out["taps"]["gru"])
    assert g[f"unit {FEED_UNIT}"] == pytest.approx(1.0, abs=2e-2) and g["half 1"] == pytest.approx(1.0, abs=1e-5)
    assert abs(g["half 0"]) < 1e-5 and all(abs(g[f"unit {u}"]) < 2e-2 for u in range(H) if u != FEED_UNIT)


def test_predator_pairs_put_a_predator_next_to_her_baby(setup):
    env, params, policy, right, _ = setup
    pairs = P.matched_pairs(env, params, trace_of([right]), policy, "predator_vs_none")
    assert pairs.n == 1
    assert pairs.clean.view[0, ..., C.CH_PREDATOR].sum() == 1 and pairs.corrupt.view[0, ..., C.CH_PREDATOR].sum() == 0
    out = P.patch_sweep(policy, pairs, taps=("gru",), groups=("all",))
    assert out["taps"]["gru"][0]["restored"] == pytest.approx(1.0, abs=1e-3)  # the whole state carries it


def test_patch_vector_is_the_mean_clean_minus_corrupted_activation(setup):
    env, params, policy, right, _ = setup
    pairs = P.matched_pairs(env, params, trace_of([right, right]), policy, "own_vs_other")
    v = P.patch_vector(policy, pairs, "gru")
    assert v.shape == (H,) and v[RIGHT_UNIT] > 0.5 and np.abs(np.delete(v, RIGHT_UNIT)).max() < 0.05
    # the constant shift moves the corrupted run back toward her baby
    shifted = E.with_edit(policy, {"gru": E.UnitEdit(np.ones(H, np.float32), v)})
    logits, _ = P.forward(shifted, pairs.corrupt, pairs.carry, pairs.reset, pairs.role)
    assert int(np.argmax(logits[0])) == C.RIGHT


def test_pairs_from_a_recorded_rollout_use_her_memory(setup):
    env, params, policy, _, _ = setup
    short = params.replace(max_steps=24)
    trace = E.record(policy, env, short, episodes=2, seed=0, steps=24)
    pairs = P.matched_pairs(env, short, trace, policy, "cry_vs_quiet")
    assert pairs.n > 0 and pairs.carry.shape == (pairs.n, H) and np.abs(pairs.carry).sum() > 0
    assert set(np.unique(pairs.episode)) <= {0, 1}
    # the clean side of an own-vs-other pair is the recorded tick itself: same observation, same memory,
    # so the same logits as the rollout had
    own = P.matched_pairs(env, short, trace, policy, "own_vs_other")
    logits, _ = P.forward(policy, own.clean, own.carry, own.reset, own.role)
    recorded = trace["acts"]["logits"][own.episode, own.tick, own.learner]
    np.testing.assert_allclose(logits, recorded, atol=1e-5)
    out = P.patch_sweep(policy, pairs, taps=("gru",), groups=("all",))
    assert out["pairs"] == pairs.n and out["taps"]["gru"][0]["restored"] == pytest.approx(1.0, abs=1e-3)


def test_no_episode_outcome_is_claimed_where_the_situation_comes_and_goes(setup):
    env, params, policy, _, crying = setup
    pairs = P.matched_pairs(env, params, trace_of([crying]), policy, "cry_vs_quiet")
    out = P.episode_effect(policy, env, params, pairs)
    assert out["outcome"] is None and "every tick" in out["why"]


def test_bad_input_is_one_line(setup):
    env, params, policy, right, _ = setup
    with pytest.raises(ConfigError, match="pair kind"):
        P.matched_pairs(env, params, trace_of([right]), policy, "hunger")
    lonely = build_state(env, ROWS, {0: {"pos": (5, 3)}, 1: {"pos": (1, 1)}})
    with pytest.raises(ConfigError, match="no own_vs_other pairs"):
        P.matched_pairs(env, params, trace_of([lonely]), policy, "own_vs_other")
    with pytest.raises(ConfigError, match="label_own_baby=False"):
        P.matched_pairs(env, params.replace(label_own_baby=False), trace_of([right]), policy, "own_vs_other")
    pairs = P.matched_pairs(env, params, trace_of([right]), policy, "own_vs_other")
    with pytest.raises(ConfigError, match="unit group"):
        P.patch_sweep(policy, pairs, taps=("gru",), groups=("thirds",))
    with pytest.raises(ConfigError, match="not editable"):
        P.patch_sweep(policy, pairs, taps=("gate_n",))
