"""Typed `--group.field value` overrides for the CLI (e.g. `--env.grid-size 13 --ppo.lr 3e-4`).

Values are parsed by the type of the dataclass field they target, so a typo or a wrong type is a
clear ConfigError naming the field, not a traceback deep inside JAX. Numbers must be finite (no nan/inf:
a world or a learning rate of inf trains nothing but NaN) and integers must fit the machine type they
become (world settings are int32 JAX leaves; others at most 64 bits). Ranges are the receiver's check
(`validate_params`, `TrainConfig.validate`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math

from caredrive.env import constants as C
from caredrive.env.params import EnvConfig, EnvParams
from caredrive.errors import ConfigError

_NAMED = {"layout": C.LAYOUT_NAMES, "reward_mode": C.REWARD_MODES}


def _field_types(*classes) -> dict[str, object]:
    out = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            out[f.name] = type(f.default) if f.default is not dataclasses.MISSING else str
    return out


ENV_FIELDS = _field_types(EnvConfig, EnvParams)
_INT_BITS = {"env": 32}  # env ints become int32 leaves; every other group's ints at most int64


def _flag(group: str, name: str) -> str:
    return f"--{group}.{name.replace('_', '-')}"


def parse_value(group: str, name: str, raw: str, types: dict[str, object]):
    if name not in types:
        close = difflib.get_close_matches(name, sorted(types), n=3)
        hint = f" Did you mean {', '.join('--' + group + '.' + c.replace('_', '-') for c in close)}?" if close else ""
        raise ConfigError(f"unknown setting {_flag(group, name)}.{hint}")
    kind = types[name]
    if group == "env" and name in _NAMED and not raw.lstrip("-").isdigit():
        if raw not in _NAMED[name]:
            raise ConfigError(f"{_flag(group, name)}={raw!r} is not allowed: must be one of {list(_NAMED[name])}.")
        return _NAMED[name].index(raw)
    try:
        if kind is bool:
            low = raw.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if kind is int:
            value = int(raw)
            bits = _INT_BITS.get(group, 64)
            if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                raise ConfigError(f"{_flag(group, name)}={raw!r} is not allowed: must be an integer that fits in "
                                  f"{bits} bits (|x| < 2**{bits - 1}).")
            return value
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ConfigError(f"{_flag(group, name)}={raw!r} is not allowed: must be a finite number (not nan or inf).")
            return value
        if not raw.strip() or not raw.isprintable():
            raise ConfigError(f"{_flag(group, name)}={raw!r} is not allowed: must be a non-empty printable string.")
        return raw
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(
            f"{_flag(group, name)}={raw!r} is not allowed: must be a {getattr(kind, '__name__', kind)}."
        ) from None


def parse_overrides(tokens: list[str], groups: dict[str, dict[str, object]]) -> dict[str, dict]:
    """['--env.grid-size', '13', '--ppo.lr=3e-4'] -> {'env': {'grid_size': 13}, 'ppo': {'lr': 0.0003}}."""
    out: dict[str, dict] = {g: {} for g in groups}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or "." not in tok:
            raise ConfigError(f"unexpected argument {tok!r}: settings look like --env.grid-size 13 (groups: {', '.join(groups)}).")
        key, eq, val = tok[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                raise ConfigError(f"{tok} needs a value.")
            val = tokens[i + 1]
            i += 1
        group, _, name = key.partition(".")
        if group not in groups:
            raise ConfigError(f"unknown settings group {group!r} in {tok}: groups are {', '.join(groups)}.")
        name = name.replace("-", "_")
        out[group][name] = parse_value(group, name, val, groups[group])
        i += 1
    return out
