"""Activation patching between matched situations: which units carry "her baby", "it cries", "danger".

A pair is one recorded tick of one mother seen two ways, with the *same* memory (the GRU carry she had
before the tick): **clean** (the situation) and **corrupted** (the same state without it):
- `own_vs_other`: her baby in view vs a baby that is not hers at the same place: the view's `own_child`
  label moved to `other_baby` (the observation-level swap; the cry she hears is left as it was, so only
  the look changes). Only ticks with her baby in view.
- `cry_vs_quiet`: her baby crying vs quiet: the state's cry bit set and cleared, both observations made
  by the env's own `observe` (so every cue the cry gives, direction included, comes and goes together).
- `predator_vs_none`: an active predator on the first free cell next to her baby vs no predator at all
  (state edit, then `observe`).
Pairs whose two observations are identical (e.g. the predator outside her view) are dropped: there is
nothing to patch.

The behaviour measured is the logit difference toward her baby: `logit[toward] - mean(other logits)`,
with `toward` the move that shrinks the larger axis of the gap to the baby (rows on a tie). Patching the
masked units of one tap from the clean run into the corrupted run (`UnitEdit(1 - mask, mask * clean)`)
gives the **restored fraction** `mean(patched - corrupted) / mean(clean - corrupted)`: 1 = those units
carry the whole difference, 0 = none of it; its 95% interval resamples episodes (ticks of one episode are
not independent).

Episode outcome: for `own_vs_other` the corrupted situation is a world of its own (`foster`: a baby that
is not hers beside her), so the patch applied every tick as a constant shift (the mean clean-minus-
corrupted activation, `patch_vector`) can be scored there: that is `steer.retarget` with this vector.
For the cry and the predator there is no such world: both come and go within an episode, and a constant
"crying" or "predator" shift would impose the situation on every tick, which is not the matched
comparison, so no outcome is claimed for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import taps as flat_taps
from caredrive.env import constants as C
from caredrive.env.grid import free_neighbour
from caredrive.errors import ConfigError
from caredrive.eval.metrics import boot_indices
from caredrive.interp.edits import check_tap, masked_edit, split_groups, tap_width
from caredrive.interp.steer import retarget
from caredrive.train.policy import NetworkPolicy

KINDS = ("own_vs_other", "cry_vs_quiet", "predator_vs_none")
MOVES = np.array(C.MOVES[1:5])  # (dy, dx) of UP, RIGHT, DOWN, LEFT


@dataclass(frozen=True)
class Pairs:
    """Matched inputs of one mother at one tick, N pairs: observation leaves `[N, ...]` (hers only)."""

    kind: str
    clean: object  # Obs with leaves [N, ...]
    corrupt: object
    carry: np.ndarray  # [N, H] her memory before the tick (the same for both)
    reset: np.ndarray  # [N] bool: the tick starts the episode (fresh memory)
    role: np.ndarray  # [N] int32
    toward: np.ndarray  # [N] int32: the move toward her baby
    episode: np.ndarray  # [N] int32
    tick: np.ndarray  # [N] int32
    learner: np.ndarray  # [N] int32: index into the policy's learners

    @property
    def n(self) -> int:
        return int(self.toward.shape[0])


def toward_action(gap: np.ndarray) -> np.ndarray:
    """The move [N] that shrinks the larger axis of `gap` = baby - mother [N, 2] (rows on a tie)."""
    dy, dx = gap[:, 0], gap[:, 1]
    vertical = np.abs(dy) >= np.abs(dx)
    return np.where(vertical, np.where(dy < 0, C.UP, C.DOWN), np.where(dx > 0, C.RIGHT, C.LEFT)).astype(np.int32)


def _swap_label(obs):
    """The view with her own child drawn as another baby."""
    v = obs.view
    own, other = v[..., C.CH_OWN_CHILD], v[..., C.CH_OTHER_BABY]
    v = v.at[..., C.CH_OTHER_BABY].set(jnp.maximum(own, other)).at[..., C.CH_OWN_CHILD].set(0)
    return obs.replace(view=v)


def _with_cry(state, child, on: bool):
    return state.replace(agents=state.agents.replace(cry=state.agents.cry.at[child].set(on)))


def _with_predator(state, child):
    pr, terrain = state.predators, state.terrain
    cell, found = free_neighbour(terrain, state.agents.pos[child][None])
    near = pr.replace(pos=pr.pos.at[0].set(cell[0]), active=jnp.zeros_like(pr.active).at[0].set(True),
                      scared=jnp.zeros_like(pr.scared))
    none = pr.replace(active=jnp.zeros_like(pr.active))
    return state.replace(predators=near), state.replace(predators=none), found[0]


@lru_cache(maxsize=16)
def _pair_fn(env, kind: str):
    """jit((states [N], params, mother, child) -> (clean obs, corrupt obs of the mother, ok [N]))."""

    def one(state, params, mother, child):
        pick = lambda o: jax.tree.map(lambda x: x[mother], o)
        if kind == "own_vs_other":
            clean = env.observe(state, params)
            return pick(clean), pick(_swap_label(clean)), jnp.array(True)
        if kind == "cry_vs_quiet":
            return pick(env.observe(_with_cry(state, child, True), params)), pick(
                env.observe(_with_cry(state, child, False), params)), jnp.array(True)
        near, none, found = _with_predator(state, child)
        return pick(env.observe(near, params)), pick(env.observe(none, params)), found

    return jax.jit(jax.vmap(one, in_axes=(0, None, None, None)))


def matched_pairs(env, params, trace: dict, policy: NetworkPolicy, kind: str) -> Pairs:
    """Pairs of `kind` from a recording (`edits.record`: numpy leaves [E, T, ...]) of `policy` in `env`
    with world `params`: every tick at which a mother and her baby are alive, apart (not carried, not on
    her cell), and the two observations differ."""
    if kind not in KINDS:
        raise ConfigError(f"pair kind {kind!r} is unknown: choose from {list(KINDS)}.")
    if kind == "own_vs_other" and not bool(np.asarray(params.label_own_baby)):
        raise ConfigError("own_vs_other pairs swap the own-child label of the view, and this world draws every baby "
                          "alike (label_own_baby=False): there, which baby is hers lives only in her memory.")
    e, t = trace["actions"].shape[:2]
    flat = lambda x: np.asarray(x).reshape((e * t,) + np.shape(x)[2:])
    states = jax.tree.map(flat, trace["state"])
    carry = flat(trace["carry"])
    episode = np.repeat(np.arange(e, dtype=np.int32), t)
    tick = np.tile(np.arange(t, dtype=np.int32), e)
    out = []
    for li, m in enumerate(policy.learners):
        c = int(env.child_of[m])
        if c < 0:
            continue
        ag = states.agents
        gap = ag.pos[:, c] - ag.pos[:, m]
        ok = ag.alive[:, m] & ag.alive[:, c] & (np.abs(gap).sum(-1) > 0) & (ag.carried_by[:, c] < 0)
        if not ok.any():
            continue
        sub = jax.tree.map(lambda x, ok=ok: x[ok], states)
        clean, corrupt, found = jax.tree.map(np.asarray, _pair_fn(env, kind)(sub, params, m, c))
        differs = np.zeros(found.shape, bool)
        for a, b in zip(jax.tree_util.tree_leaves(clean), jax.tree_util.tree_leaves(corrupt), strict=True):
            differs |= (a != b).reshape(a.shape[0], -1).any(1)
        keep = found & differs
        if kind == "own_vs_other":
            keep &= clean.view[..., C.CH_OWN_CHILD].reshape(keep.shape[0], -1).any(1)
        sel = lambda x, keep=keep: x[keep]
        n = int(keep.sum())
        out.append((jax.tree.map(sel, clean), jax.tree.map(sel, corrupt), carry[ok][keep, li],
                    sub.t[keep] == 0, np.full(n, policy.roles[li] if policy.roles else 0, np.int32),
                    toward_action(gap[ok][keep]), episode[ok][keep], tick[ok][keep], np.full(n, li, np.int32)))
    if not out or sum(len(o[-1]) for o in out) == 0:
        raise ConfigError(f"no {kind} pairs in this recording: record more episodes (or a world where the "
                          "situation happens).")
    cat = lambda *xs: jax.tree.map(lambda *ys: np.concatenate(ys), *xs)
    parts = [cat(*[o[i] for o in out]) for i in range(9)]
    return Pairs(kind, *parts)


# --- running the network on pairs ---------------------------------------------------------------------


def _apply(policy: NetworkPolicy, obs, carry, reset, role, edit):
    o = jax.tree.map(lambda x: x[None], obs)  # [T=1, N, ...]
    r = None if policy.roles is None else role[None]
    (_, logits, _), acts = policy.net.apply(policy.weights, carry, o, reset[None], r, edit, mutable=["acts"])
    return logits[0], {k: v[0] for k, v in flat_taps(acts["acts"]).items()}


@jax.jit
def _forward(policy: NetworkPolicy, obs, carry, reset, role):
    return _apply(policy, obs, carry, reset, role, policy.edit)


def forward(policy: NetworkPolicy, obs, carry, reset, role):
    """Logits [N, actions] and every tap {tap: [N, units]} for N observations of one mother each."""
    return _forward(policy, obs, jnp.asarray(carry), jnp.asarray(reset), jnp.asarray(role))


@lru_cache(maxsize=32)
def _patched_fn(tap: str):
    def run(policy, obs, carry, reset, role, masks, clean_acts):
        one = lambda m: _apply(policy, obs, carry, reset, role, masked_edit(tap, m, clean_acts))[0]
        return jax.vmap(one)(masks)  # [G, N, actions]

    return jax.jit(run)


def logit_diff(logits, toward) -> np.ndarray:
    """`logit[toward] - mean(other logits)` per row [..., N]."""
    logits = np.asarray(logits, np.float64)
    a = logits.shape[-1]
    at = np.take_along_axis(logits, np.broadcast_to(toward[..., None], logits.shape[:-1] + (1,)), -1)[..., 0]
    return at - (logits.sum(-1) - at) / (a - 1)


def _groups(spec, width: int, delta: np.ndarray) -> list[tuple[str, list[int]]]:
    """Named unit groups: "all", "halves", "quarters", "units" (each alone), "top{k}" (the k units whose
    clean and corrupted activations differ most), or explicit `(name, units)` pairs."""
    out = []
    for g in spec:
        if isinstance(g, tuple):
            out.append((str(g[0]), [int(u) for u in g[1]]))
        elif g == "all":
            out.append(("all", list(range(width))))
        elif g in ("halves", "quarters"):
            parts, word = (2, "half") if g == "halves" else (4, "quarter")
            out += [(f"{word} {i}", u) for i, u in enumerate(split_groups(width, min(parts, width)))]
        elif g == "units":
            out += [(f"unit {u}", [u]) for u in range(width)]
        elif isinstance(g, str) and g.startswith("top") and g[3:].isdigit():
            k = min(int(g[3:]), width)
            out.append((g, [int(u) for u in np.argsort(-delta)[:k]]))
        else:
            raise ConfigError(f"unit group {g!r} is unknown: use all, halves, quarters, units, top<k> or (name, units).")
    return out


def _restored(num: np.ndarray, den: np.ndarray, episode: np.ndarray, seed: int) -> tuple[float, list[float]]:
    """sum(num) / sum(den) and its 95% interval over episodes resampled."""
    eps, inv = np.unique(episode, return_inverse=True)
    n_ep, d_ep = np.bincount(inv, num, len(eps)), np.bincount(inv, den, len(eps))
    idx = boot_indices(len(eps), seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = n_ep[idx].sum(1) / d_ep[idx].sum(1)
    boots = boots[np.isfinite(boots)]
    point = float(num.sum() / den.sum()) if den.sum() != 0 else float("nan")
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots.size else None
    return point, ci


def patch_sweep(policy: NetworkPolicy, pairs: Pairs, taps=("enc0", "enc1", "gru", "pi0"),
                groups=("all", "halves", "quarters", "top4"), seed: int = 0) -> dict:
    """Per tap and unit group, the restored fraction of the logit difference toward her baby when those
    units are patched from the clean run into the corrupted one. One compile per tap (groups vmapped)."""
    args = (pairs.carry, pairs.reset, pairs.role)
    lc, clean_acts = forward(policy, pairs.clean, *args)
    lx, corrupt_acts = forward(policy, pairs.corrupt, *args)
    ld_clean, ld_corrupt = logit_diff(lc, pairs.toward), logit_diff(lx, pairs.toward)
    den = ld_clean - ld_corrupt
    gap, gap_ci = _restored(den, np.ones_like(den), pairs.episode, seed)  # mean clean - corrupt
    out = {"kind": pairs.kind, "pairs": pairs.n, "episodes": int(len(np.unique(pairs.episode))),
           "clean_logit_diff": float(ld_clean.mean()), "corrupt_logit_diff": float(ld_corrupt.mean()),
           "gap": gap, "gap_ci": gap_ci, "taps": {}}
    for tap in taps:
        check_tap(tap)
        width = tap_width(policy, tap)
        delta = np.abs(np.asarray(clean_acts[tap]) - np.asarray(corrupt_acts[tap])).mean(0)
        named = _groups(groups, width, delta)
        masks = np.stack([np.isin(np.arange(width), u).astype(np.float32) for _, u in named])
        lp = _patched_fn(tap)(policy, pairs.corrupt, *map(jnp.asarray, args), jnp.asarray(masks), clean_acts[tap])
        ld_p = logit_diff(lp, pairs.toward[None])
        rows = []
        for g, (name, units) in enumerate(named):
            r, ci = _restored(ld_p[g] - ld_corrupt, den, pairs.episode, seed)
            rows.append({"group": name, "units": units, "restored": r, "ci": ci})
        out["taps"][tap] = rows
    return out


def patch_vector(policy: NetworkPolicy, pairs: Pairs, tap: str = "gru") -> np.ndarray:
    """The mean clean-minus-corrupted activation [units] at `tap`: the patch as one constant shift, for
    an episode-level test (`steer.retarget(policy, ..., vector=patch_vector(...))` on `own_vs_other`)."""
    check_tap(tap)
    args = (pairs.carry, pairs.reset, pairs.role)
    clean = np.asarray(forward(policy, pairs.clean, *args)[1][tap])
    corrupt = np.asarray(forward(policy, pairs.corrupt, *args)[1][tap])
    return (clean - corrupt).mean(0)


NO_OUTCOME = {
    "cry_vs_quiet": "a cry comes and goes within an episode: a constant 'crying' shift would impose it on every "
                    "tick, which is not the matched comparison",
    "predator_vs_none": "a predator near the baby comes and goes within an episode: a constant 'predator' shift "
                        "would impose it on every tick, which is not the matched comparison",
}


def episode_effect(policy: NetworkPolicy, world, env_params, pairs: Pairs, tap: str = "gru", alpha: float = 1.0,
                   episodes: int = 64, seed: int = 0, bench=None) -> dict:
    """The patch as a constant shift every tick, scored on whole episodes where that is honest: for
    `own_vs_other`, `steer.retarget` with `patch_vector` (the foster world is the corrupted situation
    made permanent); otherwise `{"outcome": None, "why": ...}`."""
    if pairs.kind in NO_OUTCOME:
        return {"kind": pairs.kind, "outcome": None, "why": NO_OUTCOME[pairs.kind]}
    v = patch_vector(policy, pairs, tap)
    out = retarget(policy, world, env_params, tap, v, alpha=alpha, episodes=episodes, seed=seed, bench=bench)
    return {"kind": pairs.kind, "outcome": out, "why": None}
