"""The PettingZoo adapter: PettingZoo's own API suite, spaces, who is an agent, seeding, rendering."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import caredrive
from caredrive.env import constants as C
from caredrive.env.pettingzoo import NurseryParallelEnv
from caredrive.env.render import render_rgb
from caredrive.errors import ConfigError


@pytest.fixture(scope="module")
def scripted():
    """Default world: scripted babies, so only the mothers are agents (compiled once per module)."""
    return caredrive.make("Nursery-11x11")


@pytest.fixture(scope="module")
def external():
    """Babies acted for by the caller, reborn up to 3 times: babies join at birth, each life is a new agent."""
    return caredrive.make("Nursery-Rebirth-11x11", baby_brain="external", n_predators=2, predator_damage_baby=0.5)


def _params(env, **kw):
    p = env.default_params
    return p.replace(**{k: jnp.asarray(v, getattr(p, k).dtype) for k, v in kw.items()})


def _random_episode(pz: NurseryParallelEnv, seed: int, max_steps: int = 400):
    """Play one seeded episode with seeded random actions; return the per-step records."""
    rng = np.random.default_rng(seed)
    obs, infos = pz.reset(seed=seed)
    records = [(sorted(obs), {a: o["body"].copy() for a, o in obs.items()})]
    for _ in range(max_steps):
        if not pz.agents:
            break
        actions = {a: int(rng.integers(C.NUM_ACTIONS)) for a in pz.agents}
        obs, rew, term, trunc, info = pz.step(actions)
        records.append((sorted(obs), {a: o["body"].copy() for a, o in obs.items()}, rew, term, trunc))
    return records


def test_parallel_api_scripted_babies(scripted):
    pz = NurseryParallelEnv(scripted)
    assert pz.possible_agents == ["mother_0", "mother_1"]  # scripted babies never act (adult_age > max_steps)
    parallel_api_test(pz, num_cycles=200)


def test_parallel_api_external_babies_with_rebirth(external):
    pz = NurseryParallelEnv(external)
    assert pz.possible_agents == [
        "mother_0", "mother_1", "baby_0", "baby_0_life2", "baby_0_life3", "baby_1", "baby_1_life2", "baby_1_life3",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not all possible_agents finished": unborn lives
        parallel_api_test(pz, num_cycles=200)


def test_spaces_bound_every_observation(scripted):
    pz = NurseryParallelEnv(scripted)
    space = pz.observation_space("mother_0")
    v = scripted.config.view_size
    assert space["view"].shape == (v, v, C.NUM_CHANNELS) and space["view"].dtype == np.uint8
    body = space["body"]
    assert body.shape == (C.NUM_BODY,) and body.dtype == np.float32
    dy, dx = C.BODY_FEATURES.index("cry_dy"), C.BODY_FEATURES.index("cry_dx")
    assert body.low[dy] == body.low[dx] == -1 and (np.delete(body.low, [dy, dx]) == 0).all() and (body.high == 1).all()
    assert pz.action_space("mother_0").n == C.NUM_ACTIONS
    obs, _ = pz.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        assert all(pz.observation_space(a).contains(o) for a, o in obs.items())
        if not pz.agents:
            break
        obs, *_ = pz.step({a: int(rng.integers(C.NUM_ACTIONS)) for a in pz.agents})


def test_seeding_is_deterministic(scripted):
    pz = NurseryParallelEnv(scripted)
    first, again = _random_episode(pz, seed=11, max_steps=40), _random_episode(pz, seed=11, max_steps=40)
    assert len(first) == len(again) > 1
    for a, b in zip(first, again, strict=True):
        assert a[0] == b[0]
        for name in a[1]:
            np.testing.assert_array_equal(a[1][name], b[1][name])
        assert a[2:] == b[2:]
    # a second adapter on the same world gives the same episode; another seed gives another one
    other = _random_episode(NurseryParallelEnv(scripted), seed=11, max_steps=40)
    np.testing.assert_array_equal(other[-1][1]["mother_0"], first[-1][1]["mother_0"])
    obs_a, _ = pz.reset(seed=11)
    obs_b, _ = pz.reset(seed=12)
    assert not all(np.array_equal(obs_a[a]["view"], obs_b[a]["view"]) for a in obs_a)


def test_babies_join_at_birth_and_leave_after_death(external):
    """External babies appear the tick they are born; a dying agent is reported terminated once, then removed."""
    pz = NurseryParallelEnv(external)
    born, died = set(), set()
    for seed in range(3):
        obs, infos = pz.reset(seed=seed)
        assert pz.agents == ["mother_0", "mother_1"]
        rng = np.random.default_rng(seed)
        while pz.agents:
            before = set(pz.agents)
            obs, rew, term, trunc, info = pz.step({a: int(rng.integers(C.NUM_ACTIONS)) for a in pz.agents})
            assert set(obs) == set(rew) == set(term) == set(trunc) == set(info) == before | set(pz.agents)
            for a in set(obs) - before:  # newborn
                assert a.startswith("baby_") and info[a]["role"] == "baby" and info[a]["generation"] == 1
                born.add(a)
            ended = any(trunc.values()) or (all(term.values()) and not pz.agents)
            for a, t in term.items():
                if t and not ended:
                    assert a not in pz.agents
                    died.add(a)
            assert all(info[a]["action_taken"] in range(C.NUM_ACTIONS) for a in info)
    assert {"baby_0", "baby_1"} <= born
    assert any(a.startswith("baby") for a in died)
    assert any("_life" in a for a in born)  # a slot born again is a new agent


def test_world_end_and_bad_input(scripted):
    # mothers starve at once: everyone terminated, no agents left, later steps are empty
    pz = NurseryParallelEnv(scripted, params=_params(scripted, adult_drain=1.0, starve_damage=1.0))
    pz.reset(seed=0)
    obs, rew, term, trunc, info = pz.step({})
    assert term == {"mother_0": True, "mother_1": True} and not any(trunc.values())
    assert pz.agents == [] and pz.step({}) == ({}, {}, {}, {}, {})
    # the time limit truncates everyone still alive
    pz = NurseryParallelEnv(scripted, params=_params(scripted, max_steps=3))
    pz.reset(seed=0)
    for _ in range(3):
        obs, rew, term, trunc, info = pz.step({a: C.STAY for a in pz.agents})
    assert all(trunc.values()) and not any(term.values()) and pz.agents == []
    pz.reset(seed=0)
    with pytest.raises(ConfigError, match="unknown agent"):
        pz.step({"mother_9": 0})
    for bad in (9, -1, 1.5, "up"):
        with pytest.raises(ConfigError, match="not allowed"):
            pz.step({"mother_0": bad})
    pz.step({"mother_0": np.int64(C.UP), "mother_1": np.array(C.STAY)})  # NumPy integers are fine
    with pytest.raises(ConfigError, match="render_mode"):
        NurseryParallelEnv(scripted, render_mode="human")


def test_render_modes(scripted):
    n = scripted.config.grid_size
    pz = NurseryParallelEnv(scripted, render_mode="rgb_array", cell=12)
    pz.reset(seed=0)
    frame = pz.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    # tiny cells: the panel's agent rows make the frame taller than the grid, which sits at the top left
    assert frame.shape[0] >= n * 12 and frame.shape[1] > n * 12
    np.testing.assert_array_equal(frame[: n * 12, : n * 12], render_rgb(pz.world_state, scripted, cell=12, panel=False))
    pz = NurseryParallelEnv(scripted, render_mode="ansi")
    pz.reset(seed=0)
    text = pz.render()
    assert text.splitlines()[0] == "#" * n
