"""Training must *improve* something: a few PPO updates on a tiny world make the baby live longer than
the untrained network does on the very same episodes. (A "trains" test that passes with no update at
all — seeds differ at init — would not catch a trainer that never learns.)

The world is set up so that one skill decides the baby's life: a 5x5 room, no dangers, a baby born at
once beside its mother and starving fast unless she nurses it (FEED). Untrained, she feeds 1 tick in 9.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from caredrive.eval.rollout import baby_lifetimes, rollout_batch
from caredrive.train.config import Phase, TrainConfig
from caredrive.train.ppo import PPOConfig
from caredrive.train.run import build_trainer, build_world, init_seeds, phase_params, train, trained_result
from caredrive.train.rundir import RunDir

UPDATES = 30
CFG = TrainConfig(
    world="Nursery-7x7",
    env=dict(grid_size=5, n_food=1, max_food=2, wall_density=0.0, birth_min=1, birth_max=2, n_predators=0,
             n_hazards=0, baby_drain=0.03, max_steps=48, carry_babies=False),
    phases=(Phase("birth", UPDATES * 16 * 16, births_per_life=1, reward_mode="baby"),),
    ppo=PPOConfig(num_envs=16, num_steps=16, update_epochs=4, num_minibatches=2, hidden=16, lr=1e-2, ent_coef=0.01,
                  total_timesteps=0),
    seeds=1, chunk_updates=UPDATES, checkpoint_every=100, snapshots=0,
)


def _mean_lifetime(trained, policy) -> float:
    p = trained.env_params
    final = jax.jit(lambda k: rollout_batch(trained.world, policy, p, k, 128))(jax.random.key(7))
    life, _ = baby_lifetimes(trained.world, final, int(p.max_steps))
    return float(life.mean())


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_a_few_updates_make_the_baby_live_longer_than_the_untrained_network(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create(CFG.to_dict())
    trained = train(CFG, run, progress=False)
    world = build_world(CFG)
    brain, _, trainer = build_trainer(CFG, world)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(jax.random.key(CFG.seed), i), 0))(jnp.arange(1))
    start = trained_result(CFG, world, brain, trainer, init_seeds(trainer, keys, None, phase_params(world, CFG.phases[0])),
                           0.0, 0)
    assert trained.timesteps == UPDATES * 16 * 16
    before = _mean_lifetime(trained, jax.tree.map(lambda x: x[0], start.policy))
    after = _mean_lifetime(trained, jax.tree.map(lambda x: x[0], trained.policy))
    # measured: 28.6 -> 34.5 ticks on 128 episodes (2 CPU devices); no update at all gives after == before
    assert after >= before + 3.0, (before, after)
    same = dataclasses.replace(trained.policy, weights=start.policy.weights)
    assert _mean_lifetime(trained, jax.tree.map(lambda x: x[0], same)) == before
