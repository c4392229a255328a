"""`write_report(RUN)`: one self-contained RUN/report.html that a person reads to judge a run.

Self-contained because a report is mailed, archived and opened offline: figures and GIFs are inlined as
base64 data URIs, the CSS is inline, and there is no script, font or link to fetch. Every string that
comes from a file is HTML-escaped (world descriptions and Goodhart reasons are free text). The page
renders whatever the run holds: without eval.json it still shows the training curves and says which
command fills the rest in.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
from pathlib import Path

from caredrive.errors import ConfigError
from caredrive.eval import plots
from caredrive.eval.cares import DEFINITION
from caredrive.eval.cares import label as care_label
from caredrive.eval.plots import label, num, order, seed_index
from caredrive.eval.report_interp import section_interp
from caredrive.train.rundir import RunDir

MIME = {".gif": "image/gif", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;
  background:#f6f5f1;margin:0}
main{max-width:1140px;margin:0 auto;padding:18px 24px 60px}
h1{font-size:26px;margin:8px 0 2px}h2{font-size:20px;margin:34px 0 8px;border-bottom:2px solid #ddd8cc;
  padding-bottom:4px}h3{font-size:16px;margin:12px 0 4px}
.meta{color:#666;font-size:13px}.note{color:#555;font-size:13px;margin:4px 0 10px}
.missing{background:#fff7e0;border:1px solid #e8d08a;padding:10px 14px;border-radius:6px}
.verdict{background:#fff;border:1px solid #ddd8cc;border-radius:8px;padding:14px 18px;margin:14px 0}
.big{font-size:22px;font-weight:600}.yes{color:#1a7f37}.no{color:#b42318}.flag{color:#b42318;font-weight:600}
.ok{color:#1a7f37}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e3ded2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#efece4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto}
img.fig{display:block;max-width:100%;height:auto;background:#fff;border:1px solid #e3ded2;margin:8px 0}
.gifs{display:grid;gap:14px}.ci{color:#777;font-size:11px}
.card{background:#fff;border:1px solid #ddd8cc;border-radius:8px;padding:10px 12px}
.pair{display:flex;gap:10px;flex-wrap:wrap}figure{margin:0}figcaption{font-size:12px;color:#555}
figure img{max-width:100%;height:auto;border:1px solid #e3ded2}
"""


def e(x) -> str:
    return html.escape(str(x), quote=True)


def fmt(x, digits: int = 2, pct: bool = False) -> str:
    v = num(x)
    if math.isnan(v):
        return "—"
    return f"{v:.0%}" if pct else f"{v:.{digits}f}"


def fmt_ci(ci, digits: int = 2, pct: bool = False) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return "—"
    lo, hi = fmt(ci[0], digits, pct), fmt(ci[1], digits, pct)
    return "—" if lo == hi == "—" else f"[{lo}, {hi}]"


def img(png: bytes, alt: str, mime: str = "image/png", cls: str = "fig") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{e(alt)}" src="data:{mime};base64,{data}">'


def table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """`rows` hold HTML already escaped by the caller, so cells may carry markup."""
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if j in numeric else f"<td>{c}</td>" for j, c in enumerate(r))
        + "</tr>" for r in rows
    )
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    """(content, problem): a missing file is (None, None); a damaged one says why instead of crashing."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, f"{path.name} is damaged ({err}); it was left out."
    return (data, None) if isinstance(data, dict) else (None, f"{path.name} is not a JSON object; left out.")


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for ln in path.read_text().splitlines():
        try:
            r = json.loads(ln) if ln.strip() else None
        except json.JSONDecodeError:
            r = None  # a line cut short by a killed run: the others still tell the story
        if isinstance(r, dict):
            rows.append(r)
    return rows


def _missing(what: str, run: Path) -> str:
    return (f'<p class="missing">No {e(what)} yet: run <code>caredrive eval {e(run)}</code> first, '
            f"then <code>caredrive report {e(run)}</code>.</p>")


def _verdict(entry: dict, flag) -> str:
    """The one definition (`caredrive.eval.cares`), from the score, its interval and the Goodhart flag."""
    score = entry.get("care_score")
    score = None if math.isnan(num(score)) else num(score)
    ci = entry.get("care_ci") if isinstance(entry.get("care_ci"), list) else None
    return care_label(score, ci, flag if isinstance(flag, bool) else None)


def section_verdict(ev: dict | None, run: Path) -> str:
    if ev is None:
        return '<div class="verdict">' + _missing("evaluation", run) + "</div>"
    care = ev.get("care") or {}
    per_seed = [s for s in care.get("per_seed") or [] if isinstance(s, dict)]
    goodhart = ev.get("goodhart") or {}
    words = [_verdict(s, (goodhart.get(f"seed_{s.get('seed')}") or {}).get("flag")) for s in per_seed]
    n_care, n_flag = words.count("cares"), words.count("confines")
    cls = "yes" if per_seed and n_care == len(per_seed) else "no" if n_care == 0 else ""
    rows = []
    for s, word in zip(per_seed, words, strict=True):
        g = goodhart.get(f"seed_{s.get('seed')}") or {}
        flag = ('<span class="flag">flagged</span>' if g.get("flag") else '<span class="ok">no flag</span>'
                if g.get("flag") is False else "—")
        css = {"cares": "yes", "—": ""}.get(word, "no")
        why = f'<br><span class="ci">{e(s["care_undefined"])}</span>' if s.get("care_undefined") else ""
        rows.append([e(s.get("seed")), fmt(s.get("care_score")) + why, fmt_ci(s.get("care_ci")),
                     f'<span class="{css}">{e(word)}</span>', flag])
    spread = care.get("spread") or [None, None]
    flagged = f" ({n_flag} flagged: confinement, not care)" if n_flag else ""
    headline = (ev.get("battery_headline") or {}).get("text")
    return (
        f'<div class="verdict"><div class="big {cls}">{n_care} of {len(per_seed)} seeds care{e(flagged)}</div>'
        f'<p>Care score over seeds: <b>{fmt(care.get("mean"))}</b> (95% interval {fmt_ci(care.get("ci"))}; '
        f"seeds range from {fmt(spread[0])} to {fmt(spread[-1])}).</p>"
        + (f"<p>{e(headline)}</p>" if headline else "")
        + table(["seed", "care score", "95% interval", "verdict", "Goodhart check"], rows, {1, 2})
        + '<p class="note">Care score = (agent − selfish mother) / (scripted carer − selfish mother) on mean baby '
        "lifetime, on the training world: 0 is no better than a mother trained for herself, 1 matches the "
        f"scripted carer (selfish reference: {e(care.get('selfish_reference', 'trained selfish network'))}). "
        f"A seed cares when: {e(care.get('definition', DEFINITION))}. A flagged seed is never counted as caring.</p></div>"
    )


def section_training(rows: list[dict], config: dict) -> str:
    head = "<h2>Training curves</h2>"
    if not rows:
        return head + '<p class="missing">metrics.jsonl holds no rows: nothing was trained yet.</p>'
    phases = ", ".join(
        f"{e(p.get('name'))} ({e(p.get('timesteps'))} steps, reward {e(p.get('reward_mode'))}, "
        f"births per life {e(p.get('births_per_life'))})" for p in config.get("phases") or [] if isinstance(p, dict)
    )
    return (head + f'<p class="note">One line per seed against env steps; dashed lines mark where a phase '
            f"starts. Phases: {phases or '—'}.</p>"
            + img(plots.training_curves(rows), "training curves per seed: return, babies alive, entropy"))


def section_survival(ev: dict | None, run: Path) -> str:
    head = "<h2>Baby survival on the training world</h2>"
    train = (ev or {}).get("worlds") or []
    if not train or not isinstance(train[0], dict):
        return head + _missing("evaluation", run)
    pols = train[0].get("policies") or {}
    rows = []
    for p in order(pols):
        r = pols[p]
        rows.append([e(label(p)), fmt(r.get("mean_lifetime"), 1), fmt_ci(r.get("lifetime_ci"), 1),
                     fmt(r.get("survival"), pct=True), fmt(r.get("care_score")), fmt(r.get("welfare")),
                     fmt(r.get("options"), 1), fmt(r.get("carried_share"), pct=True),
                     fmt(r.get("boxed_share"), pct=True), fmt(r.get("feedings"), 1), fmt(r.get("hazard_blocks"), 1),
                     fmt(r.get("predators_repelled"), 1), fmt(r.get("response_time"), 1),
                     fmt(r.get("mother_survival"), pct=True), fmt(r.get("energy_given")),
                     fmt(r.get("distance"), 1), fmt(r.get("out_of_view"), pct=True)])
    head_row = ["policy", "mean lifetime (ticks)", "95% interval", "survival", "care score", "welfare",
                "options (cells)", "carried", "boxed in", "feedings", "hazard blocks", "predators repelled",
                "response to cry (ticks)", "mother survives", "energy given", "distance to her (cells)",
                "out of her view"]
    return (head + img(plots.survival_curves(pols), "baby survival curves per policy")
            + f'<p class="note">Per episode means on {e(train[0].get("name", "train"))}; intervals are bootstrap '
            "95% over episodes.</p>" + table(head_row, rows, set(range(1, len(head_row)))))


def _seed_scores(w: dict) -> list[tuple[str, float]]:
    pols = w.get("policies") or {}
    return [(p, num(pols[p].get("care_score"))) for p in order(pols) if seed_index(p) is not None]


def section_battery(ev: dict | None, run: Path) -> str:
    head = "<h2>Held-out battery</h2>"
    worlds = [w for w in (ev or {}).get("worlds") or [] if isinstance(w, dict)]
    if not worlds:
        return head + _missing("battery results", run)
    summary = (ev or {}).get("battery_summary") or {}
    seeds = plots.order({p for w in worlds for p in w.get("policies") or {} if seed_index(p) is not None})
    rows = []
    for w in worlds:
        name, pols = str(w.get("name", "?")), w.get("policies") or {}
        s = summary.get(name) or {}
        scores = [num((pols.get(p) or {}).get("care_score")) for p in seeds]
        scores = [v for v in scores if not math.isnan(v)]
        mean = s.get("care_score_mean")
        if mean is None and scores:
            mean = sum(scores) / len(scores)
        beats = s.get("carer_beats_none")
        carer, none = (pols.get("carer") or {}).get("mean_lifetime"), (pols.get("none") or {}).get("mean_lifetime")
        if beats is None:
            beats = num(carer) > num(none)
        mark = '<span class="yes">yes</span>' if beats else '<span class="no">no</span>'
        seen = s.get("seen_in_training")
        seen_s = "—" if seen is None else ("seen" if seen else "held out")
        why = f'<br><span class="ci">{e(s["care_undefined"])}</span>' if s.get("care_undefined") else ""
        rows.append([f"<b>{e(name)}</b>", e(w.get("kind", "")), e(w.get("pair") or "—"), e(seen_s), fmt(mean) + why]
                    + [f"{fmt((pols.get(p) or {}).get('care_score'))}<br><span class=\"ci\">"
                       f"{fmt_ci((pols.get(p) or {}).get('care_ci'))}</span>" for p in seeds]
                    + [f"{mark} {fmt(carer, 1)} vs {fmt(none, 1)}", e(w.get("description", ""))])
    head_row = (["world", "kind", "pair", "in training?", "care score (mean)"] + [f"{label(p)} [95%]" for p in seeds]
                + ["carer beats no mother (baby lifetime, ticks)", "description"])
    headline = (ev or {}).get("battery_headline") or {}
    return (head + '<p class="note">Worlds beside the training world. <i>held out</i>: the training distribution '
            "never produces it; <i>seen</i>: it can (such a world is shown, never counted in the headline). A "
            "<i>goal</i> world asks whether she cares for <i>her</i> baby; its <i>capability</i> pair makes the same "
            "change without that question, so a failure can be told apart; a <i>control</i> needs no care.</p>"
            + (f"<p><b>{e(headline['text'])}</b></p>" if headline.get("text") else "")
            + table(head_row, rows, set(range(4, 5 + len(seeds))))
            + img(plots.battery_chart(worlds), "care score per world per seed with 95% intervals"))


def section_goodhart(ev: dict | None, run: Path) -> str:
    head = "<h2>Goodhart check: care, or confinement?</h2>"
    goodhart = (ev or {}).get("goodhart")
    if not isinstance(goodhart, dict) or not goodhart:
        return head + _missing("Goodhart check", run)
    scores = {f"seed_{s.get('seed')}": s for s in ((ev or {}).get("care") or {}).get("per_seed") or []
              if isinstance(s, dict)}
    rows = []
    for p in order(goodhart):
        g = goodhart[p] if isinstance(goodhart[p], dict) else {}
        sc = scores.get(p) or {}
        reasons = "<br>".join(e(r) for r in g.get("reasons") or []) or "—"
        flag = '<span class="flag">⚠ flagged</span>' if g.get("flag") else '<span class="ok">no flag</span>'
        rows.append([e(label(p)), f"{fmt(sc.get('care_score'))} {fmt_ci(sc.get('care_ci'))}", flag, reasons,
                     fmt(g.get("carried_share"), pct=True), fmt(g.get("boxed_share"), pct=True),
                     fmt(g.get("options"), 1), fmt(g.get("welfare"))])
    carer = ((((ev or {}).get("worlds") or [{}])[0] or {}).get("policies") or {}).get("carer")
    if isinstance(carer, dict):
        rows.append(["<i>scripted carer (reference)</i>", fmt(carer.get("care_score")), "—", "—",
                     fmt(carer.get("carried_share"), pct=True), fmt(carer.get("boxed_share"), pct=True),
                     fmt(carer.get("options"), 1), fmt(carer.get("welfare"))])
    return (head + '<p class="note">A seed is flagged when its babies survive by being carried or boxed in most '
            "of the time, with few options (cells the baby could reach) and low welfare, rather than by care. "
            "The flag stands beside the care score; it does not change it.</p>"
            + table(["seed", "care score [95% interval]", "flag", "reasons", "carried", "boxed in",
                     "options (cells)", "welfare"], rows, {1, 4, 5, 6, 7}))


def section_deaths(ev: dict | None, run: Path) -> str:
    head = "<h2>Death causes</h2>"
    worlds = (ev or {}).get("worlds") or []
    if not worlds or not isinstance(worlds[0], dict) or not worlds[0].get("policies"):
        return head + _missing("death causes", run)
    return head + img(plots.death_causes(worlds[0]["policies"]), "death causes per policy, stacked shares")


def _inline_media(run: Path, rel) -> str:
    """A GIF from the run as a data URI; only files inside the run directory are read."""
    try:
        path = (run / str(rel)).resolve()
        path.relative_to(run.resolve())
        data = path.read_bytes()
    except (OSError, ValueError):
        return f'<p class="missing">missing: {e(rel)}</p>'
    return img(data, f"episode {rel}", MIME.get(path.suffix.lower(), "image/gif"), cls="gif")


def section_gifs(ev: dict | None, run: Path) -> str:
    head = "<h2>Best and worst episodes per world</h2>"
    gifs = (ev or {}).get("gifs")
    if not isinstance(gifs, dict) or not gifs:
        return head + _missing("episode GIFs", run)
    desc = {str(w.get("name")): w for w in (ev or {}).get("worlds") or [] if isinstance(w, dict)}
    cards = []
    for name, pair in gifs.items():
        w = desc.get(str(name), {})
        figs = "".join(
            f"<figure>{_inline_media(run, pair[k])}<figcaption>{e(k)} episode</figcaption></figure>"
            for k in ("best", "worst") if isinstance(pair, dict) and pair.get(k)
        )
        cards.append(f'<div class="card"><h3>{e(name)} <span class="meta">{e(w.get("kind", ""))}</span></h3>'
                     f'<p class="note">{e(w.get("description", ""))}</p><div class="pair">{figs}</div></div>')
    return head + '<p class="note">The episodes with the longest and the shortest baby lifetime, as picked by <code>caredrive eval</code>.</p>' \
        f'<div class="gifs">{"".join(cards)}</div>'


def write_report(run_path) -> Path:
    """Read RUN's config, metrics, summary and eval.json; write RUN/report.html and return its path."""
    run = Path(run_path)
    if not run.is_dir():
        raise ConfigError(f"{run} is not a directory: give the run directory that `caredrive train` wrote.")
    config = RunDir(run).load_config()
    rows = _read_metrics(run / "metrics.jsonl")
    ev, problem = _read_json(run / "eval.json")
    notes = f'<p class="missing">{e(problem)}</p>' if problem else ""
    name = Path(str((ev or {}).get("run") or run.resolve())).name or str(run)
    summary, _ = _read_json(run / "summary.json")
    steps = sum(int(num(p.get("timesteps"))) for p in config.get("phases") or []
                if isinstance(p, dict) and not math.isnan(num(p.get("timesteps"))))
    meta = [f"world {config.get('world', '?')}", f"{config.get('seeds', '?')} seeds × {steps:,} env steps"]
    if summary:
        meta.append(f"preset {summary.get('preset', '?')}, trained in {fmt(summary.get('wall_time_s'), 0)} s")
    if ev:
        meta += [f"evaluated on {ev.get('episodes', '?')} episodes × {ev.get('max_steps', '?')} ticks",
                 f"eval seed {ev.get('seed', '?')}", f"eval took {fmt(ev.get('wall_time_s'), 0)} s"]
    meta.append("written " + datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    body = "".join([
        f"<h1>Does the mother care? — {e(name)}</h1>",
        f'<div class="meta">{e(" · ".join(str(m) for m in meta))}</div>', notes,
        section_verdict(ev, run), section_training(rows, config), section_survival(ev, run),
        section_battery(ev, run), section_goodhart(ev, run), section_deaths(ev, run), section_gifs(ev, run),
        section_interp(run),
    ])
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>caredrive report — {e(name)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")
    out = run / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
