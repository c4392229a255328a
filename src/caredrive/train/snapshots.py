"""The mothers' network over training: "what is learned when".

`train` keeps the weights of the mothers' network (`train_state[0].params`, stacked over seeds) as
named trees at several points of a run: before the first update, at `TrainConfig.snapshots` evenly
spaced chunk ends, and at the end of every phase (the end of training included). Unlike checkpoints
they are never deleted, and they hold only the weights, so they stay small.

    for updates, _ in list_snapshots(run):
        weights = load_snapshot(run, updates)  # flax params, leaves [seeds, ...]
        policy = dataclasses.replace(load_trained(run).policy, weights=weights)

Reading needs nothing but the folder (no config, no trainer) and checks each array's digest.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp

from caredrive.errors import ConfigError
from caredrive.train import checkpoint

FOLDER = "snapshots"


def schedule(plan: list[tuple[int, int]], count: int) -> list[int]:
    """The update counts after which a snapshot is taken, for a run of `plan` = [(chunks, updates per
    chunk)] per phase: 0, the chunk end at or after each of `count` evenly spaced points, every phase's
    end. `count=0`: none at all."""
    if count <= 0:
        return []
    ends, phase_ends, done = [], [], 0
    for n_chunks, k in plan:
        for _ in range(n_chunks):
            done += k
            ends.append(done)
        phase_ends.append(done)
    at = {0, *phase_ends}
    for i in range(1, count + 1):
        target = done * i / count
        at.add(next(e for e in ends if e >= target - 1e-9))
    return sorted(at)


def save(run_path: Path | str, updates: int, weights, meta: dict) -> Path:
    """Write the weights (stacked over seeds) as snapshot `updates` of the run (atomically)."""
    return checkpoint.write(Path(run_path) / FOLDER / f"step_{updates:08d}", checkpoint.flatten(weights),
                            {**meta, "updates": updates, "what": "the mothers' network: train_state/0/params"})


def list_snapshots(run_path: Path | str) -> list[tuple[int, Path]]:
    """`[(updates, path)]` of a run's snapshots, oldest first (empty for runs made before snapshots)."""
    run_path = getattr(run_path, "path", run_path)  # a RunDir or a path
    out = []
    for p in checkpoint.listing(Path(run_path) / FOLDER):
        try:
            out.append((int(p.name.removeprefix("step_")), p))
        except ValueError:  # not one of ours
            continue
    return out


def load_snapshot(run_path: Path | str, updates: int) -> dict:
    """The mothers' weights after `updates` updates, stacked over seeds: a flax params dict
    (`{'params': {'gru': {...}, ...}}`) ready for `NetworkPolicy(weights=...)`."""
    found = dict(list_snapshots(run_path))
    if updates not in found:
        have = ", ".join(str(u) for u in found) or "none (trained before snapshots, or with snapshots=0)"
        raise ConfigError(f"{run_path} has no snapshot after {updates} updates: it has {have}.")
    arrays, _ = checkpoint.read(found[updates])
    return checkpoint.nest({name: jnp.asarray(x) for name, x in arrays.items()})
