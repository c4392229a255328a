"""The `caredrive` command line on tiny settings: it runs end to end, and bad input is one clear line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from caredrive.cli import main


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_worlds_lists_the_registry(capsys):
    rc, out, _ = _cli(capsys, "worlds")
    assert rc == 0 and "Nursery-11x11" in out and "Nursery-Chain-11x11" in out


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
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


def _one_line(rc: int, err: str, match: str) -> None:
    assert rc == 2, err
    assert match in err and "Traceback" not in err and err.count("\n") == 1, err


@pytest.fixture
def junk(tmp_path):
    """A plain file, a folder named like a GIF, and an old GIF we did not write in this test."""
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "dir.gif").mkdir()
    (tmp_path / "old.gif").write_bytes(b"GIF89a-old")
    return tmp_path


_TRAIN = ["train", "--preset", "tiny", "--eval-episodes", "0", "--no-progress"]  # a mistake trains seconds, not hours


@pytest.mark.parametrize(
    "argv, match",
    [
        # once tracebacks
        (["baselines", "--seed", "99999999999999999999"], "--seed"),
        ([*_TRAIN, "--run.seed", "99999999999999999999", "--out", "{tmp}/new"], "seed"),
        ([*_TRAIN, "--run.seed", str(2**32), "--out", "{tmp}/new"], "seed"),  # jax would take it as seed 0
        (["eval", "{tmp}", "--seed", "-1"], "--seed"),
        (["render", "--out", "{tmp}/afile/x.gif"], "--out"),
        (["render", "--out", "/proc/caredrive-nowhere/x.gif"], "--out"),  # unwritable even for root
        (["render", "--out", "{tmp}/dir.gif"], "--out"),
        (["render", "--fps", "0"], "--fps"),
        ([*_TRAIN, "--out", "{tmp}/afile/run"], "--out"),
        ([*_TRAIN, "--out", "/proc/caredrive-nowhere/run"], "--out"),
        ([*_TRAIN, "--out", "{tmp}/afile"], "--out"),
        ([*_TRAIN, "--out", "{tmp}/" + "r" * 300], "--out"),
        (["render", "--out", "{tmp}/" + "r" * 300 + ".gif"], "--out"),
        ([*_TRAIN, "--out", ""], "--out"),
        ([*_TRAIN, "--ppo.num-minibatches", "3", "--out", "{tmp}/new"], "num_minibatches"),
        ([*_TRAIN, "--ppo.num-minibatches", "32", "--out", "{tmp}/new"], "num_minibatches"),
        # once accepted nonsense
        (["worlds", "--bogus"], "--bogus"),
        (["eval", "{tmp}", "--bogus"], "--bogus"),
        (["report", "{tmp}", "--bogus", "1"], "--bogus"),
        (["compare", "{tmp}", "{tmp}", "--bogus"], "--bogus"),
        (["baselines", "--bogus"], "--bogus"),
        (["render", "--env.food-energy", "inf"], "food-energy"),
        ([*_TRAIN, "--env.food-energy", "nan", "--out", "{tmp}/new"], "food-energy"),
        ([*_TRAIN, "--ppo.lr", "inf", "--out", "{tmp}/new"], "ppo.lr"),
        ([*_TRAIN, "--ppo.gamma", "2", "--out", "{tmp}/new"], "gamma"),
        ([*_TRAIN, "--ppo.gae-lambda", "5", "--out", "{tmp}/new"], "gae_lambda"),
        ([*_TRAIN, "--ppo.clip-eps", "100", "--out", "{tmp}/new"], "clip_eps"),
        ([*_TRAIN, "--ppo.max-grad-norm", "0", "--out", "{tmp}/new"], "max_grad_norm"),
        (["render", "--fps", "-1"], "--fps"),
        (["train", "--resume", "{tmp}", "--preset", "full", "--out", "{tmp}/other"], "--resume"),
        (["train", "--resume", "{tmp}", "--preset", "small"], "--preset"),
        (["render", "--out", "{tmp}/old.gif"], "--force"),
        # found only after the run folder was made, once: now before it
        ([*_TRAIN, "--run.world", "Nursery-99x99", "--out", "{tmp}/new"], "unknown world"),
        ([*_TRAIN, "--phase2.births-per-life", "-1", "--out", "{tmp}/new"], "births_per_life"),
        ([*_TRAIN, "--env.baby-brain", "scripted", "--out", "{tmp}/new"], "baby_brain"),  # once a TypeError
    ],
)
def test_bad_input_fails_before_any_work_in_one_line(capsys, monkeypatch, junk, argv, match):
    """Each of these once gave a traceback or was silently accepted. Now: one line, exit 2, before any
    work (the render and the training are replaced by tripwires) and without creating or changing a file."""
    import caredrive.env.render
    import caredrive.train.run

    def tripwire(*a, **k):
        raise AssertionError("the work started before the input was checked")

    monkeypatch.setattr(caredrive.env.render, "render_episode", tripwire)
    monkeypatch.setattr(caredrive.train.run, "train", tripwire)
    before = {p: p.read_bytes() if p.is_file() else None for p in junk.rglob("*")}
    rc, out, err = _cli(capsys, *[a.replace("{tmp}", str(junk)) for a in argv])
    _one_line(rc, err, match)
    assert out == ""
    assert {p: p.read_bytes() if p.is_file() else None for p in junk.rglob("*")} == before


def test_seed_range_is_the_same_in_the_cli_and_the_config():
    from caredrive.cli import MAX_SEED
    from caredrive.train import config

    assert MAX_SEED == config.MAX_SEED == 2**32 - 1


def test_render_overwrites_only_with_force(capsys, junk):
    old = junk / "old.gif"
    rc, _, err = _cli(capsys, "render", "--out", str(old), "--env.max-steps", "4")
    _one_line(rc, err, "--force")
    assert old.read_bytes() == b"GIF89a-old"
    rc, text, _ = _cli(capsys, "render", "--out", str(old), "--env.max-steps", "4", "--force")
    assert rc == 0 and old.read_bytes()[:3] == b"GIF" and old.read_bytes() != b"GIF89a-old" and "5 frames" in text


def test_a_nan_loss_is_found_with_its_update_and_seed():
    from caredrive.train.run import first_bad_loss

    finite = {"loss/total": np.ones((2, 3)), "return": np.full((2, 3), np.nan)}  # a NaN return is no episode yet
    assert first_bad_loss(finite, 10) is None
    bad = {"loss/total": np.ones((2, 3)), "baby/loss/value": np.ones((2, 3)), "return": np.ones((2, 3))}
    bad["loss/total"][1, 2] = np.nan
    bad["baby/loss/value"][0, 1] = np.inf
    assert first_bad_loss(bad, 10) == "baby/loss/value is inf at update 11 (seed 0)"


@pytest.mark.slow
def test_training_stops_at_the_first_nan_loss(capsys, tmp_path):
    """lr 1e30 (finite, so allowed) blows the weights up at once: one line naming the update, exit 2."""
    rc, _, err = _cli(capsys, *_TRAIN, "--ppo.lr", "1e30", "--out", str(tmp_path / "run"))
    _one_line(rc, err, "training diverged")
    assert re.search(r"loss\S* is (nan|inf|-inf) at update 0 \(seed \d\)", err), err


class _FakeTrained:
    wall_time, timesteps = 1.5, 512


def _fake_train(cfg, run, resume=False, progress=True):
    return _FakeTrained()


def test_summary_of_a_run_without_evaluation_names_its_preset(capsys, monkeypatch, tmp_path):
    """`caredrive run` trains with no in-train evaluation; its summary (and the report's header) must
    still say which preset made it."""
    import caredrive.train.run

    monkeypatch.setattr(caredrive.train.run, "train", _fake_train)
    rc, _, _ = _cli(capsys, *_TRAIN, "--out", str(tmp_path / "run"))
    assert rc == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["preset"] == "tiny"


def _run_folder_like_caredrive_run(path, lifetimes):
    """What `caredrive run` leaves: a summary without per-seed rows, and eval.json."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"world": "Nursery-11x11", "env": {"n_food": 3}}))
    (path / "summary.json").write_text(json.dumps({"world": "Nursery-11x11", "preset": "tiny", "wall_time_s": 1.0,
                                                   "timesteps_per_seed": 512, "devices": 1}))
    pols = {f"seed_{i}": {"mean_lifetime": x} for i, x in enumerate(lifetimes)}
    worlds = [{"name": "train", "kind": "train", "policies": {"carer": {"mean_lifetime": 150.0}, **pols}},
              {"name": "decoy", "kind": "goal", "policies": {f"seed_{i}": {"mean_lifetime": 1.0} for i in range(3)}}]
    (path / "eval.json").write_text(json.dumps({"world": "Nursery-11x11", "seeds": len(lifetimes), "worlds": worlds}))
    return path


def test_compare_reads_a_folder_made_by_caredrive_run(capsys, tmp_path):
    a = _run_folder_like_caredrive_run(tmp_path / "a", [98.0, 99.0, 97.0])
    b = tmp_path / "b"
    b.mkdir()
    (b / "summary.json").write_text(json.dumps({"world": "Nursery-11x11", "seeds": [{"mean_lifetime": x}
                                                                                      for x in (91.0, 90.0)]}))
    rc, out, err = _cli(capsys, "compare", str(a), str(b), "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["seeds_a"] == [98.0, 99.0, 97.0] and res["source_a"] == "eval.json" and res["source_b"] == "summary.json"
    assert res["world_a"] == 'Nursery-11x11 {"n_food": 3}'
    rc, out, _ = _cli(capsys, "compare", str(a), str(b))
    assert rc == 0 and "different evaluation episodes" in out
    # a seed with no counted baby has no lifetime to compare: one line, not a made-up number
    ev = json.loads((a / "eval.json").read_text())
    ev["worlds"][0]["policies"]["seed_1"]["mean_lifetime"] = None
    (a / "eval.json").write_text(json.dumps(ev))
    rc, _, err = _cli(capsys, "compare", str(a), str(b))
    _one_line(rc, err, "seed_1")


def test_bad_input_from_a_real_process_has_no_traceback():
    p = subprocess.run([sys.executable, "-m", "caredrive.cli", "baselines", "--env.layout", "maze"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "layout" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_train_tiny_end_to_end(capsys, tmp_path):
    run = tmp_path / "run"
    rc, out, _ = _cli(capsys, "train", "--preset", "tiny", "--out", str(run), "--eval-episodes", "4",
                      "--no-progress")
    assert rc == 0 and "seeds care" in out
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["seeds"]) == 2 and {"none", "selfish", "carer"} <= set(summary["baselines"])
    for s in summary["seeds"]:
        assert {"mean_lifetime", "survival", "care_score", "care_ci", "flagged", "cares"} <= set(s)
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
    assert "preset tiny" in html and "preset ?" not in html
    # every folder the CLI makes is comparable
    rc, out, err = _cli(capsys, "compare", str(run), str(run), "--json")
    assert rc == 0, err
    assert len(json.loads(out)["seeds_a"]) == 2
