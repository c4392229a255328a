"""Run a study: every setting trains its seeds in one program, is evaluated, and lands in its own folder.

    OUT/study.json            the plan (study, budget, seeds, each setting's train arguments)
    OUT/<setting>/            a `caredrive train` run folder + eval.json, then setting.json (the per-seed
                              figures; written last, so its presence means "finished") and timing.json
    OUT/results.json, OUT/<study>.png, OUT/RESULTS.md    (caredrive.experiments.results)
    OUT/.jax_cache/           compiled XLA programs, reused by re-runs and Ray workers (safe to delete)

Finished settings are kept and skipped on a re-run (also when the study's grid has since gained or lost
settings; a setting whose overrides changed is refused); an interrupted one resumes its training from its last
checkpoint (`train(..., resume=True)`). Files are replaced atomically and an eval.json cut short by a kill is
redone, so the same command finishes a folder killed at any moment. Locally the settings run one after another
in this process. With Ray (`ray=...`) each setting is a Ray task in a fresh worker process with the driver's
CPU device count (results are reproducible for a given count: `caredrive.devices`), so both paths give the
same numbers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caredrive.errors import ConfigError
from caredrive.experiments import measures as MS
from caredrive.experiments.results import machine, write_results
from caredrive.experiments.spec import Plan, Setting, Study
from caredrive.outpath import run_folder
from caredrive.train.config import TrainConfig
from caredrive.train.rundir import write_atomic


@dataclass(frozen=True)
class Job:
    """Everything one setting needs, picklable for a Ray worker."""

    setting: Setting
    config: TrainConfig
    run: str  # the setting's run folder
    episodes: int
    selfish_seeds: int
    measures: tuple[str, ...]
    eval_seed: int = 0
    cpu_devices: int | None = None  # Ray workers: this many CPU devices (the driver's count)
    cache: str | None = None  # a persistent XLA compilation cache folder ("" or None: none)


def default_out(study: Study, budget: str) -> Path:
    """runs/experiments/NAME-BUDGET; a part of the grid (`--only`) gets its own folder, so it never replaces
    the whole study's results.json with a partial one."""
    part = f"-only-{'-'.join(study.only)}" if study.only else ""
    return Path("runs") / "experiments" / f"{study.name}-{budget}{part}"


def use_compile_cache(folder: str | os.PathLike | None) -> None:
    """Keep compiled XLA programs on disk, so settings of the same shapes (and re-runs, and Ray workers)
    skip recompiling: on 2 CPU cores a tiny setting's compiles are most of its minutes (a repeat of one
    measured 265 s cold, 85 s from the cache, on a loaded machine). The executable
    is the one a fresh compile gives, so results do not change. `$JAX_COMPILATION_CACHE_DIR` wins."""
    if not folder or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", str(folder))
    compilation_cache.reset_cache()  # re-read the folder at the next compile, even if JAX compiled before


def _same_json(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def run_setting(job: Job, progress: bool = False) -> dict:
    """Train (or resume, or skip when trained), evaluate, measure; write setting.json; return it."""
    from caredrive.eval.evaluate import evaluate_run
    from caredrive.train.run import train
    from caredrive.train.rundir import RunDir

    rd = RunDir(job.run)
    times = {}
    t0 = time.perf_counter()
    if not (rd.path / "trained.json").exists():
        resume = (rd.path / "config.json").exists()
        if resume:
            _check_config(job)
        else:
            rd.create(job.config.to_dict())
        trained = train(job.config, rd, resume=resume, progress=progress)
        write_atomic(rd.path / "trained.json", json.dumps({"timesteps_per_seed": trained.timesteps}))
    times["train_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    eval_path = rd.path / "eval.json"
    ev = _read_json(eval_path)
    if ev is None or ev.get("episodes") != job.episodes or ev.get("seed") != job.eval_seed:
        evaluate_run(rd.path, episodes=job.episodes, seed=job.eval_seed, progress=progress, gifs=False,
                     selfish=job.selfish_seeds > 0, selfish_seeds=max(1, job.selfish_seeds))
        ev = json.loads(eval_path.read_text())
    times["eval_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    extra = MS.compute(job.measures, rd.path, ev, job.episodes, job.eval_seed)
    times["measures_s"] = time.perf_counter() - t2
    record = {"setting": job.setting.name, "label": job.setting.title, "tokens": list(job.setting.tokens),
              "timesteps_per_seed": json.loads((rd.path / "trained.json").read_text())["timesteps_per_seed"],
              "episodes": job.episodes, "selfish_reference": ev["care"].get("selfish_reference"),
              "seeds": seed_rows(ev, extra)}
    times["total_s"] = time.perf_counter() - t0
    write_atomic(rd.path / "timing.json", json.dumps({**times, **machine()}, indent=1))
    write_atomic(rd.path / "setting.json", json.dumps(record, indent=1))
    return record


def _read_json(path: Path):
    """The file's JSON, or None where it is missing or cut short (`caredrive eval` writes eval.json in
    place, so a kill mid-write leaves half a file: the evaluation is then redone)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def seed_rows(ev: dict, extra: dict[str, list]) -> list[dict]:
    """Per seed: care score and interval (training world), the Goodhart flag, the one verdict of
    `caredrive.eval.cares`, and the study's extra measures."""
    from caredrive.eval.cares import cares

    rows = []
    for i, p in enumerate(ev["care"]["per_seed"]):
        flagged = bool(ev["goodhart"][f"seed_{i}"]["flag"])
        row = {"seed": i, "care_score": p["care_score"], "care_ci": p["care_ci"], "flagged": flagged,
               "cares": cares(p["care_score"], p["care_ci"], flagged)}
        row.update({k: v[i] for k, v in extra.items()})
        rows.append(row)
    return rows


def ray_task(job: Job) -> dict:
    """A Ray worker's entry: fix the CPU device count before JAX starts, then run the setting quietly."""
    from caredrive.devices import use_cpu_cores

    if job.cpu_devices is not None:
        use_cpu_cores(job.cpu_devices)
        import jax

        have = len(jax.devices("cpu"))
        if have != job.cpu_devices:
            raise RuntimeError(f"Ray worker has {have} CPU devices, the driver {job.cpu_devices}: results would differ.")
    use_compile_cache(job.cache)
    return run_setting(job, progress=False)


def jobs(plan: Plan, out: Path, cpu_devices: int | None = None, cache: str | None = None) -> list[Job]:
    st = plan.study
    return [Job(s, cfg, str(out / s.name), plan.budget.episodes, plan.budget.selfish_seeds, st.measures,
                cpu_devices=cpu_devices, cache=cache) for s, cfg in zip(st.settings, plan.configs, strict=True)]


def prepare(out: Path, plan: Plan) -> str:
    """Create OUT with study.json, or check that an existing OUT holds this plan. A grid that only gained or
    lost settings (budget, seeds and every shared setting's overrides unchanged) is taken over: its finished
    settings are kept, and the note returned says what changed; anything else is refused."""
    desc = plan.describe()
    f = out / "study.json"
    if not f.exists():
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(f, json.dumps(desc, indent=1))
        return ""
    old = json.loads(f.read_text())
    if _same_json(old, desc):
        return ""
    was, now = old.get("settings", {}), desc["settings"]
    if not (_same_json({**old, "settings": None}, {**desc, "settings": None})
            and all(_same_json(was[k], now[k]) for k in was.keys() & now.keys())):
        raise ConfigError(f"{out} holds {plan.study.name!r} with another budget, seed count or setting overrides "
                          f"(see {f}): choose another --out, or delete it to start over.")
    write_atomic(f, json.dumps(desc, indent=1))
    added, dropped = [k for k in now if k not in was], [k for k in was if k not in now]
    return "; grid changed since this folder was made" + "".join(
        f", {sign} {', '.join(names)}" for sign, names in (("added", added), ("dropped", dropped)) if names)


def _check_config(job: Job) -> None:
    """Refuse a setting folder made with another config (a resumed run, or a finished one a changed grid
    left behind under the same name): it must never be reused as this setting's result."""
    from caredrive.train.rundir import RunDir

    if not _same_json(RunDir(job.run).load_config(), job.config.to_dict()):
        raise ConfigError(f"{job.run} holds a run with another config: delete it or choose another --out.")


def finished(job: Job) -> dict | None:
    """The setting's record when it finished with this very config, else None."""
    f = Path(job.run) / "setting.json"
    if not f.exists():
        return None
    _check_config(job)
    return json.loads(f.read_text())


def say_setting(echo: Callable[[str], None], i: int, n: int, record: dict, wall: float | None) -> None:
    """Progress, setting x seed: one line per seed of a finished setting."""
    took = "" if wall is None else f" in {wall:.0f} s"
    echo(f"[{i}/{n}] {record['setting']}: {len(record['seeds'])} seeds done{took}")
    extra = [k for k in record["seeds"][0] if k not in ("seed", "care_score", "care_ci", "flagged", "cares")]
    for r in record["seeds"]:
        ci = r["care_ci"]
        score = "  —  " if r["care_score"] is None else f"{r['care_score']:+.2f}"
        ci = "" if not ci else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"
        word = {True: "cares", False: "confines" if r["flagged"] else "does not care", None: "—"}[r["cares"]]
        more = "".join(f"  {k} {'—' if r[k] is None else f'{r[k]:.3g}'}" for k in extra)
        echo(f"    {record['setting']} x seed {r['seed']}: care {score}{ci} {word}{more}")


def run_study(study: Study, budget: str = "small", seeds: int | None = None, out: str | os.PathLike | None = None,
              ray: str | None = None, progress: bool = True, echo: Callable[[str], None] = print,
              cache: bool = True) -> Path:
    """Run (or finish) a study; write its results; return the result folder. See the module docstring."""
    plan = study.plan(budget, seeds)  # every config validated before anything runs
    if ray is not None:
        _import_ray()  # a missing Ray is one line before any folder is made
    out = run_folder(out if out is not None else default_out(study, budget), "--out")
    grid_note = prepare(out, plan)
    cache_dir = str((out / ".jax_cache").absolute()) if cache else None
    use_compile_cache(cache_dir)
    todo = jobs(plan, out, cache=cache_dir)
    done = {j.setting.name: r for j in todo if (r := finished(j)) is not None}
    todo = [j for j in todo if j.setting.name not in done]
    n = len(study.settings)
    echo(f"{study.name}: {n} settings x {plan.seeds} seeds, budget {plan.budget.name} ({plan.budget.note}) -> {out}"
         + grid_note + (f"; {len(done)} finished, kept" if done else ""))
    t0 = time.perf_counter()
    if ray is None:
        for j in todo:
            echo(f"[{len(done) + 1}/{n}] {j.setting.name}: training {plan.seeds} seeds, then evaluating ...")
            t = time.perf_counter()
            done[j.setting.name] = run_setting(j, progress=progress)
            say_setting(echo, len(done), n, done[j.setting.name], time.perf_counter() - t)
    elif todo:
        done.update(run_on_ray(todo, ray, echo, len(done), n))
    records = [done[s.name] for s in study.settings]
    paths = write_results(out, plan, records, wall_s=time.perf_counter() - t0)
    echo(f"results: {', '.join(str(p) for p in paths)}")
    return out


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray, which is not installed: pip install -e '.[ray]' "
                          "(or run without --ray: the settings then run one after another here).") from None
    return ray


def run_on_ray(todo: list[Job], address: str, echo: Callable[[str], None], finished_before: int, n: int) -> dict:
    """Each setting a Ray task (one CPU each, a fresh worker process each); `address` "auto" starts a
    local Ray with 2 CPUs, anything else is a cluster address for `ray.init`. Results as they finish."""
    import jax

    ray = _import_ray()
    devices = len(jax.devices("cpu"))
    env = {"CAREDRIVE_CPU_DEVICES": str(devices)}
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        env["JAX_COMPILATION_CACHE_DIR"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
    started = not ray.is_initialized()
    if started:
        kw = {"num_cpus": 2} if address == "auto" else {"address": address}
        try:
            ray.init(runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False, **kw)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise ConfigError(f"--ray={address!r}: could not start or reach Ray ({e}).") from None
    try:
        task = ray.remote(num_cpus=1, max_calls=1)(ray_task)
        pending = {task.remote(_with_devices(j, devices)): j for j in todo}
        echo(f"Ray: {len(pending)} settings submitted as tasks ({ray.cluster_resources().get('CPU', 0):g} CPUs)")
        out = {}
        t0 = time.perf_counter()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            j = pending.pop(ready[0])
            try:
                out[j.setting.name] = ray.get(ready[0])
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, ConfigError):
                    raise ConfigError(f"setting {j.setting.name!r}: {cause}") from None
                raise
            say_setting(echo, finished_before + len(out), n, out[j.setting.name], time.perf_counter() - t0)
            Path(j.run).mkdir(parents=True, exist_ok=True)  # a remote worker wrote its own copy: keep one here
            write_atomic(Path(j.run) / "setting.json", json.dumps(out[j.setting.name], indent=1))
        return out
    finally:
        if started:
            ray.shutdown()


def _with_devices(job: Job, devices: int) -> Job:
    from dataclasses import replace

    return replace(job, cpu_devices=devices)
