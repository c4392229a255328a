"""Recurrent PPO for the multi-agent env API, in PureJaxRL shape: the whole training run is one `jit`-able
function `train(key, params=None)` whose update loop is a single `lax.scan`, so
`jax.jit(jax.vmap(train))(keys)` trains independent seeds side by side.

Env API (see `caredrive.train.gymnax_adapter` for a minimal implementation):
`obs, state = env.reset(key, params)`; `obs, state, reward [A], done (), info = env.step(key, state,
actions [A] int32, params)`; every obs leaf has a leading agent axis; the env auto-resets on `done`.
An env with `batched = True` (e.g. `VecAutoReset`) instead steps the whole batch of `num_envs` worlds
itself (leading axis `[E]` everywhere), which lets it share fresh worlds between resets.

Batching: `[num_envs, num_learners]` is flattened into one batch `N`, each agent with its own GRU
carry. Only learner agents (`learner_mask`) go through the network at all: non-learners' actions are
ignored by the env, so they are sent action 0 and cost nothing, and they cannot touch the loss.
Learner groups (`co_learners`) repeat exactly this per group: each group has its own network weights,
optimiser, carries, advantages and loss, all on one shared rollout (e.g. mothers and babies trained by
two networks side by side). One group is the ordinary single-network case.

Truncation: when `info` has `final_obs` and `truncated` (as `AutoReset` and the gymnax adapter give),
a time-limit end bootstraps with `gamma * V(final_obs)` folded into the reward instead of being
treated as death; without these keys `done` is a true terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from caredrive.agents.networks import ActorCritic, initial_carry
from caredrive.train.schedule import LR_SCHEDULES, schedule_at, schedule_count


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters. `total_timesteps` counts world steps (all envs), not agent steps.

    `lr_schedule` ("restart" or "run"; see `LR_SCHEDULES`) says whether a curriculum phase restarts the
    annealed learning rate or continues it (moot when `anneal_lr` is false)."""

    lr: float = 2.5e-4
    num_envs: int = 32
    num_steps: int = 128  # rollout length T (also the BPTT window)
    total_timesteps: int = 1_000_000
    update_epochs: int = 4
    num_minibatches: int = 4  # split along the env x learner axis (whole sequences)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 128
    recurrent: bool = True
    memory: bool = True  # False: the GRU's state is wiped every step (memory's control; same weights)
    anneal_lr: bool = True  # a linear schedule from lr to 0, as long as the run's optimiser steps
    # How that annealed rate runs over curriculum phases, each of which starts a fresh optimiser (see
    # `LR_SCHEDULES`). "restart" stays the default: "run" measured no different on the default world
    # (4 seeds each, care 0.70 vs 0.69, README), and restart keeps earlier runs bit for bit.
    lr_schedule: str = "restart"
    reward_scale: float = 1.0  # rewards are multiplied by this for learning (metrics stay unscaled)
    bootstrap_truncated: bool = True  # use info['final_obs'] at time-limit ends (if the env gives it)

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // (self.num_steps * self.num_envs)


class Transition(NamedTuple):
    """One rollout step for the flat learner batch; every field has leading axes `[T, N]`."""

    obs: Any  # pytree, leaves [T, N, ...]
    reset: jax.Array  # bool: obs starts an episode (carry is zeroed before it)
    action: jax.Array  # int32
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array  # env reward (+ gamma * V(final_obs) at a truncation)
    done: jax.Array  # bool: the episode ended with this step


class EpisodeStats(NamedTuple):
    ret: jax.Array  # [E, A] running undiscounted return
    length: jax.Array  # [E] running length


class RunnerState(NamedTuple):
    train_state: tuple[TrainState, ...]  # one per learner group (the main group first)
    env_state: Any
    obs: Any  # env obs, leaves [E, A, ...]
    reset: jax.Array  # [E] bool
    carry: tuple[jax.Array, ...]  # per learner group: [N_g, H]
    stats: EpisodeStats
    key: jax.Array
    env_params: Any  # traced, so curriculum phases that only change world params share one compiled update


@dataclass(frozen=True)
class LearnerGroup:
    """Agent slots trained together by one network: its own weights, optimiser, memory and PPO update.

    `mask` (bool [A]) picks the slots; `roles` (int [A] or None) is fed to the network as a one-hot;
    `name` prefixes the group's metrics (`"baby"` -> `baby/return`, `baby/loss/total`, ...).
    """

    mask: Any
    roles: Any = None
    name: str = ""


def gae(rewards, values, dones, last_value, gamma: float, lam: float):
    """Generalised advantage estimates and value targets over the leading time axis.

    `dones[t]` means the episode ended *with* step t, so neither V[t+1] nor later advantages leak
    into step t. Returns `(advantages, targets = advantages + values)`.
    """

    def back(carry, x):
        adv_next, v_next = carry
        r, v, d = x
        nd = 1.0 - d.astype(jnp.float32)
        delta = r + gamma * v_next * nd - v
        adv = delta + gamma * lam * nd * adv_next
        return (adv, v), adv

    init = (jnp.zeros_like(last_value), last_value)
    _, adv = jax.lax.scan(back, init, (rewards, values, dones), reverse=True)
    return adv, adv + values


def ppo_loss(params, apply_fn, carry0, traj: Transition, adv, targets, role, cfg: PPOConfig):
    """Clipped PPO objective on whole sequences `[T, n]` replayed from their start carry."""
    _, logits, value = apply_fn(params, carry0, traj.obs, traj.reset, role)
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, traj.action[..., None], axis=-1)[..., 0]
    log_ratio = logp - traj.log_prob
    ratio = jnp.exp(log_ratio)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv).mean()
    v_clip = traj.value + jnp.clip(value - traj.value, -cfg.clip_eps, cfg.clip_eps)
    v_loss = 0.5 * jnp.maximum((value - targets) ** 2, (v_clip - targets) ** 2).mean()
    entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
    total = pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
    aux = {
        "loss/policy": pg,
        "loss/value": v_loss,
        "entropy": entropy,
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "clip_frac": (jnp.abs(ratio - 1) > cfg.clip_eps).mean(),
    }
    return total, aux


def _path_name(path) -> str:
    parts = []
    for k in path:
        parts.append(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))))
    return "/".join(parts)


def make_train(cfg: PPOConfig, env, env_params, learner_mask=None, roles=None, num_roles: int | None = None,
               co_learners: tuple[LearnerGroup, ...] = ()):
    """Build `train(key, params=None) -> (RunnerState, metrics)`.

    `learner_mask` (bool [A], default all) picks the agents that act through the network and are
    trained; `roles` (int [A] or None) is fed to the network as a one-hot of `num_roles` (default
    `max(roles) + 1`; fix it explicitly when curriculum phases must share parameter shapes).
    `co_learners`: further groups of agents, each trained side by side by its *own* network of the same
    shape (own weights, optimiser, memory, advantages and loss) on the same rollout, each from the env's
    reward for its own slots. The groups must not overlap. The main group's metrics keep their plain
    names; a co-learner's are prefixed with its name. The PPO code below is the same for every group.
    `params`: start from these network weights (e.g. a previous phase's
    `runner_state.train_state[0].params`; with co-learners, a tuple with one entry per group, None for
    fresh ones); fresh ones from `key` when None. Optimiser state is fresh.
    `metrics[name]` has one entry per update.
    """
    n_agents = int(env.num_agents)
    batched = bool(getattr(env, "batched", False))
    main = LearnerGroup(np.ones(n_agents, bool) if learner_mask is None else learner_mask, roles)
    groups = (main, *co_learners)
    n_envs, n_steps = cfg.num_envs, cfg.num_steps
    if cfg.num_updates < 1:
        raise ValueError("total_timesteps < num_envs * num_steps: no update would run")
    given = [g.roles is not None for g in groups]
    if any(given) and not all(given):
        raise ValueError("give roles to every learner group or to none")
    if any(given):
        n_roles = int(max(np.max(g.roles) for g in groups)) + 1 if num_roles is None else int(num_roles)
    else:
        n_roles = 0
    taken = np.zeros(n_agents, bool)
    G = []  # static description of each group
    for grp in groups:
        mask = np.asarray(grp.mask, bool)
        if mask.shape != (n_agents,):
            raise ValueError(f"learner_mask must have shape ({n_agents},), got {mask.shape}")
        if not mask.any():
            raise ValueError(f"learner_mask of group {grp.name!r} selects no agent")
        if (taken & mask).any():
            raise ValueError(f"learner group {grp.name!r} overlaps another group")
        taken |= mask
        idx = np.nonzero(mask)[0]
        n_batch = n_envs * len(idx)
        if cfg.recurrent and n_batch % cfg.num_minibatches:
            raise ValueError(f"num_envs * learners = {n_batch} not divisible by num_minibatches")
        if not cfg.recurrent and (n_batch * n_steps) % cfg.num_minibatches:
            raise ValueError("num_envs * learners * num_steps not divisible by num_minibatches")
        role_b = None if grp.roles is None else jnp.asarray(np.tile(np.asarray(grp.roles, np.int32)[idx], n_envs))
        prefix = f"{grp.name}/" if grp.name else ""
        G.append(_Group(idx, len(idx), n_batch, role_b, len(idx) == n_agents, prefix))  # role_b: [N], e * L + l
    if len({g.prefix for g in G}) != len(G):
        raise ValueError("learner groups need distinct names (the main group's is empty)")
    net = ActorCritic(num_actions=int(env.num_actions), hidden=cfg.hidden, recurrent=cfg.recurrent, num_roles=n_roles,
                      memory=cfg.memory)

    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule={cfg.lr_schedule!r}: must be one of {list(LR_SCHEDULES)}")
    steps_per_update = cfg.update_epochs * cfg.num_minibatches
    n_opt_steps = cfg.num_updates * steps_per_update
    schedule = optax.linear_schedule(cfg.lr, 0.0, n_opt_steps) if cfg.anneal_lr else None
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                     optax.adam(cfg.lr if schedule is None else schedule, eps=1e-5))

    if batched:  # the env steps a whole batch itself (e.g. VecAutoReset with its cheap shared resets)
        if getattr(env, "batch", n_envs) != n_envs:
            raise ValueError(f"batched env has batch {env.batch}, but ppo.num_envs is {n_envs}")
        step_envs, reset_envs = env.step, env.reset
    else:
        step_envs = lambda k, s, a, p: jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(k, n_envs), s, a, p)
        reset_envs = lambda k, p: jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k, n_envs), p)

    def sub(key, g: int):
        """Group g's share of a key (the main group uses the key itself, as a single-group run does)."""
        return key if g == 0 else jax.random.fold_in(key, g)

    def pick(tree, g: int):
        """Env leaves [E, A, ...] -> group g's learner batch [N_g, ...]."""
        grp = G[g]

        def f(x):
            if not grp.all:
                x = x[:, grp.idx]
            return x.reshape((grp.batch,) + x.shape[2:])

        return jax.tree.map(f, tree)

    def apply_step(params, carry, obs_b, reset_b, g: int):
        """One network step for group g: leaves [N_g, ...] -> logits [N_g, K], value [N_g]."""
        role = None if G[g].role_b is None else G[g].role_b[None]
        carry, logits, value = net.apply(params, carry, jax.tree.map(lambda x: x[None], obs_b), reset_b[None], role)
        return carry, logits[0], value[0]

    def env_step(rs: RunnerState, key):
        k_act, k_env = jax.random.split(key)
        act_e = None if len(G) == 1 and G[0].all else jnp.zeros((n_envs, n_agents), jnp.int32)
        acted = []
        for g, grp in enumerate(G):
            obs_b = pick(rs.obs, g)
            reset_b = jnp.repeat(rs.reset, grp.n)
            with jax.named_scope("act"):  # scopes name the ops for benchmarks/train_profile.py's time split
                carry, logits, value = apply_step(rs.train_state[g].params, rs.carry[g], obs_b, reset_b, g)
            action = jax.random.categorical(sub(k_act, g), logits).astype(jnp.int32)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
            a = action.reshape(n_envs, grp.n)
            act_e = a if act_e is None else act_e.at[:, grp.idx].set(a)
            acted.append((obs_b, reset_b, carry, action, log_prob, value))

        with jax.named_scope("env"):
            obs, env_state, reward, done, info = step_envs(k_env, rs.env_state, act_e, rs.env_params)
        reward = reward.astype(jnp.float32)
        done = done.astype(bool)
        trunc = None
        if cfg.bootstrap_truncated and "final_obs" in info and "truncated" in info:
            trunc = info["truncated"].astype(bool)
            if "terminated" in info:
                trunc = trunc & ~info["terminated"].astype(bool)
        trs = []
        for g, (obs_b, reset_b, carry, action, log_prob, value) in enumerate(acted):
            n = G[g].n
            rew_b = pick(reward, g) * cfg.reward_scale
            if trunc is not None:
                with jax.named_scope("act"):
                    _, _, v_final = apply_step(rs.train_state[g].params, carry, pick(info["final_obs"], g),
                                               jnp.zeros_like(reset_b), g)
                rew_b = rew_b + cfg.gamma * jnp.where(jnp.repeat(trunc, n), v_final, 0.0)
            trs.append(Transition(obs_b, reset_b, action, log_prob, value, rew_b, jnp.repeat(done, n)))

        ret = rs.stats.ret + reward
        length = rs.stats.length + 1
        out = {
            "done": done,
            "ret": tuple(ret[:, grp.idx].mean(-1) for grp in G),
            "len": length,
            "info": {
                _path_name(p): x.astype(jnp.float32).mean()
                for p, x in jax.tree_util.tree_flatten_with_path(info)[0]
                if x.shape == (n_envs,)
            },
        }
        stats = EpisodeStats(jnp.where(done[:, None], 0.0, ret), jnp.where(done, 0, length))
        carries = tuple(a[2] for a in acted)
        return rs._replace(env_state=env_state, obs=obs, reset=done, carry=carries, stats=stats), (tuple(trs), out)

    def update_minibatch(ts: TrainState, mb):
        carry0, traj, adv, targets, role = mb
        grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
        with jax.named_scope("loss"):  # its forward ops are named loss/jvp(..), the backward's transpose(..)
            (total, aux), grads = grad_fn(ts.params, net.apply, carry0, traj, adv, targets, role, cfg)
        with jax.named_scope("optimizer"):
            ts = ts.apply_gradients(grads=grads)
        return ts, {"loss/total": total, **aux}

    def update_epoch(ts: TrainState, key, batch, g: int):
        carry0, traj, adv, targets = batch
        m, n_batch, role_b = cfg.num_minibatches, G[g].batch, G[g].role_b
        if cfg.recurrent:  # shuffle whole sequences along N
            perm = jax.random.permutation(key, n_batch)
            split = lambda x: jnp.moveaxis(jnp.take(x, perm, axis=1).reshape((n_steps, m, -1) + x.shape[2:]), 1, 0)
            mbs = (
                jnp.take(carry0, perm, axis=0).reshape(m, -1, cfg.hidden),
                jax.tree.map(split, traj),
                split(adv),
                split(targets),
                None if role_b is None else split(jnp.broadcast_to(role_b, (n_steps, n_batch))),
            )
        else:  # feed-forward: every step is independent, shuffle all T * N of them
            size = n_steps * n_batch
            perm = jax.random.permutation(key, size)
            split = lambda x: jnp.take(x.reshape((size,) + x.shape[2:]), perm, axis=0).reshape((m, 1, -1) + x.shape[2:])
            mbs = (
                jnp.zeros((m, size // m, cfg.hidden), jnp.float32),
                jax.tree.map(split, traj._replace(reset=jnp.zeros_like(traj.reset))),
                split(adv),
                split(targets),
                None if role_b is None else split(jnp.broadcast_to(role_b, (n_steps, n_batch))),
            )
        return jax.lax.scan(update_minibatch, ts, mbs)

    def update_step(rs: RunnerState, _):
        key, k_roll, k_upd = jax.random.split(rs.key, 3)
        carry0 = rs.carry
        rs, (trajs, out) = jax.lax.scan(env_step, rs, jax.random.split(k_roll, n_steps))
        done = out["done"].astype(jnp.float32)
        n_ep = done.sum()
        mean_at_end = lambda x: jnp.where(n_ep > 0, (done * x).sum() / jnp.maximum(n_ep, 1), jnp.nan)
        new_ts, metrics = [], {}
        for g, grp in enumerate(G):
            traj, ts = trajs[g], rs.train_state[g]
            with jax.named_scope("act"):
                _, _, last_v = apply_step(ts.params, rs.carry[g], pick(rs.obs, g), jnp.repeat(rs.reset, grp.n), g)
            adv, targets = gae(traj.reward, traj.value, traj.done, last_v, cfg.gamma, cfg.gae_lambda)

            def epoch(ts, k, g=g, batch=(carry0[g], traj, adv, targets)):
                return update_epoch(ts, k, batch, g)

            ts, losses = jax.lax.scan(epoch, ts, jax.random.split(sub(k_upd, g), cfg.update_epochs))
            new_ts.append(ts)
            metrics[f"{grp.prefix}return"] = mean_at_end(out["ret"][g])
            if g == 0:
                metrics.update({"length": mean_at_end(out["len"]), "episodes": n_ep})
            metrics.update({f"{grp.prefix}{k}": jnp.mean(v) for k, v in losses.items()})
        metrics.update({f"info/{k}": v.mean() for k, v in out["info"].items()})
        # the rate of this update's first optimiser step (every group's schedule counts alike)
        metrics["lr"] = jnp.float32(cfg.lr) if schedule is None else schedule(
            schedule_count(rs.train_state[0].opt_state)).astype(jnp.float32)
        return rs._replace(train_state=tuple(new_ts), key=key), metrics

    def init(key, params=None, world_params=None, done_updates=0) -> RunnerState:
        """Fresh worlds, memories and optimisers; network weights from `params` (one entry per group, or
        the main group's weights alone) or new from `key`; world params from `world_params` (a curriculum
        phase) or the ones given to `make_train`. `done_updates`: updates the run did before this phase;
        with `lr_schedule="run"` the fresh optimiser's learning-rate schedule continues from there (a
        traced number, so one compiled init serves every phase); "restart" ignores it."""
        world_params = env_params if world_params is None else world_params
        params = params if isinstance(params, tuple) else (params,) + (None,) * (len(G) - 1)
        if len(params) != len(G):
            raise ValueError(f"params has {len(params)} entries, one per learner group ({len(G)}) is needed")
        k_init, k_reset, k_run = jax.random.split(key, 3)
        obs, env_state = reset_envs(k_reset, world_params)
        reset = jnp.ones((n_envs,), bool)
        states, carries = [], []
        for g, grp in enumerate(G):
            carry = initial_carry(grp.batch, cfg.hidden)
            p = params[g]
            if p is None:
                role = None if grp.role_b is None else grp.role_b[None]
                p = net.init(sub(k_init, g), carry, jax.tree.map(lambda x: x[None], pick(obs, g)),
                             jnp.repeat(reset, grp.n)[None], role)
            ts = TrainState.create(apply_fn=net.apply, params=p, tx=tx)
            if schedule is not None and cfg.lr_schedule == "run":
                ts = ts.replace(opt_state=schedule_at(ts.opt_state, done_updates * steps_per_update))
            states.append(ts)
            carries.append(carry)
        stats = EpisodeStats(jnp.zeros((n_envs, n_agents), jnp.float32), jnp.zeros((n_envs,), jnp.int32))
        return RunnerState(tuple(states), env_state, obs, reset, tuple(carries), stats, k_run, world_params)

    def train(key, params=None):
        rs, metrics = jax.lax.scan(update_step, init(key, params), None, cfg.num_updates)
        metrics["timesteps"] = (jnp.arange(cfg.num_updates) + 1) * (n_envs * n_steps)
        return rs, metrics

    # chunked training (progress, checkpoints, resume) drives these two directly
    train.init = init
    train.update = lambda rs: update_step(rs, None)
    train.network = net  # for evaluation code that needs the module
    train.groups = groups
    return train


class _Group(NamedTuple):
    idx: np.ndarray  # the group's agent slots
    n: int  # learners per world
    batch: int  # num_envs * n
    role_b: Any  # [batch] int32 role ids, or None
    all: bool  # the group is every agent (no gather needed)
    prefix: str  # metric name prefix
