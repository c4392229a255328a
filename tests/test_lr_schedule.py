"""`ppo.lr_schedule`: does phase 2's fresh optimiser restart the annealed learning rate or continue it?

Two tiny two-phase runs (2 + 2 updates, 2 optimiser steps each) read back through the `lr` metric (the
rate of each update's first optimiser step) and the final checkpoint's optimiser state.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import numpy as np
import optax
import pytest
from jax.experimental.compilation_cache import compilation_cache

from caredrive.errors import ConfigError
from caredrive.train import checkpoint
from caredrive.train.config import PRESETS, TrainConfig, build_config
from caredrive.train.ppo import PPOConfig
from caredrive.train.run import build_trainer, build_world, state_template, train
from caredrive.train.rundir import RunDir
from caredrive.train.schedule import schedule_count


def _tiny(schedule: str) -> TrainConfig:
    tiny = PRESETS["tiny"]
    return dataclasses.replace(tiny, seeds=1, ppo=dataclasses.replace(tiny.ppo, lr_schedule=schedule))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both runs compile the same training chunk (the schedule only moves a count at a phase's init), so
    an on-disk compile cache for this module lets the second reuse the first's instead of recompiling."""
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla")))
    compilation_cache.reset_cache()
    out = {}
    try:
        for schedule in ("restart", "run"):
            cfg = _tiny(schedule)
            run = RunDir(tmp_path_factory.mktemp("lr") / schedule)
            run.create(cfg.to_dict())
            train(cfg, run, progress=False)
            out[schedule] = (cfg, run)
        yield out
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        compilation_cache.reset_cache()


def _final_state(cfg: TrainConfig, run: RunDir):
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    template = state_template(cfg, world, brain, env, trainer, len(cfg.phases) - 1)
    return checkpoint.restore(checkpoint.latest(run.checkpoints), template)[0]


def _sizes(cfg: TrainConfig, run: RunDir):
    rows = run.read_metrics()
    steps = cfg.ppo.update_epochs * cfg.ppo.num_minibatches  # optimiser steps per update
    return rows, len(rows), sum(r["phase"] == "self" for r in rows), steps


def test_run_schedule_continues_into_phase_2_and_reaches_zero(runs):
    cfg, run = runs["run"]
    rows, total, first_phase, steps = _sizes(cfg, run)
    assert first_phase == 2 and total == 4
    # one line over the whole run: phase 2's first update sits where phase 1's schedule left off
    assert np.allclose([r["lr"] for r in rows], [cfg.ppo.lr * (1 - u / total) for u in range(total)], rtol=1e-6)
    assert rows[first_phase]["lr"] == pytest.approx(cfg.ppo.lr / 2, rel=1e-6)
    # after the last update the schedule has counted every optimiser step of the run: its rate is 0 ...
    opt_state = _final_state(cfg, run).train_state[0].opt_state
    count = int(schedule_count(opt_state)[0])
    assert count == total * steps
    assert float(optax.linear_schedule(cfg.ppo.lr, 0.0, total * steps)(count)) == 0.0
    # ... while adam's bias correction counted only phase 2's steps (its fresh moments' own count)
    is_adam = lambda s: isinstance(s, optax.ScaleByAdamState)
    adam = [s for s in jax.tree.leaves(opt_state, is_leaf=is_adam) if is_adam(s)]
    assert [int(s.count[0]) for s in adam] == [(total - first_phase) * steps]


def test_restart_schedule_starts_phase_2_at_the_full_rate(runs):
    cfg, run = runs["restart"]
    rows, total, first_phase, steps = _sizes(cfg, run)
    want = [cfg.ppo.lr * (1 - (u if u < first_phase else u - first_phase) / total) for u in range(total)]
    assert np.allclose([r["lr"] for r in rows], want, rtol=1e-6)
    assert rows[first_phase]["lr"] == pytest.approx(cfg.ppo.lr)
    assert int(schedule_count(_final_state(cfg, run).train_state[0].opt_state)[0]) == (total - first_phase) * steps


def test_schedules_share_phase_1_and_differ_in_phase_2(runs):
    """"restart" is what every run did before the choice: the default (studies in progress rely on it).
    Phase 1 is the same for both, bit for bit; phase 2 trains at other rates, so its losses differ."""
    assert PPOConfig().lr_schedule == "restart"
    assert {p.ppo.lr_schedule for p in PRESETS.values()} == {"restart"}
    (_, restart), (_, run) = runs["restart"], runs["run"]
    a, b = restart.read_metrics(), run.read_metrics()
    first = [r for r in a if r["phase"] == "self"]
    assert json.dumps(first, sort_keys=True) == json.dumps(b[: len(first)], sort_keys=True)
    assert all(x["loss/total"] != y["loss/total"] for x, y in zip(a[len(first):], b[len(first):], strict=True))


@pytest.mark.slow  # a third training: ~8 s from the module's compile cache, but it would push the file past 60 s
def test_run_schedule_resumed_in_phase_2_continues_identically(runs, tmp_path):
    cfg, run = runs["run"]
    killed = RunDir(tmp_path / "killed")
    shutil.copytree(run.path, killed.path)
    cks = checkpoint.listing(killed.checkpoints)
    shutil.rmtree(cks[-1])  # killed after update 3 of 4: the newest checkpoint left is inside phase 2
    meta = checkpoint.restore_meta(cks[-2])
    assert meta["phase"] == 1 and meta["updates"] == 3
    rows = killed.read_metrics()
    killed.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows[: meta["updates"] * cfg.seeds]))
    train(cfg, killed, resume=True, progress=False)
    assert json.dumps(killed.read_metrics(), sort_keys=True) == json.dumps(run.read_metrics(), sort_keys=True)


def test_bad_lr_schedule_is_one_line_naming_the_field():
    with pytest.raises(ConfigError) as e:
        build_config("tiny", ["--ppo.lr-schedule", "bogus"])
    msg = str(e.value)
    assert "\n" not in msg and "ppo.lr_schedule='bogus'" in msg and "'restart'" in msg and "'run'" in msg
    assert build_config("tiny", ["--ppo.lr-schedule", "run"]).ppo.lr_schedule == "run"


def test_config_json_keeps_the_schedule_and_older_files_load_as_restart():
    d = json.loads(json.dumps(_tiny("run").to_dict()))  # as config.json holds it
    assert d["ppo"]["lr_schedule"] == "run" and TrainConfig.from_dict(d).ppo.lr_schedule == "run"
    del d["ppo"]["lr_schedule"]  # a config.json written before the field existed
    assert TrainConfig.from_dict(d).ppo.lr_schedule == "restart"
    d["ppo"]["lr_schedule"] = 3
    with pytest.raises(ConfigError, match="ppo.lr_schedule=3"):
        TrainConfig.from_dict(d)
