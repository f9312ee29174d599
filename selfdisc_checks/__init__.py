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
- ``evaluate(model, tasks, **settings) -> Evaluation``: the engine without pytest (also
  ``python -m selfdisc_checks run``)
- ``SelfDiscError``: every user-fixable problem, with a one-sentence message
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it. Importing the package imports none of them: the pytest plugin is
# loaded into every pytest run of an environment and must cost nothing until a selfdisc check is collected.
_EXPORTS = {
    "Backend": "selfdisc_checks.backends.base",
    "BackendOptions": "selfdisc_checks.backends.registry",
    "Cache": "selfdisc_checks.store.cache",
    "Candidate": "selfdisc_checks.records",
    "Change": "selfdisc_checks.report.compare",
    "Checkpoint": "selfdisc_checks.backends.checkpoint",
    "Choice": "selfdisc_checks.records",
    "Completion": "selfdisc_checks.records",
    "DecodeSpec": "selfdisc_checks.records",
    "DiscriminationDemo": "selfdisc_checks.discrimination.prompt",
    "Evaluation": "selfdisc_checks.engine",
    "Example": "selfdisc_checks.records",
    "HFBackend": "selfdisc_checks.backends.hf",
    "History": "selfdisc_checks.store.history",
    "HistoryRun": "selfdisc_checks.records",
    "IncomparableResults": "selfdisc_checks.report.compare",
    "ParsedChoice": "selfdisc_checks.discrimination.parse",
    "Prompt": "selfdisc_checks.records",
    "QuestionResult": "selfdisc_checks.records",
    "Sampling": "selfdisc_checks.records",
    "ScriptedBackend": "selfdisc_checks.backends.scripted",
    "SelfDiscError": "selfdisc_checks.errors",
    "Settings": "selfdisc_checks.settings",
    "Task": "selfdisc_checks.tasks",
    "TaskResult": "selfdisc_checks.records",
    "build_discrimination_prompt": "selfdisc_checks.discrimination.prompt",
    "cache_key": "selfdisc_checks.store.cache",
    "compare_results": "selfdisc_checks.report.compare",
    "evaluate": "selfdisc_checks.engine",
    "evaluate_task": "selfdisc_checks.pipeline",
    "extract_number": "selfdisc_checks.scoring.numbers",
    "get_task": "selfdisc_checks.tasks",
    "locate_checkpoint": "selfdisc_checks.backends.checkpoint",
    "parse_choice": "selfdisc_checks.discrimination.parse",
    "parse_label": "selfdisc_checks.discrimination.parse",
    "read_choice": "selfdisc_checks.discrimination.parse",
    "task_metrics": "selfdisc_checks.metrics",
    "task_names": "selfdisc_checks.tasks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'selfdisc_checks' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
