"""Train mothers: the curriculum (live for yourself, then a baby is born), many seeds in one jit.

Training runs in chunks of `chunk_updates` PPO updates, each one jitted `lax.scan` over updates
inside a `vmap` over seeds. Between chunks we log metrics, move the progress bar and, every
`checkpoint_every` chunks, save the whole runner state. Because every chunk is a pure function of
that state, `resume` continues a killed run with exactly the results it would have had.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import ActorCritic
from caredrive.devices import gather, spread
from caredrive.env import constants as C
from caredrive.env.nursery import Nursery
from caredrive.env.registry import make
from caredrive.env.wrappers import AutoReset, Varied, VecAutoReset
from caredrive.errors import ConfigError
from caredrive.train import checkpoint, snapshots
from caredrive.train.brains import Brain, brain_names, get_brain
from caredrive.train.config import Phase, TrainConfig
from caredrive.train.policy import NetworkPolicy
from caredrive.train.ppo import make_train
from caredrive.train.rundir import RunDir


def baby_brain(cfg: TrainConfig) -> Brain:
    try:
        return get_brain(cfg.baby_brain)
    except KeyError:
        raise ConfigError(f"baby_brain={cfg.baby_brain!r} is not allowed: must be one of {brain_names()}.") from None


def build_world(cfg: TrainConfig) -> Nursery:
    """The world training steps (its `baby_brain` is the brain's: the toddler, or the caller's actions)."""
    return make(cfg.world, baby_brain=baby_brain(cfg).world_brain, **cfg.env)


def eval_world(cfg: TrainConfig, world: Nursery | None = None) -> Nursery:
    """The world the trained mother is evaluated in (see `caredrive.train.brains` on evaluation):
    `world` (the training world) itself when the brain evaluates in the world it trained in."""
    brain = baby_brain(cfg)
    if world is not None and brain.eval_brain == brain.world_brain:
        return world
    return make(cfg.world, baby_brain=brain.eval_brain, **cfg.env)


def training_env(world, cfg: TrainConfig):
    """The auto-resetting batch of worlds PPO steps: shared fresh worlds (cheap) or one reset per world."""
    if cfg.reset_ratio > 0:
        return VecAutoReset(world, cfg.ppo.num_envs, cfg.reset_ratio)
    return AutoReset(world)


def network(world: Nursery, cfg: TrainConfig) -> ActorCritic:
    """The module every network of a run has (mothers', babies', the frozen copy): one shape."""
    return ActorCritic(num_actions=world.num_actions, hidden=cfg.ppo.hidden, recurrent=cfg.ppo.recurrent, num_roles=2,
                       memory=cfg.ppo.memory)


def build_trainer(cfg: TrainConfig, world: Nursery, ppo=None):
    """`(brain, env, trainer)` of a run: the brain's wrapped world, auto-reset, and one PPO trainer for
    every phase (phases differ only in traced env params). `ppo` defaults to the whole run's length."""
    brain = baby_brain(cfg)
    if ppo is None:
        per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
        ppo = dataclasses.replace(cfg.ppo, total_timesteps=sum(n * k for n, k in _plan(cfg)) * per_update)
    stepped = world  # a training distribution draws some settings per episode (cfg.vary), else one world
    if cfg.vary:
        stepped = Varied(world, tuple(v.field for v in cfg.vary), tuple(v.values for v in cfg.vary))
    env = brain.wrap(stepped, network(world, cfg))
    main, *co = brain.groups(world)
    trainer = make_train(ppo, training_env(env, cfg), brain.params(env, phase_params(world, cfg.phases[0])),
                         learner_mask=main.mask, roles=main.roles, num_roles=2, co_learners=tuple(co))
    if trainer.network != network(world, cfg):
        raise AssertionError("the trainer's network differs from the run's network shape")
    return brain, env, trainer


def phase_params(world: Nursery, phase: Phase):
    return world.check_params(
        world.default_params.replace(
            births_per_life=phase.births_per_life, reward_mode=C.REWARD_MODES.index(phase.reward_mode)
        )
    )


def learners(world: Nursery, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Who the mothers' network plays (mothers; everyone when babies share it) and their role ids."""
    main = baby_brain(cfg).groups(world)[0]
    return np.asarray(main.mask, bool), np.asarray(main.roles)


@dataclass
class Trained:
    """What a finished run hands to evaluation: the world, its final params, one policy per seed.

    `policy` is the mothers' network. `world` is the evaluation world of the run's baby brain: the
    training world for `scripted` and `shared`; for `mother_copy` and `network` the same world with the
    scripted toddler as the baby. `baby_policy` is then the babies' network (`network`) or the frozen
    mother (`mother_copy`), stacked over seeds, for an evaluation that wants the training brain (in a
    world built with `baby_brain="external"`; its memory resets at the episode's start, not at birth).
    """

    world: Nursery
    env_params: object
    policy: NetworkPolicy  # weights stacked over seeds
    seeds: int
    wall_time: float
    timesteps: int
    baby_policy: NetworkPolicy | None = None


def init_seeds(trainer, keys, weights=None, world_params=None, done_updates: int = 0):
    """The runner states of every seed, stacked along a leading axis.

    One jitted init per seed, so each seed may start from its own world params: `world_params` is the
    params, or a function `seed -> params` (e.g. a mother_copy phase whose frozen weights differ per seed).
    `weights` (stacked over seeds) start the network from a previous phase; None draws fresh ones.
    `done_updates`: the run's updates before this phase (where `ppo.lr_schedule="run"` continues the rate).
    """
    init = jax.jit(trainer.init)
    per_seed = []
    for s in range(keys.shape[0]):
        w = None if weights is None else jax.tree.map(lambda x, s=s: x[s], weights)
        wp = world_params(s) if callable(world_params) else world_params
        per_seed.append(init(keys[s], w, wp, done_updates))
    return jax.tree.map(lambda *xs: jnp.stack(xs), *per_seed)


def _plan(cfg: TrainConfig) -> list[tuple[int, int]]:
    """Per phase: (chunks, updates per chunk). Updates are rounded down to whole chunks."""
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    plan = []
    for ph in cfg.phases:
        updates = max(1, ph.timesteps // per_update)
        k = min(cfg.chunk_updates, updates)
        plan.append((max(1, updates // k), k))
    return plan


def train(cfg: TrainConfig, run: RunDir, resume: bool = False, progress: bool = True) -> Trained:
    cfg.validate()
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    plan = _plan(cfg)
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    total_updates = sum(n * k for n, k in plan)
    seed_keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(cfg.seed), i))(jnp.arange(cfg.seeds))

    start_phase, start_chunk, done_updates, wall_before = 0, 0, 0, 0.0
    restored = None
    if resume:
        restored, start_phase, start_chunk, done_updates, wall_before = _resume(cfg, run, world, brain, env, trainer)
    snap_at = set(snapshots.schedule(plan, cfg.snapshots))

    bar = _bar(total_updates, done_updates, progress)
    # one trainer and one compiled chunk for every phase: phases differ only in (traced) world params
    chunks = {}

    def run_chunk(rs, k):
        if k not in chunks:
            chunks[k] = jax.jit(jax.vmap(lambda r: jax.lax.scan(lambda x, _: trainer.update(x), r, None, length=k)))
        return chunks[k](rs)

    weights = None  # per learner group, stacked over seeds
    frozen = None  # what a finished phase hands to the next phases' env params (mother_copy: her weights)
    t0 = time.perf_counter()
    for p, (phase, (n_chunks, k)) in enumerate(zip(cfg.phases, plan, strict=True)):
        if p < start_phase:
            continue
        wp = phase_params(world, phase)
        keys = jax.vmap(lambda s, p=p: jax.random.fold_in(s, p))(seed_keys)

        def seed_params(s, wp=wp, frozen=frozen):  # on resume, a placeholder the checkpoint overwrites
            return brain.params(env, wp, None if frozen is None else jax.tree.map(lambda x: x[s], frozen))

        first = 0
        if restored is not None and p == start_phase:
            rs, first, restored = restored, start_chunk, None
        else:
            # a phase's fresh optimiser; with ppo.lr_schedule="run" its rate continues from the earlier phases
            rs = init_seeds(trainer, keys, weights, seed_params, sum(n * k for n, k in plan[:p]))
        rs = spread(rs, cfg.seeds)  # seeds side by side on every CPU core (caredrive.devices)
        if done_updates == 0 and 0 in snap_at:  # the untrained network: the baseline of "what is learned when"
            _snapshot(run, rs, 0, p, phase, cfg, per_update)
        for c in range(first, n_chunks):
            t_chunk = time.perf_counter()
            rs, metrics = run_chunk(rs, k)
            metrics = jax.device_get(metrics)
            run.log(_rows(metrics, phase.name, done_updates, per_update, cfg.seeds))
            diverged = first_bad_loss(metrics, done_updates)
            if diverged is not None:  # stop: every later update would train on NaN (the row above shows it)
                if bar is not None:
                    bar.close()
                run.close()
                raise ConfigError(f"training diverged in phase {phase.name!r}: {diverged}; stopped, the last "
                                  f"checkpoint is kept. Lower --ppo.lr (now {cfg.ppo.lr:g}) or --ppo.max-grad-norm.")
            done_updates += k
            _advance(bar, k, metrics, per_update * cfg.seeds * k / (time.perf_counter() - t_chunk))
            if done_updates in snap_at:  # before the checkpoint: a resume redoes this chunk and its snapshot
                _snapshot(run, rs, done_updates, p, phase, cfg, per_update)
            if (c + 1) % cfg.checkpoint_every == 0 or c == n_chunks - 1:
                checkpoint.save(
                    run.checkpoints, done_updates, rs,
                    {"phase": p, "chunk": c, "updates": done_updates,
                     "wall_time": wall_before + time.perf_counter() - t0},
                    keep=cfg.keep_checkpoints,
                )
        rs = gather(rs, cfg.seeds)
        weights = tuple(ts.params for ts in rs.train_state)
        frozen = brain.frozen_after(p, rs)
    if bar is not None:
        bar.close()
    run.close()
    return trained_result(cfg, world, brain, trainer, rs, wall_before + time.perf_counter() - t0, done_updates * per_update)


def _snapshot(run: RunDir, rs, updates: int, p: int, phase: Phase, cfg: TrainConfig, per_update: int) -> None:
    snapshots.save(run.path, updates, rs.train_state[0].params,
                   {"phase": p, "phase_name": phase.name, "seeds": cfg.seeds, "timesteps_per_seed": updates * per_update})


def state_template(cfg: TrainConfig, world: Nursery, brain: Brain, env, trainer, phase: int):
    """Placeholders with the shapes and dtypes of phase `phase`'s runner state (stacked over seeds), for a
    checkpoint to be restored into: tracing the trainer's init is enough, compiling it would cost seconds."""
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(cfg.seed), i))(jnp.arange(cfg.seeds))
    wp = brain.params(env, phase_params(world, cfg.phases[phase]))
    shapes = jax.eval_shape(jax.vmap(lambda k: trainer.init(k, None, wp)), keys)
    return jax.tree.map(_zeros, shapes)


def _zeros(s: jax.ShapeDtypeStruct) -> jax.Array:
    if jax.dtypes.issubdtype(s.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(jax.random.key(0))
        return jax.random.wrap_key_data(jnp.zeros(s.shape + data.shape, data.dtype))
    return jnp.zeros(s.shape, s.dtype)


def resume_point(cfg: TrainConfig, meta: dict, where) -> tuple[int, int, int, float]:
    """`(phase, chunk, updates, wall_time)` of a checkpoint's meta.json, checked against the run's plan:
    a damaged or foreign meta.json (phase 7 of 2, a chunk past the phase, updates that do not add up)
    is one ConfigError, not a crash later."""
    plan = _plan(cfg)
    phase, chunk, updates, wall = (meta.get(k) for k in ("phase", "chunk", "updates", "wall_time"))
    ints = all(isinstance(x, int) and not isinstance(x, bool) for x in (phase, chunk, updates))
    fits = ints and 0 <= phase < len(plan) and 0 <= chunk < plan[phase][0]
    if fits:
        fits = updates == sum(n * k for n, k in plan[:phase]) + (chunk + 1) * plan[phase][1]
    if not fits or not isinstance(wall, int | float) or isinstance(wall, bool) or not 0 <= wall < float("inf"):
        raise ConfigError(
            f"checkpoint {where} does not belong to this run's config: its meta.json says phase={phase!r}, "
            f"chunk={chunk!r}, updates={updates!r}, wall_time={wall!r}; the run has {len(plan)} phases of "
            f"{[n for n, _ in plan]} chunks of {[k for _, k in plan]} updates.")
    return phase, chunk, updates, float(wall)


def _resume(cfg: TrainConfig, run: RunDir, world: Nursery, brain: Brain, env, trainer):
    """`(runner state or None, phase, next chunk, updates done, wall time)` to resume `run` from. Every
    check (meta, arrays, digests, metrics rows) comes before the one write: metrics.jsonl rewound to
    the checkpoint, so a refused resume leaves the run as it was."""
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    ck = checkpoint.latest(run.checkpoints)
    if ck is None:
        run.metrics_before(0)  # damage is still refused
        print(f"caredrive: note: {run.path} has no checkpoint in {run.checkpoints.name}/: training restarts "
              "from update 0.", file=sys.stderr, flush=True)
        rs, phase, chunk, updates, wall = None, 0, 0, 0, 0.0
    else:
        phase, chunk, updates, wall = resume_point(cfg, checkpoint.restore_meta(ck), ck)
        rs, _ = checkpoint.restore(ck, state_template(cfg, world, brain, env, trainer, phase))
        chunk += 1
    text, rows = run.metrics_before(updates)
    if rows != updates * cfg.seeds:
        print(f"caredrive: note: {run.metrics_path} has {rows} rows before update {updates}, not "
              f"{updates * cfg.seeds}: the curve has a gap there.", file=sys.stderr, flush=True)
    run.replace_metrics(text)
    run.tb_purge_step = (updates + 1) * per_update  # TensorBoard shows the redone updates once
    return rs, phase, chunk, updates, wall


def trained_result(cfg: TrainConfig, world: Nursery, brain: Brain, trainer, rs, wall_time: float,
                   timesteps: int) -> Trained:
    """The `Trained` of a runner state stacked over seeds (the end of training, or a checkpoint)."""
    world = eval_world(cfg, world)
    main = trainer.groups[0]
    mask = np.asarray(main.mask, bool)
    policy = NetworkPolicy(
        weights=rs.train_state[0].params, net=trainer.network, learners=tuple(int(i) for i in np.nonzero(mask)[0]),
        roles=tuple(int(r) for r in np.asarray(main.roles)[mask]), num_agents=world.num_agents,
    )
    return Trained(world, phase_params(world, cfg.phases[-1]), policy, cfg.seeds, wall_time, timesteps,
                   baby_policy=brain.baby_policy(world, trainer.network, rs))


def first_bad_loss(metrics: dict, start: int) -> str | None:
    """The earliest NaN or infinite loss of a chunk (`[seed, update]` arrays), named by update and seed."""
    found = []
    for name in sorted(n for n in metrics if "loss" in n):
        v = np.asarray(metrics[name], float)
        found += [(int(j), int(s), name, float(v[s, j])) for s, j in np.argwhere(~np.isfinite(v))]
    if not found:
        return None
    j, seed, name, x = min(found)
    return f"{name} is {x} at update {start + j} (seed {seed})"


def _rows(metrics: dict, phase: str, start: int, per_update: int, seeds: int) -> list[dict]:
    rows = []
    k = len(next(iter(metrics.values()))[0])
    for j in range(k):
        u = start + j
        for s in range(seeds):
            row = {"phase": phase, "update": u, "timesteps": (u + 1) * per_update, "seed": s}
            row.update({name: float(v[s, j]) for name, v in metrics.items() if name != "timesteps"})
            rows.append(row)
    return rows


def _bar(total: int, done: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="upd", dynamic_ncols=True, desc="training")


def _advance(bar, k: int, metrics: dict, steps_per_s: float) -> None:
    if bar is None:
        return
    bar.update(k)
    post = {"steps/s": f"{steps_per_s:,.0f}"}
    alive = metrics.get("info/baby_alive")
    if alive is not None:
        post["baby alive"] = f"{float(np.mean(alive[:, -1])):.2f}"
    ret = metrics.get("return")
    if ret is not None and np.isfinite(ret[:, -1]).any():
        post["return"] = f"{float(np.nanmean(ret[:, -1])):.1f}"
    bar.set_postfix(post)
