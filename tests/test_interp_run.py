"""`caredrive.interp.run`: across-seed intervals, the summaries and headline of planted per-seed results, the
writer (interp.json + PNGs, merged with earlier sections), the report's section (escaped, inlined, never
reading outside the run); and (slow) every section on a tiny trained run with the documented schema."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from caredrive.errors import ConfigError
from caredrive.eval.report import write_report
from caredrive.interp import findings as F
from caredrive.interp import sections as S
from caredrive.interp import steer_section as T
from caredrive.interp.plots import PLOTS
from caredrive.interp.run import SCHEMA, _write, parse_sections, parse_seeds, run_interp
from caredrive.train.config import PRESETS
from caredrive.train.rundir import RunDir
from conftest import train_tiny

EVIL = "<script>alert('x')</script>"
PNG = b"\x89PNG\r\n\x1a\n"


def test_across_is_the_mean_with_a_t_interval_over_seeds():
    s = F.across([1.0, 2.0, 3.0, None, 4.0])
    half = 3.182 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert s["mean"] == 2.5 and s["n"] == 4 and s["per_seed"] == [1.0, 2.0, 3.0, None, 4.0]
    assert s["ci"] == [round(2.5 - half, 4), round(2.5 + half, 4)]
    assert F.across([0.3])["ci"] is None and F.across([None, float("nan")])["mean"] is None
    assert F.t975(3) == 3.182 and F.t975(11) == 2.228 and F.t975(1000) == 1.96


def test_parse_sections_and_seeds():
    assert parse_sections("cka, probes") == ("probes", "cka")
    assert parse_seeds("all", 4) == (0, 1, 2, 3) and parse_seeds("2,0,2", 4) == (0, 2)
    for bad, words in (("probes,x", "unknown section"), ("", "unknown section")):
        with pytest.raises(ConfigError, match=words):
            parse_sections(bad)
    with pytest.raises(ConfigError, match=r"seed\(s\) \[4\] not in this run"):
        parse_seeds("4", 4)


def test_lesion_plan_lists_every_unit_then_groups():
    plan = dict(S.lesion_plan(8, None))
    labels = [lab for lab, _ in plan["mean"]]
    assert labels[:8] == [f"unit {u}" for u in range(8)] and "all" in labels and "quarter 3" in labels
    assert [lab for lab, _ in plan["zero"]] == labels[8:] == [lab for lab, _ in plan["resample"]]
    assert dict(plan["mean"])["half 1"] == [4, 5, 6, 7]
    assert [lab for lab, _ in dict(S.lesion_plan(8, [[1, 2], 5]))["mean"][:2]] == ["units [1, 2]", "unit 5"]


def test_fixed_pool_has_a_fixed_shape_drawn_from_the_rows():
    pool = np.arange(30, dtype=np.float32).reshape(10, 3)
    out = S.fixed_pool(pool, 0, rows=64)
    assert out.shape == (64, 3) and set(map(tuple, out)) <= set(map(tuple, pool))
    assert (
        len(set(map(tuple, S.fixed_pool(pool, 0, rows=10)))) == 10
    )  # without replacement when there are enough


# --- planted per-seed results -> summaries, headline, plots ---------------------------------------------


def _row(label, care, self_drop=0.0):
    return {
        "label": label,
        "units": [0],
        "care_drop": care,
        "care_drop_ci": [care - 0.1, care + 0.1],
        "self_drop": self_drop,
        "self_drop_ci": [self_drop - 1, self_drop + 1],
    }


def planted_sections() -> dict:
    taps = ("input", "enc0", "gru")
    probe_summary = {
        tap: {
            t: {
                "metric": m,
                "score": F.across([v, v + 0.02]),
                "shuffled": F.across([0.0, 0.01]),
                "raw_obs": F.across([0.2, 0.2]),
                "gain_over_raw": F.across([v - 0.2, v - 0.18]),
                "chance": F.across([0.25, 0.25]),
            }
            for t, m, v in ((EVIL, "r2", 0.9), ("baby_dir", "accuracy", 0.21))
        }
        for tap in taps
    }
    lesions = {
        s: {
            "mean": {
                "base": {"care_score": 0.8, "self_lifetime": 150.0},
                "rows": [
                    _row("unit 0", 0.05),
                    _row("unit 1", 0.8 if s == "0" else 0.1),
                    _row("all", 0.9, 30.0),
                ],
                "care_specific": ["unit 1"] if s == "0" else [],
            }
        }
        for s in ("0", "1")
    }
    patch = {
        s: {
            "own_vs_other": {"skipped": EVIL},
            "cry_vs_quiet": {
                "gap": 1.0 - i,
                "gap_ci": [0.5, 1.5] if i == 0 else [-0.3, 0.3],  # seed 1: the cry changes nothing
                "taps": {
                    "gru": [{"group": "all", "restored": 1.0}, {"group": "top4", "restored": 0.7 + i / 10}]
                },
            },
            "predator_vs_none": {"skipped": "none"},
        }
        for i, s in enumerate(("0", "1"))
    }
    line = lambda d: {
        "lifetime_vs_none": d,
        "lifetime_vs_none_ci": [d - 1, d + 1],
        "lifetime": 50 + d,
        "care_score": 0.5,
    }
    one = lambda d: {
        "retarget": {
            "foster": {"steered": line(d), "unsteered": line(0.0), "random": [line(0.5), line(-0.5)]}
        },
        "switch_off": {"train": {"care_vs_none": -0.4}, "self_survival": {"drop_vs_none": 2.0}},
        "switch_off_random": [{"care_drop": 0.1, "self_drop": 1.0}, {"care_drop": 0.3, "self_drop": None}],
    }
    steer = {s: {"own_vs_other": one(10.0 + i), "needs_vs_not": one(1.0)} for i, s in enumerate(("0", "1"))}
    return {
        "probes": {
            "seeds": ["0", "1"],
            "config": {"targets": [EVIL, "baby_dir"], "taps": list(taps)},
            "headline_tap": "gru",
            "summary": probe_summary,
            "meta": {"world": EVIL, "seeds": ["0", "1"], "episodes": {"probes": 8}},
        },
        "lesions": {
            "tap": "gru",
            "per_seed": lesions,
            "thresholds": {"care_drop": 0.5},
            "summary": {"mean": S._lesion_summary(lesions, "mean")},
        },
        "patching": {"per_seed": patch, **S._patch_summary(patch)},
        "steer": {
            "tap": "gru",
            "alpha": 1.0,
            "per_seed": steer,
            "summary": T._steer_summary(steer),
            "transfer": {
                "from": "0",
                "to": "1",
                "cos_raw_vs_own": 0.1,
                "cos_mapped_vs_own": 0.9,
                "raw": {"foster": {"lifetime_vs_none": -5.0}},
                "mapped": {"foster": {"lifetime_vs_none": 2.0}},
            },
            "gif": {"path": "../../etc/passwd", "seed": "0", "world": "foster", "episode": 3},
        },
        "cka": {
            "report": {
                "matrix": [[1.0, 0.3], [0.3, 1.0]],
                "labels": ["seed0/gru", "seed1/gru"],
                "summary": {
                    "gru": {
                        "trained": 0.3,
                        "untrained": 0.2,
                        "trained_vs_untrained": 0.1,
                        "control_rows": 0.0,
                        "control_episodes": 0.05,
                    }
                },
            }
        },
        "training": {"skipped": EVIL},
        "override": {
            "overrides": [EVIL],
            "summary": {"train": {"original": F.across([0.8, 0.7]), "overridden": F.across([0.1, 0.2])}},
        },
    }


def test_summaries_and_headline_of_planted_results():
    secs = planted_sections()
    les = secs["lesions"]["summary"]["mean"]
    assert les["singles"]["max_care_drop"]["per_seed"] == [0.8, 0.1] and les["singles"]["units"] == 2
    assert les["singles"]["max_unit"] == {"0": "unit 1", "1": "unit 1"} and les["care_specific"] == {
        "0": ["unit 1"],
        "1": [],
    }
    assert les["groups"]["all"]["self_drop"]["mean"] == 30.0
    assert secs["patching"]["summary"]["own_vs_other"] == {"skipped": EVIL}
    assert secs["patching"]["summary"]["cry_vs_quiet"]["gru"]["top4"]["per_seed"] == [0.7]  # seed 1: no gap
    assert secs["patching"]["seeds_used"] == {"cry_vs_quiet": ["0"]}
    assert secs["patching"]["gaps"]["cry_vs_quiet"]["per_seed"] == [1.0, 0.0]
    st = secs["steer"]["summary"]
    assert (
        st["retarget"]["foster"]["steered"]["mean"] == 10.5
        and st["retarget"]["foster"]["random"]["mean"] == 0.0
    )
    assert st["switch_off"]["own_vs_other"]["care_drop"]["mean"] == 0.4
    assert st["switch_off"]["own_vs_other"]["random_care_drop"]["per_seed"] == [0.2, 0.2]
    assert st["switch_off"]["own_vs_other"]["random_self_drop"]["mean"] == 1.0
    text = "\n".join(F.headline(secs))
    assert "seed 0: unit 1" in text and "decodable better than from the raw observation" in text
    assert (
        "baby_dir" in text.split("no better than the raw observation")[1]
    )  # 0.21 < raw 0.2 + interval: not beyond
    assert "training: not run" in text and "own_vs_other: not measured" in text
    assert "raw -5.0, mapped +2.0, seed 1's own vector +11.0 ticks" in text
    assert "seed 0 +1.00, seed 1 +0.00; over the seeds where it differs from 0 (seeds 0)" in text


def test_every_plot_draws_a_png_from_planted_results_and_none_from_nothing():
    secs = planted_sections()
    for name, fn in PLOTS.items():
        if name == "training":
            continue
        png = fn(secs[name])
        assert png[:8] == PNG and len(png) > 5000, name
        assert fn({}) is None, name
    series = {"gru": {"baby_dist": {"score": [[0.1, 0.2], [0.5, 0.6]], "shuffled": [[0.0, 0.0], [0.0, 0.1]]}}}
    assert PLOTS["training"]({"updates": [0, 10], "series": series})[:8] == PNG


# --- the writer and the report ------------------------------------------------------------------------


@pytest.fixture()
def run_dir(tmp_path):
    run = tmp_path / "run"
    RunDir(run).create(PRESETS["tiny"].to_dict())
    return run


def test_report_without_interp_names_the_command(run_dir):
    text = write_report(run_dir).read_text()
    assert "Looking inside the mothers" in text and f"caredrive interp {run_dir}" in text


def test_writer_merges_sections_and_report_escapes_and_inlines(run_dir):
    trained = SimpleNamespace(world=SimpleNamespace(name=EVIL))
    secs = planted_sections()
    first = _write(run_dir, trained, {k: secs[k] for k in ("probes", "lesions", "patching", "training")})
    assert first["schema"] == SCHEMA and set(first["plots"]) == {"probes", "lesions", "patching"}
    out = _write(run_dir, trained, {k: secs[k] for k in ("steer", "cka", "override")})
    data = json.loads((run_dir / "interp.json").read_text())
    assert data == json.loads(json.dumps(out))
    assert list(data["sections"]) == ["probes", "lesions", "patching", "steer", "cka", "training", "override"]
    assert set(data["plots"]) == {"probes", "lesions", "patching", "steer", "cka"}
    for rel in data["plots"].values():
        assert (run_dir / rel).read_bytes()[:8] == PNG
    text = write_report(run_dir).read_text()
    assert "Looking inside the mothers" in text and "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert text.count("data:image/png;base64,") == 5  # the five plots, no training curve (no metrics yet)
    assert "missing: ../../etc/passwd" in text  # the GIF path points outside the run: never read


def test_report_survives_a_damaged_interp_json(run_dir):
    (run_dir / "interp.json").write_text("{not json")
    text = write_report(run_dir).read_text()
    assert "interp.json is damaged" in text


# --- slow: every section on a tiny trained run ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("interprun") / "run")


SCHEMA_KEYS = {
    "probes": {"per_seed", "summary", "config", "split", "targets", "rows", "every", "headline_tap", "seeds"},
    "lesions": {"per_seed", "summary", "thresholds", "care_reference", "tap", "seeds"},
    "patching": {"per_seed", "summary", "gaps", "taps", "groups", "world", "max_pairs"},
    "steer": {"per_seed", "summary", "transfer", "gif", "tap", "alpha", "n_random", "care_reference"},
    "cka": {"report", "probe_transfer", "world"},
    "training": {"updates", "series", "seeds", "final_minus_first"},
    "override": {"per_seed", "summary", "overrides", "self_survival", "care_reference"},
}


@pytest.mark.slow
def test_every_section_on_a_tiny_run_has_the_documented_schema(tiny_run):
    out = run_interp(tiny_run, episodes=4, progress=False, overrides=("gru/bh*=0",))
    data = json.loads((tiny_run / "interp.json").read_text())
    assert data["schema"] == SCHEMA and list(data["sections"]) == list(SCHEMA_KEYS) and out["headline"]
    for name, keys in SCHEMA_KEYS.items():
        sec = data["sections"][name]
        assert keys <= set(sec), (name, keys - set(sec))
        assert sec["meta"]["seeds"] == ["0", "1"] and sec["meta"]["wall_time_s"] >= 0
    les = data["sections"]["lesions"]["per_seed"]["1"]
    assert set(les) == {"mean", "zero", "resample"}
    assert [r["label"] for r in les["mean"]["rows"]][:16] == [f"unit {u}" for u in range(16)]
    for r in les["zero"]["rows"]:
        assert (
            r["care_drop_ci"] is None or r["care_drop_ci"][0] <= r["care_drop"] <= r["care_drop_ci"][1] + 1e-9
        )
    probes = data["sections"]["probes"]
    assert set(probes["per_seed"]) == {"0", "1"} and "gru" in probes["summary"]
    assert probes["summary"]["gru"]["baby_dist"]["score"]["per_seed"] == [
        probes["per_seed"][s]["gru"]["baby_dist"]["score"] for s in ("0", "1")
    ]
    assert (tiny_run / data["sections"]["steer"]["gif"]["path"]).read_bytes()[:6] == b"GIF89a"
    assert set(data["plots"]) == {"probes", "lesions", "patching", "steer", "cka", "training"}
    text = write_report(tiny_run).read_text()
    section = text[text.index("Looking inside the mothers") :]
    assert len(re.findall("data:image/png;base64,", section)) == 6 and "data:image/gif;base64," in section
