"""Typed, frozen configuration of a training run: the world, the curriculum phases, PPO, seeds.

The whole `TrainConfig` is saved as `config.json` in the run directory and can be loaded back
(`TrainConfig.from_dict`), so every run is reproducible from its folder alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from caredrive.env import constants as C
from caredrive.errors import ConfigError
from caredrive.overrides import ENV_FIELDS, parse_overrides
from caredrive.train.brains import ALIASES, brain_names, get_brain
from caredrive.train.ppo import PPOConfig


@dataclass(frozen=True)
class Phase:
    """One curriculum phase: how long, and how the world differs from the base world."""

    name: str
    timesteps: int  # world steps summed over all parallel worlds of one seed
    births_per_life: int = 1  # 0: no births (the mother lives for herself)
    reward_mode: str = "baby"


@dataclass(frozen=True)
class TrainConfig:
    world: str = "Nursery-11x11"
    env: dict = field(default_factory=dict)  # overrides of EnvConfig / EnvParams fields
    phases: tuple[Phase, ...] = (
        Phase("self", 1_000_000, births_per_life=0, reward_mode="self"),
        Phase("birth", 3_000_000, births_per_life=1, reward_mode="baby"),
    )
    ppo: PPOConfig = PPOConfig()
    seeds: int = 4
    seed: int = 0  # the base key; seed i trains from fold_in(key(seed), i)
    baby_brain: str = "scripted"  # who plays the babies: scripted | shared | mother_copy | network (train/brains.py)
    reset_ratio: int = 4  # VecAutoReset: one fresh world per this many envs each step; 0: per-world AutoReset
    chunk_updates: int = 10  # updates per jitted chunk: progress bar, metrics and checkpoints between chunks
    checkpoint_every: int = 5  # chunks between checkpoints

    def validate(self) -> None:
        if self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds} is not allowed: must be an integer >= 1.")
        if not self.phases:
            raise ConfigError("phases=() is not allowed: give at least one curriculum phase.")
        for ph in self.phases:
            if ph.reward_mode not in C.REWARD_MODES:
                raise ConfigError(f"phase {ph.name!r}: reward_mode={ph.reward_mode!r} is not allowed: must be one of {list(C.REWARD_MODES)}.")
            if ph.timesteps < self.ppo.num_envs * self.ppo.num_steps:
                raise ConfigError(
                    f"phase {ph.name!r}: timesteps={ph.timesteps} is not allowed: must be at least "
                    f"ppo.num_envs x ppo.num_steps = {self.ppo.num_envs * self.ppo.num_steps} (one update)."
                )
        for name in ("lr", "gamma", "gae_lambda", "clip_eps"):
            if not getattr(self.ppo, name) > 0:
                raise ConfigError(f"ppo.{name}={getattr(self.ppo, name)} is not allowed: must be > 0.")
        for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "hidden"):
            if getattr(self.ppo, name) < 1:
                raise ConfigError(f"ppo.{name}={getattr(self.ppo, name)} is not allowed: must be an integer >= 1.")
        if self.baby_brain not in brain_names() and self.baby_brain not in ALIASES:
            raise ConfigError(f"baby_brain={self.baby_brain!r} is not allowed: must be one of {brain_names()}.")
        if len(self.phases) < get_brain(self.baby_brain).min_phases:
            raise ConfigError(f"baby_brain={self.baby_brain!r} needs at least {get_brain(self.baby_brain).min_phases} phases "
                              "(the mother is copied at the end of the first).")
        if self.reset_ratio < 0:
            raise ConfigError(f"reset_ratio={self.reset_ratio} is not allowed: must be an integer >= 0 (0: per-world resets).")
        if self.chunk_updates < 1 or self.checkpoint_every < 1:
            raise ConfigError("chunk_updates and checkpoint_every must be integers >= 1.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        try:
            d = dict(d)
            d["phases"] = tuple(Phase(**p) for p in d.get("phases", ()))
            d["ppo"] = PPOConfig(**d.get("ppo", {}))
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"config.json does not describe a caredrive run: {e}") from None


PRESETS: dict[str, TrainConfig] = {
    # runs on a 2-core laptop in minutes; the README's main command
    "small": TrainConfig(
        phases=(
            Phase("self", 400_000, births_per_life=0, reward_mode="self"),
            Phase("birth", 3_200_000, births_per_life=1, reward_mode="baby"),
        ),
        # wide batches amortise XLA:CPU's per-op cost; rewards scaled so the value loss (up to ~100 ticks of
        # baby survival) does not swamp the policy gradient in the shared trunk under global-norm clipping
        ppo=PPOConfig(num_envs=128, num_steps=32, update_epochs=2, num_minibatches=4, hidden=64, lr=5e-4,
                      ent_coef=0.003, reward_scale=0.05, total_timesteps=0),
        seeds=4,
    ),
    # a longer run for a workstation or accelerator
    "full": TrainConfig(
        phases=(
            Phase("self", 5_000_000, births_per_life=0, reward_mode="self"),
            Phase("birth", 50_000_000, births_per_life=1, reward_mode="baby"),
        ),
        ppo=PPOConfig(num_envs=256, num_steps=128, update_epochs=4, num_minibatches=8, hidden=128, lr=3e-4,
                      total_timesteps=0),
        seeds=8,
    ),
    # a seconds-long run for tests
    "tiny": TrainConfig(
        phases=(
            Phase("self", 2 * 8 * 16, births_per_life=0, reward_mode="self"),
            Phase("birth", 2 * 8 * 16, births_per_life=1, reward_mode="baby"),
        ),
        ppo=PPOConfig(num_envs=8, num_steps=16, update_epochs=1, num_minibatches=2, hidden=16, total_timesteps=0),
        seeds=2,
        chunk_updates=1,
        checkpoint_every=1,
    ),
}

_TOP_FIELDS = {"seeds": int, "seed": int, "baby_brain": str, "chunk_updates": int, "checkpoint_every": int, "world": str,
               "reset_ratio": int}
_PPO_FIELDS = {f.name: type(f.default) for f in dataclasses.fields(PPOConfig)}
_PHASE_FIELDS = {"timesteps": int, "births_per_life": int, "reward_mode": str}


def build_config(preset: str, tokens: list[str]) -> TrainConfig:
    """A preset with typed `--env.x`, `--ppo.x`, `--run.x`, `--phase1.x`/`--phase2.x` overrides applied."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset={preset!r} is not allowed: must be one of {sorted(PRESETS)}.")
    cfg = PRESETS[preset]
    groups = {"env": ENV_FIELDS, "ppo": _PPO_FIELDS, "run": _TOP_FIELDS}
    groups.update({f"phase{i + 1}": _PHASE_FIELDS for i in range(len(cfg.phases))})
    over = parse_overrides(tokens, groups)
    phases = tuple(
        dataclasses.replace(ph, **over.get(f"phase{i + 1}", {})) for i, ph in enumerate(cfg.phases)
    )
    cfg = dataclasses.replace(
        cfg, env={**cfg.env, **over["env"]}, ppo=dataclasses.replace(cfg.ppo, **over["ppo"]), phases=phases, **over["run"]
    )
    cfg.validate()
    return cfg
