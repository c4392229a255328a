"""A training distribution (`--run.vary`): each episode draws its settings at reset and keeps them."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.env.registry import make
from caredrive.env.wrappers import Varied, VecAutoReset
from caredrive.errors import ConfigError
from caredrive.train.config import TrainConfig, Variation, build_config


def test_vary_parses_round_trips_and_is_the_default():
    cfg = build_config("small", ["--run.vary", "n_predators=0,2;birth_far=true"])
    assert cfg.vary == (Variation("n_predators", (0, 2)), Variation("birth_far", (True,)))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert build_config("small", []).vary == (Variation("birth_far", (False, True)),)
    assert build_config("small", ["--run.vary", "none"]).vary == ()


@pytest.mark.parametrize("text, words", [
    ("grid_size=5,7", "static settings"), ("bogus=1", "--run.vary: unknown setting"), ("n_predators", "FIELD=V1"),
    ("n_predators=-1", "n_predators=-1 is not allowed"), ("birth_far=1;birth_far=0", "name each setting once"),
    ("food_energy=inf", "finite"),
])
def test_bad_vary_is_one_line(text, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        build_config("small", ["--run.vary", text])


def test_each_episode_draws_its_world_and_keeps_it():
    env = Varied(make("Nursery-11x11"), ("n_predators",), ((0, 2),))
    batch = VecAutoReset(env, 64, reset_ratio=4)
    params = env.default_params
    obs, state = batch.reset(jax.random.key(0), params)
    drawn = np.asarray(state.params.n_predators)
    assert set(drawn.tolist()) == {0, 2}  # both values occur over 64 worlds
    active = np.asarray(state.predators.active.sum(-1))  # read through to the world's own state
    assert (active == drawn).all()
    step = jax.jit(lambda k, s: batch.step(k, s, jnp.zeros((64, env.num_agents), jnp.int32), params))
    for k in jax.random.split(jax.random.key(1), 5):
        obs, state, *_ = step(k, state)
    assert (np.asarray(state.predators.active.sum(-1)) == np.asarray(state.params.n_predators)).all()
