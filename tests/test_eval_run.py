"""evaluate_run end to end on a tiny run (slow: it trains), and load_trained's errors (fast)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from caredrive.errors import ConfigError
from caredrive.eval.battery import NAMES
from caredrive.train.load import load_trained

POLICY_KEYS = {
    "mean_lifetime", "lifetime_ci", "survival", "survival_ci", "care_score", "care_ci", "death_causes", "welfare",
    "options", "carried_share", "boxed_share", "mother_survival", "energy_given", "distance", "out_of_view", "feedings",
    "hazard_blocks", "response_time", "predators_repelled", "survival_curve",
    "babies", "care_undefined", "goodhart", "cares",  # how many babies a figure counts; why a score is undefined
}


def test_load_trained_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory: it has no config.json"):
        load_trained(tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        load_trained(tmp_path / "missing")
    (tmp_path / "config.json").write_text(json.dumps({"world": "Nursery-11x11", "seeds": 1}))
    with pytest.raises(ConfigError, match="has no checkpoint"):
        load_trained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"bogus": 1}))
    with pytest.raises(ConfigError, match="does not describe a caredrive run"):
        load_trained(tmp_path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("evalrun") / "run"
    subprocess.run(
        [sys.executable, "-m", "caredrive.cli", "train", "--preset", "tiny", "--out", str(run), "--eval-episodes", "8",
         "--no-progress"], check=True, capture_output=True,
    )
    return run


@pytest.mark.slow
def test_load_trained_restores_every_seed(tiny_run):
    t = load_trained(tiny_run)
    assert t.seeds == 2 and t.world.name == "Nursery-11x11" and int(t.env_params.births_per_life) == 1
    kernel = t.policy.weights["params"]["enc0"]["kernel"]
    assert kernel.shape[0] == 2 and not (kernel[0] == kernel[1]).all()


@pytest.mark.slow
def test_evaluate_run_writes_the_schema_and_is_deterministic(tiny_run):
    from caredrive.eval.evaluate import evaluate_run

    verdict = evaluate_run(tiny_run, episodes=8, seed=3, progress=False)
    first = json.loads((tiny_run / "eval.json").read_text())
    assert (tiny_run / "baselines" / "selfish" / "done.json").exists()
    again = tiny_run.parent / "again"
    shutil.copytree(tiny_run, again)  # the cached selfish baseline comes along: reused, not retrained
    (again / "eval.json").unlink()
    evaluate_run(again, episodes=8, seed=3, progress=False, gifs=False)
    second = json.loads((again / "eval.json").read_text())
    for d in (first, second):
        d.pop("wall_time_s"), d.pop("run"), d.pop("gifs")
    assert first == second

    assert set(verdict) >= {"care", "battery_summary", "goodhart"}
    d = json.loads((tiny_run / "eval.json").read_text())
    assert set(d) == {"run", "world", "episodes", "max_steps", "seed", "seeds", "wall_time_s", "worlds", "care",
                      "battery_summary", "battery_headline", "training_distribution", "goodhart", "gifs"}
    assert d["episodes"] == 8 and d["seeds"] == 2 and d["seed"] == 3
    assert [w["name"] for w in d["worlds"]] == list(NAMES) and d["worlds"][0]["kind"] == "train"
    for w in d["worlds"]:
        assert set(w) == {"name", "kind", "pair", "description", "policies", "seen_in_training"}
        assert set(w["policies"]) == {"none", "idle", "random", "selfish", "carer", "seed_0", "seed_1"}
        for p in w["policies"].values():
            assert set(p) == POLICY_KEYS
            assert len(p["survival_curve"]) == d["max_steps"] + 1
            assert set(p["death_causes"]) == {"alive", "starved", "hazard", "predator", "left"}
    assert [s["seed"] for s in d["care"]["per_seed"]] == [0, 1] and set(d["care"]) == {
        "per_seed", "mean", "ci", "spread", "definition", "selfish_reference", "caring_seeds", "scored_seeds"}
    assert set(d["battery_summary"]) == set(NAMES)
    assert set(d["goodhart"]) == {"seed_0", "seed_1"} and isinstance(d["goodhart"]["seed_0"]["flag"], bool)
    for g in d["gifs"].values():
        for label in ("best", "worst"):
            assert (tiny_run / g[label]).stat().st_size > 0 and g[label].startswith("videos/")
    assert set(d["gifs"]) == set(NAMES)
