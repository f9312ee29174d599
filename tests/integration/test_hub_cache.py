"""Hub ids resolved from a Hugging Face cache laid out as huggingface_hub lays it out, offline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects
from test_model_families import CHAT_TEMPLATE

from conftest import FIXTURE, assert_checks_ran
from selfdisc_checks import HFBackend, Prompt, SelfDiscError, locate_checkpoint
from selfdisc_checks.backends.checkpoint import HUB_PATTERNS
from selfdisc_checks.backends.fingerprint import fingerprint_path

REPO_ID = "org/name"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_repo(cache: Path, repo_id: str, files: dict[str, bytes], listing: list[str] | None = None) -> Path:
    """Write ``files`` as a cached snapshot: ``refs/main``, ``blobs/<sha256>`` and relative links to them.

    ``listing`` also writes the tree listing the client caches after an online download (``trees/<commit>.json``).
    """
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / COMMIT
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if listing is not None:
        (repo / "trees").mkdir()
        entries = {name: {"size": 1, "blob_id": hashlib.sha1(name.encode()).hexdigest()} for name in listing}
        (repo / "trees" / f"{COMMIT}.json").write_text(json.dumps({"format_version": 1, "files": entries}))
    return snapshot


def fixture_files() -> dict[str, bytes]:
    """The fixture checkpoint with its chat template in chat_template.jinja, as transformers 5 saves it."""
    files = {file.name: file.read_bytes() for file in FIXTURE.iterdir() if file.is_file()}
    assert "chat_template" not in json.loads(files["tokenizer_config.json"])
    files["chat_template.jinja"] = CHAT_TEMPLATE.encode()
    return files


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache that this process and its subprocesses use, with downloads switched off."""
    home = tmp_path / "hf-home"
    cache = home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both when first imported, which in this process happened before the test: set them
    # there as well. Subprocesses (the end-to-end run) import it afresh and read the environment.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def assert_one_sentence(message: str, *fragments: str) -> None:
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0, message
    for fragment in fragments:
        assert re.search(fragment, message), message


def test_a_cached_hub_id_loads_with_its_separate_chat_template(hub_cache, tmp_path):
    files = fixture_files()
    snapshot = cache_repo(hub_cache, REPO_ID, files)
    checkpoint = locate_checkpoint(REPO_ID)
    assert checkpoint.folder == snapshot and checkpoint.model_id == REPO_ID
    assert (checkpoint.folder / "chat_template.jinja").read_text() == CHAT_TEMPLATE
    backend = HFBackend(checkpoint, device="cpu")
    assert backend.uses_chat_template
    assert backend.render(Prompt(query="Q: 1+1=")).startswith("<|user|>")
    # Blobs are named by their content's sha256, so a plain copy of the same files shares the fingerprint.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, content in files.items():
        (copy / name).write_bytes(content)
    assert checkpoint.fingerprint == fingerprint_path(copy)


def test_a_cached_hub_id_end_to_end(project, hub_cache):
    cache_repo(hub_cache, REPO_ID, fixture_files())
    result, document = project.run("--model", REPO_ID, "--limit", "2", "--samples", "2", "-rs")
    assert_checks_ran(result)
    assert document["model"]["id"] == REPO_ID
    assert len(document["tasks"]["arithmetic"]["questions"]) == 2


def test_a_cached_repo_with_only_pickled_weights_is_refused(hub_cache):
    files = fixture_files()
    del files["model.safetensors"]
    files["pytorch_model.bin"] = b"a pickle that must never be loaded"
    cache_repo(hub_cache, REPO_ID, files)
    with pytest.raises(SelfDiscError) as error:
        locate_checkpoint(REPO_ID)
    assert_one_sentence(
        str(error.value),
        r"only PyTorch pickle weights \(pytorch_model\.bin\)",
        "can run code",
        "convert the checkpoint to safetensors",
    )


def test_pickled_weights_the_hub_listing_shows_are_named(hub_cache):
    # Downloaded with our patterns, a .bin-only repository leaves no weights at all; its listing says why.
    files = {name: content for name, content in fixture_files().items() if name != "model.safetensors"}
    cache_repo(hub_cache, REPO_ID, files, listing=[*files, "pytorch_model.bin", "training_args.bin", "README.md"])
    with pytest.raises(SelfDiscError) as error:
        locate_checkpoint(REPO_ID)
    assert_one_sentence(str(error.value), r"only PyTorch pickle weights \(pytorch_model\.bin\)")


def test_a_local_folder_with_only_pickled_weights_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(SelfDiscError) as error:
        locate_checkpoint(str(folder))
    assert_one_sentence(str(error.value), r"only PyTorch pickle weights \(pytorch_model\.bin\)")


def test_pickle_weights_load_only_with_the_opt_in(project, tmp_path):
    """Refused without --allow-pickle-weights (a usage error that names the option); with it they load, and the
    model is the one the safetensors fixture holds."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(FIXTURE, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    args = ("--limit", "3", "--samples", "2")
    refused, _ = project.run(f"--model={folder}", *args)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    said = refused.stdout.str() + refused.stderr.str()
    assert "only PyTorch pickle weights (pytorch_model.bin)" in said
    assert "pass --allow-pickle-weights if you trust whoever made it." in said and "Traceback" not in said
    loaded, pickled = project.run(f"--model={folder}", *args, "--allow-pickle-weights")
    assert loaded.ret == 0, loaded.stdout.str()
    _, safe = project.run(f"--model={FIXTURE}", *args)
    assert [q["candidates"] for q in pickled["tasks"]["arithmetic"]["questions"]] == [
        q["candidates"] for q in safe["tasks"]["arithmetic"]["questions"]
    ]


def test_beside_safetensors_a_pickle_is_never_read(tmp_path):
    folder = tmp_path / "both"
    shutil.copytree(FIXTURE, folder)
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle at all: reading it would fail")
    backend = HFBackend(locate_checkpoint(str(folder)), device="cpu")
    assert backend.model is not None  # loaded from model.safetensors alone


def test_an_incomplete_cached_snapshot_offline_is_one_sentence(hub_cache):
    files = fixture_files()
    cache_repo(hub_cache, REPO_ID, {n: c for n, c in files.items() if n != "model.safetensors"}, listing=list(files))
    with pytest.raises(SelfDiscError) as error:
        locate_checkpoint(REPO_ID)
    assert_one_sentence(
        str(error.value), "org/name is not a local path and only partly in the Hugging Face cache", "HF_HUB_OFFLINE"
    )


def test_an_unknown_repo_offline_fails_fast_with_one_sentence(hub_cache, monkeypatch):
    # Only the environment says offline here, as when it is set after huggingface_hub was imported.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.monotonic()
    with pytest.raises(SelfDiscError) as error:
        locate_checkpoint("org/unknown")
    assert time.monotonic() - start < 10
    assert_one_sentence(
        str(error.value),
        "org/unknown is not a local path and not in the Hugging Face cache",
        "HF_HUB_OFFLINE",
        "pass a local checkpoint folder",
    )


def test_an_unknown_repo_offline_end_to_end_has_no_traceback(project, hub_cache):
    start = time.monotonic()
    result, _ = project.run("--model", "org/unknown")
    assert time.monotonic() - start < 60  # a whole pytest process; the look-up itself is checked above
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "Model org/unknown is not a local path" in output, output


def test_the_download_patterns_fetch_what_from_pretrained_reads_and_no_pickles():
    repo = [
        "config.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "additional_chat_templates/tool_use.jinja",
        "tokenizer.model",
        "tokenizer.model.v3",
        "spiece.model",
        "vocab.json",
        "merges.txt",
        "vocab.txt",
        "qwen.tiktoken",
        "modeling_custom.py",
        "pytorch_model.bin",
        "model.pt",
        "optimizer.pt",
        "model.gguf",
        ".gitattributes",
        "README.md",
    ]
    fetched = set(filter_repo_objects(repo, allow_patterns=HUB_PATTERNS))
    assert fetched == set(repo[:18])
