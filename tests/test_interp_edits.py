"""Edits of a network (caredrive.interp.edits) on a hand-wired mother whose rule is known (interp_planted):
ablations hit exactly the planted unit, stacks equal loops, overrides change the output as computed, and
bad input is one ConfigError line. Forward passes on hand-built states only: fast."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.interp import edits as E
from interp_planted import (
    DIRECTION_UNITS,
    FEED_UNIT,
    H,
    forward,
    planted_policy,
    planted_setup,
)

RIGHT_UNIT = DIRECTION_UNITS[C.RIGHT]


@pytest.fixture(scope="module")
def setup():
    return planted_setup()


def test_planted_mother_walks_to_her_baby_and_only_its_unit_lesion_stops_her(setup):
    _, _, policy, obs, _ = setup
    logits, acts = forward(policy, obs)
    assert int(jnp.argmax(logits[0])) == C.RIGHT
    assert float(acts["gru"][0, RIGHT_UNIT]) > 0.5
    lesioned, _ = forward(policy, obs, E.zero_edit(policy, "gru", RIGHT_UNIT))
    assert int(jnp.argmax(lesioned[0])) != C.RIGHT
    for u in range(H):
        if u != RIGHT_UNIT:
            other, _ = forward(policy, obs, E.zero_edit(policy, "gru", u))
            assert int(jnp.argmax(other[0])) == C.RIGHT, u


def test_a_stack_of_single_unit_edits_is_one_vmap_equal_to_the_loop(setup):
    _, _, policy, obs, _ = setup
    stacked = E.stacked_edits(policy, "gru")
    assert stacked["gru"].scale.shape == (H, H)
    batched = jax.vmap(lambda e: forward(policy, obs, e)[0])(stacked)
    for u in range(H):
        np.testing.assert_allclose(batched[u], forward(policy, obs, E.zero_edit(policy, "gru", u))[0], atol=1e-6)
    right = np.asarray(batched[:, 0, C.RIGHT])
    assert right[RIGHT_UNIT] < 0.01 and (np.delete(right, RIGHT_UNIT) > 3.0).all()


def test_mean_ablation_sets_the_unit_to_its_recorded_mean_and_leaves_the_rest(setup):
    _, _, policy, obs, _ = setup
    _, acts = forward(policy, obs)
    pool = np.random.default_rng(0).uniform(-1, 1, (50, H)).astype(np.float32)
    _, edited = forward(policy, obs, E.mean_edit(policy, "gru", [RIGHT_UNIT, 6], pool))
    np.testing.assert_allclose(edited["gru"][:, [RIGHT_UNIT, 6]], np.tile(pool.mean(0)[[RIGHT_UNIT, 6]], (2, 1)),
                               atol=1e-6)
    keep = [u for u in range(H) if u not in (RIGHT_UNIT, 6)]
    np.testing.assert_allclose(edited["gru"][:, keep], acts["gru"][:, keep], atol=1e-6)


def test_resample_draws_pool_rows_per_tick_and_agent_and_keeps_the_action_key(setup):
    env, params, policy, obs, state = setup
    pool = np.arange(4 * H, dtype=np.float32).reshape(4, H) + 100.0  # every row recognisable
    res = E.resampled(policy, "gru", [RIGHT_UNIT], pool)
    seen = set()
    for i in range(12):
        _, _, acts = res.record(jax.random.key(i), obs, state, params, res.init_carry())
        vals = np.asarray(acts["gru"][:, RIGHT_UNIT])
        assert set(vals.tolist()) <= set(pool[:, RIGHT_UNIT].tolist())
        seen.update(vals.tolist())
    assert len(seen) >= 3  # fresh draws, not one frozen value
    # an empty mask is the unlesioned mother, key use included (paired comparisons stay paired)
    idle = E.ResampledPolicy(policy, jnp.zeros(H), jnp.asarray(pool), "gru")
    stochastic = E.ResampledPolicy(planted_policy(env, greedy=False), jnp.zeros(H), jnp.asarray(pool), "gru")
    for i in range(4):
        k = jax.random.key(100 + i)
        a1, c1 = idle(k, obs, state, params, idle.init_carry())
        a0, c0 = policy(k, obs, state, params, policy.init_carry())
        assert (np.asarray(a1) == np.asarray(a0)).all() and np.allclose(c1, c0)
        s1, _ = stochastic(k, obs, state, params, stochastic.init_carry())
        s0, _ = stochastic.base(k, obs, state, params, stochastic.init_carry())
        assert (np.asarray(s1) == np.asarray(s0)).all()


def test_with_edit_composes_two_edits_of_one_tap(setup):
    _, _, policy, obs, _ = setup
    a = E.masked_edit("gru", np.eye(H)[1], 0.5)
    b = {"gru": E.UnitEdit(jnp.full(H, 2.0), jnp.full(H, 0.1))}
    both = E.with_edit(E.with_edit(policy, a), b)
    _, acts = forward(both, obs, both.edit)
    _, plain = forward(policy, obs)
    expect = np.asarray(plain["gru"]).copy()
    expect[:, 1] = 0.5
    np.testing.assert_allclose(acts["gru"], expect * 2.0 + 0.1, atol=1e-5)


def test_override_sets_scales_and_zeroes_a_named_weight_as_computed(setup):
    _, _, policy, obs, _ = setup
    logits, acts = forward(policy, obs)
    a = float(acts["pi0"][0, RIGHT_UNIT])
    w = E.override(policy.weights, f"pi1/kernel[{RIGHT_UNIT}, {C.RIGHT}]", "set", -3.0)
    new, _ = forward(dataclasses.replace(policy, weights=w), obs)
    assert float(new[0, C.RIGHT]) == pytest.approx(-3.0 * a, abs=1e-5)
    assert int(jnp.argmax(new[0])) == C.STAY
    halved = E.override(policy.weights, "pi1/kernel", "scale", 0.5)
    np.testing.assert_allclose(halved["params"]["pi1"]["kernel"], 0.5 * policy.weights["params"]["pi1"]["kernel"])
    col = E.override(policy.weights, "enc0/kernel[:, 3]", "zero")
    assert not np.asarray(col["params"]["enc0"]["kernel"][:, 3]).any()
    np.testing.assert_array_equal(col["params"]["enc0"]["kernel"][:, :3], policy.weights["params"]["enc0"]["kernel"][:, :3])
    vec = E.override(policy.weights, "gru/bh", "set", np.arange(3 * H))
    np.testing.assert_array_equal(vec["params"]["gru"]["bh"], np.arange(3 * H))
    assert policy.weights["params"]["pi1"]["kernel"][RIGHT_UNIT, C.RIGHT] == 4.0  # the original is untouched


def test_override_of_a_stacked_policy_hits_every_seed(setup):
    _, _, policy, _, _ = setup
    two = jax.tree.map(lambda x: jnp.stack([x, x + 1.0]), policy)
    out = E.override_policy(two, f"pi1/bias[{C.FEED}]", "set", 7.0)
    assert np.asarray(out.weights["params"]["pi1"]["bias"][:, C.FEED]).tolist() == [7.0, 7.0]
    assert E.member(out, 1).weights["params"]["pi1"]["bias"][C.STAY] == 2.0


def test_parse_override_reads_the_cli_forms():
    assert E.parse_override("gru/wh[:, 3]*=0.5") == ("gru/wh[:, 3]", "scale", 0.5)
    assert E.parse_override("pi1/bias[2]=0") == ("pi1/bias[2]", "zero", 0)
    assert E.parse_override("gru/bh = [1, 2]") == ("gru/bh", "set", [1, 2])


@pytest.mark.parametrize("call, words", [
    (lambda p: E.zero_edit(p, "gate_z", 0), "not editable"),
    (lambda p: E.zero_edit(p, "gru", H), "out of range"),
    (lambda p: E.zero_edit(p, "gru", []), "empty unit group"),
    (lambda p: E.mean_edit(p, "gru", 0, np.zeros(H + 1)), "expected (8,)"),
    (lambda p: E.stacked_edits(p, "enc0", values=np.zeros(3)), "expected (8,)"),
    (lambda p: E.resampled(p, "gru", 0, np.zeros((5, 3))), "expected recorded [N, 8]"),
    (lambda p: E.override(p.weights, "gru/wz", "set", 1.0), "unknown weight"),
    (lambda p: E.override(p.weights, "enc0", "set", 1.0), "unknown weight"),
    (lambda p: E.override(p.weights, "enc0/kernel[:, 99]", "set", 1.0), "out of range"),
    (lambda p: E.override(p.weights, "enc0/kernel[a]", "set", 1.0), "not an integer"),
    (lambda p: E.override(p.weights, "gru/bh", "set", np.zeros(H)), "shape"),
    (lambda p: E.override(p.weights, "gru/bh", "flip", 1.0), "unknown"),
    (lambda p: E.override(p.weights, "gru/bh", "set", None), "needs a value"),
    (lambda p: E.member(jax.tree.map(lambda x: jnp.stack([x, x]), p), 2), "out of range"),
    (lambda p: E.parse_override("gru/bh"), "PATH=VALUE"),
    (lambda p: E.parse_override("gru/bh=abc"), "not a number"),
])
def test_bad_input_is_one_config_error_line(setup, call, words):
    policy = setup[2]
    with pytest.raises(ConfigError) as err:
        call(policy)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_tap_widths_come_from_the_weights(setup):
    policy = setup[2]
    assert E.tap_width(policy, "input") == policy.weights["params"]["enc0"]["kernel"].shape[0]
    assert E.tap_width(policy, "logits") == C.NUM_ACTIONS and E.tap_width(policy, "gru") == H
    assert E.group_masks(H, [[0, 1], [FEED_UNIT]]).sum(1).tolist() == [2.0, 1.0]
    assert E.split_groups(H, 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]
