"""Data identity by content: which questions a task ran, independent of where its data file lies.

The digest is the SHA-256 (lowercase hex) of the UTF-8 bytes of ``json.dumps([[id, question, reference],
...], ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` over the loaded questions in load order.
The same questions at another path (another runner, another checkout) give the same digest; one changed
reference gives another, and the questions are then compared one by one to say which.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def data_digest(questions: Iterable[tuple[str, str, str]]) -> str:
    """The digest of ``(id, question, reference)`` triples in load order."""
    canonical = json.dumps(
        [[qid, question, reference] for qid, question, reference in questions],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def data_identity(questions: Iterable[tuple[str, str, str]], source: str | None) -> dict[str, Any]:
    """A task's ``data`` record: digest, question count and (for people) where the questions came from."""
    triples = list(questions)
    return {"digest": data_digest(triples), "questions": len(triples), "source": source}


def records_identity(records: list[Any], source: Any) -> dict[str, Any]:
    """The ``data`` record derived from a task's per-question records (what a version-1 file holds)."""
    triples = [
        (r.get("id"), r.get("question"), r.get("reference")) if isinstance(r, dict) else (None, None, None)
        for r in records
    ]
    return data_identity(triples, source if isinstance(source, str) else None)  # type: ignore[arg-type]
