"""`caredrive interp`: bad input is one `caredrive: error: ...` line and exit 2, before any work (fast: no
run is trained); and (slow) the command on a tiny run, an override scored beside the original, and a bad
weight path or unit index on a real run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from caredrive.cli import main
from conftest import one_line_error, train_tiny


@pytest.mark.parametrize(
    "extra, words",
    [
        ([], "has no checkpoint"),
        (["--tap", "gate_r"], "tap 'gate_r' is not editable"),
        (["--tap", "bogus"], "tap 'bogus' is not editable"),
        (["--only", "probes,bogus"], "unknown section(s) ['bogus']"),
        (["--only", ","], "unknown section(s)"),
        (["--world", "mars"], "--world='mars' is unknown"),
        (["--seeds", "0,x"], "--seeds='0,x' is not allowed"),
        (["--steer-alpha", "nan"], "--steer-alpha=nan is not allowed"),
        (["--steer-alpha", "x"], "invalid float value"),
        (["--episodes", "2"], "--episodes"),
        (["--only", "override"], "needs at least one --override"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, no_checkpoints, extra, words):
    err = one_line_error(capsys, ["interp", str(no_checkpoints), *extra])
    assert words in err, err


def test_a_missing_run_folder_is_one_line(capsys, tmp_path):
    assert "no such folder" in one_line_error(capsys, ["interp", str(tmp_path / "missing")])


def test_nothing_is_written_when_the_input_is_bad(capsys, no_checkpoints):
    one_line_error(capsys, ["interp", str(no_checkpoints), "--tap", "bogus"])
    one_line_error(capsys, ["interp", str(no_checkpoints)])
    assert not (no_checkpoints / "interp.json").exists() and not (no_checkpoints / "interp").exists()


def test_a_real_process_prints_one_line_without_traceback(no_checkpoints):
    p = subprocess.run(
        [sys.executable, "-m", "caredrive.cli", "interp", str(no_checkpoints), "--only", "lesions,nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "unknown section(s) ['nope']" in p.stderr
    assert "Traceback" not in p.stderr


# --- slow: a real (tiny) run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("interpcli") / "run")


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, words",
    [
        (["--override", "gru/bogus=1"], "unknown weight 'gru/bogus'"),
        (["--override", "gru/wh[:, 99]*=0"], "index 99 out of range"),
        (["--override", "pi1/bias=[1, 2]"], "value of shape (2,)"),
        (["--seeds", "0,7"], "seed(s) [7] not in this run"),
    ],
)
def test_bad_input_on_a_real_run_is_one_line(capsys, tiny_run, extra, words):
    err = one_line_error(capsys, ["interp", str(tiny_run), *extra])
    assert words in err, err
    assert not (tiny_run / "interp.json").exists()


@pytest.mark.slow
def test_interp_with_an_override_scores_it_beside_the_original(capsys, tiny_run):
    rc = main(
        [
            "interp",
            str(tiny_run),
            "--only",
            "probes",
            "--episodes",
            "4",
            "--no-progress",
            "--no-gif",
            "--override",
            "pi1/kernel*=0",
            "pi1/bias[0]=100",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "interp.json" in out
    data = json.loads((tiny_run / "interp.json").read_text())
    assert set(data["sections"]) == {"probes", "override"}
    ov = data["sections"]["override"]
    assert ov["overrides"] == ["pi1/kernel*=0", "pi1/bias[0]=100"]
    for per in ov["per_seed"].values():
        assert set(per) == {"original", "overridden"}
        assert set(per["original"]["worlds"]) == {"train", "foster", "decoy"}
    # the overridden mother always stays where she is (action 0), so she is not the trained mother: her own
    # life (births off) or her baby's differs
    pick = lambda p: (p["self_survival"]["mean_lifetime"], p["worlds"]["train"]["mean_lifetime"])
    assert any(pick(p["original"]) != pick(p["overridden"]) for p in ov["per_seed"].values())
