"""`caredrive compare`: two runs seed by seed, with a permutation test over seeds."""

from __future__ import annotations

import json

import pytest

from caredrive.cli import main
from caredrive.errors import ConfigError
from caredrive.eval.compare import permutation_test


def _run(tmp_path, name, lifetimes, world="Nursery-11x11"):
    d = tmp_path / name
    d.mkdir()
    (d / "summary.json").write_text(json.dumps({"world": world, "seeds": [{"mean_lifetime": x} for x in lifetimes]}))
    return d


def test_separated_arms_are_significant_and_identical_ones_are_not():
    hi, lo = [10.0, 11, 12, 13, 14], [1.0, 2, 3, 4, 5]
    res = permutation_test(hi, lo)
    # exact: only 1 of C(10, 5) = 252 splits puts all five highest in A
    assert res["exact"] and res["p_greater"] == pytest.approx(1 / 252) and res["p_two_sided"] == pytest.approx(2 / 252)
    assert res["u_pairs_a_wins"] == 25 and res["difference"] == pytest.approx(9.0)
    same = permutation_test([1.0, 2, 3], [1.0, 2, 3])
    assert same["p_two_sided"] == pytest.approx(1.0) and same["u_pairs_a_wins"] == 4.5
    assert permutation_test(lo, hi)["p_greater"] == pytest.approx(1.0)


def test_cli_prints_both_arms_and_the_test(tmp_path, capsys):
    a, b = _run(tmp_path, "a", [98.6, 99.1, 97.0]), _run(tmp_path, "b", [91.0, 90.5, 92.2])
    assert main(["compare", str(a), str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds_a"] == [98.6, 99.1, 97.0] and out["p_greater"] == pytest.approx(1 / 20)
    assert main(["compare", str(a), str(b)]) == 0
    assert "A wins 9 of 9 seed pairs" in capsys.readouterr().out


def test_bad_runs_are_one_clear_line(tmp_path, capsys):
    a = _run(tmp_path, "a", [1.0, 2.0])
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    assert "no summary.json" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "summary.json").write_text("{}")
    assert main(["compare", str(a), str(tmp_path / "junk")]) == 2
    assert "not a caredrive training summary" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="at least 2 seeds"):
        permutation_test([1.0], [2.0, 3.0])
