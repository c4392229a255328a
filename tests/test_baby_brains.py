"""Baby brains in training (`--run.baby-brain`): scripted, shared, mother_copy, network; and chains.

Each brain trains (tiny preset, every seed, finite losses), its babies act from the intended source, and
a run with the richest state (mother_copy: frozen weights in the env params, memories in the env state)
resumes bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caredrive.agents.networks import initial_carry
from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.train import brains, checkpoint
from caredrive.train.config import PRESETS, build_config
from caredrive.train.load import load_trained
from caredrive.train.run import build_trainer, build_world, phase_params, train
from caredrive.train.rundir import RunDir

SOON = {"birth_min": 1, "birth_max": 2}  # babies are born in the first ticks, so tiny runs see them
BRAIN_NAMES = ("scripted", "shared", "mother_copy", "network")


def _tiny(brain: str, **over):
    return dataclasses.replace(PRESETS["tiny"], baby_brain=brain, env=dict(SOON), **over)


def _same_tree(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True))


def _weights_of_seed(tree, s: int):
    return jax.tree.map(lambda x: x[s], tree)


_RUNS: dict = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run per brain, trained on first use (the shared brain's run is a chain, see below)."""

    def get(name: str):
        if name not in _RUNS:
            if name == "shared":  # chains: every agent is trained to keep its own child alive
                cfg = build_config("tiny", ["--run.baby-brain", "shared", "--env.generations", "3", "--env.chain", "true",
                                            "--phase2.reward-mode", "lineage", "--env.birth-min", "1",
                                            "--env.birth-max", "2"])
            else:
                cfg = _tiny(name)
            run = RunDir(tmp_path_factory.mktemp(name) / "run")
            run.create(cfg.to_dict())
            frozen = {}
            if name == "mother_copy":  # spy on the hand-over at the end of phase 1
                orig = brains.MotherCopy.frozen_after

                def spy(self, phase, rs):
                    out = orig(self, phase, rs)
                    frozen.setdefault(phase, (jax.device_get(rs.train_state[0].params), jax.device_get(out)))
                    return out

                brains.MotherCopy.frozen_after = spy
                try:
                    trained = train(cfg, run, progress=False)
                finally:
                    brains.MotherCopy.frozen_after = orig
            else:
                trained = train(cfg, run, progress=False)
            _RUNS[name] = (cfg, run, trained, frozen)
        return _RUNS[name]

    return get


def test_bad_brain_name_lists_the_brains():
    with pytest.raises(ConfigError, match="baby_brain='robot'") as err:
        build_config("tiny", ["--run.baby-brain", "robot"])
    for name in BRAIN_NAMES:
        assert name in str(err.value)


def test_external_is_an_alias_of_shared_and_mother_copy_needs_two_phases():
    assert brains.get_brain("external") == brains.get_brain("shared")
    assert build_config("tiny", ["--run.baby-brain", "external"]).baby_brain == "external"
    one_phase = (PRESETS["tiny"].phases[1],)
    with pytest.raises(ConfigError, match="two phases|2 phases"):
        dataclasses.replace(PRESETS["tiny"], baby_brain="mother_copy", phases=one_phase).validate()


def test_default_is_still_the_scripted_toddler():
    assert PRESETS["small"].baby_brain == "scripted" == build_config("small", []).baby_brain
    world = build_world(PRESETS["tiny"])
    assert world.config.baby_brain == "scripted" and world.baby_brain is not None  # the world's toddler acts


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
@pytest.mark.parametrize("name", BRAIN_NAMES)
def test_each_brain_trains_every_seed(runs, name):
    cfg, run, trained, _ = runs(name)
    rows = run.read_metrics()
    assert {r["seed"] for r in rows} == set(range(cfg.seeds))
    assert {r["phase"] for r in rows} == {ph.name for ph in cfg.phases}
    losses = sorted(k for k in rows[0] if k.endswith("loss/total"))
    assert losses == (["baby/loss/total", "loss/total"] if name == "network" else ["loss/total"])
    assert all(np.isfinite(r[k]) for r in rows for k in losses)
    # babies were alive during phase 2, so the brain under test really played them
    assert max(r["info/baby_alive"] for r in rows if r["phase"] == cfg.phases[1].name) > 0
    # the policy handed to evaluation is the mothers' network, one per seed
    leaves = jax.tree_util.tree_leaves(trained.policy.weights)
    assert all(x.shape[0] == cfg.seeds for x in leaves) and all(np.isfinite(np.asarray(x)).all() for x in leaves)
    world = build_world(cfg)
    mothers = tuple(int(i) for i in np.nonzero(world.mothers)[0])
    expected = tuple(range(world.num_agents)) if name == "shared" else mothers
    assert trained.policy.learners == expected
    # evaluation world: the training world, except the toddler for the brains played by another network
    assert trained.world.config.baby_brain == ("external" if name == "shared" else "scripted")
    assert (trained.baby_policy is None) == (name in ("scripted", "shared"))


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_shared_brain_trains_a_chain_where_every_generation_learns(runs):
    cfg, run, trained, _ = runs("shared")
    world = build_world(cfg)
    assert world.config.generations == 3 and world.config.baby_brain == "external"
    assert bool(trained.env_params.chain) and int(trained.env_params.reward_mode) == C.REWARD_LINEAGE
    # one network plays founders, babies and grandchildren, told the slot's role by the role input
    assert trained.policy.learners == tuple(range(world.num_agents)) == tuple(range(3 * world.config.n_families))
    assert trained.policy.roles == tuple(int(r) for r in world.roles_at_start)
    assert set(trained.policy.roles) == {C.ADULT, C.BABY}


@pytest.mark.parametrize("name", ["Nursery-Chain-11x11", "Nursery-Chain-Unlabeled-NoCarry-11x11"])
def test_chain_world_by_name_builds_the_shared_brain_trainer(name):
    cfg = build_config("tiny", ["--run.world", name, "--run.baby-brain", "shared",
                                "--phase2.reward-mode", "lineage", "--run.seeds", "1"])
    world = build_world(cfg)  # the registered chain world builds the same trainer as the flags above
    brain, env, trainer = build_trainer(cfg, world)
    assert world.config.generations == 3 and bool(world.default_params.chain) and trainer.groups[0].mask.all()
    assert int(phase_params(world, cfg.phases[1]).reward_mode) == C.REWARD_LINEAGE
    nocarry = "NoCarry" in name  # the chain in the default world's terms: no carrying, look-alike babies
    p = world.default_params
    assert bool(p.carry_babies) is not nocarry and bool(p.label_own_baby) is not nocarry


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_mother_copy_babies_act_from_the_frozen_network():
    """The copy's actions reach the world (info['actions']) and equal the frozen net's own sample under
    the documented key; a baby's memory is zero until it is born and non-zero once it lives."""
    cfg = _tiny("mother_copy")
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    assert isinstance(env, brains.FrozenCopy) and world.config.baby_brain == "external"
    net = trainer.network
    obs0, _ = world.reset(jax.random.key(0))
    weights = net.init(jax.random.key(1), initial_carry(1, net.hidden), jax.tree.map(lambda x: x[None, :1], obs0),
                       jnp.zeros((1, 1), bool), jnp.zeros((1, 1), jnp.int32))
    params = brain.params(env, phase_params(world, cfg.phases[1]), weights)
    slots = env.slots
    step = jax.jit(env.step)
    _, st = env.reset(jax.random.key(2), params)
    key = jax.random.key(3)
    lived = 0
    for _ in range(12):
        key, k = jax.random.split(key)
        want, _ = env.act(jax.random.split(k)[1], st, weights)
        alive_before = np.asarray(st.world.agents.alive[slots])
        assert not np.asarray(st.carry)[~alive_before].any()  # no memory before birth
        mothers_act = jnp.full((world.num_agents,), C.STAY, jnp.int32)
        _, st, _, _, info = step(k, st, mothers_act, params)
        np.testing.assert_array_equal(np.asarray(info["actions"])[slots], np.asarray(want))
        lived += int(alive_before.sum())
    assert lived > 0
    assert np.abs(np.asarray(st.carry)[np.asarray(st.world.agents.alive[slots])]).sum() > 0


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_mother_copy_is_the_phase1_mother_frozen(runs):
    cfg, run, trained, frozen = runs("mother_copy")
    mother_at_1, handed = frozen[0]
    assert _same_tree(mother_at_1, handed)  # the hand-over is the mother at the end of phase 1
    assert _same_tree(trained.baby_policy.weights, mother_at_1)  # ... never trained afterwards
    assert not _same_tree(trained.policy.weights, mother_at_1)  # while the mother kept learning
    assert trained.baby_policy.roles == (C.ADULT,) * len(trained.baby_policy.learners)
    # seeds froze their own mothers
    assert not _same_tree(_weights_of_seed(mother_at_1, 0), _weights_of_seed(mother_at_1, 1))


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_network_brain_trains_its_own_network_for_the_babys_survival(runs, tmp_path):
    cfg, run, trained, _ = runs("network")
    world = build_world(cfg)
    brain, env, trainer = build_trainer(cfg, world)
    assert len(trainer.groups) == 2 and np.array_equal(trainer.groups[1].mask, ~world.mothers)
    assert trained.baby_policy.learners == tuple(int(i) for i in np.nonzero(~world.mothers)[0])
    # its own weights: not the mothers', and they moved during phase 2 (compare the phase-2 checkpoint
    # after one update with the final weights)
    mother, baby = trained.policy.weights, trained.baby_policy.weights
    assert not _same_tree(mother, baby)
    cks = sorted(run.checkpoints.glob("step_*"))
    assert len(cks) == 2 and checkpoint.restore_meta(cks[0])["phase"] == 1
    part = RunDir(tmp_path / "part")
    shutil.copytree(run.path, part.path)
    shutil.rmtree(sorted(part.checkpoints.glob("step_*"))[-1])
    earlier = load_trained(part.path).baby_policy.weights
    assert not _same_tree(earlier, baby)
    # the babies' reward is their own survival whatever the phase's mode (here `baby` for the mothers)
    wp = phase_params(world, cfg.phases[1])
    _, st = env.reset(jax.random.key(0), wp)
    step = jax.jit(env.step)
    key = jax.random.key(1)
    for _ in range(6):
        key, k = jax.random.split(key)
        alive = np.asarray(st.agents.alive)
        _, st, reward, _, _ = step(k, st, jnp.zeros((world.num_agents,), jnp.int32), wp)
        own = alive & np.asarray(st.agents.alive)
        np.testing.assert_array_equal(np.asarray(reward)[~world.mothers], own[~world.mothers].astype(np.float32))


@pytest.mark.slow  # moved out of the README suite (keep it under ~10 min); CI's slow step runs it
def test_mother_copy_run_resumes_with_the_results_it_would_have_had(runs, tmp_path):
    cfg, run, trained, _ = runs("mother_copy")
    killed = RunDir(tmp_path / "killed")
    shutil.copytree(run.path, killed.path)
    # kill during phase 2: its frozen mother and the babies' memories must come back from the checkpoint
    cks = sorted(killed.checkpoints.glob("step_*"))
    shutil.rmtree(cks[-1])
    meta = checkpoint.restore_meta(cks[0])
    assert meta["phase"] == 1
    rows = killed.read_metrics()
    killed.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows[: len(rows) - cfg.seeds]))
    again = train(cfg, killed, resume=True, progress=False)
    assert json.dumps(run.read_metrics(), sort_keys=True) == json.dumps(killed.read_metrics(), sort_keys=True)
    assert _same_tree(again.policy.weights, trained.policy.weights)
    assert _same_tree(again.baby_policy.weights, trained.baby_policy.weights)
    # and a finished run loads back with its frozen copy
    assert _same_tree(load_trained(run.path).baby_policy.weights, trained.baby_policy.weights)
