"""The Nursery world: mothers who live for themselves until a weaker baby is born next to them.

`Nursery` is the raw world (no auto-reset: a finished world keeps stepping, dead stay dead, which is
what evaluation rollouts want). Wrap it in `wrappers.AutoReset` for training. The step is a readable
chain of one-mechanic functions from `actions`, `predators` and `body`, with `fusion.barrier`s between
groups of them (they change no value, only what XLA:CPU stores).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from caredrive.env import actions as act
from caredrive.env import body, layout
from caredrive.env import constants as C
from caredrive.env.brains import BRAINS
from caredrive.env.fusion import barrier
from caredrive.env.observe import Obs, observe
from caredrive.env.params import EnvConfig, EnvParams, coerce_params, validate_params
from caredrive.env.predators import step_predators
from caredrive.env.reward import rewards, terminated
from caredrive.env.rng import uniform
from caredrive.env.state import Agents, EnvState, EventLog, Food, Predators
from caredrive.errors import ConfigError


class Nursery:
    """A grid world of `n_families` mothers, each with a line of `generations - 1` descendants."""

    def __init__(self, config: EnvConfig | None = None, params: EnvParams | None = None, name: str = "Nursery"):
        config = EnvConfig() if config is None else config
        params = EnvParams() if params is None else params
        config.validate()
        validate_params(config, params)
        self.config, self.name = config, name
        self._default_params = coerce_params(params)
        f, a = config.n_families, config.num_agents
        idx = np.arange(a)
        self.parent_of = np.where(idx >= f, idx - f, -1).astype(np.int32)
        self.child_of = np.where(idx + f < a, idx + f, -1).astype(np.int32)
        self.baby_brain = BRAINS[config.baby_brain]

    # --- spaces ---
    @property
    def default_params(self) -> EnvParams:
        return self._default_params

    @property
    def num_agents(self) -> int:
        return self.config.num_agents

    @property
    def num_actions(self) -> int:
        return C.NUM_ACTIONS

    @property
    def roles_at_start(self) -> np.ndarray:
        """Founders are adults, every later slot starts as a baby (int32 [A])."""
        return np.where(np.arange(self.num_agents) < self.config.n_families, C.ADULT, C.BABY).astype(np.int32)

    @property
    def mothers(self) -> np.ndarray:
        """Bool [A]: the founding mothers, whose reward defines the episode."""
        return np.arange(self.num_agents) < self.config.n_families

    @property
    def obs_shapes(self) -> dict[str, tuple[int, ...]]:
        v = self.config.view_size
        return {"view": (self.num_agents, v, v, C.NUM_CHANNELS), "body": (self.num_agents, C.NUM_BODY)}

    def check_params(self, params: EnvParams) -> EnvParams:
        """Validate user-made params (concrete values) and give them the dtypes the world expects."""
        validate_params(self.config, params)
        return coerce_params(params)

    # --- reset ---
    def reset(self, key: jax.Array, params: EnvParams | None = None) -> tuple[Obs, EnvState]:
        params = self._default_params if params is None else params
        cfg = self.config
        n, f, a = cfg.grid_size, cfg.n_families, cfg.num_agents
        # jax's own draw here: its loop stores the numbers once for the many mechanics that read them (the
        # fusable `uniform` measured slower in a per-world auto-reset, which recomputed it per reader)
        u = jax.random.uniform(key, (2 * n * n + 5 + a,))
        u_walls, u_place = u[: n * n].reshape(n, n), u[n * n : 2 * n * n]
        u_misc, u_birth = u[2 * n * n : 2 * n * n + 5], u[2 * n * n + 5 :]
        terrain = layout.generate(u_walls, u_misc, params)

        # distinct random empty cells for hazards, mothers, food and predators (top-k of random scores)
        nh, nf, npred = cfg.max_hazards, cfg.max_food, cfg.max_predators
        scores = jnp.where(terrain.ravel() == C.EMPTY, u_place, -1.0)
        best, flat = jax.lax.top_k(scores, nh + f + nf + npred)
        cells = jnp.stack([flat // n, flat % n], -1).astype(jnp.int32)
        free = best >= 0  # a crowded layout (dense walls, moat) may leave too few empty cells
        free_h, free_f, free_p = free[:nh], free[nh + f : nh + f + nf], free[nh + f + nf :]
        haz, mothers = cells[:nh], cells[nh : nh + f]
        food_pos, pred_pos = cells[nh + f : nh + f + nf], cells[nh + f + nf :]
        put_hazard = (jnp.arange(nh) < params.n_hazards) & free_h
        terrain = terrain.at[haz[:, 0], haz[:, 1]].set(jnp.where(put_hazard, C.HAZARD, terrain[haz[:, 0], haz[:, 1]]))

        founder = jnp.arange(a) < f
        first_gen = (jnp.arange(a) >= f) & (jnp.arange(a) < 2 * f)
        due = params.birth_min + jnp.floor(u_birth * (params.birth_max - params.birth_min + 1)).astype(jnp.int32)
        due = jnp.where(first_gen & (params.births_per_life > 0), due, C.NEVER)
        due, absent = body.family_plan(due, params, f)
        founder = founder & ~absent
        minus = jnp.full((a,), -1, jnp.int32)
        agents = Agents(
            pos=jnp.tile(mothers, (cfg.generations, 1)),
            alive=founder,
            role=jnp.where(jnp.arange(a) < f, C.ADULT, C.BABY).astype(jnp.int32),
            energy=jnp.where(founder, params.mother_energy0, 0.0).astype(jnp.float32),
            health=jnp.where(founder, 1.0, 0.0).astype(jnp.float32),
            age=jnp.where(founder, params.adult_age, 0).astype(jnp.int32),
            carrying=minus, carried_by=minus, holding=minus,
            cry=jnp.zeros((a,), bool),
            hurt=jnp.full((a,), 1000, jnp.int32),
            births=jnp.zeros((a,), jnp.int32),
            next_birth=due.astype(jnp.int32),
        )
        zeros_i, zeros_f = jnp.zeros((a,), jnp.int32), jnp.zeros((a,), jnp.float32)
        log = EventLog(
            birth_tick=jnp.where(founder, 0, -1).astype(jnp.int32), death_tick=minus, death_cause=zeros_i,
            eaten=zeros_i, fed=zeros_i, energy_given=zeros_f, pickups=zeros_i, carried_ticks=zeros_i,
            scares=zeros_i, hazard_blocks=zeros_i, cry_ticks=zeros_i, damage=zeros_f,
        )
        state = EnvState(
            terrain=terrain,
            agents=agents,
            food=Food(pos=food_pos, on_ground=(jnp.arange(nf) < params.n_food) & free_f, held_by=jnp.full((nf,), -1, jnp.int32)),
            predators=Predators(
                pos=pred_pos, active=(jnp.arange(npred) < params.n_predators) & free_p, scared=jnp.zeros((npred,), jnp.int32)
            ),
            log=log,
            t=jnp.zeros((), jnp.int32),
        )
        return self.observe(state, params), state

    # --- step ---
    def step(self, key: jax.Array, state: EnvState, actions: jax.Array, params: EnvParams | None = None):
        """One tick. Returns (obs, state, reward [A], done, info) with info['terminated'/'truncated']."""
        params = self._default_params if params is None else params
        state, reward, done, info = self.transition(key, state, actions, params)
        return self.observe(state, params), state, reward, done, info

    def transition(self, key: jax.Array, state: EnvState, actions: jax.Array, params: EnvParams | None = None):
        """`step` without the observation: (state, reward [A], done, info). The mechanics run in groups
        with a `fusion.barrier` after each (and after the actions): XLA:CPU then stores each group's
        result once instead of recomputing the chain of mechanics inside every later fusion that reads it."""
        params = self._default_params if params is None else params
        actions = self._check_actions(actions)
        # one draw of uniforms per tick feeds every random mechanic (a threefry call per draw is costly)
        a, npred, nf = self.num_agents, self.config.max_predators, self.config.max_food
        u = uniform(key, (a + 7 * npred + 3 * nf,))
        u_death, u_pred, u_food = u[:a], u[a : a + 7 * npred].reshape(npred, 7), u[a + 7 * npred :].reshape(nf, 3)
        child_of, parent_of = jnp.asarray(self.child_of), jnp.asarray(self.parent_of)
        if self.baby_brain is not None:
            obs = self.observe(state, params) if self.baby_brain.needs_obs else None
            baby = state.agents.role == C.BABY
            actions = jnp.where(baby, self.baby_brain(jax.random.fold_in(key, 1), obs, state, params), actions)
        actions = barrier(actions)
        prev_alive = state.agents.alive

        state = state.replace(t=state.t + 1)
        state = barrier(act.move(state, actions, params))
        state = act.pick_up(state, actions, child_of, params)
        state = barrier(act.put_down(state, actions))
        state = act.feed(state, actions, params, child_of)
        state = act.scare(state, actions, params)
        state = act.eat(state, params)
        state, bitten = step_predators(u_pred, state, params)
        state = barrier(state)
        state, burnt = body.hazards(state, params)
        state = body.metabolism(state, params)
        state = barrier(body.deaths(state, u_death, params, bitten, burnt))
        state = body.age_and_cry(state, params, child_of)
        state = body.regrow_food(state, u_food, params)
        state = barrier(body.births(state, params, parent_of))

        reward = rewards(prev_alive, state, params, child_of)
        term = terminated(state, params, child_of, self.config.n_families)
        trunc = state.t >= params.max_steps
        f = self.config.n_families
        info = {
            "terminated": term,
            "truncated": trunc & ~term,
            "actions": actions,
            # live training indicator: share of first-generation baby slots alive now (0 before births)
            "baby_alive": state.agents.alive[f : 2 * f].mean(),
        }
        return state, reward, term | trunc, info

    def observe(self, state: EnvState, params: EnvParams | None = None) -> Obs:
        params = self._default_params if params is None else params
        return observe(state, params, jnp.asarray(self.child_of), jnp.asarray(self.parent_of), self.config.view_size)

    def _check_actions(self, actions) -> jax.Array:
        actions = jnp.asarray(actions)
        if actions.shape != (self.num_agents,):
            raise ConfigError(
                f"actions has shape {tuple(actions.shape)}: must be ({self.num_agents},), one action per agent slot "
                f"({self.config.n_families} families x {self.config.generations} generations)."
            )
        if not jnp.issubdtype(actions.dtype, jnp.integer):
            raise ConfigError(f"actions has dtype {actions.dtype}: must be an integer type (action ids 0..{C.NUM_ACTIONS - 1}).")
        return jnp.clip(actions.astype(jnp.int32), 0, C.NUM_ACTIONS - 1)

    # --- rendering (outside jit) ---
    def render(self, state: EnvState, params: EnvParams | None = None, cell: int = 24) -> np.ndarray:
        from caredrive.env.render import render_rgb

        return render_rgb(state, self, cell=cell)

    def render_text(self, state: EnvState) -> str:
        from caredrive.env.render import render_text

        return render_text(state, self)

    def __repr__(self) -> str:
        return f"Nursery({self.name!r}, {self.config})"
