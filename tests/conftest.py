"""Shared test settings and helpers for the Nursery world.

Helpers (`build_state`, `params_like`) are imported by the test modules: `from conftest import ...`.

Strict JAX: implicit rank promotion raises (a [A] array silently broadcast against a [A, A] one is the
classic shape bug of a fixed-size-table world). Strict *dtype* promotion is not turned on: the world mixes
int/bool/float on purpose (e.g. `0.5 * (carried_by < 0)`).

Hypothesis: a derandomized profile so that a property test either always passes or always fails on a
given tree (set HYPOTHESIS_PROFILE=explore for fresh random examples, shrunk on failure).
"""

from __future__ import annotations

import os

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
# one CPU device, whatever the machine: the CLI's own call (caredrive.devices) then finds JAX set up and
# leaves it; the sharded-seeds path is tested in a fresh process (test_devices.py)
jax.config.update("jax_num_cpu_devices", 1)
# no machine-wide cache of selfish baselines in tests (caredrive.eval.selfish): each test trains what it
# checks; tests/test_selfish_cache.py points the cache at a temporary folder. Subprocesses inherit this.
os.environ["CAREDRIVE_CACHE"] = "off"

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from caredrive.env import constants as C  # noqa: E402
from caredrive.env.layout import parse_ascii  # noqa: E402
from caredrive.env.state import Agents, EnvState, EventLog, Food, Predators  # noqa: E402

# "ci": fixed examples and no shrinking (a failing example is reported as drawn; shrinking a whole
# trajectory costs minutes). "explore": fresh examples, shrunk to a minimal one.
settings.register_profile(
    "ci", max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.register_profile(
    "explore", max_examples=50, deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def params_like(env, base=None, **overrides):
    """`base` (default: the world's params) with some fields replaced, keeping each leaf's dtype and
    weak type, so a jitted step never recompiles because of a hand-made param."""
    base = env.default_params if base is None else base
    out = {}
    for name, value in overrides.items():
        ref = getattr(base, name)
        out[name] = jnp.asarray(value, dtype=ref.dtype)
    return base.replace(**out)


def build_state(env, rows, agents, food=(), predators=(), t=0) -> EnvState:
    """A hand-built EnvState for `env` (shapes from its config).

    rows: ASCII terrain (`parse_ascii`: '#' wall, '~' hazard), grid_size x grid_size.
    agents: {slot: {field: value}} with any `Agents` field, plus `birth_tick`. A listed slot is alive unless
      it says `alive=False`; unlisted slots are unborn (dead, births 0, next_birth NEVER). A live slot
      defaults to: role by `roles_at_start`, energy 0.8, health 1 (adult) or baby_health0 (baby), age
      adult_age (adult) or 0 (baby), born once (babies), birth tick 0, hands empty. A dead slot defaults to
      unborn (energy, health, births 0); give `births=1` for a baby that was born and died.
    food: [(row, col)] items on the ground (others absent); an item may be {'pos':..., 'held_by': i}.
    predators: [(row, col)] active predators, or {'pos':..., 'scared': k}.
    """
    cfg = env.config
    n, a = cfg.grid_size, cfg.num_agents
    terrain = parse_ascii(rows)
    assert terrain.shape == (n, n), f"terrain must be {n}x{n}, got {terrain.shape}"
    p = env.default_params
    roles = env.roles_at_start
    ag = {
        "pos": np.ones((a, 2), np.int32),
        "alive": np.zeros(a, bool),
        "role": roles.copy(),
        "energy": np.zeros(a, np.float32),
        "health": np.zeros(a, np.float32),
        "age": np.zeros(a, np.int32),
        "carrying": np.full(a, -1, np.int32),
        "carried_by": np.full(a, -1, np.int32),
        "holding": np.full(a, -1, np.int32),
        "cry": np.zeros(a, bool),
        "hurt": np.full(a, 1000, np.int32),
        "births": np.zeros(a, np.int32),
        "next_birth": np.full(a, C.NEVER, np.int32),
    }
    birth_tick = np.full(a, -1, np.int32)
    for slot, fields in agents.items():
        fields = dict(fields)
        alive = bool(fields.pop("alive", True))
        role = fields.get("role", roles[slot])
        ag["role"][slot] = role
        if alive:  # a living agent: born (babies) or founding (mothers), fed and healthy
            ag["alive"][slot] = True
            ag["energy"][slot] = 0.8
            ag["health"][slot] = 1.0 if role == C.ADULT else float(p.baby_health0)
            ag["age"][slot] = int(p.adult_age) if role == C.ADULT else 0
            ag["births"][slot] = 0 if slot < cfg.n_families else 1
            birth_tick[slot] = 0
        if "birth_tick" in fields:
            birth_tick[slot] = fields.pop("birth_tick")
        elif not alive and fields.get("births", 0) > 0:
            birth_tick[slot] = 0  # born once, dead now
        for key, value in fields.items():
            ag[key][slot] = value
    nf, npred = cfg.max_food, cfg.max_predators
    food_pos = np.zeros((nf, 2), np.int32)
    on_ground = np.zeros(nf, bool)
    held_by = np.full(nf, -1, np.int32)
    for k, item in enumerate(food):
        item = item if isinstance(item, dict) else {"pos": item}
        food_pos[k] = item["pos"]
        held_by[k] = item.get("held_by", -1)
        on_ground[k] = held_by[k] < 0
    pred_pos = np.zeros((npred, 2), np.int32)
    active = np.zeros(npred, bool)
    scared = np.zeros(npred, np.int32)
    for k, item in enumerate(predators):
        item = item if isinstance(item, dict) else {"pos": item}
        pred_pos[k] = item["pos"]
        active[k] = True
        scared[k] = item.get("scared", 0)
    zi, zf = np.zeros(a, np.int32), np.zeros(a, np.float32)
    log = EventLog(
        birth_tick=birth_tick, death_tick=np.full(a, -1, np.int32), death_cause=zi, eaten=zi, fed=zi,
        energy_given=zf, pickups=zi, carried_ticks=zi, scares=zi, hazard_blocks=zi, cry_ticks=zi, damage=zf,
    )
    state = EnvState(
        terrain=terrain,
        agents=Agents(**ag),
        food=Food(pos=food_pos, on_ground=on_ground, held_by=held_by),
        predators=Predators(pos=pred_pos, active=active, scared=scared),
        log=log,
        t=np.int32(t),
    )
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=np.asarray(x).dtype), state)



@pytest.fixture(scope="session")
def make_state():
    """`build_state` as a fixture, for test modules that take their helpers as fixtures."""
    return build_state


def train_tiny(run):
    """A tiny trained run folder (`caredrive train --preset tiny`, no evaluation) in a subprocess, for tests
    that need real checkpoints."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "caredrive.cli", "train", "--preset", "tiny", "--out", str(run),
                    "--eval-episodes", "0", "--no-progress"], check=True, capture_output=True)
    return run


@pytest.fixture()
def no_checkpoints(tmp_path):
    """A run folder with a valid config.json and nothing trained: any error that needs the run would say
    'has no checkpoint', so an error naming a flag proves the flag was checked first."""
    from caredrive.train.config import PRESETS
    from caredrive.train.rundir import RunDir

    run = tmp_path / "run"
    RunDir(run).create(PRESETS["tiny"].to_dict())
    return run


def one_line_error(capsys, argv) -> str:
    """Run the CLI in-process and check it failed the way bad input must: exit 2, one line, no traceback."""
    from caredrive.cli import main

    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("caredrive: error: ") and "\n" not in err and "Traceback" not in err
    return err
