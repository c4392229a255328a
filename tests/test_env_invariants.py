"""Property tests of the Nursery world: invariants that hold on every tick, for random actions and
random dynamic params, in batches of 3 worlds with different params vmapped together.

One jitted `vmap(scan(step))` per world config is compiled once per module and reused by every
hypothesis example (a trace counter checks that new params never recompile it).
"""

from __future__ import annotations

from collections import deque

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredrive.env import EnvState, Obs, make
from caredrive.env import constants as C

T = 40  # ticks per trajectory
B = 3  # worlds per batch, each with its own params


class Roller:
    """A jitted batch rollout for one env: (keys [B], params [B], actions [B, T, A]) -> trajectory."""

    def __init__(self, env):
        self.env = env
        self.traces = 0

        def one(key, params, actions):
            k_reset, k_run = jax.random.split(key)
            obs0, s0 = env.reset(k_reset, params)

            def tick(s, xs):
                k, a = xs
                obs, s, r, done, info = env.step(k, s, a, params)
                return s, (obs, s, r, done, info["terminated"], info["truncated"])

            _, traj = jax.lax.scan(tick, s0, (jax.random.split(k_run, T), actions))
            return obs0, s0, traj

        def batch(seeds, params, actions):
            self.traces += 1  # runs only while tracing
            return jax.vmap(one)(jax.vmap(jax.random.key)(seeds), params, actions)

        self.fn = jax.jit(batch)

    def __call__(self, seeds, params_list, action_seed):
        seeds = np.asarray(seeds, np.uint32)
        params = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *params_list)
        rng = np.random.default_rng(action_seed)
        actions = rng.integers(0, C.NUM_ACTIONS, (len(seeds), T, self.env.num_agents)).astype(np.int32)
        return jax.device_get(self.fn(seeds, params, actions))


MAIN = make("Nursery-11x11")
CHAIN = make("Nursery-Chain-11x11")
ROLLERS = {"main": Roller(MAIN), "chain": Roller(CHAIN)}


def _params_strategy(env, chain: bool):
    cfg = env.config

    @st.composite
    def draw(d):
        birth_min = d(st.integers(1, 8))
        kw = dict(
            max_steps=d(st.integers(10, 60)),
            layout=d(st.integers(0, len(C.LAYOUT_NAMES) - 1)),
            wall_density=d(st.sampled_from([0.0, 0.06, 0.2])),
            n_food=d(st.integers(0, cfg.max_food)),
            n_predators=d(st.integers(0, cfg.max_predators)),
            n_hazards=d(st.integers(0, cfg.max_hazards)),
            label_own_baby=d(st.booleans()),
            births_per_life=d(st.integers(0, 3)),
            rebirth_prob=d(st.sampled_from([0.0, 0.5, 1.0])),
            rebirth_delay=d(st.integers(0, 6)),
            reward_mode=d(st.integers(0, len(C.REWARD_MODES) - 1)),
            birth_min=birth_min,
            birth_max=birth_min + d(st.integers(0, 8)),
            adult_drain=d(st.sampled_from([0.006, 0.05])),
            baby_drain=d(st.sampled_from([0.008, 0.06])),
            starve_damage=d(st.sampled_from([0.05, 0.3])),
            predator_speed=d(st.sampled_from([0.5, 1.0])),
            predator_damage_baby=d(st.sampled_from([0.25, 0.6])),
            predator_radius=d(st.integers(1, 6)),
            passive_scare=d(st.sampled_from([0.0, 0.5])),
            guard=d(st.booleans()),
            food_regrow=d(st.sampled_from([0.0, 0.3])),
            baby_move_period=d(st.integers(1, 3)),
            self_feed_age=d(st.integers(0, 30)),
            reward_mix=d(st.sampled_from([0.0, 0.5, 1.0])),
        )
        if chain:
            kw.update(chain=d(st.booleans()), adult_age=d(st.integers(4, 20)), chain_birth_delay=d(st.integers(0, 4)))
        else:
            kw.update(adult_age=d(st.integers(10, 60)))
        return env.check_params(env.default_params.replace(**kw))

    return draw()


def _world(tree, b):
    return jax.tree.map(lambda x: np.asarray(x)[b], tree)


def _max_health(role, age, p):
    growth = np.minimum(age / float(p.adult_age), 1.0)
    baby = float(p.baby_health0) + (1.0 - float(p.baby_health0)) * growth
    return np.where(role == C.BABY, baby, 1.0)


def check_world(env, p, obs0, s0, traj):
    """Every invariant of one world's trajectory (numpy, after the fact)."""
    cfg = env.config
    n, f, a = cfg.grid_size, cfg.n_families, cfg.num_agents
    obs, states, rew, done, term, trunc = traj
    # s[0] is the reset state, s[t] the state after tick t
    s = jax.tree.map(lambda x0, xs: np.concatenate([np.asarray(x0)[None], np.asarray(xs)]), s0, states)
    ag, food, pr, log = s.agents, s.food, s.predators, s.log
    terrain = s.terrain[0]

    # shapes and dtypes of everything returned
    assert obs0.view.shape == env.obs_shapes["view"] and obs0.view.dtype == np.uint8
    assert obs0.body.shape == env.obs_shapes["body"] and obs0.body.dtype == np.float32
    assert obs.view.shape == (T, *env.obs_shapes["view"]) and obs.view.dtype == np.uint8
    assert obs.body.shape == (T, *env.obs_shapes["body"]) and obs.body.dtype == np.float32
    assert rew.shape == (T, a) and rew.dtype == np.float32
    for flag in (done, term, trunc):
        assert flag.shape == (T,) and flag.dtype == np.bool_
    assert np.isfinite(obs.body).all() and np.isfinite(rew).all()
    assert set(np.unique(obs.view)) <= {0, 1}

    # time and terrain
    np.testing.assert_array_equal(s.t, np.arange(T + 1))
    assert (s.terrain == terrain).all(), "terrain changed during the episode"
    assert (terrain[0] == C.WALL).all() and (terrain[-1] == C.WALL).all()
    assert (terrain[:, 0] == C.WALL).all() and (terrain[:, -1] == C.WALL).all()

    # reset: founders alive, adults, on distinct empty cells; nobody else born yet
    assert ag.alive[0, :f].all() and not ag.alive[0, f:].any()
    assert (terrain[ag.pos[0, :f, 0], ag.pos[0, :f, 1]] == C.EMPTY).all()
    assert len({tuple(x) for x in ag.pos[0, :f]}) == f
    hazard_cells = int((terrain == C.HAZARD).sum())
    if int(p.layout) != C.LAYOUT_MOAT:
        assert hazard_cells == int(p.n_hazards)

    alive = ag.alive
    # alive agents: inside the grid, never in a wall
    r, c = ag.pos[..., 0], ag.pos[..., 1]
    assert ((r >= 0) & (r < n) & (c >= 0) & (c < n))[alive].all()
    assert (terrain[np.clip(r, 0, n - 1), np.clip(c, 0, n - 1)] != C.WALL)[alive].all(), "an agent in a wall"
    # energy in [0, 1] for every slot; health in [0, max health] (max health for the living)
    assert ((ag.energy >= 0) & (ag.energy <= 1)).all()
    assert (ag.health >= 0).all()
    top = _max_health(ag.role, ag.age, p)
    assert (ag.health <= top + 1e-5)[alive].all(), "health above max health"
    assert (ag.health > 1e-6)[alive].all(), "a living agent at zero health"
    assert (ag.births <= max(int(p.births_per_life), 0)).all()
    assert (ag.births[:, :f] == 0).all(), "founders are never born"

    # the dead hold nothing and are not carried
    dead = ~alive
    assert (ag.carrying[dead] == -1).all() and (ag.carried_by[dead] == -1).all() and (ag.holding[dead] == -1).all()
    assert (~ag.cry[dead]).all()

    for t in range(1, T + 1):
        prev, now = alive[t - 1], alive[t]
        new_birth = ag.births[t] > ag.births[t - 1]
        # a slot becomes alive only by a (re)birth logged at this tick: dead stays dead otherwise
        assert not (~prev & now & ~new_birth).any(), f"tick {t}: a dead agent came back without a birth"
        assert (ag.births[t] - ag.births[t - 1] >= 0).all() and (ag.births[t] - ag.births[t - 1] <= 1).all()
        for i in np.flatnonzero(new_birth):
            assert i >= f and now[i] and log.birth_tick[t, i] == t and ag.age[t, i] == 0
            assert ag.role[t, i] == C.BABY and ag.carried_by[t, i] == -1
            assert ag.energy[t, i] == pytest.approx(float(p.baby_energy0))
            mother = i - f
            assert ag.role[t, mother] == C.ADULT and alive[t, mother]
            dist = np.abs(ag.pos[t, i] - ag.pos[t, mother]).sum()
            assert dist == 1, f"tick {t}: slot {i} born at distance {dist} from its mother"
            assert terrain[tuple(ag.pos[t, i])] == C.EMPTY, "born on a wall or hazard"
        for i in np.flatnonzero(prev & ~now):
            assert log.death_tick[t, i] == t
            assert log.death_cause[t, i] in (C.STARVED, C.HAZARD_DEATH, C.PREDATOR_DEATH)
        # ageing: +1 per tick alive
        grew = prev & now & ~new_birth
        assert (ag.age[t][grew] == ag.age[t - 1][grew] + 1).all()
        # a baby becomes an adult only by growing up, and an adult never becomes a baby again
        assert not ((ag.role[t - 1] == C.ADULT) & (ag.role[t] == C.BABY) & ~new_birth).any()

        # carrying / carried_by consistent both ways; a carried agent shares its carrier's cell
        for i in np.flatnonzero(ag.carrying[t] >= 0):
            j = ag.carrying[t, i]
            assert now[i] and now[j] and ag.carried_by[t, j] == i
            assert ag.role[t, i] == C.ADULT
            assert (ag.pos[t, i] == ag.pos[t, j]).all(), f"tick {t}: carried {j} not on carrier {i}'s cell"
        for j in np.flatnonzero(ag.carried_by[t] >= 0):
            assert ag.carrying[t, ag.carried_by[t, j]] == j

        # food: held food is not on the ground; holding / held_by consistent; ground food never in a wall
        for k in np.flatnonzero(food.held_by[t] >= 0):
            i = food.held_by[t, k]
            assert not food.on_ground[t, k] and now[i] and ag.holding[t, i] == k
        for i in np.flatnonzero(ag.holding[t] >= 0):
            assert food.held_by[t, ag.holding[t, i]] == i
        ground = food.on_ground[t]
        assert (terrain[food.pos[t, :, 0], food.pos[t, :, 1]] != C.WALL)[ground].all(), "food in a wall"
        assert not ground[int(p.n_food):].any(), "a food item beyond n_food appeared"

        # predators: never in a wall, exactly n_predators active
        assert (terrain[pr.pos[t, :, 0], pr.pos[t, :, 1]] != C.WALL).all(), "a predator in a wall"
        assert pr.active[t].sum() == int(p.n_predators) and (pr.scared[t] >= 0).all()

        # rewards: in [0, 1], zero for an agent already dead before the tick
        assert ((rew[t - 1] >= 0) & (rew[t - 1] <= 1 + 1e-6)).all()
        assert (rew[t - 1][~prev] == 0).all()

        # the end of an episode, recomputed from the state
        child = np.arange(f) + f
        lost = (ag.births[t, child] > 0) & ~now[child] & (ag.next_birth[t, child] >= C.NEVER)
        child_based = int(p.reward_mode) in (C.REWARD_BABY, C.REWARD_BABY_WELFARE, C.REWARD_LINEAGE)
        expect_term = bool((~now[:f] | (child_based & lost)).all())
        assert bool(term[t - 1]) == expect_term, f"tick {t}: terminated={term[t - 1]}, expected {expect_term}"
        time_up = t >= int(p.max_steps)
        assert bool(trunc[t - 1]) == (time_up and not expect_term)
        assert bool(done[t - 1]) == (time_up or expect_term)
    return s


@pytest.mark.parametrize("which", ["main", "chain"])
@given(data=st.data())
def test_invariants_hold_on_random_trajectories(which, data):
    roller, params, (obs0, s0, traj) = _draw_batch(data, which)
    for b in range(B):
        check_world(roller.env, params[b], _world(obs0, b), _world(s0, b), _world(traj, b))
    assert roller.traces == 1, "new params values recompiled the rollout"


def _draw_batch(data, which):
    roller = ROLLERS[which]
    strat = _params_strategy(roller.env, chain=which == "chain")
    params = [data.draw(strat, label=f"params[{b}]") for b in range(B)]
    seeds = data.draw(st.lists(st.integers(0, 2**31 - 1), min_size=B, max_size=B), label="keys")
    action_seed = data.draw(st.integers(0, 2**31 - 1), label="actions")
    return roller, params, roller(seeds, params, action_seed)


@given(data=st.data())
def test_no_free_baby_survives_a_tick_on_a_hazard(data):
    """body.hazards: 'A free baby on a hazard dies'. No living, uncarried baby may end a tick on a hazard
    cell. (It failed when a carrier died on a hazard and dropped her baby there, a bug now fixed: see
    test_env_mechanics::test_a_carrier_dying_on_a_hazard_does_not_drop_the_baby_into_it.)"""
    roller, params, (_, s0, traj) = _draw_batch(data, "main")
    n = roller.env.config.grid_size
    for b in range(B):
        st_ = _world(traj[1], b)
        ag, terrain = st_.agents, _world(s0, b).terrain
        r, c = np.clip(ag.pos[..., 0], 0, n - 1), np.clip(ag.pos[..., 1], 0, n - 1)
        burning = ag.alive & (ag.role == C.BABY) & (ag.carried_by < 0) & (terrain[r, c] == C.HAZARD)
        ticks = (np.flatnonzero(burning.any(-1)) + 1).tolist()
        assert not burning.any(), f"world {b}: a living free baby on a hazard after ticks {ticks}"


def test_random_trajectories_exercise_the_mechanics():
    """Guard against vacuous invariants: the random worlds above do see births, deaths, rebirths,
    carrying, eating, and (in chains) babies growing up and giving birth."""
    seen = dict.fromkeys(["birth", "death", "rebirth", "carry", "eat", "hold", "grown", "chain_birth"], False)
    for which, chain in (("main", False), ("chain", True)):
        roller = ROLLERS[which]
        env = roller.env
        f = env.config.n_families
        kw = dict(birth_min=1, birth_max=4, births_per_life=3, rebirth_prob=1.0, rebirth_delay=2, n_food=6,
                  baby_drain=0.06, adult_drain=0.01, n_predators=1, layout=C.LAYOUT_OPEN, food_regrow=0.3)
        if chain:
            kw.update(chain=True, adult_age=6, chain_birth_delay=1, baby_drain=0.0, n_predators=0)
        params = [env.check_params(env.default_params.replace(**kw))] * B
        _, s0, traj = roller([1, 2, 3], params, 7)
        st_ = traj[1]
        ag = st_.agents
        seen["birth"] |= bool((ag.births[..., f : 2 * f] >= 1).any())
        seen["rebirth"] |= bool((ag.births >= 2).any())
        seen["death"] |= bool((st_.log.death_tick >= 0).any())
        seen["carry"] |= bool((ag.carrying >= 0).any())
        seen["eat"] |= bool((st_.log.eaten > 0).any())
        seen["hold"] |= bool((ag.holding >= 0).any())
        if chain:
            seen["grown"] |= bool(((ag.role == C.ADULT) & (np.arange(env.num_agents) >= f)).any())
            seen["chain_birth"] |= bool((ag.births[..., 2 * f :] >= 1).any())
        assert roller.traces == 1
    missing = [k for k, v in seen.items() if not v]
    assert not missing, f"random trajectories never showed: {missing}"


def test_same_key_same_trajectory_bit_for_bit():
    roller = ROLLERS["main"]
    env = roller.env
    params = [
        env.check_params(env.default_params.replace(layout=lay, n_predators=2, birth_min=1, birth_max=3))
        for lay in (C.LAYOUT_WALLS, C.LAYOUT_MOAT, C.LAYOUT_ROOMS)
    ]
    first = roller([11, 12, 13], params, 5)
    second = roller([11, 12, 13], params, 5)
    leaves1, tree1 = jax.tree.flatten(first)
    leaves2, tree2 = jax.tree.flatten(second)
    assert tree1 == tree2
    for x, y in zip(leaves1, leaves2, strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # and the key matters: another key gives another world
    other = roller([14, 12, 13], params, 5)
    assert not np.array_equal(np.asarray(other[1].terrain[0]), np.asarray(first[1].terrain[0])) or not np.array_equal(
        np.asarray(other[1].agents.pos[0]), np.asarray(first[1].agents.pos[0])
    )
    assert roller.traces == 1


def test_vmap_of_different_params_shapes_dtypes_and_no_recompile():
    """3 worlds with different layouts, reward modes and counts run as one vmapped, jitted program."""
    roller = ROLLERS["main"]
    env = roller.env
    a, v = env.num_agents, env.config.view_size
    variants = [
        dict(layout=C.LAYOUT_OPEN, reward_mode=C.REWARD_SELF, n_food=0, n_predators=0, n_hazards=0),
        dict(layout=C.LAYOUT_CORRIDOR, reward_mode=C.REWARD_BABY_WELFARE, n_food=8, n_predators=2, n_hazards=6),
        dict(layout=C.LAYOUT_MOAT, reward_mode=C.REWARD_MIXED, n_food=3, n_predators=1, label_own_baby=False),
    ]
    params = [env.check_params(env.default_params.replace(**kw)) for kw in variants]
    before = roller.traces
    obs0, s0, (obs, states, rew, done, term, trunc) = roller([0, 1, 2], params, 0)
    obs0b, _, _ = roller([3, 4, 5], params[::-1], 1)  # other values, same shapes: no new trace
    assert roller.traces == before == 1
    assert isinstance(obs0, Obs) and isinstance(s0, EnvState)
    assert obs0.view.shape == (B, a, v, v, C.NUM_CHANNELS) and obs0.view.dtype == np.uint8
    assert obs.view.shape == (B, T, a, v, v, C.NUM_CHANNELS)
    assert obs.body.shape == (B, T, a, C.NUM_BODY) and obs.body.dtype == np.float32
    assert rew.shape == (B, T, a) and rew.dtype == np.float32
    assert done.shape == term.shape == trunc.shape == (B, T) and done.dtype == np.bool_
    assert states.agents.pos.shape == (B, T, a, 2) and states.agents.pos.dtype == np.int32
    assert states.terrain.dtype == np.int8 and states.t.dtype == np.int32
    # each world really ran with its own params
    assert (s0.predators.active.sum(-1) == [0, 2, 1]).all()
    assert (s0.food.on_ground.sum(-1) == [0, 8, 3]).all()
    assert ((s0.terrain == C.HAZARD).sum((-1, -2))[:2] == [0, 6]).all()
    assert ((s0.terrain[2] == C.HAZARD).sum()) > 6  # the moat ring plus 4 hazards
    # and every world of the batch keeps the invariants
    for b in range(B):
        check_world(env, params[b], _world(obs0, b), _world(s0, b), _world((obs, states, rew, done, term, trunc), b))


def _components(terrain: np.ndarray) -> int:
    free = terrain != C.WALL
    seen = np.zeros_like(free)
    count = 0
    for start in zip(*np.nonzero(free), strict=True):
        if seen[start]:
            continue
        count += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            y, x = queue.popleft()
            for dy, dx in C.NEIGHBOURS:
                nxt = (y + dy, x + dx)
                if free[nxt] and not seen[nxt]:
                    seen[nxt] = True
                    queue.append(nxt)
    return count


@pytest.mark.parametrize("grid_size", [8])
def test_rooms_layout_keeps_every_room_reachable(grid_size):
    """Every walkable cell of a `rooms` layout is reachable from every other one (on an even grid too)."""
    env = make("Nursery-11x11", grid_size=grid_size, layout="rooms", n_hazards=0, max_hazards=0)
    keys = jax.random.split(jax.random.key(0), 64)
    terrains = np.asarray(jax.jit(jax.vmap(lambda k: env.reset(k)[1].terrain))(keys))
    sealed = [i for i, ter in enumerate(terrains) if _components(ter) > 1]
    assert not sealed, (
        f"{len(sealed)}/64 resets of a {grid_size}x{grid_size} rooms layout have a sealed room, e.g.\n"
        + "\n".join("".join("#" if v == C.WALL else "." for v in row) for row in terrains[sealed[0]])
    )
