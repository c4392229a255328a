"""The same tiny sweep in-process and through Ray (a local Ray, 2 workers) gives the same results.json.

Both runs are real `caredrive experiment` processes (train, evaluate, measure) with the same CPU device
count (`CAREDRIVE_CPU_DEVICES=2`: a seed's numbers are reproducible for a given count, caredrive.devices)
and one shared XLA compilation cache, so the Ray run loads the programs the in-process run compiled.
results.json holds no wall times or paths, so the files are compared byte for byte. Slow: minutes of
compiling on 2 CPU cores.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("ray")


def _experiment(out, env, *extra):
    cmd = [sys.executable, "-m", "caredrive.cli", "experiment", "mirror", "--budget", "tiny", "--out", str(out),
           "--no-progress", *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_a_two_setting_tiny_sweep_is_the_same_through_ray(tmp_path):
    env = {**os.environ, "CAREDRIVE_CPU_DEVICES": "2", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla_cache")}
    local = _experiment(tmp_path / "local", env)
    via_ray = _experiment(tmp_path / "ray", env, "--ray", "auto")
    assert "Ray: 2 settings submitted" in via_ray and "Ray" not in local
    for name in ("default", "mirror_trained"):
        assert f"{name} x seed 1: care" in via_ray
        a = (tmp_path / "local" / name / "setting.json").read_bytes()
        assert a == (tmp_path / "ray" / name / "setting.json").read_bytes()
    res = (tmp_path / "local" / "results.json").read_bytes()
    assert res == (tmp_path / "ray" / "results.json").read_bytes()
    assert b'"mirror_care"' in res and b'"mean_lifetime"' in res

    # run again: every setting is finished, nothing is trained, the same results are written
    again = _experiment(tmp_path / "ray", env, "--ray", "auto")
    assert "2 finished, kept" in again and "Ray: " not in again
    assert (tmp_path / "ray" / "results.json").read_bytes() == res
