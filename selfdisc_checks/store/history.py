"""The run history (``--history PATH``): an append-only SQLite database of whole runs, for trends and reports.

One row per run in ``runs`` (label, timestamp, checkpoint id and fingerprint, settings, versions, the results
document without its per-question records), one per task and metric in ``metrics`` (value and interval, for
SQL queries and plots), one per question in ``questions`` (its S_gen, S_disc and pick), and the full
per-question records of each task in ``records``, zlib-compressed as one blob: they repeat the same
demonstrations in every prompt, so one blob per task is ~20x smaller than a row per question.

Nothing is ever overwritten: triggers refuse UPDATE and DELETE, a run is written in one transaction (a crash
leaves nothing partial), and the same results document is never appended twice (its digest is unique).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selfdisc_checks.document.read import parse_results
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.store.cache import is_write_failure

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    timestamp TEXT NOT NULL,          -- ISO 8601 UTC: when the run started
    model_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    settings TEXT NOT NULL,           -- JSON
    versions TEXT NOT NULL,           -- JSON: selfdisc_checks, torch, transformers, python
    digest TEXT NOT NULL UNIQUE,      -- of the whole results document: the same run is never appended twice
    document TEXT NOT NULL,           -- JSON: the results document without per-question records
    appended_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    ci_low REAL,
    ci_high REAL,
    PRIMARY KEY (run_id, task, metric)
);
CREATE TABLE IF NOT EXISTS questions (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    task TEXT NOT NULL,
    position INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    s_gen REAL,
    s_disc REAL,
    pick INTEGER,                     -- the picked candidate's index; NULL when the pick was invalid
    PRIMARY KEY (run_id, task, position)
);
CREATE TABLE IF NOT EXISTS records (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    task TEXT NOT NULL,
    questions BLOB NOT NULL,          -- zlib(JSON list of the task's per-question records)
    PRIMARY KEY (run_id, task)
);
"""
_APPEND_ONLY = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'the selfdisc history is append-only'); END;"
    for table in ("runs", "metrics", "questions", "records")
    for verb in ("update", "delete")
]


def document_digest(document: dict[str, Any]) -> str:
    """Identifies a results document by its content (key order does not matter)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class History:
    """An append-only SQLite history of runs; safe for several writers (each append is one transaction)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise SelfDiscError(
                f"--history {self.path} is a folder; pass a file path such as {self.path}/history.sqlite."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA + "\n".join(_APPEND_ONLY))
            self._check_version()
        except sqlite3.DatabaseError as error:
            raise SelfDiscError(
                f"--history {self.path} is not a selfdisc history database ({error}); pass a new path or one "
                "written by --history."
            ) from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise SelfDiscError(
                f"--history {self.path} was written by a newer selfdisc-checks (schema {row[0]}); upgrade to read it."
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, document: dict[str, Any]) -> int | None:
        """The id of the run holding exactly this results document, if the history has it."""
        # a run appended before a results version change is stored under the digest of the document as it was
        digests = {document_digest(document), document_digest(parse_results(document, "This run"))}
        for digest in sorted(digests):
            row = self._db.execute("SELECT id FROM runs WHERE digest = ?", (digest,)).fetchone()
            if row:
                return int(row[0])
        return None

    def append(self, document: dict[str, Any], label: str | None = None, timestamp: str | None = None) -> int:
        """Append one run (a results document) in a single transaction and return its id. ``label`` defaults
        to the document's ``run.label``, then the model id; ``timestamp`` to its ``run.started_at``, then now.
        An older results version is stored migrated to the current one; a malformed document is refused."""
        if not isinstance(document, dict) or not isinstance(document.get("tasks"), dict):
            raise SelfDiscError("Only a results document (written by --results-json) can go into the history.")
        existing = self.find(document)
        if existing is not None:
            raise SelfDiscError(f"This run is already in the history {self.path} (run {existing}).")
        document = parse_results(document, "This run")
        run = document.get("run") or {}
        model = document["model"]
        label = label or run.get("label") or str(model.get("id", "?"))
        timestamp = timestamp or run.get("started_at") or _utc_now()
        slim = {
            **document,
            "tasks": {
                name: {k: v for k, v in task.items() if k != "questions"} for name, task in document["tasks"].items()
            },
        }
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # one writer at a time; readers go on
        try:
            cursor = db.execute(
                "INSERT INTO runs (label, timestamp, model_id, fingerprint, settings, versions, digest, document, "
                "appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    label,
                    timestamp,
                    str(model.get("id", "?")),
                    str(model.get("fingerprint", "?")),
                    json.dumps(document.get("settings", {}), sort_keys=True),
                    json.dumps(run.get("versions", {}), sort_keys=True),
                    document_digest(document),
                    json.dumps(slim, ensure_ascii=False),
                    _utc_now(),
                ),
            )
            run_id = cursor.lastrowid
            assert run_id is not None  # an INSERT always sets it
            for name, task in document["tasks"].items():
                db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", _metric_rows(run_id, name, task))
                questions = task.get("questions", [])
                db.executemany(
                    "INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            name,
                            position,
                            str(q.get("id")),
                            q.get("s_gen"),
                            q.get("s_disc"),
                            (q.get("choice") or {}).get("index"),
                        )
                        for position, q in enumerate(questions)
                    ],
                )
                blob = zlib.compress(json.dumps(questions, ensure_ascii=False).encode(), 6)
                db.execute("INSERT INTO records VALUES (?, ?, ?)", (run_id, name, blob))
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            raise SelfDiscError(
                f"This run is already in the history {self.path} (run {self.find(document)})."
            ) from None
        except BaseException as error:  # Ctrl-C included: nothing partial stays
            if db.in_transaction:  # a failed COMMIT may have rolled back already
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error) and is_write_failure(error):
                raise SelfDiscError(
                    f"Could not write to the history {self.path} ({error}); free some space and add the run later with "
                    "`python -m selfdisc_checks history import` from its --results-json file (nothing partial was "
                    "added)."
                ) from None
            raise
        return run_id

    def runs(self, questions_for: Iterable[int] | str = "all") -> list[HistoryRun]:
        """Every run, oldest first. Per-question records are loaded for ``questions_for`` (run ids; "all" by
        default); other runs' tasks carry ``"questions": []`` (enough for trends)."""
        rows = self._db.execute("SELECT id, label, timestamp, document FROM runs ORDER BY timestamp, id").fetchall()
        wanted = {row[0] for row in rows} if questions_for == "all" else set(questions_for)
        result = []
        for run_id, label, timestamp, text in rows:
            document = json.loads(text)
            records = self._records(run_id) if run_id in wanted else {}
            for name, task in document["tasks"].items():
                task["questions"] = records.get(name, [])
            # runs stored before a results version change are migrated; a damaged row is named
            document = parse_results(document, f"The history {self.path}'s run {run_id}")
            result.append(HistoryRun(run_id, label, timestamp, document))
        return result

    def for_report(self, last: int | None = None, detailed: int = 5) -> list[HistoryRun]:
        """The runs a report shows (the ``last`` ones, all by default), oldest first, with per-question records
        for the newest ``detailed`` (the latest run and the earlier ones it may be compared with)."""
        ids = [row[0] for row in self._db.execute("SELECT id FROM runs ORDER BY timestamp, id")]
        shown = ids[-last:] if last else ids
        keep = set(shown)
        return [run for run in self.runs(questions_for=shown[-detailed:]) if run.run_id in keep]

    def _records(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = self._db.execute("SELECT task, questions FROM records WHERE run_id = ?", (run_id,)).fetchall()
        return {task: json.loads(zlib.decompress(blob)) for task, blob in rows}

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def _metric_rows(run_id: int, task: str, result: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every numeric metric of a task with its interval when it has one."""
    metrics = result.get("metrics", {})
    intervals = metrics.get("ci", {})
    rows = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low, high = intervals.get(name, (None, None))
        rows.append((run_id, task, name, float(value), low, high))
    return rows


def _utc_now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
