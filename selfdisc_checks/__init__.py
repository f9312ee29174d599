"""selfdisc-checks: can a model pick the best of its own sampled answers?

Public API (everything else is private and may change):

- ``get_task(name, **options) -> Task`` and ``task_names()``; ``Task.load(limit)``, ``Task.score(example, text)``
- records: ``Example``, ``Prompt``, ``Candidate``, ``Choice``, ``QuestionResult``, ``TaskResult``
- ``evaluate_task(task, backend, cache, settings)`` with ``HFBackend``, ``Cache`` and ``Settings``
- ``task_metrics(questions)`` and the answer helpers ``extract_number``, ``parse_label``
- ``SelfDiscError``: every user-fixable problem, with a one-sentence message
"""

from selfdisc_checks.store.cache import Cache, cache_key
from selfdisc_checks.backends.checkpoint import Checkpoint, locate_checkpoint
from selfdisc_checks.discrimination.prompt import DiscriminationDemo, build_discrimination_prompt
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.scoring.numbers import extract_number
from selfdisc_checks.discrimination.parse import parse_label
from selfdisc_checks.metrics import task_metrics
from selfdisc_checks.pipeline import evaluate_task
from selfdisc_checks.records import Candidate, Choice, Example, Prompt, QuestionResult, TaskResult
from selfdisc_checks.settings import Settings
from selfdisc_checks.records import DecodeSpec
from selfdisc_checks.tasks import Task, get_task, task_names



def __getattr__(name: str):
    # The backend imports torch and transformers; load it on first use so the pytest plugin stays light.
    if name == "HFBackend":
        from selfdisc_checks.backends.hf import HFBackend

        return HFBackend
    raise AttributeError(f"module 'selfdisc_checks' has no attribute {name!r}")


__all__ = [
    "Cache",
    "Candidate",
    "Checkpoint",
    "Choice",
    "DecodeSpec",
    "DiscriminationDemo",
    "Example",
    "HFBackend",
    "Prompt",
    "QuestionResult",
    "SelfDiscError",
    "Settings",
    "Task",
    "TaskResult",
    "build_discrimination_prompt",
    "cache_key",
    "evaluate_task",
    "extract_number",
    "get_task",
    "locate_checkpoint",
    "parse_label",
    "task_metrics",
    "task_names",
]
