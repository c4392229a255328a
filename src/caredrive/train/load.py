"""Load a finished (or interrupted) run back from its folder: config.json + the latest checkpoint.

The template of the runner state is built by the very trainer code `run.train` uses, so the restore
checks every array's shape and dtype against the run's own config (a foreign or damaged checkpoint is
a clear ConfigError, not a deep shape error).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from caredrive.errors import ConfigError
from caredrive.train import checkpoint
from caredrive.train.config import TrainConfig
from caredrive.train.run import Trained, build_trainer, build_world, phase_params, trained_result
from caredrive.train.rundir import RunDir


def load_config(run_path: Path | str) -> TrainConfig:
    path = Path(run_path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a run directory: no such folder.")
    return TrainConfig.from_dict(RunDir(path).load_config())


def load_runner(run_path: Path | str, ck: Path | None = None):
    """`(cfg, world, brain, trainer, runner_state, meta)` of checkpoint `ck` (default: the latest) of a
    run; the runner state is stacked over seeds and holds every learner group and the brain's state."""
    cfg = load_config(run_path)
    run = RunDir(run_path)
    ck = checkpoint.latest(run.checkpoints) if ck is None else Path(ck)
    if ck is None:
        raise ConfigError(f"{run.path} has no checkpoint in {run.checkpoints}: train it first (or resume it).")
    meta = checkpoint.restore_meta(ck)
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    phase = cfg.phases[min(int(meta.get("phase", len(cfg.phases) - 1)), len(cfg.phases) - 1)]
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(cfg.seed), i))(jnp.arange(cfg.seeds))
    wp = brain.params(env, phase_params(world, phase))
    shapes = jax.eval_shape(jax.vmap(lambda k: trainer.init(k, None, wp)), keys)
    rs, meta = checkpoint.restore(ck, jax.tree.map(_zeros, shapes))
    return cfg, world, brain, trainer, rs, meta


def load_trained(run_path: Path | str) -> Trained:
    """The run's evaluation world, its last phase's params and the trained policy (weights stacked over
    seeds). If training was interrupted, the weights are those of the latest checkpoint."""
    cfg, world, brain, trainer, rs, meta = load_runner(run_path)
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    return trained_result(cfg, world, brain, trainer, rs, float(meta.get("wall_time", 0.0)),
                          int(meta.get("updates", 0)) * per_update)


def _zeros(s: jax.ShapeDtypeStruct) -> jax.Array:
    """A placeholder array of the shape and dtype the restore checks against: tracing the trainer's
    init (eval_shape) is enough, compiling and running it would cost seconds for nothing."""
    if jax.dtypes.issubdtype(s.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(jax.random.key(0))
        return jax.random.wrap_key_data(jnp.zeros(s.shape + data.shape, data.dtype))
    return jnp.zeros(s.shape, s.dtype)
