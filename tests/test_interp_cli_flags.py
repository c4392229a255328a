"""`caredrive interp --lesion TAP:UNITS[:MODE]` and `--steer-vector FILE.npy`.

Fast: every bad spec or vector file is one `caredrive: error:` line, exit 2, before the run is loaded and
with nothing written. Slow (a tiny trained run): out-of-range units and a vector of the wrong width are one
line too; and on a mother whose actions follow her GRU (the tiny run's near-zero policy head scaled up, so
an edit of her hidden state can show at all), a lesion of every GRU unit is scored beside the unlesioned
mother and differs from it, and the planted steering vector is the one scored, beside its controls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import caredrive.train.load as load_mod
from caredrive.cli import main
from caredrive.eval.report_interp import section_interp
from caredrive.interp.edits import override_policy
from caredrive.interp.lesion_groups import parse_lesion
from conftest import one_line_error, train_tiny


def test_a_lesion_spec_parses_ranges_lists_and_modes():
    s = parse_lesion(" gru : 0-3, 7, 2 : mean ")
    assert (s.tap, s.units, s.mode, s.label) == ("gru", (0, 1, 2, 3, 7), "mean", "gru:0-3,7:mean")
    assert parse_lesion("pi0:5").mode == "zero" and parse_lesion("pi0:5").label == "pi0:5:zero"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("bogus:3", "tap 'bogus' is not editable"),
        ("gate_r:3", "tap 'gate_r' is not editable"),
        ("gru", "write TAP:UNITS[:MODE]"),
        ("gru:1:zero:x", "write TAP:UNITS[:MODE]"),
        ("gru:", "the unit list is empty"),
        ("gru:3,,7", "'' is not a unit number"),
        ("gru:3,x", "'x' is not a unit number"),
        ("gru:-1", "'-1' is not a unit number"),
        ("gru:7-2", "runs backwards"),
        ("gru:3:max", "mode 'max' is unknown"),
    ],
)
def test_a_bad_lesion_is_one_line_before_the_run_is_read(capsys, no_checkpoints, spec, words):
    err = one_line_error(capsys, ["interp", str(no_checkpoints), "--lesion", "gru:1", "--lesion", spec])
    assert words in err and spec.strip() in err, err
    assert not (no_checkpoints / "interp.json").exists() and not (no_checkpoints / "interp").exists()


def test_the_named_lesions_section_needs_a_lesion(capsys, no_checkpoints):
    err = one_line_error(capsys, ["interp", str(no_checkpoints), "--only", "lesion_groups"])
    assert "needs at least one --lesion" in err


def _bad_files(folder) -> dict:
    def save(name, arr):
        np.save(folder / name, arr)
        return folder / name

    files = {
        "no such file": folder / "missing.npy",
        "not a .npy file": save("v.txt.npy", np.ones(4)).rename(folder / "v.txt"),
        "holds pickled Python objects": save("obj.npy", np.array([1.0, None], dtype=object)),
        "expected a 1-D vector": save("two.npy", np.ones((2, 16), np.float32)),
        "dtype int64": save("int.npy", np.arange(16, dtype=np.int64)),
        "NaN or infinite": save("nan.npy", np.array([1.0, np.nan], np.float32)),
        "all zeros": save("zero.npy", np.zeros(16, np.float32)),
        "an .npz archive": folder / "z.npy",
        "not a .npy array": folder / "text.npy",
        "cut short": folder / "empty.npy",
    }
    np.savez(folder / "z.npz", v=np.ones(3))
    (folder / "z.npz").rename(folder / "z.npy")
    (folder / "text.npy").write_text("0.1 0.2 0.3\n")
    (folder / "empty.npy").write_bytes(b"")
    return files


def test_a_bad_vector_file_is_one_line_before_the_run_is_read(capsys, no_checkpoints, tmp_path):
    for words, path in _bad_files(tmp_path).items():
        err = one_line_error(capsys, ["interp", str(no_checkpoints), "--steer-vector", str(path)])
        assert "--steer-vector" in err and words in err, (words, err)
    assert not (no_checkpoints / "interp.json").exists()


def test_a_real_process_says_one_line_for_a_pickled_vector(no_checkpoints, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    p = subprocess.run(
        [sys.executable, "-m", "caredrive.cli", "interp", str(no_checkpoints), "--steer-vector",
         str(tmp_path / "obj.npy")],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "pickled" in p.stderr


# --- slow: a real (tiny) run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("interpflags") / "run")


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, words",
    [
        (["--lesion", "gru:3,16"], "unit(s) [16] out of range at tap 'gru': it has units 0..15"),
        (["--lesion", "gru:1", "--lesion", "logits:0-9:mean"], "unit(s) [9] out of range at tap 'logits'"),
        (["--steer-vector", "VEC3"], "steering vector at tap 'gru' has shape (3,): expected (16,)"),
    ],
)
def test_out_of_range_units_and_a_wrong_width_are_one_line(capsys, tiny_run, tmp_path, extra, words):
    np.save(tmp_path / "v3.npy", np.ones(3, np.float32))
    err = one_line_error(capsys, ["interp", str(tiny_run), *[str(tmp_path / "v3.npy") if a == "VEC3" else a
                                                            for a in extra]])
    assert words in err, err
    assert not (tiny_run / "interp.json").exists()


@pytest.fixture()
def sharp_mother(monkeypatch):
    """The tiny run's mother with her policy head scaled x500: untrained, her logits barely move (~1e-3),
    so no edit of her hidden state could change an action; scaled, her actions follow her GRU."""
    real = load_mod.load_trained

    def sharp(run):
        t = real(run)
        return dataclasses.replace(t, policy=override_policy(t.policy, "pi1/kernel", "scale", 500.0))

    monkeypatch.setattr(load_mod, "load_trained", sharp)


@pytest.mark.slow
def test_named_lesions_and_a_planted_vector_land_in_interp_json(capsys, tiny_run, tmp_path, sharp_mother):
    vec = np.zeros(16, np.float32)
    vec[[2, 5, 11]] = [20.0, -15.0, 10.0]
    np.save(tmp_path / "planted.npy", vec)
    rc = main(["interp", str(tiny_run), "--only", "lesion_groups", "--seeds", "0", "--episodes", "4", "--no-gif",
               "--no-progress", "--lesion", "gru:0-15", "--lesion", "gru:7,3:mean", "--lesion", "gru:0-15:zero",
               "--steer-vector", str(tmp_path / "planted.npy"), "--steer-alpha", "2"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "- Lesion gru:0-15:zero: care score" in out  # the command says it, not only interp.json
    data = json.loads((tiny_run / "interp.json").read_text())
    assert set(data["sections"]) == {"lesion_groups", "steer"}  # the vector brought its section

    lg = data["sections"]["lesion_groups"]
    assert [g["label"] for g in lg["groups"]] == ["gru:0-15:zero", "gru:3,7:mean"]  # the repeat scored once
    assert lg["groups"][1] == {"label": "gru:3,7:mean", "tap": "gru", "units": [3, 7], "mode": "mean"}
    seed = lg["per_seed"]["0"]
    base, whole = seed["base"], seed["rows"][0]
    assert whole["units"] == list(range(16)) and whole["mode"] == "zero"
    for k in ("care_score", "care_ci", "care_drop", "care_drop_ci", "self_drop", "self_drop_ci"):
        assert k in whole
    outcome = lambda r: (r["care_score"], r["lifetime"], r["self_lifetime"])
    assert outcome(whole) != outcome(base), "silencing every GRU unit of a GRU-driven mother changed nothing"
    if whole["care_score"] is not None and base["care_score"] is not None:
        assert whole["care_drop"] == pytest.approx(base["care_score"] - whole["care_score"])
    assert whole["self_drop"] == pytest.approx(base["self_lifetime"] - whole["self_lifetime"])
    assert set(lg["summary"]["groups"]) == {"gru:0-15:zero", "gru:3,7:mean"}
    assert any(line.startswith("Lesion gru:3,7:mean: care score") for line in data["headline"])

    st = data["sections"]["steer"]
    assert st["vector"]["source"] == "file"
    assert st["vector"]["sha256"] == hashlib.sha256((tmp_path / "planted.npy").read_bytes()).hexdigest()
    norm = float(np.linalg.norm(vec))
    assert st["vector"]["norm"] == pytest.approx(norm) and st["vector"]["width"] == 16
    mine = st["per_seed"]["0"]
    assert mine["vector"] == "user" and mine["norms"]["own_vs_other"] == pytest.approx(norm, abs=1e-3)
    used = mine["own_vs_other"]
    assert used["norm"] == pytest.approx(2 * norm, rel=1e-5)  # alpha x the planted vector, not a mean difference
    foster = used["retarget"]["foster"]
    assert len(foster["random"]) == st["n_random"] and foster["unsteered"]["lifetime_vs_none"] == 0.0
    moved = [foster["steered"]["lifetime"] != foster["unsteered"]["lifetime"],
             used["switch_off"]["self_survival"]["drop_vs_none"] != 0.0]
    assert any(moved), "a large vector added to a GRU-driven mother's memory changed nothing"

    html = section_interp(tiny_run)
    assert "gru:0-15:zero" in html and "planted.npy" in html
