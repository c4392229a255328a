"""Rollouts of a policy for whole episodes, batched: a `lax.scan` over ticks inside a `vmap` over episodes.

Evaluation rolls the raw world for exactly `max_steps` ticks and ignores `done`: the baby's life goes on
being recorded after its mother dies, so a lifetime is never cut short by the episode's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env.nursery import Nursery
from caredrive.env.state import EnvState


def rollout(env: Nursery, policy: Callable, params, key: jax.Array, n_episodes: int) -> EnvState:
    """Final states (batched over episodes) after `params.max_steps` ticks of `policy`.

    A policy is `(key, obs, state, params) -> actions [A]`, or, if it has a memory (a trained
    recurrent network), an object with `init_carry()` and `(key, obs, state, params, carry) ->
    (actions, carry)`."""
    return jax.jit(lambda k: rollout_batch(env, policy, params, k, n_episodes))(key)


def play_episode(env: Nursery, policy, params, key: jax.Array, steps: int, aux=None, update=None,
                 keep_states: bool = False, record: bool = False):
    """One episode of exactly `steps` ticks: `(first state, final state, aux, trace)`.

    The one place an evaluation episode is played, so every caller uses the key the same way and the
    same key replays the same episode. `aux` is carried through the scan and `update(aux, state)` folds
    in each new state (per-tick measurements). `trace` is None, or with `keep_states` every state after
    each tick `[T, ...]` (for GIFs), or with `record` (a network policy with `record`, see
    `train/policy.py`) a dict of `[T, ...]` arrays aligned tick by tick: `state` (the state the
    observation was made from: the ground truth), `obs`, `carry` (the memory before the tick), `acts`
    (every tap of the network) and `actions`. Recording plays the very same episode as not recording."""
    recurrent = hasattr(policy, "init_carry")
    if record and not hasattr(policy, "record"):
        raise TypeError("record=True needs a network policy with a `record` method")
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset, params)
    mem = policy.init_carry() if recurrent else jnp.zeros(())

    def tick(carry, k_t):
        obs, state, mem, aux = carry
        k_pol, k_env = jax.random.split(k_t)
        acts = None
        if record:
            actions, new_mem, acts = policy.record(k_pol, obs, state, params, mem)
        elif recurrent:
            actions, new_mem = policy(k_pol, obs, state, params, mem)
        else:
            actions, new_mem = policy(k_pol, obs, state, params), mem
        out = None
        if record:
            out = {"state": state, "obs": obs, "carry": mem, "acts": acts, "actions": actions}
        obs, state, _, _, _ = env.step(k_env, state, actions, params)
        aux = aux if update is None else update(aux, state)
        if keep_states:
            out = state
        return (obs, state, new_mem, aux), out

    (_, final, _, aux), trace = jax.lax.scan(tick, (obs, state, mem, aux), jax.random.split(k_run, steps))
    return state, final, aux, trace


def rollout_batch(env: Nursery, policy, params, key: jax.Array, n_episodes: int) -> EnvState:
    """The un-jitted body of `rollout`: a pure function of the policy, so callers can `vmap` it over
    a stack of policies (one per seed)."""
    steps = int(params.max_steps)
    episode = lambda k: play_episode(env, policy, params, k, steps)[1]
    return jax.vmap(episode)(jax.random.split(key, n_episodes))


def baby_lifetimes(env: Nursery, final: EnvState, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per episode and first-generation baby: (lifetime in ticks, alive at the end), for born babies only."""
    f = env.config.n_families
    sl = slice(f, 2 * f)
    born = np.asarray(final.agents.births[:, sl] > 0)
    birth = np.asarray(final.log.birth_tick[:, sl])
    death = np.asarray(final.log.death_tick[:, sl])
    end = np.where(death >= 0, death, max_steps)
    return (end - birth)[born], np.asarray(final.agents.alive[:, sl])[born]
