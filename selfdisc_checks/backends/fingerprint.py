"""A content fingerprint of a checkpoint: any changed byte that can change outputs gives a new one.

Cached candidates are keyed by this fingerprint, so it must see a partial fine-tune that changes a single
weight deep inside a many-GB file. Every file that can change outputs is therefore hashed whole (sha256,
streamed), with three ways to avoid re-reading unchanged weights:

* a file inside a Hugging Face hub snapshot that links to ``../../blobs/<name>`` is identified by that
  name, which the hub derived from its content (sha256 for LFS files, git sha1 for small ones);
* digests are remembered per (resolved path, size, mtime_ns, inode) in a SQLite memo (``memo``), so a
  rerun only re-reads files that were rewritten;
* files that cannot change outputs (optimizer and scheduler state, trainer logs, hidden files) are skipped.

A digest is the sha256 of the content, so an LFS blob's name and a copied file's hash agree.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path

from selfdisc_checks.store.file_hashes import FileHashMemo, FileKey

SCHEME = "fp2"
CHUNK = 4 << 20
HASH_THREADS = 4

# Names (of a file or of any folder above it) that from_pretrained never reads, so they cannot change
# outputs: optimizer, scheduler, grad-scaler and RNG state and the arguments a Trainer saves beside the
# weights, DeepSpeed's per-step shards, training logs (TensorBoard event files, runs/, logs/) and model
# cards. Hidden files and folders (.git, .cache, .gitattributes) are skipped as well.
SKIPPED = (
    "optimizer.pt",
    "optimizer.bin",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "training_args.bin",
    "events.out.tfevents*",
    "runs",
    "logs",
    "global_step*",
    "*.md",
    ".*",
)

# A file changed this recently may still change within the file system's timestamp granularity without
# its mtime moving, so its digest is not remembered (as git does for "racily clean" files).
RACY_WINDOW_NS = 2_000_000_000

_BLOB_NAME = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def fingerprint_path(path: Path, memo: Path | None = None) -> str:
    """Hex digest identifying the checkpoint at ``path`` (a folder or a single file such as a .gguf).

    ``memo`` is a SQLite file remembering file digests between runs; None hashes every file afresh.
    """
    path = Path(path)
    root = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else sorted(_checkpoint_files(path))
    memory = FileHashMemo(memo) if memo is not None else None
    try:
        digests = _file_digests(files, memory)
    finally:
        if memory is not None:
            memory.close()
    digest = hashlib.sha256(SCHEME.encode())
    for file, file_digest in zip(files, digests, strict=True):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file_digest.encode() + b"\n")
    return digest.hexdigest()[:16]


def is_skipped(relative: Path) -> bool:
    """Whether a file at ``relative`` (to the checkpoint folder) cannot change what the model outputs."""
    return any(fnmatchcase(part, pattern) for part in relative.parts for pattern in SKIPPED)


def _checkpoint_files(folder: Path) -> Iterator[Path]:
    for file in folder.rglob("*"):
        if file.is_file() and not is_skipped(file.relative_to(folder)):
            yield file


def _file_digests(files: list[Path], memo: FileHashMemo | None) -> list[str]:
    """One digest per file: from the hub blob name, the memo, or by reading the file (in a few threads)."""
    digests: dict[Path, str] = {}
    to_read: list[tuple[Path, FileKey]] = []
    for file in files:
        named = _hub_blob_digest(file)
        if named is not None:
            digests[file] = named
            continue
        key = FileKey.of(file)
        remembered = memo.get(key) if memo is not None else None
        if remembered is not None:
            digests[file] = remembered
        else:
            to_read.append((file, key))
    # sha256 releases the GIL on large buffers, so several shards hash in parallel.
    with ThreadPoolExecutor(max_workers=max(1, min(HASH_THREADS, len(to_read)))) as pool:
        for (file, key), digest in zip(to_read, pool.map(lambda item: _read_digest(item[0]), to_read), strict=True):
            digests[file] = digest
            if memo is not None and _stable_since(file, key):
                memo.put(key, digest)
    return [digests[file] for file in files]


def _read_digest(file: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with file.open("rb", buffering=0) as handle:
        while read := handle.readinto(buffer):
            digest.update(view[:read])
    return f"sha256:{digest.hexdigest()}"


def _stable_since(file: Path, key: FileKey) -> bool:
    """Whether ``file`` kept ``key`` while it was read and is old enough for its mtime to be trusted."""
    try:
        now = FileKey.of(file)
    except OSError:
        return False
    return now == key and key.mtime_ns < time.time_ns() - RACY_WINDOW_NS


def _hub_blob_digest(file: Path) -> str | None:
    """The content digest a hub snapshot's link names (``snapshots/<rev>/...`` -> ``../../blobs/<name>``)."""
    if not file.is_symlink():
        return None
    snapshot = next((p for p in file.parents if p.parent.name == "snapshots"), None)
    if snapshot is None or not snapshot.parent.parent.name.startswith(("models--", "datasets--", "spaces--")):
        return None
    target = Path(os.path.realpath(file))
    name = target.name
    if target.parent != Path(os.path.realpath(snapshot.parent.parent / "blobs")) or not _BLOB_NAME.match(name):
        return None
    # 64 hex digits: an LFS object named by the sha256 of its content; 40: a git blob named by its sha1.
    return f"sha256:{name}" if len(name) == 64 else f"gitsha1:{name}"
