"""Checkpoints as named trees with digests (caredrive.train.checkpoint), on small hand-made trees: no training.

What a user relies on: the arrays can be read by name without the trainer; a flipped byte, a cut-off or
missing file, or a manifest that lies is one ConfigError, never silently wrong weights; a kill mid-write
never leaves half a checkpoint where a resume would find it; retention keeps the newest `keep`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.errors import ConfigError
from caredrive.train import checkpoint


class Opt(NamedTuple):
    count: jax.Array
    mu: dict


class Runner(NamedTuple):
    train_state: tuple
    key: jax.Array


def _tree(x: float = 0.0) -> Runner:
    params = {"params": {"gru": {"wh": jnp.arange(48.0).reshape(2, 4, 6) + x, "bh": jnp.ones((2, 6)) * x},
                         "pi0": {"kernel": jnp.full((2, 3, 5), 0.5 + x)}}}
    opt = Opt(jnp.array([3, 3], jnp.int32), jax.tree.map(jnp.zeros_like, params))
    return Runner((({"params": params, "opt": opt}),), jax.random.split(jax.random.key(7), 2))


def _same(a, b) -> bool:
    data = lambda t: [np.asarray(jax.random.key_data(x) if checkpoint._is_key(x) else x) for x in jax.tree.leaves(t)]
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(data(a), data(b), strict=True))


@pytest.fixture
def saved(tmp_path):
    return checkpoint.save(tmp_path / "checkpoints", 5, _tree(), {"phase": 0, "chunk": 4, "updates": 5, "wall_time": 1.0})


def _largest(path: Path) -> Path:
    return max((f for f in (path / "state").rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)


def test_arrays_are_stored_by_name_and_read_without_the_trainer(saved):
    arrays, meta = checkpoint.read(saved)
    assert "train_state/0/params/params/gru/wh" in arrays and "key" in arrays
    assert "train_state/0/opt/mu/params/pi0/kernel" in arrays and "train_state/0/opt/count" in arrays
    np.testing.assert_array_equal(arrays["train_state/0/params/params/gru/wh"], np.arange(48.0).reshape(2, 4, 6))
    assert meta["keys"] == ["key"] and meta["format"] == checkpoint.FORMAT and meta["updates"] == 5
    assert meta["arrays"]["train_state/0/params/params/gru/bh"]["shape"] == [2, 6]
    # the nested form is the same tree of names a user would browse
    nested = checkpoint.nest(arrays)
    assert nested["train_state"]["0"]["params"]["params"]["gru"]["wh"].shape == (2, 4, 6)


def test_restore_into_the_template_is_exact_keys_included(saved):
    restored, meta = checkpoint.restore(saved, _tree(x=9.0))  # the template's values do not matter
    assert _same(restored, _tree()) and meta["chunk"] == 4
    assert jax.dtypes.issubdtype(restored.key.dtype, jax.dtypes.prng_key)


def test_flipping_16_bytes_of_the_largest_file_is_one_clear_error(saved):
    f = _largest(saved)
    data = bytearray(f.read_bytes())
    for i in range(16):
        data[len(data) // 2 + i] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="does not match its sha256 digest") as err:
        checkpoint.restore(saved, _tree())
    assert "\n" not in str(err.value) and str(f.relative_to(saved)) in str(err.value)


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage-meta", "list-meta"])
def test_cut_off_missing_or_garbage_files_are_clear_errors(saved, damage):
    f = _largest(saved)
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:10])
    elif damage == "delete":
        f.unlink()
    elif damage == "garbage-meta":
        (saved / "meta.json").write_text('{"phase": 0, "chu')
    else:
        (saved / "meta.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is damaged"):
        checkpoint.restore(saved, _tree())


def test_an_array_that_differs_from_its_manifest_is_refused(saved):
    """The second line of defence: files intact, but the manifest's digest of one array disagrees."""
    meta = json.loads((saved / "meta.json").read_text())
    meta["arrays"]["train_state/0/params/params/gru/wh"]["sha256"] = "0" * 64
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="array train_state/0/params/params/gru/wh does not match its manifest"):
        checkpoint.read(saved)


def test_a_tree_of_another_shape_is_refused_by_name(saved):
    bigger = _tree()._replace(train_state=({"params": {"params": {"gru": {"wh": jnp.zeros((2, 4, 7))}}}},))
    with pytest.raises(ConfigError, match="does not belong to this run's config"):
        checkpoint.restore(saved, bigger)
    renamed = _tree()._replace(train_state=({"weights": _tree().train_state[0]["params"],
                                             "opt": _tree().train_state[0]["opt"]},))
    with pytest.raises(ConfigError, match="no train_state/0/weights"):
        checkpoint.restore(saved, renamed)


def test_retention_keeps_the_newest_and_a_killed_write_is_never_found(tmp_path):
    d = tmp_path / "checkpoints"
    for step in range(1, 6):
        checkpoint.save(d, step, _tree(step), {"updates": step}, keep=3)
    assert [p.name for p in checkpoint.listing(d)] == ["step_00000003", "step_00000004", "step_00000005"]
    # a kill while step 6 was written, and one while step 2 was deleted, leave hidden folders only
    shutil.copytree(d / "step_00000005", d / ".tmp-step_00000006")
    (d / ".tmp-step_00000006" / "meta.json").unlink()
    shutil.copytree(d / "step_00000003", d / ".del-step_00000002")
    assert checkpoint.latest(d).name == "step_00000005"
    checkpoint.save(d, 6, _tree(6), {"updates": 6}, keep=1)
    assert sorted(p.name for p in d.iterdir()) == ["step_00000006"]  # stale folders cleaned, keep=1
    assert _same(checkpoint.restore(d / "step_00000006", _tree())[0], _tree(6))


def test_a_checkpoint_of_the_older_unnamed_format_still_restores(tmp_path):
    """Runs trained before named checkpoints (leaves "00017", no digest) stay loadable."""
    import orbax.checkpoint as ocp

    path = (tmp_path / "step_00000005").absolute()
    leaves = [np.asarray(jax.random.key_data(x) if checkpoint._is_key(x) else x) for x in jax.tree.leaves(_tree())]
    with ocp.StandardCheckpointer() as ck:
        ck.save(path / "state", {f"{i:05d}": x for i, x in enumerate(leaves)})
        ck.wait_until_finished()
    (path / "meta.json").write_text(json.dumps({"phase": 0, "chunk": 4, "updates": 5, "wall_time": 1.0, "step": 5,
                                                "n_leaves": len(leaves)}))
    assert _same(checkpoint.restore(path, _tree(x=3.0))[0], _tree())
    with pytest.raises(ConfigError, match="older caredrive"):
        checkpoint.read(path)


def test_closed_event_loop_noise_is_dropped_and_nothing_else(monkeypatch, capsys):
    """After a failed orbax read, tensorstore reports reads that finish into orbax's closed event loop
    through sys.excepthook; exactly those are dropped."""
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: seen.append(a[1]))
    checkpoint._quiet_closed_loops()
    checkpoint._quiet_closed_loops()  # installed once
    sys.excepthook(RuntimeError, RuntimeError("Event loop is closed"), None)
    sys.excepthook(ValueError, ValueError("real"), None)
    sys.excepthook(RuntimeError, RuntimeError("other"), None)
    assert [str(e) for e in seen] == ["real", "other"]


def test_a_world_setting_newer_than_the_checkpoint_loads_at_its_default(tmp_path):
    """A run trained before an EnvParams field existed (e.g. hear_other_cries) still loads: the field takes
    its default, which keeps the worlds as they were. Any other leaf missing is still refused."""
    old = {"env_state": {"params": {"n_food": jnp.full(3, 5)}}, "w": jnp.ones(2)}
    path = checkpoint.save(tmp_path, 1, old, {})
    new = {"env_state": {"params": {"n_food": jnp.zeros(3, int), "hear_other_cries": jnp.ones(3, bool),
                                    "baby_energy0": jnp.zeros(3)}}, "w": jnp.zeros(2)}
    got, _ = checkpoint.restore(path, new)
    assert got["env_state"]["params"]["n_food"].tolist() == [5, 5, 5] and got["w"].tolist() == [1.0, 1.0]
    assert got["env_state"]["params"]["hear_other_cries"].tolist() == [False] * 3  # the default, not the template's
    assert np.allclose(got["env_state"]["params"]["baby_energy0"], 0.5)
    with pytest.raises(ConfigError, match="does not belong to this run's config"):
        checkpoint.restore(path, {**new, "w2": jnp.zeros(2)})
