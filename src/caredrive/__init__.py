"""caredrive: can gradient descent find an agent that cares for a weaker one?

Public API: `caredrive.make(name, **overrides)` builds a world; see `caredrive.env` for its pieces.
"""

# first: the training code's digest is read from disk before any of it is loaded (see provenance)
import caredrive.provenance  # noqa: F401, I001
from caredrive.env import AutoReset, EnvConfig, EnvParams, EnvState, Nursery, Obs, make, registered
from caredrive.errors import ConfigError

__all__ = ["AutoReset", "ConfigError", "EnvConfig", "EnvParams", "EnvState", "Nursery", "Obs", "make", "registered"]
__version__ = "0.1.0"
