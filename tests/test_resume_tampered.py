"""Tampered, cut-off and killed runs through the CLI: each is one clear line (exit 2) on resume, eval and
report, and nothing in the run is overwritten; what a kill leaves resumes to the very bytes of an
uninterrupted run; a failed command leaves no folder; snapshots of the weights over training load
without the trainer. One tiny training (module fixture), then mostly refusals, which cost no compile."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive import cli
from caredrive.train import checkpoint
from caredrive.train.load import load_trained
from caredrive.train.snapshots import list_snapshots, load_snapshot
from test_rundir import tb_events

TRAIN = ["train", "--preset", "tiny", "--eval-episodes", "0", "--no-progress"]


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("tampered") / "run"
    assert cli.main([*TRAIN, "--out", str(run)]) == 0
    return run


def _copy(done: Path, tmp_path: Path) -> Path:
    shutil.copytree(done, tmp_path / "run")
    return tmp_path / "run"


def _files(run: Path) -> dict[str, str]:
    return {str(f.relative_to(run)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(run.rglob("*"))
            if f.is_file()}


def _cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = cli.main(argv)
    return rc, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def _refused(argv: list[str], capsys, match: str) -> None:
    rc, err = _cli(argv, capsys)
    assert rc == 2 and len(err) == 1 and match in err[0], (rc, err)


def _summary(run: Path) -> dict:
    return {k: v for k, v in json.loads((run / "summary.json").read_text()).items() if k != "wall_time_s"}


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: [c], "is a JSON list, not a JSON object"),
        (lambda c: {**c, "seeds": "two"}, "seeds='two' is not allowed: must be an integer"),
        (lambda c: {**c, "env": {"grid_size": "abc"}}, "env.grid_size='abc' is not allowed"),
        (lambda c: {**c, "phases": [c["phases"][0], {**c["phases"][1], "reward_mode": "bogus"}]},
         "reward_mode='bogus' is not allowed"),
    ],
)
def test_a_tampered_config_is_one_line_on_resume_eval_and_report(done, tmp_path, capsys, mutate, match):
    run = _copy(done, tmp_path)
    (run / "config.json").write_text(json.dumps(mutate(json.loads((run / "config.json").read_text()))))
    before = _files(run)
    for argv in (["train", "--resume", str(run), "--eval-episodes", "0", "--no-progress"],
                 ["run", "--resume", str(run), "--no-progress"],
                 ["eval", str(run), "--episodes", "2", "--no-gifs"], ["report", str(run)]):
        _refused(argv, capsys, match)
    assert _files(run) == before


def _flip(run: Path) -> None:
    ck = checkpoint.latest(run / "checkpoints")
    f = max((f for f in (ck / "state").rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
    data = bytearray(f.read_bytes())
    for i in range(16):
        data[len(data) // 2 + i] ^= 0xFF
    f.write_bytes(bytes(data))


def _truncate(run: Path) -> None:
    ck = checkpoint.latest(run / "checkpoints")
    for f in (ck / "state").rglob("*"):
        if f.is_file() and f.stat().st_size > 100:
            f.write_bytes(f.read_bytes()[:100])


def _phase7(run: Path) -> None:
    meta = checkpoint.latest(run / "checkpoints") / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "phase": 7}))


def _foreign(run: Path) -> None:
    """A whole, consistent checkpoint of something else, where the newest one would be."""
    checkpoint.save(run / "checkpoints", 5, {"weights": jnp.zeros((3, 3))},
                    {"phase": 1, "chunk": 1, "updates": 4, "wall_time": 1.0}, keep=5)


@pytest.mark.parametrize(
    "damage, match",
    [(_flip, "does not match its sha256 digest"), (_truncate, "does not match its sha256 digest"),
     (_phase7, "meta.json says phase=7"), (_foreign, "does not belong to this run's config")],
)
def test_a_damaged_or_foreign_checkpoint_is_one_line_and_nothing_is_overwritten(done, tmp_path, capsys, damage,
                                                                                  match):
    run = _copy(done, tmp_path)
    damage(run)
    before = _files(run)
    _refused(["train", "--resume", str(run), "--eval-episodes", "0", "--no-progress"], capsys, match)
    _refused(["eval", str(run), "--episodes", "2", "--no-gifs"], capsys, match)
    assert _files(run) == before


def test_a_flipped_checkpoint_prints_one_line_and_no_asyncio_noise(done, tmp_path):
    run = _copy(done, tmp_path)
    _flip(run)
    out = subprocess.run([sys.executable, "-m", "caredrive.cli", "eval", str(run), "--no-gifs"], capture_output=True,
                         text=True, timeout=300)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "sha256" in lines[0], out.stderr[-2000:]


def test_a_row_cut_off_by_a_kill_resumes_to_the_same_bytes_and_tensorboard_shows_each_update_once(done, tmp_path,
                                                                                                   capsys):
    run = _copy(done, tmp_path)
    shutil.rmtree(checkpoint.latest(run / "checkpoints"))  # killed while the last chunk ran ...
    full = (done / "metrics.jsonl").read_text()
    lines = full.splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:-2]) + lines[-2][:25])  # ... and wrote its first row
    (run / "summary.json").unlink()
    rc, err = _cli(["train", "--resume", str(run), "--eval-episodes", "0", "--no-progress"], capsys)
    assert rc == 0, err
    assert (run / "metrics.jsonl").read_text() == full
    assert _summary(run) == _summary(done) and _summary(run)["preset"] == "tiny"
    events = tb_events(run / "tb")
    assert len(events) == len({(tag, step) for tag, step, _ in events})  # no update twice ...
    assert {step for _, step, _ in events} == {128, 256, 384, 512}  # ... and none missing
    assert [u for u, _ in list_snapshots(run)] == [0, 1, 2, 3, 4]


def test_a_folder_with_someone_elses_metrics_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "notarun"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"mine": 1}\n')
    _refused([*TRAIN, "--out", str(out)], capsys, "holds metrics.jsonl but no config.json")
    assert (out / "metrics.jsonl").read_text() == '{"mine": 1}\n' and sorted(p.name for p in out.iterdir()) == [
        "metrics.jsonl"]


@pytest.mark.parametrize(
    "tokens",
    [["--run.world", "Nowhere-9x9"], ["--env.grid-size", "0"], ["--phase2.births-per-life", "-1"],
     ["--ppo.num-minibatches", "3"], ["--run.seed", "99999999999999999999"], ["--run.keep-checkpoints", "0"]],
)
def test_a_refused_training_leaves_no_folder_behind(tmp_path, capsys, tokens):
    rc, err = _cli([*TRAIN, "--out", str(tmp_path / "new"), *tokens], capsys)
    assert rc == 2 and len(err) == 1 and not (tmp_path / "new").exists(), err


def test_snapshots_hold_the_weights_over_training_and_load_without_the_trainer(done):
    assert [u for u, _ in list_snapshots(done)] == [0, 1, 2, 3, 4]
    final = load_trained(done).policy.weights
    last, first = load_snapshot(done, 4), load_snapshot(done, 0)
    assert jax.tree.structure(last) == jax.tree.structure(final) == jax.tree.structure(first)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(last), jax.tree.leaves(final), strict=True))
    assert not np.array_equal(first["params"]["gru"]["wh"], last["params"]["gru"]["wh"])  # it learned meanwhile
    assert first["params"]["gru"]["wh"].shape[0] == 2  # stacked over seeds
    # a policy of an earlier point of training is the trained one with other weights
    early = dataclasses.replace(load_trained(done).policy, weights=first)
    assert jax.tree.structure(early.weights) == jax.tree.structure(final)
    with pytest.raises(Exception, match="has no snapshot after 7 updates: it has 0, 1, 2, 3, 4"):
        load_snapshot(done, 7)


def test_checkpoints_are_named_trees_and_retention_follows_the_config(done):
    cks = checkpoint.listing(done / "checkpoints")
    assert [p.name for p in cks] == ["step_00000003", "step_00000004"]  # keep_checkpoints=2, the final kept
    arrays, meta = checkpoint.read(cks[-1])
    assert "train_state/0/params/params/gru/wh" in arrays and meta["updates"] == 4
    np.testing.assert_array_equal(arrays["train_state/0/params/params/gru/wh"], load_snapshot(done, 4)["params"]["gru"]["wh"])


@pytest.mark.slow
def test_deleted_checkpoints_restart_from_zero_and_say_so(done, tmp_path, capsys):
    run = _copy(done, tmp_path)
    shutil.rmtree(run / "checkpoints")
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "keep_checkpoints": 3}))
    rc, err = _cli(["train", "--resume", str(run), "--eval-episodes", "0", "--no-progress"], capsys)
    assert rc == 0 and len(err) == 1 and "training restarts from update 0" in err[0], err
    assert (run / "metrics.jsonl").read_bytes() == (done / "metrics.jsonl").read_bytes()
    assert len(checkpoint.listing(run / "checkpoints")) == 3


@pytest.mark.slow
def test_run_resume_finishes_a_run_killed_in_training(done, tmp_path, capsys):
    run = _copy(done, tmp_path)
    shutil.rmtree(checkpoint.latest(run / "checkpoints"))
    rc, err = _cli(["run", "--resume", str(run), "--episodes", "2", "--no-progress"], capsys)
    assert rc == 0, err
    assert (run / "metrics.jsonl").read_bytes() == (done / "metrics.jsonl").read_bytes()
    assert json.loads((run / "verdict.json").read_text()) and (run / "report.html").exists()
