"""Checkpoint fingerprints: stable for the same files, different for any change that matters."""

import struct

from selfdisc_checks.backends import fingerprint as _fingerprint
from selfdisc_checks.backends.fingerprint import fingerprint_path


def make_checkpoint(folder, weights=b"\0" * 1000, config='{"a": 1}'):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config)
    (folder / "tokenizer.json").write_text('{"vocab": {}}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_same_content_same_fingerprint(tmp_path):
    assert fingerprint_path(make_checkpoint(tmp_path / "a")) == fingerprint_path(make_checkpoint(tmp_path / "b"))


def test_weights_config_and_tokenizer_changes_are_seen(tmp_path):
    base = fingerprint_path(make_checkpoint(tmp_path / "base"))
    assert fingerprint_path(make_checkpoint(tmp_path / "w", weights=b"\1" + b"\0" * 999)) != base
    assert fingerprint_path(make_checkpoint(tmp_path / "c", config='{"a": 2}')) != base
    folder = make_checkpoint(tmp_path / "t")
    (folder / "tokenizer.json").write_text('{"vocab": {"x": 0}}')
    assert fingerprint_path(folder) != base


def test_hidden_files_do_not_count(tmp_path):
    folder = make_checkpoint(tmp_path / "x")
    before = fingerprint_path(folder)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("1")
    assert fingerprint_path(folder) == before


def test_large_files_are_identified_by_header_and_sampled_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(_fingerprint, "WHOLE_FILE_LIMIT", 1024)
    header = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
    body = bytearray(struct.pack("<Q", len(header)) + header + bytes(4 << 20))
    folder = tmp_path / "big"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(bytes(body))
    base = fingerprint_path(folder)
    body[8 + 2] = ord("v")  # a tensor name in the safetensors header changed: always seen
    weights.write_bytes(bytes(body))
    assert fingerprint_path(folder) != base


def test_a_single_gguf_file(tmp_path):
    file = tmp_path / "m.gguf"
    file.write_bytes(b"GGUF" + bytes(100))
    first = fingerprint_path(file)
    file.write_bytes(b"GGUF" + bytes(99) + b"\1")
    assert fingerprint_path(file) != first


def test_large_file_edits_in_a_sampled_block_are_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(_fingerprint, "WHOLE_FILE_LIMIT", 1024)
    weights = tmp_path / "model.bin"
    body = bytearray(4 << 20)
    weights.write_bytes(bytes(body))
    base = fingerprint_path(weights)
    body[(len(body) - _fingerprint.BLOCK) * 8 // _fingerprint.SAMPLED_BLOCKS + 5] = 1  # inside sampled block 8
    weights.write_bytes(bytes(body))
    assert fingerprint_path(weights) != base
