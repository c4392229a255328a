"""Wrappers. `AutoReset` starts a new episode when one ends and keeps the final observation;
`VecAutoReset` does the same for a whole batch of worlds with cheap shared resets (what training uses).

gymnax-style auto-reset loses the last observation of an episode (needed to bootstrap a value at a
time-limit truncation); here it is kept in `info["final_obs"]`, and `terminated` / `truncated` stay
apart in `info`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

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


class VecAutoReset:
    """Auto-reset for a batch of B worlds stepped together, with *optimistic* resets.

    Per-world auto-reset under `vmap` computes a full reset for every world at every step (a `cond`
    becomes a `select`), which costs more than the step itself. Here each step computes only
    `max(1, B // reset_ratio)` fresh worlds and hands them to the worlds that just finished, in order.
    Episodes last ~`max_steps` ticks, so far fewer than B / reset_ratio worlds finish per step; if more
    do, some start from the same fresh world (their futures still differ: every step has its own key).
    The final observation of a finished world is kept in `info["final_obs"]`.

    Shapes: state and obs leaves have a leading [B]; actions [B, A]; reward [B, A]; done [B].
    """

    batched = True  # trainers step the whole batch through this wrapper, not a vmap of it

    def __init__(self, env: Nursery, batch: int, reset_ratio: int = 16):
        self.env, self.batch = env, batch
        self.n_fresh = max(1, batch // reset_ratio)

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, key, params=None):
        return jax.vmap(self.env.reset, in_axes=(0, None))(jax.random.split(key, self.batch), params)

    def step(self, key, state, actions, params=None):
        k_step, k_reset = jax.random.split(key)
        keys = jax.random.split(k_step, self.batch)
        obs, state, reward, done, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)
        obs_re, state_re = jax.vmap(self.env.reset, in_axes=(0, None))(jax.random.split(k_reset, self.n_fresh), params)
        slot = (jnp.cumsum(done) - 1) % self.n_fresh

        def pick(fresh, old):
            return jnp.where(done.reshape((-1,) + (1,) * (old.ndim - 1)), fresh[slot], old)

        info = {**info, "final_obs": obs}
        return jax.tree.map(pick, obs_re, obs), jax.tree.map(pick, state_re, state), reward, done, info


@struct.dataclass
class VariedState:
    """A world's state together with the params its episode drew (they hold until it ends)."""

    inner: object
    params: object

    def __getattr__(self, name):  # read-through, so code that reads `state.agents` / `state.t` still works
        return getattr(self.inner, name)


class Varied:
    """A training *distribution* of worlds: each episode draws some `EnvParams` fields uniformly from a
    finite set of values at its reset, and keeps them to its end (the drawn params live in the state).

    Everything else is the wrapped world's: the params given to `step` are ignored in favour of the
    episode's own, so auto-reset wrappers and brains outside this one need not know. `fields` and
    `values` are parallel tuples; each field is drawn independently, so every combination can occur
    (what `caredrive.eval.battery.seen_in_training` assumes).
    """

    def __init__(self, env: Nursery, fields: tuple[str, ...], values: tuple[tuple, ...]):
        self.env, self.fields, self.values = env, tuple(fields), tuple(tuple(v) for v in values)

    def __getattr__(self, name):
        return getattr(self.env, name)

    def draw(self, key, params):
        for k, field, vals in zip(jax.random.split(key, len(self.fields)), self.fields, self.values, strict=True):
            ref = jnp.asarray(getattr(params, field))
            choice = jnp.asarray(vals, ref.dtype)[jax.random.randint(k, (), 0, len(vals))]
            params = params.replace(**{field: choice})
        return params

    def reset(self, key, params=None):
        params = self.env.default_params if params is None else params
        k_draw, k_reset = jax.random.split(key)
        drawn = self.draw(k_draw, params)
        obs, state = self.env.reset(k_reset, drawn)
        return obs, VariedState(state, drawn)

    def step(self, key, state, actions, params=None):
        obs, inner, reward, done, info = self.env.step(key, state.inner, actions, state.params)
        return obs, VariedState(inner, state.params), reward, done, info
