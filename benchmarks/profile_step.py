"""Where a Nursery tick spends its time: each mechanic as `jit(vmap(f))` over a batch of mid-episode states.

    python benchmarks/profile_step.py                      # batch 1024, Nursery-11x11
    python benchmarks/profile_step.py --batch 4096 --repeats 20
    python benchmarks/profile_step.py --compare caredrive_before   # another importable copy, same process

Every figure is the best of `repeats` timed calls (ms per call on the whole batch). With `--compare PKG`
the same table is measured for an importable copy of the package (e.g. the tree before a change, with
its imports renamed) interleaved with ours, so the ratios come from one process under the same load.
Ends with one JSON line of per-mechanic ms.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

import jax
import jax.numpy as jnp


def _best(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def mechanics(pkg: str, name: str, batch: int, warmup: int = 40):
    """name -> (jitted fn, args): every mechanic of the step on the same batch of mid-episode states."""
    cd = importlib.import_module(pkg)
    act = importlib.import_module(f"{pkg}.env.actions")
    body = importlib.import_module(f"{pkg}.env.body")
    pred = importlib.import_module(f"{pkg}.env.predators")
    obs_mod = importlib.import_module(f"{pkg}.env.observe")
    wrappers = importlib.import_module(f"{pkg}.env.wrappers")
    world = cd.make(name)
    p = world.default_params
    n = world.num_agents
    child_of, parent_of = jnp.asarray(world.child_of), jnp.asarray(world.parent_of)
    vec = wrappers.VecAutoReset(world, batch)

    # mid-episode states (babies born, food eaten) so no mechanic is trivially idle
    @jax.jit
    def warm(key):
        _, s = vec.reset(key, p)

        def tick(s, k):
            a = jax.random.randint(k, (batch, n), 0, world.num_actions)
            _, s, *_ = vec.step(k, s, a, p)
            return s, None

        return jax.lax.scan(tick, s, jax.random.split(key, warmup))[0]

    key = jax.random.key(0)
    state = jax.block_until_ready(warm(key))
    actions = jax.random.randint(key, (batch, n), 0, world.num_actions)
    keys = jax.random.split(key, batch)
    u_a = jax.random.uniform(key, (batch, n))
    u_p = jax.random.uniform(key, (batch, world.config.max_predators, 7))
    u_f = jax.random.uniform(key, (batch, world.config.max_food, 3))
    z = jnp.zeros((batch, n), bool)
    v = lambda f: jax.jit(jax.vmap(f))
    ks = (keys, state, actions)
    return {
        "toddler": (v(lambda k, s, a: world.baby_brain(k, None, s, p)), ks),
        "move": (v(lambda k, s, a: act.move(s, a, p)), ks),
        "pick_up": (v(lambda k, s, a: act.pick_up(s, a, child_of, p)), ks),
        "put_down": (v(lambda k, s, a: act.put_down(s, a)), ks),
        "feed": (v(lambda k, s, a: act.feed(s, a, p, child_of)), ks),
        "scare": (v(lambda k, s, a: act.scare(s, a, p)), ks),
        "eat": (v(lambda k, s, a: act.eat(s, p)), ks),
        "predators": (v(lambda u, s: pred.step_predators(u, s, p)), (u_p, state)),
        "hazards": (v(lambda s: body.hazards(s, p)), (state,)),
        "metabolism": (v(lambda s: body.metabolism(s, p)), (state,)),
        "deaths": (v(lambda u, s, b: body.deaths(s, u, p, b, b)), (u_a, state, z)),
        "age_and_cry": (v(lambda s: body.age_and_cry(s, p, child_of)), (state,)),
        "regrow_food": (v(lambda u, s: body.regrow_food(s, u, p)), (u_f, state)),
        "births": (v(lambda s: body.births(s, p, parent_of)), (state,)),
        "observe": (v(lambda s: obs_mod.observe(s, p, child_of, parent_of, world.config.view_size)), (state,)),
        "step": (v(lambda k, s, a: world.step(k, s, a, p)), ks),
        "reset": (v(lambda k: world.reset(k, p)), (keys,)),
        "vec_auto_reset_step": (jax.jit(lambda k, s, a: vec.step(k, s, a, p)), (key, state, actions)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="Nursery-11x11")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of all is kept")
    ap.add_argument("--compare", default=None, help="another importable copy of the package")
    args = ap.parse_args()
    pkgs = ["caredrive"] + ([args.compare] if args.compare else [])
    tables = {pkg: mechanics(pkg, args.world, args.batch) for pkg in pkgs}
    ms = {pkg: {} for pkg in pkgs}
    for _ in range(args.rounds):
        for name in tables["caredrive"]:
            for pkg in pkgs:  # interleaved, so both see the same load
                fn, fargs = tables[pkg][name]
                ms[pkg][name] = min(ms[pkg].get(name, float("inf")), _best(fn, fargs, args.repeats))
    head = f"{'mechanic':22s} {'ours ms':>9s}" + (f" {args.compare + ' ms':>22s} {'ratio':>7s}" if args.compare else "")
    print(f"batch {args.batch}, {args.world}, best of {args.rounds}x{args.repeats}\n{head}")
    for name, t in ms["caredrive"].items():
        line = f"{name:22s} {t:9.3f}"
        if args.compare:
            o = ms[args.compare][name]
            line += f" {o:22.3f} {o / t:6.2f}x"
        print(line)
    out = {"benchmark": "profile_step", "batch": args.batch, "world": args.world, "cpu_count": os.cpu_count(),
           "ms": {k: round(t, 3) for k, t in ms["caredrive"].items()}}
    if args.compare:
        out["ms_" + args.compare] = {k: round(t, 3) for k, t in ms[args.compare].items()}
        out["speedup"] = {k: round(ms[args.compare][k] / t, 2) for k, t in ms["caredrive"].items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
