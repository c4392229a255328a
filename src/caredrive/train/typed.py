"""Field types of settings read back from a file (config.json), checked before anything is built.

A hand-edited or foreign config.json can say `"seeds": "two"`, `"grid_size": "abc"` or be a JSON list;
without these checks the first use of such a value is a TypeError deep inside the trainer. Each check
names the field and what it must be, so the CLI prints one line.
"""

from __future__ import annotations

import dataclasses
import math
import typing

from caredrive.errors import ConfigError

_WHAT = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
FOREIGN = "config.json does not describe a caredrive run"


def _kind(v) -> str:
    return {dict: "a JSON object", list: "a JSON list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number")


def scalar(value, kind: type, name: str):
    """`value` as a `kind` (an int is a fine float), or a ConfigError naming `name`."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ConfigError(f"{FOREIGN}: {name}={shown} is not allowed: must be {_WHAT[kind]}.")
    return float(value) if kind is float else value


def fields(cls, data, where: str, nested: tuple[str, ...] = ()) -> dict:
    """The keyword arguments of dataclass `cls` in `data` (a JSON object), each scalar field type-checked;
    fields named in `nested` are passed through for the caller to check."""
    label = where or "it"
    if not isinstance(data, dict):
        raise ConfigError(f"{FOREIGN}: {label} is {_kind(data)}, not a JSON object.")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ConfigError(f"{FOREIGN}: {label} has the unknown field {unknown[0]!r} (known: {', '.join(known)}).")
    missing = [n for n, f in known.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{FOREIGN}: {label} lacks the field {missing[0]!r}.")
    out = {}
    for name, value in data.items():
        kind = hints[name]
        out[name] = value if name in nested else scalar(value, kind, f"{where}.{name}" if where else name)
    return out


def mapping(data, types: dict[str, type], where: str) -> dict:
    """A JSON object whose keys must be among `types` and whose values have those types (e.g. `env`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{FOREIGN}: {where} is {_kind(data)}, not a JSON object.")
    out = {}
    for name, value in data.items():
        if name not in types:
            raise ConfigError(f"{FOREIGN}: {where} has the unknown setting {str(name)[:40]!r}.")
        out[name] = scalar(value, types[name], f"{where}.{name}")
    return out
