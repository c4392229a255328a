"""Linear CKA between seeds' layers on the same inputs, against baselines rather than against 0.

Rows must be aligned: `record.replay` feeds one recorded observation stream to every seed's network, so
row i is the same tick of the same episode for every seed. CKA(X, Y) = ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)
on column-centred activations (Kornblith et al. 2019). It is invariant to any orthogonal map of the units
and to isotropic scaling, so a *unit permutation* changes nothing: a "shuffled-unit" control can only mean
shuffling each unit's values over samples on its own, which destroys every joint structure and gives the
same near-floor value as permuting whole rows. We therefore report two controls that answer sharper
questions:

- `untrained`: the same matrix for freshly initialised networks of the same architecture on the same
  inputs. Random networks keep much of their input's geometry, so a high CKA between trained seeds means
  little unless it beats this.
- `rows`: one side's rows permuted (alignment broken): the floor CKA reaches from the marginal statistics
  of two layers alone, with these dimensions and this many samples.
- `episodes`: one side's episodes permuted at the same tick and mother: what seeds share only through what
  every episode shares at a tick (the clock in the observation, the baby's age).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.errors import ConfigError
from caredrive.interp.probes import HIDDEN_TAPS, shuffled_across_episodes
from caredrive.interp.record import Recording, check_aligned

CKA_TAPS = HIDDEN_TAPS + ("gate_r", "gate_z", "gate_n", "logits")


def linear_cka(x: jax.Array, y: jax.Array) -> jax.Array:
    """Linear CKA of `x` [N, p] and `y` [N, q] (rows are samples; 0 when either is constant)."""
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    scale = lambda a: a / jnp.maximum(jnp.linalg.norm(a), 1e-12)  # CKA is scale-free: keep float32 in range
    x, y = scale(x), scale(y)
    xy = jnp.sum((y.T @ x) ** 2)
    den = jnp.linalg.norm(x.T @ x) * jnp.linalg.norm(y.T @ y)
    return jnp.where(den > 1e-20, xy / jnp.maximum(den, 1e-20), 0.0)


def cka_blocks(left: list, right: list) -> np.ndarray:
    """`[len(left), len(right)]` linear CKA between every block of `left` and every block of `right`
    (arrays [N, units] with the same rows), from one cross-product of the concatenated blocks: the cost
    is N x (sum of units)^2 whatever the number of pairs."""
    def prep(blocks):
        z = [jnp.asarray(b, jnp.float32) for b in blocks]
        z = [b - b.mean(0, keepdims=True) for b in z]
        z = [b / jnp.maximum(jnp.linalg.norm(b), 1e-12) for b in z]
        norms = np.asarray([float(jnp.linalg.norm(b.T @ b)) for b in z])
        edges = np.cumsum([0] + [b.shape[1] for b in z])
        return jnp.concatenate(z, axis=1), norms, edges

    zl, nl, el = prep(left)
    zr, nr, er = prep(right)
    c = np.asarray(zl.T @ zr) ** 2
    num = np.add.reduceat(np.add.reduceat(c, el[:-1], axis=0), er[:-1], axis=1)
    den = nl[:, None] * nr[None, :]
    return np.where(den > 1e-20, num / np.maximum(den, 1e-20), 0.0).astype(np.float32)


def _blocks(rec: Recording, tap: str, seeds: np.ndarray, rows: np.ndarray | None = None) -> list[np.ndarray]:
    """Per seed, the `[N, units]` activations of an aligned recording (rows reordered by `rows`)."""
    out = [rec.acts[tap][rec.seed == s] for s in seeds]
    return out if rows is None else [b[rows] for b in out]


def _check_taps(rec: Recording, taps: tuple[str, ...]) -> None:
    missing = [t for t in taps if t not in rec.acts]
    if missing:
        raise ConfigError(f"tap(s) {missing} are not in the recording: it holds {list(rec.acts)}.")


def cka_matrix(rec: Recording, taps: tuple[str, ...] = CKA_TAPS) -> np.ndarray:
    """`[S*P, S*P]` CKA between every (seed, tap) pair of an aligned recording, seed-major."""
    seeds = check_aligned(rec)
    _check_taps(rec, taps)
    blocks = [b for s in seeds for t in taps for b in _blocks(rec, t, np.asarray([s]))]
    return cka_blocks(blocks, blocks)


def same_tap(rec: Recording, other: Recording, taps: tuple[str, ...], rows: np.ndarray | None = None) -> np.ndarray:
    """`[P, S, S]`: per tap, CKA between seed i of `rec` and seed j of `other` (rows of `other`
    reordered by `rows`: a control)."""
    seeds, others = check_aligned(rec), check_aligned(other)
    _check_taps(rec, taps)
    _check_taps(other, taps)
    return np.stack([cka_blocks(_blocks(rec, t, seeds), _blocks(other, t, others, rows)) for t in taps])


def _episode_partner(rec: Recording, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows that have a partner, the partner row of each) under a tick-aligned permutation of episodes."""
    first = rec.seed == rec.seed.min()
    sub = rec.select(first)
    parts = {"all": np.unique(sub.episode)}
    idx = shuffled_across_episodes(sub, np.arange(sub.n, dtype=np.float32)[:, None], parts, seed)[:, 0]
    has = ~np.isnan(idx)
    return np.nonzero(has)[0], idx[has].astype(np.int64)


def cka_report(aligned: Recording, untrained: Recording, taps: tuple[str, ...] = CKA_TAPS,
               max_rows: int = 8192, seed: int = 0) -> dict:
    """CKA of the seeds' layers (`aligned` = `replay` of trained networks) beside the same matrix for
    `untrained` (`replay` of `fresh_policy` networks on the same recording) and the `rows` / `episodes`
    controls. Rows are subsampled to `max_rows` (the same rows for every seed and control).

    `summary[tap]`: mean over seed pairs i < j of CKA(seed i, seed j) for trained and untrained networks,
    CKA(trained seed, its untrained counterpart) averaged over seeds, and the two controls averaged over
    every pair i, j (i = j included: a network against itself with its rows broken)."""
    seeds = check_aligned(aligned)
    check_aligned(untrained)
    if untrained.n != aligned.n:
        raise ConfigError("the untrained replay must be of the same recording as the trained one.")
    n = aligned.n // len(seeds)
    rng = np.random.default_rng(seed)
    keep_rows, partner = _episode_partner(aligned, seed)
    if len(keep_rows) > max_rows:
        pick = np.sort(rng.choice(len(keep_rows), max_rows, replace=False))
        keep_rows, partner = keep_rows[pick], partner[pick]
    pick = lambda r, rows: r.select(np.concatenate([np.nonzero(r.seed == s)[0][rows] for s in seeds]))
    a, u = pick(aligned, keep_rows), pick(untrained, keep_rows)
    m = len(keep_rows)
    trained = cka_matrix(a, taps)
    per = {
        "trained": same_tap(a, a, taps), "untrained": same_tap(u, u, taps), "trained_vs_untrained": same_tap(a, u, taps),
        "control_rows": same_tap(a, a, taps, rows=rng.permutation(m)),
        "control_episodes": same_tap(a, pick(aligned, partner), taps),
    }
    upper = np.triu_indices(len(seeds), 1)
    summary = {
        tap: {
            "trained": _mean(per["trained"][k][upper]), "untrained": _mean(per["untrained"][k][upper]),
            "trained_vs_untrained": _mean(np.diag(per["trained_vs_untrained"][k])),
            "control_rows": _mean(per["control_rows"][k]), "control_episodes": _mean(per["control_episodes"][k]),
        }
        for k, tap in enumerate(taps)
    }
    return {
        "seeds": [int(x) for x in seeds], "taps": list(taps), "rows": m, "rows_available": n,
        "labels": [f"seed{int(x)}/{t}" for x in seeds for t in taps], "matrix": trained.round(4).tolist(),
        "same_tap": {name: v.round(4).tolist() for name, v in per.items()},
        "summary": summary,
    }


def _mean(x: np.ndarray) -> float | None:
    return round(float(np.mean(x)), 4) if np.size(x) else None
