"""Lesion sweeps (caredrive.interp.lesions) on the hand-wired mother of interp_planted: she walks to her
baby and nurses it when it cries (unit 4), and her own survival never depends on a baby unit. The sweep
must find unit 4 as the lesion that kills care but spares self-survival, flag nothing else, and run the
whole single-unit sweep as one compile."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from caredrive.errors import ConfigError
from caredrive.eval.score import make_bench, self_survival
from caredrive.interp import edits as E
from caredrive.interp import lesions as L
from interp_planted import FEED_UNIT, H, planted_policy, planted_world

EPISODES = 16


@pytest.fixture(scope="module")
def world():
    env, params = planted_world()
    return env, params, planted_policy(env), make_bench(env, params, names=("train",), episodes=EPISODES, seed=0)


@pytest.fixture(scope="module")
def sweep(world):
    env, params, policy, bench = world
    before = L.TRACES[("zero", "gru")]
    out = L.lesion_sweep(policy, env, params, "zero", "gru", units=[[u] for u in range(H)] + [[0, 1, 2, 3]],
                         bench=bench)
    return out, L.TRACES[("zero", "gru")] - before


def test_the_sweep_finds_the_planted_care_unit_and_nothing_else(sweep):
    out, _ = sweep
    assert out["base"]["care_score"] > 0.9  # the planted mother cares (as well as the scripted carer here)
    rows = out["lesions"]
    assert [r["units"] for r in rows[:H]] == [[u] for u in range(H)]
    feed = rows[FEED_UNIT]
    assert feed["care_drop"] > 0.8 and feed["care_drop_ci"][0] > 0.5
    assert feed["self_drop"] == 0.0  # with no baby, a baby unit is never active
    assert out["care_specific"] == [FEED_UNIT]
    for u in (5, 6, 7):  # energy and noise units: nothing lost
        assert rows[u]["care_drop"] == pytest.approx(0.0, abs=1e-9)
    assert rows[H]["units"] == [0, 1, 2, 3] and rows[H]["care_drop"] > 0.0  # walking to her baby matters a bit
    assert out["thresholds"] == {"care_drop": 0.5, "care_ci_low": 0.0, "self_drop_rel": 0.1}


def test_the_whole_sweep_is_one_compile_and_a_second_sweep_reuses_it(world, sweep):
    env, params, policy, bench = world
    assert sweep[1] == 1
    before = L.TRACES[("zero", "gru")]
    again = L.lesion_sweep(policy, env, params, "zero", "gru", units=[[u] for u in reversed(range(H))] + [[4, 5]],
                           bench=bench)
    assert L.TRACES[("zero", "gru")] == before  # same shapes: no retrace, no compile
    assert again["lesions"][H - 1 - FEED_UNIT]["care_drop"] == sweep[0]["lesions"][FEED_UNIT]["care_drop"]


@pytest.mark.slow
def test_self_survival_matches_the_scoring_seam(world, sweep):
    env, params, policy, _ = world
    seam = self_survival(env, params, policy, episodes=EPISODES, seed=0)[0]
    assert sweep[0]["base"]["self_lifetime"] == pytest.approx(seam["mean_lifetime"])


def test_thresholds_live_in_one_place():
    t = L.Thresholds()
    row = {"care_drop": 0.6, "care_drop_ci": [0.1, 0.9], "self_drop": 5.0, "self_drop_ci": [-1.0, 9.0],
           "self_drop_rel": 0.3}
    assert t.care_specific(row)  # self drop's interval holds 0
    assert not t.care_specific({**row, "self_drop_ci": [2.0, 9.0]})  # 30% and clearly > 0
    assert t.care_specific({**row, "self_drop_ci": [2.0, 9.0], "self_drop_rel": 0.05})
    assert not t.care_specific({**row, "care_drop_ci": [-0.1, 0.9]})
    assert not t.care_specific({**row, "care_drop": None, "care_drop_ci": None})


@pytest.mark.parametrize("kw, words", [({"kind": "shuffle"}, "ablation kind"), ({"tap": "gate_r"}, "not editable"),
                                       ({"units": [H]}, "out of range")])
def test_bad_input_is_one_line_before_any_rollout(world, kw, words):
    env, params, policy, bench = world
    with pytest.raises(ConfigError, match=words):
        L.lesion_sweep(policy, env, params, **{"kind": "zero", "tap": "gru", **kw}, bench=bench)
    with pytest.raises(ConfigError, match="world and env_params"):
        L.lesion_sweep(policy)


@pytest.mark.slow
def test_resample_and_mean_ablation_depend_on_the_pool_they_draw_from(world, sweep):
    """Unit 4 is on for about half of her recorded ticks (beside a crying baby): resampling it from her own
    recording keeps her nursing at random, and care mostly survives; drawn from a world without a baby
    (where it is never on) the same lesion kills care. The unlesioned row is the same mother whatever the kind."""
    env, params, policy, bench = world
    tp = bench.battery.world_params(0)
    empty = E.record(policy, bench.battery.env, tp.replace(births_per_life=jnp.zeros_like(tp.births_per_life)), 4, 5)
    no_baby = E.pool_of(empty, "gru", policy.learners)
    assert no_baby[:, FEED_UNIT].max() == 0.0
    zero_drop = sweep[0]["lesions"][FEED_UNIT]["care_drop"]
    for kind in ("resample", "mean"):
        own = L.lesion_sweep(policy, env, params, kind, "gru", units=[[FEED_UNIT], [6]], bench=bench, pool_episodes=4)
        assert own["base"] == sweep[0]["base"]
        assert own["lesions"][0]["care_drop"] < zero_drop and abs(own["lesions"][1]["care_drop"]) < 1e-9
        other = L.lesion_sweep(policy, env, params, kind, "gru", units=[[FEED_UNIT], [6]], bench=bench, pool=no_baby)
        assert other["lesions"][0]["care_drop"] > 0.9 and other["care_specific"] == [0]
