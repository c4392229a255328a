"""Ground truth per tick and mother, read from the state her observation was made from.

Every target is defined once here (`TARGETS`), as a float32 column with NaN where it is undefined (no
baby of hers alive, no food on the ground, ...), so probes choose their rows by the target's own
validity. "Her baby" is her own child slot (`child = mother + n_families`); in the battery's adoption
worlds an adopted baby is *another* baby. Distances are in cells on the grid, offsets are (baby - her).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import constants as C
from caredrive.env.state import EnvState


@dataclass(frozen=True)
class Target:
    kind: str  # "reg" (ridge regression, R^2) or "cls" (one-vs-rest ridge classifier, accuracy)
    classes: int  # number of classes (0 for "reg")
    doc: str


DIRECTIONS = ("here", "N", "E", "S", "W")  # class ids = the move toward her baby (stay, up, right, down, left)

TARGETS: dict[str, Target] = {
    "baby_dx": Target("reg", 0, "column offset of her baby (east positive); defined while it is alive"),
    "baby_dy": Target("reg", 0, "row offset of her baby (south positive)"),
    "baby_dist": Target("reg", 0, "Manhattan distance to her baby"),
    "baby_dir": Target("cls", 5, "direction class of her baby: here / N / E / S / W, along the larger of |dy|, |dx| "
                                 "(ties go N/S); the class id is the action that steps toward it"),
    "baby_energy": Target("reg", 0, "her baby's hidden energy in [0, 1] (never in any observation)"),
    "baby_cry": Target("cls", 2, "her baby is crying (the cue; in the body vector when babies are labelled)"),
    "baby_in_view": Target("cls", 2, "her baby lies inside her view window (Chebyshev distance <= view_size // 2)"),
    "since_fed": Target("reg", 0, "ticks since she last fed a baby (the world's `log.fed` counter rose), counted "
                                  "from her baby's birth if she has not fed since; the feed lands one tick later"),
    "own_nearest": Target("cls", 2, "the nearest living baby (Manhattan, ties to hers) is her own; defined while "
                                    "hers and at least one other baby are alive"),
    "food_dist": Target("reg", 0, "Manhattan distance to the nearest food on the ground; NaN if none"),
    "pred_near_baby": Target("cls", 2, "an active predator is within hunting reach of her baby "
                                       "(Chebyshev distance <= predator_radius)"),
    "action": Target("cls", C.NUM_ACTIONS, "the action she took at this tick"),
}


def _nan_unless(ok: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.where(ok, x.astype(jnp.float32), jnp.nan)


def tick_truth(state: EnvState, params, mothers: np.ndarray, n_families: int, view_size: int) -> dict[str, jax.Array]:
    """Every target but `since_fed` and `action` for one state: `{name: [M]}` over the mother slots."""
    ag = state.agents
    m = np.asarray(mothers)
    b = m + n_families
    me, baby = ag.pos[m], ag.pos[b]
    has = ag.alive[b] & (ag.role[b] == C.BABY)
    d = baby - me  # [M, 2] (dy, dx)
    dy, dx = d[:, 0], d[:, 1]
    dist = jnp.abs(d).sum(-1)
    vertical = jnp.abs(dy) >= jnp.abs(dx)
    direction = jnp.where(dist == 0, 0, jnp.where(vertical, jnp.where(dy < 0, 1, 3), jnp.where(dx > 0, 2, 4)))

    babies = ag.alive & (ag.role == C.BABY)  # [A]
    to_all = jnp.abs(ag.pos[None, :, :] - me[:, None, :]).sum(-1)  # [M, A]
    others = babies[None, :] & (jnp.arange(babies.shape[0])[None, :] != b[:, None])
    nearest_other = jnp.where(others, to_all, 10**6).min(-1)

    food = state.food
    to_food = jnp.abs(food.pos[None, :, :] - me[:, None, :]).sum(-1)  # [M, F]
    food_d = jnp.where(food.on_ground[None, :], to_food, 10**6).min(-1)

    pr = state.predators
    reach = jnp.abs(pr.pos[None, :, :] - baby[:, None, :]).max(-1) <= params.predator_radius
    pred_near = (reach & pr.active[None, :]).any(-1)

    return {
        "baby_dx": _nan_unless(has, dx),
        "baby_dy": _nan_unless(has, dy),
        "baby_dist": _nan_unless(has, dist),
        "baby_dir": _nan_unless(has, direction),
        "baby_energy": _nan_unless(has, ag.energy[b]),
        "baby_cry": _nan_unless(has, ag.cry[b]),
        "baby_in_view": _nan_unless(has, jnp.abs(d).max(-1) <= view_size // 2),
        "own_nearest": _nan_unless(has & (nearest_other < 10**6), dist <= nearest_other),
        "food_dist": _nan_unless(food_d < 10**6, food_d),
        "pred_near_baby": _nan_unless(has, pred_near),
    }


def since_fed(states: EnvState, mothers: np.ndarray, n_families: int) -> jax.Array:
    """`[T, M]` ticks since she last fed, from the cumulative counter over an episode's states `[T, ...]`."""
    m = np.asarray(mothers)
    fed = states.log.fed[:, m]  # [T, M]
    t = jnp.arange(fed.shape[0])[:, None]
    rose = jnp.concatenate([jnp.zeros_like(fed[:1], bool), fed[1:] > fed[:-1]], axis=0)
    last = jax.lax.cummax(jnp.where(rose, t, -1), axis=0)
    born = states.log.birth_tick[:, m + n_families]
    has = states.agents.alive[:, m + n_families]
    return _nan_unless(has, t - jnp.maximum(last, born))


def episode_truth(states: EnvState, actions: jax.Array, params, mothers: np.ndarray, n_families: int,
                  view_size: int) -> dict[str, jax.Array]:
    """`{name: [T, M]}` for every target of `TARGETS`, from an episode's states `[T, ...]` (each the state
    the tick's observation was made from) and the actions `[T, A]` taken at those ticks."""
    out = jax.vmap(lambda s: tick_truth(s, params, mothers, n_families, view_size))(states)
    out["since_fed"] = since_fed(states, mothers, n_families)
    out["action"] = actions[:, np.asarray(mothers)].astype(jnp.float32)
    return {k: out[k] for k in TARGETS}
