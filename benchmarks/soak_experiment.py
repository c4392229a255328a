"""Soak: kill -9 `caredrive experiment STUDY --budget tiny` at random moments, re-run each, compare with an uninterrupted one.

    python benchmarks/soak_experiment.py [--kills 10] [--study mirror] [--seed 0] [--root DIR]

`caredrive experiment` resumes by running the same command on the same --out: finished settings are kept,
a setting killed in training resumes from its last checkpoint, one killed later is evaluated again. The
default study, `mirror`, is the cheapest with two settings at the tiny budget (its extra measure reads
eval.json, no rollouts of its own). One uninterrupted run first: the times its files appeared split it into
windows (start-up; each setting's training up to its first checkpoint, then after it; its evaluation,
measures and setting.json; writing the study's results). Attempt i starts the command on a new folder, waits
for the file that opens window i mod their count (a setting's config.json, first checkpoint, trained.json,
setting.json), SIGKILLs it after a delay drawn uniformly over that window's reference length (so kills land
in every window however loaded the machine is), notes what the folder held and runs the same command again.
A run that finished before its kill is compared too, but does not count as a kill: attempts go on until
`--kills` runs were killed (at most 3x as many attempts). Every re-run folder must equal the uninterrupted
one: results.json and each setting.json byte for byte (results.json holds no wall-clock field: the times go
to timings.json and each setting's timing.json, which are not compared; checked on the reference), each
setting's metrics.jsonl byte for byte, its eval.json without its `*time_s` fields and its path; every JSON
file must parse and every setting's config, checkpoints and snapshots read back against their digests.
Ends with one JSON line; exit 1 on any mismatch. CPU heavy: a tiny study per attempt (2.5-5 min on 2 shared
CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soak_resume import _readable, _run, _state, _untimed


def _cmd(study: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "caredrive.cli", "experiment", study, "--budget", "tiny", "--out", str(out),
            "--no-progress"]


def _windows(ref: Path, settings: list[str], started: float, wall: float) -> list[tuple[str, str | None, float]]:
    """(name, the file (a glob) that opens it, its length in seconds), from when the reference run's files appeared."""
    def at(p: Path) -> float:
        return p.stat().st_mtime - started

    wins = [("start-up", None, at(ref / settings[0] / "config.json"))]
    for s in settings:
        run = ref / s
        ck = min(at(p) for p in run.glob("checkpoints/step_*"))  # tiny training: compiles, then 4 quick updates
        wins.append((f"{s}: training to its first checkpoint", f"{s}/config.json", ck - at(run / "config.json")))
        wins.append((f"{s}: training after a checkpoint", f"{s}/checkpoints/step_*", at(run / "trained.json") - ck))
        wins.append((f"{s}: evaluation", f"{s}/trained.json", at(run / "setting.json") - at(run / "trained.json")))
    wins.append(("writing results", f"{settings[-1]}/setting.json", wall - at(ref / settings[-1] / "setting.json")))
    return wins


def _kill_in(cmd: list[str], out: Path, anchor: str | None, delay: float) -> tuple[bool, float]:
    """Start `cmd`, wait for `anchor` to appear in `out` (none: from the start), then `delay` seconds more and
    SIGKILL it. The window follows the run, not the clock, so a busier or idler machine still kills in it.
    Returns (killed, seconds from the start to the kill); not killed: it had finished first."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while anchor is not None and not any(out.glob(anchor)) and p.poll() is None:
        time.sleep(0.05)
    try:
        p.wait(timeout=delay)
        return False, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return True, time.perf_counter() - t0


def _where(out: Path, settings: list[str]) -> str:
    """What the folder held when the kill came, setting by setting."""
    if not (out / "study.json").exists():
        return "before study.json"
    parts = []
    for s in settings:
        run = out / s
        if (run / "setting.json").exists():
            parts.append(f"{s} done")
        elif (run / "eval.json").exists():
            parts.append(f"{s} evaluated")
        elif (run / "trained.json").exists():
            parts.append(f"{s} trained")
        elif run.exists():
            parts.append(f"{s}: {_state(run)}")
    if (out / "results.json").exists():
        parts.append("results written")
    return "; ".join(parts) or "study.json only"


def _compare(out: Path, ref: Path, settings: list[str]) -> list[str]:
    """What differs from the uninterrupted run, or cannot be read (empty: the same)."""
    bad = [f"{p.relative_to(out)} does not parse" for p in sorted(out.rglob("*.json")) if not _parses(p, out)]
    if bad:
        return bad
    if (out / "results.json").read_bytes() != (ref / "results.json").read_bytes():
        bad.append("results.json")
    for s in settings:
        for name in ("metrics.jsonl", "setting.json"):
            if (out / s / name).read_bytes() != (ref / s / name).read_bytes():
                bad.append(f"{s}/{name}")
        if _eval(out / s / "eval.json") != _eval(ref / s / "eval.json"):
            bad.append(f"{s}/eval.json")
        why = _readable(out / s)
        if why is not None:
            bad.append(f"{s} unreadable: {why}")
    return bad


def _eval(p: Path) -> dict:
    """eval.json without what differs by run folder and clock: its path (`run`) and `*time_s` fields."""
    ev = json.loads(_untimed(p.read_text()))
    ev.pop("run", None)
    return ev


def _parses(p: Path, out: Path) -> bool:
    if any(part.startswith(".") for part in p.relative_to(out).parts):
        return True  # a temporary twin a kill left (or the XLA cache): never read, replaced next time
    try:
        json.loads(p.read_text())
        return True
    except (ValueError, OSError):
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--study", default="mirror", help="a study of `caredrive experiment list` (2+ settings)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=None, help="work folder (default: a new temporary one)")
    args = ap.parse_args()
    from caredrive.experiments.studies import get_study

    settings = [s.name for s in get_study(args.study).settings]
    root = Path(args.root or tempfile.mkdtemp(prefix="caredrive-soak-experiment-"))
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    t_start = time.perf_counter()

    ref = root / "reference"
    started = time.time()
    rc, ref_wall, err = _run(_cmd(args.study, ref))
    if rc != 0:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit("the uninterrupted run failed")
    text = (ref / "results.json").read_text()
    if _untimed(text) != json.dumps(json.loads(text), indent=2):
        raise SystemExit("results.json holds *time_s fields: compare it without them")
    wins = _windows(ref, settings, started, ref_wall)
    print(f"uninterrupted run: {ref_wall:.1f} s; kill windows: "
          + ", ".join(f"{n} ({b:.0f} s)" for n, _, b in wins), flush=True)

    results, i = [], 0
    while sum(r["killed"] for r in results) < args.kills and i < 3 * args.kills:
        out = root / f"kill_{i:02d}"
        window, anchor, length = wins[i % len(wins)]
        killed, at = _kill_in(_cmd(args.study, out), out, anchor, rng.uniform(0.5 if anchor is None else 0, length))
        state = _where(out, settings)
        rc, wall, err = _run(_cmd(args.study, out))
        bad = _compare(out, ref, settings) if rc == 0 else [(err.strip().splitlines() or ["no message"])[-1]]
        results.append({"attempt": i, "window": window, "kill_s": round(at, 1), "killed": killed, "state": state,
                        "rerun_rc": rc, "rerun_s": round(wall, 1), "mismatches": bad})
        print(f"attempt {i:2d} in {window} at {at:6.1f} s ({'killed' if killed else 'had finished'}; {state}) "
              f"-> re-run in {wall:.1f} s: {'same' if not bad else 'MISMATCH: ' + '; '.join(bad)}", flush=True)
        i += 1

    n_killed = sum(r["killed"] for r in results)
    n_bad = sum(bool(r["mismatches"]) for r in results)
    print(json.dumps({"study": args.study, "kills": n_killed, "attempts": len(results), "mismatches": n_bad,
                      "killed_in": sorted({r["window"] for r in results if r["killed"]}),
                      "reference_wall_s": round(ref_wall, 1), "wall_s": round(time.perf_counter() - t_start, 1),
                      "seed": args.seed, "root": str(root)}))
    return 0 if n_bad == 0 and n_killed >= args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
