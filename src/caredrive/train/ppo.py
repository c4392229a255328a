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


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters. `total_timesteps` counts world steps (all envs), not agent steps."""

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
    anneal_lr: bool = True
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
    train_state: TrainState
    env_state: Any
    obs: Any  # env obs, leaves [E, A, ...]
    reset: jax.Array  # [E] bool
    carry: jax.Array  # [N, H]
    stats: EpisodeStats
    key: jax.Array
    env_params: Any  # traced, so curriculum phases that only change world params share one compiled update


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


def make_train(cfg: PPOConfig, env, env_params, learner_mask=None, roles=None, num_roles: int | None = None):
    """Build `train(key, params=None) -> (RunnerState, metrics)`.

    `learner_mask` (bool [A], default all) picks the agents that act through the network and are
    trained; `roles` (int [A] or None) is fed to the network as a one-hot of `num_roles` (default
    `max(roles) + 1`; fix it explicitly when curriculum phases must share parameter shapes).
    `params`: start from these network weights (e.g. a previous phase's
    `runner_state.train_state.params`); fresh ones from `key` when None. Optimiser state is fresh.
    `metrics[name]` has one entry per update.
    """
    n_agents = int(env.num_agents)
    batched = bool(getattr(env, "batched", False))
    mask = np.ones(n_agents, bool) if learner_mask is None else np.asarray(learner_mask, bool)
    if mask.shape != (n_agents,):
        raise ValueError(f"learner_mask must have shape ({n_agents},), got {mask.shape}")
    learners = np.nonzero(mask)[0]
    n_learn = len(learners)
    if n_learn == 0:
        raise ValueError("learner_mask selects no agent")
    all_learn = n_learn == n_agents
    n_envs, n_steps = cfg.num_envs, cfg.num_steps
    n_batch = n_envs * n_learn
    if cfg.num_updates < 1:
        raise ValueError("total_timesteps < num_envs * num_steps: no update would run")
    if cfg.recurrent and n_batch % cfg.num_minibatches:
        raise ValueError(f"num_envs * learners = {n_batch} not divisible by num_minibatches")
    if not cfg.recurrent and (n_batch * n_steps) % cfg.num_minibatches:
        raise ValueError("num_envs * learners * num_steps not divisible by num_minibatches")

    if roles is None:
        n_roles, role_b = 0, None
    else:
        roles = np.asarray(roles, np.int32)
        n_roles = int(roles.max()) + 1 if num_roles is None else int(num_roles)
        role_b = jnp.asarray(np.tile(roles[learners], n_envs))  # [N], index e * L + l
    net = ActorCritic(num_actions=int(env.num_actions), hidden=cfg.hidden, recurrent=cfg.recurrent, num_roles=n_roles)

    n_opt_steps = cfg.num_updates * cfg.update_epochs * cfg.num_minibatches
    lr = optax.linear_schedule(cfg.lr, 0.0, n_opt_steps) if cfg.anneal_lr else cfg.lr
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr, eps=1e-5))

    if batched:  # the env steps a whole batch itself (e.g. VecAutoReset with its cheap shared resets)
        if getattr(env, "batch", n_envs) != n_envs:
            raise ValueError(f"batched env has batch {env.batch}, but ppo.num_envs is {n_envs}")
        step_envs, reset_envs = env.step, env.reset
    else:
        step_envs = lambda k, s, a, p: jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(k, n_envs), s, a, p)
        reset_envs = lambda k, p: jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k, n_envs), p)

    def pick(tree):
        """Env leaves [E, A, ...] -> learner batch [N, ...]."""

        def f(x):
            if not all_learn:
                x = x[:, learners]
            return x.reshape((n_batch,) + x.shape[2:])

        return jax.tree.map(f, tree)

    def apply_step(params, carry, obs_b, reset_b):
        """One network step for the learner batch: leaves [N, ...] -> logits [N, K], value [N]."""
        role = None if role_b is None else role_b[None]
        carry, logits, value = net.apply(params, carry, jax.tree.map(lambda x: x[None], obs_b), reset_b[None], role)
        return carry, logits[0], value[0]

    def env_step(rs: RunnerState, key):
        ts = rs.train_state
        k_act, k_env = jax.random.split(key)
        obs_b = pick(rs.obs)
        reset_b = jnp.repeat(rs.reset, n_learn)
        carry, logits, value = apply_step(ts.params, rs.carry, obs_b, reset_b)
        action = jax.random.categorical(k_act, logits).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        act_e = action.reshape(n_envs, n_learn)
        if not all_learn:
            act_e = jnp.zeros((n_envs, n_agents), jnp.int32).at[:, learners].set(act_e)

        obs, env_state, reward, done, info = step_envs(k_env, rs.env_state, act_e, rs.env_params)
        reward = reward.astype(jnp.float32)
        done = done.astype(bool)
        done_b = jnp.repeat(done, n_learn)
        rew_b = pick(reward) * cfg.reward_scale
        if cfg.bootstrap_truncated and "final_obs" in info and "truncated" in info:
            trunc = info["truncated"].astype(bool)
            if "terminated" in info:
                trunc = trunc & ~info["terminated"].astype(bool)
            _, _, v_final = apply_step(ts.params, carry, pick(info["final_obs"]), jnp.zeros_like(reset_b))
            rew_b = rew_b + cfg.gamma * jnp.where(jnp.repeat(trunc, n_learn), v_final, 0.0)

        ret = rs.stats.ret + reward
        length = rs.stats.length + 1
        out = {
            "done": done,
            "ret": ret[:, learners].mean(-1),
            "len": length,
            "info": {
                _path_name(p): x.astype(jnp.float32).mean()
                for p, x in jax.tree_util.tree_flatten_with_path(info)[0]
                if x.shape == (n_envs,)
            },
        }
        stats = EpisodeStats(jnp.where(done[:, None], 0.0, ret), jnp.where(done, 0, length))
        tr = Transition(obs_b, reset_b, action, log_prob, value, rew_b, done_b)
        return rs._replace(env_state=env_state, obs=obs, reset=done, carry=carry, stats=stats), (tr, out)

    def update_minibatch(ts: TrainState, mb):
        carry0, traj, adv, targets, role = mb
        grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
        (total, aux), grads = grad_fn(ts.params, net.apply, carry0, traj, adv, targets, role, cfg)
        return ts.apply_gradients(grads=grads), {"loss/total": total, **aux}

    def update_epoch(ts: TrainState, key, batch):
        carry0, traj, adv, targets = batch
        m = cfg.num_minibatches
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
        rs, (traj, out) = jax.lax.scan(env_step, rs, jax.random.split(k_roll, n_steps))
        _, _, last_v = apply_step(rs.train_state.params, rs.carry, pick(rs.obs), jnp.repeat(rs.reset, n_learn))
        adv, targets = gae(traj.reward, traj.value, traj.done, last_v, cfg.gamma, cfg.gae_lambda)

        def epoch(ts, k):
            return update_epoch(ts, k, (carry0, traj, adv, targets))

        ts, losses = jax.lax.scan(epoch, rs.train_state, jax.random.split(k_upd, cfg.update_epochs))
        done = out["done"].astype(jnp.float32)
        n_ep = done.sum()
        metrics = {
            "return": jnp.where(n_ep > 0, (done * out["ret"]).sum() / jnp.maximum(n_ep, 1), jnp.nan),
            "length": jnp.where(n_ep > 0, (done * out["len"]).sum() / jnp.maximum(n_ep, 1), jnp.nan),
            "episodes": n_ep,
            **jax.tree.map(jnp.mean, losses),
            **{f"info/{k}": v.mean() for k, v in out["info"].items()},
        }
        return rs._replace(train_state=ts, key=key), metrics

    def init(key, params=None, world_params=None) -> RunnerState:
        """Fresh worlds, memories and optimiser; network weights from `params` or new from `key`;
        world params from `world_params` (a curriculum phase) or the ones given to `make_train`."""
        world_params = env_params if world_params is None else world_params
        k_init, k_reset, k_run = jax.random.split(key, 3)
        obs, env_state = reset_envs(k_reset, world_params)
        carry = initial_carry(n_batch, cfg.hidden)
        reset = jnp.ones((n_envs,), bool)
        if params is None:
            role = None if role_b is None else role_b[None]
            params = net.init(k_init, carry, jax.tree.map(lambda x: x[None], pick(obs)), jnp.repeat(reset, n_learn)[None], role)
        ts = TrainState.create(apply_fn=net.apply, params=params, tx=tx)
        stats = EpisodeStats(jnp.zeros((n_envs, n_agents), jnp.float32), jnp.zeros((n_envs,), jnp.int32))
        return RunnerState(ts, env_state, obs, reset, carry, stats, k_run, world_params)

    def train(key, params=None):
        rs, metrics = jax.lax.scan(update_step, init(key, params), None, cfg.num_updates)
        metrics["timesteps"] = (jnp.arange(cfg.num_updates) + 1) * (n_envs * n_steps)
        return rs, metrics

    # chunked training (progress, checkpoints, resume) drives these two directly
    train.init = init
    train.update = lambda rs: update_step(rs, None)
    train.network = net  # for evaluation code that needs the module
    return train
