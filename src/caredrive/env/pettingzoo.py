"""A PettingZoo `ParallelEnv` view of one Nursery world, for users outside JAX (RLlib, SB3 via SuperSuit...).

Who is an agent: PettingZoo's `agents` are the ones the caller *acts for*. So a live slot is an agent
when its actions reach the world: every adult, and babies too when `baby_brain == "external"`. With the
default scripted baby brain the world overrides babies' actions, so babies are left out (training a
policy whose actions are ignored would be silently wrong); a baby that grows up (chain worlds) then
joins `agents` as an adult. With `baby_brain="external"` a baby joins `agents` the tick it is born.
`possible_agents` lists exactly the names that can appear (no scripted babies when they cannot grow up
before `max_steps`).

Names: "mother_0".."mother_{F-1}" are the founding mothers; their children are "baby_f", grandchildren
"grandbaby_f", later generations "gen{g}_f" (the name keeps its slot's generation after it grows up).
A slot born again after a death (rebirth worlds) is a new agent "baby_f_life2", "baby_f_life3", ...:
PettingZoo forbids reviving a finished agent.

An agent is terminated the tick it dies (or leaves, in the "no mother" baseline) and removed from
`agents` after that step; when the world ends (`terminated`: no mother can earn reward any more;
`truncated`: the time limit) every remaining agent gets the flag and `agents` becomes empty.
`rewards` are the world's per-slot rewards (constants.REWARD_MODES). `infos[agent]` has the slot,
family, generation, role and, after a step, the action the world actually applied.
"""

from __future__ import annotations

import functools

import gymnasium
import jax
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from caredrive.env import constants as C
from caredrive.env.nursery import Nursery
from caredrive.env.render import render_rgb, render_text, slot_names
from caredrive.errors import ConfigError

# bounds of observe.py's body features: all in [0, 1] except the cry direction (a sign in {-1, 0, 1})
_BODY_LOW = np.array([-1.0 if n in ("cry_dy", "cry_dx") else 0.0 for n in C.BODY_FEATURES], np.float32)
_BODY_HIGH = np.ones(C.NUM_BODY, np.float32)


class NurseryParallelEnv(ParallelEnv):
    """One Nursery world behind PettingZoo's parallel API (reset and step each run one jitted call)."""

    metadata = {"name": "caredrive_nursery_v0", "render_modes": ["rgb_array", "ansi"], "is_parallelizable": True}

    def __init__(self, env: Nursery | str = "Nursery-11x11", params=None, render_mode: str | None = None,
                 cell: int = 24, **overrides):
        if isinstance(env, str):
            from caredrive.env.registry import make

            env = make(env, **overrides)
        elif overrides:
            raise ConfigError(f"overrides {sorted(overrides)} need a world name, not a built world: "
                              "pass them to caredrive.make instead.")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(f"render_mode={render_mode!r} is not allowed: must be None or one of "
                              f"{self.metadata['render_modes']}.")
        self.env, self.render_mode, self.cell = env, render_mode, cell
        self.params = env.default_params if params is None else env.check_params(params)
        cfg = env.config
        self._external_babies = cfg.baby_brain == "external"
        self._base = slot_names(env)
        lives = max(int(self.params.births_per_life), 1)
        # a scripted baby can only become an agent by growing up within the episode
        babies_act = self._external_babies or int(self.params.adult_age) < int(self.params.max_steps)
        self._slot_of = {
            self._name(i, life): i
            for i in range(env.num_agents) if i < cfg.n_families or babies_act
            for life in range(1, (1 if i < cfg.n_families else lives) + 1)
        }
        self.possible_agents = list(self._slot_of)
        v = cfg.view_size
        self._obs_spaces = {
            a: spaces.Dict({
                "view": spaces.Box(0, 1, (v, v, C.NUM_CHANNELS), np.uint8),
                "body": spaces.Box(_BODY_LOW, _BODY_HIGH, dtype=np.float32),
            })
            for a in self.possible_agents
        }
        self._act_spaces = {a: spaces.Discrete(C.NUM_ACTIONS) for a in self.possible_agents}
        self._reset_fn, self._step_fn = _compiled(env)
        self._key = None
        self._state = None
        self.agents: list[str] = []

    # --- spaces (the same object every call, as PettingZoo requires) ---
    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    # --- names ---
    def _name(self, slot: int, life: int) -> str:
        return self._base[slot] if life <= 1 else f"{self._base[slot]}_life{life}"

    def _acting(self, alive, role, births) -> list[str]:
        """Names of the live slots whose actions the world uses, in slot order."""
        ok = alive & ((role == C.ADULT) | self._external_babies)
        return [self._name(i, int(births[i])) for i in np.flatnonzero(ok)]

    # --- API ---
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode. The same seed gives the same episode; no seed continues the adapter's own
        key stream (drawn at random the first time)."""
        if seed is not None:
            self._key = jax.random.PRNGKey(seed)
        elif self._key is None:
            self._key = jax.random.PRNGKey(int(np.random.default_rng().integers(2**31)))
        self._key, k = jax.random.split(self._key)
        obs, self._state = self._reset_fn(k, self.params)
        view, body, ag = jax.device_get((obs.view, obs.body, self._state.agents))
        self.agents = self._acting(ag.alive, ag.role, ag.births)
        return self._obs(self.agents, view, body), {a: self._info(a, ag.role) for a in self.agents}

    def step(self, actions: dict):
        """Act for the agents in `actions` (missing live agents STAY; actions for finished agents are ignored)."""
        if not self.agents:
            return {}, {}, {}, {}, {}
        a = np.zeros(self.env.num_agents, np.int32)
        for name, action in actions.items():
            if name not in self._slot_of:
                raise ConfigError(f"unknown agent {name!r}: agents are {self.possible_agents}.")
            if name in self.agents:
                v = np.asarray(action)
                if v.shape != () or not np.issubdtype(v.dtype, np.integer) or not 0 <= v < C.NUM_ACTIONS:
                    raise ConfigError(f"action {action!r} of {name!r} is not allowed: must be an integer 0..{C.NUM_ACTIONS - 1}.")
                a[self._slot_of[name]] = int(v)
        self._key, obs, self._state, reward, term, trunc, taken = self._step_fn(self._key, self._state, a, self.params)
        view, body, reward, term, trunc, taken, ag = jax.device_get(
            (obs.view, obs.body, reward, term, trunc, taken, self._state.agents)
        )
        now = self._acting(ag.alive, ag.role, ag.births)
        everyone = self.agents + [n for n in now if n not in self.agents]  # live before the step + newborn
        ended = bool(term) or bool(trunc)
        terminations = {n: bool(term) or n not in now for n in everyone}
        truncations = {n: bool(trunc) and not terminations[n] for n in everyone}
        rewards = {n: float(reward[self._slot_of[n]]) for n in everyone}
        infos = {n: {**self._info(n, ag.role), "action_taken": int(taken[self._slot_of[n]])} for n in everyone}
        observations = self._obs(everyone, view, body)
        self.agents = [] if ended else now
        return observations, rewards, terminations, truncations, infos

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode: pass render_mode='rgb_array' or 'ansi'.")
            return None
        if self._state is None:
            raise ConfigError("render() before reset(): there is no world to draw yet.")
        if self.render_mode == "ansi":
            return render_text(self._state, self.env)
        return render_rgb(self._state, self.env, cell=self.cell)

    def close(self):
        pass

    @property
    def world_state(self):
        """The current `EnvState` (JAX arrays), for analysis beyond what agents observe."""
        return self._state

    # --- helpers ---
    def _obs(self, names, view, body) -> dict:
        return {n: {"view": view[self._slot_of[n]], "body": body[self._slot_of[n]]} for n in names}

    def _info(self, name: str, role) -> dict:
        i, f = self._slot_of[name], self.env.config.n_families
        return {"slot": i, "family": i % f, "generation": i // f, "role": "adult" if role[i] == C.ADULT else "baby"}


@functools.lru_cache(maxsize=16)
def _compiled(env: Nursery):
    """(reset, step) jitted once per world: adapters on the same world with other params share them."""
    return jax.jit(env.reset), jax.jit(functools.partial(_step, env))


def _step(env: Nursery, key, state, actions, params):
    """One world tick plus the key bookkeeping, so the adapter makes a single device call per step."""
    key, k = jax.random.split(key)
    obs, state, reward, _, info = env.step(k, state, actions, params)
    return key, obs, state, reward, info["terminated"], info["truncated"], info["actions"]
