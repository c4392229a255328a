"""The annealed learning rate across curriculum phases (`PPOConfig.lr_schedule`).

Each phase starts a fresh optimiser; "run" sets only the learning-rate schedule's step count in it to the
optimiser steps the run has already done, so one compiled init serves every phase and checkpoints keep
their structure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

# `PPOConfig.lr_schedule`: where each curriculum phase's fresh optimiser starts the annealed rate.
LR_SCHEDULES = {
    # every phase counts from 0 again: phase 2 restarts at the full rate and, the schedule spanning the whole
    # run, ends at lr x (earlier phases' share of the run), never 0 (what every run before the choice did)
    "restart": "each phase restarts the schedule at the full rate",
    # one schedule over the whole run: a phase starts where the previous one ended, 0 after the last update
    "run": "one linear schedule over the whole run, reaching 0 at its last update",
}


def _is_schedule(s) -> bool:
    return isinstance(s, optax.ScaleByScheduleState)


def schedule_count(opt_state) -> jax.Array:
    """The optimiser steps the learning-rate schedule has counted: the next step's rate is schedule(count).
    `optax.adam(schedule)` chains scale_by_adam, whose `count` drives bias correction, with a
    scale_by_schedule that keeps its own `count`; this is the latter."""
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_schedule) if _is_schedule(s)]
    if len(found) != 1:
        raise AssertionError(f"expected one learning-rate schedule in the optimiser state, found {len(found)}")
    return found[0].count


def schedule_at(opt_state, count):
    """`opt_state` with only the learning-rate schedule's count set to `count`. Adam's own count stays 0:
    it bias-corrects the fresh (zero) moments, and a moved count would mis-scale the first steps (~3x)."""
    schedule_count(opt_state)  # exactly one schedule, or the structure is not the one this relies on
    put = lambda s: s._replace(count=jnp.asarray(count, s.count.dtype)) if _is_schedule(s) else s
    return jax.tree.map(put, opt_state, is_leaf=_is_schedule)
