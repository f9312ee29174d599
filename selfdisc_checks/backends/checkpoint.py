"""Finding the checkpoint behind ``--model`` and telling the user plainly when it is not one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from selfdisc_checks.backends.fingerprint import fingerprint_path, is_skipped
from selfdisc_checks.errors import SelfDiscError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Weights are loaded from safetensors only: PyTorch pickles (.bin, .pt, .pth) can run code when loaded.
_WEIGHT_SUFFIXES = (".safetensors",)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth")

# Everything from_pretrained reads from a hub repository: config and generation config (*.json), weights
# (*.safetensors), tokenizers (tokenizer.json, *.model, vocab/merges files, *.tiktoken), chat templates
# (chat_template.jinja and additional_chat_templates/*.jinja, where transformers 5 saves them) and
# remote code (*.py, loaded only with --trust-remote-code). Pickled weights are never downloaded.
HUB_PATTERNS = [
    "*.json",
    "*.safetensors",
    "*.jinja",
    "*.model",
    "tokenizer.model*",
    "*.tiktoken",
    "*.txt",
    "vocab.*",
    "merges.*",
    "*.py",
]


@dataclass(frozen=True)
class Checkpoint:
    """A located checkpoint: a folder, optionally a .gguf file in it, and its content fingerprint."""

    model_id: str
    folder: Path
    gguf_file: str | None
    fingerprint: str
    allow_pickle: bool = False  # --allow-pickle-weights: PyTorch pickle weights may load (unpickling can run code)


def locate_checkpoint(
    model: str,
    memo: Path | None = None,
    allow_pickle: bool = False,
    option: str = "--model",
) -> Checkpoint:
    """Resolve a folder, a .gguf file, or a hub id already downloaded (or downloadable) to a Checkpoint.

    ``memo`` is the file-hash memo that spares re-reading unchanged weights (see ``fingerprint_path``);
    ``allow_pickle`` accepts checkpoints whose weights exist only as PyTorch pickles; ``option`` is the
    option the path came from (``--judge-model``, ...), named in the messages.
    """
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise SelfDiscError(
                f"{option} {model} is a file but not a .gguf checkpoint; pass a checkpoint folder or a .gguf file."
            )
        return Checkpoint(model, path.parent, path.name, fingerprint_path(path, memo))
    if path.is_dir():
        check_checkpoint_folder(path, model, allow_pickle=allow_pickle, option=option)
        return Checkpoint(model, path, None, fingerprint_path(path, memo), allow_pickle)
    if _HUB_ID.match(model) and not model.startswith("."):
        folder, listed = _hub_snapshot(model, allow_pickle, option)
        check_checkpoint_folder(folder, model, listed, allow_pickle, option)
        return Checkpoint(model, folder, None, fingerprint_path(folder, memo), allow_pickle)
    raise SelfDiscError(
        f"Model path {model} does not exist; pass an existing checkpoint folder or .gguf file to {option}."
    )


def check_checkpoint_folder(
    folder: Path,
    model: str,
    listed: Iterable[str] = (),
    allow_pickle: bool = False,
    option: str = "--model",
) -> None:
    """Fail with one sentence unless ``folder`` holds a config and safetensors weights (or, with
    ``allow_pickle``, PyTorch pickle weights).

    ``listed`` names more files of the checkpoint that are not in ``folder`` (a hub repository's listing),
    so that a repository with only pickled weights is named as such.
    """
    if not (folder / "config.json").is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        hint = f" (for GGUF, pass the file itself, e.g. {option} {folder / ggufs[0].name})" if ggufs else ""
        raise SelfDiscError(
            f"{model} is not a Hugging Face checkpoint: it has no config.json; pass the folder that holds "
            f"config.json and the weights{hint}."
        )
    present = [p.name for p in folder.iterdir() if p.is_file()]
    if any(name.endswith(_WEIGHT_SUFFIXES) for name in present):
        return
    pickles = sorted({name for name in [*present, *listed] if _is_pickled_weights(name)})
    if pickles and allow_pickle and any(_is_pickled_weights(name) for name in present):
        return
    if pickles:
        shown = ", ".join(pickles[:3]) + (", ..." if len(pickles) > 3 else "")
        raise SelfDiscError(
            f"{model} has only PyTorch pickle weights ({shown}), which this tool does not load because "
            "unpickling can run code; convert the checkpoint to safetensors, or pass --allow-pickle-weights if you "
            "trust whoever made it."
        )
    raise SelfDiscError(f"{model} has a config.json but no weight files (*.safetensors); the checkpoint is incomplete.")


def parameter_count(folder: Path) -> int | None:
    """How many weights the checkpoint's safetensors files hold, read from their headers alone (a few KB
    each), so the loader can tell whether the model fits one device before reading any weights. None when
    there are no safetensors files or a header cannot be read."""
    import json
    import math

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    try:
        for path in files:
            with path.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                if not 0 < size < 100 * 2**20:
                    return None
                header = json.loads(handle.read(size))
            total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return total


def _is_pickled_weights(name: str) -> bool:
    """A .bin/.pt/.pth file that is not training state (optimizer, scheduler, training arguments)."""
    return name.endswith(_PICKLE_SUFFIXES) and not is_skipped(Path(name))


def _hub_snapshot(repo_id: str, allow_pickle: bool = False, option: str = "--model") -> tuple[Path, list[str]]:
    """The local snapshot folder of ``repo_id`` (from the cache, else downloaded) and the repo's file list."""
    from huggingface_hub import errors, snapshot_download

    patterns = HUB_PATTERNS + (["*.bin", "*.pt", "*.pth"] if allow_pickle else [])
    offline = _hub_offline()
    local: Path | None = None
    partly = False
    try:
        local = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception as error:  # not cached, or cached incompletely: the online attempt below decides
        partly = isinstance(error, getattr(errors, "IncompleteSnapshotError", ()))
    if local is not None:
        # With a cached listing the hub client has checked the snapshot is complete; without one, a snapshot
        # that has neither safetensors nor pickled weights may be a partial download, completed online below.
        listed = _hub_listing(repo_id, online=False)
        if offline or listed or any(_is_weights(p.name) for p in local.iterdir() if p.is_file()):
            return local, listed
    if offline:
        raise SelfDiscError(
            f"Model {repo_id} is not a local path and {'only partly' if partly else 'not'} in the Hugging Face "
            "cache, and HF_HUB_OFFLINE is set so it cannot be downloaded; download it once online or pass a "
            f"local checkpoint folder or .gguf file to {option}."
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns)), _hub_listing(repo_id, online=True)
    except Exception as error:
        if local is not None:  # the checks on the cached copy will say what it lacks
            return local, _hub_listing(repo_id, online=False)
        raise SelfDiscError(
            f"Model {repo_id} is not a local path and could not be fetched from the Hugging Face hub "
            f"({type(error).__name__}); pass a local checkpoint folder or .gguf file to {option}."
        ) from None


def _hub_offline() -> bool:
    """Offline as huggingface_hub decided at import, or as the environment says now."""
    from huggingface_hub import constants

    now = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or now.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _is_weights(name: str) -> bool:
    return name.endswith(_WEIGHT_SUFFIXES) or _is_pickled_weights(name)


def _hub_listing(repo_id: str, online: bool) -> list[str]:
    """The repository's file names, from the listing the hub client cached or (online) from the hub."""
    try:
        from huggingface_hub import get_cached_repo_tree

        return [entry.path for entry in get_cached_repo_tree(repo_id)]
    except Exception:  # an older huggingface_hub, or no cached listing
        pass
    if not online:
        return []
    try:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(repo_id))
    except Exception:  # the listing only sharpens a message; without it the generic one stands
        return []
