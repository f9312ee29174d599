"""Tasks: the base class, one module per task, and the registry behind ``get_task``.

A task name comes from exactly one of four sources, and the registry is computed from them on every call
(nothing is remembered between calls):

1. the built-in tasks (``arithmetic``, ``commonsenseqa``, ``gsm8k``, ``mtbench``, ``triviaqa``, ``truthfulqa``);
2. entry points of the group ``selfdisc_checks.tasks`` in installed distributions: ``name = "pkg.mod:Obj"``,
   where ``Obj`` is a ``Task`` subclass or a function returning a ``Task``; loaded only when that task is
   built, so a broken plugin fails the runs that use it, with one sentence naming it;
3. modules named in ``task_modules`` (``[tool.selfdisc]``), imported when the registry is computed: a module
   with a ``TASKS`` dict exposes exactly its entries (name -> ``Task`` subclass or factory); otherwise
   every concrete ``Task`` subclass *defined in* that module with a non-empty ``name`` is exposed under
   that name (classes it imports, such as a built-in it subclasses from, are not). A module that is not
   importable as installed is looked for in the project folder (``base``: the one holding pyproject.toml),
   which is then appended to ``sys.path``;
4. declarative definitions (``[tool.selfdisc.tasks.NAME]`` tables, see ``tasks.declarative``).

A name defined by two sources (a built-in included) is refused with one sentence naming both: a name
identifies a task's results, cache entries and baselines, so it must not depend on what else is installed.
The built task's ``name`` is the name it is registered under.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.tasks.base import Task

ENTRY_POINT_GROUP = "selfdisc_checks.tasks"
TaskFactory = Callable[..., Task]


@dataclass(frozen=True)
class RegisteredTask:
    """Where a task name comes from and how to build it (``load`` gives its class or factory)."""

    name: str
    # "the built-in tasks", "entry point x = pkg.mod:Obj", "module mypkg.tasks" or "[tool.selfdisc.tasks.x]"
    origin: str
    load: Callable[[], TaskFactory]
    user: bool = True  # user code: its failures are reported with its origin

    def build(self, **options: Any) -> Task:
        factory = self.load()
        try:
            task = factory(**options)
        except SelfDiscError:
            raise
        except TypeError as error:
            raise SelfDiscError(f"Task {self.name!r} does not accept these options ({error}).") from None
        except Exception as error:
            if not self.user:
                raise
            raise SelfDiscError(
                f"Task {self.name!r} ({self.origin}) could not be built ({type(error).__name__}: {error})."
            ) from None
        if not isinstance(task, Task):
            raise SelfDiscError(
                f"Task {self.name!r} ({self.origin}) built a {type(task).__name__}, not a selfdisc_checks Task."
            )
        if task.name != self.name:
            try:
                task.name = self.name  # results, cache keys and seeds use the registered name
            except AttributeError:
                raise SelfDiscError(
                    f"Task {self.name!r} ({self.origin}) built a task named {task.name!r} whose name cannot be set; "
                    "register it under that name."
                ) from None
        return task


def _builtin_tasks() -> dict[str, RegisteredTask]:
    from selfdisc_checks.tasks.arithmetic import ArithmeticTask
    from selfdisc_checks.tasks.commonsenseqa import CommonsenseQATask
    from selfdisc_checks.tasks.gsm8k import GSM8KTask
    from selfdisc_checks.tasks.mtbench import MTBenchTask
    from selfdisc_checks.tasks.triviaqa import TriviaQATask
    from selfdisc_checks.tasks.truthfulqa import TruthfulQATask

    builtins = (
        ("arithmetic", ArithmeticTask),
        ("commonsenseqa", CommonsenseQATask),
        ("gsm8k", GSM8KTask),
        ("mtbench", MTBenchTask),
        ("triviaqa", TriviaQATask),
        ("truthfulqa", TruthfulQATask),
    )
    return {name: RegisteredTask(name, "the built-in tasks", _returning(cls), user=False) for name, cls in builtins}


def _returning(value: Any) -> Callable[[], Any]:
    """A factory that returns ``value`` (a task class or callable), bound now, not when it is called."""
    return lambda: value


def _check_factory(value: Any, origin: str) -> TaskFactory:
    if inspect.isclass(value):
        if not issubclass(value, Task):
            raise SelfDiscError(
                f"{origin} names the class {value.__name__}, which is not a selfdisc_checks Task subclass."
            )
        if inspect.isabstract(value):
            raise SelfDiscError(
                f"{origin} names the abstract class {value.__name__}; implement load, prompt and discrimination_demos."
            )
        return value
    if not callable(value):
        raise SelfDiscError(f"{origin} is neither a Task subclass nor a function returning a Task, but {value!r}.")
    return value


def entry_point_tasks() -> dict[str, RegisteredTask]:
    """Tasks of the ``selfdisc_checks.tasks`` entry-point group (not imported until built)."""
    found: dict[str, RegisteredTask] = {}
    values: dict[str, str] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name} = {entry.value}"
        if entry.name in values:
            if values[entry.name] == entry.value:  # the same distribution seen twice on sys.path
                continue
            raise SelfDiscError(
                f"Task name {entry.name!r} is defined twice: by {found[entry.name].origin} and by {origin}; "
                "uninstall or rename one of them."
            )
        _check_name(entry.name, origin)
        values[entry.name] = entry.value
        found[entry.name] = RegisteredTask(entry.name, origin, _entry_point_loader(entry, origin))
    return found


def _entry_point_loader(entry: metadata.EntryPoint, origin: str) -> Callable[[], TaskFactory]:
    def load() -> TaskFactory:
        try:
            value = entry.load()
        except Exception as error:
            raise SelfDiscError(
                f"Task {origin} (group {ENTRY_POINT_GROUP}) could not be loaded ({type(error).__name__}: {error})."
            ) from None
        return _check_factory(value, f"Task {origin}")

    return load


def module_tasks(module_name: str, base: Path | None = None) -> dict[str, RegisteredTask]:
    """The tasks a ``task_modules`` module exposes: its ``TASKS`` dict, else the named ``Task`` subclasses
    it defines. A module not importable otherwise is looked for in ``base`` (the project folder)."""
    origin = f"module {module_name}"
    try:
        module = _import(module_name, base)
    except Exception as error:
        hint = ""
        # The hint is for the module itself (or its package) missing, not for a dependency it imports.
        if isinstance(error, ModuleNotFoundError) and f"{module_name}.".startswith(f"{error.name}."):
            hint = (
                "; install it, or put it in the folder of pyproject.toml (or on sys.path, e.g. with "
                "pythonpath under [tool.pytest.ini_options])"
            )
        raise SelfDiscError(
            f"Task module {module_name!r} from task_modules in [tool.selfdisc] could not be imported "
            f"({type(error).__name__}: {error}){hint}."
        ) from None
    if hasattr(module, "TASKS"):
        table = module.TASKS
        if not isinstance(table, Mapping) or not all(isinstance(name, str) for name in table):
            raise SelfDiscError(
                f"Task module {module_name!r}: TASKS must be a dict of task name -> Task subclass or factory, "
                f"not {type(table).__name__}."
            )
        exposed = {name: _check_factory(value, f"Task {name!r} in {origin}") for name, value in table.items()}
    else:
        exposed = {
            value.name: value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Task)
            and value.__module__ == module.__name__
            and not inspect.isabstract(value)
            and isinstance(value.name, str)
            and value.name
        }
    if not exposed:
        raise SelfDiscError(
            f"Task module {module_name!r} exposes no task; give it a TASKS dict (name -> Task subclass or "
            "factory) or define Task subclasses with a name in it."
        )
    for name in exposed:
        _check_name(name, origin)
    return {name: RegisteredTask(name, origin, _returning(value)) for name, value in exposed.items()}


def _import(module_name: str, base: Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        top = module_name.split(".", 1)[0]
        folder = str(base.resolve()) if base is not None else None
        if (
            error.name != top
            or folder is None
            or folder in sys.path
            or not (base is not None and ((base / top).is_dir() or (base / f"{top}.py").is_file()))
        ):
            raise
        sys.path.append(folder)
        importlib.invalidate_caches()
        return importlib.import_module(module_name)


def declarative_tasks(definitions: Mapping[str, Any], base: Path | None = None) -> dict[str, RegisteredTask]:
    """Tasks from ``[tool.selfdisc.tasks.NAME]`` definitions (``TaskDefinition``s, or raw tables parsed
    relative to ``base``, the current folder when None)."""
    from selfdisc_checks.tasks.declarative import DeclarativeTask, TaskDefinition, parse_definition

    found = {}
    for name, value in definitions.items():
        definition = value if isinstance(value, TaskDefinition) else parse_definition(name, value, base or Path.cwd())

        def factory(definition: TaskDefinition = definition) -> Callable[..., Task]:
            return lambda **options: DeclarativeTask(definition, **options)

        found[name] = RegisteredTask(name, f"[tool.selfdisc.tasks.{name}]", factory, user=False)
    return found


def task_registry(
    task_modules: Iterable[str] = (), task_definitions: Mapping[str, Any] | None = None, base: Path | None = None
) -> dict[str, RegisteredTask]:
    """Every task name, computed from the built-ins, the installed entry points, ``task_modules`` and the
    declarative ``task_definitions``; a name defined twice is refused with one sentence. ``base`` is the
    project folder: where raw definition tables' paths start, and where task modules are looked for."""
    registry = _builtin_tasks()
    sources = [entry_point_tasks()]
    sources += [module_tasks(name, base) for name in dict.fromkeys(task_modules)]
    sources.append(declarative_tasks(task_definitions or {}, base))
    for source in sources:
        for name, task in source.items():
            if name in registry:
                raise SelfDiscError(
                    f"Task name {name!r} is defined twice: by {registry[name].origin} and by {task.origin}; "
                    "rename one of them (each task name must have one definition)."
                )
            registry[name] = task
    return registry


def task_names(task_modules: Iterable[str] = (), task_definitions: Mapping[str, Any] | None = None) -> list[str]:
    """Names accepted by ``get_task`` and ``--tasks``: built-ins and entry points, plus the tasks of
    ``task_modules`` and ``task_definitions`` when given."""
    return sorted(task_registry(task_modules, task_definitions))


def get_task(
    name: str,
    *,
    task_modules: Iterable[str] = (),
    task_definitions: Mapping[str, Any] | None = None,
    **options: Any,
) -> Task:
    """The task called ``name``, built with ``options`` (e.g. ``get_task("gsm8k", data="test.jsonl")``);
    ``task_modules`` and ``task_definitions`` add user tasks (see the module docstring)."""
    registry = task_registry(task_modules, task_definitions)
    if name not in registry:
        raise SelfDiscError(f"Unknown task {name!r}; choose one of: {', '.join(sorted(registry))}.")
    return registry[name].build(**options)


def _check_name(name: str, origin: str) -> None:
    from selfdisc_checks.tasks.declarative import check_task_name

    check_task_name(name, origin)
