"""A gymnax env seen through the multi-agent API (one agent), so PPO can be checked on known tasks.

gymnax already auto-resets inside `step`; we keep its pre-reset observation as `info["final_obs"]`
(needed to bootstrap at time limits) and report `terminated` and `truncated` apart (`truncated` only
when not also terminated), like `caredrive.env.AutoReset`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_add_agent_axis = lambda tree: jax.tree.map(lambda x: jnp.asarray(x)[None], tree)


class GymnaxAdapter:
    """Wrap `gymnax.make(name)` (or an env instance) as a `num_agents = 1` multi-agent env."""

    num_agents = 1

    def __init__(self, env, env_params=None):
        if isinstance(env, str):
            import gymnax

            env, default = gymnax.make(env)
            env_params = default if env_params is None else env_params
        self.env = env
        self.default_params = env.default_params if env_params is None else env_params
        self.num_actions = int(env.num_actions)

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        obs, state = self.env.reset(key, params)
        return _add_agent_axis(obs), state

    def step(self, key, state, actions, params=None):
        params = self.default_params if params is None else params
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, actions[0], params)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool) & ~terminated
        info = {
            "terminated": terminated,
            "truncated": truncated,
            "final_obs": _add_agent_axis(info["final_observation"]),
        }
        reward = jnp.asarray(reward, jnp.float32)[None]
        return _add_agent_axis(obs), state, reward, terminated | truncated, info
