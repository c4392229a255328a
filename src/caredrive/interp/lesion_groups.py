"""Named lesions from the command line: `--lesion TAP:UNITS[:MODE]` (`gru:3,7,12`, `gru:0-15:mean`).

Each named group is scored beside the unlesioned mother on the same episodes, through the lesions seam
(`lesions.lesion_sweep`: care score with its interval, the paired care drop, her own survival with births
off and its paired drop). Groups of one (tap, mode) share one sweep, so one compile. A spec's form (tap,
unit syntax, mode) is checked before the run is loaded, its units' range once the network says how wide
the tap is: either way one `ConfigError` line before any work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caredrive.agents.networks import EDITABLE
from caredrive.errors import ConfigError
from caredrive.interp import edits
from caredrive.interp.context import Ctx
from caredrive.interp.findings import across
from caredrive.interp.lesions import lesion_sweep

MODES = edits.KINDS  # zero | mean | resample
_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
_FORM = "write TAP:UNITS[:MODE], e.g. 'gru:3,7,12' or 'gru:0-15:mean'"


@dataclass(frozen=True)
class LesionSpec:
    tap: str
    units: tuple[int, ...]
    mode: str = "zero"

    @property
    def label(self) -> str:
        """`tap:units:mode` with runs of units written as ranges (`gru:0-3,7:zero`)."""
        parts, run = [], [self.units[0]]
        for u in self.units[1:] + (None,):
            if u is not None and u == run[-1] + 1:
                run.append(u)
                continue
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
            run = [u]
        return f"{self.tap}:{','.join(parts)}:{self.mode}"


def parse_lesion(spec) -> LesionSpec:
    """`"gru:3,7,12"` / `"gru:0-15:mean"` (or a LesionSpec) -> LesionSpec; a bad form is one line."""
    if isinstance(spec, LesionSpec):
        return spec
    text = str(spec).strip()
    fail = lambda why: ConfigError(f"--lesion {text!r}: {why}.")
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise fail(_FORM)
    tap, units, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else "zero"
    if tap not in EDITABLE:
        raise fail(f"tap {tap!r} is not editable: choose from {list(EDITABLE)}")
    if mode not in MODES:
        raise fail(f"mode {mode!r} is unknown: choose from {list(MODES)}")
    if not units:
        raise fail("the unit list is empty: give units like 3,7,12 or a range like 0-15")
    out: list[int] = []
    for item in (s.strip() for s in units.split(",")):
        m = _ITEM.match(item)
        if m is None:
            raise fail(f"{item!r} is not a unit number or a range like 0-15")
        lo, hi = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if hi < lo:
            raise fail(f"the range {item!r} runs backwards: write LOW-HIGH")
        out += [u for u in range(lo, hi + 1) if u not in out]
    return LesionSpec(tap, tuple(sorted(out)), mode)


def parse_lesions(specs) -> tuple[LesionSpec, ...]:
    """Every spec parsed, repeats dropped (a group named twice is scored once)."""
    return tuple(dict.fromkeys(parse_lesion(s) for s in specs or ()))


def check_lesions(policy, specs: tuple[LesionSpec, ...]) -> None:
    """Every unit inside its tap (`policy`: one seed's network)."""
    for s in specs:
        width = edits.tap_width(policy, s.tap)
        bad = [u for u in s.units if u >= width]
        if bad:
            raise ConfigError(f"--lesion {s.label!r}: unit(s) {bad} out of range at tap {s.tap!r}: "
                              f"it has units 0..{width - 1}.")


def lesion_groups_section(ctx: Ctx, specs: tuple[LesionSpec, ...]) -> dict:
    """Per seed: the unlesioned mother (`base`) and one row per named group, in the order given."""
    from caredrive.interp.sections import POOL_EPISODES, fixed_pool

    plan: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(specs):
        plan.setdefault((s.tap, s.mode), []).append(i)
    per_seed: dict[str, dict] = {}
    for m in ctx.members:
        pol = ctx.one(m)
        trace = None
        if any(s.mode != "zero" for s in specs):  # the lesions section's pool: same episodes, same rows
            trace = edits.record(pol, ctx.env, ctx.params("train"), POOL_EPISODES, ctx.seed + 1, ctx.steps)
        rows: list[dict] = [{} for _ in specs]
        base = None
        for (tap, mode), idx in plan.items():
            pool = None if trace is None or mode == "zero" else fixed_pool(
                edits.pool_of(trace, tap, pol.learners), ctx.seed + m)
            res = lesion_sweep(pol, ctx.trained.world, ctx.trained.env_params, kind=mode, tap=tap,
                               units=[list(specs[i].units) for i in idx], bench=ctx.bench, pool=pool, seed=ctx.seed)
            base = base or res["base"]  # the same unlesioned mother on the same episodes in every sweep
            for j, i in enumerate(idx):
                rows[i] = {"label": specs[i].label, "tap": tap, "mode": mode, **res["lesions"][j],
                           "care_specific": j in res["care_specific"]}
        per_seed[str(m)] = {"base": base, "rows": rows}
        ctx.tick(f"lesion groups seed {m}")
    seeds = list(per_seed)
    col = lambda i, k: across([per_seed[s]["rows"][i][k] for s in seeds])
    return {
        "groups": [{"label": s.label, "tap": s.tap, "units": list(s.units), "mode": s.mode} for s in specs],
        "care_reference": ctx.bench.selfish_kind,
        "per_seed": per_seed,
        "summary": {
            "base_care": across([per_seed[s]["base"]["care_score"] for s in seeds]),
            "base_self": across([per_seed[s]["base"]["self_lifetime"] for s in seeds]),
            "groups": {sp.label: {k: col(i, k) for k in ("care_score", "care_drop", "self_drop", "lifetime_drop")}
                       for i, sp in enumerate(specs)},
        },
    }



def headline_lines(sec) -> list[str]:
    """One sentence per named lesion for the headline (nothing when the section is absent or skipped)."""
    from caredrive.interp.findings import span

    if not isinstance(sec, dict) or sec.get("skipped"):
        return []
    summ = sec.get("summary") or {}
    base = span(summ.get("base_care") or {})
    return [
        f"Lesion {label}: care score {span(g.get('care_score') or {})} vs {base} unlesioned, care drop "
        f"{span(g.get('care_drop') or {})}, self-survival drop {span(g.get('self_drop') or {}, 1)} ticks "
        "(mean over seeds, t95)."
        for label, g in (summ.get("groups") or {}).items()
        if isinstance(g, dict)
    ]
