"""`caredrive` command line. Every bad input ends in one clear line (exit 2), never a traceback.

    caredrive worlds                      list registered worlds
    caredrive baselines [--json]          scripted baselines: does care matter, is the world winnable?
    caredrive render --policy carer       a GIF of one episode
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caredrive", description="Can gradient descent find an agent that cares?")
    sub = p.add_subparsers(dest="command", required=True)

    def world_args(sp):
        sp.add_argument("--world", default="Nursery-11x11", help="a registered world (see `caredrive worlds`)")
        sp.add_argument("--seed", type=int, default=0)

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
    return p


def main(argv: list[str] | None = None) -> int:
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
