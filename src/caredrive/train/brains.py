"""Baby brains in training: who plays the babies while the mothers learn (`TrainConfig.baby_brain`).

- `scripted` (default): the world's scripted toddler acts for babies; the network plays the mothers.
- `shared`: the network being trained plays every slot, babies too; its role input tells founders
  (ADULT) from the slots that start as babies (BABY) — a grown baby's current role is in its `body`
  observation (`is_baby`). With `chain=True` and `lineage` reward every agent, grown babies included, is
  trained to keep its own child alive. (`external` is the old name of this brain.)
- `mother_copy`: the mother as she was at the end of the first phase (the `self` phase), frozen, acts
  for every non-founding slot through that slot's own observation and with her own role input (ADULT,
  the only role she was trained with). She is never trained as a baby. `FrozenCopy` does this inside
  the env step; her weights ride in the env params and her memories in the env state, so they are
  checkpointed with the runner state and vmapped over seeds like everything else.
- `network`: a separate network (own weights, optimiser and memory) plays every non-founding slot and is
  trained by the same PPO, side by side with the mothers' network on the same rollout (a second
  `LearnerGroup`), for the baby's own survival: `SelfReward` replaces those slots' reward by the
  `self` reward (1 per tick alive), whatever the phase's reward mode says for the mothers.

The world is built with `baby_brain="external"` for every brain but `scripted`, so the caller's actions
reach the babies. One registry (`BRAINS`), no `if` over names: each brain says which world it needs,
who learns, how the world is wrapped and what its env params carry.

Evaluation (`run.Trained`): `policy` is always the mothers' network. For `scripted` and `shared` the
evaluation world is the training world (for `shared` the network plays the babies there too). For
`mother_copy` and `network` the mother is evaluated with the *scripted toddler* as the baby, so her
figures compare with the baselines' and with other runs; the babies' own trained or frozen policy is
handed over as `Trained.baby_policy` for evaluations that want the training brain instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from caredrive.agents.networks import ActorCritic, initial_carry
from caredrive.env import constants as C
from caredrive.train.policy import NetworkPolicy
from caredrive.train.ppo import LearnerGroup


@struct.dataclass
class FrozenCopyParams:
    world: object  # EnvParams of the world
    weights: dict  # the frozen network's flax params


@struct.dataclass
class FrozenCopyState:
    world: object  # EnvState
    obs: object  # the world's last observation of the copy's slots (leaves [S, ...])
    carry: jax.Array  # [S, H] the copy's memory per slot, zero while the slot's body is not alive

    @property
    def t(self) -> jax.Array:
        return self.world.t


class FrozenCopy:
    """A world whose `slots` are played by a frozen network: its params are `FrozenCopyParams`.

    Per step the copy samples an action for each slot from its own last observation and memory (key:
    the second half of `jax.random.split(key)`, the world steps with the first) and overrides the
    caller's actions there. A slot's memory is zeroed whenever its body is not alive, so a newborn
    starts with a fresh memory (the network's reset convention, read as "this observation starts a life").
    """

    def __init__(self, world, net: ActorCritic, slots: np.ndarray, role: int = C.ADULT):
        self.world, self.net = world, net
        self.slots = np.asarray(slots, np.int32)
        self.role = role

    def __getattr__(self, name):
        return getattr(self.world, name)

    def _take(self, obs):
        return jax.tree.map(lambda x: x[self.slots], obs)

    def reset(self, key, params: FrozenCopyParams):
        obs, state = self.world.reset(key, params.world)
        carry = initial_carry(len(self.slots), self.net.hidden)
        return obs, FrozenCopyState(state, self._take(obs), carry)

    def act(self, key, state: FrozenCopyState, weights) -> tuple[jax.Array, jax.Array]:
        """The copy's actions [S] and new memory [S, H]."""
        s = len(self.slots)
        role = jnp.full((1, s), self.role, jnp.int32)
        obs = jax.tree.map(lambda x: x[None], state.obs)
        carry, logits, _ = self.net.apply(weights, state.carry, obs, jnp.zeros((1, s), bool), role)
        return jax.random.categorical(key, logits[0]).astype(jnp.int32), carry

    def step(self, key, state: FrozenCopyState, actions, params: FrozenCopyParams):
        k_world, k_copy = jax.random.split(key)
        copy_actions, carry = self.act(k_copy, state, params.weights)
        actions = jnp.asarray(actions).at[self.slots].set(copy_actions)
        obs, world_state, reward, done, info = self.world.step(k_world, state.world, actions, params.world)
        alive = world_state.agents.alive[self.slots]
        carry = jnp.where(alive[:, None], carry, 0.0)
        return obs, FrozenCopyState(world_state, self._take(obs), carry), reward, done, info


class SelfReward:
    """A world whose `slots` earn the `self` reward (1 per tick alive, 0 once dead or before birth),
    whatever `reward_mode` says; every other slot keeps the world's reward."""

    def __init__(self, world, slots: np.ndarray):
        self.world = world
        self.mask = np.zeros(world.num_agents, bool)
        self.mask[np.asarray(slots)] = True

    def __getattr__(self, name):
        return getattr(self.world, name)

    def reset(self, key, params):
        return self.world.reset(key, params)

    def step(self, key, state, actions, params):
        obs, new, reward, done, info = self.world.step(key, state, actions, params)
        own = (state.agents.alive & new.agents.alive).astype(reward.dtype)
        return obs, new, jnp.where(jnp.asarray(self.mask), own, reward), done, info


def _babies(world) -> np.ndarray:
    """Every non-founding slot: the babies and, in a chain, what they grow into and their children."""
    return np.nonzero(~world.mothers)[0]


def blank_weights(net: ActorCritic, world) -> dict:
    """All-zero weights of `net`'s shape (a placeholder until a phase has trained real ones)."""

    def init(key):
        obs, _ = world.reset(key, world.default_params)
        obs = jax.tree.map(lambda x: x[None, :1], obs)
        return net.init(key, initial_carry(1, net.hidden), obs, jnp.zeros((1, 1), bool), jnp.zeros((1, 1), jnp.int32))

    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(init, jax.random.key(0)))


@dataclass(frozen=True)
class Brain:
    """The `scripted` brain, and the interface every brain implements."""

    world_brain: str = "scripted"  # the world's own `baby_brain`
    eval_brain: str = "scripted"  # the world's `baby_brain` when the trained mother is evaluated
    min_phases: int = 1

    def groups(self, world) -> tuple[LearnerGroup, ...]:
        """Who learns: the main group (the mothers' network) first, then any co-learners."""
        return (LearnerGroup(world.mothers, world.roles_at_start),)

    def wrap(self, world, net: ActorCritic):
        """The world as the trainer steps it (before auto-reset)."""
        return world

    def params(self, env, world_params, frozen=None):
        """The env params of a phase for `env` (`wrap`'s result); `frozen` is what `frozen_after`
        handed over (None before any phase ended, or as a placeholder that a checkpoint overwrites)."""
        return world_params

    def frozen_after(self, phase: int, rs):
        """What a finished phase hands to the next phases' env params (runner state stacked over seeds)."""
        return None

    def baby_policy(self, world, net: ActorCritic, rs) -> NetworkPolicy | None:
        """The babies' trained or frozen policy (stacked over seeds), when a network plays them."""
        return None


@dataclass(frozen=True)
class Shared(Brain):
    world_brain: str = "external"
    eval_brain: str = "external"

    def groups(self, world):
        return (LearnerGroup(np.ones(world.num_agents, bool), world.roles_at_start),)


@dataclass(frozen=True)
class MotherCopy(Brain):
    world_brain: str = "external"
    min_phases: int = 2  # the copy is taken at the end of the first phase

    def wrap(self, world, net):
        return FrozenCopy(world, net, _babies(world))

    def params(self, env, world_params, frozen=None):
        if frozen is None:  # before the first phase ends there is no mother to copy (and no baby is born)
            frozen = blank_weights(env.net, env.world)
        return FrozenCopyParams(world_params, frozen)

    def frozen_after(self, phase, rs):
        # the end of the first phase freezes the mother; later phases pass on the copy they were given
        return rs.train_state[0].params if phase == 0 else rs.env_params.weights

    def baby_policy(self, world, net, rs):
        slots = _babies(world)
        return NetworkPolicy(weights=rs.env_params.weights, net=net, learners=tuple(int(i) for i in slots),
                             roles=(C.ADULT,) * len(slots), num_agents=world.num_agents)


@dataclass(frozen=True)
class OwnNetwork(Brain):
    world_brain: str = "external"

    def groups(self, world):
        babies = ~world.mothers
        return (LearnerGroup(world.mothers, world.roles_at_start),
                LearnerGroup(babies, world.roles_at_start, name="baby"))

    def wrap(self, world, net):
        return SelfReward(world, _babies(world))

    def baby_policy(self, world, net, rs):
        slots = _babies(world)
        return NetworkPolicy(weights=rs.train_state[1].params, net=net, learners=tuple(int(i) for i in slots),
                             roles=tuple(int(r) for r in world.roles_at_start[slots]), num_agents=world.num_agents)


BRAINS: dict[str, Brain] = {
    "scripted": Brain(),
    "shared": Shared(),
    "mother_copy": MotherCopy(),
    "network": OwnNetwork(),
}
ALIASES = {"external": "shared"}  # older config.json files name the shared brain "external"


def brain_names() -> list[str]:
    return sorted(BRAINS)


def get_brain(name: str) -> Brain:
    return BRAINS[ALIASES.get(name, name)]
