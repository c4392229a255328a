"""Rendering: RGB frames, the text grid, GIFs and rendered episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import caredrive
from caredrive.env import constants as C
from caredrive.env.render import CRY, render_episode, render_rgb, render_text, save_gif, slot_names
from caredrive.errors import ConfigError

ROWS = [
    "###########",
    "#.........#",
    "#.........#",
    "#....~....#",
    "#.........#",
    "#.........#",
    "#.........#",
    "#.........#",
    "#.........#",
    "#.........#",
    "###########",
]
CELL = 16


@pytest.fixture(scope="module")
def env():
    return caredrive.make("Nursery-11x11")


@pytest.fixture(scope="module")
def start(env):
    return jax.jit(env.reset)(jax.random.PRNGKey(0))[1]


def cell_of(frame: np.ndarray, row: int, col: int, cell: int = CELL) -> np.ndarray:
    return frame[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]


def test_rgb_frame_shape_and_dtype(env, start):
    n = env.config.grid_size
    grid = render_rgb(start, env, cell=CELL, panel=False)
    assert grid.shape == (n * CELL, n * CELL, 3) and grid.dtype == np.uint8
    full = env.render(start, cell=CELL)  # the world's own hook goes through render_rgb
    assert full.dtype == np.uint8 and full.shape[0] == n * CELL and full.shape[1] > n * CELL
    np.testing.assert_array_equal(full[:, : n * CELL], grid)
    np.testing.assert_array_equal(render_rgb(start, env, cell=CELL), full)  # deterministic


def test_rgb_rejects_batched_state_and_tiny_cells(env, start):
    batched = jax.tree.map(lambda x: jnp.stack([x, x]), start)
    with pytest.raises(ConfigError, match="one world at a time"):
        render_rgb(batched, env)
    with pytest.raises(ConfigError, match="cell"):
        render_rgb(start, env, cell=3)


def test_frame_changes_when_an_agent_moves(env, make_state):
    """Only the two cells the mother moved between change, and the panel is unaffected by position."""
    others = {1: {"pos": (8, 8)}}
    before = render_rgb(make_state(env, ROWS, agents={0: {"pos": (4, 4)}, **others}), env, cell=CELL)
    after = render_rgb(make_state(env, ROWS, agents={0: {"pos": (4, 5)}, **others}), env, cell=CELL)
    n = env.config.grid_size
    changed = (before[: n * CELL, : n * CELL] != after[: n * CELL, : n * CELL]).any(-1)
    cells = {(r // CELL, c // CELL) for r, c in zip(*np.nonzero(changed), strict=True)}
    assert cells == {(4, 4), (4, 5)}
    np.testing.assert_array_equal(before[:, n * CELL :], after[:, n * CELL :])


def test_text_shows_wall_border_and_mothers(env, start):
    text = render_text(start, env)
    assert text == render_text(start, env)  # deterministic
    n = env.config.grid_size
    lines = text.splitlines()
    assert len(lines) == n + 1 + env.num_agents
    grid = lines[:n]
    assert grid[0] == "#" * n and grid[-1] == "#" * n
    assert all(len(row) == n and row[0] == "#" and row[-1] == "#" for row in grid)
    body = "".join(grid)
    assert body.count("A") == 1 and body.count("B") == 1  # one upper-case letter per mother
    assert sum(ch.isupper() and ch != "P" for ch in body) == env.config.n_families
    assert not any(ch.islower() and ch != "p" for ch in body)  # no baby is born at reset
    assert lines[n].startswith("t=0 ")
    assert [line.split()[1] for line in lines[n + 1 :]] == slot_names(env)


@pytest.fixture(scope="module")
def scene(env):
    """A hand-made scene: mother_0 carries her crying baby, mother_1 holds food, baby_1 died here,
    one predator hunts and one flees."""

    def build(make_state, cry=True):
        return make_state(
            env,
            ROWS,
            agents={
                0: {"pos": (2, 2), "carrying": 2},
                1: {"pos": (5, 5), "holding": 0},
                2: {"pos": (2, 2), "carried_by": 0, "cry": cry, "energy": 0.1},
                3: {"pos": (7, 7), "alive": False},
            },
            food=[{"pos": (0, 0), "held_by": 1}, (4, 8)],
            predators=[(8, 2), {"pos": (8, 8), "scared": 5}],
            t=17,
        )

    return build


def _with_death(state, slot, tick):
    log = state.log.replace(death_tick=state.log.death_tick.at[slot].set(tick),
                            death_cause=state.log.death_cause.at[slot].set(C.PREDATOR_DEATH))
    return state.replace(log=log)


def test_text_marks_carried_crying_dead_and_scared(env, scene, make_state):
    state = _with_death(scene(make_state), 3, 12)
    lines = render_text(state, env).splitlines()
    grid = lines[:11]
    assert grid[2][2] == "0"  # mother_0's cell shows she carries a baby
    assert grid[5][5] == "B" and grid[3][5] == "~" and grid[4][8] == "*"
    assert grid[7][7] == "+"  # where baby_1 died
    assert grid[8][2] == "P" and grid[8][8] == "p"
    assert lines[11] == "t=17 food=1 predators=2 scared=1"
    assert "carrying baby_0" in lines[12] and "holding food" in lines[13]
    assert "carried by mother_0" in lines[14] and "CRYING" in lines[14]
    assert "dead (predator) at t=12" in lines[15]


def test_rgb_cues_are_visible(env, scene, make_state):
    crying = render_rgb(_with_death(scene(make_state), 3, 12), env, cell=CELL, panel=False)
    quiet = render_rgb(_with_death(scene(make_state, cry=False), 3, 12), env, cell=CELL, panel=False)
    gold = lambda patch: (np.abs(patch.astype(int) - CRY).sum(-1) < 60).sum()
    assert gold(cell_of(crying, 2, 2)) > 10 and gold(cell_of(quiet, 2, 2)) == 0
    # the carried baby shows inside its mother: her cell differs from a mother alone
    alone = render_rgb(make_state(env, ROWS, agents={0: {"pos": (2, 2)}}), env, cell=CELL, panel=False)
    assert not np.array_equal(cell_of(quiet, 2, 2), cell_of(alone, 2, 2))
    # a fleeing predator looks different from a hunting one; the dead leave a mark
    floor = cell_of(alone, 6, 6)
    assert not np.array_equal(cell_of(quiet, 8, 2), cell_of(quiet, 8, 8))
    assert not np.array_equal(cell_of(quiet, 7, 7), floor)
    assert np.array_equal(cell_of(alone, 7, 7), floor)  # nothing is drawn for an unborn slot


@pytest.fixture(scope="module")
def short_params(env):
    return env.default_params.replace(max_steps=jnp.asarray(5, jnp.int32))


def test_render_episode_and_gif(env, tmp_path):
    frames = render_episode(env, "random", None, jax.random.PRNGKey(2), steps=8, cell=CELL)
    assert len(frames) == 9  # the first state and one frame per tick
    assert all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in frames)
    assert not all(np.array_equal(frames[0], f) for f in frames[1:])
    path = tmp_path / "episode.gif"
    save_gif(frames, path, fps=10)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == len(frames)
        assert im.size == (frames[0].shape[1], frames[0].shape[0])
        assert im.info["duration"] == 100


def test_render_episode_stops_at_the_end(env, short_params):
    frames = render_episode(env, "random", short_params, jax.random.PRNGKey(2), steps=8, cell=CELL)
    assert len(frames) == 6  # truncated after max_steps=5 ticks
    with pytest.raises(ConfigError, match="policy"):
        render_episode(env, "nobody", None, jax.random.PRNGKey(0))


def test_save_gif_rejects_no_frames(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        save_gif([], tmp_path / "x.gif")
