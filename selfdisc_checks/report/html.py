"""The regression report: report.html (one self-contained page), summary.md and a trend PNG per task.

The page needs no network and no JavaScript: styles are inline, the trend plots are embedded as data: URIs,
a Content-Security-Policy forbids scripts, navigation uses anchors and the drill-down uses <details>. Every
piece of model, dataset or user text passes through ``esc`` (``html.escape``, plus characters HTML cannot
carry replaced by U+FFFD), so a candidate holding markup shows as text.

Size: the drill-down covers the latest run only. Prompts repeat the same demonstrations in every question,
so per task and phase the longest common prefix of the prompts (cut at a line end) is shown once, and each
question shows only the rest of its prompt, inside closed <details>. 30 runs of 5 tasks of 40 questions
come to well under a megabyte.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.metrics import unmeasured
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.report.plots import TrendPoint, trend_png
from selfdisc_checks.report.results import write_atomically
from selfdisc_checks.report.summary import (
    HEADLINE,
    NAMES,
    Report,
    TaskReport,
    analyse,
    arrow,
    baseline_lines,
    baseline_note,
    change_text,
    check_title,
    difference_shown,
    duration,
    model_id,
    number,
    p_value,
    percent,
    rate_difference,
    render_markdown,
    scale,
    show,
    show_p,
    shown_rates,
    status_line,
    stop_line,
    stopped_at,
    unit,
    value_text,
    when,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_LINKS = 60  # flipped ids shown at once; the rest wait in a <details>
MIN_SHARED_PREFIX = 200  # shorter common prompt prefixes are not worth a separate block
# Questions shown per task in the drill-down (a full GSM8K run would add ~8 MB): every flipped question, then
# invalid picks, then wrong picks where a right candidate existed, then the rest; the results hold them all.
DRILL_DOWN_QUESTIONS = 200
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def write_report(
    runs: Sequence[HistoryRun],
    out_dir: Path,
    *,
    baseline: HistoryRun | None = None,
    level: float = 0.95,
    tolerance: float = 0.0,
    max_questions: int | None = DRILL_DOWN_QUESTIONS,
) -> list[Path]:
    """Write report.html, summary.md and one PNG per task (trend_<task>.png) into out_dir; return the paths.
    ``max_questions`` caps each task's drill-down (None: every question)."""
    out_dir = Path(out_dir)
    report = analyse(runs, baseline=baseline, level=level, tolerance=tolerance)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, tuple[str, bytes]] = {}
    used: set[str] = set()
    for task in report.tasks:
        png = trend_png(
            task.name,
            [TrendPoint(report.label(run), run.timestamp, _metrics(data)) for run, data in task.history],
            baseline=_baseline_index(task),
        )
        images[task.name] = (_file_name(task.name, used), png)
    paths = []
    page = out_dir / "report.html"
    write_atomically(page, render_html(report, images, max_questions).encode("utf-8"))
    paths.append(page)
    summary = out_dir / "summary.md"
    write_atomically(summary, render_markdown(report, page.name).encode("utf-8"))
    paths.append(summary)
    for name, png in images.values():
        path = out_dir / name
        write_atomically(path, png)
        paths.append(path)
    return paths


def _metrics(data: dict[str, Any]) -> dict[str, Any]:
    return _object(data.get("metrics"))


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the document, or {} where it holds something else (absent, null, edited)."""
    return value if isinstance(value, dict) else {}


def _baseline_index(task: TaskReport) -> int | None:
    baseline = task.comparison.baseline
    if baseline is None or not task.comparison.changes:
        return None
    for index, (run, _) in enumerate(task.history):
        if run is baseline or (run.run_id == baseline.run_id and run.timestamp == baseline.timestamp):
            return index
    return None


def _file_name(task: str, used: set[str]) -> str:
    """``trend_<task>.png`` with the task name made safe for a file name, unique within the report."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", task)[:80] or "task"
    name, count = f"trend_{stem}.png", 1
    while name in used:
        count += 1
        name = f"trend_{stem}_{count}.png"
    used.add(name)
    return name


def esc(text: Any) -> str:
    """Text made inert in HTML (also inside quoted attributes)."""
    return _UNSAFE.sub("\ufffd", html.escape(text if isinstance(text, str) else _plain(text), quote=True))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _slug(raw: str) -> str:
    """An id-safe form of ``raw``: readable, and kept unique by a hash when characters had to be replaced."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", raw)
    if safe != raw:
        safe += "-" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe


def anchor(task: str, question_id: Any) -> str:
    """The drill-down id of a question (``q-<task>-<id>``)."""
    return "q-" + _slug(f"{task}-{question_id}")


def task_anchor(task: str) -> str:
    """The id of a task's section (``task-<task>``)."""
    return "task-" + _slug(task)


def _value_attr(value: Any) -> str:
    """The exact JSON value behind a displayed number (repr round-trips a float)."""
    if isinstance(value, float):
        return repr(value)
    return esc(json.dumps(value)) if isinstance(value, (list, dict)) else esc(value)


def _cell(task: str, metric: str, value: Any, text: str, css: str = "", tag: str = "span") -> str:
    classes = f' class="{css}"' if css else ""
    return (
        f'<{tag}{classes} data-task="{esc(task)}" data-metric="{esc(metric)}" '
        f'data-value="{_value_attr(value)}">{esc(text)}</{tag}>'
    )


def _sign_class(value: Any) -> str:
    found = number(value)
    return "pos" if found is not None and found > 0 else "neg" if found is not None and found < 0 else "zero"


# ---- the page --------------------------------------------------------------------------------------------


def render_html(
    report: Report, images: dict[str, tuple[str, bytes]] | None = None, max_questions: int | None = DRILL_DOWN_QUESTIONS
) -> str:
    """The whole page; ``images`` maps a task to its PNG's file name and bytes (embedded as data: URIs)."""
    images = images or {}
    latest = report.latest
    title = f"selfdisc report · {model_id(latest)} · {report.label(latest)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        _nav(report),
        "<main>",
        _overview(report),
    ]
    for task in report.tasks:
        parts.append(_task_section(report, task, images.get(task.name), max_questions))
    parts.append(_history(report))
    if report.checks:
        parts.append(_checks(report))
    parts.append(_run_details(report))
    parts.append(
        '<footer>Written by selfdisc-checks. DG-DIFF = S_disc - S_gen (Jiang et al., "SELF-[IN]CORRECT", '
        "arXiv 2404.04298). This page runs no scripts and loads nothing from the network.</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _nav(report: Report) -> str:
    links = ['<a href="#overview">Overview</a>']
    for task in report.tasks:
        links.append(f'<a href="#{task_anchor(task.name)}">{esc(task.name)}</a>')
    links.append('<a href="#history">History</a>')
    if report.checks:
        links.append('<a href="#checks">Checks</a>')
    links.append('<a href="#run">Run</a>')
    state = _state(report)
    status = f'<span class="navstatus {state}"><span class="dot {state}"></span>{esc(_short_status(report))}</span>'
    return (
        f'<header class="top"><div class="bar"><span class="brand">selfdisc-checks</span>'
        f"<nav>{''.join(links)}</nav>{status}</div></header>"
    )


def _short_status(report: Report) -> str:
    failing = len(report.failing)
    if failing:
        return f"{failing} failing"
    if report.regressions:
        return f"{len(report.regressions)} regressed"
    return "passing" if report.checks is not None else "no checks"


def _state(report: Report) -> str:
    if report.failing:
        return "fail"
    if report.regressions:
        return "warn"
    return "ok" if report.checks is not None else "info"


def _overview(report: Report) -> str:
    latest = report.latest
    doc = latest.document
    model = _object(doc.get("model"))
    run = _object(doc.get("run"))
    versions = _object(run.get("versions"))
    first = report.runs[0]
    facts = [
        ("run", report.label(latest) + (f" (#{latest.run_id})" if latest.run_id > 0 else "")),
        ("time", when(latest.timestamp)),
        ("fingerprint", model.get("fingerprint") or "–"),
        ("device", " · ".join(str(v) for v in (run.get("device"), run.get("dtype")) if v) or "–"),
        ("duration", duration(run.get("duration_s"))),
        ("versions", " · ".join(f"{k} {v}" for k, v in versions.items() if v) or "–"),
        (
            "history",
            f"{len(report.runs)} run{'s' if len(report.runs) != 1 else ''}"
            + (f" since {when(first.timestamp)}" if len(report.runs) > 1 else ", no trend yet"),
        ),
    ]
    wide = {"versions", "history"}  # longer facts take two columns
    titles = {"run": latest.label, "duration": f"{run['duration_s']} s" if number(run.get("duration_s")) else ""}
    grid = "".join(
        f"<div{' class=wide' if k in wide else ''}><dt>{esc(k)}</dt><dd{_title(titles.get(k), v)}>{esc(v)}</dd></div>"
        for k, v in facts
    )
    state = _state(report)
    icon = {"fail": "✖", "warn": "▲", "ok": "✔", "info": "●"}[state]
    banner = f'<div class="banner {state}"><span class="icon">{icon}</span> {esc(status_line(report))}</div>'
    out = [
        '<section id="overview">',
        f'<h1><span class="muted">model</span> {esc(model_id(latest))}</h1>',
        f'<dl class="facts">{grid}</dl>',
        banner,
        _baselines(report),
    ]
    if report.failing:
        out.append(_failing(report))
    out.append(_table2(report))
    if report.other_tasks:
        out.append(
            f'<p class="note">Also in the history but not in this run: {esc(", ".join(report.other_tasks))}.</p>'
        )
    out.append("</section>")
    return "\n".join(out)


def _title(full: Any, shown: Any = None) -> str:
    """A ``title`` attribute holding the full text behind a shortened one (nothing when they are the same)."""
    if not full or str(full) == str(shown):
        return ""
    return f' title="{esc(full)}"'


def _run_name(report: Report, run: HistoryRun) -> str:
    """A run's short label, its full label (a checkpoint path) in the tooltip."""
    shown = report.label(run)
    return f'<span class="runlabel"{_title(run.label, shown)}>{esc(shown)}</span>'


def _baselines(report: Report) -> str:
    """What every comparison on the page is against, and what the regression checks compared with."""
    lines = baseline_lines(report)
    differ = report.baselines_differ()
    items = "".join(
        f"<li{' class=warn' if differ and i == len(lines) - 1 else ''}>{esc(line)}</li>" for i, line in enumerate(lines)
    )
    return f'<div class="baselines"><h3>Baselines</h3><ul>{items}</ul></div>'


def _failing(report: Report) -> str:
    rows = []
    for check in report.failing:
        task = check.get("task")
        where = (
            f' <a href="#{task_anchor(str(task))}">{esc(task)}</a>' if task in {t.name for t in report.tasks} else ""
        )
        title = check_title(check)
        rows.append(
            f"<li><code{_title(title, short_check_id(title))}>{esc(short_check_id(title))}</code>{where}"
            f'<pre class="msg">{esc(check.get("message") or "failed")}</pre>{_check_numbers(check)}</li>'
        )
    return f'<div class="card failing"><h2>Failing checks</h2><ul class="checks">{"".join(rows)}</ul></div>'


def _check_numbers(check: dict[str, Any]) -> str:
    bits = []
    value = number(check.get("value"))
    if value is not None:
        bits.append(f"value {value:.3f}")
    interval = check.get("interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and all(number(x) is not None for x in interval):
        bits.append(f"interval [{interval[0]:.3f}, {interval[1]:.3f}]")
    threshold = check.get("threshold")
    if isinstance(threshold, dict) and number(threshold.get("bound")) is not None:
        bits.append(f"{threshold.get('side', 'bound')} {threshold['bound']:.3f} ({threshold.get('mode', '?')})")
    return f'<div class="small muted">{esc(" · ".join(bits))}</div>' if bits else ""


def _table2(report: Report) -> str:
    others = registry.other_methods(t.metrics for t in report.tasks)
    level = f"{report.level:.0%}"
    head = ["task", "n", "S_gen → S_disc (DG-DIFF), p", f"DG-DIFF {level} CI", "invalid", "oracle"]
    head += [f"{method.name}: S_disc (DG-DIFF), p" for method in others]
    head.append("against baseline")
    rows = []
    for task in report.tasks:
        m, name = task.metrics, task.name
        n = m.get("n")
        unrated = number(m.get("unrated_questions"))
        n_cell = _cell(name, "n", n, stopped_at(task.data) or (str(n) if n is not None else "–"))
        if unrated:
            n_cell += f' <span class="muted small">({int(unrated)} unscored)</span>'
        main = _triple(name, m, "")
        ci = m.get("ci", {}).get("dg_diff") if isinstance(m.get("ci"), dict) else None
        why = unmeasured(m, "dg_diff")  # no mixed question: a 0 by construction, not a measured one
        ci_text = (
            f"n/a ({why})"
            if why is not None
            else f"[{show(m, 'dg_diff', ci[0])}, {show(m, 'dg_diff', ci[1])}]"
            if isinstance(ci, list) and len(ci) == 2
            else "–"
        )
        cells = [
            f'<th scope="row"><a href="#{task_anchor(name)}">{esc(name)}</a>'
            f"{' <span class=tag>' + esc(unit(m)) + '</span>' if scale(m) else ''}</th>",
            f'<td class="num">{n_cell}</td>',
            f'<td class="num t2">{main}</td>',
            f'<td class="num">{_cell(name, "dg_diff_ci", ci, ci_text)}</td>',
            f'<td class="num">{_cell(name, "invalid_rate", m.get("invalid_rate"), percent(m.get("invalid_rate")))}</td>',
            f'<td class="num">{_cell(name, "oracle", m.get("oracle"), show(m, "oracle"))}</td>',
        ]
        cells += [f'<td class="num t2">{_triple(name, m, method.suffix)}</td>' for method in others]
        cells.append(f'<td class="verdicts">{_verdicts(report, task)}</td>')
        rows.append(f'<tr data-task="{esc(name)}">{"".join(cells)}</tr>')
    graded = any(scale(t.metrics) for t in report.tasks)
    caption = (
        "Levels in % (graded tasks on their own scale, e.g. /10); DG-DIFF = S_disc - S_gen in points "
        "(rating points when graded) with its paired bootstrap interval; p: one-sided test of DG-DIFF ≤ 0 "
        "(McNemar on right/wrong tasks, Wilcoxon on graded ones). Arrows: ↑/↓ changed beyond the "
        f"{level} one-sided bound against the baseline (tolerance {report.tolerance:g}), → within noise."
    )
    if graded:
        caption += " Graded tasks are marked with their scale."
    return (
        f'<div class="card"><h2>Results <span class="muted small">(the paper\'s Table 2 layout)</span></h2>'
        f'<div class="scroll"><table class="results"><thead><tr>'
        f"{''.join(f'<th class={chr(34)}{_head_class(h)}{chr(34)}>{esc(h)}</th>' for h in head)}"
        f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div><p class="caption">{esc(caption)}</p></div>'
    )


def _head_class(header: str) -> str:
    return "" if header in ("task", "against baseline") else "num"


def _triple(task: str, m: dict[str, Any], suffix: str) -> str:
    """``S_gen → S_disc (DG-DIFF), p`` with every number in a machine-checkable span."""
    s_disc, dg_diff = f"s_disc{suffix}", f"dg_diff{suffix}"
    if m.get(s_disc) is None and (suffix or m.get("s_gen") is None):
        return '<span class="muted">–</span>'
    text = ""
    if not suffix:
        text += _cell(task, "s_gen", m.get("s_gen"), show(m, "s_gen")) + ' <span class="arrow">→</span> '
    text += _cell(task, s_disc, m.get(s_disc), show(m, s_disc))
    text += " (" + _cell(task, dg_diff, m.get(dg_diff), show(m, dg_diff), _sign_class(m.get(dg_diff))) + ")"
    found = p_value(m, suffix)
    if found:
        text += f', <span class="muted">p=</span>{_cell(task, "p_value" + suffix, found[1], show_p(found[1]))}'
    return text


def _verdicts(report: Report, task: TaskReport) -> str:
    """The headline changes as chips, and a rate's change when it is more than noise."""
    comparison = task.comparison
    if not comparison.changes:
        return f'<span class="muted small">{esc(comparison.reason or "no baseline")}</span>'
    chips = []
    for metric in [*HEADLINE, *shown_rates(report)]:
        verdict = comparison.verdict(metric.name)
        change = comparison.change(metric.name)
        if verdict is None or change is None or (metric.unit == "rate" and verdict == "steady"):
            continue
        chips.append(
            f'<span class="chip {verdict}" title="{esc(verdict)}">{esc(metric.short)} '
            f"{arrow(verdict, change.difference)} {esc(change_text(task.metrics, change))}</span>"
        )
    base = comparison.baseline
    label = f'<div class="muted small">vs {_run_name(report, base)}</div>' if base is not None else ""
    return label + "".join(chips)


# ---- one task ----------------------------------------------------------------------------------------------


def _task_section(
    report: Report, task: TaskReport, image: tuple[str, bytes] | None, max_questions: int | None = DRILL_DOWN_QUESTIONS
) -> str:
    m = task.metrics
    out = [
        f'<section id="{task_anchor(task.name)}" class="task">',
        f'<h2 class="task-title">{esc(task.name)} <span class="muted small">{esc(_task_line(m))}</span></h2>',
        *([f'<p class="small muted stopped">{esc(line)}</p>'] if (line := stop_line(task.data)) else []),
        '<div class="card"><div class="two">',
    ]
    if image is not None:
        name, png = image
        data = base64.b64encode(png).decode("ascii")
        alt = f"Trend of S_gen, S_disc, DG-DIFF and the invalid and truncation rates for {task.name}"
        rates = " and the invalid and truncation rates below" if shown_rates(report) else ""
        out.append(
            f'<figure class="trend"><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>S_gen, S_disc and DG-DIFF across {_count(len(task.history), 'run')} with their "
            f"{report.level:.0%} intervals{rates}{esc(_trend_baseline(report, task))} · "
            f'<a href="{esc(name)}">{esc(name)}</a></figcaption></figure>'
        )
    out.append(f'<div class="side">{_comparison(report, task)}</div></div></div>')
    out.append(_flips(report, task))
    out.append(_drill_down(task, max_questions))
    out.append("</section>")
    return "\n".join(out)


def _task_line(m: dict[str, Any]) -> str:
    bits = []
    if m.get("n") is not None:
        bits.append(f"{m['n']} questions")
    if number(m.get("mixed_fraction")) is not None:
        bits.append(f"{percent(m['mixed_fraction'])} right+wrong")
    if number(m.get("majority")) is not None:
        bits.append(f"majority {show(m, 'majority')}{unit(m)}")
    if isinstance(m.get("position_pick_rates"), list):
        bits.append(
            "picks by position "
            + "/".join(f"{100 * r:.0f}" for r in m["position_pick_rates"] if number(r) is not None)
            + " %"
        )
    return " · ".join(bits)


def _trend_baseline(report: Report, task: TaskReport) -> str:
    """Where the plot's baseline is: its dotted line, or a baseline file that is not in the history."""
    base = task.comparison.baseline
    if base is None or not task.comparison.changes:
        return ""
    if _baseline_index(task) is not None:
        return f"; the dotted line is the baseline, {report.label(base)}"
    return f"; the baseline {report.label(base)} is not in this history, so no point marks it"


def _comparison(report: Report, task: TaskReport) -> str:
    comparison, m = task.comparison, task.metrics
    if not comparison.changes:
        return (
            f'<h3>Against the baseline</h3><p class="notice">{esc(_sentence(comparison.reason or "no baseline"))}</p>'
        )
    base = comparison.baseline
    first = comparison.changes[0]
    kind = (
        "--baseline"
        if base is not None and base is report.explicit_baseline
        else "the nearest earlier run measured the same way"
    )
    head = (
        f'<h3>Against {_run_name(report, base) if base else "?"} <span class="muted small">'
        f"{esc(baseline_note(base) if base else '')}</span></h3>"
        f'<p class="small muted">baseline: {esc(kind)} · {first.n} shared questions · {first.level:.0%} paired '
        f"bootstrap · tolerance {first.tolerance:g}</p>"
    )
    rows = []
    for change in comparison.changes + comparison.rates:
        verdict = comparison.verdict(change.metric) or "steady"
        low, high = change.interval
        declared = registry.find(change.metric)
        rate = declared is not None and declared.unit == "rate"
        rows.append(
            f'<tr class="{verdict}{" rate" if rate else ""}"><th scope="row">'
            f"{esc(NAMES.get(change.metric, change.metric))}</th>"
            f'<td class="num">{esc(value_text(m, change.metric, change.old))}</td>'
            f'<td class="num">{esc(value_text(m, change.metric, change.new))}</td>'
            f'<td class="num"><span class="delta {verdict}">{arrow(verdict, change.difference)} '
            f"{_cell(task.name, 'change_' + change.metric, change.difference, change_text(m, change))}"
            f'</span><span class="muted ci">[{esc(_difference(m, rate, low))}, {esc(_difference(m, rate, high))}]'
            "</span></td>"
            f'<td><span class="chip {verdict}">{esc(verdict)}</span></td></tr>'
        )
    note = (
        '<p class="small muted">Rates (invalid, truncated) are lower-is-better: ↓ in green is an improvement.</p>'
        if comparison.rates
        else ""
    )
    return (
        head + '<table class="compare"><thead><tr><th>metric</th><th>baseline</th><th>latest</th>'
        f"<th>change [CI]</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _difference(m: dict[str, Any], rate: bool, value: float) -> str:
    return rate_difference(value) if rate else difference_shown(m, value)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _flips(report: Report, task: TaskReport) -> str:
    comparison = task.comparison
    if not comparison.changes:
        return ""
    label = _run_name(report, comparison.baseline) if comparison.baseline else "the baseline"
    blocks: list[str] = []
    graded = scale(task.metrics) is not None
    for change in comparison.changes:
        declared = registry.find(change.metric)
        if declared is not None and declared.unit == "difference":
            continue  # per question DG-DIFF moves with S_disc or S_gen, listed already
        fixed, broke = change.flipped.get("fixed", []), change.flipped.get("broke", [])
        picks = declared is not None and declared.method is not None  # a pick's level: right or wrong flips
        up = "rose" if graded or not picks else "fixed (wrong → right)"
        down = "fell" if graded or not picks else "broke (right → wrong)"
        name = NAMES.get(change.metric, change.metric)
        body = (
            f'<div class="flipcols"><div><h4 class="up">{esc(name)} {esc(up)}: {len(fixed)}</h4>{_links(task.name, fixed)}</div>'
            f'<div><h4 class="down">{esc(name)} {esc(down)}: {len(broke)}</h4>{_links(task.name, broke)}</div></div>'
        )
        if picks:
            blocks.insert(0, body)
        else:
            blocks.append(
                f'<details class="flips-more"><summary>{esc(name)}: higher on {_count(len(fixed), "question")}, '
                f"lower on {len(broke)}</summary>{body}</details>"
            )
    return f'<div class="card"><h3>Flips against {label}</h3>{"".join(blocks)}</div>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _links(task: str, ids: Sequence[str]) -> str:
    if not ids:
        return '<p class="muted small">none</p>'
    links = [f'<a href="#{anchor(task, qid)}">{esc(qid)}</a>' for qid in ids]
    if len(links) <= MAX_LINKS:
        return '<p class="ids">' + " ".join(links) + "</p>"
    return (
        f'<p class="ids">{" ".join(links[:MAX_LINKS])}</p><details class="flips-more"><summary>'
        f'{len(links) - MAX_LINKS} more</summary><p class="ids">{" ".join(links[MAX_LINKS:])}</p></details>'
    )


# ---- the drill-down ----------------------------------------------------------------------------------------


def shared_prefix(prompts: Sequence[str]) -> str:
    """The longest common prefix of the prompts, cut after its last line break ("" for fewer than 2)."""
    if len(prompts) < 2:
        return ""
    first, last = min(prompts), max(prompts)  # the common prefix of all is that of the extremes
    size = 0
    for a, b in zip(first, last, strict=False):
        if a != b:
            break
        size += 1
    prefix = first[:size]
    cut = prefix.rfind("\n")
    return prefix[: cut + 1] if cut >= 0 else ""


def _shown_questions(task: TaskReport, flips: dict[str, str], limit: int | None) -> list[dict[str, Any]]:
    """The questions the drill-down shows, in their order: all of them up to ``limit``; beyond it the ones a
    reader looks for first (flipped ones always, then invalid picks, then wrong picks that had a right
    candidate), the rest as room allows."""
    questions = task.questions
    if limit is None or len(questions) <= limit:
        return questions

    def rank(q: dict[str, Any]) -> int:
        choice = _object(q.get("choice"))
        scores = _scores(q)
        known = [score for score in scores if score is not None]
        picked = choice.get("index")
        if str(q.get("id")) in flips:
            return 0
        if choice and not choice.get("valid", True):
            return 1
        chosen = scores[picked] if isinstance(picked, int) and 0 <= picked < len(scores) else None
        if chosen is not None and chosen < max(known):
            return 2
        return 3

    ranked = sorted(range(len(questions)), key=lambda i: rank(questions[i]))
    keep = {i for i in ranked[:limit]} | {i for i in ranked if rank(questions[i]) == 0}
    return [q for i, q in enumerate(questions) if i in keep]


def _drill_down(task: TaskReport, max_questions: int | None = DRILL_DOWN_QUESTIONS) -> str:
    flips = _flip_marks(task)
    questions = _shown_questions(task, flips, max_questions)
    phases: dict[str, list[str]] = {}
    for q in questions:
        prompts = _object(q.get("prompts"))
        for phase, text in prompts.items():
            if isinstance(text, str):
                phases.setdefault(str(phase), []).append(text)
    prefixes = {}
    for phase, texts in phases.items():
        prefix = shared_prefix(texts)
        if len(prefix) >= MIN_SHARED_PREFIX and len(texts) == len(questions):
            prefixes[phase] = prefix
    hidden = len(task.questions) - len(questions)
    out = [
        f'<div class="card"><h3>Questions <span class="muted small">latest run · {len(questions)} · click one to open'
        ' · <span class="mark-inline pick">◆ the model\'s pick</span> · <span class="mark-inline right">✓ right '
        "(★ best when graded)</span> · fixed/broke: the pick against the baseline</span></h3>"
    ]
    if prefixes:
        shared = "".join(
            f'<details class="prompt"><summary>{esc(phase)} prompt: shared prefix, {len(text):,} characters '
            f"(every question's {esc(phase)} prompt starts with it)</summary><pre>{esc(text)}</pre></details>"
            for phase, text in prefixes.items()
        )
        out.append(f'<div class="shared">{shared}</div>')
    if hidden:
        out.append(
            f'<p class="muted">Showing {len(questions):,} of {len(task.questions):,} questions: every flipped '
            "one, then invalid picks, then wrong picks where a right candidate existed; all are in the results "
            "JSON and the history.</p>"
        )
    if not questions:
        out.append('<p class="muted">No per-question records in this run.</p>')
    for q in questions:
        out.append(_question(task, q, prefixes, flips))
    out.append("</div>")
    return "\n".join(out)


def _flip_marks(task: TaskReport) -> dict[str, str]:
    change = task.comparison.change("s_disc")
    if change is None:
        return {}
    marks = {qid: "fixed" for qid in change.flipped.get("fixed", [])}
    marks.update({qid: "broke" for qid in change.flipped.get("broke", [])})
    return marks


def _scores(q: dict[str, Any]) -> list[float | None]:
    return [number(c.get("score")) if isinstance(c, dict) else None for c in q.get("candidates") or []]


def _question(task: TaskReport, q: dict[str, Any], prefixes: dict[str, str], flips: dict[str, str]) -> str:
    m = task.metrics
    graded = scale(m)
    qid = str(q.get("id"))
    candidates = [c for c in q.get("candidates") or [] if isinstance(c, dict)]
    scores = _scores(q)
    choice = q.get("choice") if isinstance(q.get("choice"), dict) else None
    picked = choice.get("index") if choice and isinstance(choice.get("index"), int) else None
    known = [s for s in scores if s is not None]
    best = max(known) if known else None

    badges = []
    if choice is not None and not choice.get("valid", picked is not None):
        badges.append(f'<span class="badge warn">invalid: {esc(choice.get("reason") or "no choice")}</span>')
    elif picked is not None and 0 <= picked < len(scores) and scores[picked] is not None:
        score = scores[picked]
        if graded:
            badges.append(
                f'<span class="badge {"good" if score == best else "bad"}">pick {esc(_score(m, score))}'
                f"{' (best)' if score == best else ''}</span>"
            )
        else:
            badges.append(
                f'<span class="badge {"good" if score >= 1 else "bad"}">pick '
                f"{'right' if score >= 1 else 'wrong'}</span>"
            )
    if None in scores:
        badges.append('<span class="badge warn">unscored</span>')
    if qid in flips:
        badges.append(f'<span class="badge {"good" if flips[qid] == "fixed" else "bad"}">{esc(flips[qid])}</span>')
    s_gen = q.get("s_gen")
    summary = (
        f'<summary><code class="qid">{esc(qid)}</code><span class="qtext">{esc(_short(q.get("question")))}'
        f'<span class="ref"> · reference {esc(_short(q.get("reference"), 40))}</span></span>'
        f'<span class="qstats">S_gen {esc(show(m, "s_gen", s_gen) if s_gen is not None else "–")}'
        f"{esc(unit(m)) if s_gen is not None else ''}</span>{''.join(badges)}</summary>"
    )

    rows = []
    for position, candidate in enumerate(candidates):
        score = scores[position] if position < len(scores) else None
        marks = []
        if position == picked:
            marks.append('<span class="mark pick">◆ picked</span>')
        if score is not None and (
            (graded and best is not None and score == best and len(set(known)) > 1) or (not graded and score >= 1)
        ):
            marks.append(f'<span class="mark right">{"★ best" if graded else "✓ right"}</span>')
        css = " ".join(
            c
            for c in (
                "picked" if position == picked else "",
                "right" if score is not None and not graded and score >= 1 else "",
            )
            if c
        )
        judgement = candidate.get("judgement")
        extra = (
            f'<details class="judge"><summary>judge</summary><pre>{esc(judgement)}</pre></details>' if judgement else ""
        )
        flags = " · truncated" if candidate.get("truncated") else ""
        how = esc(candidate.get("extraction") or "") + flags
        rows.append(
            f'<tr class="{css}"><td class="num">{position + 1}</td>'
            f'<td><pre class="cand">{esc(candidate.get("text"))}</pre>{extra}</td>'
            f'<td><code>{esc(candidate.get("answer"))}</code><div class="muted small">{how}</div></td>'
            f'<td class="num">{esc(_score(m, score))}</td><td>{"".join(marks)}</td></tr>'
        )
    body = [
        f'<div class="qbody"><div class="qa"><div><h4>Question</h4><pre>{esc(q.get("question"))}</pre></div>'
        f"<div><h4>Reference</h4><pre>{esc(q.get('reference'))}</pre></div></div>",
        '<table class="cands"><thead><tr><th class="tight">#</th><th>candidate</th><th class="tight">answer</th>'
        '<th class="tight num">score</th><th class="tight"></th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>",
        _choice(choice, q),
    ]
    prompts = _object(q.get("prompts"))
    for phase, text in prompts.items():
        text = text if isinstance(text, str) else _plain(text)
        prefix = prefixes.get(str(phase), "")
        if prefix and text.startswith(prefix):
            shown = (
                f'<span class="elided">[shared {esc(phase)} prefix, {len(prefix):,} characters, shown above the '
                f"questions]</span>\n{esc(text[len(prefix) :])}"
            )
        else:
            shown = esc(text)
        body.append(
            f'<details class="prompt"><summary>{esc(phase)} prompt · {len(text):,} characters</summary>'
            f"<pre>{shown}</pre></details>"
        )
    body.append("</div>")
    return f'<details class="q" id="{anchor(task.name, qid)}">{summary}{"".join(body)}</details>'


def _choice(choice: dict[str, Any] | None, q: dict[str, Any]) -> str:
    out = []
    if choice is not None:
        index = choice.get("index")
        if isinstance(index, int):
            parsed = f'<span class="badge neutral">option {index + 1}</span>'
        else:
            reason = choice.get("reason") or "no valid choice"
            value = f" (stated the value {choice.get('value')})" if choice.get("value") is not None else ""
            parsed = f'<span class="badge warn">invalid: {esc(reason)}{esc(value)}</span>'
        trunc = ' <span class="badge warn">truncated</span>' if choice.get("truncated") else ""
        out.append(
            f'<div class="choice"><h4>Discrimination</h4><div class="row">parsed choice {parsed}{trunc}</div>'
            f'<pre class="raw">{esc(choice.get("raw"))}</pre></div>'
        )
    likely = q.get("likelihood")
    if isinstance(likely, dict):
        index = likely.get("index")
        logprobs = likely.get("logprobs") or []
        scores = ", ".join(f"{x:.2f}" if number(x) is not None else "?" for x in logprobs)
        pick = f"option {index + 1}" if isinstance(index, int) else "none"
        out.append(
            f'<div class="choice"><h4>Likelihood discrimination</h4><div class="row">pick {esc(pick)} · label '
            f"log-probabilities in shown order: {esc(scores)}</div></div>"
        )
    permuted = q.get("permuted_choices")
    if isinstance(permuted, list) and permuted:
        items = []
        for p in permuted:
            if not isinstance(p, dict):
                continue
            index = p.get("index")
            got = f"candidate {index + 1}" if isinstance(index, int) else f"invalid ({p.get('reason') or '?'})"
            order = " ".join(str(i + 1) for i in p.get("order") or [] if isinstance(i, int))
            items.append(f"<li>order {esc(order)} → {esc(got)}</li>")
        out.append(f'<div class="choice"><h4>Other orderings</h4><ul class="small">{"".join(items)}</ul></div>')
    return "".join(out)


def _score(m: dict[str, Any], score: float | None) -> str:
    if score is None:
        return "unscored"
    graded = scale(m)
    if graded:
        return f"{graded[0] + graded[2] * score:g}/{graded[1]:g}"
    return f"{score:g}"


def _short(text: Any, size: int = 110) -> str:
    flat = " ".join(_plain(text).split()) if not isinstance(text, str) else " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


# ---- history, checks, run details -------------------------------------------------------------------------


def _history(report: Report) -> str:
    tasks = [t.name for t in report.tasks]
    rates = shown_rates(report)
    bases = {id(t.comparison.baseline) for t in report.tasks if t.comparison.baseline is not None}
    below = f'<div class="muted small">{esc(" · ".join(m.short for m in rates))} (%)</div>' if rates else ""
    head = "".join(
        f"<th>{esc(name)}<div class='muted small'>S_gen → S_disc (DG-DIFF)</div>{below}</th>" for name in tasks
    )
    rows = []
    for run in reversed(report.runs):
        data = _object(run.document.get("tasks"))
        cells = []
        for name in tasks:
            m = _metrics(data[name]) if isinstance(data.get(name), dict) else None
            if m is None:
                cells.append('<td class="num muted">–</td>')
                continue
            line = " · ".join(percent(m.get(metric.name)) for metric in rates)
            rated = f'<div class="muted small">{esc(line)}</div>' if rates else ""
            cells.append(
                f'<td class="num">{esc(show(m, "s_gen"))} → {esc(show(m, "s_disc"))} '
                f'(<span class="{_sign_class(m.get("dg_diff"))}">{esc(show(m, "dg_diff"))}</span>){rated}</td>'
            )
        model = _object(run.document.get("model"))
        marks = []
        if run is report.latest:
            marks.append('<span class="tag">latest</span>')
        if id(run) in bases:
            marks.append('<span class="tag">baseline</span>')
        shown, path = report.label(run), str(model.get("id") or "")
        where = f'<div class="muted small path">{esc(path)}</div>' if path and path != shown else ""
        took = _object(run.document.get("run")).get("duration_s")
        rows.append(
            f'<tr class="{"latest" if run is report.latest else ""}"><td class="num">{esc(run.run_id)}</td>'
            f"<td>{_run_name(report, run)} {''.join(marks)}{where}</td>"
            f'<td class="nowrap">{esc(when(run.timestamp))}</td><td class="num nowrap">{esc(duration(took))}</td>'
            f"<td><code>{esc(model.get('fingerprint') or '–')}</code></td>{''.join(cells)}</tr>"
        )
    return (
        f'<section id="history"><h2>History <span class="muted small">{_count(len(report.runs), "run")}, '
        "newest first</span></h2>"
        f'<div class="card scroll"><table class="history"><thead><tr><th>#</th><th>label</th><th>time</th>'
        f"<th>duration</th><th>fingerprint</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _checks(report: Report) -> str:
    order = {"failed": 0, "error": 0, "passed": 2, "skipped": 1}
    checks = sorted(report.checks or (), key=lambda c: order.get(str(c.get("outcome")), 1))
    rows = []
    for check in checks:
        outcome = str(check.get("outcome") or "?")
        css = "bad" if outcome in ("failed", "error") else "good" if outcome == "passed" else "neutral"
        message = str(check.get("message") or "")
        title = check_title(check)
        rows.append(
            f'<tr><td><span class="badge {css}">{esc(outcome)}</span></td>'
            f"<td><code{_title(title, short_check_id(title))}>{esc(short_check_id(title))}</code></td>"
            f"<td>{esc(check.get('task') or '')}</td><td>{esc(check.get('metric') or '')}</td>"
            f'<td class="small">{_check_numbers(check)}<div>{esc(_short(message, 300))}</div></td></tr>'
        )
    counts: dict[str, int] = {}
    for check in checks:
        counts[str(check.get("outcome"))] = counts.get(str(check.get("outcome")), 0) + 1
    line = " · ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return (
        f'<section id="checks"><h2>Checks <span class="muted small">{esc(line)}</span></h2><div class="card scroll">'
        '<table class="checks-table"><thead><tr><th class="c-outcome">outcome</th><th class="c-check">check</th>'
        '<th class="c-task">task</th><th class="c-metric">metric</th><th>details</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _run_details(report: Report) -> str:
    doc = report.latest.document
    blocks: list[tuple[str, Any]] = [("run", _object(doc.get("run")))]
    if doc.get("settings") is not None:
        blocks.append(("settings", doc["settings"]))
    for task in report.tasks:
        record = {k: task.data.get(k) for k in ("options", "protocol", "run") if k in task.data}
        blocks.append((f"{task.name}: options, protocol, work done", record))
    parts = "".join(
        f"<details><summary>{esc(title)}</summary><pre>{esc(_json(value))}</pre></details>" for title, value in blocks
    )
    return (
        f'<section id="run"><h2>Run details <span class="muted small">{_run_name(report, report.latest)}</span></h2>'
        f'<div class="card">{parts}</div></section>'
    )


def short_check_id(check_id: str) -> str:
    """A check's pytest id from its file name on (``test_model.py::test_dg_diff[gsm8k]``): the folders before
    it (a virtual environment's site-packages) say nothing; the full id is kept in the tooltip."""
    path, sep, rest = check_id.partition("::")
    if not sep:
        return check_id
    return re.split(r"[\\/]", path)[-1] + sep + rest


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


STYLE = """
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f6f7f9;--card:#fff;--red:#dc2626;--redbg:#fef2f2;
--green:#15803d;--greenbg:#f0fdf4;--amber:#b45309;--amberbg:#fffbeb;--blue:#2563eb;--code:#f1f5f9}
*{box-sizing:border-box}
html{scroll-padding-top:64px}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans",sans-serif;-webkit-font-smoothing:antialiased}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
a{color:var(--blue);text-decoration:none}a:hover{text-decoration:underline}
header.top{position:sticky;top:0;z-index:10;background:#0f172a;color:#e2e8f0;box-shadow:0 1px 3px rgba(0,0,0,.2)}
.bar{max-width:1240px;margin:0 auto;padding:0 24px;display:flex;align-items:center;gap:20px;height:48px}
.brand{font-weight:700;letter-spacing:.02em;color:#fff;white-space:nowrap}
nav{display:flex;gap:4px;overflow-x:auto;flex:1;scrollbar-width:none}
nav a{color:#cbd5e1;padding:6px 10px;border-radius:6px;white-space:nowrap;font-size:13px}
nav a:hover{background:#1e293b;color:#fff;text-decoration:none}
.navstatus{display:flex;align-items:center;gap:7px;font-size:12.5px;font-weight:600;white-space:nowrap;color:#e2e8f0}
.dot{width:10px;height:10px;border-radius:50%;flex:none}
.dot.ok{background:#22c55e}.dot.fail{background:#ef4444}.dot.warn{background:#f59e0b}.dot.info{background:#94a3b8}
main{max-width:1240px;margin:0 auto;padding:24px}
section{margin-bottom:28px}
h1{font-size:22px;margin:4px 0 12px;word-break:break-all}
h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:0 0 8px}h4{font-size:13px;margin:0 0 4px;color:#334155}
.task-title{font-size:20px;padding-top:8px;border-top:1px solid var(--line);margin-top:8px}
.muted{color:var(--muted);font-weight:400}.small{font-size:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin-bottom:14px;
box-shadow:0 1px 2px rgba(15,23,42,.04)}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px 20px;margin:0 0 16px}
.facts div{min-width:0}.facts div.wide{grid-column:span 2}.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.facts dd{margin:0;font-size:13px;overflow-wrap:anywhere}
.banner{display:flex;align-items:center;gap:10px;padding:12px 16px;border-radius:10px;font-weight:600;font-size:15px;
margin-bottom:14px;border:1px solid}
.banner .icon{font-size:18px}
.banner.ok{background:var(--greenbg);color:var(--green);border-color:#bbf7d0}
.banner.fail{background:var(--redbg);color:var(--red);border-color:#fecaca}
.banner.warn{background:var(--amberbg);color:var(--amber);border-color:#fde68a}
.banner.info{background:#f8fafc;color:#334155;border-color:var(--line)}
.failing{border-color:#fecaca}.failing h2{color:var(--red)}
ul.checks{list-style:none;margin:0;padding:0}ul.checks li{padding:8px 0;border-top:1px solid var(--line)}
ul.checks li:first-child{border-top:0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;background:var(--code);padding:8px 10px;border-radius:6px;
max-height:420px;overflow:auto}
pre.msg{background:var(--redbg);margin-top:4px}
table{border-collapse:collapse;width:100%}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600;background:#f8fafc;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.results td.t2{font-size:14.5px}
td.verdicts{white-space:nowrap;min-width:260px}td.verdicts .chip{margin:2px 4px 0 0}td.verdicts .muted{white-space:normal}
table.checks-table{table-layout:fixed}table.checks-table th.c-outcome{width:92px}
table.checks-table th.c-check{width:34%}table.checks-table th.c-task{width:12%}
table.checks-table th.c-metric{width:14%}table.checks-table thead th{white-space:normal}
table.checks-table td,ul.checks code,.path,.runlabel{overflow-wrap:anywhere;word-break:break-word}
.baselines{margin:0 0 14px;font-size:13px;color:#334155}.baselines h3{font-size:13px;margin:0 0 4px}
.baselines ul{margin:0;padding-left:18px}.baselines li.warn{color:var(--amber);font-weight:600}
table.results tbody tr:hover,table.history tbody tr:hover{background:#f8fafc}
.scroll{overflow-x:auto}
.caption,.note{font-size:12px;color:var(--muted);margin:10px 0 0}
.pos{color:var(--green);font-weight:600}.neg{color:var(--red);font-weight:600}.zero{color:var(--muted)}
.arrow{color:var(--muted)}
.chip{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;margin:1px 2px;white-space:nowrap;
border:1px solid var(--line);background:#f8fafc;color:#334155}
.chip.regressed{background:var(--redbg);color:var(--red);border-color:#fecaca;font-weight:600}
.chip.improved{background:var(--greenbg);color:var(--green);border-color:#bbf7d0;font-weight:600}
.delta.regressed{color:var(--red);font-weight:600}.delta.improved{color:var(--green);font-weight:600}
.delta.steady{color:#475569}
table.compare{font-size:13px}table.compare th,table.compare td{padding:6px 8px}
table.compare .ci{display:block;font-size:11.5px}
table.compare tr.regressed{background:var(--redbg)}table.compare tr.improved{background:var(--greenbg)}
.tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:4px;background:#e2e8f0;color:#334155;
margin-left:4px;font-weight:500}
.two{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(360px,1fr);gap:24px;align-items:start}
@media (max-width:900px){.two{grid-template-columns:1fr}}
figure{margin:0}figure img{width:100%;height:auto;display:block;border-radius:6px}
figcaption{font-size:12px;color:var(--muted);margin-top:4px}
.notice{background:var(--amberbg);border:1px solid #fde68a;color:#78350f;padding:10px 12px;border-radius:8px;
margin:0;overflow-wrap:anywhere}
.flipcols{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-bottom:8px}
h4.up{color:var(--green)}h4.down{color:var(--red)}
.ids{margin:0;line-height:1.9}.ids a{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;
background:#eff6ff;padding:1px 6px;border-radius:4px;margin-right:2px;white-space:nowrap}
details>summary{cursor:pointer}
details.flips-more{margin-top:6px}details.flips-more>summary{color:#334155;font-size:13px}
details.q{border:1px solid var(--line);border-radius:8px;margin:6px 0;background:#fff}
details.q>summary{display:flex;gap:10px;align-items:center;padding:7px 12px;list-style:none;flex-wrap:wrap}
details.q>summary::-webkit-details-marker{display:none}
details.q>summary::before{content:"▸";color:var(--muted);width:10px}
details.q[open]>summary::before{content:"▾"}
details.q[open]>summary{border-bottom:1px solid var(--line);background:#f8fafc}
details.q:target{outline:2px solid var(--blue);outline-offset:1px}
.qid{color:#475569;font-size:12px}.qtext{flex:1;min-width:200px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.qstats{color:var(--muted);font-size:12px;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;font-size:11.5px;padding:1px 8px;border-radius:999px;white-space:nowrap;font-weight:600}
.badge.good{background:var(--greenbg);color:var(--green)}.badge.bad{background:var(--redbg);color:var(--red)}
.badge.warn{background:var(--amberbg);color:var(--amber)}.badge.neutral{background:#f1f5f9;color:#475569}
.qbody{padding:12px 14px;display:flex;flex-direction:column;gap:12px}
.qa{display:grid;grid-template-columns:2fr 1fr;gap:12px}
table.cands td{vertical-align:top}table.cands pre.cand{background:transparent;padding:0;max-height:260px}
table.cands tr.right{background:var(--greenbg)}table.cands tr.picked{box-shadow:inset 3px 0 0 var(--blue)}
th.tight,td.tight{width:1%;white-space:nowrap}
.ref{color:var(--muted)}
.mark-inline.pick{color:var(--blue)}.mark-inline.right{color:var(--green)}
.mark{display:block;font-size:12px;font-weight:600;white-space:nowrap}.mark.pick{color:var(--blue)}
.mark.right{color:var(--green)}
.choice .row{margin-bottom:6px}
.elided{color:var(--muted);font-style:italic}
details.prompt{margin:4px 0}details.prompt>summary{font-size:12.5px;color:#334155}
.shared{margin-bottom:10px}
details.judge>summary{font-size:12px;color:var(--muted)}
.nowrap{white-space:nowrap}
tr.latest{background:#f8fafc;font-weight:500}
footer{color:var(--muted);font-size:12px;padding:20px 0 40px;border-top:1px solid var(--line)}
"""
