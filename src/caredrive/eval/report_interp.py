"""The report's "Looking inside" section, read from RUN/interp.json and the PNGs under RUN/interp/.

Like the rest of report.html it is self-contained and safe: every string from a file is HTML-escaped with
`report.e` (html.escape, quotes included), figures and the GIF are inlined as base64 data URIs, and only
files inside the run directory are read. Without interp.json it says which command makes one.
"""

from __future__ import annotations

from pathlib import Path

TITLES = {
    "probes": "Linear probes per layer",
    "lesions": "Lesions: care vs self-survival",
    "lesion_groups": "Named lesions (--lesion)",
    "patching": "Activation patching",
    "steer": "Steering and retargeting",
    "cka": "Across seeds: CKA",
    "training": "Probes over training",
    "override": "Parameter override",
}
NOTES = {
    "probes": (
        "Ridge probes fitted on some episodes and scored on held-out ones (R² or accuracy), beside the same "
        "probe on labels shuffled across episodes at the same tick, and on the raw observation: a target "
        "is represented beyond the input only when the layer beats the raw observation."
    ),
    "lesions": (
        "Units set to their mean (or zero, or a resampled recorded value) at every tick; the drop in care "
        "score on the training world and in her own lifetime with no birth, each with a paired 95% "
        "interval over the same episodes."
    ),
    "lesion_groups": (
        "Unit groups you named (TAP:UNITS:MODE), each scored beside the unlesioned mother on the same "
        "episodes: care drop on the training world and self-survival drop with no birth."
    ),
    "patching": (
        "One tick seen two ways with the same memory (clean vs corrupted); units of one layer copied from "
        "the clean run into the corrupted one; the share of the logit difference toward her baby they "
        "restore. Where babies look alike, her-baby-vs-another cannot be made by relabelling the view: "
        "run it on a labelled world (--world labelled)."
    ),
    "steer": (
        "A difference-of-means vector added at every tick. Retarget: the other baby's lifetime (foster, "
        "decoy) vs the unsteered mother, beside random vectors of equal norm. Switch-off: the vector "
        "subtracted."
    ),
    "cka": (
        "Linear CKA of the same layer in different seeds on the same recorded inputs, against untrained "
        "networks and two shuffles (a high CKA means little unless it beats these)."
    ),
    "training": "The same probes at every weight snapshot of the run, on the same episodes.",
    "override": "Named weights set, scaled or zeroed, the mother scored on the same episodes as the original.",
}


def _span(R, s) -> str:
    if not isinstance(s, dict):
        return "—"
    return f'{R.fmt(s.get("mean"))} <span class="ci">{R.fmt_ci(s.get("ci"))}</span>'


def _media(R, run: Path, rel, alt: str) -> str:
    """An image of the run as a data URI; only files inside the run directory are read."""
    try:
        path = (run / str(rel)).resolve()
        path.relative_to(run.resolve())
        data = path.read_bytes()
    except (OSError, ValueError):
        return f'<p class="missing">missing: {R.e(rel)}</p>'
    return R.img(data, alt, R.MIME.get(path.suffix.lower(), "image/png"), cls="fig")


def _probes(R, sec: dict) -> str:
    tap = str(sec.get("headline_tap", "gru"))
    rows = []
    for target, r in ((sec.get("summary") or {}).get(tap) or {}).items():
        if isinstance(r, dict):
            rows.append(
                [
                    R.e(target),
                    R.e(r.get("metric", "")),
                    _span(R, r.get("score")),
                    _span(R, r.get("shuffled")),
                    _span(R, r.get("raw_obs")),
                    _span(R, r.get("gain_over_raw")),
                    R.fmt((r.get("chance") or {}).get("mean")),
                ]
            )
    return f'<p class="note">Layer {R.e(tap)}, mean over seeds with a t 95% interval:</p>' + R.table(
        ["target", "metric", "probe", "shuffled labels", "raw observation", "gain over raw", "chance"],
        rows,
        {2, 3, 4, 5, 6},
    )


def _lesions(R, sec: dict) -> str:
    rows = []
    for kind, k in (sec.get("summary") or {}).items():
        if not isinstance(k, dict):
            continue
        singles = k.get("singles") or {}
        whole = (k.get("groups") or {}).get("all") or {}
        spec = (
            "; ".join(
                f"seed {R.e(s)}: {R.e(', '.join(map(str, u)))}"
                for s, u in (k.get("care_specific") or {}).items()
                if u
            )
            or "none"
        )
        rows.append(
            [
                R.e(kind),
                _span(R, k.get("base_care")),
                _span(R, singles.get("max_care_drop")),
                _span(R, whole.get("care_drop")),
                _span(R, whole.get("self_drop")),
                spec,
            ]
        )
    return R.table(
        [
            "ablation",
            "care score, unlesioned",
            "largest single-unit care drop",
            "all units: care drop",
            "all units: self-survival drop (ticks)",
            "kill care, spare self-survival",
        ],
        rows,
        {1, 2, 3, 4},
    )


def _lesion_groups(R, sec: dict) -> str:
    summ = sec.get("summary") or {}
    rows = [
        [R.e(label), _span(R, summ.get("base_care"))]
        + [_span(R, g.get(k)) for k in ("care_score", "care_drop", "self_drop")]
        for label, g in (summ.get("groups") or {}).items()
        if isinstance(g, dict)
    ]
    head = ["lesion", "care score, unlesioned", "care score, lesioned", "care drop", "self-survival drop (ticks)"]
    return R.table(head, rows, {1, 2, 3, 4})


def _patching(R, sec: dict) -> str:
    rows = []
    for kind, per_tap in (sec.get("summary") or {}).items():
        if not isinstance(per_tap, dict):
            continue
        gap = (sec.get("gaps") or {}).get(kind)
        per = ", ".join("—" if v is None else R.fmt(v) for v in (gap or {}).get("per_seed") or [])
        gap_cell = _span(R, gap) + (f'<br><span class="ci">per seed: {R.e(per)}</span>' if per else "")
        if "skipped" in per_tap:
            rows.append(
                [
                    R.e(kind),
                    gap_cell if gap else "—",
                    f'<span class="ci">not measured: {R.e(per_tap["skipped"])}</span>',
                ]
            )
            continue
        used = ", ".join(map(str, (sec.get("seeds_used") or {}).get(kind) or []))
        cells = "; ".join(
            f"{R.e(t)} {_span(R, (g or {}).get('top4'))}" for t, g in per_tap.items() if isinstance(g, dict)
        )
        rows.append([R.e(kind), gap_cell, f'{cells}<br><span class="ci">over seeds {R.e(used)}</span>'])
    return R.table(
        [
            "situation",
            "clean − corrupted logit difference toward her baby",
            "restored by the 4 most-changed units, per layer (seeds whose gap interval excludes 0)",
        ],
        rows,
        {1},
    )


def _steer(R, run: Path, sec: dict) -> str:
    summ = sec.get("summary") or {}
    vec = sec.get("vector") if isinstance(sec.get("vector"), dict) else {}
    said = f"{vec.get('path')} (norm {R.fmt(vec.get('norm'))})" if vec.get("path") else vec.get("source")
    note = f'<p class="note">own_vs_other vector: {R.e(said)}</p>' if said else ""
    rows = [
        [
            R.e(w),
            _span(R, r.get("steered")),
            _span(R, r.get("random")),
            _span(R, r.get("unsteered_lifetime")),
            _span(R, r.get("steered_lifetime")),
        ]
        for w, r in (summ.get("retarget") or {}).items()
        if isinstance(r, dict)
    ]
    out = R.table(
        [
            "world",
            "steered − unsteered (ticks)",
            "random equal-norm − unsteered",
            "unsteered lifetime",
            "steered lifetime",
        ],
        rows,
        {1, 2, 3, 4},
    )
    out = note + out
    off = [
        [f"−{R.e(n)}"]
        + [_span(R, r.get(k)) for k in ("care_drop", "self_drop", "random_care_drop", "random_self_drop")]
        for n, r in (summ.get("switch_off") or {}).items()
        if isinstance(r, dict)
    ]
    head = ["vector subtracted", "care drop (training world)", "self-survival drop (ticks)"]
    head += ["random equal-norm: care drop", "random: self-survival drop"]
    out += R.table(head, off, {1, 2, 3, 4})
    gif = sec.get("gif")
    if isinstance(gif, dict) and gif.get("path"):
        out += (
            f"<figure>{_media(R, run, gif['path'], 'steered mother beside the unsteered one')}<figcaption>"
            f"Seed {R.e(gif.get('seed'))} in {R.e(gif.get('world'))}, episode {R.e(gif.get('episode'))}: "
            "unsteered "
            f"(left) and steered (right) on the same key; {R.e(gif.get('picked', ''))}.</figcaption></figure>"
        )
    return out


def _cka(R, sec: dict) -> str:
    summ = (sec.get("report") or {}).get("summary") or {}
    keys = ("trained", "untrained", "trained_vs_untrained", "control_episodes", "control_rows")
    rows = [[R.e(t)] + [R.fmt(s.get(k)) for k in keys] for t, s in summ.items() if isinstance(s, dict)]
    return R.table(
        [
            "layer",
            "trained seeds",
            "untrained seeds",
            "trained vs its init",
            "episodes shuffled",
            "rows shuffled",
        ],
        rows,
        {1, 2, 3, 4, 5},
    )


def _override(R, sec: dict) -> str:
    rows = [
        [R.e(w), _span(R, r.get("original")), _span(R, r.get("overridden"))]
        for w, r in (sec.get("summary") or {}).items()
        if isinstance(r, dict)
    ]
    said = ", ".join(map(str, sec.get("overrides") or []))
    return f'<p class="note">Overrides: <code>{R.e(said)}</code></p>' + R.table(
        ["world", "care score, original", "care score, overridden"], rows, {1, 2}
    )


def section_interp(run) -> str:
    """The interp section of report.html (a note naming `caredrive interp RUN` when there is nothing yet)."""
    from caredrive.eval import report as R

    run = Path(run)
    head = "<h2>Looking inside the mothers</h2>"
    data, problem = R._read_json(run / "interp.json")
    if problem:
        return head + f'<p class="missing">{R.e(problem)}</p>'
    if data is None:
        return head + (
            f'<p class="missing">No interpretability results yet: run '
            f"<code>caredrive interp {R.e(run)}</code>, "
            f"then <code>caredrive report {R.e(run)}</code>.</p>"
        )
    secs = data.get("sections") if isinstance(data.get("sections"), dict) else {}
    plots = data.get("plots") if isinstance(data.get("plots"), dict) else {}
    lines = "".join(f"<li>{R.e(x)}</li>" for x in data.get("headline") or [] if isinstance(x, str))
    out = [
        head,
        f'<p class="note">From <code>caredrive interp</code>, written {R.e(data.get("written", "?"))}; '
        "intervals over seeds are Student-t 95% over the seeds' values.</p>",
        f"<ul>{lines}</ul>" if lines else "",
    ]
    makers = {
        "probes": _probes,
        "lesions": _lesions,
        "lesion_groups": _lesion_groups,
        "patching": _patching,
        "cka": _cka,
        "override": _override,
    }
    for name, title in TITLES.items():
        sec = secs.get(name)
        if not isinstance(sec, dict):
            continue
        meta = sec.get("meta") if isinstance(sec.get("meta"), dict) else {}
        seeds = ", ".join(map(str, meta.get("seeds") or []))
        eps = meta.get("episodes")
        eps = ", ".join(f"{k} {v}" for k, v in eps.items()) if isinstance(eps, dict) else str(eps or "?")
        out.append(
            f'<h3>{R.e(title)}</h3><p class="note">{R.e(NOTES[name])} World {R.e(meta.get("world", "?"))}, '
            f"seeds {R.e(seeds)}, episodes: {R.e(eps)}.</p>"
        )
        if sec.get("skipped"):
            out.append(f'<p class="missing">Not run: {R.e(sec["skipped"])}</p>')
            continue
        if name in plots:
            out.append(_media(R, run, plots[name], f"{title} figure"))
        out.append(_steer(R, run, sec) if name == "steer" else makers[name](R, sec) if name in makers else "")
    return "".join(out)
