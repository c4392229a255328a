"""Checkpoints of the whole training state (all seeds), with orbax.

The runner state is flattened to its leaves (PRNG keys stored as raw key data) and restored into a
template built by the same config, so a resumed run continues bit for bit. A checkpoint whose leaves
do not match the template (another config, another version, a damaged file) is refused with a clear
ConfigError instead of a deep shape error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np

from caredrive.errors import ConfigError


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_numpy(tree) -> list[np.ndarray]:
    return [np.asarray(jax.random.key_data(x) if _is_key(x) else x) for x in jax.tree_util.tree_leaves(tree)]


def save(directory: Path, step: int, tree, meta: dict) -> Path:
    """Write `tree` (and a JSON `meta`) as checkpoint `step`; keep only the newest two."""
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:08d}"
    if path.exists():
        shutil.rmtree(path)
    leaves = {f"{i:05d}": x for i, x in enumerate(_to_numpy(tree))}
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path / "state", leaves)
        ckpt.wait_until_finished()
    (path / "meta.json").write_text(json.dumps({**meta, "step": step, "n_leaves": len(leaves)}))
    for old in sorted(directory.glob("step_*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def latest(directory: Path) -> Path | None:
    done = [p for p in sorted(Path(directory).glob("step_*")) if (p / "meta.json").exists()]
    return done[-1] if done else None


def restore_meta(path: Path) -> dict:
    try:
        return json.loads((Path(path) / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"checkpoint {path} is damaged: {e}.") from None


def restore(path: Path, template) -> tuple[object, dict]:
    """Load a checkpoint into the structure of `template` (same config). Raises ConfigError if it does not fit."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    try:
        meta = json.loads((path / "meta.json").read_text())
        with ocp.StandardCheckpointer() as ckpt:
            loaded = ckpt.restore(path / "state")
    except Exception as e:  # orbax raises many types for damaged or foreign files
        raise ConfigError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e)[:200]}).") from None
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(loaded) != len(leaves) or meta.get("n_leaves") != len(leaves):
        raise ConfigError(
            f"checkpoint {path} does not belong to this run's config: it has {len(loaded)} arrays, the run needs {len(leaves)}."
        )
    out = []
    for i, ref in enumerate(leaves):
        arr = np.asarray(loaded[f"{i:05d}"])
        want = jax.random.key_data(ref) if _is_key(ref) else ref
        if arr.shape != want.shape or arr.dtype != want.dtype:
            raise ConfigError(
                f"checkpoint {path} does not belong to this run's config: array {i} is {arr.dtype}{list(arr.shape)}, "
                f"the run needs {want.dtype}{list(want.shape)}."
            )
        out.append(jax.random.wrap_key_data(arr, impl=jax.random.key_impl(ref)) if _is_key(ref) else jax.numpy.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, out), meta
