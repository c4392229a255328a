"""Environment throughput: Nursery vs XLand-MiniGrid, side by side in one process.

Each measurement is a `lax.scan` of auto-resetting steps with random actions inside one `jit`, over a
`vmap` of B worlds. The observation is summed into the scan carry so XLA cannot delete the work.
We report world-steps/s and agent-steps/s (world-steps x agent slots whose observation is computed;
XLand-MiniGrid has one agent) and the ratio ours/theirs at each batch size.

    python benchmarks/env_throughput.py            # batch sizes 1, 256, 4096
    python benchmarks/env_throughput.py --quick    # small smoke run (CI)
    python benchmarks/env_throughput.py --devices 2   # each batch split over 2 CPU devices, every env alike
Ends with one JSON line of the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp

import caredrive
from caredrive.devices import use_cpu_cores
from caredrive.env import fusion
from caredrive.env.wrappers import AutoReset, VecAutoReset


def nursery_runner(name: str, batch: int, steps: int, per_world_reset: bool = False):
    """Our world with the batch-level optimistic auto-reset (what training uses), or, for comparison,
    the per-world `AutoReset` under vmap (the gymnax / XLand-MiniGrid way)."""
    world = caredrive.make(name)
    params = world.default_params
    n = world.num_agents
    if per_world_reset:
        env = AutoReset(world)
        reset = lambda k: jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k, batch), params)
        step = lambda k, s, a: jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k, batch), s, a, params
        )
    else:
        env = VecAutoReset(world, batch)
        reset = lambda k: env.reset(k, params)
        step = lambda k, s, a: env.step(k, s, a, params)

    def run(key):
        obs, state = reset(key)

        def body(carry, k):
            state, acc = carry
            ka, ks = jax.random.split(k)
            actions = jax.random.randint(ka, (batch, n), 0, world.num_actions)
            obs, state, reward, done, _ = step(ks, state, actions)
            acc = (
                acc
                + obs.view.sum(dtype=jnp.int32)
                + obs.body.sum().astype(jnp.int32)
                + reward.sum().astype(jnp.int32)
            )
            return (state, acc), None

        (_, acc), _ = jax.lax.scan(body, (state, jnp.int32(0)), jax.random.split(key, steps))
        return acc

    return jax.jit(run), n


def xminigrid_runner(name: str, batch: int, steps: int):
    import xminigrid
    from xminigrid.wrappers import GymAutoResetWrapper

    env, params = xminigrid.make(name)
    env = GymAutoResetWrapper(env)

    def run(key):
        ts = jax.vmap(env.reset, in_axes=(None, 0))(params, jax.random.split(key, batch))

        def body(carry, k):
            ts, acc = carry
            actions = jax.random.randint(k, (batch,), 0, env.num_actions(params))
            ts = jax.vmap(env.step, in_axes=(None, 0, 0))(params, ts, actions)
            return (ts, acc + ts.observation.sum(dtype=jnp.int32)), None

        (_, acc), _ = jax.lax.scan(body, (ts, jnp.int32(0)), jax.random.split(key, steps))
        return acc

    return jax.jit(run), 1


def _split_over(fn, devices: int):
    """`fn(key)` on one slice of the batch per device (pmap): same program, `devices` keys."""
    mapped = jax.pmap(fn)
    return lambda key: mapped(jax.random.split(key, devices))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 256, 4096])
    ap.add_argument("--worlds", nargs="+", default=["Nursery-11x11"])
    ap.add_argument("--peers", nargs="+", default=["MiniGrid-Empty-8x8", "XLand-MiniGrid-R1-9x9"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    ap.add_argument("--fusion-barriers", choices=("auto", "on", "off"), default="auto",
                    help="caredrive.env.fusion barriers: auto = on for the CPU backend only")
    ap.add_argument("--devices", type=int, default=1,
                    help="split each batch over this many CPU devices (pmap), for ours and the peers alike")
    args = ap.parse_args()
    if args.devices > 1 and not use_cpu_cores(args.devices):
        raise SystemExit("--devices: JAX started before the device count could be set")
    if args.quick:
        args.batches, args.repeats = [1, 64], 1
    fusion.ENABLED = {"auto": None, "on": True, "off": False}[args.fusion_barriers]
    steps_for = lambda b: 2000 if b == 1 else max(20, 400_000 // b) if not args.quick else 20

    rows = []
    for b in args.batches:
        runs = [("ours", w, lambda n, b, s: nursery_runner(n, b, s)) for w in args.worlds]
        runs += [
            ("ours-per-world-reset", w, lambda n, b, s: nursery_runner(n, b, s, True)) for w in args.worlds
        ]
        runs += [("peer", p, xminigrid_runner) for p in args.peers]
        # compile everything first, then time in interleaved rounds (ours, theirs, ours, ...), best of
        # `repeats` each: a shared or throttled machine then slows both sides alike, not one side
        d = args.devices if b % args.devices == 0 else 1  # batch 1 cannot be split
        built = []
        for kind, name, make in runs:
            fn, agents = make(name, b // d, steps_for(b))
            if d > 1:  # one slice of the batch per device, the same program on each
                fn = _split_over(fn, d)
            jax.block_until_ready(fn(jax.random.key(0)))
            built.append((kind, name, fn, agents))
        best = [float("inf")] * len(built)
        for r in range(args.repeats):
            for i, (_, _, fn, _) in enumerate(built):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(jax.random.key(r + 1)))
                best[i] = min(best[i], time.perf_counter() - t0)
        for (kind, name, _, agents), secs in zip(built, best, strict=True):
            ws = b * steps_for(b) / secs
            rows.append({"env": name, "kind": kind, "batch": b, "devices": d, "world_steps_s": ws,
                         "agent_steps_s": ws * agents})
            label = name + (" (per-world reset)" if "per-world" in kind else "")
            print(f"{label:42s} batch {b:5d}  world-steps/s {ws:12,.0f}  agent-steps/s {ws * agents:12,.0f}", flush=True)

    ratios = {}
    for b in args.batches:
        ours = [r for r in rows if r["batch"] == b and r["kind"].startswith("ours")]
        for peer in (r for r in rows if r["batch"] == b and r["kind"] == "peer"):
            for o in ours:
                ratios[
                    f"{o['env']}{'(per-world-reset)' if 'per-world' in o['kind'] else ''}/{peer['env']}@{b}"
                ] = round(o["agent_steps_s"] / peer["world_steps_s"], 3)
    print("\nratio agent-steps/s ours / steps/s theirs:")
    for k, v in ratios.items():
        print(f"  {k}: {v:.2f}x")
    headline = {
        "benchmark": "env_throughput",
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "fusion_barriers": fusion.active(),
        "rows": [{k: (round(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        "ratios": ratios,
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
