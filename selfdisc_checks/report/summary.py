"""What a history of runs says about its latest run, and the short Markdown summary (summary.md) of it.

``analyse`` turns the runs into one ``Report``: per task of the latest run its metrics, the runs that
measured it (for the trend), and its comparison with a baseline (``compare_results`` on that task alone);
plus the latest run's check outcomes. Both the HTML page and ``summary.md`` are rendered from it, so the
two never disagree. The formatting helpers here are the single source of every number shown: a test can
re-derive each displayed cell from the results JSON with them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.metrics import unmeasured
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.report.compare import Change, compare_results
from selfdisc_checks.statistics import paired_difference

NAMES = {metric.name: metric.short for metric in registry.ALL}  # the short labels of narrow tables
# The headline of every view: what a generated-label run compares against its baseline (S_gen, S_disc, DG-DIFF).
HEADLINE = registry.select(compared=True, reported_by=registry.GENERATE)
# Rates of the picks and candidates that go wrong for reasons other than skill (an invalid pick, an output cut
# at the token limit): trended and compared beside the headline, lower is better.
RATES = registry.select(plotted=True, units=("rate",))
FAILED_OUTCOMES = frozenset({"failed", "error"})
REGRESSION_CHECK = "test_no_regression"


@dataclass(frozen=True)
class Comparison:
    """One task of the latest run against its baseline: the changes, or why there are none."""

    baseline: HistoryRun | None = None
    changes: tuple[Change, ...] = ()
    improved: frozenset[str] = frozenset()  # metrics that surely got better (beyond the tolerance)
    reason: str | None = None  # a sentence when there is no comparison
    rates: tuple[Change, ...] = ()  # RATES on the same shared questions; ``regressed``: the rate surely rose

    def change(self, metric: str) -> Change | None:
        return next((c for c in self.changes + self.rates if c.metric == metric), None)

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
    labels: Mapping[int, str] = field(default_factory=dict)  # id(run) -> its shown label (``run_labels``)

    @property
    def latest(self) -> HistoryRun:
        return self.runs[-1]

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [c for c in self.checks or () if c.get("outcome") in FAILED_OUTCOMES]

    @property
    def regressions(self) -> list[Change]:
        return [c for t in self.tasks for c in t.comparison.changes + t.comparison.rates if c.regressed]

    def label(self, run: HistoryRun) -> str:
        """The run's label as shown: short for a checkpoint path (the full label is ``run.label``)."""
        return self.labels.get(id(run), run.label)

    @property
    def check_baselines(self) -> tuple[str, ...]:
        """What this run's regression checks compared with (``--baseline`` or ``--baseline-model``, as the
        check messages name it), from the latest run's check records; () when none compared anything."""
        found = [
            str(c["baseline"])
            for c in self.checks or ()
            if c.get("name") == REGRESSION_CHECK and c.get("baseline") not in (None, "")
        ]
        return tuple(dict.fromkeys(found))

    def page_baseline(self) -> str:
        """What the page's changes (arrows, flips, the "Against" tables) are measured against."""
        if self.explicit_baseline is not None:
            base = self.explicit_baseline
            note = baseline_note(base)
            return f"the baseline {base.label}" + (f" ({note})" if note else "")
        compared = [(t.name, t.comparison.baseline) for t in self.tasks if t.comparison.baseline is not None]
        if not compared:
            return "nothing: no earlier run in the history measured these tasks the same way"
        runs = {id(run): run for _, run in compared}
        if len(runs) == 1:
            (run,) = runs.values()
            return f"the nearest earlier run in the history measured the same way, {self.run_title(run)}"
        each = "; ".join(f"{name}: {self.run_title(run)}" for name, run in compared)
        return f"per task, the nearest earlier run in the history measured the same way ({each})"

    def check_baseline(self) -> str | None:
        """What the regression checks compared with, or None when the run holds no check outcomes."""
        if self.checks is None:
            return None
        found = self.check_baselines
        if not found:
            return "nothing: no --baseline or --baseline-model was given"
        return "the baseline " + " and ".join(found)

    def baselines_differ(self) -> bool:
        """Whether the page compares with something else than what the regression checks compared with."""
        found = self.check_baselines
        if not found:
            return False
        if self.explicit_baseline is None:
            return True
        return os.path.normpath(self.explicit_baseline.label) not in {os.path.normpath(f) for f in found}

    def run_title(self, run: HistoryRun) -> str:
        """``step-1000 (#3, 2026-11-30 14:10 UTC)``: a history run named in a sentence."""
        note = baseline_note(run)
        return f"{self.label(run)} ({note})" if note else self.label(run)


def stopped_at(task: dict[str, Any]) -> str | None:
    """Where ``--stop-when-decided`` stopped a task: ``312/1319 decided``, or ``1319/1319`` when its checks
    needed every question; None for a task run whole."""
    record = task.get("sequential")
    if not isinstance(record, dict):
        return None
    shown = f"{record.get('questions_run')}/{record.get('questions_available')}"
    return f"{shown} decided" if record.get("decided") else shown


def stop_line(task: dict[str, Any]) -> str | None:
    """Where and why ``--stop-when-decided`` stopped a task, for a report: ``stopped after 312 of 1319
    questions: every gated check decided``; None for a task run whole."""
    record = task.get("sequential")
    if not isinstance(record, dict):
        return None
    run, available = record.get("questions_run"), record.get("questions_available")
    verb = "stopped after" if run != available else "ran all"
    shown = f"{verb} {run} of {available} questions" if run != available else f"ran all {available} questions"
    needs = record.get("needs_every_question") or []
    why = f"{', '.join(needs)} in mode point needs every question" if needs else record.get("stopped_because", "")
    return f"{shown}: {why} (--stop-when-decided)"


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
    return Report(runs, tuple(reports), checks, level, tolerance, baseline, others, run_labels(runs))


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
    improved = {c.metric for c in reverse if c.regressed}
    rates = rate_changes(name, baseline.document["tasks"][name], latest.document["tasks"][name], tolerance, level)
    improved |= {c.metric for c in rates if _fell(c)}
    return Comparison(baseline, tuple(changes), frozenset(improved), rates=rates)


def rate_changes(
    name: str, old: dict[str, Any], new: dict[str, Any], tolerance: float, level: float
) -> tuple[Change, ...]:
    """How each of ``RATES`` moved between two comparable results of task ``name``, paired by question id on
    the questions both scored (as ``compare_results`` pairs them). A rate is lower-is-better, so ``regressed``
    is the mirror of the regression rule: the one-sided lower bound of new - old is above +tolerance."""
    before, after = _rate_values(old), _rate_values(new)
    shared = [qid for qid in before if qid in after]
    changes = []
    for metric in RATES:
        if any(number(_object(side.get("metrics")).get(metric.name)) is None for side in (old, new)):
            continue  # a rate a run did not report (a 0.1.0 file) is not compared either
        pairs: list[tuple[float, float, str]] = []
        for qid in shared:
            a, b = before[qid][metric.name], after[qid][metric.name]
            if a is not None and b is not None:
                pairs.append((a, b, qid))
        if not pairs or len(pairs) < len(shared):
            continue  # a rate one run did not record for every shared question is not compared
        olds, news = [a for a, _, _ in pairs], [b for _, b, _ in pairs]
        rise = paired_difference(olds, news, level=level)
        fall = paired_difference(news, olds, level=level)  # old - new: its upper bound below -tol means a sure rise
        changes.append(
            Change(
                task=name,
                metric=metric.name,
                old=math.fsum(olds) / len(olds),
                new=math.fsum(news) / len(news),
                difference=rise.difference,
                interval=rise.interval,
                upper_bound=rise.upper_one_sided,
                regressed=fall.upper_one_sided < -tolerance,
                n=len(pairs),
                flipped={
                    "fixed": [qid for a, b, qid in pairs if b < a - 1e-9],
                    "broke": [qid for a, b, qid in pairs if b > a + 1e-9],
                },
                level=level,
                tolerance=tolerance,
            )
        )
    return tuple(changes)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _fell(change: Change) -> bool:
    """A rate that surely fell (the regression rule applied to new - old as it stands)."""
    return change.upper_bound < -change.tolerance


def _rate_values(task: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per scored question id, its share of each rate: 1/0 for an invalid or truncated pick, the share of its
    candidates cut at the token limit (None where the record does not say)."""
    found: dict[str, dict[str, float | None]] = {}
    for record in task.get("questions") or []:
        if not isinstance(record, dict):
            continue
        candidates = [c for c in record.get("candidates") or [] if isinstance(c, dict)]
        if any(c.get("score", 0) is None for c in candidates):
            continue  # out of the metrics, as in compare_results
        choice = record.get("choice")
        values: dict[str, float | None] = {metric.name: None for metric in RATES}
        if isinstance(choice, dict):
            values["invalid_rate"] = 0.0 if choice.get("valid", choice.get("index") is not None) else 1.0
            values["truncated_rate"] = 1.0 if choice.get("truncated") else 0.0
        if candidates:
            values["candidates_truncated_rate"] = sum(bool(c.get("truncated")) for c in candidates) / len(candidates)
        found[str(record.get("id"))] = values
    return found


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


def arrow(verdict: str, difference: float) -> str:
    """Which way a compared value moved: → within noise, else ↑ or ↓ as the value went (for S_gen, S_disc and
    DG-DIFF that is ``ARROWS``; a rate that fell, an improvement, is ↓ in green)."""
    if verdict == "steady":
        return ARROWS["steady"]
    return "↑" if difference > 0 else "↓"


def rate_difference(value: float) -> str:
    """A change of a rate, signed, in percentage points (rates stay in percent on graded tasks too)."""
    return fixed(100 * value, 1, True)


def change_text(metrics: dict[str, Any], change: Change) -> str:
    """A change against the baseline as shown: points (rating points on a graded task's levels)."""
    return (
        rate_difference(change.difference) if _is_rate(change.metric) else difference_shown(metrics, change.difference)
    )


def value_text(metrics: dict[str, Any], name: str, value: Any = None) -> str:
    """A level, difference or rate as the tables show it: rates in percent, the rest as ``show``."""
    if _is_rate(name):
        return percent(metrics.get(name) if value is None else value)
    return show(metrics, name, value)


def _is_rate(name: str) -> bool:
    declared = registry.find(name)
    return declared is not None and declared.unit == "rate"


def duration(seconds: Any) -> str:
    """How long something took, read at a glance: ``8.4 s``, ``42 s``, ``12 min 5 s``, ``1 h 3 min``."""
    found = number(seconds)
    if found is None or found < 0:
        return "–"
    if found < 9.95:
        return f"{found:.1f} s"
    whole = round(found)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(round(found / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


_SEPARATORS = re.compile(r"[\\/]+")


def run_labels(runs: Sequence[HistoryRun]) -> dict[int, str]:
    """Each run's shown label, keyed by ``id(run)``. A label that defaulted to the model id (no --run-label)
    and is a path is cut to its last folder, the checkpoint's name (``step-1000``), with as many parent folders
    as it takes to tell two different paths apart (``a/step-1000``, ``b/step-1000``); other labels stay."""
    parts: dict[str, list[str]] = {}
    for run in runs:
        if run.label == model_id(run) and _SEPARATORS.search(run.label):
            found = [part for part in _SEPARATORS.split(run.label) if part not in ("", ".")]
            if found:
                parts[run.label] = found
    depth = dict.fromkeys(parts, 1)
    while True:
        shown = {full: "/".join(found[-depth[full] :]) for full, found in parts.items()}
        counts: dict[str, int] = {}
        for text in shown.values():
            counts[text] = counts.get(text, 0) + 1
        grow = [full for full in parts if counts[shown[full]] > 1 and depth[full] < len(parts[full])]
        if not grow:
            break
        for full in grow:
            depth[full] += 1
    return {id(run): shown.get(run.label, run.label) for run in runs}


def baseline_note(run: HistoryRun) -> str:
    """``#3, 2026-11-30 14:10 UTC`` (a history run) or the model and time of a baseline file."""
    bits = []
    if run.run_id > 0:
        bits.append(f"#{run.run_id}")
    elif model_id(run) != run.label:
        bits.append(f"model {model_id(run)}")
    if run.timestamp:
        bits.append(f"run {when(run.timestamp)}" if run.run_id <= 0 else when(run.timestamp))
    return ", ".join(bits)


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
        f"### selfdisc-checks: {markdown_text(model_id(latest))} · run {markdown_text(report.label(latest))} "
        f"({when(latest.timestamp)})",
        "",
    ]
    rates = shown_rates(report)
    if report.tasks:
        shown = [*HEADLINE, *rates]
        lines += [
            f"| task | n | {' | '.join(metric.short for metric in shown)} | p | baseline |",
            f"| --- | ---: | {'---: | ' * len(shown)}---: | --- |",
        ]
    else:
        lines.append("This run holds no task results.")
    for task in report.tasks:
        m = task.metrics
        cells = [markdown_text(task.name), stopped_at(task.data) or str(m.get("n", "–"))]
        for metric in [*HEADLINE, *rates]:
            why = unmeasured(m, metric.name)  # a DG-DIFF not measured is n/a, not a precise-looking +0.0
            cells.append(f"n/a ({why})" if why is not None else _markdown_cell(task, metric.name))
        found = p_value(m)
        cells.append(show_p(found[1]) if found else "–")
        comparison = task.comparison
        cells.append(
            markdown_text(report.label(comparison.baseline))
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
            f"{' (rating points when graded)' if graded else ''}"
            f"{'; invalid and truncated picks (and truncated candidates) in %' if rates else ''}. In brackets, the "
            f"change against the baseline: ↑/↓ beyond the {report.level:.0%} one-sided bound (tolerance "
            f"{report.tolerance:g}), → within noise; **bold**: a regression.",
        ]
    lines += ["", *(f"- {line}" for line in baseline_lines(report, markdown=True))]
    lines += ["", status_line(report, markdown=True)]
    failing = report.failing
    if failing:
        lines.append("")
        for check in failing:
            message = str(check.get("message") or "").strip().splitlines()
            lines.append(f"- {markdown_code(check_title(check))}: {markdown_text(message[0]) if message else 'failed'}")
    lines += ["", f"Full report: {report_name} (trend plots, comparison, per-question drill-down)."]
    return "\n".join(lines) + "\n"


def shown_rates(report: Report) -> list[registry.Metric]:
    """The RATES some task of the latest run measured (a results file of 0.1.0 may lack some)."""
    return [metric for metric in RATES if any(number(t.metrics.get(metric.name)) is not None for t in report.tasks)]


def baseline_lines(report: Report, markdown: bool = False) -> list[str]:
    """Which baseline each comparison uses, said explicitly: the page's changes, then the regression checks,
    and a warning when the two are not the same."""
    text = markdown_text if markdown else str
    lines = [f"Changes on this page are against {text(report.page_baseline())}."]
    checks = report.check_baseline()
    if checks is not None:
        lines.append(f"This run's regression checks compared with {text(checks)}.")
    if report.baselines_differ():
        files = " ".join(report.check_baselines)
        command = markdown_code(f"report --baseline {files}") if markdown else f"report --baseline {files}"
        lines.append(
            "These are two different baselines, so the arrows here need not agree with the regression checks; "
            f"{command} compares the page with the checks' baseline (when it is a results file)."
        )
    return lines


def _markdown_cell(task: TaskReport, name: str) -> str:
    m = task.metrics
    if _is_rate(name):
        text = percent(m.get(name))
    else:
        text = show(m, name) + ("" if registry.is_difference(name) or m.get(name) is None else unit(m))
    verdict = task.comparison.verdict(name)
    if verdict is None:
        return text
    change = task.comparison.change(name)
    assert change is not None
    cell = f"{text} ({arrow(verdict, change.difference)} {change_text(m, change)})"
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
