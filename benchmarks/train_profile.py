"""Where training's time goes: a `jax.profiler` trace of PPO updates, split into env, acting (the
rollout's forward passes), the loss's forward, its backward, the optimiser, other device work, and the
host (the chunk's untraced wall time that no device thread spent in a kernel: Python, dispatch, and on
XLA:CPU mostly the executor's gaps between its many small kernels).

Training runs as `caredrive train` runs it (seeds sharded over one CPU device per core). Every kernel of
the trace names its HLO instruction; the compiled program maps that to the JAX name scope it came from
(`caredrive.train.ppo` names its parts `env`, `act`, `loss`, `optimizer`; the loss's backward ops are
its `transpose(jvp(..))`; kernels whose name XLA dropped are placed by what they call or where they run,
and `inferred_share` says how much time that is). Kernel time is each kernel's own time (a loop's time
minus its body's).
    python benchmarks/train_profile.py                 # 4 seeds, 2 x 4 updates, the small preset's birth phase
    python benchmarks/train_profile.py --quick         # smoke run (CI)
    python benchmarks/train_profile.py --seeds 4 --ppo.hidden 32   # any typed training override
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile
import time

import jax

from caredrive.devices import seed_sharding, use_cpu_cores

PARTS = ("env", "act", "forward", "backward", "optimizer", "other")


def part_of(op_name: str) -> str:
    """The training part an HLO op belongs to, from its JAX name stack."""
    if "/optimizer/" in op_name or op_name.endswith("/optimizer"):
        return "optimizer"
    if "/loss/" in op_name:
        return "backward" if "transpose(" in op_name.split("/loss/", 1)[1] else "forward"
    if "/env/" in op_name:
        return "env"
    if "/act/" in op_name:
        return "act"
    return "other"


def op_parts(hlo_text: str) -> tuple[dict[str, str], set[str]]:
    """HLO instruction name -> training part, from the compiled module's metadata; and the names whose
    part was inferred. XLA drops the op name of many merged kernels (a fusion, a dot of two sources): a
    fusion takes the most common part of the ops it calls, anything else still unnamed the most common
    part of its own computation (a loop body of the rollout, of the loss's forward or of its backward)."""
    comps: dict[str, list[tuple[str, str | None, str | None]]] = {}
    current = None
    for line in hlo_text.splitlines():
        head = re.match(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*(?:\(.*\))?.*\{\s*$", line)
        if head and not line.startswith(" "):
            current = comps.setdefault(head.group(1), [])
            continue
        ins = re.match(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=", line)
        if ins and current is not None:
            op = re.search(r'op_name="([^"]*)"', line)
            calls = re.search(r"calls=%?([\w.\-]+)", line)
            current.append((ins.group(1), part_of(op.group(1)) if op else None, calls.group(1) if calls else None))

    def common(labels):
        named = [x for x in labels if x is not None]
        return collections.Counter(named).most_common(1)[0][0] if named else None

    parts, inferred = {}, set()
    for body in comps.values():
        for name, part, calls in body:
            if part is None and calls in comps:
                part = common(p for _, p, _ in comps[calls])
                inferred.add(name)
            parts[name] = part
    for body in comps.values():
        fallback = common(parts[n] for n, _, _ in body)
        for name, _, _ in body:
            if parts[name] is None:
                parts[name] = fallback or "other"
                inferred.add(name)
    return parts, inferred


def own_times(events: list[dict]) -> list[tuple[dict, float]]:
    """Each complete event with its own time (its duration minus its children's on the same thread)."""
    by_tid = collections.defaultdict(list)
    for e in events:
        by_tid[(e.get("pid"), e.get("tid"))].append(e)
    out = []
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[list] = []  # [event, end, children's time]
        for e in evs:
            end = e["ts"] + e["dur"]
            while stack and stack[-1][1] <= e["ts"]:
                done = stack.pop()
                out.append((done[0], done[0]["dur"] - done[2]))
            if stack:
                stack[-1][2] += e["dur"]
            stack.append([e, end, 0.0])
        out.extend((d[0], d[0]["dur"] - d[2]) for d in stack)
    return out


def profile(seeds: int, updates: int, preset: str, overrides: list[str], reps: int) -> dict:
    from train_throughput import _chunk, _initial, _setup  # the throughput benchmark's program

    cfg, _, _, wp, trainer, _ = _setup(preset, overrides, seeds, updates)
    rs, chunk = _initial(trainer, wp, seeds), _chunk(trainer, updates)
    sharding = seed_sharding(seeds)
    rs = jax.device_put(rs, sharding if sharding is not None else jax.devices()[0])
    compiled = chunk.lower(rs).compile()
    parts, inferred = op_parts(compiled.as_text())
    rs, m = compiled(rs)
    jax.block_until_ready(m)
    t0 = time.perf_counter()  # the same chunks untraced: the profiler's own cost stays out of `host`
    for _ in range(reps):
        rs, m = compiled(rs)
        jax.block_until_ready(m)
    wall = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            t0 = time.perf_counter()
            for _ in range(reps):
                rs, m = compiled(rs)
                jax.block_until_ready(m)
            traced_wall = time.perf_counter() - t0
        trace = json.load(gzip.open(glob.glob(f"{d}/**/perfetto_trace.json.gz", recursive=True)[0]))
    events = [e for e in (trace["traceEvents"] if isinstance(trace, dict) else trace)
              if e.get("ph") == "X" and "dur" in e]
    kernels = [e for e in events if (e.get("args") or {}).get("hlo_op")]
    per = dict.fromkeys(PARTS, 0.0)
    threads, guessed = set(), 0.0
    for e, own in own_times(kernels):
        per[parts.get(e["args"]["hlo_op"], "other")] += own / 1e6
        guessed += own / 1e6 if e["args"]["hlo_op"] in inferred else 0.0
        threads.add((e.get("pid"), e.get("tid")))
    devices = 1 if sharding is None else len(sharding.device_set)
    kernel_s = sum(per.values())
    # host: what the devices' untraced wall time (devices x wall) holds beyond their kernels' own time --
    # Python and dispatch, and on XLA:CPU mostly the executor's gaps between its many small kernels
    host = max(devices * wall - kernel_s, 0.0)
    total = kernel_s + host
    steps = seeds * updates * reps * cfg.ppo.num_envs * cfg.ppo.num_steps
    return {"seeds": seeds, "updates": updates * reps, "devices": devices, "kernel_threads": len(threads),
            "wall_s": round(wall, 2), "traced_wall_s": round(traced_wall, 2), "inferred_share": round(guessed / max(sum(per.values()), 1e-9), 3), "env_steps_per_s": round(steps / wall),
            "split": {k: round(v / total, 3) for k, v in {**per, "host": host}.items()},
            "seconds": {k: round(v, 2) for k, v in {**per, "host": host}.items()}}


def main() -> None:
    use_cpu_cores()  # before JAX starts, as the CLI does
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--updates", type=int, default=4, help="updates per compiled chunk")
    ap.add_argument("--reps", type=int, default=2, help="chunks traced")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--quick", action="store_true", help="tiny preset, 1 seed, 1 update: a smoke run")
    args, overrides = ap.parse_known_args()
    if args.quick:
        args.seeds, args.updates, args.reps, args.preset = 1, 1, 1, "tiny"
    r = profile(args.seeds, args.updates, args.preset, overrides, args.reps)
    print(f"{r['seeds']} seeds x {r['updates']} updates on {r['devices']} device(s): {r['wall_s']} s, "
          f"{r['env_steps_per_s']:,} env steps/s")
    for k, v in r["split"].items():
        print(f"  {k:10s} {v:6.1%}  ({r['seconds'][k]:.2f} s)")
    print(json.dumps({"benchmark": "train_profile", "preset": args.preset, "overrides": overrides,
                      "backend": jax.default_backend(), **r}))


if __name__ == "__main__":
    main()
