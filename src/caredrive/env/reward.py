"""Rewards and the end of an episode.

Reward modes (constants.REWARD_MODES), per agent and per tick:
- `self`: 1 while alive.
- `baby` (default): `self` until the agent's child is first born; from then on 1 while the child is
  alive, whatever happens to the mother's own body (she must stay alive to act, and nothing more).
- `baby_welfare`: after birth, the child's own welfare: alive x (energy/2 + 1/2 if it is not carried).
- `mixed`: `reward_mix` x self + (1 - reward_mix) x baby.
- `lineage`: the chain reading of `baby`: every agent, grown babies included, is rewarded for its own
  child's survival once it has one. (Same formula as `baby`; it is named apart so a chain's config
  says what it means.)
An agent already dead before the tick gets 0.

`terminated`: no founding mother can earn reward any more (each is dead, or, in a child-based mode,
her child is dead with no rebirth due). `truncated`: the time limit. They are kept apart.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from caredrive.env import constants as C
from caredrive.env.state import EnvState


def rewards(prev_alive: jax.Array, state: EnvState, params, child_of: jax.Array) -> jax.Array:
    ag = state.agents
    c = jnp.maximum(child_of, 0)
    has = child_of >= 0
    child_ever = has & (ag.births[c] > 0)
    child_alive = (has & ag.alive[c]).astype(jnp.float32)
    own = ag.alive.astype(jnp.float32)
    baby = jnp.where(child_ever, child_alive, own)
    welfare = jnp.where(child_ever, child_alive * (0.5 * ag.energy[c] + 0.5 * (ag.carried_by[c] < 0)), own)
    mixed = params.reward_mix * own + (1.0 - params.reward_mix) * baby
    r = jnp.select(
        [params.reward_mode == C.REWARD_SELF, params.reward_mode == C.REWARD_BABY_WELFARE, params.reward_mode == C.REWARD_MIXED],
        [own, welfare, mixed],
        baby,
    )
    return jnp.where(prev_alive, r, 0.0).astype(jnp.float32)


def child_based(params) -> jax.Array:
    m = params.reward_mode
    return (m == C.REWARD_BABY) | (m == C.REWARD_BABY_WELFARE) | (m == C.REWARD_LINEAGE)


def terminated(state: EnvState, params, child_of: jax.Array, n_families: int) -> jax.Array:
    ag = state.agents
    c = jnp.maximum(child_of[:n_families], 0)
    lost = (ag.births[c] > 0) & ~ag.alive[c] & (ag.next_birth[c] >= C.NEVER)
    done = ~ag.alive[:n_families] | (child_based(params) & lost)
    return done.all()
