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
    if path.suffix.lower() == ".jsonl":
        _refuse_a_json_array(path, task)
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as error:
        if path.suffix.lower() == ".jsonl":
            _name_the_bad_line(path, task)
        raise SelfDiscError(
            f"Data file {path} for task {task!r} could not be read as {builder} ({type(error).__name__}); "
            f"each record needs fields {', '.join(fields)}."
        ) from None


def _refuse_a_json_array(path: Path, task: str) -> None:
    """A ``.jsonl`` file holding one JSON array (pretty-printed or not) is refused: ``datasets`` would read it,
    but JSON Lines is one object per line, and README promises bad JSON Lines an error."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        first = next((line.strip() for line in lines if line.strip()), "")
        more = next((True for line in lines if line.strip()), False)
    if first.startswith("["):
        where = " over several lines" if more else ""
        raise SelfDiscError(
            f"Data file {path} for task {task!r} holds a JSON array{where}, not JSON Lines; write one JSON object "
            f"per line, or rename it to {path.with_suffix('.json').name} (a .json file may hold an array)."
        )


def _name_the_bad_line(path: Path, task: str) -> None:
    """Raise one sentence naming the first line of a JSON Lines file that is not a JSON object (if one is)."""
    import json

    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SelfDiscError(
                    f"Data file {path} for task {task!r} is not valid JSON Lines: line {number} does not parse "
                    f"({error.msg}); fix or remove that line."
                ) from None
            if not isinstance(record, dict):
                raise SelfDiscError(
                    f"Data file {path} for task {task!r} is not valid JSON Lines: line {number} is a "
                    f"{type(record).__name__}, not an object with the task's fields; fix or remove that line."
                )


# DPR's question-answer files (Karpukhin et al., 2020), e.g. ``trivia-test.qa.csv``: no header, one question
# per line, tab-separated with CSV quoting: the question, then a Python list literal of its answers.
DPR_EXTENSIONS = (".txt", ".tsv", ".csv")


def load_dpr_qa(path: Path, task: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The first ``limit`` rows (all when None) of a DPR QA file as ``{"row", "question", "answers"}``
    (``row`` 0-based, counting blank lines, which are skipped), questions cleaned by ``strip_dpr_quotes``.

    Every problem is one sentence naming the file, the row (1-based, as an editor numbers lines) and the fix.
    """
    import ast
    import csv

    check_data_file(path, task)
    if path.stat().st_size == 0:
        raise SelfDiscError(f"Data file {path} is empty; task {task!r} needs at least one question.")
    expected = "two tab-separated columns, the question and a Python list of its answers"
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            for index, columns in enumerate(reader):
                if limit is not None and len(rows) >= limit:
                    break
                if not columns:  # a blank line
                    continue
                where = f"Row {index + 1} of {path}"
                if len(columns) != 2:
                    raise SelfDiscError(
                        f"{where} has {len(columns)} column(s), not {expected} (DPR's QA format); fix or remove "
                        "that row."
                    )
                question = strip_dpr_quotes(columns[0]).strip()
                if not question:
                    raise SelfDiscError(f"{where} has an empty question; fix or remove that row.")
                try:
                    answers = ast.literal_eval(columns[1].strip())
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    answers = None
                if not (isinstance(answers, list) and answers and all(isinstance(a, str) for a in answers)):
                    raise SelfDiscError(
                        f"{where} has answers {columns[1][:60]!r} that are not a non-empty Python list of "
                        "strings (like ['Paris', 'Paris, France']); fix or remove that row."
                    )
                rows.append({"row": index, "question": question, "answers": answers})
    except csv.Error as error:
        raise SelfDiscError(
            f"Row {reader.line_num} of {path} is not valid tab-separated CSV ({error}); task {task!r} reads {expected}."
        ) from None
    except UnicodeDecodeError:
        raise SelfDiscError(f"Data file {path} is not UTF-8 text; save it as UTF-8 for task {task!r}.") from None
    return rows


def strip_dpr_quotes(text: str) -> str:
    """A question without the extra layer of quotes DPR's export gave some of them: after CSV unquoting,
    ``"Who was the target of the failed ""Bomb Plot"" of 1944?"`` becomes
    ``Who was the target of the failed "Bomb Plot" of 1944?``.

    The layer is recognised when the text starts and ends with ``"`` and every quote mark between them is
    doubled; anything else (``"Rodney you plonka" and "..." are catchphrases ...``) is left as it is."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    inner = text[1:-1]
    if inner.replace('""', "").count('"'):
        return text
    return inner.replace('""', '"')
