"""Tasks: the base class, one module per task, and the registry behind ``get_task``."""

from __future__ import annotations

from typing import Any, Callable

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.tasks.base import Task


def _registry() -> dict[str, Callable[..., Task]]:
    from selfdisc_checks.tasks.arithmetic import ArithmeticTask
    from selfdisc_checks.tasks.gsm8k import GSM8KTask

    return {"arithmetic": ArithmeticTask, "gsm8k": GSM8KTask}


def task_names() -> list[str]:
    """Names accepted by ``get_task`` and ``--tasks``."""
    return sorted(_registry())


def get_task(name: str, **options: Any) -> Task:
    """The task called ``name``, built with ``options`` (e.g. ``get_task("gsm8k", data="test.jsonl")``)."""
    factories = _registry()
    if name not in factories:
        raise SelfDiscError(f"Unknown task {name!r}; choose one of: {', '.join(sorted(factories))}.")
    try:
        return factories[name](**options)
    except TypeError as error:
        raise SelfDiscError(f"Task {name!r} does not accept these options ({error}).") from None
