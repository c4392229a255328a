"""Would a hand-written GRU backward make training's BPTT faster on XLA:CPU? Autodiff of the time scan
accumulates the recurrent weight's gradient inside the reverse loop (`c^T @ dgates`, a small transposed
matmul per step: 14% of kernel time in the 2026-11-27 profile). A custom VJP can keep only `dgates @ wh^T`
in the loop and form the weight gradient after it as one `[H, T*B] x [T*B, 3H]` matmul. This times both
on the default network's BPTT shapes (T = 32 rollout steps, B = 64 sequences per minibatch, H = 64,
2 seeds vmapped as on one of the two devices), interleaved, best of 12 x 100 calls, after checking the
two gradients agree.
    python benchmarks/gru_vjp.py
Ends with one JSON line (ms per gradient call, the ratio custom / autodiff). The cell is the same math as
`caredrive.agents.networks.GRU` (PyTorch gate layout, reset zeroes the carry before the step).
"""
import json
import time

import jax
import jax.numpy as jnp

T, B, H, SEEDS = 32, 64, 64, 2


def cell(wh, bh, c, xg_t, reset_t):
    c0 = jnp.where(reset_t[:, None], 0.0, c)
    xr, xz, xn = jnp.split(xg_t, 3, -1)
    hr, hz, hn = jnp.split(c0 @ wh + bh, 3, -1)
    r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return (1 - z) * n + z * c0, (c0, hn, r, z, n)


def autodiff_scan(wh, bh, carry, xg, reset):
    def step(c, inp):
        c, (_, _, r, z, n) = cell(wh, bh, c, *inp)
        return c, (c, r, z, n)
    return jax.lax.scan(step, carry, (xg, reset))


@jax.custom_vjp
def custom_scan(wh, bh, carry, xg, reset):
    return autodiff_scan(wh, bh, carry, xg, reset)


def _forward(wh, bh, carry, xg, reset):
    def step(c, inp):
        c, (c0, hn, r, z, n) = cell(wh, bh, c, *inp)
        return c, (c, r, z, n, c0, hn)
    last, (cs, r, z, n, c0, hn) = jax.lax.scan(step, carry, (xg, reset))
    return (last, (cs, r, z, n)), (wh, c0, hn, r, z, n, reset)


def _backward(res, g):
    """Only `dgates @ wh^T` stays in the reverse loop; the weight gradient is one matmul after it."""
    wh, c0, hn, r, z, n, reset = res
    d_last, (d_cs, d_r, d_z, d_n) = g

    def step(dc_next, inp):
        c0_t, hn_t, r_t, z_t, n_t, reset_t, dcs_t, dr_t, dz_t, dn_t = inp
        dc = dc_next + dcs_t
        da_n = (dc * (1 - z_t) + dn_t) * (1 - n_t * n_t)
        da_r = (da_n * hn_t + dr_t) * r_t * (1 - r_t)
        da_z = (dc * (c0_t - n_t) + dz_t) * z_t * (1 - z_t)
        dhg = jnp.concatenate([da_r, da_z, da_n * r_t], -1)
        dc0 = dc * z_t + dhg @ wh.T
        return jnp.where(reset_t[:, None], 0.0, dc0), (jnp.concatenate([da_r, da_z, da_n], -1), dhg)

    d_first, (dxg, dhg) = jax.lax.scan(step, d_last, (c0, hn, r, z, n, reset, d_cs, d_r, d_z, d_n), reverse=True)
    steps, batch, hidden = c0.shape
    dwh = c0.reshape(steps * batch, hidden).T @ dhg.reshape(steps * batch, 3 * hidden)
    return dwh, dhg.sum((0, 1)), d_first, dxg, None


custom_scan.defvjp(_forward, _backward)


def loss(scan, wh, bh, carry, xg, reset):
    last, (cs, r, z, n) = scan(wh, bh, carry, xg, reset)
    return (cs**2).sum() + last.sum() + 0.1 * (r.sum() - z.sum() + n.sum())


def main():
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    wh, bh = jax.random.normal(k[0], (H, 3 * H)) * 0.2, jax.random.normal(k[1], (3 * H,)) * 0.1
    carry, xg = jax.random.normal(k[2], (B, H)), jax.random.normal(k[3], (T, B, 3 * H))
    reset = jax.random.bernoulli(k[4], 0.05, (T, B))
    grads = {name: jax.grad(lambda *a, s=scan: loss(s, *a), argnums=(0, 1, 2, 3))
             for name, scan in (("autodiff", autodiff_scan), ("custom", custom_scan))}
    ref, new = (jax.jit(g)(wh, bh, carry, xg, reset) for g in grads.values())
    rel = max(float(jnp.abs(a - b).max() / jnp.abs(a).max()) for a, b in zip(ref, new, strict=True))
    assert rel < 1e-5, f"gradients disagree: relative {rel:.2e}"
    batched = {n: jax.jit(jax.vmap(g, in_axes=(0, 0, 0, 0, None))) for n, g in grads.items()}
    args = (*(jnp.stack([x] * SEEDS) for x in (wh, bh, carry, xg)), reset)
    best = dict.fromkeys(batched, float("inf"))
    for f in batched.values():
        jax.block_until_ready(f(*args))
    for _ in range(12):
        for name, f in batched.items():
            t0 = time.perf_counter()
            for _ in range(100):
                out = f(*args)
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - t0) * 10)
    for name, ms in best.items():
        print(f"{name:9s} {ms:7.3f} ms per gradient of {SEEDS} seeds x [T={T}, B={B}, H={H}]")
    print(json.dumps({"benchmark": "gru_vjp", "shape": {"T": T, "B": B, "H": H, "seeds": SEEDS},
                      "max_relative_grad_diff": rel, "ms": {n: round(v, 3) for n, v in best.items()},
                      "ratio_custom_vs_autodiff": round(best["custom"] / best["autodiff"], 3)}))


if __name__ == "__main__":
    main()
