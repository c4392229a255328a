"""Actor-critic network shared by every learning agent: generic encoder -> GRU (or Dense) -> two heads.

Inputs always carry two leading axes `[T, B]` (time, batch): the rollout calls it with `T = 1`, the
PPO update re-runs whole sequences `[T, B]` so the recurrent state is rebuilt exactly as it was
during the rollout (the gradient flows through time, truncated at the rollout's start).

Reset convention: the carry is zeroed *before* processing an observation whose `reset` flag is True,
i.e. the first observation of a new episode is seen with a fresh memory. So `reset[t]` is "obs[t]
starts an episode" (= `done` of the step that produced obs[t]), never "obs[t] ends one". This is what
lets the trainer store `(carry at rollout start, obs, reset)` and replay the sequence identically.

The encoder knows nothing about the world: it flattens every leaf of the observation pytree (cast to
float32; uint8 images are *not* rescaled, so keep channel values small) and concatenates them. An
optional role one-hot lets one set of weights serve several kinds of agent (parameter sharing).

The GRU is written out by hand (PyTorch/cuDNN gate layout) rather than using `nn.GRUCell`: the input
projection of all T steps is one matmul outside the time scan, leaving a single `[B, H] x [H, 3H]`
matmul per step inside it, which is what bounds speed on a CPU.

Looking inside (caredrive.interp): every named point of `TAPS` is *sown* into the `"acts"` collection
(kept only when a caller asks with `mutable=["acts"]`, free otherwise) and can be *edited* by an
`edit` dict `{tap: UnitEdit(scale, shift)}`: `x -> x * scale + shift` per unit. Zero ablation is
scale 0, mean ablation scale 0 with the mean as shift, steering scale 1 with a vector as shift,
patching scale 0 on a group with the other situation's values as shift. The GRU's edit applies to the
new state inside the time loop, so a lesioned unit stays lesioned in what the network remembers. With
`edit=None` the computation is exactly the trainer's.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.initializers import constant

TAPS = ("input", "enc0", "enc1", "gru", "gate_r", "gate_z", "gate_n", "pi0", "v0", "logits", "value")
EDITABLE = ("input", "enc0", "enc1", "gru", "pi0", "v0", "logits")  # gates are read, the state they make is edited


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class UnitEdit:
    """`x -> x * scale + shift` at one tap; both broadcast against `[..., units]` (e.g. `[H]`, or `[B, H]`
    for per-agent patches)."""

    scale: jax.Array
    shift: jax.Array

    @staticmethod
    def identity(units: int) -> UnitEdit:
        return UnitEdit(jnp.ones((units,), jnp.float32), jnp.zeros((units,), jnp.float32))


def apply_edit(x: jax.Array, edit: dict | None, name: str) -> jax.Array:
    if edit is None or name not in edit:
        return x
    e = edit[name]
    # explicit broadcast: an [H] or per-agent [B, H] edit against [T, B, H] is intended, not a rank bug
    return x * jnp.broadcast_to(e.scale, x.shape) + jnp.broadcast_to(e.shift, x.shape)


def taps(acts: dict) -> dict[str, jax.Array]:
    """The `"acts"` collection of an `apply(..., mutable=["acts"])` as `{tap: array [T, B, units]}`
    (flax nests the GRU's taps under its module and keeps each sown value in a tuple)."""
    out = {}

    def walk(d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            elif k.startswith("tap_"):
                out[k[4:]] = v[0] if isinstance(v, tuple) else v

    walk(dict(acts))
    return {k: out[k] for k in TAPS if k in out}


def orthogonal(scale: float = 1.0):
    """Orthogonal init (Saxe et al.) by Gram-Schmidt in plain jnp, not a LAPACK QR.

    flax's `orthogonal` calls LAPACK through a custom call; on XLA:CPU (jaxlib 0.10.2, 2 cores) several of
    those inside one `jit(vmap(init))` deadlock the runtime (every worker idle, the call never returns).
    Columns are orthonormalised twice ("twice is enough") for float32 accuracy.
    """

    def init(key, shape, dtype=jnp.float32):
        rows, cols = shape[0], int(np.prod(shape[1:]))
        n, k = max(rows, cols), min(rows, cols)
        a = jax.random.normal(key, (n, k), jnp.float32)

        def column(j, q):
            v = a[:, j]
            for _ in range(2):
                v = v - q @ (q.T @ v)
            return q.at[:, j].set(v / jnp.linalg.norm(v))

        q = jax.lax.fori_loop(0, k, column, jnp.zeros((n, k), jnp.float32))
        q = q if rows >= cols else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def initial_carry(batch: int, hidden: int) -> jax.Array:
    """Zero recurrent state `[batch, hidden]` (also used, unchanged, by the feed-forward variant)."""
    return jnp.zeros((batch, hidden), jnp.float32)


def flatten_obs(obs, lead: int = 2) -> jax.Array:
    """Concatenate every leaf of `obs`, flattened past its `lead` leading axes, as float32."""
    leaves = jax.tree_util.tree_leaves(obs)
    if not leaves:
        raise ValueError("observation pytree has no leaves")
    shape = leaves[0].shape[:lead]
    return jnp.concatenate([jnp.reshape(x, shape + (-1,)).astype(jnp.float32) for x in leaves], axis=-1)


class GRU(nn.Module):
    """GRU over a `[T, B, F]` sequence with per-step resets (see module docstring for the convention)."""

    hidden: int

    @nn.compact
    def __call__(self, carry: jax.Array, x: jax.Array, reset: jax.Array, edit: dict | None = None):
        h = self.hidden
        xg = nn.Dense(3 * h, kernel_init=orthogonal(1.0), bias_init=constant(0.0), name="wi")(x)
        wh = self.param("wh", orthogonal(1.0), (h, 3 * h))
        bh = self.param("bh", constant(0.0), (3 * h,))

        def step(c, inp):
            xg_t, reset_t = inp
            c = jnp.where(reset_t[:, None], jnp.zeros_like(c), c)
            hg = c @ wh + bh[None, :]
            xr, xz, xn = jnp.split(xg_t, 3, axis=-1)
            hr, hz, hn = jnp.split(hg, 3, axis=-1)
            r = jax.nn.sigmoid(xr + hr)
            z = jax.nn.sigmoid(xz + hz)
            n = jnp.tanh(xn + r * hn)
            c = apply_edit((1.0 - z) * n + z * c, edit, "gru")
            return c, (c, r, z, n)

        if x.shape[0] == 1:  # rollout: no loop at all
            carry, ys = step(carry, (xg[0], reset[0]))
            ys = jax.tree.map(lambda y: y[None], ys)
        else:
            carry, ys = jax.lax.scan(step, carry, (xg, reset))
        if not self.is_initializing():  # init would put the taps among the weights
            for name, y in zip(("gru", "gate_r", "gate_z", "gate_n"), ys, strict=True):
                self.sow("acts", f"tap_{name}", y)
        return carry, ys[0]


class ActorCritic(nn.Module):
    """Policy logits and value for a batch of agents.

    `__call__(carry [B,H], obs (leaves [T,B,...]), reset [T,B] bool, role [T,B] int | None)`
    returns `(carry [B,H], logits [T,B,num_actions], value [T,B])`. With `recurrent=False` the GRU is
    replaced by a Dense layer of the same width and the carry passes through untouched, so trainer
    code is identical for both variants. With `memory=False` the GRU stays (same weights) but its state is
    wiped before every step: memory's control, which separates remembering from the GRU's extra capacity.
    """

    num_actions: int
    hidden: int = 128
    recurrent: bool = True
    num_roles: int = 0
    memory: bool = True

    def _tap(self, name: str, x: jax.Array, edit: dict | None) -> jax.Array:
        x = apply_edit(x, edit, name)
        if not self.is_initializing():  # init would put the taps among the weights
            self.sow("acts", f"tap_{name}", x)  # prefixed: a sown name may not equal a submodule's
        return x

    @nn.compact
    def __call__(self, carry, obs, reset, role=None, edit: dict | None = None):
        if not self.memory:
            reset = jnp.ones_like(reset)
        x = flatten_obs(obs, lead=2)
        if self.num_roles > 0:
            if role is None:
                raise ValueError("num_roles > 0 but no role given")
            x = jnp.concatenate([x, jax.nn.one_hot(role, self.num_roles, dtype=jnp.float32)], axis=-1)
        x = self._tap("input", x, edit)
        dense = lambda n, s, name: nn.Dense(n, kernel_init=orthogonal(s), bias_init=constant(0.0), name=name)
        x = self._tap("enc0", nn.relu(dense(self.hidden, np.sqrt(2), "enc0")(x)), edit)
        x = self._tap("enc1", nn.relu(dense(self.hidden, np.sqrt(2), "enc1")(x)), edit)
        if self.recurrent:
            carry, x = GRU(self.hidden, name="gru")(carry, x, reset, edit)
        else:  # the feed-forward core stands where the GRU state would: same tap name
            x = self._tap("gru", nn.relu(dense(self.hidden, np.sqrt(2), "core")(x)), edit)
        a = self._tap("pi0", nn.tanh(dense(self.hidden, np.sqrt(2), "pi0")(x)), edit)
        logits = self._tap("logits", dense(self.num_actions, 0.01, "pi1")(a), edit)
        v = self._tap("v0", nn.tanh(dense(self.hidden, np.sqrt(2), "v0")(x)), edit)
        value = dense(1, 1.0, "v1")(v)[..., 0]
        if not self.is_initializing():
            self.sow("acts", "tap_value", value)
        return carry, logits, value

    @staticmethod
    def initial_carry(batch: int, hidden: int) -> jax.Array:
        return initial_carry(batch, hidden)
