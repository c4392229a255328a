"""A trained network as a policy of the world: `(key, obs, state, params, carry) -> (actions, carry)`.

It is a pytree (the weights are leaves), so the policies of several seeds stack along a leading axis
and evaluation `vmap`s over seeds as well as episodes. `edit` (`{tap: UnitEdit}`, see
`caredrive.agents.networks`) makes the same object a lesioned, patched or steered mother: evaluation
scores it like any other policy, and a stack of edits `vmap`s like a stack of seeds. `record` is the
same step that also returns every tap's activation (the recording rollout's hook).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import ActorCritic, initial_carry, taps


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class NetworkPolicy:
    weights: dict  # flax params (leaves; a leading seed axis when stacked)
    net: ActorCritic = field(metadata={"static": True})
    learners: tuple[int, ...] = field(metadata={"static": True})  # agent slots the network acts for
    roles: tuple[int, ...] | None = field(metadata={"static": True})  # role id per learner, or None
    num_agents: int = field(metadata={"static": True})
    greedy: bool = field(default=False, metadata={"static": True})
    edit: dict | None = None  # {tap: UnitEdit}: a lesioned / patched / steered network (None: as trained)

    def init_carry(self) -> jax.Array:
        return initial_carry(len(self.learners), self.net.hidden)

    def __call__(self, key, obs, state, params, carry):
        actions, carry, _ = self._step(key, obs, state, carry, record=False)
        return actions, carry

    def record(self, key, obs, state, params, carry):
        """`(actions, carry, {tap: [L, units]})`: the step of `__call__` (same key use, same actions) that
        also keeps every tap's activation for the learners `self.learners`."""
        return self._step(key, obs, state, carry, record=True)

    def _step(self, key, obs, state, carry, record: bool):
        idx = np.asarray(self.learners)
        obs_l = jax.tree.map(lambda x: x[idx][None], obs)  # [T=1, L, ...]
        reset = (state.t == 0)[None, None].repeat(len(idx), axis=1)
        role = None if self.roles is None else jnp.asarray(self.roles, jnp.int32)[None]
        if record:
            (carry, logits, _), acts = self.net.apply(self.weights, carry, obs_l, reset, role, self.edit,
                                                      mutable=["acts"])
            acts = {k: v[0] for k, v in taps(acts["acts"]).items()}
        else:
            carry, logits, _ = self.net.apply(self.weights, carry, obs_l, reset, role, self.edit)
            acts = None
        act = jnp.argmax(logits[0], -1) if self.greedy else jax.random.categorical(key, logits[0])
        actions = jnp.zeros((self.num_agents,), jnp.int32).at[idx].set(act.astype(jnp.int32))
        return actions, carry, acts
