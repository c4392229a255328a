"""Linear probes per tap, split by episode, each beside two controls.

A probe is a ridge fit in closed form (`(X'X + lambda I) w = X'y` on standardised, centred features):
regression for continuous targets (scored by R^2), one-vs-rest on one-hot labels for classes (a ridge
classifier, scored by accuracy; `chance` is the held-out majority share). The one pass over the rows
(the moments X'X, X'y, per seed in one `vmap`) runs in JAX; the d x d solves in float64 numpy. On the
same rows it gives scikit-learn's RidgeCV / RidgeClassifierCV scores 10-20x faster, and logistic
regression's accuracy within a few points 30-70x faster (benchmarks/interp_speed.py). The penalty is
chosen per target from a grid by the squared error on validation episodes (a slice of the training
episodes), computed from the validation moments; the probe is then refitted on all training episodes.

Every score is on held-out episodes (no episode on both sides) and comes with:
- `shuffled`: the same pipeline on labels permuted *across episodes* at the same tick and mother (row
  (e, t, m) gets the label of (pi(e), t, m), within each split). It keeps whatever all episodes share at
  a tick (the clock is in the observation), so it is the score of "knows the time", not 0.
- `raw_obs`: the same probe on the `input` tap (the observation itself). `gain_over_raw` =
  score - raw_obs: "represented" means more than "present in the input".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.devices import spread
from caredrive.errors import ConfigError
from caredrive.interp.record import Recording
from caredrive.interp.truth import TARGETS

PROBE_TARGETS = ("baby_dist", "baby_dx", "baby_dy", "baby_dir", "baby_energy", "baby_in_view", "since_fed",
                 "own_nearest", "baby_cry", "pred_near_baby", "food_dist", "action")
HIDDEN_TAPS = ("enc0", "enc1", "gru", "pi0", "v0")


@dataclass(frozen=True)
class ProbeConfig:
    targets: tuple[str, ...] = PROBE_TARGETS
    taps: tuple[str, ...] | None = None  # None: every tap in the recording
    test_share: float = 0.25  # of episodes, held out
    val_share: float = 0.2  # of the training episodes, to choose the penalty
    lambdas: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # times the number of fitting rows
    seed: int = 0  # the episode split and the control's permutation

    def validate(self, rec: Recording) -> None:
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise ConfigError(f"unknown probe target(s) {bad}: choose from {list(TARGETS)}.")
        missing = [t for t in (self.taps or ()) if t not in rec.acts]
        if missing:
            raise ConfigError(f"tap(s) {missing} are not in the recording: it holds {list(rec.acts)}.")
        if not (0 < self.test_share < 1 and 0 < self.val_share < 1):
            raise ConfigError("test_share and val_share must be numbers strictly between 0 and 1.")
        if len(np.unique(rec.episode)) < 3:
            raise ConfigError("probes need at least 3 episodes (fit, validation and test are split by episode).")


# --- the ridge fit, from moments ------------------------------------------------------------------


N_SLOTS = len(TARGETS)  # target slots of one fit: groups are padded to it, so a tap compiles once
K_SLOTS = sum(1 if t.kind == "reg" else t.classes for t in TARGETS.values())


@dataclass(frozen=True)
class Layout:
    """Label columns of a group of targets, padded to fixed sizes (so shapes never change with the
    group): `cols` [K_SLOTS] target slot per column (N_SLOTS for padding), `is_cls` [N_SLOTS]."""

    cols: np.ndarray
    is_cls: np.ndarray

    @staticmethod
    def of(targets: tuple[str, ...]) -> Layout:
        cols = np.concatenate([np.full(1 if TARGETS[t].kind == "reg" else TARGETS[t].classes, j)
                               for j, t in enumerate(targets)])
        is_cls = np.zeros(N_SLOTS, bool)
        is_cls[: len(targets)] = [TARGETS[t].kind == "cls" for t in targets]
        return Layout(np.pad(cols, (0, K_SLOTS - len(cols)), constant_values=N_SLOTS).astype(np.int32), is_cls)


def design(labels: np.ndarray, targets: tuple[str, ...]) -> np.ndarray:
    """`[N, K_SLOTS]` regression columns / one-hot blocks of `labels` `[N, len(targets)]` (NaN -> 0: those
    rows are weighted out), zero-padded."""
    cols = []
    for j, t in enumerate(targets):
        y = np.nan_to_num(labels[:, j])
        k = TARGETS[t].classes
        cols.append(y[:, None] if TARGETS[t].kind == "reg" else (y[:, None].astype(np.int64) == np.arange(k)[None]))
    y = np.concatenate(cols, axis=1).astype(np.float32)
    return np.pad(y, ((0, 0), (0, K_SLOTS - y.shape[1])))


@jax.jit
def moments(x, y, w_in, w_val):
    """Per seed (leading axis), the sufficient statistics of a ridge fit: `(mu, sd, y0)` to standardise
    features and centre labels with the fitting rows, then `(sum w, X'w, X'WX, Y'w, X'WY, sum w y^2)` of
    the standardised rows for `w_in` and for `w_val`. The only pass over the rows a fit needs."""
    def one(x, y, w_in, w_val):
        w_fit = w_in + w_val
        n = jnp.maximum(w_fit.sum(), 1.0)
        mu = (x.T @ w_fit) / n
        sd = jnp.sqrt(jnp.maximum(((x - mu[None]) ** 2).T @ w_fit / n, 0.0))
        sd = jnp.where(sd > 1e-6, sd, 1.0)
        y0 = (y.T @ w_fit) / n  # centred labels keep the float32 sums exact enough (a clock up to 10^3)
        xs, yc = (x - mu[None]) / sd[None], y - y0[None]
        mom = lambda w: (w.sum(), xs.T @ w, (xs * w[:, None]).T @ xs, yc.T @ w, (xs * w[:, None]).T @ yc,
                         (yc * yc * w[:, None]).sum(0))
        return (mu, sd, y0), mom(w_in), mom(w_val)

    return jax.vmap(one)(x, y, w_in, w_val)


def _centred(m):
    s0, s1, s2, t1, t2, _ = m
    s0 = max(float(s0), 1.0)
    xbar, ybar = s1 / s0, t1 / s0
    return s0, xbar, ybar, s2 - s0 * np.outer(xbar, xbar), t2 - s0 * np.outer(xbar, ybar)


def _ridge_path(g, b, lams):
    """`[L, d, K]` ridge weights for every penalty of `lams` from one eigendecomposition of `g`."""
    s, v = np.linalg.eigh(g)
    return np.einsum("de,le,ek->ldk", v, 1.0 / (np.maximum(s, 0.0)[None] + lams[:, None]), v.T @ b, optimize=True)


def solve(stats, m_in, m_val, lams: np.ndarray, cols: np.ndarray):
    """One seed's probe `(mu, sd, xbar, ybar, W [d, K])` from its moments, in float64 numpy (LAPACK inside
    a jitted vmap can hang XLA:CPU, see agents/networks.py::orthogonal; these matrices are only d x d).
    Each target's penalty is the one with the least squared error on validation, computed from the
    validation moments around the fit's centre; the probe is then refitted on fit + validation rows."""
    f64 = lambda t: tuple(np.asarray(a, np.float64) for a in t)
    (mu, sd, y0), m_in, m_val = f64(stats), f64(m_in), f64(m_val)
    s0, xbar, ybar, g, b = _centred(m_in)
    path = _ridge_path(g, b, lams * s0)
    v0, v1, v2, u1, u2, uu = m_val
    zz = v2 - np.outer(v1, xbar) - np.outer(xbar, v1) + v0 * np.outer(xbar, xbar)
    zy = u2 - np.outer(v1, ybar) - np.outer(xbar, u1) + v0 * np.outer(xbar, ybar)
    yy = uu - 2 * ybar * u1 + v0 * ybar**2
    sse = yy[None] - 2 * np.einsum("ldk,dk->lk", path, zy) + np.einsum("ldk,de,lek->lk", path, zz, path, optimize=True)
    per_target = np.zeros((len(lams), int(cols.max()) + 1))
    np.add.at(per_target.T, cols, sse.T)
    best = np.argmin(per_target, axis=0)[cols]  # per column
    s0, xbar, ybar, g, b = _centred(tuple(a + c for a, c in zip(m_in, m_val, strict=True)))
    w = np.zeros_like(b)
    for k in np.unique(best):  # one solve per penalty in use (a handful)
        mine = best == k
        w[:, mine] = np.linalg.solve(g + lams[k] * s0 * np.eye(len(g)), b[:, mine])
    return tuple(np.asarray(a, np.float32) for a in (mu, sd, xbar, ybar + y0, w))


def predict(x, probe):
    mu, sd, xbar, ybar, w = probe
    return ((x - mu[None]) / sd[None] - xbar[None]) @ w + ybar[None]


def score(pred, y, w_test, cols, is_cls):
    """`[N_SLOTS]` per target slot: R^2 (regression) or accuracy (classes) over the rows of `w_test`."""
    n = jnp.maximum(w_test.sum(), 1.0)
    mine = cols[None, :] == jnp.arange(N_SLOTS)[:, None]  # [slots, K]
    masked = lambda a: jnp.where(mine[:, None, :], a[None], -jnp.inf)  # [slots, N, K]
    acc = ((jnp.argmax(masked(pred), -1) == jnp.argmax(masked(y), -1)) * w_test[None]).sum(-1) / n
    first = jnp.argmax(mine, axis=1)  # a regression's single column
    p, t = pred[:, first], y[:, first]  # [N, slots]
    mean = (t * w_test[:, None]).sum(0) / n
    sst = (((t - mean[None]) ** 2) * w_test[:, None]).sum(0)
    r2 = 1.0 - (((t - p) ** 2) * w_test[:, None]).sum(0) / jnp.maximum(sst, 1e-12)
    return jnp.where(is_cls, acc, r2)


@jax.jit
def score_probes(x, probes, y, w_test, cols, is_cls):
    """Per seed (leading axis of everything but `cols`, `is_cls`): each probe's score on its own seed's rows."""
    return jax.vmap(lambda x, p, y, w: score(predict(x, p), y, w, cols, is_cls))(x, probes, y, w_test)


def fit_probes(x, y, w_in, w_val, lams, cols):
    """Probes for every seed (leading axis of `x`, `y`, `w_in`, `w_val`), stacked the same way."""
    stats, m_in, m_val = jax.device_get(moments(x, y, w_in, w_val))
    lams, cols = np.asarray(lams, np.float64), np.asarray(cols)
    with _one_blas_thread():
        per = [solve(*(tuple(a[i] for a in t) for t in (stats, m_in, m_val)), lams, cols) for i in range(x.shape[0])]
    return tuple(jnp.asarray(np.stack(a)) for a in zip(*per, strict=True))


def _one_blas_thread():
    """Small d x d solves on one BLAS thread: on a busy 2-core machine a threaded eigh of 238 x 238 was
    measured 10-30x slower (0.24-0.6 s vs 0.022 s). threadpoolctl comes with scikit-learn; without it the
    solves run as numpy is set up."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def fit_and_score(x, y, w_in, w_val, w_test, lams, cols, is_cls):
    """Fit on (w_in, w_val), score on w_test, per seed: `[S, N_SLOTS]`."""
    return score_probes(x, fit_probes(x, y, w_in, w_val, lams, cols), y, w_test, cols, is_cls)


# --- splits and the control -------------------------------------------------------------------------


def split_episodes(episodes: np.ndarray, cfg: ProbeConfig) -> dict[str, np.ndarray]:
    """Episode ids of the `fit`, `val` (penalty choice) and `test` parts: disjoint, the same for every
    seed (the seeds share episode keys), drawn from `cfg.seed`."""
    ids = np.random.default_rng(cfg.seed).permutation(np.unique(episodes))
    n_test = max(1, int(round(cfg.test_share * len(ids))))
    n_val = max(1, int(round(cfg.val_share * (len(ids) - n_test))))
    return {"test": np.sort(ids[:n_test]), "val": np.sort(ids[n_test : n_test + n_val]),
            "fit": np.sort(ids[n_test + n_val :])}


def shuffled_across_episodes(rec: Recording, labels: np.ndarray, parts: dict[str, np.ndarray],
                             seed: int) -> np.ndarray:
    """`labels` `[N, ...]` with each row (seed, e, t, m) given the label of (seed, pi(e), t, m), pi a
    permutation of episodes within each part of the split; NaN where that row does not exist."""
    rng = np.random.default_rng(seed + 1)
    mapping = np.arange(int(rec.episode.max()) + 1)
    for ids in parts.values():
        mapping[ids] = rng.permutation(ids)
    t_max, m_max = int(rec.tick.max()) + 1, int(rec.mother.max()) + 1
    key = lambda s, e, t, m: ((s.astype(np.int64) * len(mapping) + e) * t_max + t) * m_max + m
    own = key(rec.seed, rec.episode, rec.tick, rec.mother)
    order = np.argsort(own)
    want = key(rec.seed, mapping[rec.episode], rec.tick, rec.mother)
    at = np.clip(np.searchsorted(own, want, sorter=order), 0, len(own) - 1)
    found = own[order[at]] == want
    out = labels[order[at]].astype(np.float32)
    out[~found] = np.nan
    return out


# --- the report -------------------------------------------------------------------------------------


def target_groups(valid: np.ndarray) -> list[np.ndarray]:
    """Indices of the targets (columns of `valid` [N, n_targets]) that share one validity mask: one
    Gram matrix per group, not per target."""
    out: dict[bytes, list[int]] = {}
    for j in range(valid.shape[1]):
        out.setdefault(np.packbits(valid[:, j]).tobytes(), []).append(j)
    return [np.asarray(v) for v in out.values()]


def _padded(rec: Recording, seeds: np.ndarray, values: np.ndarray, rows: int) -> np.ndarray:
    """`values` [N, ...] as `[S, rows, ...]` per seed, zero-padded (padding rows carry zero weight)."""
    out = np.zeros((len(seeds), rows) + values.shape[1:], values.dtype)
    for i, s in enumerate(seeds):
        v = values[rec.seed == s]
        out[i, : len(v)] = v
    return out


def _wide(x: np.ndarray) -> np.ndarray:
    """`x` with zero columns up to a multiple of 64 units: every hidden tap, the logits and the value share
    one compiled fit (a zero column gets a zero weight and changes no prediction)."""
    return np.pad(x, ((0, 0), (0, -x.shape[1] % 64)))


def _weights(rec: Recording, parts: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    return {name: (np.isin(rec.episode, ids) & valid).astype(np.float32) for name, ids in parts.items()}


def _run(rec, seeds, rows, taps, labels, valid, cfg, parts):
    """`{tap: scores [S, n_targets]}`, n_fit and n_test `[S, n_targets]` for one set of labels."""
    lams = np.asarray(cfg.lambdas, np.float64)
    n_t = labels.shape[1]
    res = {tap: np.full((len(seeds), n_t), np.nan, np.float32) for tap in taps}
    n_fit, n_test = np.zeros((len(seeds), n_t)), np.zeros((len(seeds), n_t))
    prepared = []
    for g in target_groups(valid):
        targets = tuple(cfg.targets[j] for j in g)
        w = _weights(rec, parts, valid[:, g[0]])
        w = {k: _padded(rec, seeds, v, rows) for k, v in w.items()}
        n_fit[:, g] = (w["fit"].sum(1) + w["val"].sum(1))[:, None]
        n_test[:, g] = w["test"].sum(1)[:, None]
        if w["test"].sum() > 0 and w["fit"].sum() > 0:
            prepared.append((g, Layout.of(targets), _padded(rec, seeds, design(labels[:, g], targets), rows), w))
    for tap in taps:
        x = _padded(rec, seeds, _wide(rec.acts[tap].astype(np.float32)), rows)
        x = spread(jnp.asarray(x), len(seeds))
        for g, lay, y, w in prepared:
            scores = fit_and_score(x, y, w["fit"], w["val"], w["test"], lams, lay.cols, lay.is_cls)
            res[tap][:, g] = np.asarray(scores)[:, : len(g)]
    return res, n_fit, n_test


def probe(rec: Recording, cfg: ProbeConfig | None = None) -> dict:
    """Every target of `cfg` probed on every tap, per seed: a JSON-able dict (see the module docstring).

    `seeds[s][tap][target]` = {score, shuffled, raw_obs, gain_over_raw, chance, n_train, n_test}; the
    metric is R^2 for regressions and accuracy for classes (`targets[name].metric`)."""
    cfg = ProbeConfig() if cfg is None else cfg
    cfg.validate(rec)
    if "input" not in rec.acts:
        raise ConfigError("probes need the 'input' tap in the recording (the raw-observation baseline).")
    taps = tuple(t for t in (cfg.taps or tuple(rec.acts)) if t != "input") + ("input",)
    parts = split_episodes(rec.episode, cfg)
    seeds = np.unique(rec.seed)
    rows = int(-(-np.bincount(rec.seed).max() // 1024) * 1024)  # a few padded shapes, a few compiles
    labels = np.stack([rec.truth[t] for t in cfg.targets], axis=1)
    valid = ~np.isnan(labels)
    real, n_fit, n_test = _run(rec, seeds, rows, taps, labels, valid, cfg, parts)
    shuffled = shuffled_across_episodes(rec, labels, parts, cfg.seed)
    ctrl, _, _ = _run(rec, seeds, rows, taps, shuffled, valid & ~np.isnan(shuffled), cfg, parts)
    chance = _chance(rec, labels, valid, parts["test"], seeds, cfg.targets)
    out = {}
    for i, s in enumerate(seeds):
        per_tap = {}
        for tap in taps:
            per_tap[tap] = {
                t: {"score": _f(real[tap][i, j]), "shuffled": _f(ctrl[tap][i, j]), "raw_obs": _f(real["input"][i, j]),
                    "gain_over_raw": _f(real[tap][i, j] - real["input"][i, j]), "chance": _f(chance[i, j]),
                    "n_train": int(n_fit[i, j]), "n_test": int(n_test[i, j])}
                for j, t in enumerate(cfg.targets)
            }
        out[str(int(s))] = per_tap
    return {
        "config": {"targets": list(cfg.targets), "taps": list(taps), "test_share": cfg.test_share,
                   "val_share": cfg.val_share, "lambdas": list(cfg.lambdas), "seed": cfg.seed},
        "episodes": {k: len(v) for k, v in parts.items()},
        "targets": {t: {"kind": TARGETS[t].kind, "metric": "r2" if TARGETS[t].kind == "reg" else "accuracy",
                        "doc": TARGETS[t].doc} for t in cfg.targets},
        "seeds": out,
    }


def _chance(rec, labels, valid, test_ids, seeds, targets) -> np.ndarray:
    """Per seed and target: the held-out majority share (classes) or 0 (R^2 of the test mean)."""
    out = np.zeros((len(seeds), len(targets)), np.float32)
    test = np.isin(rec.episode, test_ids)
    for i, s in enumerate(seeds):
        for j, t in enumerate(targets):
            y = labels[(rec.seed == s) & test & valid[:, j], j]
            if TARGETS[t].kind == "cls" and len(y):
                out[i, j] = np.bincount(y.astype(np.int64)).max() / len(y)
    return out


def _f(x) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)
