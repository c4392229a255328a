"""Load a finished (or interrupted) run back from its folder: config.json + the latest checkpoint.

The template of the runner state is built by the very trainer code `run.train` uses, so the restore
checks every array's name, shape and dtype against the run's own config and its digest (a foreign or
damaged checkpoint is a clear ConfigError, not a deep shape error). To read weights without the trainer
(any config, no world built), see `checkpoint.read` and `caredrive.train.snapshots`.
"""

from __future__ import annotations

from pathlib import Path

from caredrive.errors import ConfigError
from caredrive.train import checkpoint
from caredrive.train.config import TrainConfig
from caredrive.train.run import (
    Trained,
    build_trainer,
    build_world,
    resume_point,
    state_template,
    trained_result,
)
from caredrive.train.rundir import RunDir


def load_config(run_path: Path | str) -> TrainConfig:
    path = Path(run_path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a run directory: no such folder.")
    return RunDir(path).train_config()


def load_runner(run_path: Path | str, ck: Path | None = None):
    """`(cfg, world, brain, trainer, runner_state, meta)` of checkpoint `ck` (default: the latest) of a
    run; the runner state is stacked over seeds and holds every learner group and the brain's state."""
    cfg = load_config(run_path)
    run = RunDir(run_path)
    ck = checkpoint.latest(run.checkpoints) if ck is None else Path(ck)
    if ck is None:
        raise ConfigError(f"{run.path} has no checkpoint in {run.checkpoints}: train it first (or resume it).")
    phase, _, _, _ = resume_point(cfg, checkpoint.restore_meta(ck), ck)
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    rs, meta = checkpoint.restore(ck, state_template(cfg, world, brain, env, trainer, phase))
    return cfg, world, brain, trainer, rs, meta


def load_trained(run_path: Path | str) -> Trained:
    """The run's evaluation world, its last phase's params and the trained policy (weights stacked over
    seeds). If training was interrupted, the weights are those of the latest checkpoint."""
    cfg, world, brain, trainer, rs, meta = load_runner(run_path)
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    return trained_result(cfg, world, brain, trainer, rs, float(meta["wall_time"]), int(meta["updates"]) * per_update)
