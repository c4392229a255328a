"""Batched stepping: `VecAutoReset` must step its worlds exactly as the plain `Nursery.step` does and
restart finished ones; the fusion barriers inside the step (a speed device) must change no value."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import caredrive
from caredrive.env import fusion
from caredrive.env.policies import POLICIES
from caredrive.env.wrappers import VecAutoReset


def _equal(a, b, where=None):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if where is not None:
            x, y = x[where], y[where]
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", ["Nursery-11x11", "Nursery-Chain-11x11"])
def test_vec_auto_reset_matches_the_plain_step(name):
    world = caredrive.make(name, max_steps=24)  # short episodes: resets happen inside the test
    params, batch = world.default_params, 8
    vec = VecAutoReset(world, batch, reset_ratio=4)
    plain = jax.jit(jax.vmap(world.step, in_axes=(0, 0, 0, None)))
    vec_step = jax.jit(vec.step)
    _, state = vec.reset(jax.random.key(0), params)
    resets = 0
    for t, key in enumerate(jax.random.split(jax.random.key(1), 60)):
        actions = jax.random.randint(jax.random.fold_in(key, 7), (batch, world.num_agents), 0, world.num_actions)
        obs, new, reward, done, info = vec_step(key, state, actions, params)
        k_step, _ = jax.random.split(key)  # VecAutoReset's key for the worlds' own step
        p_obs, p_state, p_reward, p_done, p_info = plain(jax.random.split(k_step, batch), state, actions, params)
        _equal((reward, done, info["terminated"], info["truncated"]), (p_reward, p_done, p_info["terminated"], p_info["truncated"]))
        _equal(info["final_obs"], p_obs)
        running = ~np.asarray(done)
        _equal((obs, new), (p_obs, p_state), where=running)
        assert (np.asarray(new.t)[~running] == 0).all(), f"tick {t}: a finished world did not restart"
        resets += int((~running).sum())
        state = new
    assert resets >= batch, "the test should see every world end at least once"


@pytest.mark.parametrize("name", ["Nursery-11x11", "Nursery-Chain-11x11"])
def test_fusion_barriers_change_no_value(name, monkeypatch):
    world = caredrive.make(name)
    params = world.default_params
    carer = POLICIES["carer"](world)

    def rollout(key):
        _, state = world.reset(key, params)

        def tick(s, k):
            obs, s, reward, done, _ = world.step(k, s, carer(k, None, s, params), params)
            return s, (obs, s, reward, done)

        return jax.lax.scan(tick, state, jax.random.split(key, 96))[1]

    keys = jax.random.split(jax.random.key(5), 8)
    runs = []
    for on in (True, False):
        monkeypatch.setattr(fusion, "ENABLED", on)
        runs.append(jax.jit(jax.vmap(rollout))(keys))  # a fresh jit: traced again with barriers on / off
    _equal(*runs)


def test_fusion_barrier_is_the_identity_and_survives_vmap():
    tree = {"a": jnp.arange(12, dtype=jnp.int32).reshape(3, 4), "b": jnp.asarray([True, False, True])}
    for fn in (fusion.barrier, jax.jit(fusion.barrier), jax.jit(jax.vmap(fusion.barrier))):
        _equal(fn(tree), tree)
    # the point of it: a real conditional (a fusion boundary) even inside a vmap, where a batched
    # predicate would have turned it into a select
    hlo = jax.jit(jax.vmap(fusion.barrier)).lower(tree).compile().as_text()
    assert ("conditional" in hlo) == fusion.active()
