"""The steering section of `caredrive interp`: per seed, the own-vs-other and needs-vs-not vectors
(`steer.concept_vectors`), each scored by `steer.retarget` (retarget success in foster and decoy beside
equal-norm random vectors, and the switch-off on the training world); one vector moved from a seed to
another (raw and through a linear map); the GIF of a steered mother beside the unsteered one.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from caredrive.errors import ConfigError
from caredrive.eval.battery import Battery
from caredrive.interp import edits, steer
from caredrive.interp.context import Ctx, rounded
from caredrive.interp.findings import across

N_RANDOM = 4  # equal-norm random vectors beside every steering vector


def steer_section(ctx: Ctx) -> dict:
    per_seed, vectors = {}, {}
    for m in ctx.members:
        pol = ctx.one(m)
        try:
            cv = steer.concept_vectors(
                pol,
                ctx.trained.world,
                ctx.trained.env_params,
                ctx.tap,
                ctx.episodes.vectors,
                ctx.seed,
                battery=sub_battery(ctx.battery, ("train", "foster")),
            )
        except ConfigError as err:  # a situation never seen in these episodes: say so, go on
            per_seed[str(m)] = {"skipped": str(err)}
            ctx.tick(f"steer seed {m}")
            continue
        own = cv["own_vs_other"] if ctx.vector is None else ctx.vector
        vectors[m] = {"own_vs_other": own, "needs_vs_not": cv["needs_vs_not"]}
        per_seed[str(m)] = {
            "counts": cv["counts"],
            "norms": {k: rounded(np.linalg.norm(v)) for k, v in vectors[m].items()},
            "vector": "user" if ctx.vector is not None else "own_vs_other",
        }
        for name, v in vectors[m].items():
            per_seed[str(m)][name] = compact_retarget(_retarget(ctx, pol, v))
        ctx.tick(f"steer seed {m}")
    out = {
        "tap": ctx.tap,
        "alpha": ctx.alpha,
        "n_random": N_RANDOM,
        "care_reference": ctx.bench.selfish_kind,
        "per_seed": per_seed,
    }
    done = [m for m in ctx.members if m in vectors]
    if not done:
        return {
            **out,
            "skipped": "no seed gave steering vectors: " + per_seed[str(ctx.members[0])]["skipped"],
        }
    out["summary"] = _steer_summary({str(m): per_seed[str(m)] for m in done})
    if len(ctx.members) >= 2:
        if len(done) >= 2:
            out["transfer"] = vector_transfer(ctx, done[0], done[1], vectors)
        ctx.tick("steer transfer")
    if ctx.gif_dir is not None:
        from caredrive.interp.gif import steering_gif

        best = max(done, key=lambda m: _gain(per_seed[str(m)]))
        out["gif"] = steering_gif(ctx, best, vectors[best]["own_vs_other"], ctx.gif_dir / "steer.gif")
        ctx.tick("steer gif")
    return out


def sub_battery(bat: Battery, names: tuple[str, ...]) -> Battery:
    """The worlds `names` of `bat`, in that order, on the SAME env object (so nothing compiled for `bat`
    is compiled again): `steer.concept_vectors` wants exactly (train, foster)."""
    idx = [[w.name for w in bat.worlds].index(n) for n in names]
    return dataclasses.replace(
        bat,
        worlds=tuple(bat.worlds[i] for i in idx),
        params=jax.tree.map(lambda x: x[np.asarray(idx)], bat.params),
        counts_adopted=bat.counts_adopted[np.asarray(idx)],
    )


def _retarget(ctx: Ctx, pol, v) -> dict:
    return steer.retarget(
        pol,
        ctx.trained.world,
        ctx.trained.env_params,
        ctx.tap,
        v,
        alpha=ctx.alpha,
        n_random=N_RANDOM,
        seed=ctx.seed,
        bench=ctx.bench,
    )


def compact_retarget(r: dict) -> dict:
    """A retarget result without the per-shift table of every world (kept: the retarget worlds' lines for
    steered, unsteered and each random vector, and the switch-off)."""
    rnd = [k for k in r["all"] if k.startswith("random_")]
    worlds = {
        w: {"steered": s["steered"], "unsteered": s["unsteered"], "random": [r["all"][k][w] for k in rnd]}
        for w, s in r["retarget"].items()
    }
    neg = lambda x: None if x is None else -x
    off_random = [
        {
            "care_drop": neg(r["all"][k]["train"]["care_vs_none"]),
            "self_drop": r["all"][k]["self_survival"]["drop_vs_none"],
        }
        for k in rnd
    ]
    return {
        "norm": r["norm"],
        "retarget": worlds,
        "switch_off": r["switch_off"],
        "switch_off_random": off_random,
    }


def _gain(seed_res: dict) -> float:
    f = seed_res["own_vs_other"]["retarget"].get("foster") or {}
    g = (f.get("steered") or {}).get("lifetime_vs_none")
    return -np.inf if g is None else float(g)


def _steer_summary(per_seed: dict) -> dict:
    seeds = list(per_seed)
    out: dict = {"retarget": {}, "switch_off": {}}
    first = per_seed[seeds[0]]["own_vs_other"]["retarget"]
    for w in first:
        get = lambda s, w=w: per_seed[s]["own_vs_other"]["retarget"][w]
        rnd = lambda s, get=get: [
            r["lifetime_vs_none"] for r in get(s)["random"] if r["lifetime_vs_none"] is not None
        ]
        out["retarget"][w] = {
            "steered": across([get(s)["steered"]["lifetime_vs_none"] for s in seeds]),
            "random": across([float(np.mean(rnd(s))) if rnd(s) else None for s in seeds]),
            "steered_lifetime": across([get(s)["steered"]["lifetime"] for s in seeds]),
            "unsteered_lifetime": across([get(s)["unsteered"]["lifetime"] for s in seeds]),
            "steered_care": across([get(s)["steered"]["care_score"] for s in seeds]),
            "unsteered_care": across([get(s)["unsteered"]["care_score"] for s in seeds]),
        }
    for name in ("own_vs_other", "needs_vs_not"):
        off = lambda s, name=name: per_seed[s][name]["switch_off"]
        out["switch_off"][name] = {
            "care_drop": across(
                [
                    None if off(s)["train"]["care_vs_none"] is None else -off(s)["train"]["care_vs_none"]
                    for s in seeds
                ]
            ),
            "self_drop": across([off(s)["self_survival"]["drop_vs_none"] for s in seeds]),
            "random_care_drop": across(
                [
                    _mean([q["care_drop"] for q in per_seed[s][name].get("switch_off_random", [])])
                    for s in seeds
                ]
            ),
            "random_self_drop": across(
                [
                    _mean([q["self_drop"] for q in per_seed[s][name].get("switch_off_random", [])])
                    for s in seeds
                ]
            ),
        }
    return out


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def vector_transfer(ctx: Ctx, a: int, b: int, vectors: dict) -> dict:
    """Seed a's own_vs_other vector on seed b: raw and through a ridge map from a's activations to b's
    (a's recording replayed through b), scored like b's own vector (`steer.transfer` without building a
    second battery, so every compiled function here is reused)."""
    pa, pb = ctx.one(a), ctx.one(b)
    va, vb = vectors[a]["own_vs_other"], vectors[b]["own_vs_other"]
    trace = edits.record(pa, ctx.env, ctx.params("train"), ctx.episodes.vectors, ctx.seed + 7, ctx.steps)
    alive = trace["state"].agents.alive[..., np.asarray(pa.learners)]
    src = trace["acts"][ctx.tap][alive]
    dst = steer.replay_acts(pb, trace, ctx.tap)[alive]
    m = steer.linear_map(src, dst)
    mapped = (va @ m).astype(np.float32)
    resid = dst - dst.mean(0) - (src - src.mean(0)) @ m
    cos = lambda x, y: (
        rounded(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        if np.linalg.norm(x) * np.linalg.norm(y) > 0
        else None
    )
    out = {
        "from": str(a),
        "to": str(b),
        "cos_raw_vs_own": cos(va, vb),
        "cos_mapped_vs_own": cos(mapped, vb),
        "map_r2": rounded(1 - (resid**2).sum() / max(((dst - dst.mean(0)) ** 2).sum(), 1e-12)),
    }
    for name, v in (("raw", va), ("mapped", mapped)):
        r = compact_retarget(_retarget(ctx, pb, v))
        out[name] = {w: r["retarget"][w]["steered"] for w in r["retarget"]}
    return out
