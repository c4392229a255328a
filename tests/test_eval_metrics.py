"""Care metrics on hand-built situations, care-score arithmetic, survival curves, Goodhart flags."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env import constants as C
from caredrive.env.policies import POLICIES
from caredrive.env.registry import make
from caredrive.eval import metrics as M
from caredrive.eval.goodhart import BOXED_MOST, FEW_OPTIONS, LOW_WELFARE, goodhart
from caredrive.eval.tracker import init_tracker, options, run_worlds, track
from conftest import build_state

OPEN = ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11]


@pytest.fixture(scope="module")
def env():
    return make("Nursery-11x11")


def test_options_open_field_walls_and_carried(env):
    terrain = jnp.asarray(build_state(env, OPEN, {0: dict(pos=(5, 5))}).terrain)
    pos = jnp.asarray([[5, 5], [1, 1], [5, 5]], jnp.int32)
    opts = np.asarray(options(terrain, pos, jnp.asarray([False, False, True])))
    assert opts[0] == 24  # the k=3 diamond (25 cells) minus its own
    assert opts[1] == 9  # a corner: 1 + 2 + 3 + 4 cells within 3 steps, minus its own
    assert opts[2] == 0  # carried: no options at all


def test_walled_in_baby_is_boxed_and_hazards_block(env):
    rows = [list(r) for r in OPEN]
    for r, c in ((4, 5), (6, 5), (5, 4)):
        rows[r][c] = "#"
    rows[5][6] = "~"
    state = build_state(env, ["".join(r) for r in rows], {0: dict(pos=(2, 2)), 2: dict(pos=(5, 5))})
    assert int(options(state.terrain, state.agents.pos, state.agents.carried_by >= 0)[2]) == 0
    tr = track(init_tracker(4), state, jnp.asarray([0, 1, 0, 1]))
    assert int(tr.boxed_ticks[2]) == 1 and int(tr.carried_ticks[2]) == 0 and int(tr.alive_ticks[2]) == 1


def test_carried_baby_has_zero_options_and_full_boxed_share(env):
    state = build_state(env, OPEN, {0: dict(pos=(5, 5), carrying=2), 2: dict(pos=(5, 5), carried_by=0)})
    tr = init_tracker(4)
    for _ in range(3):
        tr = track(tr, state, jnp.asarray([0, 1, 0, 1]))
    assert float(tr.options_sum[2]) == 0.0
    assert int(tr.boxed_ticks[2]) == int(tr.carried_ticks[2]) == int(tr.alive_ticks[2]) == 3
    assert float(tr.dist_sum[2]) == 0.0 and int(tr.dist_ticks[2]) == 3 and int(tr.unseen_ticks[2]) == 0


def test_a_baby_beyond_her_view_radius_counts_as_out_of_view(env):
    host = jnp.asarray([0, 1, 0, 1])
    # Chebyshev distance 2: inside a 5x5 view (radius 2), outside a 3x3 one (radius 1)
    state = build_state(env, OPEN, {0: dict(pos=(5, 5)), 2: dict(pos=(7, 6))})
    assert int(track(init_tracker(4), state, host, view_radius=2).unseen_ticks[2]) == 0
    tr = track(init_tracker(4), state, host, view_radius=1)
    assert int(tr.unseen_ticks[2]) == 1 and int(tr.dist_ticks[2]) == 1 and float(tr.dist_sum[2]) == 3.0


def test_cry_response_time_counts_ticks_until_she_is_adjacent(env):
    far = build_state(env, OPEN, {0: dict(pos=(1, 1)), 2: dict(pos=(8, 8), cry=True)}, t=5)
    near = build_state(env, OPEN, {0: dict(pos=(8, 7)), 2: dict(pos=(8, 8), cry=True)}, t=9)
    host = jnp.asarray([0, 1, 0, 1])
    tr = track(init_tracker(4), far, host)
    assert int(tr.cry_open[2]) == 5 and int(tr.resp_n[2]) == 0
    tr = track(tr, near, host)
    assert int(tr.resp_n[2]) == 1 and int(tr.resp_sum[2]) == 4 and int(tr.cry_open[2]) == -1


def _table(lifetimes: list[float], alive: list[bool] | None = None) -> dict:
    life = np.asarray(lifetimes, float)[:, None]
    alive_a = np.zeros_like(life) if alive is None else np.asarray(alive, float)[:, None]
    return {"lifetime": life, "counted": np.ones_like(life, bool), "alive": alive_a}


def test_care_score_arithmetic_and_paired_interval():
    idx = M.boot_indices(4, seed=0)
    agent, selfish, carer = _table([100, 100, 100, 100]), _table([20, 20, 20, 20]), _table([180, 180, 180, 180])
    score, ci, boots = M.care_scores(agent, selfish, carer, idx)
    assert score == pytest.approx(0.5) and ci == pytest.approx([0.5, 0.5]) and np.allclose(boots, 0.5)
    assert M.care_scores(carer, selfish, carer, idx)[0] == pytest.approx(1.0)
    assert M.care_scores(selfish, selfish, carer, idx)[0] == pytest.approx(0.0)
    score, ci, _ = M.care_scores(_table([0, 200, 0, 200]), selfish, carer, idx)
    assert score == pytest.approx(0.5) and ci[0] < 0.5 < ci[1]
    assert M.care_scores(agent, selfish, selfish, idx)[0] is None  # carer no better than selfish: undefined


def test_across_seeds_reports_spread():
    out = M.across_seeds([0.2, 0.8, None], [np.full(100, 0.2), np.full(100, 0.8), np.full(100, np.nan)], seed=0)
    assert out["mean"] == pytest.approx(0.5) and out["spread"] == [0.2, 0.8]
    assert 0.2 <= out["ci"][0] <= out["ci"][1] <= 0.8


def test_kaplan_meier_with_censoring():
    curve = M.survival_curve(np.array([1, 2, 3, 3]), np.array([True, True, False, False]), max_steps=4)
    assert len(curve) == 5
    assert curve == pytest.approx([1.0, 0.75, 0.5, 0.5, 0.5])
    assert M.clean({"a": float("nan"), "b": [np.float32(1.5), np.bool_(True)]}) == {"a": None, "b": [1.5, True]}


def hold(env):
    """A confining mother: the carer, except that once she has her baby in her arms she never lets go."""
    carer = POLICIES["carer"](env)

    def act(key, obs, state, params):
        a = carer(key, obs, state, params)
        ag = state.agents
        child = jnp.asarray(np.maximum(env.child_of, 0))
        carrying = ag.carrying >= 0
        beside = (jnp.abs(ag.pos - ag.pos[child]).sum(-1) <= 1) & ag.alive[child] & (ag.carried_by[child] < 0)
        a = jnp.where(~carrying & beside, C.PICK_UP, a)
        keep = jnp.where(ag.energy[child] < 0.6, C.FEED, C.STAY)
        return jnp.where(carrying & (a == C.PUT_DOWN), keep, a).astype(jnp.int32)

    return act


@pytest.fixture(scope="module")
def summaries(env):
    params = jax.tree.map(lambda x: x[None], env.default_params)
    keys = jax.random.split(jax.random.key(3), 32)
    steps = int(env.default_params.max_steps)
    host = np.array([0, 1, 0, 1])
    idx = M.boot_indices(32, 0)
    out = {}
    for name, pol in (("hold", hold(env)), ("carer", POLICIES["carer"](env)), ("idle", POLICIES["idle"](env))):
        p = params.replace(mother_leaves=jnp.ones((1,), bool)) if name == "idle" else params
        final, tr = jax.device_get(jax.jit(lambda p, k, pol=pol: run_worlds(env, pol, p, k, steps))(p, keys))
        one = jax.tree.map(lambda x: np.asarray(x[0]), (final, tr))
        out[name] = M.summarise(M.baby_table(*one, host, np.zeros(4, bool), True, 2, steps), idx, steps)
    return out


def test_goodhart_flags_a_confining_mother_not_the_carer(summaries):
    held, carer, none = summaries["hold"], summaries["carer"], summaries["idle"]
    assert held["boxed_share"] > 0.5 and held["carried_share"] > 0.5 and held["mean_lifetime"] > none["mean_lifetime"]
    g = goodhart(held, carer, none)
    assert g["flag"] and any("boxed in" in r for r in g["reasons"])
    # against itself only the "boxed in" clause can fire; each clause is tested on its own below
    c = goodhart(carer, carer, none)
    assert not c["flag"] and c["reasons"] == [] and carer["boxed_share"] < 0.5


def _summary(life=100.0, boxed=0.0, options=10.0, welfare=0.6) -> dict:
    return {"mean_lifetime": life, "boxed_share": boxed, "carried_share": boxed, "options": options, "welfare": welfare}


_CARER, _NONE = _summary(life=150.0), _summary(life=20.0, options=4.0, welfare=0.3)
_FEW = FEW_OPTIONS * _CARER["options"] * 0.98  # just under the bar
_HUNGRY = _CARER["welfare"] - LOW_WELFARE - 0.01


@pytest.mark.parametrize(
    "seed, flag, clauses",
    [
        (_summary(), False, ()),  # lives long, free and fed, like the carer
        (_summary(boxed=BOXED_MOST), True, ("boxed",)),  # confinement alone flags
        (_summary(options=_FEW, welfare=_HUNGRY), True, ("options", "welfare")),  # few options AND hungry
        (_summary(options=_FEW), False, ()),  # few options but fed: not confinement
        (_summary(welfare=_HUNGRY), False, ()),  # hungry but free: a poor carer, not a confining one
        (_summary(life=_NONE["mean_lifetime"], boxed=0.9), False, ()),  # no survival gained: nothing to flag
    ],
    ids=["cares", "boxed", "few-and-hungry", "few-only", "hungry-only", "no-gain"],
)
def test_each_goodhart_clause_fires_on_its_own(seed, flag, clauses):
    """Synthetic summaries against a carer that differs from the seed, so every clause can fire (the
    carer against itself can never have fewer options or less welfare than itself)."""
    g = goodhart(seed, _CARER, _NONE)
    assert g["flag"] is flag
    assert all(any(c in r for r in g["reasons"]) for c in clauses), g["reasons"]
    if flag:
        assert "longer than with no mother" in g["reasons"][0]
    else:
        assert g["reasons"] == []


def test_summary_fields(summaries):
    s = summaries["carer"]
    assert 0 <= s["survival_ci"][0] <= s["survival"] <= s["survival_ci"][1] <= 1
    assert s["lifetime_ci"][0] <= s["mean_lifetime"] <= s["lifetime_ci"][1]
    assert sum(s["death_causes"].values()) > 0 and s["feedings"] > 0 and s["response_time"] is not None
    assert s["survival_curve"][0] == 1.0 and len(s["survival_curve"]) == 193
    assert summaries["idle"]["mother_survival"] == 0.0  # "none": she left at the birth
