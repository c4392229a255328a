"""Pictures of a Nursery world: an RGB frame, a text grid, a GIF, a whole rendered episode.

Everything here runs outside jit on NumPy copies of the state, so it can never slow training down.
Frames are composed from cached tiles and sprites (drawn once per cell size, anti-aliased by
supersampling) and a side panel with the tick, each agent's energy and health, and a legend.

Picture conventions (the same in the RGB frame and the text grid):
- one colour (letter) per family; an adult is a big circle (upper-case letter), a baby a small
  white-rimmed circle (lower-case letter); a grown descendant has a white dot in its middle;
- a carried baby is drawn inside its carrier, ringed in white (the carrier's cell shows the family
  digit in text); a free baby sharing a cell with an adult sits in the cell's lower-left corner;
- a crying baby gets a gold ring and a '!' badge; held food is a small green dot at the holder;
- a predator is a dark-red wolf head; a scared (fleeing) one is small and pale lavender;
- an agent that died (or left) leaves a grey cross where it died until its slot is born again;
  slots not born yet are not drawn.
"""

from __future__ import annotations

import functools
import string

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from caredrive.env import constants as C
from caredrive.errors import ConfigError

FAMILY_COLOURS = (
    (40, 100, 225), (150, 70, 205), (0, 150, 150), (225, 70, 160),
    (125, 85, 45), (35, 45, 125), (95, 165, 235), (110, 140, 20),
)
FLOOR, GRID_LINE = (236, 229, 211), (218, 209, 189)
WALL, WALL_MORTAR = (78, 78, 94), (58, 58, 70)
HAZARD, HAZARD_STRIPE = (245, 130, 45), (215, 70, 30)
FOOD, FOOD_DARK = (60, 170, 60), (20, 95, 25)
PREDATOR, PREDATOR_DARK = (135, 22, 22), (60, 5, 5)
SCARED, SCARED_DARK = (200, 185, 225), (95, 80, 160)
CRY, CRY_DARK = (255, 205, 0), (125, 80, 0)
DEAD = (105, 105, 105)
PANEL_BG, INK, FAINT = (250, 248, 242), (40, 40, 40), (150, 145, 135)
ENERGY_BAR, HEALTH_BAR = (230, 165, 25), (205, 50, 50)

# Text letters per family: 'P'/'p' are kept for predators, so family 15 is 'Q'.
_UPPER = [c for c in string.ascii_uppercase if c != "P"]
_LOWER = [c for c in string.ascii_lowercase if c != "p"]
_SS = 4  # supersampling factor of the sprites


def slot_names(env) -> list[str]:
    """Readable names of the agent slots: generation 0 is the founding mother, then her line."""
    f = env.config.n_families
    kinds = {0: "mother", 1: "baby", 2: "grandbaby"}
    return [f"{kinds.get(i // f, f'gen{i // f}')}_{i % f}" for i in range(env.num_agents)]


def family_letter(family: int, adult: bool) -> str:
    letters = _UPPER if adult else _LOWER
    return letters[family] if family < len(letters) else "?"


def _host(state):
    """One device-to-host copy of the whole state (NumPy leaves); rejects batched states clearly."""
    state = jax.device_get(state)
    if np.ndim(state.terrain) != 2:
        raise ConfigError(
            f"state.terrain has shape {np.shape(state.terrain)}: render one world at a time "
            "(index a batched state first, e.g. jax.tree.map(lambda x: x[0], state))."
        )
    return jax.tree.map(np.asarray, state)


# --------------------------------------------------------------------------------------------- text
def render_text(state, env) -> str:
    """The grid as one character per cell, then a line for the tick and one per agent slot.

    '#' wall, '~' hazard, '.' floor, '*' food, 'P' predator, 'p' scared predator, '+' where an agent
    died, 'A'/'B'.. adults and 'a'/'b'.. free babies of each family, '0'/'1'.. an adult of that
    family carrying a baby. Agents hide what lies under them; the agent lines say the rest.
    """
    s = _host(state)
    ag, cfg = s.agents, env.config
    f = cfg.n_families
    grid = np.full(s.terrain.shape, ".", dtype="<U1")
    grid[s.terrain == C.WALL] = "#"
    grid[s.terrain == C.HAZARD] = "~"
    dead = ~ag.alive & (s.log.death_tick >= 0)
    for i in np.flatnonzero(dead):
        grid[tuple(ag.pos[i])] = "+"
    for k in np.flatnonzero(s.food.on_ground):
        grid[tuple(s.food.pos[k])] = "*"
    for k in np.flatnonzero(s.predators.active):
        grid[tuple(s.predators.pos[k])] = "p" if s.predators.scared[k] > 0 else "P"
    free = ag.alive & (ag.carried_by < 0)
    # babies first, adults over them: an adult's cell shows the adult
    for i in [*np.flatnonzero(free & (ag.role == C.BABY)), *np.flatnonzero(free & (ag.role == C.ADULT))]:
        adult = ag.role[i] == C.ADULT
        ch = family_letter(i % f, adult)
        if adult and ag.carrying[i] >= 0:
            ch = str(i % f) if i % f < 10 else "&"
        grid[tuple(ag.pos[i])] = ch
    lines = ["".join(row) for row in grid]
    food_n, pred_n = int(s.food.on_ground.sum()), int(s.predators.active.sum())
    scared_n = int((s.predators.active & (s.predators.scared > 0)).sum())
    lines.append(f"t={int(s.t)} food={food_n} predators={pred_n} scared={scared_n}")
    names = slot_names(env)
    width = max(len(n) for n in names)
    for i in range(env.num_agents):
        adult = ag.role[i] == C.ADULT
        head = f"{family_letter(i % f, adult)} {names[i]:<{width}}"
        if ag.alive[i]:
            words = [f"{'adult' if adult else 'baby '} E={ag.energy[i]:.2f} H={ag.health[i]:.2f}"]
            words.append(f"at ({ag.pos[i][0]},{ag.pos[i][1]})")
            if ag.carrying[i] >= 0:
                words.append(f"carrying {names[ag.carrying[i]]}")
            if ag.carried_by[i] >= 0:
                words.append(f"carried by {names[ag.carried_by[i]]}")
            if ag.holding[i] >= 0:
                words.append("holding food")
            if ag.cry[i]:
                words.append("CRYING")
            lines.append(f"{head} " + " ".join(words))
        elif s.log.death_tick[i] >= 0:
            cause = C.CAUSE_NAMES[int(s.log.death_cause[i])]
            lines.append(f"{head} dead ({cause}) at t={int(s.log.death_tick[i])}")
        else:
            lines.append(f"{head} not born")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- tiles
@functools.lru_cache(maxsize=16)
def _terrain_tiles(cell: int) -> np.ndarray:
    """uint8 [3, cell, cell, 3]: floor, wall, hazard (indexed by the terrain codes)."""
    y, x = np.mgrid[0:cell, 0:cell]
    floor = np.empty((cell, cell, 3), np.uint8)
    floor[:] = FLOOR
    floor[-1, :], floor[:, -1] = GRID_LINE, GRID_LINE
    wall = np.empty_like(floor)
    wall[:] = WALL
    half, quarter = cell // 2, max(cell // 4, 1)
    mortar = (y % half == 0) | ((x + np.where(y < half, 0, half)) % cell == quarter)  # staggered bricks
    wall[mortar] = WALL_MORTAR
    hazard = np.empty_like(floor)
    hazard[:] = HAZARD
    hazard[((x + y) // max(cell // 5, 1)) % 2 == 0] = HAZARD_STRIPE
    tiles = np.stack([floor, wall, hazard])
    assert (C.EMPTY, C.WALL, C.HAZARD) == (0, 1, 2)
    return tiles


def _darker(c, k=0.55):
    return tuple(int(v * k) for v in c)


def _circle(d, s, cx, cy, r, fill=None, outline=None, width=0.0):
    d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=fill, outline=outline,
              width=max(int(round(width * s)), 0))


def _draw_wolf(d, s, scale, body, dark, eye):
    def p(x, y):  # shape coordinates in a unit cell, shrunk around the centre by `scale`
        return ((0.5 + (x - 0.5) * scale) * s, (0.5 + (y - 0.5) * scale) * s)

    w = max(int(0.05 * s * scale), 1)
    for ear in (((0.14, 0.06), (0.40, 0.32), (0.16, 0.45)), ((0.86, 0.06), (0.60, 0.32), (0.84, 0.45))):
        d.polygon([p(*q) for q in ear], fill=body, outline=dark, width=w)
    head = [(0.16, 0.32), (0.84, 0.32), (0.92, 0.55), (0.5, 0.95), (0.08, 0.55)]
    d.polygon([p(*q) for q in head], fill=body, outline=dark, width=w)
    for ex in (0.36, 0.64):
        cx, cy = p(ex, 0.52)
        r = 0.07 * s * scale
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=eye)
    cx, cy = p(0.5, 0.8)
    r = 0.06 * s * scale
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=dark)


def _draw(kind: str, colour, d, s):
    """Draw one sprite on a supersampled RGBA canvas of side s (coordinates are cell fractions)."""
    if kind == "food":
        d.ellipse([0.52 * s, 0.14 * s, 0.74 * s, 0.32 * s], fill=(120, 200, 80), outline=FOOD_DARK,
                  width=max(int(0.03 * s), 1))
        _circle(d, s, 0.5, 0.57, 0.22, FOOD, FOOD_DARK, 0.05)
        _circle(d, s, 0.43, 0.5, 0.06, (200, 240, 190))
    elif kind == "held_food":
        _circle(d, s, 0.8, 0.8, 0.15, FOOD, (255, 255, 255), 0.05)
    elif kind == "predator":
        _draw_wolf(d, s, 1.0, PREDATOR, PREDATOR_DARK, (255, 200, 40))
    elif kind == "scared":
        _draw_wolf(d, s, 0.7, SCARED, SCARED_DARK, (255, 255, 255))
        d.polygon([(0.86 * s, 0.04 * s), (0.94 * s, 0.2 * s), (0.78 * s, 0.2 * s)], fill=(80, 150, 240))
        _circle(d, s, 0.86, 0.22, 0.08, (80, 150, 240))
    elif kind in ("adult", "grown"):
        _circle(d, s, 0.5, 0.5, 0.43, colour, _darker(colour), 0.07)
        if kind == "grown":
            _circle(d, s, 0.5, 0.5, 0.08, (255, 255, 255))
    elif kind in ("baby", "baby_corner"):
        cx, cy, k = (0.5, 0.5, 1.0) if kind == "baby" else (0.3, 0.7, 0.95)
        _circle(d, s, cx, cy, 0.31 * k, (40, 40, 40))
        _circle(d, s, cx, cy, 0.27 * k, (255, 255, 255))
        _circle(d, s, cx, cy, 0.2 * k, colour)
    elif kind == "carried":
        _circle(d, s, 0.5, 0.5, 0.27, (255, 255, 255), (40, 40, 40), 0.02)
        _circle(d, s, 0.5, 0.5, 0.17, colour)
    elif kind == "cry":
        _circle(d, s, 0.5, 0.5, 0.47, None, CRY_DARK, 0.09)
        _circle(d, s, 0.5, 0.5, 0.465, None, CRY, 0.06)
        _circle(d, s, 0.83, 0.17, 0.16, CRY, CRY_DARK, 0.03)
        d.rectangle([0.81 * s, 0.06 * s, 0.85 * s, 0.2 * s], fill=(0, 0, 0))
        _circle(d, s, 0.83, 0.25, 0.025, (0, 0, 0))
    elif kind == "dead":  # a white halo keeps the cross visible on hazard stripes too
        for colour_, w in (((255, 255, 255), 0.18), (DEAD, 0.1)):
            d.line([0.3 * s, 0.3 * s, 0.7 * s, 0.7 * s], fill=colour_, width=max(int(w * s), 1))
            d.line([0.7 * s, 0.3 * s, 0.3 * s, 0.7 * s], fill=colour_, width=max(int(w * s), 1))
    else:  # pragma: no cover - internal names only
        raise KeyError(kind)


@functools.lru_cache(maxsize=256)
def _sprite(kind: str, colour: tuple | None, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied rgb float32 [c, c, 3], 1 - alpha float32 [c, c, 1]) of one sprite, cached."""
    s = cell * _SS
    im = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    _draw(kind, colour, ImageDraw.Draw(im), s)
    rgba = np.asarray(im.resize((cell, cell), Image.Resampling.LANCZOS), np.float32) / 255.0
    a = np.clip(rgba[..., 3:], 0.0, 1.0)
    return rgba[..., :3] * a * 255.0, 1.0 - a


def _paste(canvas: np.ndarray, sprite, row: int, col: int, cell: int) -> None:
    rgb, keep = sprite
    y, x = row * cell, col * cell
    patch = canvas[y : y + cell, x : x + cell]
    patch[:] = np.clip(patch * keep + rgb, 0, 255).astype(np.uint8)


def _colour(family: int) -> tuple:
    return FAMILY_COLOURS[family % len(FAMILY_COLOURS)]


def _agent_sprites(s, i: int, f: int, cell: int, shared: bool) -> list:
    """The sprites of agent i (alive), bottom to top."""
    ag, col = s.agents, _colour(i % f)
    out = []
    if ag.carried_by[i] >= 0:
        out.append(_sprite("carried", col, cell))
    elif ag.role[i] == C.ADULT:
        out.append(_sprite("grown" if i >= f else "adult", col, cell))
    else:
        out.append(_sprite("baby_corner" if shared else "baby", col, cell))
    if ag.holding[i] >= 0:
        out.append(_sprite("held_food", None, cell))
    if ag.cry[i]:
        out.append(_sprite("cry", None, cell))
    return out


def _grid_rgb(s, env, cell: int) -> np.ndarray:
    tiles = _terrain_tiles(cell)
    h, w = s.terrain.shape
    canvas = tiles[np.clip(s.terrain, 0, 2)].transpose(0, 2, 1, 3, 4).reshape(h * cell, w * cell, 3).copy()
    ag, f = s.agents, env.config.n_families
    for i in np.flatnonzero(~ag.alive & (s.log.death_tick >= 0)):
        _paste(canvas, _sprite("dead", None, cell), *ag.pos[i], cell)
    for k in np.flatnonzero(s.food.on_ground):
        _paste(canvas, _sprite("food", None, cell), *s.food.pos[k], cell)
    for k in np.flatnonzero(s.predators.active):
        _paste(canvas, _sprite("scared" if s.predators.scared[k] > 0 else "predator", None, cell),
               *s.predators.pos[k], cell)
    adult_cells = {tuple(ag.pos[i]) for i in np.flatnonzero(ag.alive & (ag.role == C.ADULT))}
    # adults, then carried babies (inside their carrier), then free babies on top
    order = sorted(np.flatnonzero(ag.alive), key=lambda i: (ag.role[i] == C.BABY, ag.carried_by[i] < 0, i))
    for i in order:
        shared = ag.role[i] == C.BABY and tuple(ag.pos[i]) in adult_cells
        for sp in _agent_sprites(s, i, f, cell, shared):
            _paste(canvas, sp, *ag.pos[i], cell)
    return canvas


# --------------------------------------------------------------------------------------------- panel
@functools.lru_cache(maxsize=8)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _layout(cell: int, n_agents: int, legend: bool = True) -> dict:
    u = max(cell, 18)  # the panel stays legible when the grid cells are tiny
    fs = max(round(u * 0.46), 9)
    lh = fs + 4
    pad = max(u // 4, 3)
    rh = 2 * lh + 4
    legend_rows = 4 if legend else 0
    top = pad + lh + pad
    legend_top = top + n_agents * rh + pad
    return dict(u=u, fs=fs, lh=lh, pad=pad, rh=rh, top=top, legend_top=legend_top, width=round(u * 9.2),
                height=legend_top + legend_rows * (lh + 3) + pad, bar=round(u * 2.6), icon=lh + 2, legend=legend)


_LEGEND = (
    ("food", None, "food"), ("hazard", None, "hazard"), ("predator", None, "predator"),
    ("scared", None, "scared"), ("cry", None, "crying"), ("carried", (120, 120, 120), "carried"),
    ("dead", None, "died here"), ("wall", None, "wall"),
)


def _icon(kind: str, colour, size: int) -> Image.Image:
    if kind in ("hazard", "wall"):
        return Image.fromarray(_terrain_tiles(size)[C.HAZARD if kind == "hazard" else C.WALL])
    rgb, keep = _sprite(kind, colour, size)
    base = np.broadcast_to(np.asarray(PANEL_BG, np.float32), rgb.shape)
    return Image.fromarray(np.clip(base * keep + rgb, 0, 255).astype(np.uint8))


@functools.lru_cache(maxsize=16)
def _panel_base(names: tuple[str, ...], cell: int, height: int, legend: bool) -> Image.Image:
    """The static part of the panel (legend, separator), cached per world shape and cell size."""
    L = _layout(cell, len(names), legend)
    im = Image.new("RGB", (L["width"], height), PANEL_BG)
    d = ImageDraw.Draw(im)
    font = _font(L["fs"])
    d.line([0, 0, 0, height], fill=INK, width=2)
    if not legend:
        return im
    y0 = L["legend_top"]
    d.line([L["pad"], y0 - L["pad"] // 2, L["width"] - L["pad"], y0 - L["pad"] // 2], fill=FAINT, width=1)
    colw = (L["width"] - 2 * L["pad"]) // 2
    for k, (kind, colour, label) in enumerate(_LEGEND):
        x = L["pad"] + (k % 2) * colw
        y = y0 + (k // 2) * (L["lh"] + 3)
        im.paste(_icon(kind, colour, L["icon"]), (x, y))
        d.text((x + L["icon"] + 4, y + 1), label, font=font, fill=INK)
    return im


def _bar(d, x, y, w, h, frac, colour):
    d.rectangle([x, y, x + w, y + h], fill=(228, 224, 214), outline=FAINT)
    fill = int(round(float(np.clip(frac, 0.0, 1.0)) * (w - 1)))
    if fill > 0:
        d.rectangle([x + 1, y + 1, x + fill, y + h - 1], fill=colour)


def _panel(s, env, cell: int, height: int, legend: bool) -> Image.Image:
    names = tuple(slot_names(env))
    L = _layout(cell, len(names), legend)
    im = _panel_base(names, cell, height, legend).copy()
    d = ImageDraw.Draw(im)
    font = _font(L["fs"])
    ag, f, pad, lh = s.agents, env.config.n_families, L["pad"], L["lh"]
    alive_n = int(ag.alive.sum())
    d.text((pad, pad), f"t = {int(s.t)}    alive {alive_n}/{len(names)}", font=font, fill=INK)
    for i, name in enumerate(names):
        y = L["top"] + i * L["rh"]
        adult = ag.role[i] == C.ADULT
        born = ag.alive[i] or s.log.death_tick[i] >= 0
        kind = ("grown" if i >= f else "adult") if adult else "baby"
        icon = _icon(kind, _colour(i % f), L["icon"])
        if not ag.alive[i]:  # faded: not born yet, or gone
            icon = Image.blend(Image.new("RGB", icon.size, PANEL_BG), icon, 0.35)
        im.paste(icon, (pad, y))
        if ag.alive[i] and ag.cry[i]:
            im.paste(_icon("cry", None, L["icon"]), (pad, y + lh + 2))
        x = pad + L["icon"] + 5
        d.text((x, y + 1), name, font=font, fill=INK if ag.alive[i] else FAINT)
        status = []
        if ag.alive[i]:
            if ag.carrying[i] >= 0:
                status.append("carrying")
            if ag.carried_by[i] >= 0:
                status.append("carried")
            if ag.holding[i] >= 0:
                status.append("holding food")
            if ag.cry[i]:
                status.append("CRYING")
        elif born:
            status.append(f"died t={int(s.log.death_tick[i])} {C.CAUSE_NAMES[int(s.log.death_cause[i])]}")
        else:
            status.append("not born")
        d.text((x + round(L["u"] * 3.4), y + 1), ", ".join(status), font=font,
               fill=(170, 40, 20) if ag.cry[i] else (INK if ag.alive[i] else FAINT))
        if ag.alive[i]:
            by = y + lh + 3
            bh = max(lh // 2, 4)
            for k, (label, val, colour) in enumerate((("E", ag.energy[i], ENERGY_BAR), ("H", ag.health[i], HEALTH_BAR))):
                bx = x + k * (L["bar"] + round(L["u"] * 0.9))
                d.text((bx, by - 2), label, font=font, fill=INK)
                _bar(d, bx + round(L["u"] * 0.55), by, L["bar"], bh, val, colour)
    return im


# --------------------------------------------------------------------------------------------- frames
def render_rgb(state, env, cell: int = 24, panel: bool = True) -> np.ndarray:
    """An RGB frame uint8 [H*cell, W*cell (+ panel width), 3] of one (unbatched) state.

    With `panel` a status panel (tick, per-agent energy and health bars, legend) is added on the
    right. The legend is left out when it does not fit beside the grid; the frame grows taller than
    the grid only when the agent rows alone do not fit (many slots, tiny cells).
    """
    if int(cell) < 6:
        raise ConfigError(f"cell={cell!r} is not allowed: must be an integer >= 6 (pixels per grid cell).")
    cell = int(cell)
    s = _host(state)
    grid = _grid_rgb(s, env, cell)
    if not panel:
        return grid
    legend = _layout(cell, env.num_agents, True)["height"] <= grid.shape[0]
    height = max(grid.shape[0], _layout(cell, env.num_agents, legend)["height"])
    side = np.asarray(_panel(s, env, cell, height, legend))
    out = np.empty((height, grid.shape[1] + side.shape[1], 3), np.uint8)
    out[:] = PANEL_BG
    out[: grid.shape[0], : grid.shape[1]] = grid
    out[:, grid.shape[1] :] = side
    return out


def save_gif(frames: list[np.ndarray], path, fps: float = 6) -> None:
    """Write frames as a looping animated GIF.

    Pillow merges consecutive identical frames into one longer frame; frames with the panel never
    repeat (the tick changes), so a rendered episode keeps one GIF frame per tick.
    """
    if not frames:
        raise ConfigError("frames is empty: save_gif needs at least one frame.")
    frames = [np.asarray(f, np.uint8) for f in frames]
    if any(f.shape != frames[0].shape for f in frames):
        raise ConfigError("frames have different shapes: every frame of a GIF must be the same size.")
    # one palette for the whole GIF (from a sample of frames): no colour flicker, and Pillow can then
    # store each frame as the small region that changed (5x faster and ~3x smaller than per-frame palettes)
    sample = np.concatenate(frames[:: max(1, len(frames) // 16)], axis=0)
    palette = Image.fromarray(sample).quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(int(round(1000 / fps)), 20), loop=0)


@functools.lru_cache(maxsize=8)
def _rollout(env, policy, steps: int):
    """A jitted scan of one episode that returns every state (cached so repeated calls skip compiling)."""

    def run(key, params):
        k_reset, key = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def tick(carry, _):
            key, obs, state, done = carry
            key, k_pol, k_step = jax.random.split(key, 3)
            actions = policy(k_pol, obs, state, params)
            obs, state, _, d, _ = env.step(k_step, state, actions, params)
            return (key, obs, state, done | d), (state, done | d)

        _, (states, dones) = jax.lax.scan(tick, (key, obs, state, jnp.zeros((), bool)), None, length=steps)
        return state, states, dones

    return jax.jit(run)


def render_episode(env, policy, params=None, key=None, steps: int | None = None, cell: int = 24) -> list[np.ndarray]:
    """Run one episode (to its end or `steps` ticks) and render every frame, the first state included.

    `policy` is `(key, obs, state, params) -> actions [A]` or a name in `policies.POLICIES`. The whole
    episode runs as one jitted scan; only the drawing is per frame.
    """
    from caredrive.env.policies import POLICIES

    if isinstance(policy, str):
        if policy not in POLICIES:
            raise ConfigError(f"policy={policy!r} is not allowed: must be one of {sorted(POLICIES)}.")
        policy = _named_policy(env, policy)
    params = env.default_params if params is None else params
    key = jax.random.PRNGKey(0) if key is None else key
    steps = int(params.max_steps) if steps is None else int(steps)
    if steps < 0:
        raise ConfigError(f"steps={steps!r} is not allowed: must be an integer >= 0.")
    if steps == 0:
        return [render_rgb(env.reset(key, params)[1], env, cell)]
    first, states, dones = jax.device_get(_rollout(env, policy, steps)(key, params))
    n = int(np.argmax(dones)) + 1 if dones.any() else steps
    frames = [render_rgb(first, env, cell)]
    frames += [render_rgb(jax.tree.map(lambda x, t=t: x[t], states), env, cell) for t in range(n)]
    return frames


@functools.lru_cache(maxsize=16)
def _named_policy(env, name: str):
    """One policy object per (env, name), so the rollout cache above is hit on repeated calls."""
    from caredrive.env.policies import POLICIES

    return POLICIES[name](env)
