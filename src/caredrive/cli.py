"""`caredrive` command line. Every bad input ends in one clear line (exit 2), never a traceback.

    caredrive worlds                      list registered worlds
    caredrive baselines [--json]          scripted baselines: does care matter, is the world winnable?
    caredrive render --policy carer       a GIF of one episode
    caredrive train [--preset small]      train mothers over seeds; do they care?
    caredrive eval RUN                    every seed and baseline on the training world and the held-out battery
    caredrive report RUN                  one self-contained RUN/report.html
    caredrive compare RUN_A RUN_B         two runs seed by seed (e.g. GRU vs feed-forward): permutation test
    caredrive run [--preset small]        train -> eval -> report, and a verdict table (the main command)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from caredrive.errors import ConfigError


def _env_from(args, extra: list[str]):
    from caredrive.env.registry import make
    from caredrive.overrides import ENV_FIELDS, parse_overrides

    over = parse_overrides(extra, {"env": ENV_FIELDS})["env"]
    return make(args.world, **over)


def cmd_worlds(args, extra) -> int:
    from caredrive.env.registry import REGISTRY

    for name, (static, dynamic) in sorted(REGISTRY.items()):
        print(f"{name:26s} {dict(static, **dynamic) or 'defaults'}")
    return 0


def cmd_baselines(args, extra) -> int:
    import jax

    from caredrive.eval.baselines import BASELINES, run_baselines

    env = _env_from(args, extra)
    if args.episodes < 1:
        raise ConfigError(f"--episodes={args.episodes} is not allowed: must be an integer >= 1.")
    names = args.policies or list(BASELINES)
    for n in names:
        if n not in BASELINES:
            raise ConfigError(f"--policies: unknown baseline {n!r}: must be among {list(BASELINES)}.")
    progress = None if args.json else (lambda name: print(f"  ran {name}", file=sys.stderr, flush=True))
    res = run_baselines(env, jax.random.key(args.seed), args.episodes, names, progress=progress)
    if args.json:
        print(json.dumps({"world": env.name, "episodes": args.episodes, "seed": args.seed, "policies": res}))
        return 0
    steps = int(env.default_params.max_steps)
    print(f"\n{env.name}: {args.episodes} episodes of {steps} ticks, seed {args.seed}")
    print(f"{'policy':10s} {'median baby lifetime':>22s} {'mean':>8s} {'alive at end':>13s}")
    for name, r in res.items():
        print(f"{name:10s} {r['median_lifetime']:>22.0f} {r['mean_lifetime']:>8.1f} {r['survival']:>12.0%}")
    return 0


def cmd_render(args, extra) -> int:
    import jax

    from caredrive.env.policies import POLICIES
    from caredrive.env.render import render_episode, save_gif

    env = _env_from(args, extra)
    if args.policy not in POLICIES:
        raise ConfigError(f"--policy={args.policy!r} is not allowed: must be one of {sorted(POLICIES)}.")
    out = Path(args.out)
    if out.suffix.lower() != ".gif":
        raise ConfigError(f"--out={args.out!r} is not allowed: must end in .gif.")
    out.parent.mkdir(parents=True, exist_ok=True)
    frames = render_episode(env, POLICIES[args.policy](env), env.default_params, jax.random.key(args.seed))
    save_gif(frames, out, fps=args.fps)
    print(f"wrote {out} ({len(frames)} frames, policy {args.policy}, world {env.name})")
    return 0


def cmd_train(args, extra) -> int:
    _train(args, extra, eval_episodes=args.eval_episodes)
    return 0


def _train(args, extra, eval_episodes: int) -> Path:
    """Train (or resume) a run; with eval_episodes > 0 also print the pass mark of the training issue."""
    import time

    import jax

    from caredrive.eval.care import baseline_lifetimes, seed_lifetimes, verdict
    from caredrive.train.config import TrainConfig, build_config
    from caredrive.train.run import train
    from caredrive.train.rundir import RunDir

    if args.resume:
        run = RunDir(args.resume)
        if extra:
            raise ConfigError("--resume continues a run with its own config.json: give no other settings.")
        cfg = TrainConfig.from_dict(run.load_config())
    else:
        cfg = build_config(args.preset, extra)
        out = args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
        run = RunDir(out)
        run.create(cfg.to_dict())
    print(f"run directory: {run.path}", flush=True)
    trained = train(cfg, run, resume=bool(args.resume), progress=not args.no_progress)

    if eval_episodes <= 0:
        run.write_json("summary.json", {"world": cfg.world, "wall_time_s": trained.wall_time,
                                        "timesteps_per_seed": trained.timesteps, "devices": jax.device_count()})
        return run.path
    print(f"evaluating {cfg.seeds} seeds x {eval_episodes} episodes against the baselines ...", flush=True)
    key = jax.random.key(cfg.seed + 1_000_003)  # evaluation worlds differ from training worlds
    base = baseline_lifetimes(trained.world, trained.env_params, key, eval_episodes, names=("none", "selfish", "carer"))
    per_seed = verdict(seed_lifetimes(trained.world, trained.policy, trained.env_params, key, eval_episodes), base)
    summary = {
        "world": cfg.world, "preset": args.preset if not args.resume else "resumed",
        "wall_time_s": trained.wall_time, "timesteps_per_seed": trained.timesteps,
        "devices": jax.device_count(),  # results are reproducible for a given count (caredrive.devices)
        "eval_episodes": eval_episodes, "baselines": base, "seeds": per_seed,
        "caring_seeds": sum(r["cares"] for r in per_seed),
    }
    run.write_json("summary.json", summary)
    print(f"\nmean baby lifetime (ticks, of {int(trained.env_params.max_steps)}), {eval_episodes} episodes:")
    for name, r in base.items():
        print(f"  {name:10s} {r['mean_lifetime']:7.1f}   alive at end {r['survival']:5.0%}")
    for r in per_seed:
        mark = "CARES" if r["cares"] else "does not care"
        print(f"  seed {r['seed']:<5d} {r['mean_lifetime']:7.1f}   alive at end {r['survival']:5.0%}   "
              f"{r['x_selfish']:.1f}x selfish, {r['share_of_carer']:.0%} of carer -> {mark}")
    print(f"{summary['caring_seeds']}/{cfg.seeds} seeds care (>= 3x selfish and >= 60% of the scripted carer). "
          f"{trained.timesteps:,} steps per seed in {trained.wall_time:.0f} s. Summary: {run.path / 'summary.json'}")
    return run.path


def cmd_eval(args, extra) -> int:
    from caredrive.eval.evaluate import evaluate_run
    from caredrive.eval.verdict import format_verdict

    if extra:
        raise ConfigError(f"unexpected arguments {' '.join(extra)}: eval takes a run directory and its options.")
    if args.episodes < 1:
        raise ConfigError(f"--episodes={args.episodes} is not allowed: must be an integer >= 1.")
    v = evaluate_run(args.run, episodes=args.episodes, seed=args.seed, progress=True, gifs=not args.no_gifs)
    print(format_verdict(v))
    return 0


def cmd_report(args, extra) -> int:
    from caredrive.eval.report import write_report

    if extra:
        raise ConfigError(f"unexpected arguments {' '.join(extra)}: report takes a run directory.")
    print(f"wrote {write_report(args.run)}")
    return 0


def cmd_run(args, extra) -> int:
    """Train the default mothers, evaluate them against the baselines and the battery, write the report."""
    from caredrive.eval.evaluate import evaluate_run
    from caredrive.eval.report import write_report
    from caredrive.eval.verdict import format_verdict

    args.resume = None  # `run` always starts a new run; `train --resume` continues one
    if args.episodes < 1:
        raise ConfigError(f"--episodes={args.episodes} is not allowed: must be an integer >= 1.")
    run_path = _train(args, extra, eval_episodes=0)
    v = evaluate_run(run_path, episodes=args.episodes, seed=0, progress=not args.no_progress)
    summary = json.loads((run_path / "summary.json").read_text())
    v["training"] = {"wall_time_s": summary["wall_time_s"], "timesteps_per_seed": summary["timesteps_per_seed"]}
    (run_path / "verdict.json").write_text(json.dumps(v, indent=1))
    report = write_report(run_path)
    print(format_verdict(v))
    print(f"\ntraining {summary['wall_time_s']:.0f} s, evaluation {v['total_time_s']:.0f} s. "
          f"Verdict: {run_path / 'verdict.json'}\nReport:  {report}")
    return 0


def cmd_compare(args, extra) -> int:
    from caredrive.eval.compare import permutation_test, seed_lifetimes

    if extra:
        raise ConfigError(f"compare takes two run directories and --json, not {' '.join(extra)}.")
    world_a, a = seed_lifetimes(args.run_a)
    world_b, b = seed_lifetimes(args.run_b)
    res = permutation_test(a, b)
    if args.json:
        print(json.dumps({"a": str(args.run_a), "b": str(args.run_b), "world_a": world_a, "world_b": world_b,
                          "seeds_a": a, "seeds_b": b, **res}))
        return 0
    if world_a != world_b:
        print(f"note: the runs trained on different worlds ({world_a} vs {world_b})")
    for name, run, xs, mean in (("A", args.run_a, a, res["mean_a"]), ("B", args.run_b, b, res["mean_b"])):
        print(f"{name} {run}: mean baby lifetime {mean:6.1f} over {len(xs)} seeds  "
              f"[{', '.join(f'{x:.1f}' for x in xs)}]")
    kind = "exact" if res["exact"] else "sampled"
    print(f"A - B = {res['difference']:+.1f} ticks; A wins {res['u_pairs_a_wins']:g} of {res['pairs']} seed pairs; "
          f"{kind} permutation test over seeds: p(A > B) = {res['p_greater']:.3g}, two-sided p = {res['p_two_sided']:.3g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caredrive", description="Can gradient descent find an agent that cares?")
    sub = p.add_subparsers(dest="command", required=True)

    def world_args(sp):
        sp.add_argument("--world", default="Nursery-11x11", help="a registered world (see `caredrive worlds`)")
        sp.add_argument("--seed", type=int, default=0)

    def training_args(sp):
        sp.add_argument("--preset", default="small", help="small (laptop CPU), full, or tiny (tests)")
        sp.add_argument("--out", default=None, help="run directory (default runs/<time>)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")

    sp = sub.add_parser("worlds", help="list registered worlds")
    sp.set_defaults(fn=cmd_worlds)

    sp = sub.add_parser("baselines", help="scripted baselines on a world", epilog="Any world setting: --env.FIELD VALUE")
    world_args(sp)
    sp.add_argument("--episodes", type=int, default=1000)
    sp.add_argument("--policies", nargs="+", default=None, help="subset of: none idle random selfish carer")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(fn=cmd_baselines)

    sp = sub.add_parser("render", help="write a GIF of one episode", epilog="Any world setting: --env.FIELD VALUE")
    world_args(sp)
    sp.add_argument("--policy", default="carer", help="idle, random, selfish or carer")
    sp.add_argument("--out", default="episode.gif")
    sp.add_argument("--fps", type=int, default=6)
    sp.set_defaults(fn=cmd_render)

    sp = sub.add_parser(
        "train", help="train mothers (self-survival, then birth) over several seeds and say whether they care",
        epilog="Typed settings: --env.FIELD, --ppo.FIELD, --run.seeds N, --phase1.timesteps N, --phase2.reward-mode baby",
    )
    training_args(sp)
    sp.add_argument("--resume", default=None, metavar="RUN", help="continue a run from its last checkpoint")
    sp.add_argument("--eval-episodes", type=int, default=256)
    sp.set_defaults(fn=cmd_train)

    sp = sub.add_parser("eval", help="evaluate a run: seeds and baselines on the training world and the battery")
    sp.add_argument("run", help="a run directory (from caredrive train)")
    sp.add_argument("--episodes", type=int, default=256)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-gifs", action="store_true")
    sp.set_defaults(fn=cmd_eval)

    sp = sub.add_parser("compare", help="two runs seed by seed: mean baby lifetime, permutation test over seeds")
    sp.add_argument("run_a", help="a finished run directory (its summary.json)")
    sp.add_argument("run_b", help="another one")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(fn=cmd_compare)

    sp = sub.add_parser("report", help="write RUN/report.html (self-contained)")
    sp.add_argument("run", help="a run directory")
    sp.set_defaults(fn=cmd_report)

    sp = sub.add_parser(
        "run", help="train the default mothers, evaluate them, write the report and print the verdict",
        epilog="Typed settings as for train: --env.FIELD, --ppo.FIELD, --run.seeds N, --phase1.timesteps N",
    )
    training_args(sp)
    sp.add_argument("--episodes", type=int, default=256, help="evaluation episodes per world and policy")
    sp.set_defaults(fn=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    from caredrive.devices import use_cpu_cores

    use_cpu_cores()  # before JAX starts: one device per core, so seeds train side by side
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        return args.fn(args, extra)
    except ConfigError as e:
        print(f"caredrive: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("caredrive: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
