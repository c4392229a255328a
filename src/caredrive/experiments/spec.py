"""A study as data: a grid of named settings x seeds, run at a named budget.

A setting is the `caredrive train` overrides it adds (`--run.baby-brain shared`, `--ppo.hidden 16`), so
every setting of every study is a run anyone can reproduce by hand. A budget is a training preset plus
overrides (what it cuts: steps, seeds, evaluation episodes), so the same grid runs as a test (`tiny`),
on a laptop (`small`) or on an accelerator (`full`). `Study.plan` builds and validates every config
before anything runs: a bad study is one ConfigError line, not a crash an hour in.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from caredrive.errors import ConfigError
from caredrive.train.config import TrainConfig, build_config

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # a setting's name is its folder's name


@dataclass(frozen=True)
class Setting:
    name: str
    tokens: tuple[str, ...] = ()  # `caredrive train` overrides, e.g. ("--run.baby-brain", "shared")
    label: str = ""  # what a table or plot calls it (default: the name)

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Budget:
    name: str  # "tiny" | "small" | "full"
    preset: str  # a `caredrive.train.config` preset
    tokens: tuple[str, ...] = ()  # overrides on top of the preset (cut or stretch the training)
    seeds: int = 4
    episodes: int = 256  # evaluation episodes per world and policy
    selfish_seeds: int = 1  # trained selfish mothers pooled as the care score's zero; 0: the scripted forager
    note: str = ""  # what it cuts, in words (for `experiment list` and RESULTS.md)


@dataclass(frozen=True)
class Comparison:
    """Setting `a` against setting `b` on one per-seed measure: a permutation test over seeds."""

    a: str
    b: str
    measure: str = "care_score"


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    question: str
    settings: tuple[Setting, ...]
    budgets: tuple[Budget, ...]
    base_tokens: tuple[str, ...] = ()  # overrides every setting shares (e.g. the world)
    measures: tuple[str, ...] = ()  # groups of extra per-seed measures (`caredrive.experiments.measures`)
    comparisons: tuple[Comparison, ...] = ()
    plots: tuple[str, ...] = ("care_score",)  # per-seed measures drawn, one panel each (+ share caring)
    caveat: str = ""  # what the figures do not say
    only: tuple[str, ...] = ()  # the settings `--only` kept (in the command that reproduces it); () all

    def subset(self, names: tuple[str, ...]) -> Study:
        """The study with only the named settings (in the study's order) and the comparisons among them:
        a few settings at more seeds, or one rerun, without the rest of the grid."""
        have = [s.name for s in self.settings]
        unknown = [n for n in names if n not in have]
        if unknown or not names:
            raise ConfigError(f"--only={','.join(names)!r} is not allowed: name settings of study {self.name!r}, "
                              f"comma-separated, from {have}.")
        kept = tuple(s for s in self.settings if s.name in names)
        keep = {s.name for s in kept}
        return dataclasses.replace(self, settings=kept, only=tuple(s.name for s in kept),
                                   comparisons=tuple(c for c in self.comparisons if {c.a, c.b} <= keep))

    def budget(self, name: str) -> Budget:
        for b in self.budgets:
            if b.name == name:
                return b
        raise ConfigError(f"--budget={name!r} is not allowed for study {self.name!r}: "
                          f"must be one of {[b.name for b in self.budgets]}.")

    def tokens(self, setting: Setting, budget: Budget, seeds: int) -> list[str]:
        """The `caredrive train --preset PRESET` arguments of one setting: the budget's cuts, the study's
        shared overrides, then the setting's own (later ones win), and the seed count."""
        return [*budget.tokens, *self.base_tokens, *setting.tokens, "--run.seeds", str(seeds)]

    def plan(self, budget: str, seeds: int | None = None) -> Plan:
        """Every setting's TrainConfig, validated; the first problem is one ConfigError naming the setting."""
        b = self.budget(budget)
        n = b.seeds if seeds is None else seeds
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"--seeds={n!r} is not allowed: must be an integer >= 1.")
        if not self.settings:
            raise ConfigError(f"study {self.name!r} has no settings: an empty grid runs nothing.")
        names = [s.name for s in self.settings]
        for s in names:
            if not _NAME.match(s) or names.count(s) > 1:
                raise ConfigError(f"study {self.name!r}: setting name {s!r} is not allowed: names must be unique, "
                                  "lower-case letters, digits, '_', '-' or '.' (each is a folder).")
        if b.episodes < 1 or b.selfish_seeds < 0:
            raise ConfigError(f"budget {b.name!r}: episodes={b.episodes}, selfish_seeds={b.selfish_seeds} are not "
                              "allowed: episodes must be >= 1 and selfish_seeds >= 0.")
        for c in self.comparisons:
            if c.a not in names or c.b not in names:
                raise ConfigError(f"study {self.name!r}: comparison {c.a!r} vs {c.b!r} names a setting not in {names}.")
        configs = []
        for s in self.settings:
            try:
                configs.append(build_config(b.preset, self.tokens(s, b, n)))
            except ConfigError as e:
                raise ConfigError(f"study {self.name!r}, setting {s.name!r} (budget {b.name!r}): {e}") from None
        for s, cfg in zip(self.settings, configs, strict=True):
            updates = min(ph.timesteps // (cfg.ppo.num_envs * cfg.ppo.num_steps) for ph in cfg.phases)
            if updates < 1:  # build_config refuses this too; kept so the rule is stated where studies live
                raise ConfigError(f"study {self.name!r}, setting {s.name!r}: budget {b.name!r} trains zero updates.")
        return Plan(self, b, n, tuple(configs))


@dataclass(frozen=True)
class Plan:
    """A study at one budget and seed count, every setting's config built and checked."""

    study: Study
    budget: Budget
    seeds: int
    configs: tuple[TrainConfig, ...]  # one per setting, in order

    @property
    def command(self) -> str:
        """The command that reproduces it (no --out or --ray: where and how it ran does not change it)."""
        extra = "" if self.seeds == self.budget.seeds else f" --seeds {self.seeds}"
        extra += f" --only {','.join(self.study.only)}" if self.study.only else ""
        return f"caredrive experiment {self.study.name} --budget {self.budget.name}{extra}"

    def describe(self) -> dict:
        """What `study.json` records, to refuse resuming a result folder with a different plan."""
        return {"study": self.study.name, "budget": self.budget.name, "seeds": self.seeds,
                "episodes": self.budget.episodes, "selfish_seeds": self.budget.selfish_seeds,
                "settings": {s.name: self.study.tokens(s, self.budget, self.seeds) for s in self.study.settings},
                "preset": self.budget.preset}
