"""Which backends ``--backend NAME`` can choose: the built-in ones and those other packages register.

A backend is a factory ``create(model, options) -> Backend``: ``model`` is the located ``Checkpoint`` (or,
for a factory whose ``locate`` attribute is set, what that returned), ``options`` the ``BackendOptions`` of
the run. A package adds one under the entry-point group ``selfdisc_checks.backends``::

    [project.entry-points."selfdisc_checks.backends"]
    openai = "my_package.openai_backend:create"

A factory may carry ``locate(model: str, option: str) -> Checkpoint``, which turns ``--model`` (or
``--judge-model`` ...) into the record that names the model in results and keys the cache (the default,
``locate_checkpoint``, expects a checkpoint folder, a .gguf file or a hub id). The built-in names are known
here as well as through this package's own entry points, so they work before ``pip install -e .`` is re-run;
a third party cannot take a built-in name. Nothing here imports torch: a factory's module is imported only
when its backend is created.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from selfdisc_checks.errors import SelfDiscError

if TYPE_CHECKING:
    from selfdisc_checks.backends.base import Backend
    from selfdisc_checks.backends.checkpoint import Checkpoint

GROUP = "selfdisc_checks.backends"

# name -> "module:attribute" of its factory (the same targets as pyproject.toml's entry points).
BUILTIN = {
    "hf": "selfdisc_checks.backends.factories:hf",
    "ray": "selfdisc_checks.backends.factories:ray",
    "vllm": "selfdisc_checks.backends.factories:vllm",
    "scripted": "selfdisc_checks.backends.scripted:create",
}


@dataclass(frozen=True)
class BackendOptions:
    """Everything a factory may need from the run's settings; a backend ignores what does not apply to it."""

    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    memory_budget: float | None = None  # bytes a decoding batch may use (None: what the device has free)
    worker: str | None = None  # the xdist worker id (gw0, ...): with several GPUs each takes its own
    workers: int = 1  # xdist workers sharing this machine (they share its CPU cores)
    rows_in_flight: int | None = None  # rows decoded at once when sampling (None: all of a call)
    prompts_in_flight: int | None = None  # prompts decoded at once greedily (None: all of a call)
    ray_address: str | None = None
    ray_actors: int | None = None
    vllm_options: Mapping[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False  # --allow-pickle-weights
    memo: Path | None = None  # the file-hash memo that spares re-reading unchanged weights
    option: str = "--model"  # the option that named this model, for messages
    described_as: str | None = None  # how messages name this model (None: its id)


class BackendFactory(Protocol):
    """What an entry point of the group ``selfdisc_checks.backends`` names."""

    def __call__(self, model: Any, options: BackendOptions) -> Backend: ...


def installed() -> dict[str, str]:
    """Backend name -> where its factory is, built-ins first (a third party cannot replace them)."""
    found = dict(BUILTIN)
    try:
        points = metadata.entry_points(group=GROUP)
    except Exception:  # a broken distribution in the environment must not hide the built-ins
        points = ()  # type: ignore[assignment]
    for point in points:
        found.setdefault(point.name, point.value)
    return found


def names() -> list[str]:
    return sorted(installed())


def check_name(name: str, option: str = "--backend") -> None:
    """One sentence when no installed backend is called ``name``."""
    if name not in installed():
        raise SelfDiscError(
            f"{option} {name!r} is not an installed backend; choose one of {', '.join(names())} (a package adds "
            f'one under the entry-point group "{GROUP}").'
        )


def factory(name: str, option: str = "--backend") -> BackendFactory:
    """The factory registered as ``name``, imported now."""
    check_name(name, option)
    target = installed()[name]
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        found: Any = module
        for part in attribute.split(".") if attribute else []:
            found = getattr(found, part)
    except SelfDiscError:
        raise
    except Exception as error:  # a third party's module can fail in any way
        raise SelfDiscError(
            f"{option} {name}: its factory {target} cannot be loaded ({type(error).__name__}: {error}); "
            "reinstall the package that provides it."
        ) from None
    if not callable(found):
        raise SelfDiscError(f"{option} {name}: {target} is not a factory (model, options) -> backend.")
    return found


def locate(name: str, model: str, options: BackendOptions) -> Checkpoint:
    """The record naming ``model`` for backend ``name`` (its checkpoint; a script for ``scripted``)."""
    locator: Callable[..., Checkpoint] | None = getattr(factory(name), "locate", None)
    if locator is not None:
        return locator(model, options.option)
    from selfdisc_checks.backends.checkpoint import locate_checkpoint

    return locate_checkpoint(model, memo=options.memo, allow_pickle=options.allow_pickle, option=options.option)


def create(name: str, model: Any, options: BackendOptions) -> Backend:
    """A backend ``name`` for ``model`` (what ``locate`` returned)."""
    return factory(name)(model, options)
