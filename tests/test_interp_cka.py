"""Linear CKA (caredrive.interp.cka): 1 for identical and rotated representations, far less once the
rows are misaligned, and the report's baselines on replayed networks."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import caredrive
from caredrive.agents.networks import ActorCritic
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.interp.cka import cka_blocks, cka_matrix, cka_report, linear_cka
from caredrive.interp.record import fresh_policy, record_sequences, replay
from caredrive.train.policy import NetworkPolicy


def _data(n=2000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    return (z @ rng.standard_normal((3, d)) + 0.3 * rng.standard_normal((n, d))).astype(np.float32)


def test_cka_is_one_for_the_same_and_rotated_units_and_low_without_alignment():
    x = _data()
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    assert float(linear_cka(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(linear_cka(x, x @ q.astype(np.float32))) == pytest.approx(1.0, abs=1e-4)  # units rotated
    assert float(linear_cka(x, 3.0 * x[:, ::-1] + 2.0)) == pytest.approx(1.0, abs=1e-5)  # permuted, scaled, shifted
    shuffled = x[np.random.default_rng(2).permutation(len(x))]
    assert float(linear_cka(x, shuffled)) < 0.05  # the same network with its rows out of line
    other = _data(seed=5)
    assert float(linear_cka(x, other)) < 0.2
    blocks = [x, x @ q.astype(np.float32), shuffled, other[:, :3]]
    mat = cka_blocks(blocks, blocks)
    ref = np.array([[float(linear_cka(a, b)) for b in blocks] for a in blocks])
    np.testing.assert_allclose(mat, ref, atol=1e-4)
    np.testing.assert_allclose(mat, mat.T, atol=1e-5)


@pytest.fixture(scope="module")
def replayed():
    env = caredrive.make("Nursery-11x11")
    mask = env.mothers
    base = NetworkPolicy(weights=None, net=ActorCritic(num_actions=C.NUM_ACTIONS, hidden=8, num_roles=2),
                         learners=tuple(int(i) for i in np.nonzero(mask)[0]),
                         roles=tuple(int(r) for r in env.roles_at_start[mask]), num_agents=env.num_agents)
    pol = fresh_policy(base, jax.random.key(0), seeds=3, env=env)
    # seed 1 is a copy of seed 0: identical networks must score 1 on the same inputs
    pol = dataclasses.replace(pol, weights=jax.tree.map(lambda w: w.at[1].set(w[0]), pol.weights))
    seqs = record_sequences(pol, env, env.default_params, jax.random.split(jax.random.key(4), 6), steps=40)
    return replay(pol, seqs, source=2), replay(fresh_policy(pol, jax.random.key(9)), seqs, source=2)


def test_report_on_replayed_networks(replayed):
    trained, untrained = replayed
    taps = ("enc0", "gru", "logits")
    out = cka_report(trained, untrained, taps=taps, max_rows=300)
    json.dumps(out, allow_nan=False)
    assert out["rows"] == 300 and len(out["matrix"]) == 9 and out["labels"][3] == "seed1/enc0"
    m = np.asarray(out["matrix"]).reshape(3, 3, 3, 3)
    same = np.asarray(out["same_tap"]["trained"])  # [tap, seed, seed]
    for k in range(3):
        assert m[0, k, 1, k] == pytest.approx(1.0, abs=1e-4)  # seed 1 = seed 0
        assert same[k, 0, 1] == pytest.approx(1.0, abs=1e-4) and same[k, 2, 2] == pytest.approx(1.0, abs=1e-4)
        rows = np.asarray(out["same_tap"]["control_rows"])[k]
        assert rows[0, 0] < 0.5 * same[k, 0, 0]  # a network vs itself, rows out of line: far less
    for tap in taps:
        s = out["summary"][tap]
        assert set(s) == {"trained", "untrained", "trained_vs_untrained", "control_rows", "control_episodes"}
        assert s["control_rows"] < s["untrained"]
    full = cka_matrix(trained, taps=("gru",))  # every row: seed 1 is still seed 0
    np.testing.assert_allclose(np.diag(full), 1.0, atol=1e-4)
    assert full[0, 1] == pytest.approx(1.0, abs=1e-4) and full[0, 2] < 0.999


def test_cka_needs_aligned_rows(replayed):
    trained, untrained = replayed
    with pytest.raises(ConfigError, match="aligned"):
        cka_matrix(trained.select((trained.seed == 0) | (trained.tick < 10)))
    with pytest.raises(ConfigError, match="not in the recording"):
        cka_matrix(trained, taps=("enc7",))
    with pytest.raises(ConfigError, match="same recording"):
        cka_report(trained, untrained.select(untrained.tick < 10))
