"""Migrations of older results documents to the current version, one step per version, chained.

Each step takes a document of version ``v`` (a parsed JSON object, not yet validated) and returns one of
version ``v + 1`` without changing its input; readers validate only the current version's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfdisc_checks.document.identity import records_identity
from selfdisc_checks.records import RESULTS_VERSION


def _v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 identifies each task's data by content: ``data`` is derived from the per-question records
    (digest, count) and the old ``options.data`` path or hub id (source)."""
    tasks = document.get("tasks")
    migrated = {**document, "version": 2}
    if isinstance(tasks, dict):
        migrated["tasks"] = {name: _task_v1_to_v2(task) for name, task in tasks.items()}
    return migrated


def _task_v1_to_v2(task: Any) -> Any:
    if not isinstance(task, dict) or "data" in task:
        return task  # malformed (validation names it), or already carries its identity
    options = task.get("options")
    source = options.get("data") if isinstance(options, dict) else None
    records = task.get("questions")
    # records that are no list get an empty identity: validation then names the records, not ``data``
    return {**task, "data": records_identity(records if isinstance(records, list) else [], source)}


# Every version before the current one has a step (a unit test holds this): any earlier file stays readable.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(document: dict[str, Any], version: int) -> dict[str, Any]:
    """``document`` (of ``version``) brought to ``RESULTS_VERSION`` through every step in between."""
    for step in range(version, RESULTS_VERSION):
        document = MIGRATIONS[step](document)
    return document
