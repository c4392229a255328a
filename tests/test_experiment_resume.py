"""A `caredrive experiment` killed in the middle of writing any of its files finishes when run again.

A SIGKILL mid-write leaves the first part of a file written in place. Here the kill is simulated in-process:
the first write of one named file stops halfway and raises (a BaseException, so nothing catches it). The
folder left behind must hold no half-written JSON of the runner's own (they are written aside and renamed),
and re-running the study must finish it with results.json equal to an uninterrupted run's. Training and
evaluation are fakes (as in tests/test_experiments.py, where a kill during training is resumed), so this
takes seconds; the real kill -9 soak is benchmarks/soak_experiment.py.
"""

from __future__ import annotations

import json
import pathlib
import types

import pytest

from caredrive.experiments import runner
from test_experiments import _fake_eval, _study


class Killed(BaseException):
    """What SIGKILL would do: stop right here, no handler runs."""


@pytest.fixture
def fakes(monkeypatch):
    def train(cfg, rd, resume=False, progress=True):
        return types.SimpleNamespace(timesteps=256)

    def evaluate_run(path, episodes, seed, progress, gifs, selfish, selfish_seeds):
        base = 0.7 if path.name == "a" else 0.2
        ev = _fake_eval([base, base + 0.05], [False, False], [100.0 * base, 101.0 * base])
        (path / "eval.json").write_text(json.dumps(ev))  # in place, as caredrive.eval.evaluate writes it

    monkeypatch.setattr("caredrive.train.run.train", train)
    monkeypatch.setattr("caredrive.eval.evaluate.evaluate_run", evaluate_run)


def _run(out):
    runner.run_study(_study(), "tiny", out=out, echo=lambda s: None, cache=False)


@pytest.mark.parametrize("name", ["study.json", "trained.json", "eval.json", "timing.json", "setting.json",
                                  "results.json", "timings.json"])
def test_a_kill_mid_write_of_any_file_resumes_to_the_same_results(fakes, monkeypatch, tmp_path, name):
    _run(tmp_path / "whole")
    want = (tmp_path / "whole" / "results.json").read_text()

    real = pathlib.Path.write_text

    def cut(self, text, *a, **kw):  # the first write of `name` (or of its temporary twin) stops halfway
        if self.name.endswith(name):
            monkeypatch.setattr(pathlib.Path, "write_text", real)
            real(self, text[: len(text) // 2], *a, **kw)
            raise Killed(name)
        return real(self, text, *a, **kw)

    out = tmp_path / "killed"
    monkeypatch.setattr(pathlib.Path, "write_text", cut)
    with pytest.raises(Killed):
        _run(out)
    monkeypatch.setattr(pathlib.Path, "write_text", real)
    ours = [p for p in out.rglob("*.json") if not p.name.startswith(".tmp-") and p.name != "eval.json"]
    for p in ours:  # what the kill left must read: a file we write is never half there
        json.loads(p.read_text())

    _run(out)  # the same command again
    assert (out / "results.json").read_text() == want
    for s in ("a", "b"):
        assert json.loads((out / s / "setting.json").read_text()) == json.loads(
            (tmp_path / "whole" / s / "setting.json").read_text())
