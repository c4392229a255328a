"""A steered mother beside the unsteered one, on the same episode key: one GIF, frames side by side.

Both are replayed with `eval.tracker.episode_states_fn` (the very episode `run_worlds` scores with that
key), so the left panel is the mother the steering section compares against and the right one the mother
with `alpha * vector` added at the tap every tick. The unsteered mother carries a zero vector (the same
edit with shift 0: exactly the trained computation), so both replays have one pytree shape.

The episode shown is the one, among the first `candidates` keys of the bench, in which steering changed
the watched baby's ticks alive the most (the other baby in `foster`; her own elsewhere): a picked
example, labelled as such in the report, never a figure.
"""

from __future__ import annotations

import jax
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from caredrive.env.render import render_rgb, save_gif
from caredrive.eval.tracker import episode_states_fn
from caredrive.interp import steer

CELL, EVERY, TAIL, HEADER = 16, 2, 12, 18


def _watched(ctx, wi: int) -> np.ndarray:
    """Agent slots whose life the GIF is about: the adopted first-generation babies (the other baby in
    foster), else the mothers' own babies."""
    f = ctx.env.config.n_families
    adopted = np.asarray(ctx.bench.adopted[wi])[f : 2 * f] if ctx.bench is not None else np.zeros(f, bool)
    return (np.nonzero(adopted)[0] if adopted.any() else np.arange(f)) + f


def _header(width: int, text: str) -> np.ndarray:
    img = Image.new("RGB", (width, HEADER), (246, 245, 241))
    ImageDraw.Draw(img).text((4, 3), text, fill=(34, 34, 34), font=ImageFont.load_default())
    return np.asarray(img)


def _side_by_side(a: np.ndarray, b: np.ndarray, labels: tuple[str, str]) -> np.ndarray:
    gap = np.full((a.shape[0] + HEADER, 6, 3), 255, np.uint8)
    left = np.concatenate([_header(a.shape[1], labels[0]), a])
    right = np.concatenate([_header(b.shape[1], labels[1]), b])
    return np.concatenate([left, gap, right], axis=1)


def steering_gif(ctx, m: int, vector, path, world: str = "foster", candidates: int = 8) -> dict:
    """Write the GIF of seed `m` steered by `ctx.alpha * vector` at `ctx.tap` beside it unsteered, in
    `world` (the training world if the battery lacks it); return what it shows (for interp.json)."""
    names = [w.name for w in ctx.battery.worlds]
    world = world if world in names else "train"
    wi = names.index(world)
    params = ctx.battery.world_params(wi)
    pol = ctx.one(m)
    v = np.asarray(vector, np.float32)
    plain = steer.steered(pol, ctx.tap, np.zeros_like(v))
    pushed = steer.steered(pol, ctx.tap, v, ctx.alpha)
    play_plain = episode_states_fn(ctx.env, plain, ctx.steps)
    play_pushed = episode_states_fn(ctx.env, pushed, ctx.steps)
    watch = _watched(ctx, wi)
    keys = ctx.bench.keys[:candidates] if ctx.bench is not None else ctx.keys(candidates, 9)
    best = None
    for i in range(len(keys)):
        a = jax.device_get(play_plain(params, keys[i]))
        b = jax.device_get(play_pushed(params, keys[i]))
        life_a = int(a[1].agents.alive[:, watch].sum())
        life_b = int(b[1].agents.alive[:, watch].sum())
        if best is None or life_b - life_a > best[0]:
            best = (life_b - life_a, i, a, b, life_a, life_b)
    _, i, a, b, life_a, life_b = best
    alive = a[1].agents.alive[:, watch].any(1) | b[1].agents.alive[:, watch].any(1)
    stop = ctx.steps if alive[-1] else min(ctx.steps, int(np.nonzero(alive)[0].max(initial=0)) + 1 + TAIL)
    labels = ("unsteered", f"steered: +{ctx.alpha:g} x own-vs-other vector at {ctx.tap}")
    frame = lambda s: render_rgb(s, ctx.env, cell=CELL)
    at = lambda tree, t: jax.tree.map(lambda x: x[t], tree)
    frames = [_side_by_side(frame(a[0]), frame(b[0]), labels)]
    frames += [
        _side_by_side(frame(at(a[1], t)), frame(at(b[1], t)), labels) for t in range(EVERY - 1, stop, EVERY)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_gif(frames, path, fps=8)
    return {
        "path": f"interp/{path.name}",
        "seed": str(m),
        "world": world,
        "episode": int(i),
        "frames": len(frames),
        "watched_ticks_alive": {"unsteered": life_a, "steered": life_b},
        "candidates": int(len(keys)),
        "picked": "the episode (of the candidates) in which steering changed the watched baby's life most",
    }
