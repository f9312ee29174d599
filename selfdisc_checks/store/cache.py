"""A SQLite store for sampled candidates and discrimination outputs, shared safely between processes.

Each entry is one unit of work (one candidate, one discrimination output, one rendered prompt); a batch
of entries is written in one transaction, so a crash or Ctrl-C never leaves a half-written entry and never
loses what earlier batches wrote. Workers that share the database (pytest-xdist,
or two CI jobs) *claim* the questions they are about to sample; others skip claimed ones and wait for
them, so nothing is sampled twice. A claim whose owner died (same host, process gone) or went silent for
``stale_after`` seconds is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from selfdisc_checks.errors import SelfDiscError

SCHEMA_VERSION = 2  # 2: one entry per candidate index; entries hold {text, truncated}
FILENAME = f"selfdisc-v{SCHEMA_VERSION}.sqlite"


def cache_key(**parts: Any) -> str:
    """Stable digest of everything an entry depends on (the schema version included)."""
    payload = json.dumps({"schema": SCHEMA_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class Cache:
    """Entries of a few kinds (``candidate``, ``choice``, ``rendered``) keyed by :func:`cache_key` digests."""

    def __init__(self, directory: Path, refresh_before: float | None = None, stale_after: float = 3600.0) -> None:
        self.path = Path(directory) / FILENAME
        self.refresh_before = refresh_before
        self.stale_after = stale_after
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}:{self.pid}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS entries (
                    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,
                    PRIMARY KEY (kind, key));
                CREATE TABLE IF NOT EXISTS claims (
                    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
                    pid INTEGER NOT NULL, heartbeat REAL NOT NULL, PRIMARY KEY (kind, key));
                """
            )
        except sqlite3.DatabaseError as error:
            raise SelfDiscError(
                f"The cache database {self.path} cannot be used ({error}); move it away or pass --cache-dir "
                "to use another folder."
            ) from None
        except OSError as error:
            raise SelfDiscError(
                f"Cannot create the cache folder {self.path.parent} ({error.strerror}); pass a writable --cache-dir."
            ) from None

    def close(self) -> None:
        self._db.close()

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that are present (and not older than a refresh)."""
        found: dict[str, Any] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, value, created FROM entries WHERE kind = ? AND key IN ({marks})", [kind, *chunk]
            )
            for key, value, created in rows:
                if self.refresh_before is None or created >= self.refresh_before:
                    found[key] = json.loads(value)
        return found

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store one entry and drop our claim on it, in one transaction."""
        self.put_many(kind, {key: value})

    def put_many(self, kind: str, values: dict[str, Any]) -> None:
        """Store entries and drop our claims on them, all in one transaction."""
        if not values:
            return
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO entries (kind, key, value, created) VALUES (?, ?, ?, ?)",
                [(kind, key, json.dumps(value), now) for key, value in values.items()],
            )
            self._db.executemany(
                "DELETE FROM claims WHERE kind = ? AND key = ? AND owner = ?",
                [(kind, key, self.owner) for key in values],
            )

    def claim(self, kind: str, keys: list[str], limit: int) -> tuple[list[str], dict[str, Any]]:
        """Claim up to ``limit`` of ``keys`` that nobody holds; also return those now present."""
        with self._transaction():
            present = self.get_many(kind, keys)
            claimed: list[str] = []
            now = time.time()
            for key in keys:
                if len(claimed) >= limit:
                    break
                if key in present:
                    continue
                row = self._db.execute(
                    "SELECT owner, host, pid, heartbeat FROM claims WHERE kind = ? AND key = ?", (kind, key)
                ).fetchone()
                if row is not None and row[0] != self.owner and not self._is_stale(row[1], row[2], row[3], now):
                    continue
                self._db.execute(
                    "INSERT OR REPLACE INTO claims (kind, key, owner, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                    (kind, key, self.owner, self.host, self.pid, now),
                )
                claimed.append(key)
        return claimed, present

    def release(self, kind: str, keys: Iterable[str]) -> None:
        """Give back claims we hold but did not fill (after an error or Ctrl-C)."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM claims WHERE kind = ? AND key = ? AND owner = ?", [(kind, k, self.owner) for k in keys]
            )

    def resolve(
        self,
        kind: str,
        keys: list[str],
        compute: Callable[[list[str]], dict[str, Any]],
        batch_size: int,
        poll_seconds: float = 0.5,
    ) -> tuple[dict[str, Any], list[str]]:
        """Values for all ``keys``: cached, computed here in batches, or awaited from another worker.

        Returns the values and the keys this process computed.
        """
        values = self.get_many(kind, keys)
        pending = [k for k in keys if k not in values]
        computed: list[str] = []
        while pending:
            mine, present = self.claim(kind, pending, batch_size)
            values.update(present)
            if mine:
                try:
                    results = compute(mine)
                    self.put_many(kind, {key: results[key] for key in mine})
                    values.update({key: results[key] for key in mine})
                finally:
                    self.release(kind, [k for k in mine if k not in values])
                computed += mine
            elif len(present) == 0:
                time.sleep(poll_seconds)  # everything left is being computed by another worker
            pending = [k for k in pending if k not in values]
        return values, computed

    def _is_stale(self, host: str, pid: int, heartbeat: float, now: float) -> bool:
        if now - heartbeat > self.stale_after:
            return True
        if host == self.host:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception, Ctrl-C included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
