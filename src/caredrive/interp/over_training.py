"""Probes over training ("what is learned when"): the same recording and probes at every weight snapshot
of a run (`caredrive.train.snapshots`), on the same episode keys, so only the weights change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from caredrive.errors import ConfigError
from caredrive.interp.probes import ProbeConfig, probe
from caredrive.interp.record import record

SERIES = ("score", "shuffled", "raw_obs")


def probes_over_training(run: Path | str, episodes: int = 64, seed: int = 0, every: int = 4,
                         cfg: ProbeConfig | None = None, params=None) -> dict:
    """Per snapshot of `run`: probes on `episodes` episodes of its evaluation world (`params`: the last
    phase's by default; one compile for every snapshot), every `every`-th tick.

    Returns `{"updates": [u0, u1, ...], "series": {tap: {target: {score | shuffled | raw_obs: [snapshot]
    [seed]}}}, "config": ...}`: each series is ready to plot against `updates`."""
    from caredrive.train.load import load_trained
    from caredrive.train.snapshots import list_snapshots, load_snapshot

    if not Path(run).is_dir():
        raise ConfigError(f"{run} is not a run directory: no such folder.")
    snaps = list_snapshots(run)
    if not snaps:
        raise ConfigError(f"{run} has no weight snapshots (trained before snapshots, or with --run.snapshots 0).")
    trained = load_trained(run)
    params = trained.env_params if params is None else params
    keys = jax.random.split(jax.random.key(seed), episodes)
    updates, results = [], []
    for u, _ in snaps:
        policy = dataclasses.replace(trained.policy, weights=load_snapshot(run, u))
        results.append(probe(record(policy, trained.world, params, keys, every=every), cfg))
        updates.append(int(u))
    first = results[0]
    seeds = list(first["seeds"])
    series = {
        tap: {
            target: {k: [[r["seeds"][s][tap][target][k] for s in seeds] for r in results] for k in SERIES}
            for target in first["config"]["targets"]
        }
        for tap in first["config"]["taps"]
    }
    return {"updates": updates, "seeds": [int(s) for s in seeds], "episodes": episodes, "every": every,
            "config": first["config"], "targets": first["targets"], "series": series}


def final_minus_first(result: dict) -> dict:
    """`{tap: {target: mean over seeds of (last snapshot - first snapshot) score}}`: a one-line summary."""
    out = {}
    for tap, per in result["series"].items():
        out[tap] = {}
        for target, s in per.items():
            a, b = np.asarray(s["score"][0], float), np.asarray(s["score"][-1], float)
            out[tap][target] = None if np.isnan(a).any() or np.isnan(b).any() else round(float((b - a).mean()), 4)
    return out
