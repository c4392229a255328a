"""Wrappers. `AutoReset` starts a new episode when one ends and keeps the final observation.

gymnax-style auto-reset loses the last observation of an episode (needed to bootstrap a value at a
time-limit truncation); here it is kept in `info["final_obs"]`, and `terminated` / `truncated` stay
apart in `info`.
"""

from __future__ import annotations

import jax

from caredrive.env.nursery import Nursery


class AutoReset:
    def __init__(self, env: Nursery):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, key, params=None):
        return self.env.reset(key, params)

    def step(self, key, state, actions, params=None):
        k_step, k_reset = jax.random.split(key)
        obs, state, reward, done, info = self.env.step(k_step, state, actions, params)
        obs_re, state_re = self.env.reset(k_reset, params)
        pick = lambda fresh, old: jax.lax.select(done, fresh, old)
        info = {**info, "final_obs": obs, "final_state_t": state.t}
        state = jax.tree.map(pick, state_re, state)
        obs = jax.tree.map(pick, obs_re, obs)
        return obs, state, reward, done, info
