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
    """The world and the per-seed mean baby lifetimes of a run (see `read_seeds`)."""
    r = read_seeds(run)
    return r["world"], r["lifetimes"]


def read_seeds(run: Path) -> dict:
    """`{world, lifetimes, source}` of a run folder, or of its summary.json / eval.json itself.

    Every folder the CLI makes is comparable: `caredrive train` (with its evaluation) writes per-seed rows
    in summary.json; `caredrive run` and `caredrive eval` write eval.json, whose training world holds each
    seed's mean baby lifetime. summary.json's rows come first (the figures `train` printed). The world is
    named with its overrides when config.json is beside it."""
    path = Path(run)
    files = [path / "summary.json", path / "eval.json"] if path.is_dir() else [path]
    if not any(f.exists() for f in files):
        raise ConfigError(f"{run}: no summary.json or eval.json (finish the run with `caredrive train`, "
                          f"or evaluate it with `caredrive eval {run}`).")
    problems = []
    for f in files:
        if not f.exists():
            continue
        try:
            data = json.loads(f.read_text())
            if _is_summary(data):
                world, lifetimes = _from_summary(data)
            elif isinstance(data, dict) and "worlds" in data:
                world, lifetimes = _from_eval(data)
            else:
                problems.append(f"{f.name} has no per-seed rows")
                continue
            return {"world": world + _overrides(f.parent / "config.json"), "lifetimes": lifetimes, "source": f.name}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            problems.append(f"{f.name}: {e!r}")
    raise ConfigError(f"{run} is not a caredrive training summary or evaluation with per-seed lifetimes "
                      f"({'; '.join(problems)}): evaluate the run with `caredrive eval RUN`.")


def _is_summary(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("seeds"), list)


def _from_summary(summary: dict) -> tuple[str, list[float]]:
    return str(summary["world"]), [_lifetime(s["mean_lifetime"], f"seed {i}") for i, s in enumerate(summary["seeds"])]


def _from_eval(ev: dict) -> tuple[str, list[float]]:
    """Each seed's mean baby lifetime on the training world of an eval.json (its first world)."""
    train = next((w for w in ev["worlds"] if w.get("kind") == "train"), ev["worlds"][0])
    n = int(ev["seeds"])
    return str(ev["world"]), [_lifetime(train["policies"][f"seed_{i}"]["mean_lifetime"], f"seed_{i}") for i in range(n)]


def _lifetime(x, who: str) -> float:
    if x is None or isinstance(x, bool) or not np.isfinite(float(x)):
        raise ValueError(f"{who} has no mean baby lifetime (no babies counted)")
    return float(x)


def _overrides(config: Path) -> str:
    if not config.exists():
        return ""
    try:
        env = json.loads(config.read_text()).get("env")
    except (json.JSONDecodeError, AttributeError):
        return ""
    return " " + json.dumps(env, sort_keys=True) if env else ""


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
