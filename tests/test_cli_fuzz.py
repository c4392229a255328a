"""Fuzz the command line: every subcommand and every typed setting, fed values that must be refused
(wrong types, out of range, nan/inf, huge integers, negatives, empty strings, unicode, bad paths).

Each must end in exactly one line on stderr that names the field, exit code 2, nothing on stdout, and
no work started: training, evaluation, rendering, baselines, reports and studies are replaced by
tripwires that fail the test if reached (a missed check then fails in milliseconds instead of training
for an hour). A finished-looking run folder sits beside the fuzz and is hashed before and after every
example: no input may touch it, and no input may leave a new file behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caredrive.cli import MAX_SEED, main
from caredrive.env import constants as C
from caredrive.env import params as P
from caredrive.env.registry import REGISTRY
from caredrive.experiments.studies import STUDIES
from caredrive.overrides import ENV_FIELDS
from caredrive.train import config as TC

EXAMPLES = 120  # per test below; `test_the_fuzz_ran` reports the total
COUNT = {"examples": 0}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ------------------------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A fuzz folder: a run that must stay untouched, a plain file, a folder named like a GIF, an old GIF."""
    root = tmp_path_factory.mktemp("fuzz")
    run = root / "run"
    (run / "checkpoints" / "step_2").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TC.PRESETS["tiny"].to_dict()))
    (run / "metrics.jsonl").write_text('{"phase": "self", "update": 0, "timesteps": 128, "seed": 0}\n')
    (run / "summary.json").write_text(json.dumps({"world": "Nursery-11x11", "seeds": [{"mean_lifetime": 9.0}] * 2}))
    (run / "checkpoints" / "step_2" / "blob").write_bytes(bytes(range(256)))
    (root / "afile").write_text("a file")
    (root / "dir.gif").mkdir()
    (root / "old.gif").write_bytes(b"GIF89a")
    return root


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module", autouse=True)
def tripwires():
    """Any real work reached by a fuzzed input is a missed check."""
    import caredrive.env.render
    import caredrive.eval.baselines
    import caredrive.eval.evaluate
    import caredrive.experiments.runner
    import caredrive.train.run

    def tripwire(*a, **k):
        raise AssertionError("work started: the input was not checked first")

    with pytest.MonkeyPatch.context() as mp:
        # evaluation after it has read the run folder (whose checks the fuzz reaches); a report written
        # into the run would change its hash
        for mod, name in ((caredrive.train.run, "train"), (caredrive.env.render, "render_episode"),
                          (caredrive.eval.baselines, "run_baselines"), (caredrive.eval.evaluate, "selfish_baseline"),
                          (caredrive.eval.evaluate, "build_battery"), (caredrive.experiments.runner, "run_study")):
            mp.setattr(mod, name, tripwire)
        import jax.numpy as jnp

        jnp.zeros(1).block_until_ready()  # JAX's start-up notes are printed now, not inside an example
        yield


def refused(place: Path, argv: list[str], names: tuple[str, ...]) -> None:
    """Run the CLI in-process; one line naming one of `names`, exit 2, and the place unchanged."""
    COUNT["examples"] += 1
    argv = [a.replace("{dir}", str(place)) for a in argv]
    before = _snapshot(place)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    finally:
        after = _snapshot(place)
        for made in sorted(set(after) - set(before), reverse=True):  # keep examples independent
            shutil.rmtree(place / made) if after[made] == "dir" else (place / made).unlink()
    assert after == before, (argv, sorted(set(after) ^ set(before)))
    text = err.getvalue()
    assert rc == 2, (argv, rc, text)
    assert out.getvalue() == "", (argv, out.getvalue())
    assert text.startswith("caredrive: error: ") and text.count("\n") == 1 and text.endswith("\n"), (argv, text)
    assert "Traceback" not in text
    assert any(n in text for n in names), (argv, names, text)


# ------------------------------------------------------------------------------------------ strategies

# what a shell can pass: any printable text without NUL or lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
HUGE = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1)).map(str)
NOT_A_NUMBER = st.one_of(
    st.sampled_from(["", " ", "abc", "1,5", "0x10", "--", "½", "٣.٣.٣", "1e", "e5", "None", "∞", "١٢x"]),
    TEXT.filter(lambda s: not _is_float(s)),
)
NOT_FINITE = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "+inf"])
NOT_AN_INT = st.one_of(NOT_A_NUMBER, NOT_FINITE, st.sampled_from(["1.5", "1e3", "2.", "-0.5"]))
NOT_A_BOOL = TEXT.filter(lambda s: s.lower() not in ("true", "false", "1", "0", "yes", "no"))
BAD_STR = st.sampled_from(["", " ", "\t", "a\nb", "x\x1b[31m", "\u2028"])


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _flag(group: str, name: str) -> str:
    return f"--{group}.{name.replace('_', '-')}"


def _names(group: str, name: str) -> tuple[str, ...]:
    """A message may name the flag (--ppo.gae-lambda) or the field (ppo.gae_lambda, gae_lambda)."""
    return (_flag(group, name), name)


def _type_bad(kind) -> st.SearchStrategy[str]:
    if kind is bool:
        return NOT_A_BOOL
    if kind is int:
        return st.one_of(NOT_AN_INT, HUGE)
    if kind is float:
        return st.one_of(NOT_A_NUMBER, NOT_FINITE)
    return BAD_STR


def _groups() -> dict[str, dict]:
    phases = {f"phase{i + 1}": TC._PHASE_FIELDS for i in range(len(TC.PRESETS["tiny"].phases))}
    return {"env": ENV_FIELDS, "ppo": TC._PPO_FIELDS, "run": TC._TOP_FIELDS, **phases}


@st.composite
def wrong_type(draw, groups: tuple[str, ...]):
    """Any field of any group, with a value its type cannot be."""
    table = _groups()
    group = draw(st.sampled_from(groups))
    name = draw(st.sampled_from(sorted(table[group])))
    kind = table[group][name]
    if group == "env" and name in ("layout", "reward_mode"):  # named settings: a name or a number
        raw = draw(TEXT.filter(lambda s: s not in C.LAYOUT_NAMES + C.REWARD_MODES and not s.lstrip("-").isdigit()))
    else:
        raw = draw(_type_bad(kind))
    return [_flag(group, name), raw], _names(group, name)


def _floats(lo=None, hi=None, **kw):
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, **kw).map(repr)


_NEG = _floats(hi=-math.ulp(0.0))  # below zero; not -0.0 (hypothesis rewrites a `< 0` filter into a bound with it)
_OUT_OF_UNIT = st.one_of(_floats(hi=0.0), _floats(lo=1.0, exclude_min=True))


@st.composite
def out_of_range(draw, groups=("env", "ppo", "run", "phase1", "phase2")):
    """A value of the right type outside what the field allows (ranges from the code that checks them)."""
    env_p = [(n, _NEG) for n in P._NONNEG_FLOATS]
    env_p += [(n, st.one_of(_NEG, _floats(lo=1.0, exclude_min=True))) for n in P._PROBS]
    env_p += [(n, st.integers(-(2**31), -1).map(str)) for n in P._NONNEG_INTS]
    env_p += [("grid_size", st.one_of(st.integers(-(2**31), 4), st.integers(65, 2**31 - 1)).map(str)),
              ("max_steps", st.integers(-(2**31), 0).map(str)),
              ("view_size", st.integers(-1000, 1000).filter(lambda v: v < 1 or v % 2 == 0).map(str)),
              ("n_families", st.integers(-(2**31), 0).map(str)),
              ("baby_move_period", st.integers(-(2**31), 0).map(str)),
              ("mother_energy0", st.one_of(_floats(hi=0.0), _floats(lo=1.0, exclude_min=True))),
              ("wall_density", _floats(lo=0.3, exclude_min=True)),
              ("env_bits", st.integers(2**31, 2**63 - 1).map(str))]
    ppo = [("gamma", _OUT_OF_UNIT), ("gae_lambda", _OUT_OF_UNIT), ("clip_eps", _OUT_OF_UNIT),
           ("lr", _floats(hi=0.0)), ("max_grad_norm", _floats(hi=0.0)), ("reward_scale", _floats(hi=0.0)),
           ("ent_coef", _NEG), ("vf_coef", _NEG),
           ("num_minibatches", st.integers(1, 2**40).filter(lambda m: 16 % m).map(str)),  # tiny: 8 envs x 2 mothers
           ("num_envs", st.integers(-(2**62), 0).map(str)), ("hidden", st.integers(4097, 2**62).map(str)),
           ("update_epochs", st.integers(-(2**62), 0).map(str)), ("total_timesteps", st.integers(-(2**62), -1).map(str))]
    run = [("seed", st.one_of(st.integers(-(2**63), -1), st.integers(MAX_SEED + 1, 2**63 - 1)).map(str)),
           ("seeds", st.integers(-(2**63), 0).map(str)), ("reset_ratio", st.integers(-(2**63), -1).map(str)),
           ("chunk_updates", st.integers(-(2**63), 0).map(str)), ("checkpoint_every", st.integers(-(2**63), 0).map(str)),
           ("world", TEXT.filter(lambda s: s.strip() and s.isprintable() and s not in REGISTRY)),
           ("baby_brain", st.sampled_from(["mum", "none"]))]
    phase = [("timesteps", st.integers(-(2**63), 127).map(str)), ("births_per_life", st.integers(-(2**31), -1).map(str)),
             ("reward_mode", st.sampled_from(["bogus", "SELF", "baby "]))]
    group = draw(st.sampled_from(groups))
    name, values = draw(st.sampled_from({"env": env_p, "ppo": ppo, "run": run, "phase1": phase, "phase2": phase}[group]))
    raw = draw(values)
    if name == "env_bits":  # an int32 leaf: a value that fits Python but not the world
        name = draw(st.sampled_from(sorted(n for n, k in ENV_FIELDS.items() if k is int)))
    names = _names(group, name) + (("unknown world",) if name == "world" else ())
    return [_flag(group, name), raw], names


_NEW = "{dir}/new"  # a run folder that must not appear
_TRAIN = ["--preset", "tiny", "--eval-episodes", "0", "--no-progress", "--out", _NEW]

# ------------------------------------------------------------------------------------------- the fuzz


@FUZZ
@given(case=st.one_of(wrong_type(("env", "ppo", "run", "phase1", "phase2")), out_of_range()),
       command=st.sampled_from(["train", "run"]))
def test_every_training_setting_is_checked_before_anything_is_made(place, case, command):
    flags, names = case
    argv = [command, *(_TRAIN if command == "train" else [a for a in _TRAIN if a not in ("--eval-episodes", "0")])]
    refused(place, [*argv, *flags], names)


@FUZZ
@given(case=st.one_of(wrong_type(("env",)), out_of_range(("env",))),
       command=st.sampled_from(["baselines", "render"]))
def test_every_world_setting_is_checked_by_the_world_commands(place, case, command):
    flags, names = case
    refused(place, [command, "--out" if command == "render" else "--episodes",
                    "{dir}/x.gif" if command == "render" else "1", *flags], names)


_SEED = st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_SEED + 1)).map(str) | NOT_AN_INT
_EPISODES = st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001)).map(str) | NOT_AN_INT


@st.composite
def bad_option(draw):
    """A subcommand's own options, out of range or of the wrong type."""
    kind = draw(st.sampled_from(["seed", "episodes", "eval_episodes", "fps", "policy", "world", "preset", "budget"]))
    if kind == "seed":
        cmd = draw(st.sampled_from([["baselines", "--episodes", "1"], ["render"], ["eval", "{dir}/run"]]))
        return [*cmd, "--seed", draw(_SEED)], ("--seed",)
    if kind == "episodes":
        cmd = draw(st.sampled_from([["baselines"], ["eval", "{dir}/run"], ["run", *_TRAIN[:2], "--out", _NEW]]))
        return [*cmd, "--episodes", draw(_EPISODES)], ("--episodes",)
    if kind == "eval_episodes":
        raw = draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=1_000_001)).map(str) | NOT_AN_INT)
        return ["train", "--preset", "tiny", "--out", _NEW, "--eval-episodes", raw], ("--eval-episodes",)
    if kind == "fps":
        raw = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=51)).map(str) | NOT_AN_INT)
        return ["render", "--out", "{dir}/x.gif", "--fps", raw], ("--fps",)
    if kind == "policy":
        return ["render", "--out", "{dir}/x.gif", "--policy", draw(TEXT.filter(lambda s: s not in ("idle", "random", "selfish", "carer")))], ("--policy",)
    if kind == "world":
        cmd = draw(st.sampled_from([["baselines", "--episodes", "1"], ["render", "--out", "{dir}/x.gif"]]))
        return [*cmd, "--world", draw(TEXT.filter(lambda s: s not in REGISTRY))], ("unknown world", "--world")
    if kind == "preset":
        cmd = draw(st.sampled_from(["train", "run"]))
        return [cmd, "--out", _NEW, "--preset", draw(TEXT.filter(lambda s: s not in TC.PRESETS))], ("--preset",)
    name = draw(TEXT.filter(lambda s: s != "list" and s not in STUDIES and not s.startswith("-")))
    return ["experiment", name], ("unknown study",)


@FUZZ
@given(case=bad_option())
def test_every_subcommand_option_is_checked(place, case):
    argv, names = case
    refused(place, argv, names)


_COMMANDS = {
    "worlds": [], "baselines": ["--episodes", "1"], "render": ["--out", "{dir}/x.gif"], "train": _TRAIN,
    "run": [a for a in _TRAIN if a not in ("--eval-episodes", "0")], "eval": ["{dir}/run"], "report": ["{dir}/run"],
    "compare": ["{dir}/run", "{dir}/run"], "experiment": ["emergence", "--budget", "tiny", "--out", _NEW],
}
_OPT = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc"), blacklist_characters=".=\x00"), min_size=1,
               max_size=12)


@FUZZ
@given(command=st.sampled_from(sorted(_COMMANDS)), token=_OPT, value=st.one_of(st.none(), TEXT.filter(lambda s: s[:1] != "-")),
       position=st.sampled_from(["option", "group", "bare"]))
def test_every_subcommand_refuses_arguments_it_does_not_know(place, command, token, value, position):
    """Unknown arguments are never ignored: a command without typed settings says so, one with them
    hands them to the settings parser, which refuses unknown ones."""
    tok = {"option": f"--zz{token}", "group": f"--zz{token}.x", "bare": f"zz{token}"}[position]
    extra = [tok] if value is None or position == "bare" else [tok, value]
    refused(place, [command, *_COMMANDS[command], *extra], ("zz",))


@st.composite
def bad_path(draw):
    """--out, --resume and run arguments that cannot be used: too long, a file for a folder (or the
    reverse), under a file, unwritable, empty, an existing GIF without --force, the run itself."""
    long = draw(st.integers(256, 400)) * draw(st.sampled_from(["r", "é", "字"]))
    kind = draw(st.sampled_from(["render", "train", "resume", "read"]))
    if kind == "render":
        out = draw(st.sampled_from(["{dir}/afile/x.gif", "{dir}/dir.gif", "{dir}/old.gif", "/proc/caredrive-no/x.gif",
                                    "{dir}/run/checkpoints", "{dir}/" + long + ".gif", "{dir}/run", ""]))
        return ["render", "--out", out], ("--out",)
    if kind == "train":
        out = draw(st.sampled_from(["{dir}/afile", "{dir}/afile/run", "/proc/caredrive-no/run", "{dir}/" + long,
                                    "{dir}/run", "", "{dir}/" + long + "/run"]))
        cmd = draw(st.sampled_from(["train", "run"]))
        return [cmd, "--preset", "tiny", "--no-progress", "--out", out], ("--out",)
    if kind == "resume":
        extra = draw(st.sampled_from([["--preset", "tiny"], ["--out", "{dir}/other"], ["--ppo.lr", "0.1"],
                                      ["--preset", "full", "--out", "{dir}/other"], ["--env.n-food", "3"]]))
        return ["train", "--resume", "{dir}/run", *extra], ("--resume",)
    cmd = draw(st.sampled_from([["eval"], ["report"], ["compare", "{dir}/run"], ["train", "--resume"]]))
    where = draw(st.sampled_from(["{dir}/" + long, "{dir}/afile", "{dir}/missing" + draw(TEXT.filter(lambda s: "/" not in s))]))
    return [*cmd, where], ("{dir}", "afile", "missing", "not a run", "too long", "no summary", "not a directory")


@FUZZ
@given(case=bad_path())
def test_paths_that_cannot_be_used_are_refused_and_nothing_is_touched(place, case):
    argv, names = case
    refused(place, argv, tuple(n.replace("{dir}", str(place)) for n in names) + tuple(names))


def test_the_fuzz_ran(capsys):
    """Runs last (file order): the number of fuzzed inputs, every one refused in one line."""
    if COUNT["examples"] == 0:
        pytest.skip("run it with the fuzz tests above")
    assert COUNT["examples"] >= 4 * EXAMPLES, COUNT
    with capsys.disabled():
        print(f"\nCLI fuzz: {COUNT['examples']} inputs refused in one line, exit 2, nothing touched")


def test_the_fuzz_strategies_cover_every_field():
    """New settings are fuzzed without editing this file: the strategies read the parsers' tables."""
    assert {f.name for f in dataclasses.fields(TC.PPOConfig)} == set(TC._PPO_FIELDS)
    assert set(ENV_FIELDS) >= {f.name for f in dataclasses.fields(P.EnvParams)}
    assert not math.isfinite(float("1e999"))
