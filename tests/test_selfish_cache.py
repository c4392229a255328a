"""The selfish baseline's machine-wide cache: a second run with the same settings copies it instead of
training it again; any other setting, a damaged entry or `CAREDRIVE_CACHE=off` trains."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest

import caredrive.eval.selfish as selfish
from caredrive.train.rundir import RUN_NAMES
from conftest import train_tiny


class Trains(Exception):
    """Raised by the stand-in trainer: the baseline was about to be trained, not copied."""


def _copy_run(src, dest, **change):
    """A second run folder with the same trained mothers and config (a rerun), its config changed by `change`."""
    dest.mkdir()
    for name in RUN_NAMES:
        if name != "baselines" and (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif name != "baselines" and (src / name).exists():
            shutil.copy2(src / name, dest / name)
    cfg = json.loads((dest / "config.json").read_text())
    for path, value in change.items():
        *outer, last = path.split("__")
        d = cfg
        for k in outer:
            d = d[k]
        d[last] = value
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def _weights(t):
    return jax.tree.leaves(jax.tree.map(np.asarray, t.policy.weights))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("selfish_cache") / "run")


@pytest.mark.slow  # trains a tiny run and its baseline: ~45 s idle
def test_a_rerun_copies_the_baseline_and_nothing_else_does(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("CAREDRIVE_CACHE", str(tmp_path / "cache"))
    first = selfish.selfish_baseline(trained, progress=False)
    entries = list((tmp_path / "cache" / "selfish").iterdir())
    assert len(entries) == 1 and (entries[0] / "done.json").is_file()

    def trains(*a, **k):
        raise Trains

    monkeypatch.setattr(selfish, "train", trains)
    rerun = _copy_run(trained, tmp_path / "rerun")
    again = selfish.selfish_baseline(rerun, progress=False)  # would raise Trains if it trained
    assert all((x == y).all() for x, y in zip(_weights(first), _weights(again), strict=True))
    assert (rerun / "baselines" / "selfish" / "done.json").is_file()

    with pytest.raises(Trains):  # another setting: not the same baseline
        selfish.selfish_baseline(_copy_run(trained, tmp_path / "other", ppo__lr=1e-4), progress=False)

    victim = next((entries[0] / "checkpoints").rglob("*.json"))  # a damaged entry is dropped, then trained
    victim.write_text("{}")
    with pytest.raises(Trains):
        selfish.selfish_baseline(_copy_run(trained, tmp_path / "damaged"), progress=False)
    assert not entries[0].exists()


def test_off_turns_the_cache_off_and_the_key_names_what_defines_the_result(monkeypatch):
    from caredrive.train.config import PRESETS

    monkeypatch.setenv("CAREDRIVE_CACHE", "off")
    assert selfish.cache_root() is None
    monkeypatch.setenv("CAREDRIVE_CACHE", "/somewhere")
    assert str(selfish.cache_root()) == "/somewhere"
    cfg = json.loads(json.dumps(PRESETS["tiny"].to_dict()))
    k = selfish.cache_key(cfg)
    assert k == selfish.cache_key(json.loads(json.dumps(cfg)))
    assert k != selfish.cache_key({**cfg, "seed": cfg["seed"] + 1})
    monkeypatch.setattr(selfish, "code_digest", lambda: "edited")
    assert k != selfish.cache_key(cfg)  # a change to the world, agents or trainer misses the cache


def test_the_code_digest_is_the_code_this_process_imported_not_what_is_on_disk_later(monkeypatch, tmp_path):
    """A study that runs for an hour while its sources are edited must file its baselines under the code it
    trains with: the digest is read at import, so an edit afterwards changes neither it nor the cache key."""
    import caredrive
    from caredrive import provenance

    cfg = {"seed": 0}
    before, key = selfish.code_digest(), selfish.cache_key(cfg)
    assert before == provenance.source_digest()  # nothing edited yet: disk and process agree
    tree = tmp_path / "caredrive"
    shutil.copytree(caredrive.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "env" / "nursery.py").write_text((tree / "env" / "nursery.py").read_text() + "\n# edited\n")
    assert provenance.source_digest(tree) != before  # the edit is one the digest sees ...
    monkeypatch.setattr(provenance, "source_digest", lambda root=None: "what the disk says now")
    assert selfish.code_digest() == before and selfish.cache_key(cfg) == key  # ... and the process ignores it
