"""Two runs compared seed by seed: is A's mean baby lifetime higher than B's beyond seed luck?

The unit of evidence is the seed (a whole training run), not the episode: episodes of one seed share
its weights, so pooling them would overstate certainty. With a handful of seeds per arm we use an exact
permutation test on the difference of the arms' means (every split of the pooled seeds into two arms
of the same sizes), and report how many (A, B) seed pairs A wins (the Mann-Whitney U count).
"""

from __future__ import annotations

import itertools
import json
from math import comb
from pathlib import Path

import numpy as np

from caredrive.errors import ConfigError

_MAX_SPLITS = 200_000  # beyond this, a seeded Monte-Carlo sample of splits


def seed_lifetimes(run: Path) -> tuple[str, list[float]]:
    """The world (name, and overrides when `config.json` is beside it) and per-seed mean baby lifetimes
    from a run's `summary.json` (or that file itself)."""
    path = Path(run)
    path = path / "summary.json" if path.is_dir() else path
    try:
        summary = json.loads(path.read_text())
        world = summary["world"]
        config = path.parent / "config.json"
        if config.exists() and json.loads(config.read_text()).get("env"):
            world += " " + json.dumps(json.loads(config.read_text())["env"], sort_keys=True)
        return world, [float(s["mean_lifetime"]) for s in summary["seeds"]]
    except FileNotFoundError:
        raise ConfigError(f"{run}: no summary.json (finish the run with `caredrive train`, or give a run directory).") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a caredrive training summary with per-seed lifetimes ({e}).") from None


def permutation_test(a: list[float], b: list[float], seed: int = 0) -> dict:
    """Exact (or sampled) permutation p-values of mean(a) - mean(b), and the U count of pairs a > b."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    if len(a_) < 2 or len(b_) < 2:
        raise ConfigError(f"need at least 2 seeds per run to compare (got {len(a_)} and {len(b_)}).")
    pooled, n = np.concatenate([a_, b_]), len(a_)
    observed = a_.mean() - b_.mean()
    total = pooled.sum()
    splits = list(itertools.combinations(range(len(pooled)), n)) if comb(len(pooled), n) <= _MAX_SPLITS else None
    if splits is not None:
        sums = np.array([pooled[list(s)].sum() for s in splits])
    else:
        rng = np.random.default_rng(seed)
        sums = np.array([pooled[rng.permutation(len(pooled))[:n]].sum() for _ in range(_MAX_SPLITS)])
    diffs = sums / n - (total - sums) / len(b_)
    eps = 1e-9 * max(1.0, abs(observed))
    u = float(sum((x > y) + 0.5 * (x == y) for x in a_ for y in b_))
    return {
        "mean_a": float(a_.mean()), "mean_b": float(b_.mean()), "difference": float(observed),
        "p_greater": float((diffs >= observed - eps).mean()),  # H1: A > B
        "p_two_sided": float((np.abs(diffs) >= abs(observed) - eps).mean()),
        "u_pairs_a_wins": u, "pairs": len(a_) * len(b_), "exact": splits is not None,
    }
