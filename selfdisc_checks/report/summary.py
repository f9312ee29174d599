"""What a history of runs says about its latest run, and the short Markdown summary (summary.md) of it.

``analyse`` turns the runs into one ``Report``: per task of the latest run its metrics, the runs that
measured it (for the trend), and its comparison with a baseline (``compare_results`` on that task alone);
plus the latest run's check outcomes. Both the HTML page and ``summary.md`` are rendered from it, so the
two never disagree. The formatting helpers here are the single source of every number shown: a test can
re-derive each displayed cell from the results JSON with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.metrics import unmeasured
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.report.compare import Change, compare_results

NAMES = {metric.name: metric.short for metric in registry.ALL}  # the short labels of narrow tables
# The headline of every view: what a generated-label run compares against its baseline (S_gen, S_disc, DG-DIFF).
HEADLINE = registry.select(compared=True, reported_by=registry.GENERATE)
FAILED_OUTCOMES = frozenset({"failed", "error"})


@dataclass(frozen=True)
class Comparison:
    """One task of the latest run against its baseline: the changes, or why there are none."""

    baseline: HistoryRun | None = None
    changes: tuple[Change, ...] = ()
    improved: frozenset[str] = frozenset()  # metrics whose one-sided lower bound is above +tolerance
    reason: str | None = None  # a sentence when there is no comparison

    def change(self, metric: str) -> Change | None:
        return next((c for c in self.changes if c.metric == metric), None)

    def verdict(self, metric: str) -> str | None:
        """ "regressed", "improved", "steady", or None when the metric was not compared."""
        change = self.change(metric)
        if change is None:
            return None
        return "regressed" if change.regressed else "improved" if metric in self.improved else "steady"


@dataclass(frozen=True)
class TaskReport:
    """One task of the latest run, with the runs that measured it (oldest first) for its trend."""

    name: str
    data: dict[str, Any]  # the latest document's task record
    history: tuple[tuple[HistoryRun, dict[str, Any]], ...]
    comparison: Comparison

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self.data.get("metrics")
        return metrics if isinstance(metrics, dict) else {}

    @property
    def questions(self) -> list[dict[str, Any]]:
        return [q for q in self.data.get("questions") or [] if isinstance(q, dict)]


@dataclass(frozen=True)
class Report:
    """Everything the report shows, computed once."""

    runs: tuple[HistoryRun, ...]
    tasks: tuple[TaskReport, ...]
    checks: tuple[dict[str, Any], ...] | None  # None: the latest document carries no check outcomes
    level: float
    tolerance: float
    explicit_baseline: HistoryRun | None = None
    other_tasks: tuple[str, ...] = ()  # in the history but not in the latest run

    @property
    def latest(self) -> HistoryRun:
        return self.runs[-1]

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [c for c in self.checks or () if c.get("outcome") in FAILED_OUTCOMES]

    @property
    def regressions(self) -> list[Change]:
        return [c for t in self.tasks for c in t.comparison.changes if c.regressed]


def analyse(
    runs: Sequence[HistoryRun], *, baseline: HistoryRun | None = None, level: float = 0.95, tolerance: float = 0.0
) -> Report:
    """The report of ``runs`` (oldest first; the last is the one reported on)."""
    runs = tuple(runs)
    if not runs:
        raise SelfDiscError("The report needs at least one run; pass the run to report on (and its history).")
    latest = runs[-1]
    tasks = _tasks(latest)
    reports = []
    for name, data in tasks.items():
        history = tuple((run, _tasks(run)[name]) for run in runs if name in _tasks(run))
        if baseline is not None:
            comparison = _against(name, latest, baseline, level, tolerance)
        else:
            comparison = _nearest(name, latest, runs[:-1], level, tolerance)
        reports.append(TaskReport(name, data, history, comparison))
    others = tuple(dict.fromkeys(n for run in runs[:-1] for n in _tasks(run) if n not in tasks))
    checks = latest.document.get("checks")
    checks = tuple(c for c in checks if isinstance(c, dict)) if isinstance(checks, list) else None
    return Report(runs, tuple(reports), checks, level, tolerance, baseline, others)


def _tasks(run: HistoryRun) -> dict[str, dict[str, Any]]:
    tasks = run.document.get("tasks")
    return {str(k): v for k, v in tasks.items() if isinstance(v, dict)} if isinstance(tasks, dict) else {}


def _only(document: dict[str, Any], task: str) -> dict[str, Any]:
    """The document with only ``task`` inside, so another task's difference cannot refuse this one."""
    return {**document, "tasks": {task: document["tasks"][task]}}


def _compare(name: str, latest: HistoryRun, baseline: HistoryRun, level: float, tolerance: float) -> Comparison:
    old, new = _only(baseline.document, name), _only(latest.document, name)
    changes = compare_results(old, new, None, tolerance, level)
    # The mirror image of the regression rule: new - old is above +tolerance with the same confidence.
    reverse = compare_results(new, old, [c.metric for c in changes], tolerance, level) if changes else []
    improved = frozenset(c.metric for c in reverse if c.regressed)
    return Comparison(baseline, tuple(changes), improved)


def _why(error: SelfDiscError) -> str:
    text = str(error)
    return text[len("Cannot compare: ") :] if text.startswith("Cannot compare: ") else text


def _against(name: str, latest: HistoryRun, baseline: HistoryRun, level: float, tolerance: float) -> Comparison:
    if name not in _tasks(baseline):
        return Comparison(baseline, reason=f"the baseline {baseline.label} has no {name} results")
    try:
        return _compare(name, latest, baseline, level, tolerance)
    except SelfDiscError as error:
        return Comparison(baseline, reason=f"not comparable with {baseline.label}: {_why(error)}")


def _nearest(
    name: str, latest: HistoryRun, earlier: Sequence[HistoryRun], level: float, tolerance: float
) -> Comparison:
    """The nearest earlier run that measured ``name`` the same way (same protocol, options, questions)."""
    refused = None
    for run in reversed(earlier):
        if name not in _tasks(run):
            continue
        try:
            return _compare(name, latest, run, level, tolerance)
        except SelfDiscError as error:
            refused = refused or f"not comparable with {run.label}: {_why(error)}"
    if refused is None:
        return Comparison(reason="no earlier run measured this task")
    return Comparison(reason=f"no earlier run measured it the same way; the nearest is {refused}")


# ---- numbers, formatted once for every view -------------------------------------------------------------


def scale(metrics: dict[str, Any]) -> tuple[float, float, float] | None:
    """(low, high, span) of a graded task's scale, or None for right/wrong tasks."""
    found = metrics.get("scale")
    if not isinstance(found, dict):
        return None
    try:
        low, high = float(found["low"]), float(found["high"])
    except (KeyError, TypeError, ValueError):
        return None
    return low, high, high - low


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (absent, null, a string, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def on_scale(metrics: dict[str, Any], name: str, value: Any = None) -> float | None:
    """A metric (or ``value`` of it, e.g. an interval bound) as shown: percent (points for differences) on a
    right/wrong task, the task's own scale (rating points for differences) on a graded one."""
    raw = number(metrics.get(name) if value is None else value)
    if raw is None:
        return None
    graded = scale(metrics)
    if graded is None:
        return 100 * raw
    recorded = metrics.get("on_scale")
    if value is None and isinstance(recorded, dict) and number(recorded.get(name)) is not None:
        return float(recorded[name])  # the run's own conversion, as its terminal table showed it
    low, _, span = graded
    return span * raw if registry.is_difference(name) else low + span * raw


def show(metrics: dict[str, Any], name: str, value: Any = None, signed: bool | None = None) -> str:
    """The text of a metric: ``44.4`` (percent) or ``6.41`` (rating); differences signed (``-9.4``)."""
    shown = on_scale(metrics, name, value)
    if shown is None:
        return "–"
    signed = registry.is_difference(name) if signed is None else signed
    return fixed(shown, 2 if scale(metrics) else 1, signed)


def fixed(value: float, digits: int, signed: bool) -> str:
    """``value`` to ``digits`` decimals; a value that rounds to zero is ``0.0`` (``+0.0``), never ``-0.0``."""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if float(text) == 0:
        text = ("+" if signed else "") + f"{0:.{digits}f}"
    return text


def unit(metrics: dict[str, Any]) -> str:
    """The unit of shown levels: "%" or "/10"."""
    graded = scale(metrics)
    return "%" if graded is None else f"/{graded[1]:g}"


def percent(value: Any) -> str:
    found = number(value)
    return "–" if found is None else f"{100 * found:.1f}%"


def p_value(metrics: dict[str, Any], suffix: str = "") -> tuple[str, float] | None:
    """(test name, p) of the one-sided DG-DIFF test, when the run has one."""
    found = metrics.get(f"p_value{suffix}")
    if not isinstance(found, dict):
        return None
    for test in ("mcnemar", "wilcoxon"):
        value = number(found.get(test))
        if value is not None:
            return test, value
    return None


def show_p(p: float) -> str:
    """``0.91``; small ones keep one significant digit (``0.004``), not a misleading ``0.00``."""
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1g}" if p > 0 else "0"


def difference_shown(metrics: dict[str, Any], value: float) -> str:
    """A difference between two runs' values of a metric, signed, in points (rating points when graded)."""
    graded = scale(metrics)
    return fixed(100 * value if graded is None else graded[2] * value, 2 if graded else 1, True)


ARROWS = {"improved": "↑", "regressed": "↓", "steady": "→"}


def when(timestamp: str) -> str:
    """``2026-11-30 14:10 UTC`` from an ISO 8601 time; the text itself when it is not one."""
    try:
        moment = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return str(timestamp)
    offset = moment.utcoffset()
    zone = " UTC" if offset is not None and offset.total_seconds() == 0 else ""
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def model_id(run: HistoryRun) -> str:
    """The run's model id, "?" when the document does not say (``HistoryRun.model_id`` without its trust)."""
    model = run.document.get("model")
    return str(model.get("id", "?")) if isinstance(model, dict) else "?"


def check_title(check: dict[str, Any]) -> str:
    """A check's pytest id, or its name and task when the id is missing."""
    found = check.get("id")
    if found:
        return str(found)
    return f"{check.get('name', '?')}[{check.get('task', '?')}]"


# ---- summary.md ----------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#~!"})


def markdown_text(text: Any) -> str:
    """Model or user text made inert in GitHub Markdown: specials escaped, one line."""
    return " ".join(str(text).split()).translate(_MARKDOWN_SPECIAL)


def markdown_code(text: str) -> str:
    """A pytest id as inline code (read as is), or escaped text when it holds a backtick or a line break."""
    flat = str(text)
    return f"`{flat}`" if flat.strip() and not any(c in flat for c in "`\n\r") else markdown_text(flat)


def render_markdown(report: Report, report_name: str = "report.html") -> str:
    """A pull-request comment: one row per task with arrows against the baseline, then the failing checks."""
    latest = report.latest
    lines = [
        f"### selfdisc-checks: {markdown_text(model_id(latest))} · run {markdown_text(latest.label)} "
        f"({when(latest.timestamp)})",
        "",
    ]
    if report.tasks:
        lines += [
            f"| task | n | {' | '.join(metric.short for metric in HEADLINE)} | p | baseline |",
            f"| --- | ---: | {'---: | ' * len(HEADLINE)}---: | --- |",
        ]
    else:
        lines.append("This run holds no task results.")
    for task in report.tasks:
        m = task.metrics
        cells = [markdown_text(task.name), str(m.get("n", "–"))]
        for metric in HEADLINE:
            why = unmeasured(m, metric.name)  # a DG-DIFF not measured is n/a, not a precise-looking +0.0
            cells.append(f"n/a ({why})" if why is not None else _markdown_cell(task, metric.name))
        found = p_value(m)
        cells.append(show_p(found[1]) if found else "–")
        comparison = task.comparison
        cells.append(
            markdown_text(comparison.baseline.label)
            if comparison.changes and comparison.baseline
            else markdown_text(comparison.reason or "–")
        )
        lines.append("| " + " | ".join(cells) + " |")
    if report.tasks:
        units = {unit(t.metrics) for t in report.tasks}
        graded = any(scale(t.metrics) for t in report.tasks)
        lines += [
            "",
            f"Levels in {' or '.join(sorted(units))}; DG-DIFF = S_disc - S_gen in points"
            f"{' (rating points when graded)' if graded else ''}. In brackets, the change against the baseline: "
            f"↑/↓ beyond the {report.level:.0%} one-sided bound (tolerance {report.tolerance:g}), → within "
            "noise; **bold**: a regression.",
        ]
    lines += ["", status_line(report, markdown=True)]
    failing = report.failing
    if failing:
        lines.append("")
        for check in failing:
            message = str(check.get("message") or "").strip().splitlines()
            lines.append(f"- {markdown_code(check_title(check))}: {markdown_text(message[0]) if message else 'failed'}")
    lines += ["", f"Full report: {report_name} (trend plots, comparison, per-question drill-down)."]
    return "\n".join(lines) + "\n"


def _markdown_cell(task: TaskReport, name: str) -> str:
    m = task.metrics
    text = show(m, name) + ("" if registry.is_difference(name) or m.get(name) is None else unit(m))
    verdict = task.comparison.verdict(name)
    if verdict is None:
        return text
    change = task.comparison.change(name)
    assert change is not None
    cell = f"{text} ({ARROWS[verdict]} {difference_shown(m, change.difference)})"
    return f"**{cell}**" if verdict == "regressed" else cell


def status_line(report: Report, markdown: bool = False) -> str:
    """ "All 12 checks passed" / "2 failing checks", and the regressions against the baseline."""
    failing = report.failing
    if report.checks is None:
        text = "No check outcomes recorded"
    elif failing:
        text = f"{len(failing)} failing check{'s' if len(failing) != 1 else ''}"
    else:
        ran = [c for c in report.checks if c.get("outcome") == "passed"]
        text = (
            f"All {len(ran)} checks passed"
            if len(ran) > 1
            else "1 check passed"
            if ran
            else f"No check failed ({len(report.checks)} skipped)"
            if report.checks
            else "No checks ran"
        )
    regressions = report.regressions
    if regressions:
        text += f" · {len(regressions)} metric{'s' if len(regressions) != 1 else ''} regressed against the baseline"
    if markdown:
        mark = "❌" if failing or regressions else "✅" if report.checks is not None else "ℹ️"
        return f"{mark} **{text}**"
    return text
