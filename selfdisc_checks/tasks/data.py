"""Loading task data through ``datasets``: a local file when the user gives one, else the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.errors import SelfDiscError

_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def load_records(
    path: Path | None,
    hub: tuple[str, str | None, str],
    fields: tuple[str, ...],
    task: str,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Rows with at least ``fields``, from ``path`` or, when it is None, from the hub dataset ``hub``."""
    import datasets

    datasets.disable_progress_bars()
    if path is None:
        repo, config, split = hub
        try:
            data = datasets.load_dataset(repo, config, split=split)
        except Exception as error:  # the hub raises many types: offline, not found, auth
            raise SelfDiscError(
                f"Could not load {repo} from the Hugging Face hub ({type(error).__name__}); pass a local copy "
                f"with --data {task}=PATH (a JSONL file with fields {', '.join(fields)})."
            ) from None
        where = repo
    else:
        data = _load_local(path, task, fields)
        where = str(path)
    missing = [name for name in fields if name not in data.column_names]
    if missing:
        raise SelfDiscError(
            f"Data file {where} lacks field(s) {', '.join(missing)}; task {task!r} needs {', '.join(fields)}."
        )
    if len(data) == 0:
        raise SelfDiscError(f"Data file {where} has no rows; task {task!r} needs at least one question.")
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    return [dict(row) for row in data]


def check_data_file(path: Path, task: str) -> None:
    """Fail with one sentence when a data file given for ``task`` is not there."""
    if not path.is_file():
        raise SelfDiscError(f"Data file {path} for task {task!r} does not exist; check --data {task}=PATH.")


def _load_local(path: Path, task: str, fields: tuple[str, ...]):
    import datasets

    check_data_file(path, task)
    builder = _BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise SelfDiscError(
            f"Data file {path} for task {task!r} has an unknown extension; use .jsonl, .json, .csv or .parquet."
        )
    if path.stat().st_size == 0:
        raise SelfDiscError(f"Data file {path} is empty; task {task!r} needs at least one question.")
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as error:
        raise SelfDiscError(
            f"Data file {path} for task {task!r} could not be read as {builder} ({type(error).__name__}); "
            f"each record needs fields {', '.join(fields)}."
        ) from None
