"""Checkpoints as named trees of arrays (orbax), each checked against a digest when read.

A checkpoint is a folder `step_XXXXXXXX/` holding `state/` (orbax) and `meta.json`. The arrays are
stored under the names of their place in the runner state (`train_state/0/params/params/gru/wh`),
so a finished run's weights can be read (`read`) without rebuilding the trainer; PRNG keys are
stored as raw key data. `meta.json` is the manifest: each array's dtype, shape and sha256, and the
sha256 of every file orbax wrote. Reading checks the files first (a flipped byte or a cut-off file is
refused before orbax touches it), then every array, so a damaged checkpoint is one ConfigError
naming what broke, never silently wrong weights.

Writes are atomic: a checkpoint is built in a hidden folder and renamed into place, old ones are
renamed away before they are deleted, so a kill at any moment leaves only whole checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import jax
import numpy as np

from caredrive.errors import ConfigError

FORMAT = 2  # 1 (no "format" in meta.json): unnamed leaves "00017", no digests; still readable
_HIDDEN = (".tmp-", ".old-", ".del-")  # prefixes of folders a killed write may leave behind
_RESUME_HINT = "delete that folder to resume from the checkpoint before it"


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _part(k) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def named_leaves(tree) -> list[tuple[str, object]]:
    """`[(name, leaf)]` in flatten order, a name being the leaf's path joined by '/'."""
    return [("/".join(_part(k) for k in path), x) for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]]


def flatten(tree) -> dict[str, np.ndarray]:
    """The tree's arrays by name, as numpy (PRNG keys as their raw key data)."""
    return {n: np.asarray(jax.random.key_data(x) if _is_key(x) else x) for n, x in named_leaves(tree)}


def nest(flat: dict[str, np.ndarray]) -> dict:
    """`{'a/b': x}` -> `{'a': {'b': x}}`: the nested dict orbax stores (and `read` gives back)."""
    out: dict = {}
    for name, x in flat.items():
        *head, last = name.split("/")
        d = out
        for h in head:
            d = d.setdefault(h, {})
        d[last] = x
    return out


def _flat(nested, prefix: str = "") -> dict[str, np.ndarray]:
    if not isinstance(nested, dict):
        return {prefix: np.asarray(nested)}
    out = {}
    for k, v in nested.items():
        out.update(_flat(v, f"{prefix}/{k}" if prefix else str(k)))
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_sha(x: np.ndarray) -> str:
    return _sha(np.ascontiguousarray(x).tobytes())


def _file_sha(f: Path) -> str:
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(path: Path, arrays: dict[str, np.ndarray], meta: dict, keys: tuple[str, ...] = ()) -> Path:
    """Write one named tree and its manifest to `path` atomically (a folder appears whole or not at all)."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp / "state", nest(arrays))
        ckpt.wait_until_finished()
    files = {str(f.relative_to(tmp)): _file_sha(f) for f in sorted((tmp / "state").rglob("*")) if f.is_file()}
    manifest = {name: {"dtype": str(x.dtype), "shape": list(x.shape), "sha256": _array_sha(x)} for name, x in arrays.items()}
    (tmp / "meta.json").write_text(json.dumps({**meta, "format": FORMAT, "keys": list(keys), "arrays": manifest,
                                               "files": files}))
    old = path.parent / f".old-{path.name}"
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def save(directory: Path, step: int, tree, meta: dict, keep: int = 2) -> Path:
    """Write `tree` (and a JSON `meta`) as checkpoint `step`; keep only the newest `keep` (the one just
    written, the end of a run's training included, is always among them)."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():  # what a kill during an earlier write or deletion left
        if stale.name.startswith(_HIDDEN):
            shutil.rmtree(stale, ignore_errors=True)
    keys = tuple(n for n, x in named_leaves(tree) if _is_key(x))
    path = write(directory / f"step_{step:08d}", flatten(tree), {**meta, "step": step}, keys)
    for old in listing(directory)[: -max(1, keep)]:
        gone = directory / f".del-{old.name}"
        os.rename(old, gone)  # out of sight first: a kill mid-delete never leaves half a checkpoint
        shutil.rmtree(gone, ignore_errors=True)
    return path


def listing(directory: Path) -> list[Path]:
    """The finished checkpoints (or snapshots) in `directory`, oldest first."""
    if not Path(directory).is_dir():
        return []
    return [p for p in sorted(Path(directory).glob("step_*")) if (p / "meta.json").exists()]


def latest(directory: Path) -> Path | None:
    done = listing(directory)
    return done[-1] if done else None


def restore_meta(path: Path) -> dict:
    """`meta.json` of a checkpoint, checked to be a JSON object (its fields are checked by the caller)."""
    f = Path(path) / "meta.json"
    try:
        meta = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"checkpoint {path} is damaged: {f.name} cannot be read ({e}); {_RESUME_HINT}.") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"checkpoint {path} is damaged: {f.name} is not a JSON object; {_RESUME_HINT}.")
    return meta


def _check_files(path: Path, meta: dict) -> None:
    files = meta.get("files")
    if not isinstance(files, dict) or not files or not isinstance(meta.get("arrays"), dict):
        raise ConfigError(f"checkpoint {path} is damaged: its meta.json has no manifest of files and arrays; "
                          f"{_RESUME_HINT}.")
    for rel, want in files.items():
        f = path / str(rel)
        if Path(str(rel)).is_absolute() or ".." in Path(str(rel)).parts or not f.is_file():  # only files inside
            raise ConfigError(f"checkpoint {path} is damaged: {rel} is missing; {_RESUME_HINT}.")
        if _file_sha(f) != want:
            raise ConfigError(f"checkpoint {path} is damaged: {rel} does not match its sha256 digest (changed or cut "
                              f"short); {_RESUME_HINT}.")


def _orbax_read(path: Path) -> dict:
    import orbax.checkpoint as ocp

    try:
        with ocp.StandardCheckpointer() as ckpt:
            return ckpt.restore(path / "state")
    except Exception as e:  # orbax raises many types for damaged or foreign files
        _quiet_closed_loops()
        raise ConfigError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e)[:200]}); "
                          f"{_RESUME_HINT}.") from None


def read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """`({name: array}, meta)` of a checkpoint or snapshot, every file and array checked against its digest.
    Needs nothing but the folder: no config, no trainer."""
    path = Path(path).absolute()
    meta = restore_meta(path)
    if meta.get("format") != FORMAT:
        raise ConfigError(f"checkpoint {path} has format {meta.get('format', 1)!r}, not {FORMAT}: it was written "
                          "by an older caredrive and holds unnamed arrays (load it with its run's config).")
    _check_files(path, meta)
    arrays = _flat(_orbax_read(path))
    manifest = meta["arrays"]
    if set(arrays) != set(manifest):
        raise ConfigError(f"checkpoint {path} is damaged: its arrays ({len(arrays)}) differ from its manifest "
                          f"({len(manifest)}); {_RESUME_HINT}.")
    for name, x in arrays.items():
        m = manifest[name]
        if not isinstance(m, dict) or str(x.dtype) != m.get("dtype") or list(x.shape) != m.get("shape") \
                or _array_sha(x) != m.get("sha256"):
            raise ConfigError(f"checkpoint {path} is damaged: array {name} does not match its manifest (dtype, shape "
                              f"or sha256); {_RESUME_HINT}.")
    return arrays, meta


def restore(path: Path, template) -> tuple[object, dict]:
    """Load a checkpoint into the structure of `template` (same config). Raises ConfigError if it does not fit."""
    path = Path(path).absolute()
    meta = restore_meta(path)
    if "format" not in meta:
        arrays = _legacy(path, template, meta)
    else:
        arrays, meta = read(path)
    leaves = named_leaves(template)
    newer = {n: _setting_default(n, ref) for n, ref in leaves if n not in arrays and _is_setting(n)}
    missing = [n for n, _ in leaves if n not in arrays and n not in newer]
    if missing or len(arrays) + len(newer) != len(leaves):
        raise ConfigError(f"checkpoint {path} does not belong to this run's config: it has {len(arrays)} arrays, the "
                          f"run needs {len(leaves)}" + (f" (no {missing[0]})." if missing else "."))
    out = []
    for name, ref in leaves:
        arr = newer[name] if name in newer else arrays[name]
        want = jax.random.key_data(ref) if _is_key(ref) else ref
        if arr.shape != want.shape or arr.dtype != want.dtype:
            raise ConfigError(
                f"checkpoint {path} does not belong to this run's config: {name} is {arr.dtype}{list(arr.shape)}, "
                f"the run needs {want.dtype}{list(want.shape)}."
            )
        out.append(jax.random.wrap_key_data(arr, impl=jax.random.key_impl(ref)) if _is_key(ref) else jax.numpy.asarray(arr))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), out), meta


def _is_setting(name: str) -> bool:
    """A world setting (an EnvParams field) kept in a runner state: `env_params/F` or `.../params/F`."""
    from caredrive.env.params import EnvParams

    *head, field = name.split("/")
    return bool(head) and head[-1] in ("params", "env_params") and field in EnvParams.__dataclass_fields__


def _setting_default(name: str, ref) -> np.ndarray:
    """A world setting added after the checkpoint was written, at its default: every new EnvParams field
    defaults to the worlds as they were (know_own_cry, birth_cry, hear_other_cries), so that is what the
    run had, and runs trained before the field still load."""
    from caredrive.env.params import EnvParams

    return np.full(ref.shape, getattr(EnvParams(), name.rsplit("/", 1)[1]), ref.dtype)


def _legacy(path: Path, template, meta: dict) -> dict[str, np.ndarray]:
    """A format-1 checkpoint (leaves numbered in flatten order, no digests): renamed to the template's names."""
    loaded = _orbax_read(path)
    names = [n for n, _ in named_leaves(template)]
    if len(loaded) != len(names) or meta.get("n_leaves") != len(names):
        raise ConfigError(f"checkpoint {path} does not belong to this run's config: it has {len(loaded)} arrays, "
                          f"the run needs {len(names)}.")
    return {n: np.asarray(loaded[f"{i:05d}"]) for i, n in enumerate(names)}


def _quiet_closed_loops() -> None:
    """After a failed orbax read, tensorstore's reads still in flight complete into the event loop orbax
    already closed, and tensorstore prints each `RuntimeError: Event loop is closed` through
    `sys.excepthook` (PyErr_Print), after our clean error. Drop exactly those; pass on everything else."""
    if getattr(sys.excepthook, "_caredrive_quiet", False):
        return
    previous = sys.excepthook

    def hook(kind, value, tb):
        if kind is RuntimeError and str(value) == "Event loop is closed":
            return
        previous(kind, value, tb)

    hook._caredrive_quiet = True
    sys.excepthook = hook
