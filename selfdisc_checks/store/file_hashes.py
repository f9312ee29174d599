"""A memo of file digests, so that fingerprinting an unchanged many-GB checkpoint does not re-read it.

A digest is remembered per resolved path together with the file's size, ``mtime_ns`` and inode; it is
returned only while all three still match, so a rewritten or replaced file is hashed again. The memo is a
small SQLite database in WAL mode that several processes (pytest-xdist workers, parallel CI jobs) may read
and write at once. It is only an accelerator: when it cannot be opened, is corrupt or stays locked, the
caller hashes without it instead of failing.
"""

from __future__ import annotations

import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path

from selfdisc_checks.store.cache import mark_cache_folder

FILENAME = "file-hashes-v1.sqlite"


@dataclass(frozen=True)
class FileKey:
    """What must be unchanged for a remembered digest to still describe the file."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, file: Path) -> FileKey:
        """The key of ``file`` now (its resolved path and current metadata)."""
        resolved = file.resolve()
        stat = resolved.stat()
        return cls(str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino)


class FileHashMemo:
    """Digests by :class:`FileKey`; every failure turns the memo off rather than the caller's work."""

    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            mark_cache_folder(self.path.parent)
            db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            try:
                db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                    "mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, digest TEXT NOT NULL)"
                )
            except sqlite3.Error:
                db.close()
                raise
            self._db = db
        except (sqlite3.Error, OSError) as error:
            self._give_up(error)

    @property
    def usable(self) -> bool:
        return self._db is not None

    def get(self, key: FileKey) -> str | None:
        """The digest remembered for ``key``, or None when unknown or the file changed since."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT digest FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ?",
                (key.path, key.size, key.mtime_ns, key.inode),
            ).fetchone()
        except sqlite3.Error as error:
            self._give_up(error)
            return None
        return row[0] if row else None

    def put(self, key: FileKey, digest: str) -> None:
        """Remember ``digest`` for ``key``, replacing what was known about that path."""
        if self._db is None:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, digest) VALUES (?, ?, ?, ?, ?)",
                (key.path, key.size, key.mtime_ns, key.inode, digest),
            )
        except sqlite3.Error as error:
            self._give_up(error)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> FileHashMemo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _give_up(self, error: Exception) -> None:
        # Hashing without the memo is always correct, only slower: say so once, do not fail the run.
        self.close()
        warnings.warn(
            f"The file-hash memo {self.path} cannot be used ({error}), so checkpoint files are hashed in full "
            "on every run; delete that file to rebuild it.",
            RuntimeWarning,
            stacklevel=3,
        )
