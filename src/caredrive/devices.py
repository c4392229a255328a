"""Use every CPU core for independent seeds: one XLA host device per core, seeds sharded across them.

Why: XLA:CPU runs the many small kernels of a PPO update on about one core, however many there are
(training 4 seeds on 2 cores was only ~1.2x faster than on 1). Split into one host device per core, the
seeds (a `vmap` axis, fully independent) run side by side: 1.41x with 4 seeds on this repo's 2-core
machine (`python benchmarks/train_throughput.py`, which times both placements). On a GPU nothing changes.

The device count must be fixed before JAX starts its backends, so entry points (the CLI, benchmarks)
call `use_cpu_cores()` first thing; anywhere later it quietly does nothing.
"""

from __future__ import annotations

import os

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_cpu_cores(n: int | None = None) -> bool:
    """Ask JAX for `n` CPU devices (default: `$CAREDRIVE_CPU_DEVICES`, else one per usable core).
    False if JAX has already started.

    Results are reproducible for a given device count; across counts they differ in float rounding
    (XLA compiles the sharded program differently: ~2e-6 on the tiny preset's metrics), so set
    `CAREDRIVE_CPU_DEVICES` to compare runs from machines with different core counts bit for bit.
    """
    if n is None:
        env = os.environ.get("CAREDRIVE_CPU_DEVICES", "")
        n = int(env) if env.strip().isdigit() else cpu_cores()
    try:
        jax.config.update("jax_num_cpu_devices", max(1, n))
    except RuntimeError:  # backends already initialised (e.g. called from inside a test session)
        return False
    return True


def seed_sharding(seeds: int) -> NamedSharding | None:
    """A sharding of a leading seed axis over as many devices as divide `seeds`; None for one device."""
    devices = jax.devices()
    n = max(d for d in range(1, len(devices) + 1) if seeds % d == 0)
    if n == 1:
        return None
    return NamedSharding(Mesh(devices[:n], ("seeds",)), PartitionSpec("seeds"))


def spread(tree, seeds: int):
    """Place a tree stacked over seeds across the devices (a no-op with one device)."""
    sharding = seed_sharding(seeds)
    return tree if sharding is None else jax.device_put(tree, sharding)


def gather(tree, seeds: int):
    """Bring a seed-stacked tree back to the default device, so later code mixes it with anything."""
    return tree if seed_sharding(seeds) is None else jax.device_put(tree, jax.devices()[0])
