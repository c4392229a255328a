"""The `caredrive` command line on tiny settings: it runs end to end, and bad input is one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from caredrive.cli import main


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_worlds_lists_the_registry(capsys):
    rc, out, _ = _cli(capsys, "worlds")
    assert rc == 0 and "Nursery-11x11" in out and "Nursery-Chain-11x11" in out


def test_baselines_json_is_one_object_with_every_policy(capsys):
    rc, out, _ = _cli(capsys, "baselines", "--json", "--episodes", "4", "--env.max-steps", "40")
    assert rc == 0
    res = json.loads(out)
    assert set(res["policies"]) == {"none", "idle", "random", "selfish", "carer"}
    for r in res["policies"].values():
        assert 0 <= r["survival"] <= 1 and r["median_lifetime"] <= 40


def test_render_writes_a_gif(capsys, tmp_path):
    out = tmp_path / "ep.gif"
    rc, text, _ = _cli(capsys, "render", "--policy", "carer", "--out", str(out), "--env.max-steps", "12")
    assert rc == 0 and out.exists() and out.read_bytes()[:3] == b"GIF" and "13 frames" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["baselines", "--world", "Nursery-99x99"], "unknown world"),
        (["baselines", "--env.grid-size", "3"], "grid_size=3"),
        (["baselines", "--env.n-families", "40"], "n_families"),
        (["baselines", "--env.adult-drain", "-1"], "adult_drain"),
        (["baselines", "--env.view-size", "41"], "view_size"),
        (["baselines", "--episodes", "0"], "--episodes"),
        (["render", "--policy", "mum"], "--policy"),
        (["render", "--out", "x.png"], ".gif"),
        (["train", "--preset", "huge"], "--preset"),
        (["train", "--ppo.lr", "abc"], "ppo.lr"),
        (["train", "--resume", "/nonexistent/run"], "not a run directory"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(capsys, argv, match):
    rc, _, err = _cli(capsys, *argv)
    assert rc == 2
    assert match in err and "Traceback" not in err and err.count("\n") == 1


def test_bad_input_from_a_real_process_has_no_traceback():
    p = subprocess.run([sys.executable, "-m", "caredrive.cli", "baselines", "--env.layout", "maze"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "layout" in p.stderr and "Traceback" not in p.stderr


def test_train_tiny_end_to_end(capsys, tmp_path):
    run = tmp_path / "run"
    rc, out, _ = _cli(capsys, "train", "--preset", "tiny", "--out", str(run), "--eval-episodes", "4",
                      "--no-progress")
    assert rc == 0 and "seeds care" in out
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["seeds"]) == 2 and {"none", "selfish", "carer"} <= set(summary["baselines"])
    for s in summary["seeds"]:
        assert {"mean_lifetime", "survival", "x_selfish", "share_of_carer", "cares"} <= set(s)
    # a second run into the same folder is refused, pointing at --resume
    rc, _, err = _cli(capsys, "train", "--preset", "tiny", "--out", str(run))
    assert rc == 2 and "--resume" in err


@pytest.mark.parametrize("cmd", ["eval", "report"])
def test_eval_and_report_refuse_a_folder_that_is_not_a_run(capsys, tmp_path, cmd):
    rc, _, err = _cli(capsys, cmd, str(tmp_path))
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.slow
def test_run_trains_evaluates_and_reports(capsys, tmp_path):
    """The README's main command on the tiny preset: verdict table, verdict.json, report.html."""
    run = tmp_path / "run"
    rc, out, _ = _cli(capsys, "run", "--preset", "tiny", "--out", str(run), "--episodes", "4", "--no-progress")
    assert rc == 0
    assert "care score" in out and "held-out world" in out and "report.html" in out
    verdict = json.loads((run / "verdict.json").read_text())
    assert len(verdict["care"]["per_seed"]) == 2 and "goodhart" in verdict
    html = (run / "report.html").read_text()
    assert "<img" in html and "http://" not in html
