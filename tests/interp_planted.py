"""A hand-wired mother whose rule is known, for the tests of `caredrive.interp` ("the tools find what
is planted"). Imported by the interp test modules: `from interp_planted import ...`.

The network is the real `ActorCritic` (hidden 8, 5x5 view) with weights set by hand:
- enc0 units 0-3 are "baby direction" detectors: unit d counts her own child (view channel `own_child`)
  in the half of the view in direction d (up, right, down, left); unit 4 fires when her baby is next to
  her *and* cries (the body's cry bit); unit 5 reads her energy; units 6-7 are random read-outs (noise).
- enc1 and the GRU pass every unit through (the GRU's update gate is shut: h = tanh(x)); pi0 = tanh(2h).
- logits: unit d drives the move d (x4), unit 4 drives FEED (x8), units 5-7 nudge STAY; STAY has a
  bias of 1, the hands' actions -10. Greedy, she walks to her baby and nurses it when it cries.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import caredrive
from caredrive.agents.networks import ActorCritic, taps
from caredrive.env import constants as C
from caredrive.train.policy import NetworkPolicy

H = 8
V = 5
DIRECTION_UNITS = {C.UP: 0, C.RIGHT: 1, C.DOWN: 2, C.LEFT: 3}
FEED_UNIT, ENERGY_UNIT = 4, 5
VIEW_FLAT = V * V * C.NUM_CHANNELS
N_INPUT = VIEW_FLAT + C.NUM_BODY + 2  # view, body, role one-hot


def _view_index(r: int, c: int, ch: int) -> int:
    return (r * V + c) * C.NUM_CHANNELS + ch


def planted_weights() -> dict:
    rng = np.random.default_rng(0)
    enc0 = np.zeros((N_INPUT, H), np.float32)
    centre = V // 2
    for r in range(V):
        for c in range(V):
            i = _view_index(r, c, C.CH_OWN_CHILD)
            enc0[i, 0] = float(r < centre)
            enc0[i, 1] = float(c > centre)
            enc0[i, 2] = float(r > centre)
            enc0[i, 3] = float(c < centre)
            enc0[i, FEED_UNIT] = float(abs(r - centre) + abs(c - centre) == 1)
    cry = VIEW_FLAT + C.BODY_FEATURES.index("cry")
    enc0[cry, FEED_UNIT] = 1.0
    enc0[VIEW_FLAT + C.BODY_FEATURES.index("energy"), ENERGY_UNIT] = 1.0
    enc0[:, 6:8] = 0.1 * rng.standard_normal((N_INPUT, 2))
    enc0_b = np.zeros(H, np.float32)
    enc0_b[FEED_UNIT] = -1.0  # adjacent AND crying
    wi = np.zeros((H, 3 * H), np.float32)
    wi[:, 2 * H:] = np.eye(H)  # candidate n = tanh(x)
    wi_b = np.zeros(3 * H, np.float32)
    wi_b[H:2 * H] = -20.0  # update gate shut: h = n
    pi1 = np.zeros((H, C.NUM_ACTIONS), np.float32)
    for action, unit in DIRECTION_UNITS.items():
        pi1[unit, action] = 4.0
    pi1[FEED_UNIT, C.FEED] = 8.0
    pi1[5:8, C.STAY] = (0.5, 0.3, 0.3)
    pi1_b = np.zeros(C.NUM_ACTIONS, np.float32)
    pi1_b[C.STAY] = 1.0
    pi1_b[[C.PICK_UP, C.PUT_DOWN, C.SCARE]] = -10.0
    eye = np.eye(H, dtype=np.float32)
    z = lambda *s: np.zeros(s, np.float32)
    params = {
        "enc0": {"kernel": enc0, "bias": enc0_b},
        "enc1": {"kernel": eye, "bias": z(H)},
        "gru": {"wi": {"kernel": wi, "bias": wi_b}, "wh": z(H, 3 * H), "bh": z(3 * H)},
        "pi0": {"kernel": 2 * eye, "bias": z(H)},
        "pi1": {"kernel": pi1, "bias": pi1_b},
        "v0": {"kernel": eye, "bias": z(H)},
        "v1": {"kernel": z(H, 1), "bias": z(1)},
    }
    return {"params": jax.tree.map(jnp.asarray, params)}


def planted_world(name: str = "Nursery-11x11", **params):
    """The world (2 families, 5x5 view) and short-episode params: no predators or hazards unless asked,
    so a test's outcome is the mother's doing."""
    env = caredrive.make(name)
    p = env.default_params
    fields = {"max_steps": 64, "n_predators": 0, "n_hazards": 0, "birth_min": 4, "birth_max": 8, "baby_energy0": 0.2,
              **params}
    p = p.replace(**{k: jnp.asarray(v, jnp.asarray(getattr(p, k)).dtype) for k, v in fields.items()})
    return env, p


def planted_policy(env, greedy: bool = True) -> NetworkPolicy:
    net = ActorCritic(num_actions=C.NUM_ACTIONS, hidden=H, num_roles=2)
    mothers = tuple(int(i) for i in np.nonzero(env.mothers)[0])
    return NetworkPolicy(planted_weights(), net, mothers, (C.ADULT,) * len(mothers), env.num_agents, greedy)


def forward(policy: NetworkPolicy, obs, edit=None):
    """Logits [L, actions] and taps of the learners on one observation, fresh memory."""
    idx = np.asarray(policy.learners)
    o = jax.tree.map(lambda x: x[idx][None], obs)
    reset = jnp.ones((1, len(idx)), bool)
    role = jnp.asarray(policy.roles, jnp.int32)[None]
    carry = policy.init_carry()
    (_, logits, _), acts = policy.net.apply(policy.weights, carry, o, reset, role, edit, mutable=["acts"])
    return logits[0], {k: v[0] for k, v in taps(acts["acts"]).items()}


ROWS = ["#" * 11] + ["#" + "." * 9 + "#"] * 9 + ["#" * 11]


def planted_setup():
    """The planted mother on an open room: mother 0 at (5, 3), her baby two cells to her right; mother 1 far
    from hers. `(env, params, policy, obs, state)`, shared by the interp test files."""
    from conftest import build_state

    env, params = planted_world()
    policy = planted_policy(env)
    state = build_state(env, ROWS, {0: {"pos": (5, 3)}, 2: {"pos": (5, 5)}, 1: {"pos": (1, 1)}, 3: {"pos": (9, 9)}})
    return env, params, policy, env.observe(state, params), state
