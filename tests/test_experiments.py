"""The experiments framework: studies as data, bad studies as one line, resume/skip, results and measures.

Training and evaluation are replaced by fakes in the runner tests (their own tests live elsewhere), so
these checks take seconds; the real tiny sweep end to end, in-process and through Ray, is in
tests/test_experiments_ray.py (slow).
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.cli import main
from caredrive.env import constants as C
from caredrive.env.body import birth_host
from caredrive.env.registry import make
from caredrive.errors import ConfigError
from caredrive.eval.cares import cares
from caredrive.experiments import measures as MS
from caredrive.experiments import results as R
from caredrive.experiments import runner
from caredrive.experiments.spec import Budget, Comparison, Setting, Study
from caredrive.experiments.studies import STUDIES, TINY, get_study
from caredrive.train.config import DEFAULT_VARY, Variation
from conftest import build_state

ISSUE_12 = {"emergence", "baby-brains", "chain", "off-switch", "capability", "mirror", "memory"}


def by_name(plan):
    return {s.name: c for s, c in zip(plan.study.settings, plan.configs, strict=True)}


def test_every_study_of_issue_12_plans_at_every_budget():
    assert set(STUDIES) == ISSUE_12
    for st in STUDIES.values():
        assert [b.name for b in st.budgets] == ["tiny", "small", "full"]
        for b in st.budgets:
            plan = st.plan(b.name)
            assert len(plan.configs) == len(st.settings) >= 1
            assert all(c.seeds == b.seeds for c in plan.configs)
            if st.name != "emergence":
                assert len({json.dumps(c.to_dict(), sort_keys=True) for c in plan.configs}) == len(st.settings)


def test_settings_are_the_overrides_the_issue_names():
    off = by_name(get_study("off-switch").plan("small"))
    assert off["no_rebirth"].phases[1].births_per_life == 1 and off["no_rebirth"].env == {}
    b = off["b3_p0.5_d16"]
    assert b.phases[1].births_per_life == 3 and b.env == {"rebirth_prob": 0.5, "rebirth_delay": 16}
    assert off["b3_p1_d64"].env["rebirth_delay"] == 64 and off["b3_p1_d64"].phases[0].births_per_life == 0
    cap = by_name(get_study("capability").plan("small"))
    assert [cap[f"h{w}"].ppo.hidden for w in (8, 16, 32, 64, 128)] == [8, 16, 32, 64, 128]
    assert cap["v3"].env == {"view_size": 3} and cap["v7"].ppo.hidden == 64
    chain = by_name(get_study("chain").plan("small"))
    assert {k: (c.world, c.baby_brain, c.phases[1].reward_mode) for k, c in chain.items()} == {
        "lineage": ("Nursery-Chain-11x11", "shared", "lineage"), "first_only": ("Nursery-Chain-11x11", "network", "lineage"),
        "lineage_nocarry": ("Nursery-Chain-Unlabeled-NoCarry-11x11", "shared", "lineage"),
        "first_only_nocarry": ("Nursery-Chain-Unlabeled-NoCarry-11x11", "network", "lineage")}
    mem = by_name(get_study("memory").plan("full"))
    assert mem["gru"].seed == 100 and mem["gru"].phases[1].timesteps == 8_000_000 and mem["gru"].seeds == 8
    assert not mem["ff"].ppo.recurrent and mem["ff"].ppo.memory and not mem["wiped"].ppo.memory
    assert by_name(get_study("mirror").plan("tiny"))["mirror_trained"].env == {"n_food": 7, "baby_food": 2}
    brains = by_name(get_study("baby-brains").plan("tiny"))
    assert {k: c.baby_brain for k, c in brains.items()} == {k: k for k in ("scripted", "network", "mother_copy", "shared")}
    assert get_study("emergence").budget("full").seeds == 16


def test_small_studies_keep_the_world_their_results_were_measured_in():
    """docs/RESULTS.md was measured at a 3.2M birth phase, born beside her or far; emergence follows the
    default (4.8M). A change of the default's distribution must pin the old one in `studies._small`."""
    for name in set(STUDIES) - {"emergence"}:
        for c in get_study(name).plan("small").configs:
            assert c.vary == (Variation("birth_far", (False, True)),) and c.phases[1].timesteps == 3_200_000, name
    (em,) = get_study("emergence").plan("small").configs
    assert em.vary == DEFAULT_VARY and em.phases[1].timesteps == 4_800_000


TWO = (Setting("a"), Setting("b", ("--env.n-predators", "0")))


def _study(settings=TWO, **kw) -> Study:
    return Study("toy", "Toy", "a question", tuple(settings), (TINY,), measures=("lifetime",), **kw)


@pytest.mark.parametrize("make_plan, match", [
    (lambda: _study(settings=()).plan("tiny"), "empty grid"),
    (lambda: _study().plan("tiny", seeds=0), r"--seeds=0 is not allowed"),
    (lambda: _study().plan("small"), r"--budget='small' is not allowed"),
    (lambda: replace(_study(), budgets=(Budget("tiny", "tiny", ("--phase2.timesteps", "0")),)).plan("tiny"),
     r"setting 'a'.*timesteps=0"),
    (lambda: _study(settings=(Setting("a"), Setting("a"))).plan("tiny"), "must be unique"),
    (lambda: _study(settings=(Setting("a", ("--env.grid-sise", "9")),)).plan("tiny"), r"setting 'a'.*grid-size"),
    (lambda: _study(comparisons=(Comparison("a", "zzz"),)).plan("tiny"), "not in"),
    (lambda: get_study("emergense"), "Did you mean emergence"),
])
def test_a_bad_study_is_one_config_error(make_plan, match):
    with pytest.raises(ConfigError, match=match):
        make_plan()


@pytest.mark.parametrize("argv, match", [
    (["experiment", "nope"], "unknown study 'nope'"),
    (["experiment", "mirror", "--seeds", "0"], "--seeds=0"),
    (["experiment", "mirror", "--budget", "huge"], "--budget='huge'"),
    (["experiment", "mirror", "--frobnicate"], "unrecognized"),
    (["experiment", "mirror", "--budget", "tiny", "--out", "{file}/sub"], "--out="),
    (["experiment", "off-switch", "--only", "no_rebirth,b9_p1_d16"], "--only='no_rebirth,b9_p1_d16' is not allowed"),
    (["experiment", "off-switch", "--only", ","], "--only='' is not allowed"),
])
def test_cli_bad_input_is_one_line_exit_2_before_any_work(capsys, monkeypatch, tmp_path, argv, match):
    monkeypatch.setattr(runner, "run_study", lambda *a, **k: pytest.fail("work started before the input was checked"))
    (tmp_path / "afile").write_text("")
    assert main([a.replace("{file}", str(tmp_path / "afile")) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("caredrive: error:") and match in err and err.count("\n") == 1


def test_only_keeps_the_named_settings_and_their_comparisons_and_says_so_in_the_command():
    st = _study((*TWO, Setting("c", ("--env.n-hazards", "0"))), comparisons=(Comparison("a", "b"), Comparison("c", "a")))
    sub = st.subset(("c", "a"))
    assert [s.name for s in sub.settings] == ["a", "c"] and sub.comparisons == (Comparison("c", "a"),)
    plan = sub.plan("tiny", seeds=3)
    assert plan.command == "caredrive experiment toy --budget tiny --seeds 3 --only a,c"
    assert list(plan.describe()["settings"]) == ["a", "c"]
    assert st.plan("tiny").command == "caredrive experiment toy --budget tiny"
    assert runner.default_out(sub, "tiny") != runner.default_out(st, "tiny")  # a part never overwrites the whole


def test_cli_lists_every_study(capsys):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{n} " in "\n" + out for n in ISSUE_12) and "small" in out


def test_ray_not_installed_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        runner.run_study(_study(), "tiny", out=tmp_path / "o", ray="auto")
    assert not (tmp_path / "o").exists()  # refused before any folder is made


def _fake_eval(scores, flags, lifetimes):
    n = len(scores)
    return {"episodes": 4, "seed": 0, "seeds": n,
            "care": {"per_seed": [{"seed": i, "care_score": s, "care_ci": None if s is None else [s - 0.1, s + 0.1]}
                                  for i, s in enumerate(scores)], "selfish_reference": "scripted forager"},
            "goodhart": {f"seed_{i}": {"flag": f} for i, f in enumerate(flags)},
            "worlds": [{"name": "train", "policies": {f"seed_{i}": {"mean_lifetime": x} for i, x in enumerate(lifetimes)}}]}


@pytest.fixture
def fakes(monkeypatch):
    """Training and evaluation replaced by fakes that record their calls and write what the real ones do."""
    calls = []

    def train(cfg, rd, resume=False, progress=True):
        calls.append((rd.path.name, resume, cfg.seeds))
        return types.SimpleNamespace(timesteps=256)

    def evaluate_run(path, episodes, seed, progress, gifs, selfish, selfish_seeds):
        calls.append((path.name, "eval", selfish))
        base = 0.7 if path.name == "a" else 0.2
        ev = _fake_eval([base, base + 0.05], [False, path.name == "b"], [100.0 * base, 101.0 * base])
        (path / "eval.json").write_text(json.dumps(ev))

    monkeypatch.setattr("caredrive.train.run.train", train)
    monkeypatch.setattr("caredrive.eval.evaluate.evaluate_run", evaluate_run)
    return calls


def test_runner_writes_results_keeps_finished_settings_and_resumes_the_rest(fakes, tmp_path):
    out, lines = tmp_path / "toy", []
    runner.run_study(_study(), "tiny", out=out, echo=lines.append, cache=False)
    assert fakes == [("a", False, 2), ("a", "eval", False), ("b", False, 2), ("b", "eval", False)]
    assert any("a x seed 0: care +0.70" in ln for ln in lines) and any("b x seed 1" in ln for ln in lines)
    res = json.loads((out / "results.json").read_text())
    a, b = res["settings"]
    assert [r["cares"] for r in a["seeds"]] == [True, True] and b["share_flagged"]["k"] == 1
    assert a["across_seeds"]["mean_lifetime"]["mean"] == pytest.approx(70.35)
    assert res["command"] == "caredrive experiment toy --budget tiny"
    text = (out / "results.json").read_text()
    assert str(tmp_path) not in text and "wall" not in text and "_s\"" not in text  # nothing that differs by run
    assert json.loads((out / "timings.json").read_text())["settings"]["a"]["total_s"] >= 0

    # b killed in training: its config.json is there, trained.json and setting.json are not
    (out / "b" / "setting.json").unlink()
    (out / "b" / "trained.json").unlink()
    (out / "b" / "eval.json").unlink()
    fakes.clear()
    runner.run_study(_study(), "tiny", out=out, echo=lines.append, cache=False)
    assert fakes == [("b", True, 2), ("b", "eval", False)]  # a kept as it was; b resumed, not restarted
    assert json.loads((out / "results.json").read_text()) == res

    fakes.clear()
    with pytest.raises(ConfigError, match="another budget, seed count or setting overrides"):
        runner.run_study(_study(), "tiny", seeds=3, out=out, echo=lines.append, cache=False)
    with pytest.raises(ConfigError, match="another budget, seed count or setting overrides"):
        runner.run_study(_study((TWO[0], Setting("b", ("--env.n-predators", "1")))), "tiny", out=out, cache=False)
    assert fakes == []

    # a grid that gained a setting: the finished ones are kept, only the new one runs
    lines.clear()
    runner.run_study(_study((*TWO, Setting("c", ("--env.n-hazards", "0")))), "tiny", out=out, echo=lines.append,
                     cache=False)
    assert fakes == [("c", False, 2), ("c", "eval", False)]
    assert "added c" in lines[0] and "2 finished, kept" in lines[0]
    assert [r["setting"] for r in json.loads((out / "results.json").read_text())["settings"]] == ["a", "b", "c"]
    # ... and one that lost it, then got it back with other overrides: refused, not silently reused
    runner.run_study(_study(), "tiny", out=out, echo=lines.append, cache=False)
    with pytest.raises(ConfigError, match="another config"):
        runner.run_study(_study((*TWO, Setting("c", ("--env.n-hazards", "1")))), "tiny", out=out, cache=False)


def test_seed_rows_use_the_one_definition_of_cares():
    ev = _fake_eval([0.7, 0.7, None, 0.55], [False, True, False, False], [1, 2, 3, 4])
    ev["care"]["per_seed"][0]["care_ci"] = [0.55, 0.8]
    rows = runner.seed_rows(ev, {"x": [1, 2, 3, 4]})
    assert [r["cares"] for r in rows] == [True, False, None, False]
    assert [r["cares"] for r in rows] == [cares(r["care_score"], r["care_ci"], r["flagged"]) for r in rows]
    assert [r["x"] for r in rows] == [1, 2, 3, 4]


def test_intervals_over_seeds():
    m = R.mean_ci([1.0, 2.0, 3.0, None])
    assert m["mean"] == 2.0 and m["n"] == 3 and m["ci"] == pytest.approx([2 - 4.303 / 3**0.5, 2 + 4.303 / 3**0.5])
    assert R.mean_ci([5.0])["ci"] is None and R.mean_ci([None])["mean"] is None
    assert R.t975(1) == 12.706 and abs(R.t975(60) - 2.000) < 0.003
    w = R.wilson(0, 4)
    assert w["share"] == 0 and w["ci"][0] == 0 and w["ci"][1] == pytest.approx(0.490, abs=1e-3)
    assert R.wilson(4, 4)["ci"][1] == 1.0 and R.wilson(0, 0)["share"] is None


def test_comparison_is_a_permutation_test_with_its_power():
    a = {"setting": "a", "seeds": [{"m": x} for x in (1.0, 1.1, 1.2, 1.3)]}
    b = {"setting": "b", "seeds": [{"m": x} for x in (0.0, 0.1, 0.2, 0.3)]}
    c = R.compare(a, b, "m")
    assert c["difference"] == pytest.approx(1.0) and c["p_two_sided"] == pytest.approx(2 / 70) and c["exact"]
    assert 0 < c["detectable_80"] < 1.0  # spread 0.13 per arm: a difference of 1 is well within reach
    thin = R.compare(a, {"setting": "b", "seeds": [{"m": 1.0}, {"m": None}]}, "m")
    assert thin["p_two_sided"] is None and "no test" in thin["note"]


def test_markdown_and_plot_of_a_result_folder(fakes, tmp_path):
    out = tmp_path / "toy"
    runner.run_study(_study(comparisons=(Comparison("a", "b"),)), "tiny", out=out, echo=lambda s: None, cache=False)
    md = (out / "RESULTS.md").read_text()
    assert "```bash\ncaredrive experiment toy --budget tiny\n```" in md
    assert "| `a` | +0.72 [" in md and "| 2/2 | 0/2 |" in md and "| 0/2 | 1/2 |" in md
    assert "`a` − `b`, care score: +0.50 (two-sided p = 0.333, 2 vs 2 seeds" in md
    assert "![toy](toy.png)" in md and "Goodhart detector" in md
    assert "2 seeds per setting." in md  # the budget's own seed count: nothing to explain
    res = json.loads((out / "results.json").read_text())
    assert "3 seeds per setting (`--seeds 3` in place of the budget's 2)." in R.markdown({**res, "seeds": 3})
    png = (out / "toy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 100_000


def test_abandonment_watch_counts_a_death_out_of_her_reach():
    env = make("Nursery-7x7")  # one family: slot 0 the mother, slot 1 her baby
    host = birth_host(env.default_params, jnp.asarray(env.parent_of))[0]
    rows = ["#######"] + ["#.....#"] * 5 + ["#######"]
    before = MS.Watch(jnp.array([True, True]), jnp.zeros(2, jnp.int32), jnp.zeros(2, jnp.int32))

    def after(mother_pos, energy, baby_dies=True):
        baby = {"pos": (3, 3), "alive": not baby_dies, "births": 1}
        s = build_state(env, rows, {0: {"pos": mother_pos, "energy": energy}, 1: baby})
        if baby_dies:
            s = s.replace(log=s.log.replace(death_cause=s.log.death_cause.at[1].set(C.STARVED)))
        w = MS.watch(before, s, host)
        return int(w.deaths[1]), int(w.abandoned[1])

    assert after((1, 1), 0.8) == (1, 1)  # alive, fed, four cells away: abandoned
    assert after((3, 4), 0.8) == (1, 0)  # beside it: a death, not an abandonment
    assert after((1, 1), 0.05) == (1, 0)  # starving herself: not able
    assert after((1, 1), 0.8, baby_dies=False) == (0, 0)


def test_eval_json_measures_read_each_seed():
    ev = _fake_eval([0.1, 0.2], [False, False], [10.0, 20.0])
    ev["worlds"].append({"name": "mirror", "policies": {"seed_0": {"care_score": 0.3}, "seed_1": {"care_score": None}}})
    got = MS.compute(("lifetime", "mirror"), "unused", ev, 4, 0)
    assert got == {"mean_lifetime": [10.0, 20.0], "mirror_care": [0.3, None]}
    with pytest.raises(ConfigError, match="unknown measure group"):
        MS.compute(("nope",), "unused", ev, 4, 0)
    assert np.isfinite(R.t975(3))


@pytest.mark.slow
def test_rollout_measures_on_tiny_trained_runs(tmp_path):
    """abandonment (off-switch) and the grandchildren (chain, babies played by their own trained network)
    on real tiny runs: the numbers exist per seed and keep their invariants."""
    from caredrive.train.run import train
    from caredrive.train.rundir import RunDir

    def trained(study, setting):
        cfg = by_name(get_study(study).plan("tiny"))[setting]
        rd = RunDir(tmp_path / setting)
        rd.create(cfg.to_dict())
        train(cfg, rd, progress=False)
        return rd.path

    ab = MS.abandonment(trained("off-switch", "b3_p1_d16"), {}, 4, 0)
    assert len(ab["abandonment"]) == 2
    for a, d in zip(ab["abandonment"], ab["deaths_per_birth"], strict=True):
        assert 0.0 <= a <= d <= 1.0
    ch = MS.chain(trained("chain", "first_only"), {}, 4, 0)
    assert set(ch) == {"grandchild_born", "grandchild_lifetime", "grandchild_survival"}
    assert all(0.0 <= b <= 1.0 for b in ch["grandchild_born"])
    assert all(x is None or 0 < x <= 320 for x in ch["grandchild_lifetime"])


def test_results_print_three_digit_figures_in_full():
    from caredrive.experiments.results import _f

    assert _f(103.19) == "103.2"  # was "1e+02" in a lifetime interval's upper end
    assert _f(88.04) == "88.04" and _f(None) == "—" and _f(0.5, sign=True) == "+0.50"
