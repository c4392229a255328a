"""Steering (caredrive.interp.steer) on the hand-wired mother of interp_planted: a zero vector changes
nothing, the random control has the vector's norm, situations and difference-of-means read the recording
correctly, the cross-seed map recovers a planted relabelling of units; and (slow) a vector retargets her
nursing to a foster baby while equal-norm random vectors do not."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.interp import steer as S
from conftest import build_state
from interp_planted import (
    DIRECTION_UNITS,
    FEED_UNIT,
    ROWS,
    H,
    forward,
    planted_setup,
)

RIGHT_UNIT = DIRECTION_UNITS[C.RIGHT]


@pytest.fixture(scope="module")
def setup():
    return planted_setup()[:4]


def test_a_zero_vector_changes_nothing_and_a_planted_one_moves_the_logit_as_computed(setup):
    _, _, policy, obs = setup
    base, _ = forward(policy, obs)
    zero = S.steered(policy, "gru", np.zeros(H), alpha=5.0)
    out, _ = forward(zero, obs, zero.edit)
    np.testing.assert_array_equal(out, base)
    v = np.zeros(H, np.float32)
    v[RIGHT_UNIT] = -0.76  # cancels the right-detector's state tanh(1)
    pushed = S.steered(policy, "gru", v, alpha=1.0)
    out, acts = forward(pushed, obs, pushed.edit)
    assert abs(float(acts["gru"][0, RIGHT_UNIT])) < 0.01 and int(jnp.argmax(out[0])) == C.STAY


def test_random_controls_have_the_norm_of_the_vector():
    v = np.arange(H, dtype=np.float32) - 3.0
    r = S.random_like(v, 5, seed=1)
    assert r.shape == (5, H)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), np.linalg.norm(v), rtol=1e-5)
    assert np.abs(np.corrcoef(r)[np.triu_indices(5, 1)]).max() < 0.99  # different directions
    np.testing.assert_array_equal(r, S.random_like(v, 5, seed=1))
    assert not np.allclose(r, S.random_like(v, 5, seed=2))


def test_situations_and_difference_of_means_read_the_recording(setup):
    env, params, policy, _ = setup
    states = [
        build_state(env, ROWS, {0: {"pos": (5, 3)}, 2: {"pos": (5, 4), "cry": True}, 1: {"pos": (1, 1)}}),
        build_state(env, ROWS, {0: {"pos": (5, 3)}, 2: {"pos": (9, 9), "energy": 0.9}, 3: {"pos": (5, 4)},
                                1: {"pos": (1, 1)}}),
    ]
    obs = [env.observe(s, params) for s in states]
    stack = lambda xs: jax.tree.map(lambda *ys: np.stack([np.asarray(y) for y in ys])[None], *xs)  # [E=1, T=2]
    trace = {"state": stack(states), "obs": stack(obs)}
    m = S.situations(trace, env, params, policy.learners)
    assert m["own_view"][0, :, 0].tolist() == [True, False] and m["other_view"][0, :, 0].tolist() == [False, True]
    assert m["needs"][0, :, 0].tolist() == [True, False] and m["fine"][0, :, 0].tolist() == [False, True]
    acts = np.zeros((1, 2, 2, H), np.float32)
    acts[0, 0, 0] = 3.0
    acts[0, 1, 0] = 1.0
    np.testing.assert_allclose(S.diff_of_means(acts, m["own_view"], m["other_view"]), np.full(H, 2.0))
    with pytest.raises(ConfigError, match="no recorded ticks"):
        S.diff_of_means(acts, m["own_view"], np.zeros_like(m["own_view"]))


def test_a_wrong_shape_vector_is_one_line(setup):
    policy = setup[2]
    with pytest.raises(ConfigError, match=r"expected \(8,\)"):
        S.steered(policy, "gru", np.zeros(H + 1))
    with pytest.raises(ConfigError, match="not editable"):
        S.steered(policy, "gate_z", np.zeros(H))


def permuted(policy, perm: np.ndarray):
    """The same network with its hidden units relabelled by `perm` in every layer (a "seed" that computes
    exactly what `policy` does, in another unit order)."""
    p = jax.tree.map(np.asarray, policy.weights["params"])
    g = np.concatenate([perm, perm + H, perm + 2 * H])
    new = {
        "enc0": {"kernel": p["enc0"]["kernel"][:, perm], "bias": p["enc0"]["bias"][perm]},
        "enc1": {"kernel": p["enc1"]["kernel"][perm][:, perm], "bias": p["enc1"]["bias"][perm]},
        "gru": {"wi": {"kernel": p["gru"]["wi"]["kernel"][perm][:, g], "bias": p["gru"]["wi"]["bias"][g]},
                "wh": p["gru"]["wh"][perm][:, g], "bh": p["gru"]["bh"][g]},
        "pi0": {"kernel": p["pi0"]["kernel"][perm][:, perm], "bias": p["pi0"]["bias"][perm]},
        "pi1": {"kernel": p["pi1"]["kernel"][perm], "bias": p["pi1"]["bias"]},
        "v0": {"kernel": p["v0"]["kernel"][perm][:, perm], "bias": p["v0"]["bias"][perm]},
        "v1": {"kernel": p["v1"]["kernel"][perm], "bias": p["v1"]["bias"]},
    }
    return dataclasses.replace(policy, weights={"params": jax.tree.map(jnp.asarray, new)})


def test_the_linear_map_recovers_a_known_map():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((400, 6))
    true = rng.standard_normal((6, 4))
    m = S.linear_map(src, src @ true + 3.0, ridge=1e-6)
    np.testing.assert_allclose(m, true, atol=1e-3)


def test_transfer_through_the_map_finds_a_relabelled_seed(setup):
    env, params, policy, obs = setup
    perm = np.array([3, 7, 0, 5, 1, 6, 2, 4])
    other = permuted(policy, perm)
    a, _ = forward(policy, obs)
    b, acts_b = forward(other, obs)
    np.testing.assert_allclose(a, b, atol=1e-5)  # the same mother, units relabelled
    out = S.transfer(policy, other, env, params, "gru", episodes=4, seed=0, score=False)
    assert out["cos_mapped_vs_own"] > 0.95 and out["map_r2"] > 0.95
    assert out["cos_raw_vs_own"] < out["cos_mapped_vs_own"] - 0.2  # raw: the wrong units


@pytest.mark.slow
def test_a_vector_retargets_her_nursing_to_the_foster_and_random_vectors_do_not(setup):
    env, params, policy, _ = setup
    vec = S.concept_vectors(policy, env, params, "gru", episodes=8, seed=0)
    v = vec["own_vs_other"]
    assert v[FEED_UNIT] > 0 and vec["counts"]["other_view"] > 0
    out = S.retarget(policy, env, params, "gru", v, alpha=2.0, n_random=3, episodes=16, seed=0)
    foster = out["retarget"]["foster"]
    assert foster["unsteered"]["lifetime_vs_none"] == 0.0
    assert foster["steered"]["lifetime_vs_none"] > 5.0 and foster["steered"]["lifetime_vs_none_ci"][0] > 0
    assert all(abs(x) < foster["steered"]["lifetime_vs_none"] / 2 for x in foster["random_lifetime_vs_none"])
    assert out["norm"] == pytest.approx(2.0 * np.linalg.norm(v), rel=1e-5)
    assert set(out["all"]) == {"none", "steered", "subtracted", "random_0", "random_1", "random_2"}
    assert out["switch_off"]["self_survival"]["drop_vs_none"] == pytest.approx(0.0, abs=1.0)
