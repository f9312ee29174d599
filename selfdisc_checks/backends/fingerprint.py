"""A content fingerprint of a checkpoint, cheap even for many-GB weights.

Small files (config, tokenizer, generation config; anything up to 8 MiB) are hashed whole. A large file
is identified by its size, its safetensors header when it has one (the names, shapes and offsets of all
tensors), its first MiB, 16 evenly spaced 64 KiB blocks and its last 64 KiB. A retrained or re-quantised
checkpoint changes these; an unchanged one is fingerprinted in milliseconds.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

SCHEME = "fp1"
WHOLE_FILE_LIMIT = 8 << 20
BLOCK = 64 << 10
SAMPLED_BLOCKS = 16


def fingerprint_path(path: Path) -> str:
    """Hex digest identifying the checkpoint at ``path`` (a folder or a single file such as a .gguf)."""
    digest = hashlib.sha256(SCHEME.encode())
    root = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else sorted(_checkpoint_files(path))
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(_file_digest(file))
    return digest.hexdigest()[:16]


def _checkpoint_files(folder: Path):
    for file in folder.rglob("*"):
        parts = file.relative_to(folder).parts
        if file.is_file() and not any(part.startswith(".") for part in parts):
            yield file


def _file_digest(file: Path) -> bytes:
    size = file.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with file.open("rb") as handle:
        if size <= WHOLE_FILE_LIMIT:
            digest.update(handle.read())
            return digest.digest()
        if file.suffix == ".safetensors":
            digest.update(_safetensors_header(handle, size))
        handle.seek(0)
        digest.update(handle.read(1 << 20))
        for i in range(SAMPLED_BLOCKS):
            handle.seek((size - BLOCK) * i // SAMPLED_BLOCKS)
            digest.update(handle.read(BLOCK))
        handle.seek(size - BLOCK)
        digest.update(handle.read(BLOCK))
    return digest.digest()


def _safetensors_header(handle, size: int) -> bytes:
    handle.seek(0)
    (length,) = struct.unpack("<Q", handle.read(8))
    return handle.read(length) if 0 < length < min(size, 100 << 20) else b""
