"""A SQLite store for sampled candidates and discrimination outputs, shared safely between processes.

Each entry is one unit of work (one candidate, one discrimination output, one rendered prompt); a batch
of entries is written in one transaction, so a crash or Ctrl-C never leaves a half-written entry and never
loses what earlier batches wrote. Workers that share the database (pytest-xdist,
or two CI jobs) *claim* the questions they are about to sample; others skip claimed ones and wait for
them, so nothing is sampled twice. While it computes, the owner renews its claims every ``heartbeat_every``
seconds (a thread with its own connection), however long a batch takes. A claim is taken over when its owner
is gone: its process no longer exists (same machine: same host name and PID namespace, so a container with
the host's name is not judged by a PID from another namespace), or its heartbeat is ``stale_after`` seconds
old (another machine, a hung process, or a PID reused since).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from selfdisc_checks.errors import SelfDiscError, SelfDiscWarning

SCHEMA_VERSION = 2  # 2: one entry per candidate index; entries hold {text, truncated}
FILENAME = f"selfdisc-v{SCHEMA_VERSION}.sqlite"


def cache_key(**parts: Any) -> str:
    """Stable digest of everything an entry depends on (the schema version included)."""
    payload = json.dumps({"schema": SCHEMA_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class Cache:
    """Entries of a few kinds (``candidate``, ``choice``, ``rendered``) keyed by :func:`cache_key` digests."""

    def __init__(
        self,
        directory: Path,
        refresh_before: float | None = None,
        stale_after: float = 300.0,
        heartbeat_every: float = 30.0,
    ) -> None:
        self.path = Path(directory) / FILENAME
        self.refresh_before = refresh_before
        self.stale_after = stale_after
        self.heartbeat_every = heartbeat_every
        self.host, self.pid = machine_identity(), os.getpid()
        self.owner = f"{self.host}:{self.pid}"
        remote = network_filesystem(self.path.parent)
        if remote:
            raise SelfDiscError(
                f"The cache folder {self.path.parent} is on a network file system ({remote}), where SQLite's WAL mode "
                "can corrupt the database; pass a --cache-dir on a local disk (one cache per machine, with results "
                "shared through --history or the results JSON)."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            unwritable = _unwritable(self.path.parent)
            if unwritable:
                raise SelfDiscError(
                    f"The cache folder {self.path.parent} is not writable ({unwritable}), and the cache needs to write "
                    "even to reuse what it holds (SQLite's WAL index); pass a writable --cache-dir, or copy the "
                    "folder to one."
                )
            mark_cache_folder(self.path.parent)
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
            written_by = self._db.execute("PRAGMA user_version").fetchone()[0]
            if written_by == 0:  # new, or made before the version was stamped inside (the file name held it)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            if is_write_failure(error):
                raise write_failure(self.path, error) from None
            raise SelfDiscError(
                f"The cache database {self.path} cannot be used ({error}); move it away or pass --cache-dir "
                "to use another folder."
            ) from None
        except OSError as error:
            raise SelfDiscError(
                f"Cannot create the cache folder {self.path.parent} ({error.strerror}); pass a writable --cache-dir."
            ) from None
        if written_by > SCHEMA_VERSION:
            self._db.close()
            raise SelfDiscError(
                f"The cache database {self.path} was written by a newer selfdisc-checks (cache schema {written_by}; "
                f"this version reads {SCHEMA_VERSION}); upgrade selfdisc-checks, or pass another --cache-dir."
            )
        newer = newer_caches(self.path.parent)
        if newer:
            warnings.warn(
                SelfDiscWarning(
                    f"The cache folder {self.path.parent} also holds {', '.join(p.name for p in newer)} from a newer "
                    f"selfdisc-checks, which this version cannot read, so it samples into {FILENAME} instead; upgrade "
                    "selfdisc-checks to reuse those candidates."
                ),
                stacklevel=2,
            )

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

    def count(self, kind: str, since: float | None = None) -> int:
        """How many entries of ``kind`` the cache holds; with ``since`` (a ``time.time()``), only those stored
        from then on (by any process: an xdist run's workers write the entries its controller counts)."""
        if since is None:
            return self._db.execute("SELECT count(*) FROM entries WHERE kind = ?", (kind,)).fetchone()[0]
        return self._db.execute(
            "SELECT count(*) FROM entries WHERE kind = ? AND created >= ?", (kind, since)
        ).fetchone()[0]

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
        compute: Callable[..., dict[str, Any]],
        batch_size: int,
        poll_seconds: float = 0.5,
        streams: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        """Values for all ``keys``: cached, computed here in batches, or awaited from another worker.

        A ``streams`` compute is called as ``compute(keys, store)`` and may ``store({key: value})`` each value
        as soon as it is ready (each call is one transaction), so a crash loses only what was still computing;
        what it stored is not written again. Returns the values and the keys this process computed.
        """
        values = self.get_many(kind, keys)
        pending = [k for k in keys if k not in values]
        computed: list[str] = []
        while pending:
            mine, present = self.claim(kind, pending, batch_size)
            values.update(present)
            if mine:
                stored: set[str] = set()

                def store(part: dict[str, Any], stored: set[str] = stored) -> None:
                    self.put_many(kind, part)
                    stored.update(part)

                try:
                    with _Heartbeat(self):
                        results = compute(mine, store) if streams else compute(mine)
                    self.put_many(kind, {key: results[key] for key in mine if key not in stored})
                except BaseException:
                    with contextlib.suppress(SelfDiscError, sqlite3.Error):  # the first error is the one to tell
                        self.release(kind, [k for k in mine if k not in stored])
                    raise
                values.update({key: results[key] for key in mine})
                computed += mine
            elif len(present) == 0:
                time.sleep(poll_seconds)  # everything left is being computed by another worker
            pending = [k for k in pending if k not in values]
        return values, computed

    def _is_stale(self, host: str, pid: int, heartbeat: float, now: float) -> bool:
        """Whether a claim's owner is gone: its process has ended (on this machine), or it has not renewed the
        claim for ``stale_after`` seconds (any machine; its process may hang, or its PID belong to another)."""
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

    def renew(self, connection: sqlite3.Connection | None = None) -> None:
        """Stamp all of this owner's claims as alive now."""
        db = connection or self._db
        db.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))

    def _transaction(self):
        return _Transaction(self._db, self.path)


# File systems on which SQLite's WAL mode is not safe (its shared memory index needs one machine's memory).
NETWORK_FILESYSTEMS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "9p",
    "lustre",
    "gpfs",
    "ceph",
    "glusterfs",
    "beegfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.glusterfs",
    "fuse.cephfs",
    "fuse.juicefs",
}


def network_filesystem(folder: Path, mounts: str | None = None) -> str | None:
    """The type of the network file system ``folder`` (or its nearest existing parent) lives on, else None.
    Reads ``/proc/self/mounts`` (Linux; elsewhere nothing is detected) unless ``mounts`` is given."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    path, rest = Path(folder).expanduser().absolute(), list[str]()
    while not path.exists() and path != path.parent:  # links resolved in what exists; the rest kept as written
        path, rest = path.parent, [path.name, *rest]
    path = path.resolve().joinpath(*rest)
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind if kind in NETWORK_FILESYSTEMS else None


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be written to (a read-only file system, or no permission), else None."""
    if os.access(folder, os.W_OK | os.X_OK):  # root too gets "no" on a read-only mount
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "a read-only file system"
    except OSError:
        pass
    return "permission denied"


def newer_caches(folder: Path) -> list[Path]:
    """Cache databases in ``folder`` from a later schema (``selfdisc-vN.sqlite`` with N above ours)."""
    found = []
    for path in sorted(Path(folder).glob("selfdisc-v*.sqlite")):
        number = path.name[len("selfdisc-v") : -len(".sqlite")]
        if number.isdigit() and int(number) > SCHEMA_VERSION:
            found.append(path)
    return found


def machine_identity() -> str:
    """The host name plus the PID namespace (Linux): two containers that share a host name but not their
    processes are different machines to a claim, so neither judges the other's claims by PID."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}" if namespace else socket.gethostname()


class _Heartbeat:
    """Renews the owner's claims every ``heartbeat_every`` seconds while a batch computes, from a thread with
    its own connection (a batch can take longer than ``stale_after``; a live worker must keep its claims)."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="selfdisc-claims-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.cache.path, timeout=60.0, isolation_level=None)
        try:
            while not self.stop.wait(self.cache.heartbeat_every):
                try:
                    self.cache.renew(connection)
                except sqlite3.Error:  # a busy or locked database: the next beat tries again
                    pass
        finally:
            connection.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception, Ctrl-C included). A write that fails
    for want of space or with an I/O error leaves the database as the last commit left it, and becomes one
    sentence that says so."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db, self.path = db, path

    def __enter__(self) -> None:
        with _write_errors(self.path):
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> Literal[False]:
        if kind is None:
            try:
                with _write_errors(self.path):
                    self.db.execute("COMMIT")
            except BaseException:
                _rollback(self.db)
                raise
            return False
        _rollback(self.db)
        if isinstance(value, sqlite3.Error) and is_write_failure(value):
            raise write_failure(self.path, value) from None
        return False


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may already have rolled back
            db.execute("ROLLBACK")


def is_write_failure(error: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of space or with an I/O error (not a constraint or a lock)."""
    name = getattr(error, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_FULL", "SQLITE_IOERR")) or "disk is full" in str(error) or "disk I/O" in str(error)


def write_failure(path: Path, error: BaseException) -> SelfDiscError:
    """The sentence for a cache write that failed on the disk (full, over a file size limit, failing)."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free there"
    except OSError:
        free = "free space unknown"
    return SelfDiscError(
        f"Could not write to the cache database {path} ({error}; {free}); free some space or pass a --cache-dir on "
        "a disk with room, then rerun: every question stored before this is kept and reused."
    )


@contextlib.contextmanager
def _write_errors(path: Path):
    try:
        yield
    except sqlite3.Error as error:
        if is_write_failure(error):
            raise write_failure(path, error) from None
        raise


# The Cache Directory Tagging Specification's signature: backup tools skip a folder that holds it.
CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This folder is a selfdisc-checks cache.\n"


def mark_cache_folder(folder: Path) -> None:
    """Tag ``folder`` as a cache, as pytest does its own: a CACHEDIR.TAG for backup tools and a .gitignore so the
    cache is never committed. Files already there are left as they are (a concurrent worker may write them)."""
    for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "# Created by selfdisc-checks.\n*\n")):
        try:
            with open(folder / name, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            continue
