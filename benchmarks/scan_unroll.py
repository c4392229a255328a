"""Does unrolling training's loops help XLA:CPU? The PPO update is many small kernels in while loops (the
rollout's steps, GAE, the BPTT time scan, epochs and minibatches; `train_profile.py`: 40% of device time
is between kernels). This compiles the same chunk (4 seeds sharded over the cores, 4 birth-phase updates)
with every `lax.scan` inside the update unrolled 1, 2 and 8 steps (the update loop itself is not), and
times them interleaved, best of 3.
    python benchmarks/scan_unroll.py
Ends with one JSON line (env steps/s per unroll and the ratio to no unrolling).
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from caredrive.devices import seed_sharding, use_cpu_cores

use_cpu_cores()  # before JAX starts, as the CLI does
import jax  # noqa: E402

from train_throughput import _chunk, _initial, _setup  # noqa: E402

orig = jax.lax.scan
seeds, updates = 4, 4
cfg, _, _, wp, trainer, _ = _setup("small", [], seeds, updates)
rs0 = jax.device_put(_initial(trainer, wp, seeds), seed_sharding(seeds))
compiled = {}
for U in (1, 2, 8):
    def patched(f, init, xs=None, length=None, reverse=False, unroll=1, _U=U, **kw):
        return orig(f, init, xs, length=length, reverse=reverse, unroll=_U, **kw)
    chunk = _chunk(trainer, updates, scan=orig)  # the update loop itself is not unrolled
    jax.lax.scan = patched
    t0 = time.perf_counter()
    try:
        compiled[U] = chunk.lower(rs0).compile()
    finally:
        jax.lax.scan = orig
    print(f"unroll {U}: compile {time.perf_counter()-t0:.1f} s", flush=True)
states = {U: compiled[U](rs0)[0] for U in compiled}
best = dict.fromkeys(compiled, float("inf"))
for _ in range(3):
    for U in compiled:
        t0 = time.perf_counter()
        states[U], m = compiled[U](states[U])
        jax.block_until_ready(m)
        best[U] = min(best[U], time.perf_counter() - t0)
steps = seeds * updates * cfg.ppo.num_envs * cfg.ppo.num_steps
res = {U: round(steps / best[U]) for U in best}
print(json.dumps({"benchmark": "scan_unroll", "seeds": seeds, "updates": updates, "env_steps_per_s_by_unroll": res, "ratio_vs_1": {U: round(res[U] / res[1], 3) for U in res}}))
