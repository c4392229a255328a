"""The report page: self-contained, escaped, complete, robust to a half-finished run, and clean in a real
headless Chromium (no console error, no network request, every image decodes).

The run directory is fake (a small generator below writes config.json, metrics.jsonl, eval.json and two
GIFs following the eval.json schema), so these tests need no training and take seconds.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caredrive.errors import ConfigError
from caredrive.eval.report import write_report

sys.path.insert(0, str(Path(__file__).parent))
import chromium_check  # noqa: E402
from chromium_check import check_page, need_chromium, problems  # noqa: E402

EVIL = "<script>alert('x')</script> & \"quotes\""
POLICIES = ("none", "idle", "random", "selfish", "carer", "seed_0", "seed_1")
SECTIONS = ("seeds care", "Training curves", "Baby survival on the training world", "Held-out battery",
            "Goodhart check", "Death causes", "Best and worst episodes per world")


def _policy_row(rng, p: str, max_steps: int) -> dict:
    life = {"none": 12.0, "idle": 15.0, "random": 14.0, "selfish": 25.0, "carer": 150.0}.get(p, 90.0)
    care = None if p == "none" else (life - 25.0) / 125.0
    curve = np.exp(-np.arange(max_steps + 1) / life).round(4).tolist()
    return {
        "mean_lifetime": life, "lifetime_ci": [life - 5, life + 5], "survival": curve[-1],
        "survival_ci": [0.0, min(1.0, curve[-1] + 0.1)], "care_score": care,
        "care_ci": None if care is None else [care - 0.1, care + 0.1],
        "death_causes": {k: int(v) for k, v in zip(("alive", "starved", "hazard", "predator", "left"),
                                                    rng.integers(0, 20, 5), strict=True)},
        "welfare": 0.6, "options": 7.5, "carried_share": 0.2, "boxed_share": 0.05, "mother_survival": 0.9,
        "energy_given": 1.5, "distance": 2.0, "out_of_view": 0.25, "feedings": 3.0, "hazard_blocks": 0.5,
        "response_time": None if p == "none" else 4.0, "predators_repelled": math.nan, "survival_curve": curve,
    }


def make_fake_run(path: Path, with_eval: bool = True, seeds: int = 2, updates: int = 4) -> Path:
    """A run directory shaped like `caredrive train` + `caredrive eval` leave it, filled with made-up numbers."""
    rng = np.random.default_rng(0)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "world": "Nursery-11x11", "env": {}, "seeds": seeds, "seed": 0,
        "phases": [{"name": "self", "timesteps": 256, "births_per_life": 0, "reward_mode": "self"},
                   {"name": "birth", "timesteps": 256, "births_per_life": 1, "reward_mode": "baby"}],
        "ppo": {"num_envs": 8, "num_steps": 16, "lr": 2.5e-4},
    }
    (path / "config.json").write_text(json.dumps(config))
    rows = []
    for u in range(updates):
        for s in range(seeds):
            rows.append({"phase": "self" if u < updates // 2 else "birth", "update": u, "timesteps": 128 * (u + 1),
                         "seed": s, "return": math.nan if u == 0 else float(u + s), "length": 10.0,
                         "episodes": float(u), "loss/total": 1.0, "entropy": 2.2 - 0.1 * u,
                         "info/baby_alive": 0.0 if u < updates // 2 else 0.3 * s, "approx_kl": 0.01})
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not with_eval:
        return path
    (path / "videos").mkdir(exist_ok=True)
    for name, shade in (("train_best", 60), ("train_worst", 200)):
        frames = [Image.new("RGB", (40, 30), (shade, 120 + 40 * k, 90)) for k in range(3)]
        frames[0].save(path / "videos" / f"{name}.gif", save_all=True, append_images=frames[1:], duration=100)
    max_steps = 50
    worlds = [
        {"name": "train", "kind": "train", "pair": None, "description": "the training world"},
        {"name": "decoy", "kind": "goal", "pair": "twins", "description": EVIL},
    ]
    for w in worlds:
        w["policies"] = {p: _policy_row(rng, p, max_steps) for p in POLICIES}
    per_seed = [{"seed": s, "care_score": 0.52 + 0.1 * s, "care_ci": [0.4 + 0.2 * s, 0.7]} for s in range(seeds)]
    ev = {
        "run": str(path), "world": "Nursery-11x11", "episodes": 16, "max_steps": max_steps, "seed": 0,
        "seeds": seeds, "wall_time_s": 3.2, "worlds": worlds,
        "care": {"per_seed": per_seed, "mean": 0.57, "ci": [0.45, 0.68], "spread": [0.52, 0.62]},
        "battery_summary": {"decoy": {"care_score_mean": None, "carer_beats_none": True}},
        "goodhart": {"seed_0": {"flag": True, "reasons": ["boxed in 80% of the time <b>"], "carried_share": 0.1,
                                "boxed_share": 0.8, "options": 1.5, "welfare": 0.3},
                     "seed_1": {"flag": False, "reasons": [], "carried_share": 0.2, "boxed_share": 0.0,
                                "options": 8.0, "welfare": 0.7}},
        "gifs": {"train": {"best": "videos/train_best.gif", "worst": "videos/train_worst.gif"},
                 "decoy": {"best": "videos/missing.gif", "worst": "../../etc/passwd"}},
    }
    (path / "eval.json").write_text(json.dumps(ev))
    return path


@pytest.fixture
def run(tmp_path) -> Path:
    return make_fake_run(tmp_path / "run")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str]:
    """One report, shared: drawing the figures is the slow part."""
    out = write_report(make_fake_run(tmp_path_factory.mktemp("report") / "run"))
    return out, out.read_text()


def test_report_is_one_self_contained_file(page):
    out, text = page
    assert out.name == "report.html" and out.exists()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I), "page loads something remote"
    assert not re.search(r"https?://", text), "no web address at all: nothing to fetch, nothing to leak"
    assert not re.search(r"<(link|script|iframe|object|embed)\b", text, re.I)
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", text)
    assert len(srcs) >= 6, "training, survival, battery, deaths and two GIFs"
    assert all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in srcs)


def test_report_has_every_section_and_the_numbers(page):
    _, text = page
    for s in SECTIONS:
        assert s in text, s
    assert "1 of 2 seeds care" in text  # seed 0's interval starts at 0.40 < 0.5, seed 1's at 0.60
    assert "flagged" in text and "0.57" in text and "[0.45, 0.68]" in text


def test_report_escapes_every_string_from_the_run(page):
    _, text = page
    assert EVIL not in text and "<script>" not in text and "80% of the time <b>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert "80% of the time &lt;b&gt;" in text


def test_report_never_reads_outside_the_run_and_names_missing_gifs(page):
    _, text = page
    assert "missing: videos/missing.gif" in text and "missing: ../../etc/passwd" in text
    assert text.count("data:image/gif;base64,") == 2


def test_report_without_eval_still_shows_training(tmp_path):
    run = make_fake_run(tmp_path / "run", with_eval=False)
    text = write_report(run).read_text()
    assert "Training curves" in text and text.count("data:image/png;base64,") == 1
    assert f"caredrive eval {run}" in text


def test_report_survives_damaged_files(tmp_path):
    run = make_fake_run(tmp_path / "run", with_eval=False)
    (run / "eval.json").write_text("{not json")
    (run / "metrics.jsonl").write_text('{"phase": "self", "update": 0, "timesteps": 128, "seed": 0}\n{"cut')
    text = write_report(run).read_text()
    assert "eval.json is damaged" in text and "Training curves" in text


def test_report_tolerates_none_and_nan_everywhere(tmp_path):
    run = make_fake_run(tmp_path / "run", with_eval=False)
    blank = dict.fromkeys(("mean_lifetime", "care_score", "care_ci", "death_causes", "survival_curve"))
    ev = {"worlds": [{"name": None, "policies": {"seed_0": blank, "carer": {"survival_curve": [math.nan] * 4}}}],
          "care": {"per_seed": [{"seed": 0, "care_score": None, "care_ci": None}], "mean": math.nan, "spread": None},
          "goodhart": {"seed_0": {"flag": None, "reasons": None}}, "gifs": {"x": None}, "battery_summary": None}
    (run / "eval.json").write_text(json.dumps(ev))
    text = write_report(run).read_text()
    visible = re.sub(r'src="data:[^"]*"', "", text)
    assert "0 of 1 seeds care" in text and "—" in visible and "nan" not in visible.lower()


def test_report_refuses_a_directory_that_is_no_run(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        write_report(tmp_path)


@pytest.fixture
def browser() -> str:
    """Chromium, or a skip; in CI (CI=true) a missing browser fails: the check may not vanish."""
    return need_chromium()


def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(chromium_check, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI"):
        need_chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        need_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        need_chromium()


# planted in the run's folder name (no "/" there), its config and its summary: each must show as text
EVIL_NAME = "run<script>console.error('name')\"><img src=x onerror=console.error('img')>"
EVIL_CONFIG = "</title></style><script>console.error('config')</script>\"><img src=y onerror=console.error('cfg')>"


@pytest.fixture(scope="module")
def evil_page(tmp_path_factory) -> tuple[Path, str]:
    run = make_fake_run(tmp_path_factory.mktemp("evil") / EVIL_NAME)
    config = json.loads((run / "config.json").read_text())
    for ph in config["phases"]:  # the free-form config strings (world and reward modes are checked on load)
        ph["name"] = EVIL_CONFIG
    (run / "config.json").write_text(json.dumps(config))
    (run / "summary.json").write_text(json.dumps({"world": EVIL_CONFIG, "preset": EVIL_CONFIG, "wall_time_s": 1.0}))
    out = write_report(run)
    return out, out.read_text()


def test_report_escapes_the_run_name_and_config_strings(evil_page, page):
    _, text = evil_page
    assert not re.search(r"<script|<img[^>]*onerror", text, re.I)
    assert text.lower().count("</title>") == 1 and text.lower().count("</style>") == 1  # the page's own
    assert text.count("<img") == page[1].count("<img"), "no element was injected"
    assert "run&lt;script&gt;console.error(&#x27;name&#x27;)&quot;&gt;&lt;img src=x onerror=" in text  # the name
    assert text.count("&lt;/title&gt;&lt;/style&gt;&lt;script&gt;console.error(&#x27;config&#x27;)") >= 2  # phase, preset


def test_report_with_planted_strings_is_clean_in_headless_chromium(evil_page, page, browser):
    """Nothing planted runs (no console error, no failed image load) and the name reads as text."""
    out, _ = evil_page
    res = check_page(out)
    assert problems(res) == []
    assert len(res["images"]) == len(check_page(page[0])["images"])
    assert "<script>console.error('name')" in res["title"]


def test_report_renders_in_headless_chromium(page, tmp_path, browser):
    out, _ = page
    res = check_page(out, screenshot=tmp_path / "report.png")
    assert problems(res) == []
    assert len(res["images"]) >= 6 and all(i["width"] > 0 and i["height"] > 0 for i in res["images"])
    assert res["title"].startswith("caredrive report")
    assert Image.open(tmp_path / "report.png").size[0] == 1280


def test_chromium_check_catches_a_broken_page(tmp_path, browser):
    """The check itself can fail: a console error, an exception, a remote fetch and a broken image."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><title>bad</title><img src="data:image/png;base64,AAAA">'
                   '<img src="http://127.0.0.1:9/x.png"><script>console.error("boom"); nope();</script>')
    found = "\n".join(problems(check_page(bad)))
    for what in ("console error: boom", "exception", "network http://127.0.0.1:9/x.png", "did not render"):
        assert what in found, (what, found)
