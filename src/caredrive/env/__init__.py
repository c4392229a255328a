"""The Nursery world: state, params, reset/step, observations, rendering, scripted policies."""

from caredrive.env import constants
from caredrive.env.brains import BabyBrain, Toddler
from caredrive.env.nursery import Nursery
from caredrive.env.observe import Obs
from caredrive.env.params import EnvConfig, EnvParams
from caredrive.env.registry import REGISTRY, make, registered
from caredrive.env.state import Agents, EnvState, EventLog, Food, Predators
from caredrive.env.wrappers import AutoReset

__all__ = [
    "Agents", "AutoReset", "BabyBrain", "EnvConfig", "EnvParams", "EnvState", "EventLog", "Food", "Nursery",
    "Obs", "Predators", "REGISTRY", "Toddler", "constants", "make", "registered",
]
