"""Probe-direction transfer across seeds: does seed A's probe read the same thing in seed B?

On an aligned recording (`record.replay`: the same inputs through every seed's network), for each tap
and target, the probe fitted on seed A (training episodes) is scored on seed B's held-out episodes:

- `raw[a][b]`: A's probe applied to B's activations as they are. High only if the seeds share units,
  not merely a subspace (expected near the shuffled level for independently trained networks).
- `mapped[a][b]`: A's probe applied to B's activations after a linear map A <- B, a ridge regression
  from B's units to A's fitted on the training episodes (every living-mother tick, not only the target's
  rows). It measures whether B holds A's direction up to a linear change of basis; it cannot exceed by
  much what a probe fitted on B directly gets (`own[b]`), since probe o map is itself a probe on B.
- `own[a]`: A's probe on A's held-out episodes (the reference).
The diagonal of both matrices is `own`.
"""

from __future__ import annotations

import numpy as np

from caredrive.errors import ConfigError
from caredrive.interp.probes import (
    HIDDEN_TAPS,
    Layout,
    ProbeConfig,
    design,
    fit_probes,
    predict,
    score_probes,
    split_episodes,
    target_groups,
)
from caredrive.interp.record import Recording, check_aligned


def _fit_map(xb: np.ndarray, xa: np.ndarray, w_fit: np.ndarray, w_val: np.ndarray, lams: np.ndarray):
    """Ridge map from B's units to A's (each of A's units a regression target with its own penalty)."""
    one = lambda a: a[None]
    return fit_probes(one(xb), one(xa), one(w_fit), one(w_val), lams, np.arange(xa.shape[1]))


def probe_transfer(aligned: Recording, cfg: ProbeConfig | None = None, taps: tuple[str, ...] = HIDDEN_TAPS) -> dict:
    """`{"taps": {tap: {target: {"own": [S], "raw": [S][S], "mapped": [S][S]}}}, ...}` (rows: the seed
    whose probe is used; columns: the seed whose activations it reads); see the module docstring."""
    cfg = ProbeConfig() if cfg is None else cfg
    seeds = check_aligned(aligned)
    if len(seeds) < 2:
        raise ConfigError("probe transfer needs at least two seeds in the aligned recording.")
    cfg.validate(aligned)
    missing = [t for t in taps if t not in aligned.acts]
    if missing:
        raise ConfigError(f"tap(s) {missing} are not in the recording: it holds {list(aligned.acts)}.")
    ref = aligned.select(aligned.seed == seeds[0])
    parts = split_episodes(ref.episode, cfg)
    lams = np.asarray(cfg.lambdas, np.float64)
    labels = np.stack([ref.truth[t] for t in cfg.targets], axis=1)
    valid = ~np.isnan(labels)
    split = {k: np.isin(ref.episode, v).astype(np.float32) for k, v in parts.items()}
    s = len(seeds)
    tile = lambda a: np.broadcast_to(a[None], (s,) + a.shape)
    groups = []
    for g in target_groups(valid):
        targets = tuple(cfg.targets[j] for j in g)
        w = {k: tile(v * valid[:, g[0]]) for k, v in split.items()}
        if w["test"].sum() > 0 and w["fit"].sum() > 0:
            groups.append((g, Layout.of(targets), tile(design(labels[:, g], targets)), w))
    out = {}
    for tap in taps:
        x = np.stack([aligned.acts[tap][aligned.seed == sd] for sd in seeds]).astype(np.float32)  # [S, N, d]
        own = np.full((s, len(cfg.targets)), np.nan)
        raw = np.full((s, s, len(cfg.targets)), np.nan)
        mapped = np.full((s, s, len(cfg.targets)), np.nan)
        fitted = []
        for g, lay, y, w in groups:
            probes = fit_probes(x, y, w["fit"], w["val"], lams, lay.cols)
            fitted.append((g, lay, y, w, probes))
            own[:, g] = np.asarray(score_probes(x, probes, y, w["test"], lay.cols, lay.is_cls))[:, : len(g)]
            for b in range(s):  # every probe a on seed b's activations
                sc = score_probes(tile(x[b]), probes, y, w["test"], lay.cols, lay.is_cls)
                raw[:, b, g] = np.asarray(sc)[:, : len(g)]
        for a in range(s):
            for b in range(s):
                if a == b:
                    mapped[a, b] = own[a]
                    continue
                m = _fit_map(x[b], x[a], split["fit"], split["val"], lams)
                xb_as_a = np.asarray(predict(x[b], tuple(p[0] for p in m)))
                for g, lay, y, w, probes in fitted:
                    pa = tuple(p[a : a + 1] for p in probes)
                    sc = score_probes(xb_as_a[None], pa, y[:1], w["test"][:1], lay.cols, lay.is_cls)
                    mapped[a, b, g] = np.asarray(sc)[0, : len(g)]
        out[tap] = {
            t: {"own": _r(own[:, j]), "raw": _r(raw[:, :, j]), "mapped": _r(mapped[:, :, j]),
                "raw_mean_off_diagonal": _off(raw[:, :, j]), "mapped_mean_off_diagonal": _off(mapped[:, :, j])}
            for j, t in enumerate(cfg.targets)
        }
    return {"seeds": [int(v) for v in seeds], "episodes": {k: len(v) for k, v in parts.items()}, "taps": out}


def _r(a: np.ndarray) -> list:
    """JSON-able: rounded, None where undefined."""
    return [_r(v) for v in a] if a.ndim > 1 else [round(float(v), 4) if np.isfinite(v) else None for v in a]


def _off(m: np.ndarray) -> float | None:
    vals = m[~np.eye(m.shape[0], dtype=bool)]
    vals = vals[np.isfinite(vals)]
    return round(float(vals.mean()), 4) if vals.size else None
