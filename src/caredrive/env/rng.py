"""`uniform`: the same numbers as `jax.random.uniform`, computed in a form XLA:CPU can fuse.

Why: on CPU, JAX lowers the threefry2x32 hash as a rolled loop of its 5 blocks of rounds (it compiles
faster). Each draw then becomes a while loop whose outputs are materialised and copied, and nothing fuses
into it or out of it: the world's few per-tick draws (a few dozen numbers per world) cost as much as a
whole mechanic. Here the 20 rounds are written out, so a draw is one elementwise fusion. The hash, the
counters (`jax_threefry_partitionable`) and the bits-to-float map are JAX's own; `tests/test_env_rng.py`
checks bit equality with `jax.random.uniform`. Any other key implementation or setting falls back to
`jax.random.uniform` itself.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block cipher (20 rounds) of counters (x1, x2) under key (k1, k2), all uint32."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x1 = x1 + x2
            x2 = (x2 << np.uint32(r)) | (x2 >> np.uint32(32 - r))
            x2 = x1 ^ x2
        x1 = x1 + ks[(block + 1) % 3]
        x2 = x2 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x1, x2


def _fusable(key: jax.Array) -> bool:
    if not jax.config.jax_threefry_partitionable:
        return False
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return key.dtype == jnp.uint32 and key.shape == (2,)  # a raw (legacy) threefry key


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """float32 uniforms in [0, 1) of `shape`, equal bit for bit to `jax.random.uniform(key, shape)`."""
    size = math.prod(shape)
    if not _fusable(key) or size >= 2**32:
        return jax.random.uniform(key, shape)
    k = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    lo = jnp.arange(size, dtype=jnp.uint32).reshape(shape)
    b1, b2 = threefry2x32(k[0], k[1], jnp.zeros_like(lo), lo)
    mantissa = ((b1 ^ b2) >> np.uint32(9)) | np.uint32(0x3F800000)
    return jnp.maximum(0.0, jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0)
