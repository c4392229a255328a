"""How the README's "hungry newborns" figure was made: nursing over training, per seed.

Every weight snapshot of a run (`RUN/snapshots`) is played through the scoring seam (`eval.score`) on the
run's evaluation world (a well-fed newborn beside her), 64 episodes, and its feedings per baby are read off.
Two arms of runs, each a list of run folders with the same seed count, are drawn against birth-phase steps:

    python docs/results/hungry_newborns.py --before RUNS/birth48-8 RUNS/birth48-8-s1 \
        --after RUNS/hungry-48-8 RUNS/hungry-48-8-s1 --out docs/results/hungry-newborns.png

~2 min a run of 8 seeds on 2 CPU cores. Each run's table is also printed (one row per snapshot).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np


def feedings_over_training(run: str, episodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(birth-phase steps per seed [S], feedings per baby [S, seeds]) at every snapshot after the self phase."""
    from caredrive.eval.score import make_bench, score
    from caredrive.train.load import load_config, load_trained
    from caredrive.train.snapshots import list_snapshots, load_snapshot

    cfg, trained = load_config(run), load_trained(run)
    bench = make_bench(trained.world, trained.env_params, names=("train",), episodes=episodes)
    per_update, self_steps = cfg.ppo.num_envs * cfg.ppo.num_steps, cfg.phases[0].timesteps
    steps, feeds = [], []
    for u, _ in list_snapshots(run):
        if u * per_update <= self_steps:
            continue
        res = score(bench, dataclasses.replace(trained.policy, weights=load_snapshot(run, u)))
        steps.append((u * per_update - self_steps) / 1e6)
        feeds.append([r["train"]["feedings"] for r in res])
        print(f"{run}: {steps[-1]:.2f}M birth-phase steps, feedings per baby " + " ".join(f"{f:.1f}" for f in feeds[-1]))
    return np.array(steps), np.array(feeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", nargs="+", required=True, help="runs of the default (well-fed newborns only)")
    ap.add_argument("--after", nargs="+", required=True, help="runs with hungry newborns in half the episodes")
    ap.add_argument("--out", default="hungry-newborns.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    arms = (("well-fed newborns only (the default)", args.before, "tab:gray"),
            ("half the newborns hungry (baby_energy0=0.25,0.5)", args.after, "tab:red"))
    for label, runs, color in arms:
        tables = [feedings_over_training(r) for r in runs]
        x, y = tables[0][0], np.concatenate([t[1] for t in tables], axis=1)  # same snapshot plan in every run
        ax.plot(x, y, color=color, alpha=0.25, lw=1)
        ax.plot(x, np.median(y, axis=1), color=color, lw=2.5, label=f"{label}: median of {y.shape[1]} seeds")
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("birth-phase steps per seed (millions)")
    ax.set_ylabel("feedings per baby (well-fed newborn beside her)")
    ax.set_title(f"Hungry newborns teach nursing sooner (4.8M birth phase; {y.shape[1]} seeds per arm)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)


if __name__ == "__main__":
    main()
