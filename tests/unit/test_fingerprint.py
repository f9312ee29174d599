"""Checkpoint fingerprints: stable for the same files, different for any change that can change outputs."""

import hashlib
import os
import struct
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.backends import fingerprint as _fingerprint
from selfdisc_checks.backends.fingerprint import fingerprint_path
from selfdisc_checks.store.file_hashes import FileHashMemo, FileKey

HOUR_NS = 3600 * 10**9


def make_checkpoint(folder, weights=b"\0" * 1000, config='{"a": 1}'):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config)
    (folder / "tokenizer.json").write_text('{"vocab": {}}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def age(file, ns=HOUR_NS):
    """Date ``file`` back, past the window in which a fresh mtime is not trusted."""
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns - ns))


def overwrite_keeping_metadata(file, content):
    """Rewrite ``file`` in place (same inode, same size) and put its mtime back: a memo cannot notice."""
    before = file.stat()
    assert len(content) == before.st_size
    with file.open("r+b") as handle:
        handle.write(content)
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = file.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)


def test_same_content_same_fingerprint(tmp_path):
    first = fingerprint_path(make_checkpoint(tmp_path / "a"))
    assert first == fingerprint_path(make_checkpoint(tmp_path / "b"))
    assert len(first) == 16 and int(first, 16) >= 0


def test_weights_config_and_tokenizer_changes_are_seen(tmp_path):
    base = fingerprint_path(make_checkpoint(tmp_path / "base"))
    assert fingerprint_path(make_checkpoint(tmp_path / "w", weights=b"\1" + b"\0" * 999)) != base
    assert fingerprint_path(make_checkpoint(tmp_path / "c", config='{"a": 2}')) != base
    folder = make_checkpoint(tmp_path / "t")
    (folder / "tokenizer.json").write_text('{"vocab": {"x": 0}}')
    assert fingerprint_path(folder) != base
    folder = make_checkpoint(tmp_path / "j")
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    assert fingerprint_path(folder) != base


def test_hidden_files_do_not_count(tmp_path):
    folder = make_checkpoint(tmp_path / "x")
    before = fingerprint_path(folder)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("1")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs")
    assert fingerprint_path(folder) == before


def test_training_state_and_logs_do_not_count(tmp_path):
    folder = make_checkpoint(tmp_path / "x")
    before = fingerprint_path(folder)
    for name in [
        "optimizer.pt",
        "optimizer.bin",
        "scheduler.pt",
        "rng_state.pth",
        "rng_state_3.pth",
        "trainer_state.json",
        "training_args.bin",
        "events.out.tfevents.1700000000.host.1.0",
        "runs/x",
        "runs/Jan01/events.out.tfevents.1",
        "logs/train.log",
        "global_step100/optim_states.pt",
        "README.md",
    ]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(os.urandom(64))
    assert fingerprint_path(folder) == before
    (folder / "special_tokens_map.json").write_text("{}")  # a file the tokenizer reads does count
    assert fingerprint_path(folder) != before


def old_sampled_ranges(size):
    """The byte ranges the fp1 sampler read from a large file (first MiB, 16 blocks of 64 KiB, last 64 KiB)."""
    block = 64 << 10
    return [
        (0, 1 << 20),
        *(((size - block) * i // 16, (size - block) * i // 16 + block) for i in range(16)),
        (size - block, size),
    ]


def test_one_changed_weight_deep_in_a_large_file_is_seen(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [2359296], "data_offsets": [0, 9437184]}}'
    body = bytearray(struct.pack("<Q", len(header)) + header + bytes(9 << 20))
    assert len(body) > 8 << 20
    offset = 3_000_001
    assert not any(start <= offset < end for start, end in old_sampled_ranges(len(body)))  # fp1 missed it
    folder = make_checkpoint(tmp_path / "big", weights=bytes(body))
    base = fingerprint_path(folder)
    body[offset : offset + 4] = struct.pack("<f", 1e-3)  # one fine-tuned weight
    (folder / "model.safetensors").write_bytes(bytes(body))
    assert fingerprint_path(folder) != base


def test_a_single_gguf_file(tmp_path):
    file = tmp_path / "m.gguf"
    file.write_bytes(b"GGUF" + bytes(100))
    first = fingerprint_path(file)
    file.write_bytes(b"GGUF" + bytes(99) + b"\1")
    assert fingerprint_path(file) != first


@settings(max_examples=60, deadline=None)
@given(content=st.binary(min_size=1, max_size=2000), data=st.data())
def test_any_single_byte_change_changes_the_fingerprint(content, data):
    offset = data.draw(st.integers(0, len(content) - 1), label="offset")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != content[offset]), label="byte")
    changed = content[:offset] + bytes([byte]) + content[offset + 1 :]
    # A small chunk makes every file span several reads, so chunk boundaries are exercised too.
    with tempfile.TemporaryDirectory() as scratch, mock.patch.object(_fingerprint, "CHUNK", 64):
        file = Path(scratch) / "model.safetensors"
        file.write_bytes(content)
        before = fingerprint_path(file)
        file.write_bytes(changed)
        assert fingerprint_path(file) != before


def test_the_memo_spares_reading_unchanged_files(tmp_path):
    folder = make_checkpoint(tmp_path / "ckpt", weights=b"\1" * 4096)
    weights = folder / "model.safetensors"
    age(weights)
    memo = tmp_path / "memo" / "hashes.sqlite"
    first = fingerprint_path(folder, memo=memo)
    assert first == fingerprint_path(folder)  # the memo never changes the answer for unchanged files
    overwrite_keeping_metadata(weights, b"\2" * 4096)
    assert fingerprint_path(folder, memo=memo) == first  # remembered: the weights were not read again
    assert fingerprint_path(folder) != first  # ... though their content did change
    age(weights, ns=10**9)  # any change of mtime (here: one second) makes the memo re-read the file
    assert fingerprint_path(folder, memo=memo) == fingerprint_path(folder) != first


def test_the_memo_does_not_read_remembered_files_at_all(tmp_path):
    folder = make_checkpoint(tmp_path / "ckpt")
    for file in folder.iterdir():
        age(file)
    memo = tmp_path / "hashes.sqlite"
    first = fingerprint_path(folder, memo=memo)
    with mock.patch.object(_fingerprint, "_read_digest", side_effect=AssertionError("read a remembered file")):
        assert fingerprint_path(folder, memo=memo) == first


def test_a_file_written_just_now_is_not_remembered(tmp_path):
    # Within the file system's timestamp granularity a second write may keep the mtime: trust it later.
    folder = make_checkpoint(tmp_path / "ckpt", weights=b"\1" * 4096)
    memo = tmp_path / "hashes.sqlite"
    first = fingerprint_path(folder, memo=memo)
    overwrite_keeping_metadata(folder / "model.safetensors", b"\2" * 4096)
    assert fingerprint_path(folder, memo=memo) != first


def test_a_corrupt_or_unusable_memo_only_costs_time(tmp_path):
    folder = make_checkpoint(tmp_path / "ckpt")
    expected = fingerprint_path(folder)
    corrupt = tmp_path / "hashes.sqlite"
    corrupt.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.warns(RuntimeWarning, match="cannot be used.*delete that file"):
        assert fingerprint_path(folder, memo=corrupt) == expected
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        assert fingerprint_path(folder, memo=blocked / "hashes.sqlite") == expected


def test_memos_in_two_connections_share_one_database(tmp_path):
    path = tmp_path / "hashes.sqlite"
    file = tmp_path / "w"
    file.write_bytes(b"x")
    key = FileKey.of(file)
    with FileHashMemo(path) as one, FileHashMemo(path) as two:
        assert one.usable and two.usable
        one.put(key, "sha256:aa")
        assert two.get(key) == "sha256:aa"
        two.put(key, "sha256:bb")  # INSERT OR REPLACE: the last writer wins, nobody fails
        assert one.get(key) == "sha256:bb"
        assert one.get(FileKey(key.path, key.size + 1, key.mtime_ns, key.inode)) is None


# -- hub snapshots -------------------------------------------------------------------------------


def hub_snapshot(cache, files, repo="models--org--name", revision="a" * 40):
    """A snapshot laid out as huggingface_hub does: links from ``snapshots/<rev>/`` into ``blobs/``.

    ``files`` maps a file name to ``(blob_name, content)``; None as blob name means the sha256 of content.
    """
    snapshot = cache / repo / "snapshots" / revision
    for name, (blob_name, content) in files.items():
        blob = cache / repo / "blobs" / (blob_name or hashlib.sha256(content).hexdigest())
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def test_hub_blob_names_identify_content_without_reading_it(tmp_path):
    config = ("c" * 40, b'{"a": 1}')
    one = hub_snapshot(tmp_path / "one", {"config.json": config, "model.safetensors": ("1" * 64, b"weights")})
    other = hub_snapshot(tmp_path / "two", {"config.json": config, "model.safetensors": ("2" * 64, b"weights")})
    assert fingerprint_path(one) != fingerprint_path(other)  # same bytes, but the hub says they differ
    # Same blob name, different bytes: the name is trusted, so the blob was never read.
    same = hub_snapshot(tmp_path / "three", {"config.json": config, "model.safetensors": ("1" * 64, b"other")})
    assert fingerprint_path(same) == fingerprint_path(one)
    with mock.patch.object(_fingerprint, "_read_digest", side_effect=AssertionError("read a hub blob")):
        fingerprint_path(one, memo=tmp_path / "hashes.sqlite")


def test_a_hub_snapshot_fingerprints_like_a_copy_of_its_files(tmp_path):
    # LFS blobs are named by the sha256 of their content, which is the digest a copied file gets.
    files = {"config.json": b'{"a": 1}', "model.safetensors": os.urandom(1000), "sub/chat_template.jinja": b"{{x}}"}
    snapshot = hub_snapshot(tmp_path / "cache", {name: (None, content) for name, content in files.items()})
    copy = tmp_path / "copy"
    for name, content in files.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(content)
    assert fingerprint_path(snapshot) == fingerprint_path(copy)


def test_links_outside_a_hub_cache_are_read(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    folder = make_checkpoint(tmp_path / "ckpt")
    weights = folder / "model.safetensors"
    weights.unlink()
    blob = store / ("1" * 64)
    blob.write_bytes(b"first")
    weights.symlink_to(blob)
    first = fingerprint_path(folder)
    blob.write_bytes(b"other")
    assert fingerprint_path(folder) != first


def test_a_missing_checkpoint_is_named_by_the_option_it_came_from(tmp_path):
    from selfdisc_checks import SelfDiscError, locate_checkpoint

    missing = tmp_path / "run--model-7b"  # a path that itself holds "--model" stays as written
    with pytest.raises(SelfDiscError) as raised:
        locate_checkpoint(str(missing), option="--judge-model")
    assert str(raised.value) == (
        f"Model path {missing} does not exist; pass an existing checkpoint folder or .gguf file to --judge-model."
    )
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(SelfDiscError, match=r"^--baseline-model .*weights.bin is a file but not a .gguf"):
        locate_checkpoint(str(tmp_path / "weights.bin"), option="--baseline-model")
