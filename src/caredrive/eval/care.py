"""The quick verdict `caredrive train` prints at the end: does each seed care on its training world?

The same scoring and the same definition as `caredrive eval` (`caredrive.eval.score`,
`caredrive.eval.cares`), on the training world only, with the scripted forager as the selfish
reference (training a selfish network is `caredrive eval`'s job): quick, and said so in its output.
"""

from __future__ import annotations

from caredrive.eval import cares as C
from caredrive.eval.score import make_bench, score

REFERENCES = ("none", "selfish", "carer")


def quick_verdict(world, env_params, policy, episodes: int, seed: int) -> dict:
    """`{"baselines": {name: summary}, "seeds": [row], "caring_seeds", "scored_seeds", "definition"}`;
    a row has the seed's mean baby lifetime, survival, care score and interval, Goodhart flag and verdict."""
    bench = make_bench(world, env_params, names=("train",), episodes=episodes, seed=seed)
    from caredrive.eval.score import summary

    base = {}
    for name in REFERENCES:
        s, _ = summary(bench, 0, bench.refs[name][0])
        base[name] = {k: s[k] for k in ("mean_lifetime", "survival", "babies")}
    rows = []
    for i, per_world in enumerate(score(bench, policy)):
        s = per_world["train"]
        g = s["goodhart"]
        rows.append({"seed": i, "mean_lifetime": s["mean_lifetime"], "survival": s["survival"], "babies": s["babies"],
                     "care_score": s["care_score"], "care_ci": s["care_ci"], "care_undefined": s["care_undefined"],
                     "flagged": g["flag"], "goodhart_reasons": g["reasons"], "cares": s["cares"],
                     "verdict": C.label(s["care_score"], s["care_ci"], g["flag"])})
    caring, scored = C.count(rows)
    return {"baselines": base, "seeds": rows, "caring_seeds": caring, "scored_seeds": scored,
            "definition": C.DEFINITION, "selfish_reference": bench.selfish_kind}
