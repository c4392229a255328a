"""A run directory holds everything about a run: config.json, metrics.jsonl, tb/ (TensorBoard),
checkpoints/, summary.json (and later videos/, report.html)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from caredrive.errors import ConfigError


class RunDir:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.metrics_path = self.path / "metrics.jsonl"
        self._tb = None

    def create(self, config: dict, overwrite: bool = False) -> None:
        if (self.path / "config.json").exists() and not overwrite:
            raise ConfigError(
                f"run directory {self.path} already holds a run: continue it with --resume {self.path}, "
                f"or choose another --out."
            )
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "config.json").write_text(json.dumps(config, indent=2))
        self.metrics_path.write_text("")

    def load_config(self) -> dict:
        f = self.path / "config.json"
        if not f.exists():
            raise ConfigError(f"{self.path} is not a run directory: it has no config.json.")
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{f} is damaged: {e}.") from None

    def truncate_metrics(self, up_to_update: int) -> None:
        """On resume: drop rows logged after the checkpoint, so no update appears twice."""
        if not self.metrics_path.exists():
            return
        keep = [ln for ln in self.metrics_path.read_text().splitlines() if ln and json.loads(ln)["update"] < up_to_update]
        self.metrics_path.write_text("".join(ln + "\n" for ln in keep))

    def log(self, rows: list[dict]) -> None:
        with self.metrics_path.open("a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        tb = self._writer()
        if tb is not None:
            for r in rows:
                for k, v in r.items():
                    if k not in ("update", "seed", "phase", "timesteps") and isinstance(v, float) and math.isfinite(v):
                        tb.add_scalar(f"seed_{r['seed']}/{k}", v, r["timesteps"])

    def _writer(self):
        if self._tb is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # TensorBoard files are a convenience, not a requirement
                return None
            self._tb = SummaryWriter(str(self.path / "tb"))
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()

    def write_json(self, name: str, obj) -> None:
        (self.path / name).write_text(json.dumps(obj, indent=2, default=_jsonable))

    def read_metrics(self) -> list[dict]:
        return [json.loads(ln) for ln in self.metrics_path.read_text().splitlines() if ln]


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))
