"""Training: recurrent PPO (`ppo`) and a gymnax adapter to check it on standard tasks."""

from caredrive.train.gymnax_adapter import GymnaxAdapter
from caredrive.train.ppo import LearnerGroup, PPOConfig, RunnerState, Transition, gae, make_train, ppo_loss

__all__ = ["GymnaxAdapter", "LearnerGroup", "PPOConfig", "RunnerState", "Transition", "gae", "make_train", "ppo_loss"]
