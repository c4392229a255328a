"""The sections of `caredrive interp`: each calls the interp API on a loaded run (`context.Ctx`) and
returns a JSON-able dict with per-seed figures and across-seed summaries (`findings.across`: mean and t95
over seeds). Steering lives in `steer_section`."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from caredrive.errors import ConfigError
from caredrive.eval.score import score, self_survival
from caredrive.interp import edits, patching
from caredrive.interp.cka import cka_report
from caredrive.interp.context import Ctx, Episodes
from caredrive.interp.findings import across
from caredrive.interp.lesions import THRESHOLDS, lesion_sweep
from caredrive.interp.probes import ProbeConfig, probe
from caredrive.interp.record import fresh_policy, record, record_sequences, replay
from caredrive.interp.seed_transfer import probe_transfer
from caredrive.interp.steer_section import compact_retarget, steer_section
from caredrive.train.policy import NetworkPolicy

__all__ = ["SECTION_FNS", "Ctx", "Episodes"]

PROBE_EVERY = 4  # ticks kept per probe sample (neighbouring ticks are nearly the same sample)
PATCH_TAPS = ("enc0", "enc1", "gru", "pi0")
PATCH_GROUPS = ("all", "halves", "quarters", "top4")
MAX_PAIRS = 1024  # pairs per kind and seed: a fixed shape, so each tap's patch compiles once for every seed
POOL_EPISODES = 16  # recorded episodes whose activations mean and resample ablation draw from
POOL_ROWS = 2048  # rows drawn from them: a fixed shape, so each kind's sweep compiles once for every seed


# --- probes -------------------------------------------------------------------------------------------


def probes_section(ctx: Ctx) -> dict:
    rec = record(
        ctx.policy, ctx.env, ctx.params(ctx.world), ctx.keys(ctx.episodes.probes, 1), every=PROBE_EVERY
    )
    res = probe(rec)
    names = {str(i): str(m) for i, m in enumerate(ctx.members)}
    per_seed = {names[k]: v for k, v in res["seeds"].items()}
    seeds = [str(m) for m in ctx.members]
    summary = {}
    for tap in res["config"]["taps"]:
        summary[tap] = {}
        for t in res["config"]["targets"]:
            get = lambda k, tap=tap, t=t: [per_seed[s][tap][t][k] for s in seeds]
            summary[tap][t] = {
                "metric": res["targets"][t]["metric"],
                **{k: across(get(k)) for k in ("score", "shuffled", "raw_obs", "gain_over_raw", "chance")},
            }
    ctx.tick("probes")
    return {
        "seeds": seeds,
        "rows": rec.n,
        "every": PROBE_EVERY,
        "config": res["config"],
        "split": res["episodes"],
        "targets": res["targets"],
        "headline_tap": ctx.tap if ctx.tap in summary and ctx.tap != "input" else "gru",
        "per_seed": per_seed,
        "summary": summary,
    }


# --- lesions ------------------------------------------------------------------------------------------


def lesion_plan(width: int, units) -> list[tuple[str, list[tuple[str, list[int]]]]]:
    """(kind, [(label, units)]): mean ablation of every unit alone and of groups (one sweep, one compile);
    zero and resample ablation of the groups. `units` (a list of ints / lists) replaces the single units."""
    groups = [("all", list(range(width)))]
    groups += [(f"half {i}", g) for i, g in enumerate(edits.split_groups(width, min(2, width)))]
    groups += [(f"quarter {i}", g) for i, g in enumerate(edits.split_groups(width, min(4, width)))]
    if units is None:
        singles = [(f"unit {u}", [u]) for u in range(width)]
    else:
        singles = [
            (
                f"units {u}" if np.ndim(u) else f"unit {u}",
                [int(u)] if np.ndim(u) == 0 else [int(x) for x in u],
            )
            for u in units
        ]
    return [("mean", singles + groups), ("zero", groups), ("resample", groups)]


def fixed_pool(pool: np.ndarray, seed: int, rows: int = POOL_ROWS) -> np.ndarray:
    """`rows` rows drawn from the recorded activations (without replacement when there are enough)."""
    if len(pool) == 0:
        raise ConfigError(
            "no living mother in the recorded episodes: nothing to draw mean / resample values from."
        )
    pick = np.random.default_rng(seed).choice(len(pool), rows, replace=len(pool) < rows)
    return np.asarray(pool)[pick]


def _lesion_rows(res: dict, labels: list[str]) -> dict:
    rows = [{"label": lab, **r} for lab, r in zip(labels, res["lesions"], strict=True)]
    return {"base": res["base"], "rows": rows, "care_specific": [labels[i] for i in res["care_specific"]]}


def lesions_section(ctx: Ctx) -> dict:
    width = edits.tap_width(ctx.policy, ctx.tap)
    plan = lesion_plan(width, ctx.units)
    train_p = ctx.params("train")
    per_seed: dict[str, dict] = {}
    for m in ctx.members:
        pol = ctx.one(m)
        pool = fixed_pool(
            edits.pool_of(
                edits.record(pol, ctx.env, train_p, POOL_EPISODES, ctx.seed + 1, ctx.steps),
                ctx.tap,
                pol.learners,
            ),
            ctx.seed + m,
        )
        per_seed[str(m)] = {}
        for kind, named in plan:
            res = _sweep(ctx, pol, kind, [u for _, u in named], pool)
            per_seed[str(m)][kind] = _lesion_rows(res, [lab for lab, _ in named])
        ctx.tick(f"lesions seed {m}")
    first = per_seed[str(ctx.members[0])]
    return {
        "tap": ctx.tap,
        "seeds": list(per_seed),
        "thresholds": vars(THRESHOLDS),
        "care_reference": ctx.bench.selfish_kind,
        "per_seed": per_seed,
        "summary": {kind: _lesion_summary(per_seed, kind) for kind in first},
    }


def _sweep(ctx: Ctx, pol: NetworkPolicy, kind: str, units: list[list[int]], pool) -> dict:
    return lesion_sweep(
        pol,
        ctx.trained.world,
        ctx.trained.env_params,
        kind=kind,
        tap=ctx.tap,
        units=units,
        bench=ctx.bench,
        pool=pool,
        seed=ctx.seed,
    )


def _lesion_summary(per_seed: dict, kind: str) -> dict:
    seeds = list(per_seed)
    rows = {s: per_seed[s][kind]["rows"] for s in seeds}
    singles = {s: [r for r in rows[s] if r["label"].startswith("unit")] for s in seeds}
    out: dict = {
        "base_care": across([per_seed[s][kind]["base"]["care_score"] for s in seeds]),
        "base_self": across([per_seed[s][kind]["base"]["self_lifetime"] for s in seeds]),
    }
    if any(singles.values()):
        top = {
            s: max(singles[s], key=lambda r: -np.inf if r["care_drop"] is None else r["care_drop"])
            for s in seeds
        }
        sure = lambda r: r["care_drop_ci"] is not None and r["care_drop_ci"][0] > 0
        out["singles"] = {
            "max_care_drop": across([top[s]["care_drop"] for s in seeds]),
            "max_unit": {s: top[s]["label"] for s in seeds},
            "units_with_care_drop": across([sum(sure(r) for r in singles[s]) for s in seeds]),
            "units": len(singles[seeds[0]]),
        }
    out["care_specific"] = {s: [lab for lab in per_seed[s][kind]["care_specific"]] for s in seeds}
    groups = [r["label"] for r in rows[seeds[0]] if not r["label"].startswith("unit")]
    out["groups"] = {
        g: {
            k: across([next(r[k] for r in rows[s] if r["label"] == g) for s in seeds])
            for k in ("care_drop", "self_drop")
        }
        for g in groups
    }
    return out


# --- patching -----------------------------------------------------------------------------------------


def cap_pairs(pairs: patching.Pairs, n: int, seed: int) -> patching.Pairs:
    """At most `n` pairs, drawn at random: a fixed shape across seeds and kinds (one compile per tap)."""
    if pairs.n <= n:
        return pairs
    keep = np.sort(np.random.default_rng(seed).choice(pairs.n, n, replace=False))
    sel = lambda x: np.asarray(x)[keep]
    return patching.Pairs(
        pairs.kind,
        jax.tree.map(sel, pairs.clean),
        jax.tree.map(sel, pairs.corrupt),
        *(sel(getattr(pairs, f)) for f in ("carry", "reset", "role", "toward", "episode", "tick", "learner")),
    )


def patching_section(ctx: Ctx) -> dict:
    params = ctx.params(ctx.world)
    per_seed: dict[str, dict] = {}
    for m in ctx.members:
        pol = ctx.one(m)
        trace = edits.record(pol, ctx.env, params, ctx.episodes.patching, ctx.seed + 2, ctx.steps)
        per_seed[str(m)] = {}
        for kind in patching.KINDS:
            try:
                pairs = patching.matched_pairs(ctx.env, params, trace, pol, kind)
            except ConfigError as err:  # not applicable here (unlabelled babies, no such situation): say why
                per_seed[str(m)][kind] = {"skipped": str(err)}
                continue
            found = pairs.n
            pairs = cap_pairs(pairs, MAX_PAIRS, ctx.seed + m)
            res = patching.patch_sweep(pol, pairs, taps=PATCH_TAPS, groups=PATCH_GROUPS, seed=ctx.seed)
            per_seed[str(m)][kind] = {**res, "pairs_found": found, "outcome": _outcome(ctx, pol, pairs)}
        ctx.tick(f"patching seed {m}")
    return {
        "world": ctx.world,
        "taps": list(PATCH_TAPS),
        "groups": list(PATCH_GROUPS),
        "max_pairs": MAX_PAIRS,
        "per_seed": per_seed,
        **_patch_summary(per_seed),
    }


def _outcome(ctx: Ctx, pol: NetworkPolicy, pairs: patching.Pairs) -> dict:
    """The episode outcome of the patch where that is honest (`patching.episode_effect`): own_vs_other as
    a constant shift scored in foster; for the others the reason there is none."""
    if pairs.kind in patching.NO_OUTCOME or ctx.bench is None:
        return {"outcome": None, "why": patching.NO_OUTCOME.get(pairs.kind, "no scoring bench in this call")}
    r = patching.episode_effect(
        pol, ctx.trained.world, ctx.trained.env_params, pairs, tap=ctx.tap, seed=ctx.seed, bench=ctx.bench
    )
    return {"outcome": compact_retarget(r["outcome"]), "why": None}


def _patch_summary(per_seed: dict) -> dict:
    """Across seeds, per kind: the clean - corrupted gap, and the restored fractions over the seeds in which
    the two situations differ at all (the gap's own 95% interval excludes 0): a share of nothing is noise."""
    seeds = list(per_seed)
    summary, gaps, used = {}, {}, {}
    for kind in patching.KINDS:
        done = [s for s in seeds if "taps" in per_seed[s][kind]]
        if not done:
            summary[kind] = {"skipped": per_seed[seeds[0]][kind].get("skipped")}
            continue
        gaps[kind] = across([per_seed[s][kind]["gap"] for s in done])
        moved = [s for s in done if _excludes_zero(per_seed[s][kind].get("gap_ci"))]
        used[kind] = moved
        if not moved:
            summary[kind] = {
                "skipped": "in no seed do the two situations move the logit toward her baby (each "
                "seed's gap interval holds 0): there is nothing to restore"
            }
            continue
        restored = lambda s, tap, g, kind=kind: next(
            r["restored"] for r in per_seed[s][kind]["taps"][tap] if r["group"] == g
        )
        summary[kind] = {
            tap: {row["group"]: across([restored(s, tap, row["group"]) for s in moved]) for row in rows}
            for tap, rows in per_seed[moved[0]][kind]["taps"].items()
        }
    return {"summary": summary, "gaps": gaps, "seeds_used": used}


def _excludes_zero(ci) -> bool:
    return bool(ci) and (ci[0] > 0 or ci[1] < 0)


# --- across seeds: CKA and probe transfer --------------------------------------------------------------


def cka_section(ctx: Ctx) -> dict:
    if len(ctx.members) < 2:
        ctx.tick("cka")
        return {"skipped": "CKA and probe transfer compare seeds: choose at least two seeds."}
    seqs = record_sequences(
        ctx.policy, ctx.env, ctx.params(ctx.world), ctx.keys(ctx.episodes.cka, 3), taps=("input",)
    )
    aligned = replay(ctx.policy, seqs)
    untrained = replay(fresh_policy(ctx.policy, jax.random.key(ctx.seed + 5)), seqs)
    report = cka_report(aligned, untrained, seed=ctx.seed)
    names = [str(m) for m in ctx.members]
    report["seeds"] = names
    report["labels"] = [
        f"seed{names[int(lab[4:].split('/')[0])]}/{lab.split('/')[1]}" for lab in report["labels"]
    ]
    transfer = probe_transfer(aligned, ProbeConfig(seed=ctx.seed))
    transfer["seeds"] = names
    ctx.tick("cka")
    return {"world": ctx.world, "report": report, "probe_transfer": transfer}


# --- over training ------------------------------------------------------------------------------------


def training_section(ctx: Ctx) -> dict:
    from caredrive.interp.over_training import final_minus_first, probes_over_training
    from caredrive.train.snapshots import list_snapshots

    if not list_snapshots(ctx.run):
        ctx.tick("training")
        return {
            "skipped": "the run keeps no weight snapshots (trained before snapshots existed, or with "
            "--run.snapshots 0): nothing to probe over training."
        }
    res = probes_over_training(
        ctx.run,
        episodes=ctx.episodes.training,
        seed=ctx.seed,
        every=PROBE_EVERY,
        cfg=ProbeConfig(taps=("enc1", "gru", "pi0"), seed=ctx.seed),
    )
    keep = [i for i, s in enumerate(res["seeds"]) if s in ctx.members]
    for per in res["series"].values():
        for s in per.values():
            for k, v in s.items():
                s[k] = [[row[i] for i in keep] for row in v]
    res["seeds"] = [str(res["seeds"][i]) for i in keep]
    res["final_minus_first"] = final_minus_first(res)
    ctx.tick("training")
    return res


# --- parameter override -------------------------------------------------------------------------------


def overridden(policy: NetworkPolicy, overrides: tuple[str, ...]) -> NetworkPolicy:
    """`policy` (stacked) with every `PATH=V` / `PATH*=F` applied in order; a bad one is a ConfigError."""
    for spec in overrides:
        policy = edits.override_policy(policy, *edits.parse_override(spec))
    return policy


def override_section(ctx: Ctx) -> dict:
    changed = overridden(ctx.policy, ctx.overrides)
    n = len(ctx.members)
    both = dataclasses.replace(
        ctx.policy,
        weights=jax.tree.map(lambda a, b: jax.numpy.concatenate([a, b]), ctx.policy.weights, changed.weights),
    )
    t0 = time.perf_counter()
    scored = score(ctx.bench, both)  # original and overridden in one stack: one compile, the same episodes
    alive = self_survival(ctx.trained.world, ctx.trained.env_params, both, ctx.episodes.score, ctx.seed)
    pair = {"original": scored[:n], "overridden": scored[n:]}
    own = {"original": alive[:n], "overridden": alive[n:]}
    per_seed = {}
    for i, m in enumerate(ctx.members):
        per_seed[str(m)] = {
            k: {
                "worlds": {
                    w: {
                        f: s.get(f)
                        for f in (
                            "care_score",
                            "care_ci",
                            "care_undefined",
                            "mean_lifetime",
                            "lifetime_ci",
                            "cares",
                        )
                    }
                    | {"flag": s["goodhart"]["flag"]}
                    for w, s in pair[k][i].items()
                },
                "self_survival": own[k][i],
            }
            for k in pair
        }
    seeds = list(per_seed)
    summary = {
        w: {k: across([per_seed[s][k]["worlds"][w]["care_score"] for s in seeds]) for k in pair}
        for w in ctx.bench.names
    }
    ctx.tick("override")
    return {
        "overrides": list(ctx.overrides),
        "care_reference": ctx.bench.selfish_kind,
        "per_seed": per_seed,
        "summary": summary,
        "self_survival": {
            k: across([per_seed[s][k]["self_survival"]["mean_lifetime"] for s in seeds]) for k in pair
        },
        "scoring_s": round(time.perf_counter() - t0, 1),
    }


SECTION_FNS = {
    "probes": probes_section,
    "lesions": lesions_section,
    "patching": patching_section,
    "steer": steer_section,
    "cka": cka_section,
    "training": training_section,
    "override": override_section,
}
