"""Policies: the actor-critic network trained by `caredrive.train.ppo`."""

from caredrive.agents.networks import ActorCritic, flatten_obs, initial_carry

__all__ = ["ActorCritic", "flatten_obs", "initial_carry"]
