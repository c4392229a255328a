"""The state of one Nursery world: fixed-size tables with alive masks, so every step jits and vmaps.

Agent slots are laid out by generation: slots [0, F) are the founding mothers, [F, 2F) their babies,
[2F, 3F) the grandchildren (chains), ... so `parent(i) = i - F` and `child(i) = i + F` are static.
A replaced baby (rebirth) reuses its slot.
"""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class Agents:
    pos: jax.Array  # [A, 2] int32 (row, col)
    alive: jax.Array  # [A] bool
    role: jax.Array  # [A] int32: ADULT or BABY
    energy: jax.Array  # [A] float32 in [0, 1]
    health: jax.Array  # [A] float32 in [0, max_health]
    age: jax.Array  # [A] int32 ticks since birth
    carrying: jax.Array  # [A] int32: index of the agent carried, -1 if none
    carried_by: jax.Array  # [A] int32: index of the carrier, -1 if free
    holding: jax.Array  # [A] int32: index of the food item held, -1 if none
    cry: jax.Array  # [A] bool: the sensed cue of a hungry or hurt baby
    hurt: jax.Array  # [A] int32: ticks since last damage (cry cue)
    births: jax.Array  # [A] int32: times this slot has been born
    next_birth: jax.Array  # [A] int32: tick of the next (re)birth, NEVER if none is due


@struct.dataclass
class Food:
    pos: jax.Array  # [F, 2] int32
    on_ground: jax.Array  # [F] bool (False: eaten and regrowing, or held)
    held_by: jax.Array  # [F] int32: agent holding it, -1


@struct.dataclass
class Predators:
    pos: jax.Array  # [P, 2] int32
    active: jax.Array  # [P] bool (params.n_predators of them)
    scared: jax.Array  # [P] int32: ticks left fleeing


@struct.dataclass
class EventLog:
    """Per-agent counters kept in the state, so care metrics cost nothing outside jit."""

    birth_tick: jax.Array  # [A] int32 (-1 never born)
    death_tick: jax.Array  # [A] int32 (-1 alive or never born)
    death_cause: jax.Array  # [A] int32 (constants.CAUSE_NAMES)
    eaten: jax.Array  # [A] int32 food items eaten
    fed: jax.Array  # [A] int32 feedings given to a baby
    energy_given: jax.Array  # [A] float32 own energy given by nursing
    pickups: jax.Array  # [A] int32 babies picked up
    carried_ticks: jax.Array  # [A] int32 ticks this agent spent carried
    scares: jax.Array  # [A] int32 predators scared (action or presence)
    hazard_blocks: jax.Array  # [A] int32 times this baby was held back from a hazard by an adult
    cry_ticks: jax.Array  # [A] int32 ticks this agent cried
    damage: jax.Array  # [A] float32 health lost to predators and hazards


@struct.dataclass
class EnvState:
    terrain: jax.Array  # [H, W] int8: EMPTY, WALL or HAZARD
    agents: Agents
    food: Food
    predators: Predators
    log: EventLog
    t: jax.Array  # int32 tick
