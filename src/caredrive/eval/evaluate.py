"""`evaluate_run`: every trained seed and every baseline, on the training world and the whole battery,
with the same episode keys; writes RUN/eval.json (the schema the report reads) and GIFs.

Each policy kind is ONE jitted call: a vmap over worlds and episodes (and over seeds for networks), so
the cost is a handful of compiles, not a Python loop over worlds. The trained seeds and the selfish
baseline's seeds share one network call (same architecture, weights concatenated along the seed axis).

Baselines: `none` (the mother leaves at the birth, `mother_leaves`), `idle`, `random`, `selfish` (the
same trainer and config with the `self` reward in every phase, trained on demand and cached in
RUN/baselines/selfish and a shared cache, `caredrive.eval.selfish`; its seeds are pooled) and `carer` (scripted, privileged: the upper reference).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env.policies import POLICIES
from caredrive.env.render import render_rgb, save_gif
from caredrive.eval import metrics as M
from caredrive.eval import score as S
from caredrive.eval.battery import Battery, build_battery, seen_in_training
from caredrive.eval.battery import headline as battery_headline
from caredrive.eval.cares import DEFINITION
from caredrive.eval.cares import count as count_cares
from caredrive.eval.selfish import selfish_baseline
from caredrive.eval.tracker import episode_states_fn
from caredrive.train.load import load_config, load_trained
from caredrive.train.run import Trained
from caredrive.train.rundir import write_atomic

GIF_CELL, GIF_EVERY, GIF_TAIL = 16, 2, 12


def _np(tree):
    return jax.tree.map(np.asarray, jax.device_get(tree))


def _world(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def _stack(a, b):
    return dataclasses.replace(a, weights=jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a.weights, b.weights))


def evaluate_run(run_path: Path | str, episodes: int = 256, seed: int = 0, progress: bool = True,
                 gifs: bool = True, selfish: bool = True, selfish_seeds: int = 1) -> dict:
    """Evaluate a run; write RUN/eval.json and RUN/videos/*.gif; return the short verdict.

    The selfish baseline pools its first `selfish_seeds` seeds (one by default: each network seed
    costs as much as a trained seed; `selfish=False` uses the scripted forager instead, for tests).
    Scoring goes through `caredrive.eval.score`, the seam interp and the experiments use too."""
    t0 = time.perf_counter()
    run_path = Path(run_path)
    trained = load_trained(run_path)
    selfish_t = selfish_baseline(run_path, progress, selfish_seeds) if selfish else None
    if selfish_t is not None:
        k = max(1, min(selfish_seeds, selfish_t.seeds))
        selfish_t = dataclasses.replace(selfish_t, seeds=k, policy=jax.tree.map(lambda x: x[:k], selfish_t.policy))
    t_eval = time.perf_counter()
    bat = build_battery(trained.world, trained.env_params)
    steps = int(trained.env_params.max_steps)
    keys = jax.random.split(jax.random.key(seed), episodes)

    def say(msg):
        if progress:
            print(f"  {msg} ({time.perf_counter() - t_eval:.0f} s)", flush=True)

    if progress:
        print(f"evaluating {trained.seeds} seeds and 5 baselines on {len(bat.worlds)} worlds x {episodes} episodes ...",
              flush=True)
    # the trained seeds and the selfish seeds share one network call (one compile)
    stacked = trained.policy if selfish_t is None else _stack(trained.policy, selfish_t.policy)
    played = S.play_stack(bat, stacked, keys, steps)
    say(f"{trained.seeds} trained seeds" + (f", {selfish_t.seeds} selfish seeds" if selfish_t is not None else ""))
    bench = S.make_bench(trained.world, trained.env_params, episodes=episodes, seed=seed,
                         selfish_results=played[trained.seeds:] if selfish_t is not None else None)
    say("none, idle, random, carer" + ("" if selfish_t is not None else ", scripted forager"))
    parts = (bench.battery, bench.hosts, bench.adopted, steps)
    seeds = [f"seed_{i}" for i in range(trained.seeds)]
    by_policy = {**bench.refs, **{s: S.tables(parts, played[i]) for i, s in enumerate(seeds)}}
    names = ["none", "idle", "random", "selfish", "carer", *seeds]
    worlds, tables_by_world, boots_by_world = [], [], []
    for wi, w in enumerate(bench.battery.worlds):
        tables = {n: by_policy[n][wi] for n in names}
        pols, boots = {}, {}
        for n in names:
            pols[n], boots[n] = S.summary(bench, wi, tables[n])
        worlds.append({"name": w.name, "kind": w.kind, "pair": w.pair, "description": w.description, "policies": pols})
        tables_by_world.append(tables)
        boots_by_world.append(boots)

    train_pols, train_boots = worlds[0]["policies"], boots_by_world[0]
    per_seed = []
    for i, s in enumerate(seeds):
        p = train_pols[s]
        per_seed.append({"seed": i, "care_score": p["care_score"], "care_ci": p["care_ci"],
                         "care_undefined": p["care_undefined"], "flagged": p["goodhart"]["flag"], "cares": p["cares"]})
    care = {"per_seed": per_seed, "definition": DEFINITION, "selfish_reference": bench.selfish_kind,
            **M.across_seeds([p["care_score"] for p in per_seed], [train_boots[s] for s in seeds], seed)}
    care["caring_seeds"], care["scored_seeds"] = count_cares(per_seed)
    battery_summary = {}
    for w in worlds:
        sc = [w["policies"][s]["care_score"] for s in seeds if w["policies"][s]["care_score"] is not None]
        why = next((w["policies"][s]["care_undefined"] for s in seeds if w["policies"][s]["care_undefined"]), None)
        carer, none = w["policies"]["carer"]["mean_lifetime"], w["policies"]["none"]["mean_lifetime"]
        battery_summary[w["name"]] = {
            "kind": w["kind"],
            "care_score_mean": float(np.mean(sc)) if sc else None,
            "care_undefined": None if sc else why,
            "caring_seeds": sum(w["policies"][s]["cares"] is True for s in seeds),
            "carer_beats_none": None if carer is None or none is None else bool(carer > none),
        }
    cfg = load_config(run_path)
    seen = seen_in_training(bench.battery, trained.env_params, trained.world.config.grid_size, cfg.vary)
    for w, was_seen in zip(worlds, seen, strict=True):
        w["seen_in_training"] = was_seen
        battery_summary[w["name"]]["seen_in_training"] = was_seen
    flags = {s: train_pols[s]["goodhart"] for s in seeds}
    say("metrics")
    gif_paths = write_gifs(run_path, bench.battery, trained, tables_by_world, keys, steps, seeds) if gifs else {}
    out = {
        "run": str(run_path), "world": trained.world.name, "episodes": episodes, "max_steps": steps, "seed": seed,
        "seeds": trained.seeds, "wall_time_s": time.perf_counter() - t_eval, "worlds": worlds, "care": care,
        "battery_summary": battery_summary, "battery_headline": battery_headline(battery_summary),
        "training_distribution": [{"field": v.field, "values": list(v.values)} for v in cfg.vary],
        "goodhart": flags, "gifs": gif_paths,
    }
    out = M.clean(out)
    write_atomic(run_path / "eval.json", json.dumps(out, indent=1))  # a kill leaves the old file or the new
    verdict = {
        "run": str(run_path), "eval_json": str(run_path / "eval.json"), "episodes": episodes,
        "care": out["care"], "battery_summary": out["battery_summary"], "battery_headline": out["battery_headline"],
        "goodhart": {s: {"flag": g["flag"], "reasons": g["reasons"]} for s, g in out["goodhart"].items()},
        "wall_time_s": out["wall_time_s"], "total_time_s": time.perf_counter() - t0,
    }
    if progress:
        print(f"wrote {run_path / 'eval.json'} in {out['wall_time_s']:.0f} s", flush=True)
    return verdict


def write_gifs(run_path: Path, bat: Battery, trained: Trained, tables: list[dict], keys, steps: int,
               seeds: list[str]) -> dict:
    """Best and worst episode (mean lifetime of the counted babies) per world, for seed_0 (or the
    carer in a run without seeds), replayed with the episode's own key and rendered outside jit."""
    who = seeds[0] if seeds else "carer"
    policy = jax.tree.map(lambda x: x[0], trained.policy) if seeds else POLICIES["carer"](bat.env)
    videos = run_path / "videos"
    videos.mkdir(exist_ok=True)
    replay = episode_states_fn(bat.env, policy, steps)
    out = {}
    for wi, w in enumerate(bat.worlds):
        t = tables[wi][who]
        s, n = M._pooled(t["lifetime"], t["counted"])
        per_ep = np.where(n > 0, s / np.maximum(n, 1), np.nan)
        if not np.isfinite(per_ep).any():
            continue
        picks = {"best": int(np.nanargmax(per_ep)), "worst": int(np.nanargmin(per_ep))}
        out[w.name] = {}
        for label, e in picks.items():
            first, states = _np(replay(bat.world_params(wi), keys[e]))
            f = bat.env.config.n_families
            babies = states.agents.alive[:, f : 2 * f].any(1)
            # stop a little after the last baby dies: the rest of a lost episode shows nothing new
            stop = steps if babies[-1] else min(steps, int(np.nonzero(babies)[0].max(initial=0)) + 1 + GIF_TAIL)
            frames = [render_rgb(first, bat.env, cell=GIF_CELL)]
            frames += [render_rgb(_world(states, k), bat.env, cell=GIF_CELL) for k in range(GIF_EVERY - 1, stop, GIF_EVERY)]
            name = f"{w.name}_{label}.gif"
            save_gif(frames, videos / name, fps=8)
            out[w.name][label] = f"videos/{name}"
    return out
