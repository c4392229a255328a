"""One registry of named worlds. `make(name, **overrides)` builds one; overrides may name any field of
`EnvConfig` (static, shapes) or `EnvParams` (dynamic), and `layout` / `reward_mode` also take names."""

from __future__ import annotations

import dataclasses
import difflib

from caredrive.env import constants as C
from caredrive.env.nursery import Nursery
from caredrive.env.params import EnvConfig, EnvParams
from caredrive.errors import ConfigError

# name -> (static overrides, dynamic overrides) on top of the defaults
# three generations: each grown baby has a child of its own and is rewarded for it (lineage)
_CHAIN = {"chain": True, "reward_mode": C.REWARD_LINEAGE, "adult_age": 96, "max_steps": 320, "self_feed_age": 48}

REGISTRY: dict[str, tuple[dict, dict]] = {
    "Nursery-11x11": ({}, {}),
    # the confinement story: babies can be carried and look like hers. Every seed trained here carries its
    # baby ~96% of its life and is flagged by the Goodhart detector (README, "care by confinement")
    "Nursery-Carry-11x11": ({}, {}),
    "Nursery-7x7": ({"grid_size": 7, "n_families": 1, "max_food": 4, "max_hazards": 2, "max_predators": 1},
                    {"n_hazards": 2, "n_food": 3, "layout": C.LAYOUT_OPEN}),
    "Nursery-Solo-11x11": ({}, {"births_per_life": 0, "reward_mode": C.REWARD_SELF}),
    "Nursery-Unlabeled-11x11": ({}, {"label_own_baby": False}),
    # a candidate for memory's test: no carrying (no "cryosleep" route), and her baby looks like the other
    # family's. Measured: trained mothers just stay beside their baby, so memory did not matter here
    "Nursery-Unlabeled-NoCarry-11x11": ({}, {"label_own_baby": False, "carry_babies": False}),
    # ... and a cry without a direction: the cry says a baby needs her, not where
    "Nursery-Unlabeled-NoCarry-Quiet-11x11": ({}, {"label_own_baby": False, "carry_babies": False,
                                                   "cry_direction": False}),
    # memory's test: the same, on a bigger world with scarce food (she must leave her baby to eat) and a
    # 3x3 view (her baby is out of sight two cells away). Measured: GRU beats feed-forward here (README)
    "Nursery-Memory-15x15": ({"grid_size": 15, "view_size": 3},
                             {"label_own_baby": False, "carry_babies": False, "cry_direction": False, "n_food": 3}),
    "Nursery-Rooms-13x13": ({"grid_size": 13}, {"layout": C.LAYOUT_ROOMS}),
    "Nursery-Chain-11x11": ({"generations": 3}, _CHAIN),
    # the chain in the default world's terms: no carrying (no confinement route) and look-alike babies, so a
    # chain's care is not the "cryosleep" the carrying chain world trains (docs/RESULTS.md, chain)
    "Nursery-Chain-Unlabeled-NoCarry-11x11": ({"generations": 3},
                                              {**_CHAIN, "label_own_baby": False, "carry_babies": False}),
    "Nursery-Rebirth-11x11": ({}, {"births_per_life": 3, "rebirth_prob": 1.0, "rebirth_delay": 16}),
}

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(EnvConfig)}
_PARAM_FIELDS = {f.name for f in dataclasses.fields(EnvParams)}
_NAMED = {"layout": C.LAYOUT_NAMES, "reward_mode": C.REWARD_MODES}


def registered() -> list[str]:
    return sorted(REGISTRY)


def _named_value(field: str, value):
    if isinstance(value, str) and field in _NAMED:
        names = _NAMED[field]
        if value not in names:
            raise ConfigError(f"{field}={value!r} is not allowed: must be one of {list(names)}.")
        return names.index(value)
    return value


def split_overrides(overrides: dict) -> tuple[dict, dict]:
    """Sort keyword overrides into static (config) and dynamic (params) ones; unknown names fail clearly."""
    static, dynamic = {}, {}
    for key, value in overrides.items():
        if key in _CONFIG_FIELDS:
            static[key] = value
        elif key in _PARAM_FIELDS:
            dynamic[key] = _named_value(key, value)
        else:
            close = difflib.get_close_matches(key, sorted(_CONFIG_FIELDS | _PARAM_FIELDS), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown setting {key!r}.{hint} Settings: {', '.join(sorted(_CONFIG_FIELDS | _PARAM_FIELDS))}.")
    return static, dynamic


def make(name: str = "Nursery-11x11", **overrides) -> Nursery:
    """Build a registered world, e.g. `make("Nursery-11x11", grid_size=13, n_predators=2)`."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, registered(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown world {name!r}.{hint} Registered worlds: {', '.join(registered())}.")
    base_static, base_dynamic = REGISTRY[name]
    static, dynamic = split_overrides(overrides)
    config = EnvConfig(**{**base_static, **static})
    params = EnvParams(**{**base_dynamic, **dynamic})
    return Nursery(config, params, name=name)
