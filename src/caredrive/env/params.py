"""Settings of the Nursery world, split the Craftax way.

`EnvConfig` holds what fixes array shapes (grid size, number of agent slots, view size, capacity of
food/predator/hazard tables) and is static: changing it recompiles. `EnvParams` holds every continuous
or count knob as a JAX leaf, so a battery of worlds with different rates, layouts or reward modes is a
`vmap` over params with no recompilation. Counts in `EnvParams` (`n_food`, `n_predators`, ...) are
limited by the capacities in `EnvConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax.numpy as jnp
from flax import struct

from caredrive.env import constants as C
from caredrive.errors import ConfigError


@dataclass(frozen=True)
class EnvConfig:
    """Static, shape-fixing settings of a world."""

    grid_size: int = 11  # square grid, border walls included
    n_families: int = 2  # mothers, each with her own line of children
    generations: int = 2  # agent slots per family: mother, baby (3+ for chains)
    view_size: int = 5  # odd side of the egocentric view
    max_food: int = 8
    max_predators: int = 2
    max_hazards: int = 6
    baby_brain: str = "scripted"  # "scripted" toddler, or "external": the caller acts for babies

    @property
    def num_agents(self) -> int:
        return self.n_families * self.generations

    def validate(self) -> None:
        _check(self.grid_size >= 5, "grid_size", self.grid_size, "an integer >= 5 (border walls plus a 3x3 interior)")
        _check(self.grid_size <= 64, "grid_size", self.grid_size, "an integer <= 64")
        _check(self.n_families >= 1, "n_families", self.n_families, "an integer >= 1")
        _check(self.generations >= 2, "generations", self.generations, "an integer >= 2 (a mother and a baby)")
        interior = (self.grid_size - 2) ** 2
        _check(
            self.n_families * 2 + self.max_predators + self.max_hazards + self.max_food + 1 <= interior,
            "n_families",
            self.n_families,
            f"few enough that mothers, their babies, predators, hazards and food (max_food={self.max_food}) fit in "
            f"the {interior} interior cells of a {self.grid_size}x{self.grid_size} grid",
        )
        _check(self.view_size >= 1 and self.view_size % 2 == 1, "view_size", self.view_size, "an odd integer >= 1")
        _check(
            self.view_size <= 2 * self.grid_size - 1,
            "view_size",
            self.view_size,
            f"at most {2 * self.grid_size - 1} on a grid of size {self.grid_size}",
        )
        for name in ("max_food", "max_predators", "max_hazards"):
            _check(getattr(self, name) >= 0, name, getattr(self, name), "an integer >= 0")
        _check(self.baby_brain in ("scripted", "external"), "baby_brain", self.baby_brain, "'scripted' or 'external'")


@struct.dataclass
class EnvParams:
    """Dynamic knobs of a world: every field is a JAX leaf, so params `vmap`."""

    max_steps: int = 192
    # --- layout ---
    layout: int = C.LAYOUT_WALLS  # see constants.LAYOUT_NAMES
    wall_density: float = 0.06  # inner wall cells per interior cell (layout "walls")
    n_hazards: int = 4
    n_food: int = 5
    n_predators: int = 1
    # --- bodies ---
    adult_drain: float = 0.006  # energy per tick
    baby_drain: float = 0.008
    carry_cost: float = 0.004  # extra energy per tick while carrying a baby
    starve_damage: float = 0.05  # health per tick at zero energy
    regen: float = 0.01  # health per tick while energy > 0.5
    food_energy: float = 0.35
    nurse_amount: float = 0.1  # energy a mother gives when she feeds with empty hands
    nurse_efficiency: float = 0.8  # share of it that reaches the baby
    # --- babies ---
    baby_energy0: float = 0.5
    baby_health0: float = 0.4  # max health at birth (grows to 1 at adult_age)
    baby_move_period: int = 3  # a newborn moves every k-th tick; 1 when grown
    self_feed_age: int = 120  # before this age a baby cannot eat by itself
    adult_age: int = 400
    cry_hunger: float = 0.3  # a baby cries while its energy is below this
    cry_hurt: float = 0.5  # ... or its health is below this share of its max
    birth_cry: int = 0  # ... or it is a newborn: the `birth_cry` ticks after its birth (a cue of where it was born)
    toddler_curiosity: float = 0.5  # chance a scripted toddler heads for the nearest novel thing
    toddler_rest: float = 0.2  # chance it stays put
    guard: bool = True  # a baby next to an adult does not step into a hazard
    # --- births ---
    birth_min: int = 8
    birth_max: int = 32
    births_per_life: int = 1
    rebirth_delay: int = 16
    rebirth_prob: float = 0.0
    chain: bool = False  # a grown baby gives birth itself
    chain_birth_delay: int = 8
    mother_leaves: bool = False  # the "no mother" baseline: she leaves the world when her child is born
    # --- predators ---
    predator_radius: int = 4  # hunts the weakest agent within this Chebyshev distance
    predator_speed: float = 0.5  # chance to move each tick
    predator_damage_baby: float = 0.25
    predator_damage_adult: float = 0.05
    scare_radius: int = 2
    scare_duration: int = 12
    passive_scare: float = 0.5  # chance an adult next to a predator scares it without acting
    hazard_damage_adult: float = 0.2
    food_regrow: float = 0.08  # chance per tick that an eaten food item regrows somewhere
    # --- observation and reward ---
    label_own_baby: bool = True  # False: all babies look alike, the mother must track hers
    know_own_cry: bool = False  # True: she knows her own baby's cry (its voice) even where babies look alike
    hear_other_cries: bool = False  # ... and, while hers is quiet, hears the nearest other crying baby (cry 0.5)
    cry_direction: bool = True  # False: she hears that a baby cries, not where (sight or memory must find it)
    carry_babies: bool = True  # False: babies cannot be picked up (no carrying, no "cryosleep" route)
    reward_mode: int = C.REWARD_BABY
    reward_mix: float = 0.5  # weight of self-survival in reward mode "mixed"
    # --- held-out battery knobs (the defaults are the training world; see eval/battery.py) ---
    arena: int = 0  # side of the walled-in play area centred in the grid; 0: the whole grid
    family_mode: int = C.FAMILY_ALL  # FAMILY_SOLO / FAMILY_ADOPT: odd families' mothers are absent
    adopt_only: bool = False  # FAMILY_ADOPT: the adopting mother has no baby of her own (a foster)
    adopted_label: int = 0  # how the adopted baby seems to her: 0 another baby, 1 looks hers, 2 looks+sounds hers
    birth_far: bool = False  # her own baby is born on the free cell farthest from her
    # a training knob, not a battery one: each founding family's first baby is born beside the other mother
    # of its pair (families 0-1, 2-3, ...), so at every birth a look-alike that is not hers lies beside her
    # while hers cries beside another mother (with a voice she knows, the cue that tells them apart)
    cuckoo: bool = False
    baby_food: int = 0  # the last `baby_food` food items feed only babies; nothing else nourishes a baby
    mother_energy0: float = 0.8  # founding mothers' energy at the start


_NONNEG_FLOATS = (
    "wall_density", "adult_drain", "baby_drain", "carry_cost", "starve_damage", "regen", "food_energy",
    "nurse_amount", "predator_damage_baby", "predator_damage_adult", "hazard_damage_adult",
)
_PROBS = (
    "toddler_curiosity", "toddler_rest", "rebirth_prob", "predator_speed", "passive_scare", "food_regrow",
    "reward_mix", "nurse_efficiency", "cry_hunger", "cry_hurt",
)
_NONNEG_INTS = (
    "n_hazards", "n_food", "n_predators", "birth_min", "births_per_life", "rebirth_delay", "self_feed_age",
    "chain_birth_delay", "birth_cry", "scare_duration", "scare_radius", "predator_radius", "arena", "baby_food",
)


def _check(ok: bool, field: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{field}={value!r} is not allowed: must be {allowed}.")


def validate_params(config: EnvConfig, params: EnvParams) -> None:
    """Check concrete (non-traced, unbatched) params against the config; raise ConfigError naming the field."""
    p = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    for name in _NONNEG_FLOATS:
        _check(float(p[name]) >= 0, name, p[name], "a number >= 0")
    for name in _PROBS:
        _check(0.0 <= float(p[name]) <= 1.0, name, p[name], "a number between 0 and 1")
    for name in _NONNEG_INTS:
        _check(int(p[name]) >= 0, name, p[name], "an integer >= 0")
    _check(int(p["max_steps"]) >= 1, "max_steps", p["max_steps"], "an integer >= 1")
    _check(float(p["wall_density"]) <= 0.3, "wall_density", p["wall_density"], "a number between 0 and 0.3 (denser walls seal the map)")
    _check(0.0 < float(p["baby_energy0"]) <= 1, "baby_energy0", p["baby_energy0"], "a number in (0, 1]")
    _check(0.0 < float(p["baby_health0"]) <= 1, "baby_health0", p["baby_health0"], "a number in (0, 1]")
    _check(int(p["baby_move_period"]) >= 1, "baby_move_period", p["baby_move_period"], "an integer >= 1")
    _check(
        int(p["arena"]) == 0 or 5 <= int(p["arena"]) <= config.grid_size, "arena", p["arena"],
        f"0 (the whole grid) or an integer from 5 to grid_size={config.grid_size}",
    )
    _check(0 <= int(p["family_mode"]) < len(C.FAMILY_MODES), "family_mode", p["family_mode"], f"one of {list(C.FAMILY_MODES)}")
    _check(
        int(p["family_mode"]) == C.FAMILY_ALL or config.n_families >= 2, "family_mode", p["family_mode"],
        "used with n_families >= 2 (odd families make way for the even ones)",
    )
    _check(0 <= int(p["adopted_label"]) <= 2, "adopted_label", p["adopted_label"], "0, 1 or 2")
    _check(int(p["baby_food"]) <= int(p["n_food"]), "baby_food", p["baby_food"], f"at most n_food={p['n_food']}")
    _check(0.0 < float(p["mother_energy0"]) <= 1, "mother_energy0", p["mother_energy0"], "a number in (0, 1]")
    _check(int(p["adult_age"]) >= 1, "adult_age", p["adult_age"], "an integer >= 1")
    _check(
        int(p["birth_max"]) >= int(p["birth_min"]), "birth_max", p["birth_max"], f"an integer >= birth_min={p['birth_min']}"
    )
    _check(0 <= int(p["layout"]) < len(C.LAYOUT_NAMES), "layout", p["layout"], f"one of {list(C.LAYOUT_NAMES)}")
    _check(
        0 <= int(p["reward_mode"]) < len(C.REWARD_MODES), "reward_mode", p["reward_mode"], f"one of {list(C.REWARD_MODES)}"
    )
    for count, cap in (("n_food", "max_food"), ("n_predators", "max_predators"), ("n_hazards", "max_hazards")):
        _check(
            int(p[count]) <= getattr(config, cap),
            count,
            p[count],
            f"at most {cap}={getattr(config, cap)} (raise {cap} to allow more)",
        )
    if bool(p["chain"]):
        _check(config.generations >= 3, "chain", True, "used with generations >= 3 (a grandchild needs an agent slot)")


def coerce_params(params: EnvParams) -> EnvParams:
    """Turn Python defaults into JAX scalars with fixed dtypes, so params vmap and hash consistently."""
    out = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        if isinstance(f.default, bool):
            out[f.name] = jnp.asarray(v, jnp.bool_)
        elif isinstance(f.default, int):
            out[f.name] = jnp.asarray(v, jnp.int32)
        else:
            out[f.name] = jnp.asarray(v, jnp.float32)
    return params.replace(**out)
