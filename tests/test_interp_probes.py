"""Probes (caredrive.interp.probes, interp.seed_transfer): they find what is planted, the controls do not,
the split is by episode, the closed-form ridge is scikit-learn's ridge."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import caredrive
from caredrive.agents.networks import ActorCritic
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.interp.over_training import probes_over_training
from caredrive.interp.probes import (
    Layout,
    ProbeConfig,
    fit_probes,
    moments,
    probe,
    shuffled_across_episodes,
    solve,
    split_episodes,
)
from caredrive.interp.record import Recording, fresh_policy, record
from caredrive.interp.seed_transfer import probe_transfer
from caredrive.train.policy import NetworkPolicy

DX_UNIT, VIEW_UNIT = 3, 4


def make_policy(env, seeds: int, hidden: int = 8) -> NetworkPolicy:
    mask = env.mothers
    base = NetworkPolicy(weights=None, net=ActorCritic(num_actions=C.NUM_ACTIONS, hidden=hidden, num_roles=2),
                         learners=tuple(int(i) for i in np.nonzero(mask)[0]),
                         roles=tuple(int(r) for r in env.roles_at_start[mask]), num_agents=env.num_agents)
    return fresh_policy(base, jax.random.key(0), seeds=seeds, env=env)


def plant(weights: dict, v: int) -> dict:
    """enc0 of seed 0 hand-wired: unit 3 = her baby's column offset + 4 when it is in view (the own-child
    channel weighted by its column relative to the centre), unit 4 = the own-child channel summed (baby in
    view); every other enc0 unit near 0 (weights 0.01 x noise). Seed 1 stays an untouched random network."""
    k = np.array(weights["params"]["enc0"]["kernel"])  # [S, D, H]
    b = np.array(weights["params"]["enc0"]["bias"])
    k[0] = 0.01 * np.random.default_rng(0).standard_normal(k[0].shape)
    k[0, :, [DX_UNIT, VIEW_UNIT]] = 0.0
    b[0] = 0.0
    for i in range(v):
        for j in range(v):
            row = (i * v + j) * C.NUM_CHANNELS + C.CH_OWN_CHILD
            k[0, row, DX_UNIT] = j - v // 2
            k[0, row, VIEW_UNIT] = 1.0
    b[0, DX_UNIT] = 4.0
    enc0 = {"kernel": jnp.asarray(k), "bias": jnp.asarray(b)}
    return {"params": {**weights["params"], "enc0": enc0}}


@pytest.fixture(scope="module")
def planted():
    env = caredrive.make("Nursery-11x11")
    pol = make_policy(env, seeds=2)
    pol = dataclasses.replace(pol, weights=plant(pol.weights, env.config.view_size))
    rec = record(pol, env, env.default_params, jax.random.split(jax.random.key(7), 24), steps=64)
    return rec


def test_planted_unit_is_found_and_controls_are_not(planted):
    rec = planted
    assert np.allclose(rec.acts["enc0"][rec.seed == 0][:, DX_UNIT][rec.truth["baby_in_view"][rec.seed == 0] == 0], 4.0)
    in_view = rec.select(rec.truth["baby_in_view"] == 1)
    acts = dict(in_view.acts, unit3=in_view.acts["enc0"][:, DX_UNIT:DX_UNIT + 1], unit0=in_view.acts["enc0"][:, :1])
    rec3 = Recording(acts, in_view.truth, in_view.seed, in_view.episode, in_view.tick, in_view.mother)
    out = probe(rec3, ProbeConfig(targets=("baby_dx", "baby_energy"), taps=("enc0", "unit3", "unit0")))
    json.dumps(out, allow_nan=False)
    planted_, random_ = out["seeds"]["0"], out["seeds"]["1"]
    dx = planted_["enc0"]["baby_dx"]
    assert dx["score"] > 0.95 and dx["n_test"] > 30
    assert dx["shuffled"] < 0.3  # labels of other episodes at the same tick: nothing to find
    assert dx["raw_obs"] > 0.85 and dx["gain_over_raw"] < 0.1  # dx is linear in the input: little gain
    assert planted_["unit3"]["baby_dx"]["score"] > 0.95  # one unit carries it ...
    assert planted_["unit0"]["baby_dx"]["score"] < 0.3  # ... and a noise unit does not
    assert random_["enc0"]["baby_dx"]["score"] < dx["score"] - 0.2  # an untouched random network: lower
    assert planted_["enc0"]["baby_energy"]["score"] < 0.5  # nothing planted for the hidden energy


def test_planted_class_is_found_beside_chance(planted):
    out = probe(planted, ProbeConfig(targets=("baby_in_view", "action"), taps=("enc0",)))
    view = out["seeds"]["0"]["enc0"]["baby_in_view"]
    assert view["score"] > 0.97 and view["score"] > view["chance"] + 0.1 and view["score"] > view["shuffled"] + 0.1
    assert out["targets"]["baby_in_view"]["metric"] == "accuracy"
    assert set(out["seeds"]["0"]) == {"enc0", "input"}


def test_split_is_by_episode(planted):
    cfg = ProbeConfig()
    parts = split_episodes(planted.episode, cfg)
    ids = [set(v.tolist()) for v in parts.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(ids) for b in ids[i + 1:])
    assert set().union(*ids) == set(np.unique(planted.episode).tolist()) and len(parts["test"]) == 6
    out = probe(planted, ProbeConfig(targets=("baby_dist",), taps=("gru",)))
    r = out["seeds"]["0"]["gru"]["baby_dist"]
    mine = (planted.seed == 0) & ~np.isnan(planted.truth["baby_dist"])
    assert r["n_test"] == (mine & np.isin(planted.episode, parts["test"])).sum()
    assert r["n_train"] + r["n_test"] == mine.sum()


def test_shuffled_labels_keep_the_tick_and_change_the_episode(planted):
    parts = split_episodes(planted.episode, ProbeConfig())
    lab = np.stack([planted.tick, planted.episode], 1).astype(np.float32)
    sh = shuffled_across_episodes(planted, lab, parts, seed=0)
    ok = ~np.isnan(sh[:, 0])
    assert ok.mean() > 0.5
    np.testing.assert_array_equal(sh[ok, 0], planted.tick[ok])
    assert (sh[ok, 1] != planted.episode[ok]).mean() > 0.5
    for ids in parts.values():  # the partner episode is in the same part of the split
        mine = ok & np.isin(planted.episode, ids)
        assert np.isin(sh[mine, 1], ids).all()


def test_closed_form_ridge_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 5)).astype(np.float32) * [1, 2, 3, 0.5, 1] + 3
    y = (x @ [1.0, -2.0, 0.5, 0.0, 3.0] + rng.standard_normal(400)).astype(np.float32)
    w_in = (np.arange(400) < 300).astype(np.float32)
    w_val = 1 - w_in
    lay = Layout.of(("baby_dx",))
    y_k = np.zeros((400, lay.cols.shape[0]), np.float32)
    y_k[:, 0] = y
    lam = 0.3
    stats, m_in, m_val = jax.device_get(moments(x[None], y_k[None], w_in[None], w_val[None]))
    pick = lambda t: tuple(a[0] for a in t)
    mu, sd, xbar, ybar, w = solve(pick(stats), pick(m_in), pick(m_val), np.asarray([lam]), lay.cols)
    xs = (x - x.mean(0)) / x.std(0)
    ref = sklearn.Ridge(alpha=lam * 400).fit(xs, y)
    np.testing.assert_allclose(w[:, 0], ref.coef_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(((x - mu) / sd - xbar) @ w[:, 0] + ybar[0], ref.predict(xs), rtol=1e-4, atol=1e-3)
    # the penalty grid is chosen on validation: a huge penalty loses to a small one on clean data
    probes = fit_probes(x[None], y_k[None], w_in[None], w_val[None], np.asarray([1e-4, 1e3]), lay.cols)
    ols = sklearn.LinearRegression().fit(xs, y)
    assert np.abs(np.asarray(probes[4])[0, :, 0] - ols.coef_).max() < 0.01


def _synthetic(rotate: np.ndarray, n_ep: int = 20, ticks: int = 30):
    """Two 'seeds' on the same rows: seed 1's units are seed 0's rotated; the target is linear in seed 0's."""
    rng = np.random.default_rng(1)
    n = n_ep * ticks
    h = rng.standard_normal((n, 6)).astype(np.float32)
    y = 2 * h[:, 0] - h[:, 1] + 0.1 * rng.standard_normal(n).astype(np.float32)
    ep, tick = np.repeat(np.arange(n_ep), ticks), np.tile(np.arange(ticks), n_ep)
    cat = lambda a, b: np.concatenate([a, b])
    return Recording({"h": cat(h, h @ rotate)}, {"baby_dx": cat(y, y)}, np.repeat([0, 1], n).astype(np.int32),
                     cat(ep, ep), cat(tick, tick), np.zeros(2 * n, np.int32))


def test_probe_transfer_raw_fails_and_mapped_recovers_a_rotation():
    q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((6, 6)))
    out = probe_transfer(_synthetic(q.astype(np.float32)), ProbeConfig(targets=("baby_dx",)), taps=("h",))
    r = out["taps"]["h"]["baby_dx"]
    assert min(r["own"]) > 0.95
    assert r["raw"][0][1] < 0.5 and r["raw"][1][0] < 0.5  # another basis: the direction does not carry over
    assert r["mapped"][0][1] > 0.95 and r["mapped"][1][0] > 0.95  # up to a linear map it does
    assert r["raw"][0][0] == r["own"][0] and r["mapped_mean_off_diagonal"] > 0.95
    json.dumps(out, allow_nan=False)


def test_bad_probe_input_is_one_clear_error(planted):
    with pytest.raises(ConfigError, match="unknown probe target"):
        probe(planted, ProbeConfig(targets=("baby_mood",)))
    with pytest.raises(ConfigError, match="not in the recording"):
        probe(planted, ProbeConfig(taps=("enc9",)))
    with pytest.raises(ConfigError, match="aligned"):
        probe_transfer(planted.select((planted.seed == 0) | (planted.tick < 20)))


@pytest.mark.slow
def test_probes_over_training_on_a_tiny_run(tmp_path):
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "caredrive.cli", "train", "--preset", "tiny", "--out", str(run),
                    "--eval-episodes", "0", "--no-progress"], check=True, capture_output=True)
    out = probes_over_training(run, episodes=6, every=4, cfg=ProbeConfig(targets=("baby_dist",), taps=("gru",)))
    json.dumps(out, allow_nan=False)
    assert out["updates"][0] == 0 and len(out["updates"]) >= 3 and out["updates"] == sorted(out["updates"])
    score = out["series"]["gru"]["baby_dist"]["score"]
    assert len(score) == len(out["updates"]) and all(len(v) == 2 for v in score)  # [snapshot][seed]
    assert set(out["series"]) == {"gru", "input"}
    shutil.rmtree(run / "snapshots")
    with pytest.raises(ConfigError, match="no weight snapshots"):
        probes_over_training(run)
    with pytest.raises(ConfigError, match="not a run directory"):
        probes_over_training(tmp_path / "nope")
