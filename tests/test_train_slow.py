"""Slow checks (`pytest -m slow`, a separate CI step): the trainer is right on a task we did not write."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from caredrive.train.gymnax_adapter import GymnaxAdapter
from caredrive.train.ppo import PPOConfig, make_train

pytestmark = pytest.mark.slow


def test_recurrent_ppo_solves_gymnax_cartpole_within_1m_steps():
    """The same PPO code that trains mothers (GRU, GAE, clipped loss, truncation bootstrap) reaches a
    mean return >= 475 on gymnax's CartPole-v1 within 1M env steps, in 2 of 2 seeds."""
    env = GymnaxAdapter("CartPole-v1")
    cfg = PPOConfig(num_envs=16, num_steps=128, total_timesteps=1_000_000, update_epochs=4, num_minibatches=4,
                    hidden=64, lr=2.5e-4, ent_coef=0.01, reward_scale=0.1)
    train = make_train(cfg, env, env.default_params)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 2))
    ret = np.asarray(metrics["return"])  # [seed, update]: mean return of the episodes that ended
    last = np.nanmean(ret[:, -20:], axis=1)
    # best mean over 10 consecutive updates (updates in which no episode ended are skipped, not zeros)
    best = np.array([np.nanmax([np.nanmean(r[i : i + 10]) for i in range(len(r) - 9)]) for r in ret])
    print("CartPole mean return over the last 20 updates per seed:", last, "best 10-update mean:", best)
    assert (best >= 475).all(), f"PPO did not reach 475 on CartPole-v1 within 1M steps: {best}"
