"""Predators: hunt the weakest free agent in reach, bite it, and flee from adults.

A predator next to an adult is scared with chance `passive_scare` (presence protects) and any
predator hit by a `scare` action flees for `scare_duration` ticks. Carried babies cannot be targeted:
that is part of why carrying is a tempting, and detectable, shortcut.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from caredrive.env import constants as C
from caredrive.env.grid import MOVES, at, chebyshev, manhattan
from caredrive.env.state import EnvState

_STEPS = MOVES[:5]  # stay + four moves


def step_predators(u: jax.Array, state: EnvState, params) -> tuple[EnvState, jax.Array]:
    """One predator tick; `u` is [P, 7] uniforms. Also returns which agents were bitten (cause of death)."""
    ag, pr = state.agents, state.predators
    adult = ag.alive & (ag.role == C.ADULT)

    # presence: an adult next to a predator may drive it off without acting
    beside = (manhattan(ag.pos, pr.pos) <= 1) & adult[:, None] & pr.active[None, :]  # [A, P]
    roll = u[:, 0] < params.passive_scare
    passive = beside.any(axis=0) & roll & (pr.scared <= 0)
    scared = jnp.where(passive, params.scare_duration, pr.scared)
    credit = (beside & passive[None, :]).sum(axis=1)

    # the weakest (lowest health) free agent within the radius is the prey
    prey_ok = (chebyshev(pr.pos, ag.pos) <= params.predator_radius) & (ag.alive & (ag.carried_by < 0))[None, :]
    prey = jnp.argmin(jnp.where(prey_ok, ag.health[None, :], jnp.inf), axis=1)  # [P]
    hunting = prey_ok.any(axis=1) & (scared <= 0) & pr.active

    cand = pr.pos[:, None, :] + _STEPS[None]  # [P, 5, 2]
    walkable = at(state.terrain, cand) != C.WALL
    to_prey = jnp.abs(cand - ag.pos[prey][:, None, :]).sum(-1)
    nearest_adult = jnp.where(adult[None, None, :], jnp.abs(cand[:, :, None, :] - ag.pos[None, None]).sum(-1), 10**6)
    from_adult = nearest_adult.min(-1)
    noise = u[:, 2:7]
    score = jnp.where(scared[:, None] > 0, from_adult + noise * 0.1, jnp.where(hunting[:, None], -to_prey + noise * 0.1, noise))
    choice = jnp.argmax(jnp.where(walkable, score, -jnp.inf), axis=1)
    moves = (u[:, 1] < params.predator_speed) & pr.active
    pos = jnp.where(moves[:, None], jnp.take_along_axis(cand, choice[:, None, None], axis=1)[:, 0], pr.pos)

    # bite: a hunting predator next to its prey hurts it
    bites = hunting & (jnp.abs(pos - ag.pos[prey]).sum(-1) <= 1)
    bitten = (jax.nn.one_hot(prey, ag.alive.shape[0], dtype=jnp.float32) * bites[:, None]).sum(0)  # [A]
    dmg = bitten * jnp.where(ag.role == C.BABY, params.predator_damage_baby, params.predator_damage_adult)
    agents = ag.replace(health=ag.health - dmg, hurt=jnp.where(dmg > 0, 0, ag.hurt))
    log = state.log.replace(scares=state.log.scares + credit, damage=state.log.damage + dmg)
    return state.replace(
        agents=agents, predators=pr.replace(pos=pos, scared=jnp.maximum(scared - 1, 0)), log=log
    ), dmg > 0
