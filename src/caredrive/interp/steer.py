"""Steering: difference-of-means vectors added at one tap, and whether they retarget or switch off care.

Vectors (`concept_vectors`), from a recording of the mother at `tap`:
- `own_vs_other`: mean activation when her own baby is in view and no other baby is, minus the mean when
  another baby is in view and hers is not (by true positions, so unlabelled worlds work too; recorded in
  the battery's `train` and `foster` worlds, where the foster gives many ticks beside a baby not hers).
- `needs_vs_not`: her baby crying or hungry (energy below `cry_hunger`) minus neither (`train` world).
A vector is applied as `UnitEdit(scale=1, shift=alpha * v)` every tick.

**Retarget success**: in `foster` and `decoy`, the care given to the *other* baby, i.e. the baby born
beside her that is not hers: the adopted slot of `body.birth_host`. The battery's own tables count it in
`foster` but not in `decoy` (`counts_adopted=False`: only her own counts there), so here every table of
those two worlds, references included, is re-counted on the adopted slot alone. A born baby is one that is
alive or has a cause of death (`metrics.baby_table` keeps no birth flag; an unborn slot is dead with cause
`alive`). In `decoy` the scripted carer ignores the lookalike (`policies._ward`), so the care score there is
usually undefined (None, with the reason): the lifetime of the other baby and its paired difference from
the unsteered mother are the figures that always exist.
Controls, on the same episodes: the unsteered mother and `n_random` random vectors of equal norm.
**Switch-off**: `-alpha * v` on the training world: the drop in care score (paired interval) and in her
self-survival (births off), as in `lesions`.

Moving a vector from seed A to seed B (`transfer`): raw (the same numbers at the same units), and through a
ridge-regression map from A's to B's activations on the same observations (A's recording replayed through
B's network). Both are scored on B beside B's own vector; the cosines say how alike they are. Figures only:
seeds share no unit order, so a raw transfer working would be a finding, not an expectation.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import UnitEdit, taps
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.eval import metrics as M
from caredrive.eval.battery import build_battery
from caredrive.eval.score import Bench, make_bench
from caredrive.eval.tracker import run_worlds
from caredrive.interp.edits import check_tap, check_vector, record, tap_width, unpack, with_edit
from caredrive.interp.lesions import life_boots, paired, self_lifetimes
from caredrive.train.policy import NetworkPolicy

RETARGET_WORLDS = ("foster", "decoy")


# --- vectors ----------------------------------------------------------------------------------------------


def steered(policy: NetworkPolicy, tap: str, vector, alpha: float = 1.0) -> NetworkPolicy:
    """The policy with `alpha * vector` added at `tap` every tick."""
    v = check_vector(vector, tap_width(policy, tap), tap)
    return with_edit(policy, {tap: UnitEdit(jnp.ones_like(v), jnp.asarray(alpha * v))})


def load_vector(path) -> tuple[np.ndarray, dict]:
    """A steering vector from a `.npy` file: 1-D, floating point, finite, not all zero; numpy's default
    load (no pickled objects). Returns it as float32 and what interp.json says about it."""
    p = Path(path)
    what = f"--steer-vector {str(path)!r}"
    if p.suffix != ".npy":
        raise ConfigError(f"{what}: not a .npy file: save the vector with numpy.save(FILE.npy, v).")
    if not p.is_file():
        raise ConfigError(f"{what}: no such file.")
    try:
        v = np.load(p)  # numpy's default refuses pickled objects: a vector file is data, never code
    except (ValueError, EOFError) as err:
        why = ("it holds pickled Python objects" if "Object arrays" in str(err)
               else "it is not a .npy array (no .npy header, or cut short)")
        raise ConfigError(f"{what}: {why}; save a plain float array with numpy.save.") from None
    except OSError as err:
        raise ConfigError(f"{what}: cannot be read ({err.strerror or err}).") from None
    if not isinstance(v, np.ndarray):
        v.close()  # an .npz archive under a .npy name
        raise ConfigError(f"{what}: an .npz archive, not a .npy array: save one vector with numpy.save.")
    if v.ndim != 1:
        raise ConfigError(f"{what}: shape {v.shape}: expected a 1-D vector (one value per unit).")
    if not np.issubdtype(v.dtype, np.floating):
        raise ConfigError(f"{what}: dtype {v.dtype}: expected floating point (float16/32/64).")
    if not np.isfinite(v).all():
        raise ConfigError(f"{what}: holds NaN or infinite values.")
    if not np.any(v):
        raise ConfigError(f"{what}: is all zeros: it would steer nothing.")
    info = {"source": "file", "path": str(p.resolve()), "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "norm": float(np.linalg.norm(v.astype(np.float64))), "width": int(v.shape[0])}
    return v.astype(np.float32), info


def random_like(vector, n: int, seed: int = 0) -> np.ndarray:
    """`n` random directions [n, units] with the norm of `vector` (the equal-norm control)."""
    v = np.asarray(vector, np.float64)
    r = np.random.default_rng(seed).standard_normal((n, v.shape[-1]))
    return (r / np.linalg.norm(r, axis=1, keepdims=True) * np.linalg.norm(v)).astype(np.float32)


def situations(trace: dict, env, params, learners) -> dict[str, np.ndarray]:
    """Boolean masks [E, T, L] of a recording, from the ground truth (so they hold in unlabelled worlds,
    where the view draws every baby alike): `own_view` (her baby inside her view window, no other baby),
    `other_view` (another living baby inside it, hers not), `needs` (her baby alive, crying or hungry),
    `fine` (alive and neither); all only where she is alive."""
    idx = np.asarray(learners)
    ag = trace["state"].agents
    r = env.config.view_size // 2
    pos = ag.pos  # [E, T, A, 2]
    gap = np.abs(pos[..., None, :, :] - pos[..., idx, None, :]).max(-1)  # [E, T, L, A] Chebyshev
    baby = ag.alive & (ag.role == C.BABY)  # [E, T, A]
    seen = (gap <= r) & baby[..., None, :]  # [E, T, L, A]
    child = np.asarray(env.child_of)[idx]
    has = child >= 0
    c = np.maximum(child, 0)
    mine = np.zeros(seen.shape[-2:], bool)
    mine[np.arange(len(idx)), c] = has  # [L, A]
    own = (seen & mine).any(-1)
    other = (seen & ~mine).any(-1)
    alive = ag.alive[..., idx]
    baby_alive = ag.alive[..., c] & has & alive
    hungry = ag.energy[..., c] < float(params.cry_hunger)
    needs = baby_alive & (ag.cry[..., c] | hungry)
    return {"own_view": alive & own & ~other, "other_view": alive & other & ~own, "needs": needs,
            "fine": baby_alive & ~needs}


def diff_of_means(acts: np.ndarray, a: np.ndarray, b: np.ndarray, what: str = "vector") -> np.ndarray:
    """mean(acts[a]) - mean(acts[b]) over rows of `acts` [..., units] picked by masks `a`, `b` [...]."""
    if not a.any() or not b.any():
        raise ConfigError(f"{what}: no recorded ticks for one side ({int(a.sum())} vs {int(b.sum())}): "
                          "record more episodes.")
    return (acts[a].mean(0) - acts[b].mean(0)).astype(np.float32)


def concept_vectors(trained_or_policy, world=None, env_params=None, tap: str = "gru", episodes: int = 32,
                    seed: int = 0, member: int = 0, battery=None) -> dict:
    """`{"own_vs_other": v, "needs_vs_not": v, "counts": {...}}` at `tap` (see the module docstring).
    `battery`: a prebuilt `build_battery(world, env_params, ("train", "foster"))`, so that several calls
    (seeds) share one compiled recording."""
    check_tap(tap)
    policy, world, env_params = unpack(trained_or_policy, world, env_params, member)
    bat = build_battery(world, env_params, ("train", "foster")) if battery is None else battery
    steps = int(env_params.max_steps)
    masks, acts = [], []
    for wi in range(len(bat.worlds)):
        p = bat.world_params(wi)
        trace = record(policy, bat.env, p, episodes, seed + wi, steps)
        masks.append(situations(trace, bat.env, p, policy.learners))
        acts.append(trace["acts"][tap])
    cat = lambda k: np.concatenate([m[k] for m in masks])
    a = np.concatenate(acts)
    own, other = cat("own_view"), cat("other_view")
    train = lambda k: np.concatenate([masks[0][k], np.zeros_like(masks[1][k])])
    return {
        "own_vs_other": diff_of_means(a, own, other, "own_vs_other"),
        "needs_vs_not": diff_of_means(a, train("needs"), train("fine"), "needs_vs_not"),
        "counts": {"own_view": int(own.sum()), "other_view": int(other.sum()), "needs": int(train("needs").sum()),
                   "fine": int(train("fine").sum())},
        "tap": tap,
    }


# --- scoring shifts on the bench -----------------------------------------------------------------------


@lru_cache(maxsize=16)
def _shift_fn(env, steps: int, tap: str):
    def body(pol, shifts, params, keys):
        one = lambda s: run_worlds(env, with_edit(pol, {tap: UnitEdit(jnp.ones_like(s), s)}), params, keys, steps)
        return jax.vmap(one)(shifts)

    return jax.jit(body)


def _born(table: dict) -> np.ndarray:
    return (table["alive"] > 0.5) | (table["cause"] != C.ALIVE_CAUSE)


def other_baby_table(table: dict, adopted: np.ndarray, f: int) -> dict:
    """`table` re-counted on the adopted first-generation slots only (the baby beside her, not hers)."""
    return {**table, "counted": _born(table) & adopted[f:2 * f][None, :]}


def score_shifts(policy: NetworkPolicy, tap: str, shifts: dict[str, np.ndarray], bench: Bench) -> dict:
    """Every named shift [units] (`"none"` = the unsteered mother, added if missing) on the bench's worlds
    and on the training world with births off, in ONE compile. Per name: for `foster`/`decoy` the other
    baby's care score and lifetime (and its paired difference from "none"); for `train` the care score
    and its paired difference from "none", and the self-survival difference (births off)."""
    w = tap_width(policy, tap)
    shifts = {"none": np.zeros(w, np.float32), **shifts}
    names = list(shifts)
    stacked = jnp.asarray(np.stack([check_vector(shifts[n], w, tap, f"shift {n!r}") for n in names]))
    bat, idx, f = bench.battery, bench.idx, bench.battery.env.config.n_families
    if "train" not in bench.names:
        raise ConfigError(f"the bench has no 'train' world (it has {list(bench.names)}): build it with 'train'.")
    ti = bench.names.index("train")
    tp = bat.world_params(ti)
    off = tp.replace(births_per_life=jnp.zeros_like(tp.births_per_life))
    params = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), bat.params, off)
    res = jax.tree.map(np.asarray, jax.device_get(_shift_fn(bat.env, bench.steps, tap)(policy, stacked, params,
                                                                                         bench.keys)))
    out = {name: {} for name in names}
    ref = {}
    for wi, wname in enumerate(bench.names):
        other = wname in RETARGET_WORLDS
        recount = (lambda t, wi=wi: other_baby_table(t, bench.adopted[wi], f)) if other else (lambda t: t)
        sel, car = recount(bench.refs["selfish"][wi]), recount(bench.refs["carer"][wi])
        for k, name in enumerate(names):
            fin, tr = jax.tree.map(lambda x, k=k, wi=wi: x[k, wi], res)
            t = recount(M.baby_table(fin, tr, bench.hosts[wi], bench.adopted[wi], bool(bat.counts_adopted[wi]), f,
                                     bench.steps))
            score, ci, boots = M.care_scores(t, sel, car, idx)
            life, life_b = life_boots(t, idx)
            if name == "none":
                ref[wname] = (score, boots, life, life_b)
            s0, b0, l0, lb0 = ref[wname]
            entry = {"care_score": score, "care_ci": ci, "lifetime": life,
                     "care_undefined": None if score is not None else M.undefined_reason(t, sel, car, idx)}
            entry["care_vs_none"], entry["care_vs_none_ci"] = paired(score, s0, boots, b0)
            entry["lifetime_vs_none"], entry["lifetime_vs_none_ci"] = paired(life, l0, life_b, lb0)
            out[name][wname] = entry
    n_w = len(bench.names)  # the births-off world comes last
    own = [self_lifetimes(res[1].alive_ticks[k, n_w], f) for k in range(len(names))]
    for k, name in enumerate(names):
        drop, ci = paired(float(own[0].mean()), float(own[k].mean()), own[0][idx].mean(1), own[k][idx].mean(1))
        out[name]["self_survival"] = {"lifetime": float(own[k].mean()), "drop_vs_none": drop, "drop_ci": ci}
    return out


def retarget(trained_or_policy, world=None, env_params=None, tap: str = "gru", vector=None, alpha: float = 1.0,
             n_random: int = 4, episodes: int = 64, seed: int = 0, member: int = 0, bench: Bench | None = None) -> dict:
    """Retarget success and switch-off of `alpha * vector` at `tap` (default vector: `own_vs_other` of
    `concept_vectors`), beside the unsteered mother and `n_random` equal-norm random vectors."""
    policy, world, env_params = unpack(trained_or_policy, world, env_params, member)
    if vector is None:
        vector = concept_vectors(policy, world, env_params, tap, max(8, episodes // 4), seed)["own_vs_other"]
    v = alpha * check_vector(vector, tap_width(policy, tap), tap)
    if bench is None:
        bench = make_bench(world, env_params, names=("train", *RETARGET_WORLDS), episodes=episodes, seed=seed)
    shifts = {"steered": v, "subtracted": -v, **{f"random_{i}": r for i, r in enumerate(random_like(v, n_random, seed))}}
    scored = score_shifts(policy, tap, shifts, bench)
    rnd = [scored[f"random_{i}"] for i in range(n_random)]
    summary = {}
    for w in RETARGET_WORLDS:
        if w in bench.names:
            summary[w] = {
                "steered": scored["steered"][w], "unsteered": scored["none"][w],
                "random_lifetime_vs_none": [r[w]["lifetime_vs_none"] for r in rnd],
            }
    return {"tap": tap, "alpha": alpha, "norm": float(np.linalg.norm(v)), "retarget": summary,
            "switch_off": {"train": scored["subtracted"]["train"], "self_survival": scored["subtracted"]["self_survival"]},
            "all": scored, "care_reference": bench.selfish_kind}


# --- across seeds ---------------------------------------------------------------------------------------


def replay_acts(policy: NetworkPolicy, trace: dict, tap: str) -> np.ndarray:
    """`policy`'s activations [E, T, L, units] at `tap` on another network's recorded observations
    (teacher forcing: the same inputs, its own memory, reset at each episode's first tick)."""
    idx = np.asarray(policy.learners)
    obs = jax.tree.map(lambda x: jnp.asarray(x)[:, :, idx], trace["obs"])  # [E, T, L, ...]
    e, t = trace["actions"].shape[:2]
    reset = jnp.broadcast_to((jnp.arange(t) == 0)[None, :, None], (e, t, len(idx)))
    role = None if policy.roles is None else jnp.broadcast_to(jnp.asarray(policy.roles, jnp.int32), (t, len(idx)))

    @jax.jit
    def one(pol, o, r):
        _, acts = pol.net.apply(pol.weights, pol.init_carry(), o, r, role, pol.edit, mutable=["acts"])
        return taps(acts["acts"])[tap]

    return np.asarray(jax.vmap(one, in_axes=(None, 0, 0))(policy, obs, reset))


def linear_map(src: np.ndarray, dst: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Ridge map M [units_a, units_b] with `dst - mean ~ (src - mean) @ M` (centred: a difference vector
    maps without the intercept)."""
    a = src - src.mean(0)
    b = dst - dst.mean(0)
    g = a.T @ a + ridge * len(a) * np.eye(a.shape[1])
    return np.linalg.solve(g, a.T @ b)


def _cos(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


def transfer(policy_a: NetworkPolicy, policy_b: NetworkPolicy, world, env_params, tap: str = "gru",
             vector_a=None, alpha: float = 1.0, episodes: int = 32, seed: int = 0, bench: Bench | None = None,
             score: bool = True) -> dict:
    """Seed A's `own_vs_other` vector (or `vector_a`) on seed B: raw, mapped, and beside B's own vector.
    The map is fitted on A's recording replayed through B (`episodes` episodes of the training world)."""
    bat = build_battery(world, env_params, ("train", "foster"))  # one env: every recording below, one compile
    ca = concept_vectors(policy_a, world, env_params, tap, episodes, seed, battery=bat)
    cb = concept_vectors(policy_b, world, env_params, tap, episodes, seed, battery=bat)
    va = ca["own_vs_other"] if vector_a is None else check_vector(vector_a, tap_width(policy_a, tap), tap)
    trace = record(policy_a, bat.env, bat.world_params(0), episodes, seed + 7, int(env_params.max_steps))
    alive = trace["state"].agents.alive[..., np.asarray(policy_a.learners)]
    src = trace["acts"][tap][alive]
    dst = replay_acts(policy_b, trace, tap)[alive]
    m = linear_map(src, dst)
    mapped = (va @ m).astype(np.float32)
    vb = cb["own_vs_other"]
    out = {"tap": tap, "cos_raw_vs_own": _cos(va, vb), "cos_mapped_vs_own": _cos(mapped, vb),
           "map_r2": float(1 - ((dst - dst.mean(0) - (src - src.mean(0)) @ m) ** 2).sum() / ((dst - dst.mean(0)) ** 2).sum())}
    if score:
        if bench is None:
            bench = make_bench(world, env_params, names=("train", *RETARGET_WORLDS), episodes=episodes, seed=seed)
        shifts = {"raw": alpha * va, "mapped": alpha * mapped, "own": alpha * vb}
        out["scores"] = score_shifts(policy_b, tap, shifts, bench)
    return out
