"""Training throughput: env steps/s of PPO training (acting, env and learning) for 1, 4 and 16 seeds
vmapped in one jit, and the share of time spent in the env versus the rest (network + update).

The env share is the same rollout of the env alone (random actions, same batch, one device) over the
training time on one device.
Training runs as `caredrive train` runs it: seeds sharded over one CPU device per core
(`caredrive.devices`); the same chunk on one device is timed beside it (best of 3, interleaved), and
the ratio says what the sharding buys.
    python benchmarks/train_throughput.py            # seeds 1, 4, 16 at the small preset's size
    python benchmarks/train_throughput.py --quick    # smoke run (CI)
    python benchmarks/train_throughput.py --seeds 4 --ppo.num-envs 256   # any typed training override
Last, a ceiling: how fast training could go if the network's matmuls were all it did (`matmul_ceiling`).
Ends with one JSON line of the headline figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp

from caredrive.devices import seed_sharding, use_cpu_cores
from caredrive.train.config import build_config
from caredrive.train.ppo import make_train
from caredrive.train.run import build_world, init_seeds, learners, phase_params, training_env


def _setup(preset: str, overrides: list[str], seeds: int, updates: int):
    """The birth phase's trainer as `caredrive train` builds it: (cfg, world, env, world params, trainer, mask)."""
    cfg = dataclasses.replace(build_config(preset, overrides), seeds=seeds)
    world = build_world(cfg)
    env = training_env(world, cfg)
    mask, roles = learners(world, cfg)
    wp = phase_params(world, cfg.phases[-1])
    ppo = dataclasses.replace(cfg.ppo, total_timesteps=updates * cfg.ppo.num_envs * cfg.ppo.num_steps)
    return cfg, world, env, wp, make_train(ppo, env, wp, learner_mask=mask, roles=roles, num_roles=2), mask


def _initial(trainer, wp, seeds: int):
    """Every seed's initial train state (keys 0..seeds-1 of key 0), as the training benchmarks start."""
    return init_seeds(trainer, jax.random.split(jax.random.key(0), seeds), None, wp)


def _chunk(trainer, updates: int, scan=jax.lax.scan):
    """The jitted chunk: `updates` PPO updates of every seed, the seeds vmapped as training does; the other
    training benchmarks time this same program (a fresh jit each call, so a patched `scan` is traced)."""
    return jax.jit(jax.vmap(lambda r: scan(lambda x, _: trainer.update(x), r, None, length=updates)))


def measure(seeds: int, updates: int, preset: str, overrides: list[str]) -> dict:
    cfg, world, env, wp, trainer, _ = _setup(preset, overrides, seeds, updates)
    rs, chunk = _initial(trainer, wp, seeds), _chunk(trainer, updates)
    sharding = seed_sharding(seeds)
    states = {"one device": jax.device_put(rs, jax.devices()[0])}
    if sharding is not None:
        states["sharded"] = jax.device_put(rs, sharding)
    t0 = time.perf_counter()
    for name in states:  # compile both placements, then time them interleaved (best of 3)
        states[name] = chunk(states[name])[0]
        jax.block_until_ready(states[name])
    compile_s = time.perf_counter() - t0
    best = dict.fromkeys(states, float("inf"))
    for _ in range(3):
        for name in states:
            t0 = time.perf_counter()
            states[name], m = chunk(states[name])
            jax.block_until_ready(m)
            best[name] = min(best[name], time.perf_counter() - t0)
    train_s = best.get("sharded", best["one device"])  # what `caredrive train` gets
    steps = seeds * updates * cfg.ppo.num_envs * cfg.ppo.num_steps

    # the env alone: the same worlds (seeds x num_envs, through the same auto-reset), random actions
    n_envs, n_steps = cfg.ppo.num_envs, updates * cfg.ppo.num_steps
    batched = getattr(env, "batched", False)
    step1 = env.step if batched else jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset1 = env.reset if batched else jax.vmap(env.reset, in_axes=(0, None))
    split = (lambda k: k) if batched else (lambda k: jax.random.split(k, n_envs))

    def env_only(key):
        obs, st = jax.vmap(lambda k: reset1(split(k), wp))(jax.random.split(key, seeds))

        def body(c, k):
            st, acc = c
            a = jax.random.randint(k, (seeds, n_envs, world.num_agents), 0, world.num_actions)
            ks = jax.random.split(k, seeds)
            obs, st, r, d, _ = jax.vmap(lambda kk, s_, a_: step1(split(kk), s_, a_, wp))(ks, st, a)
            return (st, acc + obs.view.sum(dtype=jnp.int32) + r.sum().astype(jnp.int32)), None

        return jax.lax.scan(body, (st, jnp.int32(0)), jax.random.split(key, n_steps))[0][1]

    f = jax.jit(env_only)
    jax.block_until_ready(f(jax.random.key(1)))
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.key(2)))
    env_s = time.perf_counter() - t0
    return {
        "seeds": seeds, "steps": steps, "compile_s": round(compile_s, 1), "train_s": round(train_s, 2),
        "env_steps_per_s": round(steps / train_s), "env_share": round(min(env_s / best["one device"], 1.0), 3),
        "devices": 1 if sharding is None else len(sharding.device_set),
        "one_device_env_steps_per_s": round(steps / best["one device"]),
        "sharding_gain": round(best["one device"] / train_s, 2),
    }


def matmul_ceiling(preset: str, overrides: list[str], reps: int = 200) -> dict:
    """The most training could do if the network's matmuls were all it did.

    FLOPs per env step are counted from the network's weight shapes: every kernel [in, out] is 2*in*out
    per learner per pass; a world has `learners` learning agents; the rollout makes 2 passes (the action,
    and the value of the final observation at a time limit) and each update epoch ~3 (forward, and a
    backward of about twice its cost). The machine's rate is measured on a scan of matmuls of those very
    shapes at the rollout's batch (`num_envs x learners` rows), one copy per device, all devices at once.
    """
    cfg, _, _, wp, trainer, mask = _setup(preset, overrides, 1, 1)
    params = jax.eval_shape(lambda k: trainer.init(k, None, wp), jax.random.key(0)).train_state[0].params
    kernels = [x.shape for x in jax.tree_util.tree_leaves(params) if x.ndim == 2]
    n_learn, rows = int(mask.sum()), cfg.ppo.num_envs * int(mask.sum())
    passes = 2 + 3 * cfg.ppo.update_epochs
    n_dev = len(jax.devices())
    secs_per_step = 0.0
    for n_in, n_out in kernels:
        w1 = jnp.full((n_in, n_out), 0.01, jnp.float32)
        w2 = jnp.full((n_out, n_in), 0.01, jnp.float32)

        def loop(x, w1=w1, w2=w2):  # x -> x @ w1 @ w2, reps times: 2 matmuls of this kernel's size each
            return jax.lax.scan(lambda c, _: (jnp.tanh(c @ w1) @ w2, None), x, None, length=reps)[0].sum()

        f = jax.pmap(loop)
        x = jnp.ones((n_dev, rows, n_in), jnp.float32)
        jax.block_until_ready(f(x))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            jax.block_until_ready(f(x))
            best = min(best, time.perf_counter() - t0)
        rate = n_dev * reps * 2 * 2 * rows * n_in * n_out / best  # FLOP/s over all devices
        secs_per_step += 2 * n_in * n_out * n_learn * passes / rate
    flops = sum(2 * a * b for a, b in kernels) * n_learn * passes
    return {"flops_per_env_step": flops, "gflops_s": round(flops / secs_per_step / 1e9, 1),
            "ceiling_env_steps_per_s": round(1 / secs_per_step)}


def main() -> None:
    use_cpu_cores()  # before JAX starts, as the CLI does
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--updates", type=int, default=4, help="PPO updates per timed chunk")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--quick", action="store_true")
    args, overrides = ap.parse_known_args()
    if args.quick:
        args.seeds, args.updates, args.preset = [1, 2], 1, "tiny"
    rows = []
    for s in args.seeds:
        r = measure(s, args.updates, args.preset, overrides)
        rows.append(r)
        print(f"seeds {s:3d}: {r['env_steps_per_s']:>10,} env steps/s of training on {r['devices']} device(s)  "
              f"(one device: {r['one_device_env_steps_per_s']:,}, {r['sharding_gain']}x; env share "
              f"{r['env_share']:.0%}, compile {r['compile_s']} s)", flush=True)
    ceiling = matmul_ceiling(args.preset, overrides, reps=20 if args.quick else 200)
    print(f"matmuls alone: {ceiling['flops_per_env_step'] / 1e6:.2f} MFLOP per env step (counted from the weight "
          f"shapes) at {ceiling['gflops_s']} GFLOP/s (measured, all devices) -> at most "
          f"{ceiling['ceiling_env_steps_per_s']:,} env steps/s of training", flush=True)
    print(json.dumps({"benchmark": "train_throughput", "preset": args.preset, "cpu_count": os.cpu_count(),
                      "backend": jax.default_backend(), "overrides": overrides, "rows": rows,
                      "matmul_ceiling": ceiling}))


if __name__ == "__main__":
    main()
