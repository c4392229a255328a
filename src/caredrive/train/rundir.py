"""A run directory holds everything about a run: config.json, metrics.jsonl, tb/ (TensorBoard),
checkpoints/, snapshots/, summary.json (and later eval.json, videos/, report.html).

Two promises. Nothing we did not write is ever truncated or overwritten: a folder that holds any of a
run's file names but no config.json is refused. And a kill at any moment leaves a folder that resumes:
whole files are replaced atomically (written aside, then renamed), metrics rows are appended one chunk
per write, and a row cut short by a kill is dropped on resume.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

from caredrive.errors import ConfigError

# what a run writes at its top level: an existing one of these without config.json is someone else's
RUN_NAMES = ("config.json", "metrics.jsonl", "summary.json", "checkpoints", "snapshots", "tb", "eval.json",
             "verdict.json", "report.html", "videos", "baselines")


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` all at once: a kill leaves the old file or the new one, never half."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunDir:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.snapshots = self.path / "snapshots"
        self.metrics_path = self.path / "metrics.jsonl"
        self.tb_purge_step: int | None = None  # set on resume: TensorBoard hides older events from here on
        self._tb = None

    def create(self, config: dict, overwrite: bool = False) -> None:
        """Start a run here. `overwrite` replaces a run of ours (its checkpoints, snapshots and curves go)."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file, not a folder: choose another --out.")
        if (self.path / "config.json").exists() and not overwrite:
            raise ConfigError(
                f"run directory {self.path} already holds a run: continue it with --resume {self.path}, "
                f"or choose another --out."
            )
        theirs = [n for n in RUN_NAMES if (self.path / n).exists()]
        if theirs and not overwrite and not (self.path / "config.json").exists():
            raise ConfigError(f"{self.path} holds {theirs[0]} but no config.json: it is not a run of ours, and "
                              f"nothing in it is overwritten. Choose another --out.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if overwrite:
                for sub in (self.checkpoints, self.snapshots, self.path / "tb"):
                    shutil.rmtree(sub, ignore_errors=True)
            write_atomic(self.path / "config.json", json.dumps(config, indent=2))
            self.metrics_path.write_text("")
        except OSError as e:
            raise ConfigError(f"cannot create the run directory {self.path}: {e.strerror or e}.") from None

    def load_config(self) -> dict:
        """config.json as written, once it is known to describe a valid run (types and ranges)."""
        return self._read_config()[0]

    def train_config(self):
        """The run's `TrainConfig`, or one ConfigError line saying what in config.json is wrong."""
        return self._read_config()[1]

    def _read_config(self):
        from caredrive.train.config import TrainConfig

        f = self.path / "config.json"
        if not f.is_file():
            raise ConfigError(f"{self.path} is not a run directory: it has no config.json.")
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{f} is damaged: {e}.") from None
        try:
            return data, TrainConfig.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{f}: {e}") from None

    def metrics_before(self, update: int) -> tuple[str, int]:
        """On resume: (the text of metrics.jsonl without the rows of updates >= `update`, rows kept).
        The last line may be cut short (a kill mid-write): it is dropped. Any other unreadable line is
        damage, refused before anything is written."""
        if not self.metrics_path.exists():
            return "", 0
        lines = self.metrics_path.read_text().split("\n")
        keep = []
        for i, ln in enumerate(lines):
            if not ln:
                continue
            last = i == len(lines) - 1  # no newline after it: written in part
            try:
                row = json.loads(ln)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("update"), int):
                if last:
                    break
                raise ConfigError(f"{self.metrics_path} is damaged at line {i + 1} (not a metrics row): "
                                  "repair or remove that line to resume.")
            if not last and row["update"] < update:
                keep.append(ln)
        return "".join(ln + "\n" for ln in keep), len(keep)

    def replace_metrics(self, text: str) -> None:
        write_atomic(self.metrics_path, text)

    def log(self, rows: list[dict]) -> None:
        with self.metrics_path.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))  # one write: a kill cuts at most the last row
        tb = self._writer()
        if tb is not None:
            tb.write([(f"seed_{r['seed']}/{k}", v, r["timesteps"]) for r in rows for k, v in r.items()
                      if k not in ("update", "seed", "phase", "timesteps") and isinstance(v, float) and math.isfinite(v)])

    def _writer(self):
        if self._tb is None:
            try:
                self._tb = _Events(self.path / "tb", self.tb_purge_step)
            except ImportError:  # TensorBoard files are a convenience, not a requirement
                return None
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def write_json(self, name: str, obj) -> None:
        write_atomic(self.path / name, json.dumps(obj, indent=2, default=_jsonable))

    def read_metrics(self) -> list[dict]:
        text, _ = self.metrics_before(2**62)
        return [json.loads(ln) for ln in text.splitlines()]


class _Events:
    """TensorBoard scalars, on disk when `write` returns. (tensorboardX's SummaryWriter queues events to a
    thread that flushes every two minutes, so a kill lost the rows before the checkpoint, which a resume
    does not redo.) After a resume, `purge_step` makes TensorBoard hide the killed run's events from the
    redone update on, so each update shows once, the redone one from this new file."""

    def __init__(self, folder: Path, purge_step: int | None):
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.summary import scalar

        self._event, self._scalar = Event, scalar
        folder.mkdir(parents=True, exist_ok=True)
        # named after the second by the nanosecond: a later writer's file sorts later and never reuses a name
        self._w = EventsWriter(str(folder / "events"), f".{time.time_ns():020d}.{os.getpid()}")
        if purge_step is not None:
            self._w.write_event(Event(step=purge_step, wall_time=time.time(),
                                      session_log=SessionLog(status=SessionLog.START)))
            self._w.flush()

    def write(self, scalars: list[tuple[str, float, int]]) -> None:
        now = time.time()
        for tag, value, step in scalars:
            self._w.write_event(self._event(wall_time=now, step=step, summary=self._scalar(tag, value)))
        self._w.flush()

    def close(self) -> None:
        self._w.close()


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))
