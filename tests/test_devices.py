"""Seeds sharded over CPU devices (caredrive.devices): the path `caredrive train` takes on a multi-core
CPU. It needs JAX started with 2 devices, so it runs in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, shutil, sys
    from pathlib import Path
    from caredrive.devices import use_cpu_cores, seed_sharding
    assert use_cpu_cores()  # reads CAREDRIVE_CPU_DEVICES
    import jax
    from caredrive.train import checkpoint
    from caredrive.train.config import PRESETS
    from caredrive.train.run import train
    from caredrive.train.rundir import RunDir
    assert len(jax.devices()) == 2 and seed_sharding(2) is not None and seed_sharding(3) is None
    cfg = PRESETS["tiny"]
    root = Path(sys.argv[1])
    run = RunDir(root / "a"); run.create(cfg.to_dict())
    trained = train(cfg, run, progress=False)
    w = jax.tree_util.tree_leaves(trained.policy.weights)[0]
    assert len(w.sharding.device_set) == 1  # handed back on one device, so evaluation mixes it freely
    killed = RunDir(root / "killed"); shutil.copytree(run.path, killed.path)
    cks = sorted(killed.checkpoints.glob("step_*"))
    for ck in cks[1:]:
        shutil.rmtree(ck)
    rows = killed.read_metrics()
    killed.metrics_path.write_text("".join(json.dumps(r) + "\\n" for r in rows[: len(rows) - cfg.seeds]))
    train(cfg, killed, resume=True, progress=False)
    same = json.dumps(run.read_metrics(), sort_keys=True) == json.dumps(killed.read_metrics(), sort_keys=True)
    print("RESUMED_SAME", same)
    """
)


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_seeds_train_sharded_over_two_cpu_devices_and_resume_bit_for_bit(tmp_path):
    env = {**os.environ, "CAREDRIVE_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RESUMED_SAME True" in out.stdout
