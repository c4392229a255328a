"""Edits of a network, built from Python: unit ablations at a tap, stacks of them, and weight overrides.

An ablation is a mask over a tap's units and the values the masked units take: zero (0), mean (the
unit's mean over recorded activations) or resample (its value at a random recorded tick). As a
`UnitEdit` that is `scale = 1 - mask`, `shift = mask * values` (`caredrive.agents.networks`), so a stack of
masks `[K, units]` is a stack of edits: a whole sweep is one `vmap` and one compile.

Resample ablation draws, **per tick and per agent**, a fresh recorded row of the pool (the standard
per-forward-pass resampling): `ResampledPolicy` wraps the network policy and draws with a key folded
from the tick's policy key, passing that key on unchanged, so the episode's own random choices are
those of the unlesioned mother (paired comparisons stay paired). A per-episode draw would keep one
frozen value for a whole episode and confound the lesion with that value's luck.

Overrides address a weight by path (`"gru/wh"`, `"enc0/kernel[:, 3]"`, `"pi1/bias[2]"`) and return a new
weights tree; a bad path, index or value shape is one `ConfigError` line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.agents.networks import EDITABLE, UnitEdit
from caredrive.errors import ConfigError
from caredrive.eval.rollout import play_episode
from caredrive.train.policy import NetworkPolicy

KINDS = ("zero", "mean", "resample")
_RESAMPLE_SALT = 0x5E5A  # folded into the tick's policy key for the resample draw


# --- taps, widths, members -------------------------------------------------------------------------------


def check_tap(tap: str) -> str:
    if tap not in EDITABLE:
        raise ConfigError(f"tap {tap!r} is not editable: choose from {list(EDITABLE)}.")
    return tap


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"ablation kind {kind!r} is unknown: choose from {list(KINDS)}.")
    return kind


def is_stacked(policy: NetworkPolicy) -> bool:
    """True when the weights carry a leading seed axis (a dense kernel is then 3-d)."""
    return np.ndim(policy.weights["params"]["enc0"]["kernel"]) == 3


def member(policy: NetworkPolicy, i: int = 0) -> NetworkPolicy:
    """One seed of a stacked policy (a single policy is returned as it is)."""
    if not is_stacked(policy):
        return policy
    n = np.shape(policy.weights["params"]["enc0"]["kernel"])[0]
    if not 0 <= i < n:
        raise ConfigError(f"seed {i} out of range: the policy has seeds 0..{n - 1}.")
    return jax.tree.map(lambda x: x[i], policy)


def unpack(trained_or_policy, world=None, env_params=None, seed_index: int = 0):
    """`(policy of one seed, world, env_params)` from a `Trained` (its world and last-phase params unless
    given) or from a policy plus its world and params."""
    if hasattr(trained_or_policy, "policy") and hasattr(trained_or_policy, "world"):
        t = trained_or_policy
        return (member(t.policy, seed_index), t.world if world is None else world,
                t.env_params if env_params is None else env_params)
    if world is None or env_params is None:
        raise ConfigError("a bare policy needs its world and env_params (or pass a Trained run).")
    return member(trained_or_policy, seed_index), world, env_params


def tap_width(policy: NetworkPolicy, tap: str) -> int:
    """Units at a tap, read from the weights (input: the first layer's fan-in)."""
    check_tap(tap)
    p = policy.weights["params"]
    if tap == "input":
        return int(np.shape(p["enc0"]["kernel"])[-2])
    if tap == "logits":
        return int(np.shape(p["pi1"]["kernel"])[-1])
    return int(policy.net.hidden)


# --- masks and ablation edits ----------------------------------------------------------------------------


def _units(units, width: int, tap: str) -> list[int]:
    us = [units] if isinstance(units, int | np.integer) else list(units)
    if not us:
        raise ConfigError(f"an empty unit group at tap {tap!r}: give at least one unit.")
    bad = [int(u) for u in us if not 0 <= int(u) < width]
    if bad:
        raise ConfigError(f"unit(s) {bad} out of range at tap {tap!r}: it has units 0..{width - 1}.")
    return [int(u) for u in us]


def unit_mask(width: int, units, tap: str = "gru") -> np.ndarray:
    """float32 [width]: 1 on the chosen unit (an int) or group (a sequence of ints)."""
    m = np.zeros((width,), np.float32)
    m[_units(units, width, tap)] = 1.0
    return m


def group_masks(width: int, groups=None, tap: str = "gru") -> np.ndarray:
    """float32 [K, width]: `None` = every unit alone (K = width); a list of ints = those units alone;
    a list of lists = those groups."""
    if groups is None:
        return np.eye(width, dtype=np.float32)
    return np.stack([unit_mask(width, g, tap) for g in groups])


def split_groups(width: int, parts: int) -> list[list[int]]:
    """Contiguous groups: `parts=2` halves, `4` quarters."""
    return [list(map(int, g)) for g in np.array_split(np.arange(width), parts)]


def check_vector(v, width: int, tap: str, what: str = "vector") -> np.ndarray:
    v = np.asarray(v, np.float32)
    if v.shape != (width,):
        raise ConfigError(f"{what} at tap {tap!r} has shape {v.shape}: expected ({width},).")
    return v


def masked_edit(tap: str, mask, values=0.0) -> dict:
    """`{tap: UnitEdit}` that sets the masked units to `values` (a scalar, [units], or per agent [B, units])
    and leaves the others untouched. Works on stacks: mask [K, units] and values [K, ...] give a stacked edit."""
    mask, values = jnp.asarray(mask, jnp.float32), jnp.asarray(values, jnp.float32)
    shape = jnp.broadcast_shapes(mask.shape, values.shape)  # explicit: strict rank promotion stays happy
    return {check_tap(tap): UnitEdit(1.0 - mask, jnp.broadcast_to(mask, shape) * jnp.broadcast_to(values, shape))}


def zero_edit(policy: NetworkPolicy, tap: str, units) -> dict:
    return masked_edit(tap, unit_mask(tap_width(policy, tap), units, tap))


def mean_edit(policy: NetworkPolicy, tap: str, units, acts) -> dict:
    """Mean ablation: `acts` are recorded activations [N, units] of this tap (or their mean [units])."""
    w = tap_width(policy, tap)
    mean = check_vector(np.asarray(acts).reshape(-1, w).mean(0) if np.ndim(acts) > 1 else acts, w, tap, "mean")
    return masked_edit(tap, unit_mask(w, units, tap), mean)


def stacked_edits(policy: NetworkPolicy, tap: str, groups=None, values=0.0) -> dict:
    """Every unit (or group) of one tap ablated, one per row of a leading axis [K]: `vmap` over it (see
    `with_edit`). `values`: 0 (zero ablation) or a mean vector [units]."""
    w = tap_width(policy, tap)
    masks = group_masks(w, groups, tap)
    vals = values if np.ndim(values) == 0 else check_vector(values, w, tap, "values")[None]
    return masked_edit(tap, masks, vals)


def stack(edits: list[dict]) -> dict:
    """Edit dicts with the same taps and shapes, stacked along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *edits)


def with_edit(policy, edit: dict | None):
    """The policy with `edit` added to its own: on a tap edited twice the two compose (`x*s1*s2 + b1*s2 + b2`)."""
    if isinstance(policy, ResampledPolicy):
        return dataclasses.replace(policy, base=with_edit(policy.base, edit))
    if not edit:
        return policy
    merged = dict(policy.edit or {})
    for tap, e in edit.items():
        old = merged.get(tap)
        merged[tap] = e if old is None else UnitEdit(old.scale * e.scale, old.shift * e.scale + e.shift)
    return dataclasses.replace(policy, edit=merged)


# --- resample ablation ----------------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ResampledPolicy:
    """A network policy whose masked units at `tap` take, each tick and per agent, the value of a random
    row of `pool` (recorded activations [N, units]). A pytree: `mask` may be stacked [K, units] and vmapped."""

    base: NetworkPolicy
    mask: jax.Array  # [units] float (1 = resampled)
    pool: jax.Array  # [N, units]
    tap: str = field(default="gru", metadata={"static": True})

    def init_carry(self) -> jax.Array:
        return self.base.init_carry()

    def _drawn(self, key) -> NetworkPolicy:
        n_agents = len(self.base.learners)
        rows = jax.random.randint(jax.random.fold_in(key, _RESAMPLE_SALT), (n_agents,), 0, self.pool.shape[0])
        return with_edit(self.base, masked_edit(self.tap, self.mask, self.pool[rows]))  # per agent [L, units]

    def __call__(self, key, obs, state, params, carry):
        return self._drawn(key)(key, obs, state, params, carry)

    def record(self, key, obs, state, params, carry):
        return self._drawn(key).record(key, obs, state, params, carry)


def resampled(policy: NetworkPolicy, tap: str, units, pool) -> ResampledPolicy:
    w = tap_width(policy, tap)
    pool = np.asarray(pool, np.float32)
    if pool.ndim != 2 or pool.shape[1] != w or pool.shape[0] == 0:
        raise ConfigError(f"resample pool at tap {tap!r} has shape {pool.shape}: expected recorded [N, {w}].")
    return ResampledPolicy(policy, jnp.asarray(unit_mask(w, units, tap)), jnp.asarray(pool), tap)


def ablated(policy: NetworkPolicy, tap: str, kind: str, mask, pool):
    """The policy with `mask`'s units of `tap` ablated by `kind` (`pool`: recorded activations [N, units];
    unused by zero). Traceable: `mask` may be a tracer inside a `vmap` over masks."""
    if kind == "zero":
        return with_edit(policy, masked_edit(tap, mask))
    if kind == "mean":
        return with_edit(policy, masked_edit(tap, mask, jnp.mean(pool, axis=0)))
    return ResampledPolicy(policy, jnp.asarray(mask, jnp.float32), pool, tap)


# --- recording (a pool of activations) ------------------------------------------------------------------


@lru_cache(maxsize=16)
def _record_fn(env, steps: int):
    play = lambda pol, p, k: play_episode(env, pol, p, k, steps, record=True)[3]
    return jax.jit(lambda pol, p, keys: jax.vmap(lambda k: play(pol, p, k))(keys))


def record(policy: NetworkPolicy, env, params, episodes: int, seed: int = 0, steps: int | None = None) -> dict:
    """The recording rollout (`play_episode(record=True)`) over `episodes` episodes, one compile per
    world: the trace as numpy, leaves [E, T, ...] (state, obs, carry, acts {tap: [E, T, L, units]}, actions)."""
    steps = int(params.max_steps) if steps is None else steps
    keys = jax.random.split(jax.random.key(seed), episodes)
    return jax.tree.map(np.asarray, jax.device_get(_record_fn(env, steps)(policy, params, keys)))


def pool_of(trace: dict, tap: str, learners: tuple[int, ...] | None = None) -> np.ndarray:
    """Recorded activations of `tap` as [N, units], over every episode, tick and learner; with `learners`
    (the policy's agent slots), only ticks where the acting agent is alive (a dead mother's activations
    are not her behaviour)."""
    acts = trace["acts"][tap]  # [E, T, L, units]
    if learners is None:
        return acts.reshape(-1, acts.shape[-1])
    return acts[trace["state"].agents.alive[..., np.asarray(learners)]]


# --- weight overrides -----------------------------------------------------------------------------------

_PATH = re.compile(r"^(?P<name>[A-Za-z0-9_/]+?)(?:\[(?P<index>[^\]]*)\])?$")
OPS = ("set", "scale", "zero")


def leaf_paths(weights: dict) -> list[str]:
    flat = jax.tree_util.tree_flatten_with_path(weights["params"])[0]
    return ["/".join(str(k.key) for k in path) for path, _ in flat]


def _index(text: str | None, shape: tuple[int, ...], path: str) -> tuple:
    if text is None:
        return ()
    parts = [s.strip() for s in text.split(",")]
    if len(parts) > len(shape):
        raise ConfigError(f"{path}: {len(parts)} indices for a weight of shape {shape}.")
    out = []
    for axis, s in enumerate(parts):
        size = shape[axis]
        if re.fullmatch(r"-?\d*:-?\d*", s):
            lo, hi = (int(x) if x else None for x in s.split(":"))
            out.append(slice(lo, hi))
        elif re.fullmatch(r"-?\d+", s):
            i = int(s)
            if not -size <= i < size:
                raise ConfigError(f"{path}: index {i} out of range on axis {axis} (size {size}).")
            out.append(i)
        else:
            raise ConfigError(f"{path}: index {s!r} is not an integer or a slice like ':' or '2:5'.")
    return tuple(out)


def override(weights: dict, path: str, op: str = "set", value=None, stacked: bool = False) -> dict:
    """A new weights tree with the weight at `path` set to `value`, scaled by `value`, or zeroed.

    `path`: a leaf of the flax params, e.g. `gru/wh`, `gru/wi/kernel`, `enc0/kernel[:, 3]`, `pi1/bias[2]`
    (a leading `params/` is optional). `value`: a scalar or an array of exactly the selected shape.
    `stacked`: the weights carry a leading seed axis; the index addresses each seed's weight."""
    if op not in OPS:
        raise ConfigError(f"override op {op!r} is unknown: choose from {list(OPS)}.")
    m = _PATH.match(path.strip().removeprefix("params/"))
    names = leaf_paths(weights)
    if m is None or m["name"] not in names:
        raise ConfigError(f"unknown weight {path!r}: choose from {names} (optionally indexed, e.g. 'enc0/kernel[:, 3]').")
    node = weights["params"]
    keys = m["name"].split("/")
    for k in keys:
        node = node[k]
    full = np.shape(node)
    shape = full[1:] if stacked else full
    idx = _index(m["index"], shape, path)
    idx = (slice(None), *idx) if stacked else idx
    sel = np.empty(full, np.int8)[idx].shape
    want = sel[1:] if stacked else sel
    if op == "zero":
        value = 0.0
    if value is None:
        raise ConfigError(f"override {op} of {path!r} needs a value.")
    v = np.asarray(value, np.float32)
    if v.ndim and v.shape != want:
        raise ConfigError(f"override of {path!r}: value of shape {v.shape}, the selection has shape {want}.")
    arr = jnp.asarray(node)
    new = arr.at[idx].multiply(v) if op == "scale" else arr.at[idx].set(jnp.broadcast_to(v, sel).astype(arr.dtype))

    def put(d, ks):
        d = dict(d)
        d[ks[0]] = new if len(ks) == 1 else put(d[ks[0]], ks[1:])
        return d

    return {**weights, "params": put(weights["params"], keys)}


def override_policy(policy: NetworkPolicy, path: str, op: str = "set", value=None) -> NetworkPolicy:
    """`override` on a policy's weights (stacked over seeds or not: each seed gets the same override)."""
    w = override(policy.weights, path, op, value, stacked=is_stacked(policy))
    return dataclasses.replace(policy, weights=w)


_SPEC = re.compile(r"^\s*(?P<path>[^=*]+?)\s*(?P<op>\*=|=)\s*(?P<value>.+?)\s*$")


def parse_override(spec: str) -> tuple[str, str, object]:
    """A CLI override `PATH=VALUE` (set), `PATH*=VALUE` (scale) or `PATH=0` (zero); VALUE is a number or
    a JSON list. Returns `(path, op, value)` for `override`."""
    m = _SPEC.match(spec)
    if m is None:
        raise ConfigError(f"override {spec!r}: write PATH=VALUE or PATH*=FACTOR, e.g. 'gru/wh[:, 3]*=0'.")
    try:
        value = json.loads(m["value"])
    except json.JSONDecodeError:
        raise ConfigError(f"override {spec!r}: value {m['value']!r} is not a number or a JSON list.") from None
    op = "scale" if m["op"] == "*=" else ("zero" if value == 0 else "set")
    return m["path"], op, value
