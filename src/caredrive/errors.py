"""One exception type for every bad input, so the CLI can print it without a traceback."""


class ConfigError(ValueError):
    """A setting is impossible or unknown. The message names the field and what is allowed."""
