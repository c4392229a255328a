"""Soak: kill -9 `caredrive train --preset tiny` at random moments, resume each, compare with an uninterrupted run.

    python benchmarks/soak_resume.py [--kills 12] [--seed 0] [--eval-episodes 8] [--root DIR]

One uninterrupted run first: its times set the windows the kill moments are drawn from, uniformly,
alternately over the whole run (start-up and compile, training, checkpoint and snapshot writes, the
in-train evaluation) and over its training alone (up to the final checkpoint), so that kills land in
training as often as in the evaluation. Then, per kill: start the same command, SIGKILL it after the
drawn delay, note what the folder held, and resume it with `caredrive train --resume` (or, when the kill
came before config.json existed, run the original command again: the run had not started). A run that
finished before its kill is compared too, but does not count as a kill: attempts go on until `--kills`
runs were killed (at most 3x as many attempts). Every resumed run must then equal the uninterrupted one: metrics.jsonl
byte for byte, summary.json byte for byte once its timing fields (`*time_s`: wall clock) are removed,
every checkpoint and snapshot reading back against its digests. Ends with one JSON line; exit 1 on any
mismatch. CPU heavy (a tiny training per kill): minutes.
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

CMD = [sys.executable, "-m", "caredrive.cli", "train", "--preset", "tiny", "--no-progress"]


def _run(args: list[str], timeout: float = 1800) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, time.perf_counter() - t0, p.stderr


def _untimed(summary_text: str) -> str:
    """summary.json without its wall-clock fields, re-serialised the way RunDir writes it."""

    def drop(x):
        if isinstance(x, dict):
            return {k: drop(v) for k, v in x.items() if not k.endswith("time_s")}
        return [drop(v) for v in x] if isinstance(x, list) else x

    return json.dumps(drop(json.loads(summary_text)), indent=2)


def _state(run: Path) -> str:
    """What the folder held when the kill came: the moment of the run it interrupted."""
    if not (run / "config.json").exists():
        return "before config.json"
    cks = sorted(p.name for p in (run / "checkpoints").glob("step_*")) if (run / "checkpoints").exists() else []
    hidden = [p.name for d in ("checkpoints", "snapshots") if (run / d).exists() for p in (run / d).iterdir()
              if p.name.startswith(".")]
    text = (run / "metrics.jsonl").read_text() if (run / "metrics.jsonl").exists() else ""
    partial = bool(text) and not text.endswith("\n")
    rows = sum(1 for ln in text.split("\n") if ln)
    parts = [f"{rows} rows", f"last checkpoint {cks[-1] if cks else 'none'}"]
    if hidden:
        parts.append(f"write in progress ({', '.join(hidden)})")
    if partial:
        parts.append("last row cut off")
    if (run / "summary.json").exists():
        parts.append("summary written")
    return ", ".join(parts)


def _readable(run: Path) -> str | None:
    """None if config, every checkpoint and every snapshot read back (digests checked); else why not."""
    from caredrive.errors import ConfigError
    from caredrive.train import checkpoint
    from caredrive.train.rundir import RunDir
    from caredrive.train.snapshots import list_snapshots

    try:
        RunDir(run).train_config()
        for ck in checkpoint.listing(run / "checkpoints"):
            checkpoint.read(ck)
        for _, snap in list_snapshots(run):
            checkpoint.read(snap)
    except ConfigError as e:
        return str(e)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-episodes", type=int, default=8, help="the in-train evaluation, a moment to kill too")
    ap.add_argument("--root", default=None, help="work folder (default: a new temporary one)")
    args = ap.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="caredrive-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    ev = ["--eval-episodes", str(args.eval_episodes)]
    rng = random.Random(args.seed)

    ref = root / "reference"
    started = time.time()
    rc, ref_wall, err = _run([*CMD, *ev, "--out", str(ref)])
    if rc != 0:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit("the uninterrupted run failed")
    ref_metrics, ref_summary = (ref / "metrics.jsonl").read_bytes(), _untimed((ref / "summary.json").read_text())
    rows = ref_metrics.count(b"\n")
    final_ck = max((ref / "checkpoints").glob("step_*")) / "meta.json"
    ref_train = final_ck.stat().st_mtime - started
    print(f"uninterrupted run: {ref_wall:.1f} s (training done after ~{ref_train:.0f} s), {rows} metrics rows; "
          f"kills drawn in [0.5, {ref_wall:.1f}] s and [0.5, {ref_train:.0f}] s in turn", flush=True)

    results = []
    i = 0
    while sum(r["killed"] for r in results) < args.kills and i < 3 * args.kills:
        run = root / f"kill_{i:02d}"
        delay = rng.uniform(0.5, ref_wall if i % 2 == 0 else ref_train)
        i += 1
        p = subprocess.Popen([*CMD, *ev, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=delay)
            killed = False  # it finished first
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            killed = True
        state = _state(run)
        if (run / "config.json").exists():
            rc, wall, err = _run([*CMD[:-3], "--resume", str(run), "--no-progress", *ev])
        else:  # killed before the run existed: starting it again is the way on
            rc, wall, err = _run([*CMD, *ev, "--out", str(run)])
        same_metrics = rc == 0 and (run / "metrics.jsonl").read_bytes() == ref_metrics
        same_summary = rc == 0 and _untimed((run / "summary.json").read_text()) == ref_summary
        unreadable = _readable(run) if rc == 0 else (err.strip().splitlines() or ["no message"])[-1]
        ok = same_metrics and same_summary and unreadable is None
        results.append({"attempt": i - 1, "delay_s": round(delay, 2), "killed": killed, "state": state, "resume_rc": rc,
                        "resume_s": round(wall, 1), "metrics_identical": same_metrics,
                        "summary_identical": same_summary, "unreadable": unreadable, "ok": ok})
        print(f"attempt {i - 1:2d} at {delay:6.1f} s ({'killed' if killed else 'had finished'}; {state}) -> resumed in "
              f"{wall:.1f} s: metrics {'=' if same_metrics else '!='}, summary {'=' if same_summary else '!='}"
              f"{'' if unreadable is None else ', UNREADABLE: ' + unreadable}", flush=True)

    n_ok, n_killed = sum(r["ok"] for r in results), sum(r["killed"] for r in results)
    killed_ok = sum(r["ok"] for r in results if r["killed"])
    print(f"{killed_ok}/{n_killed} runs killed with SIGKILL and resumed equal the uninterrupted one byte for byte "
          f"(metrics.jsonl; summary.json without its *time_s fields); {n_ok}/{len(results)} attempts in all "
          f"({len(results) - n_killed} had finished before their kill)")
    print(json.dumps({"attempts": len(results), "killed": n_killed, "killed_identical": killed_ok, "identical": n_ok,
                      "metrics_identical": sum(r["metrics_identical"] for r in results),
                      "summary_identical_without_timing": sum(r["summary_identical"] for r in results),
                      "unreadable": sum(r["unreadable"] is not None for r in results),
                      "before_config": sum(r["state"] == "before config.json" for r in results),
                      "reference_wall_s": round(ref_wall, 1), "seed": args.seed, "root": str(root)}))
    return 0 if n_ok == len(results) and n_killed >= args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
