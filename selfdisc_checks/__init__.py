"""selfdisc-checks: can a model pick the best of its own sampled answers?

Public API (everything else may change):

- ``get_task(name, **options) -> Task`` and ``task_names()``; ``Task.load(limit)``, ``Task.score(example, text)``
- ``parse_choice(output, n_options) -> int | None``: the option a discrimination output picks (0-based);
  ``read_choice`` gives the reason when there is none. ``parse_label`` is kept as an alias.
- records: ``Example``, ``Prompt``, ``Candidate``, ``Choice``, ``QuestionResult``, ``TaskResult``,
  ``DecodeSpec``, ``Sampling``, ``Completion``
- ``evaluate_task(task, backend, cache, settings)`` with ``HFBackend`` (or any ``Backend``, e.g. the torch-free
  ``ScriptedBackend``), ``Cache`` and ``Settings``; backends of ``--backend NAME`` come from the entry-point
  group ``selfdisc_checks.backends`` (factories ``(model, BackendOptions) -> Backend``)
- ``task_metrics(questions)`` and the answer helper ``extract_number``
- ``compare_results(old, new, metrics=None, tolerance=0.0, level=0.95)``: did a run regress against a
  baseline run (two parsed results documents)? Also ``python -m selfdisc_checks compare OLD NEW``.
- ``History(path)``: the append-only run history (``--history``); ``HistoryRun`` its records. The report:
  ``python -m selfdisc_checks report`` (``selfdisc_checks.report.html.write_report``)
- ``selfdisc_checks.checks``: the shipped checks, ``pytest --pyargs selfdisc_checks.checks``
- ``SelfDiscError``: every user-fixable problem, with a one-sentence message
"""

from selfdisc_checks.backends.base import Backend
from selfdisc_checks.backends.checkpoint import Checkpoint, locate_checkpoint
from selfdisc_checks.backends.registry import BackendOptions
from selfdisc_checks.backends.scripted import ScriptedBackend
from selfdisc_checks.discrimination.parse import ParsedChoice, parse_choice, parse_label, read_choice
from selfdisc_checks.discrimination.prompt import DiscriminationDemo, build_discrimination_prompt
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.metrics import task_metrics
from selfdisc_checks.pipeline import evaluate_task
from selfdisc_checks.records import (
    Candidate,
    Choice,
    Completion,
    DecodeSpec,
    Example,
    HistoryRun,
    Prompt,
    QuestionResult,
    Sampling,
    TaskResult,
)
from selfdisc_checks.report.compare import Change, IncomparableResults, compare_results
from selfdisc_checks.scoring.numbers import extract_number
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.cache import Cache, cache_key
from selfdisc_checks.store.history import History
from selfdisc_checks.tasks import Task, get_task, task_names


def __getattr__(name: str):
    # The backend imports torch and transformers; load it on first use so the pytest plugin stays light.
    if name == "HFBackend":
        from selfdisc_checks.backends.hf import HFBackend

        return HFBackend
    raise AttributeError(f"module 'selfdisc_checks' has no attribute {name!r}")


__all__ = [
    "Backend",
    "BackendOptions",
    "Cache",
    "Candidate",
    "Change",
    "Checkpoint",
    "Choice",
    "Completion",
    "DecodeSpec",
    "DiscriminationDemo",
    "Example",
    "HFBackend",
    "History",
    "HistoryRun",
    "IncomparableResults",
    "ParsedChoice",
    "Prompt",
    "QuestionResult",
    "Sampling",
    "ScriptedBackend",
    "SelfDiscError",
    "Settings",
    "Task",
    "TaskResult",
    "build_discrimination_prompt",
    "cache_key",
    "compare_results",
    "evaluate_task",
    "extract_number",
    "get_task",
    "locate_checkpoint",
    "parse_choice",
    "parse_label",
    "read_choice",
    "task_metrics",
    "task_names",
]
