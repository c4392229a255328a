"""`barrier`: an identity that makes XLA store its argument, so later code reads it instead of recomputing it.

Why: XLA:CPU fuses elementwise chains into their consumers and recomputes a shared producer inside each
one. A tick is a chain of small mechanics whose results are read by many later ones (positions, who is
alive, the actions), so without boundaries each later fusion recomputes most of the tick before it, and
the 9 channel bytes of a view cell each recompute the cell's whole word. A `lax.cond` is a boundary XLA
keeps (`optimization_barrier` is not one for fusion). Its predicate is a `True` hidden behind an
`optimization_barrier`, so XLA cannot fold the cond away, and, being a constant of the trace, it stays
unbatched under any `vmap` (a batched predicate would turn the cond into a select, which is no boundary):
the barriers hold inside the seed `vmap` of training too. The never-taken branch returns zeros.

The values are the same with or without barriers up to float rounding: in every check (benchmarks/README.md)
trajectories were bit-identical, but one default training seed in four diverged once over millions of
ticks (not tracked down; moving fusion borders may change where XLA contracts a multiply and an add into
one rounding). Measured (same-process A/B against the tree before, 4096 worlds on 2 CPU cores): the
barriers alone ~1.3-1.4x; with the view-window and threefry changes of the same commit 1.75-1.93x with
`VecAutoReset` and 1.85x with a `vmap` of per-world `AutoReset` (benchmarks/README.md).
Only on the CPU backend (decided when the function is traced): on an H100 the same barriers measured
0.72x at 4096 worlds, so elsewhere `barrier` is the identity.
"""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp

T = TypeVar("T")

ENABLED: bool | None = None  # None: on for the CPU backend only; True/False force it (benchmarks, tests)


def active() -> bool:
    return jax.default_backend() == "cpu" if ENABLED is None else ENABLED


def barrier(tree: T) -> T:
    """`tree` itself, stored by XLA before anything reads it (on CPU; the identity elsewhere)."""
    if not active():
        return tree
    keep = jax.lax.optimization_barrier(jnp.asarray(True))
    zeros = lambda: jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), jnp.result_type(x)), tree)
    return jax.lax.cond(keep, lambda: tree, zeros)
