"""`run_interp(RUN)`: every interp section on a finished run -> RUN/interp.json and RUN/interp/*.png.

Everything the user chose is checked first (sections, tap, world, seeds, alpha, overrides, a steering
vector's shape, lesion units, that the run has checkpoints), so a bad input is one ConfigError line and
no work is done. Then ONE scoring bench (`eval.score.make_bench` on `train`, `foster`, `decoy` and the
chosen world; the selfish reference is the run's trained one when `caredrive eval` cached it) is built
and shared by every sweep, seed and section.

Default sizes (`sections.Episodes`) are chosen for a 4-seed, hidden-64 run on 2 CPU cores, ~5-10 min in
all: probes on 128 episodes (every 4th tick), scores (lesions, steering, override) on 64 paired
episodes, steering vectors from 32 episodes per world, patching on 16, CKA on 32, over-training probes
on 32 per snapshot. `episodes=N` sets every one of them to N.

interp.json (schema `caredrive.interp/1`), one object:
- `run`, `trained_world`, `written`, `schema`.
- `sections`: `{name: result}` for every section ever run on this run folder (a later call replaces the
  sections it runs and keeps the others). Each result has `meta` = {episodes, world, tap, seeds,
  wall_time_s, seed} and, if it did not apply, `skipped` (why). Per section (seeds are keys "0", "1"...;
  `across` = {mean, ci (Student-t 95% over seeds), per_seed, n}):
  * `probes`: `per_seed[s][tap][target]` = {score, shuffled, raw_obs, gain_over_raw, chance, n_train,
    n_test}; `summary[tap][target]` = {metric, score, shuffled, raw_obs, gain_over_raw, chance: across};
    `config`, `split`, `targets`, `rows`, `every`, `headline_tap`.
  * `lesions`: `per_seed[s][kind]` = {base: {care_score, care_ci, lifetime, self_lifetime}, rows: [{label,
    units, care_score, care_ci, care_drop, care_drop_ci, lifetime_drop(_ci), self_lifetime, self_drop,
    self_drop_ci, self_drop_rel}], care_specific: [labels]} for kind in mean (every unit alone + groups),
    zero and resample (groups); `summary[kind]` = {base_care, base_self, singles: {max_care_drop,
    max_unit, units_with_care_drop, units}, care_specific: {s: [labels]}, groups: {label: {care_drop,
    self_drop: across}}}; `thresholds`, `care_reference`, `tap`.
  * `patching`: `per_seed[s][kind]` = patching.patch_sweep's dict (+ pairs_found, outcome) or {skipped};
    `summary[kind][tap][group]` = across of the restored fraction over `seeds_used[kind]` (the seeds whose
    own gap interval excludes 0); `gaps[kind]` = across of the clean - corrupted logit difference.
  * `steer`: `per_seed[s]` = {counts, norms, vector, own_vs_other: {norm, retarget: {world: {steered,
    unsteered, random: [..]}}, switch_off}, needs_vs_not: (same)}; `summary` = {retarget: {world:
    {steered, random (other baby's lifetime vs unsteered, ticks), steered/unsteered_lifetime, _care}},
    switch_off: {vector: {care_drop, self_drop}}}; `transfer` = {from, to, cos_raw_vs_own,
    cos_mapped_vs_own, map_r2, raw, mapped}; `gif` = {path, seed, world, episode, ...}.
  * `cka`: `report` = cka.cka_report's dict (matrix, labels, same_tap, summary per tap: trained,
    untrained, trained_vs_untrained, control_rows, control_episodes); `probe_transfer`.
  * `training`: over_training.probes_over_training's dict (+ final_minus_first), or {skipped}.
  * `override`: `per_seed[s]` = {original | overridden: {worlds: {w: {care_score, care_ci, ...}},
    self_survival}}; `summary[w]` = {original, overridden: across}; `overrides`.
  * `lesion_groups` (from `lesions=` / `--lesion TAP:UNITS[:MODE]`): `groups` = [{label, tap, units,
    mode}]; `per_seed[s]` = {base (the unlesioned mother, as in `lesions`), rows: [{label, tap, mode,
    units, care_score, care_ci, care_drop, care_drop_ci, self_drop, self_drop_ci, ..., care_specific}]};
    `summary` = {base_care, base_self, groups: {label: {care_score, care_drop, self_drop, lifetime_drop:
    across}}}.
  * `steer.vector`: which vector stands as `own_vs_other`: {source: "difference of means"} or {source:
    "file", path, sha256, norm, width} for `vector=FILE.npy` / `--steer-vector`.
- `headline`: plain sentences from the numbers (`findings.headline`).
- `plots`: `{name: "interp/NAME.png"}`; the GIF is `sections.steer.gif.path`.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from caredrive.errors import ConfigError
from caredrive.interp import sections as S
from caredrive.interp.lesion_groups import check_lesions, headline_lines, lesion_groups_section, parse_lesions

SECTIONS = ("probes", "lesions", "patching", "steer", "cka", "training")
ALL_SECTIONS = SECTIONS + ("override", "lesion_groups")
SCORED = ("lesions", "steer", "override", "lesion_groups")  # sections that need the scoring bench
BENCH_WORLDS = ("train", "foster", "decoy")
SCHEMA = "caredrive.interp/1"


def parse_sections(only) -> tuple[str, ...]:
    """`"probes,lesions"` or a sequence -> a tuple in the canonical order; unknown names are one line."""
    names = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
    bad = [s for s in names if s not in ALL_SECTIONS]
    if bad or not names:
        raise ConfigError(
            f"--only: unknown section(s) {bad or names}: choose from {list(ALL_SECTIONS)}, comma-separated."
        )
    return tuple(s for s in ALL_SECTIONS if s in names)


def seed_form(seeds) -> list[int] | None:
    """The seeds asked for: None for all (`"all"`, None), else a list of ints; a bad form is one line."""
    if seeds is None or (isinstance(seeds, str) and seeds.strip() == "all"):
        return None
    items = seeds.split(",") if isinstance(seeds, str) else list(seeds)
    try:
        return [int(str(s).strip()) for s in items]
    except ValueError:
        raise ConfigError(
            f"--seeds={seeds!r} is not allowed: write 'all' or seed numbers like 0,2."
        ) from None


def parse_seeds(seeds, n: int) -> tuple[int, ...]:
    """`"all"`, `"0,2"` or a sequence of ints -> seed indices of a run with `n` seeds."""
    out = seed_form(seeds)
    if out is None:
        return tuple(range(n))
    bad = [s for s in out if not 0 <= s < n]
    if bad or not out:
        raise ConfigError(f"--seeds: seed(s) {bad or out} not in this run: it has seeds 0..{n - 1}.")
    return tuple(sorted(set(out)))


def _check_plain(world: str, tap: str, alpha: float, episodes) -> None:
    from caredrive.eval.battery import NAMES
    from caredrive.interp.edits import check_tap

    if world not in NAMES:
        raise ConfigError(f"--world={world!r} is unknown: choose from {list(NAMES)}.")
    check_tap(tap)
    if not isinstance(alpha, int | float) or not math.isfinite(alpha):
        raise ConfigError(f"--steer-alpha={alpha!r} is not allowed: must be a finite number.")
    if episodes is not None and (not isinstance(episodes, int) or episodes < 4):
        raise ConfigError(
            f"--episodes={episodes!r} is not allowed: must be an integer >= 4 (probes split "
            "episodes into fit, validation and test)."
        )


def _check_inputs(policy, tap: str, overrides, vector, units, lesions=()):
    """The parts that need the loaded network: override paths, a vector's shape, lesion units."""
    from caredrive.interp.edits import check_vector, group_masks, member, tap_width

    one = member(policy, 0)
    width = tap_width(one, tap)
    S.overridden(policy, tuple(overrides))
    if vector is not None:
        vector = check_vector(vector, width, tap, "steering vector")
    if units is not None:
        group_masks(width, [u if np.ndim(u) else int(u) for u in units], tap)
    check_lesions(one, lesions)
    return vector


def _selfish(run: Path):
    """The run's trained selfish baseline (first seed, as `caredrive eval` pools it) when it is cached
    and complete; None otherwise (the bench then uses the scripted forager and says so)."""
    import jax

    from caredrive.train.load import load_trained

    folder = run / "baselines" / "selfish"
    if not (folder / "done.json").exists():
        return None
    try:
        t = load_trained(folder)
    except ConfigError:
        return None
    return jax.tree.map(lambda x: x[:1], t.policy)


class _Progress:
    def __init__(self, total: int, on: bool):
        self.bar = None
        if on:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="interp", unit="step", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _steps(sections: tuple[str, ...], seeds: int, gif: bool) -> int:
    per = {
        "probes": 1,
        "lesions": seeds,
        "patching": seeds,
        "steer": seeds + (seeds >= 2) + gif,
        "cka": 1,
        "training": 1,
        "override": 1,
        "lesion_groups": seeds,
    }
    return 1 + sum(per[s] for s in sections)


def run_interp(
    run_path,
    episodes: int | None = None,
    seeds="all",
    world: str = "train",
    tap: str = "gru",
    sections=SECTIONS,
    progress: bool = True,
    overrides=(),
    steer_alpha: float = 1.0,
    gif: bool = True,
    seed: int = 0,
    vector=None,
    units=None,
    lesions=(),
) -> dict:
    """Run `sections` on RUN and write RUN/interp.json (merged with the sections already there) and the
    plots under RUN/interp/; return the written object. `overrides` (`PATH=V`, `PATH*=F`) add the
    `override` section; `lesions` (`"gru:3,7"`, `"gru:0-15:mean"`) the `lesion_groups` section; `vector`
    (an array, or a `.npy` path) stands for `own_vs_other` in `steer` (added if not chosen). See the
    module docstring for every field."""
    import jax

    from caredrive.train.load import load_trained

    run = Path(run_path)
    chosen = parse_sections(sections)
    overrides = tuple(overrides or ())
    if overrides and "override" not in chosen:
        chosen += ("override",)
    if "override" in chosen and not overrides:
        raise ConfigError("the override section needs at least one --override PATH=VALUE.")
    specs = parse_lesions(lesions)
    if specs and "lesion_groups" not in chosen:
        chosen += ("lesion_groups",)
    if "lesion_groups" in chosen and not specs:
        raise ConfigError("the lesion_groups section needs at least one --lesion TAP:UNITS[:MODE].")
    vector_info = {"source": "difference of means (own_vs_other)"}
    if isinstance(vector, str | os.PathLike):
        from caredrive.interp.steer import load_vector

        vector, vector_info = load_vector(vector)
    elif vector is not None:
        vector_info = {"source": "given", "norm": float(np.linalg.norm(np.asarray(vector, np.float64)))}
    if vector is not None and "steer" not in chosen:
        chosen = tuple(s for s in ALL_SECTIONS if s in chosen + ("steer",))
    _check_plain(world, tap, steer_alpha, episodes)
    seed_form(seeds)  # the form now; the range once the run says how many seeds it has
    if not run.is_dir():
        raise ConfigError(f"{run} is not a run directory: no such folder.")
    trained = load_trained(run)  # a run without checkpoints is one line here
    members = parse_seeds(seeds, trained.seeds)
    vector = _check_inputs(trained.policy, tap, overrides, vector, units, specs)
    fns = {**S.SECTION_FNS, "lesion_groups": lambda c: lesion_groups_section(c, specs)}
    n_eps = S.Episodes() if episodes is None else S.Episodes.all(int(episodes))

    t_all = time.perf_counter()
    bar = _Progress(_steps(chosen, len(members), gif and "steer" in chosen), progress)
    try:
        policy = jax.tree.map(lambda x: x[np.asarray(members)], trained.policy)
        bench, battery = _bench(trained, run, chosen, world, n_eps, seed)
        bar("bench")
        ctx = S.Ctx(
            run,
            trained,
            members,
            policy,
            battery,
            bench,
            world,
            tap,
            float(steer_alpha),
            seed,
            n_eps,
            overrides,
            vector,
            units,
            (run / "interp") if gif else None,
            bar,
        )
        results = {}
        for name in chosen:
            t0 = time.perf_counter()
            res = fns[name](ctx)
            if name == "steer":
                res["vector"] = vector_info
            res["meta"] = {
                "episodes": _episodes_of(name, n_eps),
                "world": _worlds_of(name, world, bench),
                "tap": ",".join(dict.fromkeys(s.tap for s in specs)) if name == "lesion_groups" else tap,
                "seeds": [str(m) for m in members],
                "seed": seed,
                "wall_time_s": round(time.perf_counter() - t0, 1),
            }
            results[name] = res
    finally:
        bar.close()
    out = _write(run, trained, results)
    out["wall_time_s"] = round(time.perf_counter() - t_all, 1)
    return out


def _worlds_of(name: str, world: str, bench) -> str:
    """Where a section's episodes are played: recordings in `world`; scores on the bench's worlds."""
    if name in ("lesions", "lesion_groups"):
        return "train (and train with births off)"
    if name in ("steer", "override") and bench is not None:
        return ", ".join(bench.names)
    return "train" if name == "training" else world


def _episodes_of(name: str, n: S.Episodes) -> dict:
    return {
        "probes": {"probes": n.probes},
        "lesions": {"score": n.score},
        "override": {"score": n.score},
        "lesion_groups": {"score": n.score},
        "patching": {"patching": n.patching},
        "steer": {"score": n.score, "vectors": n.vectors},
        "cka": {"cka": n.cka},
        "training": {"training": n.training},
    }[name]


def _bench(trained, run: Path, chosen, world: str, n_eps: S.Episodes, seed: int):
    """(bench or None, battery): the scoring bench when a section scores (or patching can score an
    outcome: labelled babies), else a one-world battery for the recordings."""
    from caredrive.eval.battery import build_battery
    from caredrive.eval.score import make_bench

    labelled = bool(
        np.asarray(build_battery(trained.world, trained.env_params, (world,)).params.label_own_baby)[0]
    )
    if not (set(chosen) & set(SCORED) or ("patching" in chosen and labelled)):
        return None, build_battery(trained.world, trained.env_params, tuple({"train", world}))
    names = tuple(dict.fromkeys(BENCH_WORLDS + (world,)))
    bench = make_bench(
        trained.world, trained.env_params, names=names, episodes=n_eps.score, seed=seed, selfish=_selfish(run)
    )
    return bench, bench.battery


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else {}


def _write(run: Path, trained, results: dict) -> dict:
    from caredrive.eval.metrics import clean
    from caredrive.interp.findings import headline
    from caredrive.interp.plots import PLOTS
    from caredrive.train.rundir import write_atomic

    old = _read(run / "interp.json")
    merged = {**(old.get("sections") or {}), **results}
    merged = {k: merged[k] for k in ALL_SECTIONS if k in merged}
    merged = clean(merged)
    folder = run / "interp"
    folder.mkdir(exist_ok=True)
    plots = {}
    for name, fn in PLOTS.items():
        sec = merged.get(name.split("_")[0])
        if isinstance(sec, dict) and not sec.get("skipped"):
            png = fn(sec)
            if png:
                (folder / f"{name}.png").write_bytes(png)
                plots[name] = f"interp/{name}.png"
    out = {
        "schema": SCHEMA,
        "run": str(run.resolve()),
        "trained_world": trained.world.name,
        "written": datetime.datetime.now().isoformat(timespec="seconds"),
        "headline": headline(merged) + headline_lines(merged.get("lesion_groups")),
        "plots": plots,
        "sections": merged,
    }
    write_atomic(run / "interp.json", json.dumps(out, indent=1))
    return out
