"""selfdisc-checks: can a model pick the best of its own sampled answers?

Public API (everything else is private and may change):

- ``get_task(name, **options) -> Task`` and ``task_names()``; ``Task.load(limit)``, ``Task.score(example, text)``
- records: ``Example``, ``Prompt``, ``Candidate``, ``Choice``, ``QuestionResult``, ``TaskResult``
- ``evaluate_task(task, backend, cache, settings)`` with ``HFBackend``, ``Cache`` and ``Settings``
- ``task_metrics(questions)`` and the answer helpers ``extract_number``, ``parse_label``
- ``SelfDiscError``: every user-fixable problem, with a one-sentence message
"""

from ._cache import Cache, cache_key
from ._checkpoint import Checkpoint, locate_checkpoint
from ._discrimination import DiscriminationDemo, build_discrimination_prompt
from ._errors import SelfDiscError
from ._extract import extract_number
from ._labels import parse_label
from ._metrics import task_metrics
from ._pipeline import evaluate_task
from ._records import Candidate, Choice, Example, Prompt, QuestionResult, TaskResult
from ._settings import Settings
from ._task import DecodeSpec, Task, get_task, task_names



def __getattr__(name: str):
    # The backend imports torch and transformers; load it on first use so the pytest plugin stays light.
    if name == "HFBackend":
        from ._backend import HFBackend

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
