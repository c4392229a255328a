"""What every `caredrive interp` section works from: the episodes per section and one `Ctx` (the run's
policy stacked over the chosen seeds, ONE battery whose env object every recording and sweep shares, the
scoring bench), so each compiled function is built once per call and reused by every seed and section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from caredrive.eval.battery import Battery
from caredrive.eval.score import Bench
from caredrive.interp import edits
from caredrive.train.policy import NetworkPolicy


@dataclass(frozen=True)
class Episodes:
    """Episodes per section. `score`: the bench's episodes (lesions, steering and override scores share
    them, so every comparison is paired); `vectors`: per world, for the steering vectors."""

    probes: int = 128
    score: int = 64
    vectors: int = 32
    patching: int = 16
    cka: int = 32
    training: int = 32

    @staticmethod
    def all(n: int) -> Episodes:
        return Episodes(n, n, n, n, n, n)


@dataclass(frozen=True)
class Ctx:
    run: Path
    trained: object  # train.run.Trained
    members: tuple[int, ...]  # seed indices along the run's seed axis
    policy: NetworkPolicy  # stacked over `members`
    battery: Battery  # the bench's battery (or a one-world battery when nothing is scored)
    bench: Bench | None
    world: str  # the battery world recordings are made in
    tap: str
    alpha: float
    seed: int
    episodes: Episodes
    overrides: tuple[str, ...]
    vector: np.ndarray | None  # a user's steering vector (instead of own_vs_other)
    units: list | None  # lesion units / groups (None: every unit alone)
    gif_dir: Path | None  # where the steering GIF goes (None: no GIF)
    tick: Callable[[str], None]

    @property
    def env(self):
        return self.battery.env

    @property
    def steps(self) -> int:
        return int(self.trained.env_params.max_steps)

    def params(self, name: str):
        return self.battery.world_params([w.name for w in self.battery.worlds].index(name))

    def one(self, m: int) -> NetworkPolicy:
        return edits.member(self.trained.policy, m)

    def keys(self, n: int, salt: int) -> jax.Array:
        return jax.random.split(jax.random.key(self.seed * 1_000_003 + salt), n)


def rounded(x, digits: int = 4):
    return None if x is None else round(float(x), digits)
