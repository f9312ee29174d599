"""Reading a results document: parse, migrate an older version, validate, or say in one sentence why not.

Every reader (``--baseline``, ``compare``, ``history import``, the history's stored runs) goes through
``parse_results``, so a malformed file is refused where it is read, naming the file and the field, not
wherever a key happens to be missing first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selfdisc_checks.document.migrate import migrate
from selfdisc_checks.document.models import ResultsDocument
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import RESULTS_VERSION

_FIX = "pass an unedited file written by --results-json"

_NEEDS = {
    "string_type": "a string is required",
    "int_type": "a whole number is required",
    "bool_type": "true or false is required",
    "list_type": "a list is required",
    "dict_type": "an object is required",
    "model_type": "an object is required",
    "model_attributes_type": "an object is required",
    "string_pattern_mismatch": "a SHA-256 hex digest is required",
}


class MalformedResults(SelfDiscError):
    """A results document that cannot be read: not JSON, not a results document, malformed, or too new."""


def load_results(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """The results document in ``path``, migrated to the current version and validated. ``name`` starts the
    error sentence (default: ``The results file 'PATH'``)."""
    name = name or f"The results file {str(path)!r}"
    return parse_results(read_json(path, name), name)


def read_json(path: str | Path, name: str) -> Any:
    """The parsed JSON in ``path``, as written (no migration, no validation); ``name`` starts the error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MalformedResults(f"{name} does not exist; {_FIX}.") from None
    except IsADirectoryError:
        raise MalformedResults(f"{name} is a folder; {_FIX}.") from None
    except OSError as error:
        raise MalformedResults(f"{name} cannot be read ({error.strerror}); {_FIX}.") from None
    except UnicodeDecodeError:
        raise MalformedResults(f"{name} is not UTF-8 text; {_FIX}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedResults(f"{name} is not valid JSON (line {error.lineno}); {_FIX}.") from None


def parse_results(document: Any, name: str = "The results") -> dict[str, Any]:
    """``document`` (parsed JSON) brought to the current version and validated; the input is not changed.
    Raises ``MalformedResults`` with one sentence starting with ``name``."""
    if not isinstance(document, dict) or "tasks" not in document:
        raise MalformedResults(f"{name} is not a results document (no 'tasks' object); {_FIX}.")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MalformedResults(f"{name} has no valid results version (version: {_show(version)}); {_FIX}.")
    if version > RESULTS_VERSION:
        raise MalformedResults(
            f"{name} has results version {version}, newer than this selfdisc-checks reads (up to "
            f"{RESULTS_VERSION}); upgrade selfdisc-checks to read it."
        )
    current = migrate(document, version)
    try:
        ResultsDocument.model_validate(current)
    except ValidationError as error:
        raise MalformedResults(f"{name} is malformed: {describe_error(error)}; {_FIX}.") from None
    return current


def describe_error(error: ValidationError) -> str:
    """pydantic's first error as ``tasks.gsm8k.metrics.s_gen: a number is required, got "high"``."""
    first = error.errors(include_url=False)[0]
    where = _path(first["loc"])
    if first["type"] == "missing":
        return f"{where} is missing"
    need = _NEEDS.get(first["type"], first["msg"][:1].lower() + first["msg"][1:])
    return f"{where}: {need}, got {_show(first.get('input'))}"


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the document"


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
