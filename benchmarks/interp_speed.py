"""Recording + probes: wall time for S seeds x E episodes (the issue's target: 4 x 256 in under 2 minutes
on 2 CPU cores), and the closed-form JAX ridge against scikit-learn on the same rows.

The network is the small preset's (hidden 64, untrained: speed does not depend on what it learned) on
the default world; every tap and every probe target are kept, ticks are subsampled every `--every` ticks
(consecutive ticks are nearly the same sample; the episode is played and its truth computed at every
tick). Times include compilation. Seeds run side by side, one CPU core each (as `caredrive train`).
`cpu_s` is the CPU time the process got: on a busy shared machine compare it with the wall time.
    python benchmarks/interp_speed.py --seeds 4 --episodes 256
    python benchmarks/interp_speed.py --seeds 2 --episodes 16 --no-sklearn     # smoke run
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from caredrive.devices import use_cpu_cores


def _cpu() -> float:
    """CPU seconds of this process (all threads): on a shared machine, with wall time, it tells how much
    of the wall time was spent waiting for the cores."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sklearn_vs_jax(rec, seconds: dict) -> dict:
    """One seed, taps `input` and `gru`, one regression (baby_dist) and one class target (baby_dir):
    scikit-learn's RidgeCV / RidgeClassifierCV (efficient leave-one-out over the same penalty grid) and
    LogisticRegression, against our fit + score on the same rows (warm: compiled already)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression, RidgeClassifierCV, RidgeCV

    from caredrive.interp.probes import Layout, ProbeConfig, design, fit_and_score, split_episodes

    cfg = ProbeConfig()
    sub = rec.select((rec.seed == 0) & ~np.isnan(rec.truth["baby_dist"]))
    parts = split_episodes(sub.episode, cfg)
    fit = np.isin(sub.episode, np.concatenate([parts["fit"], parts["val"]]))
    test = np.isin(sub.episode, parts["test"])
    out = {"rows_fit": int(fit.sum()), "rows_test": int(test.sum())}
    targets = ("baby_dist", "baby_dir")
    lay = Layout.of(targets)
    y = design(np.stack([sub.truth[t] for t in targets], 1), targets)
    w = {k: np.isin(sub.episode, v).astype(np.float32)[None] for k, v in parts.items()}
    alphas = np.asarray(cfg.lambdas) * fit.sum()
    for tap in ("input", "gru"):
        x = sub.acts[tap].astype(np.float32)
        mu, sd = x[fit].mean(0), x[fit].std(0) + 1e-6
        xs = (x - mu) / sd
        run = lambda x=x: np.asarray(fit_and_score(x[None], y[None], w["fit"], w["val"], w["test"],
                                                   np.asarray(cfg.lambdas), lay.cols, lay.is_cls))
        run()
        t = time.perf_counter()
        ours = run()[0]
        jax_s = time.perf_counter() - t
        t = time.perf_counter()
        r2 = RidgeCV(alphas=alphas).fit(xs[fit], sub.truth["baby_dist"][fit]).score(xs[test], sub.truth["baby_dist"][test])
        acc = RidgeClassifierCV(alphas=alphas).fit(xs[fit], sub.truth["baby_dir"][fit]).score(xs[test], sub.truth["baby_dir"][test])
        ridge_s = time.perf_counter() - t
        t = time.perf_counter()
        logit = LogisticRegression(max_iter=300).fit(xs[fit], sub.truth["baby_dir"][fit]).score(xs[test], sub.truth["baby_dir"][test])
        logit_s = time.perf_counter() - t
        out[tap] = {"jax_s": round(jax_s, 3), "sklearn_ridge_cv_s": round(ridge_s, 3), "sklearn_logistic_s": round(logit_s, 3),
                    "jax_r2": round(float(ours[0]), 4), "sklearn_r2": round(float(r2), 4),
                    "jax_acc": round(float(ours[1]), 4), "sklearn_ridge_acc": round(float(acc), 4),
                    "sklearn_logistic_acc": round(float(logit), 4)}
    seconds["sklearn_compare"] = out
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--every", type=int, default=4, help="keep every k-th tick as a sample")
    ap.add_argument("--world", default="Nursery-11x11")
    ap.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    args = ap.parse_args()
    use_cpu_cores()

    import jax
    import numpy as np

    import caredrive
    from caredrive.agents.networks import ActorCritic
    from caredrive.interp.probes import probe
    from caredrive.interp.record import fresh_policy, record
    from caredrive.train.policy import NetworkPolicy

    load_before = os.getloadavg()
    env = caredrive.make(args.world)
    mask = env.mothers
    base = NetworkPolicy(weights=None, net=ActorCritic(num_actions=env.num_actions, hidden=args.hidden, num_roles=2),
                         learners=tuple(int(i) for i in np.nonzero(mask)[0]),
                         roles=tuple(int(r) for r in env.roles_at_start[mask]), num_agents=env.num_agents)
    policy = fresh_policy(base, jax.random.key(0), seeds=args.seeds, env=env)
    keys = jax.random.split(jax.random.key(1), args.episodes)
    c0, t0 = _cpu(), time.perf_counter()
    rec = record(policy, env, env.default_params, keys, every=args.every)
    c1, t1 = _cpu(), time.perf_counter()
    result = probe(rec)
    c2, t2 = _cpu(), time.perf_counter()
    print(f"recorded {rec.n} rows ({args.seeds} seeds x {args.episodes} episodes x {int(env.default_params.max_steps)} "
          f"ticks / {args.every} x mothers) in {t1 - t0:.1f}s; probes ({len(result['config']['taps'])} taps x "
          f"{len(result['config']['targets'])} targets x 2 + controls) in {t2 - t1:.1f}s")
    seconds: dict = {}
    if not args.no_sklearn:
        for tap, r in _sklearn_vs_jax(rec, seconds).items():
            print(tap, r)
    line = {
        "bench": "interp_speed", "seeds": args.seeds, "episodes": args.episodes, "hidden": args.hidden,
        "every": args.every, "rows": rec.n, "devices": len(jax.devices()), "record_s": round(t1 - t0, 1),
        "probes_s": round(t2 - t1, 1), "total_s": round(t2 - t0, 1), "target_s": 120,
        "cpu_s": {"record": round(c1 - c0, 1), "probes": round(c2 - c1, 1)},
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "at": time.strftime("%Y-%m-%d %H:%M:%S"), **seconds,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
