"""Finding the checkpoint behind ``--model`` and telling the user plainly when it is not one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.backends.fingerprint import fingerprint_path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class Checkpoint:
    """A located checkpoint: a folder, optionally a .gguf file in it, and its content fingerprint."""

    model_id: str
    folder: Path
    gguf_file: str | None
    fingerprint: str


def locate_checkpoint(model: str) -> Checkpoint:
    """Resolve a folder, a .gguf file, or a hub id already downloaded (or downloadable) to a Checkpoint."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise SelfDiscError(
                f"--model {model} is a file but not a .gguf checkpoint; pass a checkpoint folder or a .gguf file."
            )
        return Checkpoint(model, path.parent, path.name, fingerprint_path(path))
    if path.is_dir():
        check_checkpoint_folder(path, model)
        return Checkpoint(model, path, None, fingerprint_path(path))
    if _HUB_ID.match(model) and not model.startswith("."):
        folder = _hub_snapshot(model)
        check_checkpoint_folder(folder, model)
        return Checkpoint(model, folder, None, fingerprint_path(folder))
    raise SelfDiscError(f"Model path {model} does not exist; pass an existing checkpoint folder or .gguf file to --model.")


def check_checkpoint_folder(folder: Path, model: str) -> None:
    """Fail with one sentence unless ``folder`` holds a config and weights."""
    if not (folder / "config.json").is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        hint = f" (for GGUF, pass the file itself, e.g. --model {folder / ggufs[0].name})" if ggufs else ""
        raise SelfDiscError(
            f"{model} is not a Hugging Face checkpoint: it has no config.json; pass the folder that holds "
            f"config.json and the weights{hint}."
        )
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file()):
        raise SelfDiscError(
            f"{model} has a config.json but no weight files (*.safetensors or *.bin); the checkpoint is incomplete."
        )


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.py", "*.tiktoken"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as error:
        raise SelfDiscError(
            f"Model {repo_id} is not a local path and could not be fetched from the Hugging Face hub "
            f"({type(error).__name__}); pass a local checkpoint folder or .gguf file to --model."
        ) from None
