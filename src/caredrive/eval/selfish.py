"""The selfish baseline: the care score's zero, trained on demand, kept per run and in a shared cache.

It is the run's config with the `self` reward in every phase (same trainer, world, training distribution
and budget as the mothers, so the score compares like with like), and it costs as much as one trained
seed: ~2.4 of the default `caredrive run`'s ~12.4 minutes on 2 cores (10.0 with it cached). A run keeps it in
RUN/baselines/selfish. A machine-wide cache, keyed by everything that defines the result (the config, the
source of the world, agents and trainer, jax's version, the backend and device count), lets another run
with the same settings (a rerun, a study's setting that is the default world) copy it instead of
training it again. `CAREDRIVE_CACHE` moves the cache (default `~/.cache/caredrive`); `off` turns it off.
A cache entry is read back through the same digest-checked restore as any checkpoint; a damaged one is
dropped and the baseline retrained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import jax

from caredrive.errors import ConfigError
from caredrive.provenance import CODE_DIGEST
from caredrive.train import checkpoint
from caredrive.train.load import load_config, load_trained
from caredrive.train.run import Trained, train
from caredrive.train.rundir import RunDir, write_atomic

CACHE_ENV = "CAREDRIVE_CACHE"
# what load_trained reads (the newest checkpoint is copied too); the rest (snapshots, tb) stays in the run
_KEPT = ("config.json", "metrics.jsonl", "done.json")


def cache_root() -> Path | None:
    """Where cached baselines live, or None when `CAREDRIVE_CACHE=off`."""
    v = os.environ.get(CACHE_ENV, "")
    if v.lower() in ("off", "0", "none"):
        return None
    if v:
        return Path(v)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "caredrive"


def code_digest() -> str:
    """The digest of the training code this process runs (read when it was imported): a code change misses
    the cache, and an edit on disk after caredrive's import does not relabel what this process trains."""
    return CODE_DIGEST


def cache_key(config: dict) -> str:
    import jaxlib

    ident = {"config": config, "code": code_digest(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
             "backend": jax.default_backend(), "devices": jax.device_count()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def selfish_config(run_path: Path | str, seeds: int = 1):
    """The run's config with the `self` reward in every phase and `seeds` seeds (only the seeds the
    evaluation pools are trained: each costs as much as a trained mother)."""
    cfg = load_config(run_path)
    return dataclasses.replace(cfg, seeds=max(1, seeds),
                               phases=tuple(dataclasses.replace(p, reward_mode="self") for p in cfg.phases))


def selfish_baseline(run_path: Path | str, progress: bool = True, seeds: int = 1) -> Trained:
    """RUN/baselines/selfish: reused when its config matches and it finished, else copied from the cache,
    else resumed if interrupted, else trained (and then stored in the cache)."""
    scfg = selfish_config(run_path, seeds)
    config = json.loads(json.dumps(scfg.to_dict()))
    rd = RunDir(Path(run_path) / "baselines" / "selfish")
    done = rd.path / "done.json"
    same = (rd.path / "config.json").exists() and json.loads((rd.path / "config.json").read_text()) == config
    if same and done.exists():
        return load_trained(rd.path)
    key = cache_key(config)
    hit = _from_cache(key, rd.path, progress)
    if hit is not None:
        return hit
    resume = same and checkpoint.latest(rd.checkpoints) is not None
    if not resume:
        rd.create(scfg.to_dict(), overwrite=True)
    if progress:
        print(f"training the selfish baseline in {rd.path} ...", flush=True)
    trained = train(scfg, rd, resume=resume, progress=progress)
    write_atomic(done, json.dumps({"timesteps": trained.timesteps, "wall_time": trained.wall_time}))
    _to_cache(key, rd.path)
    return load_trained(rd.path)


def _entry(key: str) -> Path | None:
    root = cache_root()
    return None if root is None else root / "selfish" / key


def _from_cache(key: str, dest: Path, progress: bool) -> Trained | None:
    """Copy a cached baseline into `dest` and load it; None when there is none (or it is damaged)."""
    entry = _entry(key)
    if entry is None or not (entry / "done.json").is_file():
        return None
    tmp = dest.with_name(f".tmp-{dest.name}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(entry, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        trained = load_trained(dest)
    except (OSError, ConfigError) as e:
        print(f"the cached selfish baseline {entry} cannot be used ({e}); training it again.", flush=True)
        shutil.rmtree(entry, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        (dest / "done.json").unlink(missing_ok=True)
        return None
    if progress:
        print(f"selfish baseline: the same one was trained before, copied from {entry}", flush=True)
    return trained


def _to_cache(key: str, src: Path) -> None:
    """Store a finished baseline (its config, curves and newest checkpoint). A cache that cannot be
    written (read-only home, full disk) costs only the reuse: the run goes on."""
    entry = _entry(key)
    last = checkpoint.latest(src / "checkpoints")
    if entry is None or entry.exists() or last is None:
        return
    tmp = entry.with_name(f".tmp-{key}-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in _KEPT:
            if (src / name).exists():
                shutil.copy2(src / name, tmp / name)
        shutil.copytree(last, tmp / "checkpoints" / last.name)
        os.replace(tmp, entry)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"note: the selfish baseline was not cached ({e.strerror or e}); the run goes on.", flush=True)
