"""The dependency pins say what the code needs: an install that satisfies them runs the code.

`train/gymnax_adapter.py` unpacks gymnax's 6-value step (terminated and truncated apart) and reads
`info["final_observation"]`: both arrived in gymnax 1.0, so 0.0.x must not satisfy the pin.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from packaging.requirements import Requirement  # pytest's own dependency

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _requirements(extra: str) -> dict[str, Requirement]:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {Requirement(r).name: Requirement(r) for r in extras[extra]}


@pytest.mark.parametrize("extra", ["dev", "bench"])
def test_gymnax_pin_excludes_versions_without_the_api_the_adapter_uses(extra):
    spec = _requirements(extra)["gymnax"].specifier
    assert not spec.contains("0.0.8") and not spec.contains("0.0.9")  # 5-value step, no final_observation
    assert spec.contains("1.0.0") and spec.contains("1.0.1")


def test_the_installed_gymnax_gives_what_the_adapter_reads():
    pytest.importorskip("gymnax")
    from caredrive.train.gymnax_adapter import GymnaxAdapter

    env = GymnaxAdapter("CartPole-v1")
    obs, state = env.reset(jax.random.key(0))
    obs, state, reward, done, info = env.step(jax.random.key(1), state, jnp.zeros(1, jnp.int32))
    assert obs.shape == info["final_obs"].shape == (1, 4) and reward.shape == (1,)
    assert {"terminated", "truncated"} <= set(info) and done.dtype == jnp.bool_
