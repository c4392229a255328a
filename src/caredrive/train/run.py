"""Train mothers: the curriculum (live for yourself, then a baby is born), many seeds in one jit.

Training runs in chunks of `chunk_updates` PPO updates, each one jitted `lax.scan` over updates
inside a `vmap` over seeds. Between chunks we log metrics, move the progress bar and, every
`checkpoint_every` chunks, save the whole runner state. Because every chunk is a pure function of
that state, `resume` continues a killed run with exactly the results it would have had.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import constants as C
from caredrive.env.nursery import Nursery
from caredrive.env.registry import make
from caredrive.env.wrappers import AutoReset, VecAutoReset
from caredrive.train import checkpoint
from caredrive.train.config import Phase, TrainConfig
from caredrive.train.policy import NetworkPolicy
from caredrive.train.ppo import make_train
from caredrive.train.rundir import RunDir


def build_world(cfg: TrainConfig) -> Nursery:
    return make(cfg.world, baby_brain=cfg.baby_brain, **cfg.env)


def training_env(world: Nursery, cfg: TrainConfig):
    """The auto-resetting batch of worlds PPO steps: shared fresh worlds (cheap) or one reset per world."""
    if cfg.reset_ratio > 0:
        return VecAutoReset(world, cfg.ppo.num_envs, cfg.reset_ratio)
    return AutoReset(world)


def phase_params(world: Nursery, phase: Phase):
    return world.check_params(
        world.default_params.replace(
            births_per_life=phase.births_per_life, reward_mode=C.REWARD_MODES.index(phase.reward_mode)
        )
    )


def learners(world: Nursery, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Who the network plays (mothers; everyone when babies share the network) and their role ids."""
    mask = world.mothers if cfg.baby_brain == "scripted" else np.ones(world.num_agents, bool)
    return mask, world.roles_at_start


@dataclass
class Trained:
    """What a finished run hands to evaluation: the world, its final params, one policy per seed."""

    world: Nursery
    env_params: object
    policy: NetworkPolicy  # weights stacked over seeds
    seeds: int
    wall_time: float
    timesteps: int


def init_seeds(trainer, keys, weights=None, world_params=None):
    """The runner states of every seed, stacked along a leading axis.

    Each seed is initialised by its own jitted call and the results are stacked, instead of one
    `jit(vmap(init))`: on XLA:CPU (jaxlib 0.10.2, 2 cores) the vmapped init of the small preset
    deadlocks inside the runtime (every worker idle, the executable waiting forever), while the
    vmapped *update* runs fine. Init runs once per phase, so the loop costs nothing that matters.
    """
    init = jax.jit(trainer.init)
    per_seed = []
    for s in range(keys.shape[0]):
        w = None if weights is None else jax.tree.map(lambda x, s=s: x[s], weights)
        per_seed.append(init(keys[s], w, world_params))
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
    env = training_env(world, cfg)
    mask, roles = learners(world, cfg)
    plan = _plan(cfg)
    per_update = cfg.ppo.num_envs * cfg.ppo.num_steps
    total_updates = sum(n * k for n, k in plan)
    seed_keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(cfg.seed), i))(jnp.arange(cfg.seeds))

    start_phase, start_chunk, done_updates, wall_before = 0, 0, 0, 0.0
    restored = None
    if resume:
        ck = checkpoint.latest(run.checkpoints)
        if ck is not None:
            meta = checkpoint.restore_meta(ck)
            start_phase, start_chunk = meta["phase"], meta["chunk"] + 1
            done_updates, wall_before = meta["updates"], meta["wall_time"]
            restored = ck
        run.truncate_metrics(done_updates)

    bar = _bar(total_updates, done_updates, progress)
    # one trainer and one compiled chunk for every phase: phases differ only in (traced) world params
    k = plan[0][1]
    ppo = dataclasses.replace(cfg.ppo, total_timesteps=sum(n * kk for n, kk in plan) * per_update)
    trainer = make_train(ppo, env, phase_params(world, cfg.phases[0]), learner_mask=mask, roles=roles, num_roles=2)
    chunks = {}

    def run_chunk(rs, k):
        if k not in chunks:
            chunks[k] = jax.jit(jax.vmap(lambda r: jax.lax.scan(lambda x, _: trainer.update(x), r, None, length=k)))
        return chunks[k](rs)

    weights = None
    t0 = time.perf_counter()
    for p, (phase, (n_chunks, k)) in enumerate(zip(cfg.phases, plan, strict=True)):
        if p < start_phase:
            continue
        wp = phase_params(world, phase)
        keys = jax.vmap(lambda s, p=p: jax.random.fold_in(s, p))(seed_keys)
        rs = init_seeds(trainer, keys, weights, wp)
        first = 0
        if restored is not None and p == start_phase:
            rs, _ = checkpoint.restore(restored, rs)
            first, restored = start_chunk, None
        for c in range(first, n_chunks):
            t_chunk = time.perf_counter()
            rs, metrics = run_chunk(rs, k)
            metrics = jax.device_get(metrics)
            run.log(_rows(metrics, phase.name, done_updates, per_update, cfg.seeds))
            done_updates += k
            _advance(bar, k, metrics, per_update * cfg.seeds * k / (time.perf_counter() - t_chunk))
            if (c + 1) % cfg.checkpoint_every == 0 or c == n_chunks - 1:
                checkpoint.save(
                    run.checkpoints, done_updates, rs,
                    {"phase": p, "chunk": c, "updates": done_updates,
                     "wall_time": wall_before + time.perf_counter() - t0},
                )
        weights = rs.train_state.params
    if bar is not None:
        bar.close()
    run.close()
    env_params = phase_params(world, cfg.phases[-1])
    policy = NetworkPolicy(
        weights=weights, net=trainer.network, learners=tuple(int(i) for i in np.nonzero(mask)[0]),
        roles=tuple(int(r) for r in roles[mask]), num_agents=world.num_agents,
    )
    return Trained(world, env_params, policy, cfg.seeds, wall_before + time.perf_counter() - t0, done_updates * per_update)


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
