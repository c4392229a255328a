"""caredrive: can gradient descent find an agent that cares for a weaker one?

Public API: `caredrive.make(name, **overrides)` builds a world; see `caredrive.env` for its pieces.
"""

from caredrive.env import AutoReset, EnvConfig, EnvParams, EnvState, Nursery, Obs, make, registered
from caredrive.errors import ConfigError

__all__ = ["AutoReset", "ConfigError", "EnvConfig", "EnvParams", "EnvState", "Nursery", "Obs", "make", "registered"]
__version__ = "0.1.0"
