"""The engine's checks of a run before any sampling: settings, data, outputs, checkpoints and the baseline.

Everything here raises ``SelfDiscError`` with one sentence, so the pytest plugin and ``python -m
selfdisc_checks run`` report a bad input once, before hours of work, not at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.backends.checkpoint import Checkpoint, locate_checkpoint
from selfdisc_checks.document.identity import data_identity
from selfdisc_checks.document.read import load_results
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import task_protocol
from selfdisc_checks.report.compare import check_comparable
from selfdisc_checks.session import build_task, fingerprint_memo
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.history import History
from selfdisc_checks.tasks import task_names
from selfdisc_checks.tasks.data import check_data_file


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
    if settings.backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise SelfDiscError("--backend ray needs Ray; pip install 'selfdisc-checks[ray]' (or ray) first.")
    if settings.judge_model:
        locate_checkpoint(
            settings.judge_model,
            memo=fingerprint_memo(settings),
            allow_pickle=settings.allow_pickle_weights,
            option="--judge-model",
        )
    if settings.baseline_model:
        locate_checkpoint(
            settings.baseline_model,
            memo=fingerprint_memo(settings),
            allow_pickle=settings.allow_pickle_weights,
            option="--baseline-model",
        )
    return (
        locate_checkpoint(settings.model, memo=fingerprint_memo(settings), allow_pickle=settings.allow_pickle_weights)
        if settings.model
        else None
    )


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
