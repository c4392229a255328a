"""`caredrive` command line. Every bad input ends in one clear line (exit 2), never a traceback.

    caredrive worlds                      list registered worlds
    caredrive baselines [--json]          scripted baselines: does care matter, is the world winnable?
    caredrive render --policy carer       a GIF of one episode
    caredrive train [--preset small]      train mothers over seeds; do they care?
    caredrive eval RUN                    every seed and baseline on the training world and the held-out battery
    caredrive report RUN                  one self-contained RUN/report.html
    caredrive compare RUN_A RUN_B         two runs seed by seed (e.g. GRU vs feed-forward): permutation test
    caredrive run [--preset small]        train -> eval -> report, and a verdict table (the main command)
    caredrive experiment NAME|list        a named study: settings x seeds -> results.json, plot, RESULTS.md section
    caredrive interp RUN                  look inside the mothers: probes, lesions, patching, steering, CKA
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from caredrive.errors import ConfigError
from caredrive.outpath import new_file, run_folder


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
    if Path(args.out).suffix.lower() != ".gif":
        raise ConfigError(f"--out={args.out!r} is not allowed: must end in .gif.")
    out = new_file(args.out, "--out", force=args.force)  # before the work, not after it
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

    from caredrive.eval.care import quick_verdict
    from caredrive.train.config import build_config
    from caredrive.train.run import train
    from caredrive.train.rundir import RunDir

    if args.resume:
        run = RunDir(args.resume)
        given = [f for f, v in (("--preset", args.preset), ("--out", args.out)) if v is not None] + list(extra)
        if given:
            raise ConfigError(f"--resume continues a run with its own config.json: give no other settings "
                              f"(got {' '.join(given)}).")
        cfg = run.train_config()  # checked (types, ranges) before anything is written
    else:
        cfg = build_config(_preset(args), extra)
        out = args.out if args.out is not None else f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
        run = RunDir(run_folder(out, "--out"))
        run.create(cfg.to_dict())
    print(f"run directory: {run.path}", flush=True)
    trained = train(cfg, run, resume=bool(args.resume), progress=not args.no_progress)

    if eval_episodes <= 0:
        run.write_json("summary.json", {"world": cfg.world, "preset": cfg.preset or _preset(args), "wall_time_s": trained.wall_time,
                                        "timesteps_per_seed": trained.timesteps, "devices": jax.device_count()})
        return run.path
    print(f"evaluating {cfg.seeds} seeds x {eval_episodes} episodes against the baselines ...", flush=True)
    # evaluation worlds differ from training worlds
    quick = quick_verdict(trained.world, trained.env_params, trained.policy, eval_episodes, cfg.seed + 1_000_003)
    summary = {
        "world": cfg.world, "preset": cfg.preset or _preset(args),
        "wall_time_s": trained.wall_time, "timesteps_per_seed": trained.timesteps,
        "devices": jax.device_count(),  # results are reproducible for a given count (caredrive.devices)
        "eval_episodes": eval_episodes, **quick,
    }
    run.write_json("summary.json", summary)
    print(f"\nmean baby lifetime (ticks, of {int(trained.env_params.max_steps)}), {eval_episodes} episodes:")
    for name, r in quick["baselines"].items():
        print(f"  {name:10s} {_num(r['mean_lifetime'], 7, 1)}   alive at end {_num(r['survival'], 5, 0, '%')}")
    for r in quick["seeds"]:
        ci = "" if not r["care_ci"] else f" [{r['care_ci'][0]:+.2f}, {r['care_ci'][1]:+.2f}]"
        print(f"  seed {r['seed']:<5d} {_num(r['mean_lifetime'], 7, 1)}   alive at end {_num(r['survival'], 5, 0, '%')}   "
              f"care score {_num(r['care_score'], 5, 2)}{ci} -> {r['verdict']}"
              + (f" ({'; '.join(r['goodhart_reasons'])})" if r["flagged"] else "")
              + (f" ({r['care_undefined']})" if r["care_undefined"] else ""))
    print(f"{quick['caring_seeds']}/{cfg.seeds} seeds care ({quick['definition']}; selfish reference: "
          f"{quick['selfish_reference']}, `caredrive eval` uses a trained one). "
          f"{trained.timesteps:,} steps per seed in {trained.wall_time:.0f} s. Summary: {run.path / 'summary.json'}")
    return run.path


def _preset(args) -> str:
    """The preset a run was built from, for its summary ("resumed" when continued from its config.json)."""
    return "resumed" if args.resume else ("small" if args.preset is None else args.preset)


def _num(x, width: int, digits: int, unit: str = "") -> str:
    """A number for the terminal, or "—" where there is none (no baby counted)."""
    if x is None:
        return f"{'—':>{width}s}"
    return f"{x:>{width}.{digits}%}" if unit == "%" else f"{x:>{width}.{digits}f}"


def cmd_eval(args, extra) -> int:
    from caredrive.eval.evaluate import evaluate_run
    from caredrive.eval.verdict import format_verdict

    v = evaluate_run(args.run, episodes=args.episodes, seed=args.seed, progress=True, gifs=not args.no_gifs)
    print(format_verdict(v))
    return 0


def cmd_report(args, extra) -> int:
    from caredrive.eval.report import write_report

    print(f"wrote {write_report(args.run)}")
    return 0


def cmd_run(args, extra) -> int:
    """Train the default mothers, evaluate them against the baselines and the battery, write the report."""
    from caredrive.eval.evaluate import evaluate_run
    from caredrive.eval.report import write_report
    from caredrive.eval.verdict import format_verdict
    from caredrive.train.rundir import write_atomic

    # --resume RUN finishes a run killed in training (it continues from its checkpoint) or in evaluation
    # (training is done: nothing is retrained; the selfish baseline resumes too), and writes its verdict
    run_path = _train(args, extra, eval_episodes=0)
    v = evaluate_run(run_path, episodes=args.episodes, seed=0, progress=not args.no_progress)
    summary = json.loads((run_path / "summary.json").read_text())
    v["training"] = {"wall_time_s": summary["wall_time_s"], "timesteps_per_seed": summary["timesteps_per_seed"]}
    write_atomic(run_path / "verdict.json", json.dumps(v, indent=1))
    report = write_report(run_path)
    print(format_verdict(v))
    print(f"\ntraining {summary['wall_time_s']:.0f} s, evaluation {v['total_time_s']:.0f} s. "
          f"Verdict: {run_path / 'verdict.json'}\nReport:  {report}")
    return 0


def cmd_compare(args, extra) -> int:
    from caredrive.eval.compare import permutation_test, read_seeds

    ra, rb = read_seeds(args.run_a), read_seeds(args.run_b)
    (world_a, a), (world_b, b) = (ra["world"], ra["lifetimes"]), (rb["world"], rb["lifetimes"])
    res = permutation_test(a, b)
    if args.json:
        print(json.dumps({"a": str(args.run_a), "b": str(args.run_b), "world_a": world_a, "world_b": world_b,
                          "seeds_a": a, "seeds_b": b, "source_a": ra["source"], "source_b": rb["source"], **res}))
        return 0
    if world_a != world_b:
        print(f"note: the runs trained on different worlds ({world_a} vs {world_b})")
    if ra["source"] != rb["source"]:
        print(f"note: A's lifetimes come from its {ra['source']}, B's from its {rb['source']} "
              "(different evaluation episodes)")
    for name, run, xs, mean in (("A", args.run_a, a, res["mean_a"]), ("B", args.run_b, b, res["mean_b"])):
        print(f"{name} {run}: mean baby lifetime {mean:6.1f} over {len(xs)} seeds  "
              f"[{', '.join(f'{x:.1f}' for x in xs)}]")
    kind = "exact" if res["exact"] else "sampled"
    print(f"A - B = {res['difference']:+.1f} ticks; A wins {res['u_pairs_a_wins']:g} of {res['pairs']} seed pairs; "
          f"{kind} permutation test over seeds: p(A > B) = {res['p_greater']:.3g}, two-sided p = {res['p_two_sided']:.3g}")
    return 0


def cmd_experiment(args, extra) -> int:
    """A named study (caredrive.experiments): settings x seeds -> train -> evaluate -> results folder."""
    from caredrive.experiments.studies import get_study, listing

    if args.name == "list":
        print(listing())
        return 0
    from caredrive.experiments.runner import run_study

    study = get_study(args.name)
    if args.only is not None:
        study = study.subset(tuple(n.strip() for n in args.only.split(",") if n.strip()))
    study.plan(args.budget, args.seeds)  # every setting's config checked here, before any work
    if args.out is not None:
        run_folder(args.out, "--out")
    run_study(study, args.budget, seeds=args.seeds, out=args.out, ray=args.ray, progress=not args.no_progress)
    return 0


def cmd_interp(args, extra) -> int:
    """Look inside a run's mothers (caredrive.interp): RUN/interp.json and RUN/interp/*.png, then the report."""
    from caredrive.interp.run import SECTIONS, run_interp

    out = run_interp(args.run, episodes=args.episodes, seeds=args.seeds, world=args.world, tap=args.tap,
                     sections=args.only or SECTIONS, progress=not args.no_progress, overrides=args.override or (),
                     steer_alpha=args.steer_alpha, gif=not args.no_gif, seed=args.seed, vector=args.steer_vector,
                     lesions=args.lesion or ())
    for line in out["headline"]:
        print("- " + line)
    print(f"wrote {Path(args.run) / 'interp.json'} and {len(out['plots'])} plots in {out['wall_time_s']:.0f} s; "
          f"`caredrive report {args.run}` adds them to report.html")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError (one line, exit 2) instead of printing its usage block."""

    def error(self, message: str):
        where = self.prog.removeprefix("caredrive").strip()  # the subcommand, if any
        raise ConfigError(f"{where}: {message}" if where else message)


def _int_in(lo: int, hi: int):
    """An argparse type: an integer from lo to hi, with a message that says so."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{raw!r} is not allowed: must be an integer from {lo} to {hi}")
        return value

    return parse


MAX_SEED = 2**32 - 1  # = caredrive.train.config.MAX_SEED (jax keys hold 32 bits of a seed)
MAX_EPISODES = 1_000_000
_seed = _int_in(0, MAX_SEED)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="caredrive", description="Can gradient descent find an agent that cares?")
    sub = p.add_subparsers(dest="command", required=True)

    def world_args(sp):
        sp.add_argument("--world", default="Nursery-11x11", help="a registered world (see `caredrive worlds`)")
        sp.add_argument("--seed", type=_seed, default=0, help=f"0 to {MAX_SEED}")
        sp.set_defaults(overrides=True)  # takes --env.FIELD VALUE

    def training_args(sp):
        sp.add_argument("--preset", default=None, help="small (the default: laptop CPU), full, or tiny (tests)")
        sp.add_argument("--out", default=None, help="run directory (default runs/<time>)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
        sp.set_defaults(overrides=True)  # takes --env.FIELD, --ppo.FIELD, --run.FIELD, --phaseN.FIELD

    sp = sub.add_parser("worlds", help="list registered worlds")
    sp.set_defaults(fn=cmd_worlds)

    sp = sub.add_parser("baselines", help="scripted baselines on a world", epilog="Any world setting: --env.FIELD VALUE")
    world_args(sp)
    sp.add_argument("--episodes", type=_int_in(1, MAX_EPISODES), default=1000)
    sp.add_argument("--policies", nargs="+", default=None, help="subset of: none idle random selfish carer")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(fn=cmd_baselines)

    sp = sub.add_parser("render", help="write a GIF of one episode", epilog="Any world setting: --env.FIELD VALUE")
    world_args(sp)
    sp.add_argument("--policy", default="carer", help="idle, random, selfish or carer")
    sp.add_argument("--out", default="episode.gif", help="a new .gif file")
    sp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    sp.add_argument("--fps", type=_int_in(1, 50), default=6, help="frames per second, 1 to 50")
    sp.set_defaults(fn=cmd_render)

    sp = sub.add_parser(
        "train", help="train mothers (self-survival, then birth) over several seeds and say whether they care",
        epilog="Typed settings: --env.FIELD, --ppo.FIELD, --run.seeds N, --phase1.timesteps N, --phase2.reward-mode baby",
    )
    training_args(sp)
    sp.add_argument("--resume", default=None, metavar="RUN", help="continue a run from its last checkpoint")
    sp.add_argument("--eval-episodes", type=_int_in(0, MAX_EPISODES), default=256, help="0: no evaluation")
    sp.set_defaults(fn=cmd_train)

    sp = sub.add_parser("eval", help="evaluate a run: seeds and baselines on the training world and the battery")
    sp.add_argument("run", help="a run directory (from caredrive train)")
    sp.add_argument("--episodes", type=_int_in(1, MAX_EPISODES), default=256)
    sp.add_argument("--seed", type=_seed, default=0, help=f"0 to {MAX_SEED}")
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
    sp.add_argument("--resume", default=None, metavar="RUN", help="finish a run killed in training or evaluation")
    sp.add_argument("--episodes", type=_int_in(1, MAX_EPISODES), default=256,
                    help="evaluation episodes per world and policy")
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("experiment", help="run a named study (settings x seeds); `caredrive experiment list`")
    sp.add_argument("name", help="a study (emergence, baby-brains, chain, off-switch, capability, mirror, memory) "
                                 "or `list`")
    sp.add_argument("--budget", default="small", help="small (2 CPU cores, ~20-60 min: `experiment list`), full (accelerator) or tiny (tests)")
    sp.add_argument("--seeds", type=int, default=None, help="seeds per setting (default: the budget's)")
    sp.add_argument("--only", default=None, metavar="SETTING[,SETTING]",
                    help="run only these settings of the grid (and the comparisons among them)")
    sp.add_argument("--out", default=None, help="result folder (default runs/experiments/NAME-BUDGET, -only-A-B with --only); "
                                                "re-running it keeps finished settings and resumes the rest")
    sp.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                    help="run each setting as a Ray task: auto starts a local Ray (2 CPUs), else a cluster address")
    sp.add_argument("--no-progress", action="store_true", help="no training progress bars (logs, CI)")
    sp.set_defaults(fn=cmd_experiment)

    sp = sub.add_parser("interp", help="look inside a run's mothers: probes, lesions, patching, steering, CKA",
                        epilog="Writes RUN/interp.json and RUN/interp/*.png (~5-10 min for 4 seeds on 2 CPU cores)")
    sp.add_argument("run", help="a run directory (from caredrive train)")
    sp.add_argument("--episodes", type=_int_in(4, MAX_EPISODES), default=None,
                    help="episodes for every section (default: per section, sized for 2 CPU cores)")
    sp.add_argument("--seeds", default="all", help="all, or seed numbers like 0,2")
    sp.add_argument("--world", default="train", help="battery world to record in: train, foster, decoy, ...")
    sp.add_argument("--tap", default="gru", help="layer to lesion and steer: input enc0 enc1 gru pi0 v0 logits")
    sp.add_argument("--only", default=None, metavar="SECTIONS",
                    help="comma-separated: probes,lesions,patching,steer,cka,training (default: all); "
                         "--override, --lesion and --steer-vector add their own sections")
    sp.add_argument("--override", nargs="+", action="extend", default=None, metavar="PATH=V",
                    help="set (PATH=V), scale (PATH*=F) or zero (PATH=0) a weight, e.g. 'gru/wh[:, 3]*=0'; the "
                         "overridden mother is scored beside the original")
    sp.add_argument("--lesion", action="append", default=None, metavar="TAP:UNITS[:MODE]",
                    help="score a named lesion beside the unlesioned mother (repeatable), e.g. 'gru:3,7,12' or "
                         "'gru:0-15:mean'; MODE zero (default), mean or resample")
    sp.add_argument("--steer-alpha", type=float, default=1.0, help="scale of the steering vector")
    sp.add_argument("--steer-vector", default=None, metavar="FILE.npy",
                    help="your own steering vector (1-D float, the tap's width) instead of the difference of "
                         "means, beside the same controls; adds the steer section")
    sp.add_argument("--no-gif", action="store_true", help="no GIF of the steered mother")
    sp.add_argument("--seed", type=_seed, default=0, help="episode keys")
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(fn=cmd_interp)
    return p


def main(argv: list[str] | None = None) -> int:
    from caredrive.devices import use_cpu_cores

    use_cpu_cores()  # before JAX starts: one device per core, so seeds train side by side
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra and not getattr(args, "overrides", False):
            raise ConfigError(f"{args.command}: unrecognized arguments: {' '.join(map(repr, extra))}.")
        return args.fn(args, extra)
    except ConfigError as e:
        return _fail(str(e))
    except OSError as e:  # the file system said no (disk full, a folder removed meanwhile): name the path
        return _fail(f"{e.filename}: {e.strerror or e}" if e.filename else str(e))
    except KeyboardInterrupt:
        print("caredrive: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    print("caredrive: error: " + " ".join(message.splitlines()), file=sys.stderr)  # always one line
    return 2


if __name__ == "__main__":
    sys.exit(main())
