"""The run directory (caredrive.train.rundir): never truncate what we did not write, survive a kill at
any moment, refuse a tampered config.json in one line, keep TensorBoard complete. No training here."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from caredrive.errors import ConfigError
from caredrive.train.config import PRESETS
from caredrive.train.rundir import RunDir

CFG = PRESETS["tiny"].to_dict()


def _rows(updates: range, seeds: int = 2) -> list[dict]:
    return [{"phase": "self", "update": u, "timesteps": (u + 1) * 128, "seed": s, "loss/total": 0.5 + u}
            for u in updates for s in range(seeds)]


def _text(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_a_folder_with_metrics_but_no_config_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("precious\n")
    with pytest.raises(ConfigError, match="holds metrics.jsonl but no config.json") as err:
        RunDir(tmp_path).create(CFG)
    assert "\n" not in str(err.value)
    assert (tmp_path / "metrics.jsonl").read_text() == "precious\n" and not (tmp_path / "config.json").exists()


def test_a_file_is_not_a_run_folder_and_an_empty_folder_is_one(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        RunDir(tmp_path / "f").create(CFG)
    (tmp_path / "empty").mkdir()
    RunDir(tmp_path / "empty").create(CFG)
    assert json.loads((tmp_path / "empty" / "config.json").read_text()) == json.loads(json.dumps(CFG))
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["config.json", "metrics.jsonl"]  # no tmp left
    with pytest.raises(ConfigError, match="already holds a run"):
        RunDir(tmp_path / "empty").create(CFG)


def test_overwrite_replaces_our_own_run_with_its_checkpoints(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create(CFG)
    (run.checkpoints / "step_00000009").mkdir(parents=True)
    run.create(CFG, overwrite=True)  # the selfish baseline's folder when its config changed
    assert not run.checkpoints.exists()


def test_a_row_cut_short_by_a_kill_is_dropped_and_the_rest_kept(tmp_path):
    run = RunDir(tmp_path)
    run.create(CFG)
    full = _text(_rows(range(4)))
    run.metrics_path.write_text(full + full.splitlines()[1][:17])  # killed while writing update 4's rows
    text, kept = run.metrics_before(3)
    assert text == _text(_rows(range(3))) and kept == 6
    assert len(run.read_metrics()) == 8  # reading ignores the cut-off row too
    run.metrics_path.write_text(full[:-1])  # even a complete row without its newline was never checkpointed
    assert run.metrics_before(99)[1] == 7


def test_a_damaged_row_in_the_middle_is_refused_before_anything_is_written(tmp_path):
    run = RunDir(tmp_path)
    run.create(CFG)
    lines = _text(_rows(range(3))).splitlines()
    lines[2] = '{"update": "two"}'
    run.metrics_path.write_text("\n".join(lines) + "\n")
    before = run.metrics_path.read_bytes()
    with pytest.raises(ConfigError, match="damaged at line 3"):
        run.metrics_before(2)
    assert run.metrics_path.read_bytes() == before


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: [c], "is a JSON list, not a JSON object"),
        (lambda c: {**c, "seeds": "two"}, "seeds='two' is not allowed: must be an integer"),
        (lambda c: {**c, "env": {"grid_size": "abc"}}, "env.grid_size='abc' is not allowed: must be an integer"),
        (lambda c: {**c, "phases": [c["phases"][0], {**c["phases"][1], "reward_mode": "bogus"}]}, "reward_mode='bogus'"),
        (lambda c: {**c, "ppo": {**c["ppo"], "lr": 1e999}}, "ppo.lr=inf is not allowed"),
        (lambda c: {**c, "bogus": 1}, "unknown field 'bogus'"),
        (lambda c: {**c, "world": "Nowhere-3x3"}, "unknown world"),
    ],
)
def test_a_tampered_config_is_one_line_naming_the_field(tmp_path, mutate, match):
    (tmp_path / "config.json").write_text(json.dumps(mutate(json.loads(json.dumps(CFG)))))
    for read in (RunDir(tmp_path).load_config, RunDir(tmp_path).train_config):
        with pytest.raises(ConfigError, match=match) as err:
            read()
        assert "\n" not in str(err.value) and "config.json" in str(err.value)


def test_json_files_are_replaced_whole(tmp_path):
    run = RunDir(tmp_path)
    run.create(CFG)
    run.write_json("summary.json", {"a": 1})
    run.write_json("summary.json", {"a": 2})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 2}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def tb_events(folder: Path) -> list[tuple[str, int, float | None]]:
    """Scalars of every event file in `folder`, oldest file first, with TensorBoard's purge rule applied:
    a SessionLog START at step s hides the earlier files' events at steps >= s. [(tag, step, value)]"""
    from tensorboardX.proto import event_pb2

    out: list[tuple[str, int, float]] = []
    for f in sorted(folder.glob("events.out.tfevents.*")):
        data, i = f.read_bytes(), 0
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            ev = event_pb2.Event()
            ev.ParseFromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            if ev.session_log.status == ev.session_log.START:
                out = [e for e in out if e[1] < ev.step]
            out += [(v.tag, ev.step, v.simple_value) for v in ev.summary.value]
    return out


def test_tensorboard_rows_are_on_disk_as_soon_as_they_are_logged(tmp_path):
    """A kill loses nothing logged before the checkpoint: the writer flushes after every chunk."""
    run = RunDir(tmp_path)
    run.create(CFG)
    run.log(_rows(range(2)))  # no close(): what a kill -9 leaves
    got = tb_events(tmp_path / "tb")
    assert ("seed_1/loss/total", 256, 1.5) in got and len(got) == 4
    run.close()


def test_a_resumed_writer_hides_the_killed_runs_rows_from_the_redone_update_on(tmp_path):
    run = RunDir(tmp_path)
    run.create(CFG)
    run.log(_rows(range(3)))
    run.close()
    again = RunDir(tmp_path)
    again.tb_purge_step = 2 * 128 + 1  # resumed from the checkpoint after update 1: update 2 is redone
    again.log([dict(r, **{"loss/total": 9.0}) for r in _rows(range(2, 4))])
    again.close()
    got = tb_events(tmp_path / "tb")
    assert sorted({(t, s) for t, s, _ in got}) == sorted((t, s) for t, s, _ in got)  # each step once
    assert {s for _, s, _ in got} == {128, 256, 384, 512}
    assert {v for _, s, v in got if s == 384} == {9.0}  # the redone update, logged again
