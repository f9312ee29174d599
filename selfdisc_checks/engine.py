"""The engine's checks of a run before any sampling: settings, data, outputs, checkpoints and the baseline.

Everything here raises ``SelfDiscError`` with one sentence, so the pytest plugin and ``python -m
selfdisc_checks run`` report a bad input once, before hours of work, not at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import task_protocol
from selfdisc_checks.report.compare import check_comparable, results_tasks
from selfdisc_checks.session import build_task, locate_model, model_specs
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
    """The baseline results document, or one sentence saying why it cannot be used."""
    import json

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SelfDiscError(
            f"Cannot read the baseline {path} ({error.strerror}); pass a results JSON to --baseline."
        ) from None
    except ValueError:
        raise SelfDiscError(f"The baseline {path} is not JSON; pass a file written by --results-json.") from None
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), dict):
        raise SelfDiscError(f"The baseline {path} is not a results document; pass a file written by --results-json.")
    try:
        results_tasks(document, "baseline")  # its version and shape, before any sampling
    except SelfDiscError as error:
        raise SelfDiscError(f"--baseline {path}: {error}") from None
    return document


def check_baseline_comparable(settings: Settings, baseline: dict[str, Any]) -> None:
    """Refuse a baseline that measured its tasks differently (protocol, options or questions) before any
    sampling: hours of sampling must not end in "cannot compare"."""
    for name in settings.tasks:
        if name not in baseline["tasks"]:
            continue
        task = build_task(settings, name)
        planned = {
            "options": task.describe(),
            "protocol": task_protocol(task, settings),
            "questions": [
                {"id": ex.id, "question": ex.question, "reference": ex.reference} for ex in task.load(settings.limit)
            ],
        }
        try:
            check_comparable(name, baseline["tasks"][name], planned)
        except SelfDiscError as error:
            raise SelfDiscError(f"--baseline {settings.baseline}: {error}") from None
