"""The command-line options of a run, in one table: pytest's options, ``python -m selfdisc_checks run`` and the
``[tool.selfdisc]`` keys all come from it. Imports nothing, so the pytest plugin can register its options for free.
"""

from __future__ import annotations

from typing import Any

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


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
    "stop_when_decided": (
        "--stop-when-decided",
        {
            "action": "store_true",
            "default": None,
            "help": "run each task's questions in a seeded order, a chunk at a time, and stop once every gated check is settled by its confidence sequence (docs/statistics.md, Early stopping)",
        },
    ),
    "chunk": (
        "--chunk",
        {
            "metavar": "K",
            "type": int,
            "help": "with --stop-when-decided: questions per look (default 4 x --batch-size)",
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
