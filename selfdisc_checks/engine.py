"""The engine's checks of a run before any sampling: settings, data, outputs, checkpoints and the baseline.

Everything here raises ``SelfDiscError`` with one sentence, so the pytest plugin and ``python -m
selfdisc_checks run`` report a bad input once, before hours of work, not at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.document.identity import data_identity
from selfdisc_checks.document.read import load_results
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import task_protocol
from selfdisc_checks.report.compare import check_comparable
from selfdisc_checks.session import build_task, locate_model, model_specs
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.history import History
from selfdisc_checks.tasks import task_names
from selfdisc_checks.tasks.data import check_data_file

if TYPE_CHECKING:
    from selfdisc_checks.pipeline import Progress
    from selfdisc_checks.records import TaskResult
    from selfdisc_checks.verdicts import Decision, Planned


def validate(settings: Settings) -> Checkpoint | None:
    """Catch bad input before any test runs: unknown tasks or task options, missing data files, a model
    that is not there."""
    known = task_names(settings.task_modules, settings.task_definitions)
    for name in [*settings.tasks, *settings.data, *settings.task_options]:
        if name not in known:
            raise SelfDiscError(f"Unknown task {name!r}; choose from: {', '.join(known)}.")
    for name, path in settings.data.items():
        check_data_file(Path(path), name)
    check_outputs(settings)
    for name in settings.tasks:
        task = build_task(settings, name)  # constructors check their options; no data is read here
        if task.needs_judge and not settings.judge_model:
            raise SelfDiscError(
                f"Task {name!r} is graded by a judge model; pass --judge-model PATH_OR_ID (the model under test may "
                "judge itself, which the results flag)."
            )
    if "ray" in (settings.backend, settings.judge_backend):
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise SelfDiscError("--backend ray needs Ray; pip install 'selfdisc-checks[ray]' (or ray) first.")
    specs = model_specs(settings)
    located = {role: locate_model(settings, specs[role]) for role in ("judge", "baseline", "model") if role in specs}
    return located.get("model")


def check_outputs(settings: Settings) -> None:
    """Output paths that cannot work are refused before hours of sampling, not at the end of the run."""
    for flag, path, folder in (
        ("--results-json", settings.results_json, False),
        ("--history", settings.history, False),
        ("--report-dir", settings.report_dir, True),
    ):
        if path is None:
            continue
        target = Path(path)
        if folder and target.exists() and not target.is_dir():
            raise SelfDiscError(f"{flag} {path} is a file; pass a folder for report.html, summary.md and the plots.")
        if not folder and target.is_dir():
            raise SelfDiscError(f"{flag} {path} is a folder; pass a file path inside it.")
    if settings.history and Path(settings.history).is_file():
        History(settings.history).close()  # a file that is not a history is named now (nothing is written to it)


def load_baseline(path: str) -> dict[str, Any]:
    """The baseline results document (migrated to the current version and validated), or one sentence
    naming the file and what is wrong with it."""
    return load_results(path, f"--baseline {path}")


def check_baseline_comparable(settings: Settings, baseline: dict[str, Any]) -> None:
    """Refuse a baseline that measured its tasks differently (protocol, options or questions) before any
    sampling: hours of sampling must not end in "cannot compare". The questions are compared by content
    (their digest), so the same data file at another path is comparable."""
    for name in settings.tasks:
        if name not in baseline["tasks"]:
            continue
        task = build_task(settings, name)
        options = task.describe()
        examples = task.load(settings.limit)
        planned = {
            "options": options,
            "protocol": task_protocol(task, settings),
            "data": data_identity(((ex.id, ex.question, ex.reference) for ex in examples), options.get("data")),
            "questions": [{"id": ex.id, "question": ex.question, "reference": ex.reference} for ex in examples],
        }
        try:
            check_comparable(name, baseline["tasks"][name], planned)
        except SelfDiscError as error:
            raise SelfDiscError(f"--baseline {settings.baseline}: {error}") from None


def load_data(settings: Settings) -> None:
    """Read every task's questions now, so a data error is one sentence before any check runs."""
    for name in settings.tasks:
        build_task(settings, name).load(settings.limit)


def write_outputs(
    settings: Settings,
    document: dict[str, Any],
    baseline: dict[str, Any] | None,
    interrupted: bool,
    lines: list[str],
) -> None:
    """Write the results JSON, the history row and the report a run asked for, each whole or not at all, and
    say in ``lines`` what was written (an interrupted or incomplete run is not added to the history)."""
    from selfdisc_checks.records import HistoryRun
    from selfdisc_checks.report.results import write_json_atomically

    run = document.get("run") or {}
    if settings.results_json:
        write_json_atomically(Path(settings.results_json), document)
        lines.append(f"results written to {settings.results_json}")
    runs = [HistoryRun(0, settings.run_label or str(document["model"].get("id", "?")), run["started_at"], document)]
    if settings.history:
        missing = [name for name in settings.tasks if name not in document["tasks"]]
        if interrupted or missing:
            why = "it was interrupted" if not missing else f"{', '.join(missing)} could not be evaluated"
            lines.append(f"not added to the history {settings.history}: {why} (a history keeps whole runs only)")
        else:
            with History(settings.history) as history:
                run_id = history.append(document)
                runs = history.for_report()
            lines.append(f"run {run_id} appended to the history {settings.history} ({_runs(len(runs))})")
    if settings.report_dir:
        from selfdisc_checks.report.html import write_report  # matplotlib loads only when a report is asked for

        paths = write_report(
            runs,
            Path(settings.report_dir),
            level=settings.level,
            baseline=(  # named as the regression checks' messages name it: the file or checkpoint given
                HistoryRun(
                    -1,
                    settings.baseline or settings.baseline_model or "baseline",
                    (baseline.get("run") or {}).get("started_at", ""),
                    baseline,
                )
                if baseline is not None
                else None
            ),
        )
        lines.append(f"report written to {paths[0]}")


def _runs(count: int) -> str:
    return "1 run" if count == 1 else f"{count} runs"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``run_evaluation``; ``stored`` is how many candidates the run had stored by then (what a
    rerun reuses). Still a ``KeyboardInterrupt``, so callers that catch that keep working."""

    def __init__(self, stored: int) -> None:
        super().__init__(stored)
        self.stored = stored


def interrupted_line(cache_dir: str | Path, stored: int) -> str:
    """The one line an interrupted run ends with (the pytest plugin and ``run`` alike)."""
    candidates = "1 candidate" if stored == 1 else f"{stored} candidates"
    return (
        f"[selfdisc] interrupted: every finished question's candidates are in the cache {cache_dir} ({candidates} "
        "stored by this run); rerun the same command to continue from there."
    )


@dataclass
class Evaluation:
    """What one run measured and decided: per-task results, every shipped check's outcome, and the results
    document (``--results-json``) built from them."""

    settings: Settings
    results: dict[str, TaskResult]
    checks: list[dict[str, Any]]
    document: dict[str, Any]
    outputs: list[str] = field(default_factory=list)  # what was written, one line each

    @property
    def passed(self) -> bool:
        """No check failed or could not run (skipped checks do not fail a gate)."""
        return all(check["outcome"] in ("passed", "skipped") for check in self.checks)


def settings_for(model: str | None, tasks: Any, project: str | Path | None, options: dict[str, Any]) -> Settings:
    """Settings from keyword options spelled as ``[tool.selfdisc]`` keys, over the ``[tool.selfdisc]`` table of
    ``project``/pyproject.toml when given (paths there are relative to it)."""
    from selfdisc_checks.settings import read_pyproject, resolve_settings

    table, base = read_pyproject(Path(project)) if project is not None else ({}, Path.cwd())
    table = {**table, **{key: value for key, value in options.items() if value is not None}}
    if model is not None:
        table["model"] = str(model)
    if tasks is not None:
        table["tasks"] = [tasks] if isinstance(tasks, str) else list(tasks)
    cli = {"model": str(model)} if model is not None else {}  # as given, not relative to the project
    return resolve_settings(cli, table, base)


def evaluate(
    model: str | Path | None = None,
    tasks: str | Sequence[str] | None = None,
    *,
    project: str | Path | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> Evaluation:
    """Measure ``tasks`` on ``model`` and decide every shipped check, without pytest.

    ``options`` are ``[tool.selfdisc]`` keys (``limit=20``, ``samples=4``, ``thresholds={...}``, ...); with
    ``project``, its pyproject.toml's table is read first. Writes what the settings ask for (results JSON,
    history, report). Bad input raises ``SelfDiscError`` before any sampling.
    """
    return run_evaluation(settings_for(None if model is None else str(model), tasks, project, options), progress)


def run_evaluation(settings: Settings, progress: Progress | None = None, write: bool = True) -> Evaluation:
    """The whole run of ``settings``: check the input, evaluate every task, decide the checks, write outputs."""
    import time

    from selfdisc_checks.report.compare import METRICS as COMPARED_METRICS
    from selfdisc_checks.report.results import results_document, run_record, task_result_json
    from selfdisc_checks.session import EvaluationSession
    from selfdisc_checks.verdicts import CHECK_FILES, REGRESSION_CHECK, decide_family, plan_regression, plan_threshold

    checkpoint = validate(settings)
    load_data(settings)
    baseline = load_baseline(settings.baseline) if settings.baseline else None
    if baseline is not None:
        check_baseline_comparable(settings, baseline)
    refresh_before = time.time() if settings.refresh_cache else None
    session = EvaluationSession(settings, refresh_before, checkpoint)
    baseline_model = BaselineModel(settings, refresh_before) if settings.baseline_model else None
    if settings.stop_when_decided:
        from selfdisc_checks.stopping import Stopping

        session.stopping = Stopping(settings, baseline, baseline_model.session if baseline_model else None)
    checks: list[dict[str, Any]] = []
    try:
        planned: list[tuple[str, Planned] | dict[str, Any]] = []  # in order: (id, check to decide) or an error
        for name in settings.tasks:
            try:
                result = session.result(name, progress)
            except SelfDiscError as error:
                for file, table in CHECK_FILES.items():
                    planned += [_error_entry(file, check, name, metric, error) for check, metric in table.items()]
                continue
            for file, table in CHECK_FILES.items():
                for check, metric in table.items():
                    planned.append((_check_id(file, check, name), plan_threshold(result, settings, metric)))
            current = results_document(session.model_json(), settings.to_json(), {name: task_result_json(result)})
            for metric in COMPARED_METRICS:
                file, check = REGRESSION_CHECK
                check_id = _check_id(file, check, f"{name}-{metric}")
                try:
                    if baseline_model is not None:
                        baseline = baseline_model.document(name, progress)
                    planned.append((check_id, plan_regression(result, settings, metric, baseline or {}, current)))
                except SelfDiscError as error:
                    planned.append(_error_entry(file, check, f"{name}-{metric}", metric, error, task=name))
        decisions = decide_family([entry[1] for entry in planned if isinstance(entry, tuple)], settings)
        for entry in planned:
            if isinstance(entry, tuple):
                check_id, check_plan = entry
                entry = check_entry(check_id, check_plan.task, decisions[check_plan.key], check_plan.metric)
            checks.append(entry)
        run = run_record(session.started, time.time(), session.backend_json())
        if settings.run_label:
            run["label"] = settings.run_label
        model = session.model_json()
        document = results_document(model, settings.to_json(), session.tasks_json(), run)
        document["checks"] = checks
        evaluation = Evaluation(settings, dict(session.results), checks, document)
        if write and (settings.results_json or settings.history or settings.report_dir):
            old_document = baseline_model.evaluated() if baseline_model is not None else baseline
            write_outputs(settings, document, old_document, False, evaluation.outputs)
        return evaluation
    except KeyboardInterrupt:
        raise Interrupted(session.stored_candidates()) from None  # read before the cache closes
    finally:
        session.close()
        if baseline_model is not None:
            baseline_model.close()


def _check_id(file: str, check: str, params: str) -> str:
    """The check's id as a ``pytest --pyargs selfdisc_checks.checks`` run from this repository names it."""
    return f"selfdisc_checks/checks/{file}::{check}[{params}]"


def check_entry(check_id: str, task: str, decision: Decision, metric: str | None) -> dict[str, Any]:
    """One check's record in the results document (``checks``), the same shape the pytest plugin writes."""
    values = dict(decision.properties)
    verdict = decision.verdict
    outcome = "skipped" if verdict.skipped else "passed" if verdict.passed else "failed"
    values.pop("message", None)
    return check_record(check_id, task, metric, outcome, verdict.message, values)


def check_record(
    check_id: str, task: str, metric: str | None, outcome: str, message: str | None, values: dict[str, Any]
) -> dict[str, Any]:
    """A check's record from its properties (value, interval, threshold and the rest, None left out)."""
    values = {name: value for name, value in values.items() if name not in ("task", "metric")}
    low, high = values.pop("ci_low", None), values.pop("ci_high", None)
    threshold = values.pop("threshold", None)
    side, mode = values.pop("side", None), values.pop("mode", None)
    return {
        "id": check_id,
        "name": check_id.split("::")[-1].split("[")[0],
        "task": task,
        "metric": metric,
        "outcome": outcome,
        "message": message,
        "value": values.pop("value", None),
        "interval": [low, high] if low is not None else None,
        "threshold": {"bound": threshold, "side": side, "mode": mode} if threshold is not None else None,
        **values,
    }


def _error_entry(
    file: str, check: str, params: str, metric: str, error: SelfDiscError, task: str | None = None
) -> dict[str, Any]:
    return check_record(_check_id(file, check, params), task or params, metric, "error", str(error), {})


class BaselineModel:
    """The ``--baseline-model``: the previous release evaluated in this run with the same settings (its own
    cache keys), as results documents the regression checks compare against. One class for the plugin and
    ``run``: the baseline is the session's baseline role, not a second run with rewritten settings."""

    def __init__(self, settings: Settings, refresh_before: float | None, worker: str | None = None) -> None:
        from dataclasses import replace

        from selfdisc_checks.session import EvaluationSession

        self.session = EvaluationSession(settings, refresh_before, worker=worker, role="baseline")
        # What the baseline's document records as its settings: the run's, with the baseline as the model.
        self.settings_json = replace(settings, model=settings.baseline_model, baseline_model=None).to_json()

    def document(self, task: str, progress: Progress | None = None) -> dict[str, Any]:
        """The baseline's results document for ``task``, evaluated on first use."""
        from selfdisc_checks.report.results import results_document, task_result_json

        result = self.session.result(task, progress)
        return results_document(self.session.model_json(), self.settings_json, {task: task_result_json(result)})

    def evaluated(self) -> dict[str, Any] | None:
        """The baseline's results on every task evaluated so far (for the report), or None."""
        from selfdisc_checks.report.results import results_document

        if not self.session.results:
            return None
        return results_document(self.session.model_json(), self.settings_json, self.session.tasks_json())

    def close(self) -> None:
        self.session.close()
