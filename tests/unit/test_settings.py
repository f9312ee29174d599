"""Settings: command line over [tool.selfdisc] over defaults, validated with one-sentence errors."""

import sys
from pathlib import Path

import pytest

from selfdisc_checks import SelfDiscError
from selfdisc_checks.gate import Threshold
from selfdisc_checks.settings import OPTIONS, read_pyproject, resolve_settings

NO_CLI = {name: None for name in OPTIONS}


def resolve(cli=None, config=None, base=Path(".")):
    return resolve_settings({**NO_CLI, **(cli or {})}, config or {}, base)


def test_defaults_follow_the_paper():
    settings = resolve()
    assert (settings.samples, settings.temperature, settings.tasks) == (4, 0.7, ("arithmetic",))
    assert settings.trust_remote_code is False and settings.device == "auto"


def test_command_line_overrides_config(tmp_path):
    config = {"samples": 8, "tasks": ["gsm8k"], "limit": 5, "cache_dir": "c", "model": "m"}
    (tmp_path / "m").mkdir()
    settings = resolve({"samples": 2, "tasks": "arithmetic, gsm8k"}, config, tmp_path)
    assert settings.samples == 2 and settings.tasks == ("arithmetic", "gsm8k") and settings.limit == 5
    assert settings.cache_dir == str(tmp_path / "c")  # config paths are relative to pyproject.toml
    assert settings.model == str(tmp_path / "m")


def test_data_option_and_config_table(tmp_path):
    assert resolve({"data": ["gsm8k=a.jsonl"]}).data == {"gsm8k": str(Path.cwd() / "a.jsonl")}
    assert resolve(config={"data": {"gsm8k": "d/t.jsonl"}}, base=tmp_path).data == {
        "gsm8k": str(tmp_path / "d/t.jsonl")
    }
    with pytest.raises(SelfDiscError, match="is not TASK=PATH"):
        resolve({"data": ["gsm8k"]})


def test_vllm_engine_options_from_the_command_line_and_the_config_table():
    cli = {"vllm_options": ["tensor_parallel_size=2", "distributed_executor_backend=ray", "enforce_eager=true"]}
    assert resolve(cli).vllm_options == {
        "tensor_parallel_size": 2,
        "distributed_executor_backend": "ray",
        "enforce_eager": True,
    }
    assert resolve(config={"vllm_options": {"pipeline_parallel_size": 2}}).vllm_options == {"pipeline_parallel_size": 2}
    with pytest.raises(SelfDiscError, match="is not KEY=VALUE"):
        resolve({"vllm_options": ["tensor parallel=2"]})
    with pytest.raises(SelfDiscError, match="vllm_options must be a table"):
        resolve(config={"vllm_options": "tp=2"})


def test_thresholds_global_then_per_task_then_default():
    settings = resolve(config={"thresholds": {"s_gen": 0.3, "gsm8k": {"s_gen": {"floor": 0.1, "mode": "confident"}}}})
    assert settings.threshold("arithmetic", "s_gen") == 0.3
    assert settings.check("arithmetic", "s_gen") == Threshold(0.3, "point")
    assert settings.check("gsm8k", "s_gen") == Threshold(0.1, "confident")
    assert settings.check("gsm8k", "dg_diff") == Threshold(0.0, "not-below")  # built-in
    assert settings.threshold("gsm8k", "s_disc") is None  # unset: the check is skipped
    off = resolve({"samples": 1}, {"thresholds": {"dg_diff": "off", "invalid_rate": {"ceiling": 0.2}}})
    assert off.check("arithmetic", "dg_diff") is None and off.check("arithmetic", "invalid_rate") == Threshold(0.2)


@pytest.mark.parametrize(
    "cli, config, message",
    [
        ({"samples": 0}, {}, "--samples must be at least 1"),
        ({"limit": 0}, {}, "--limit must be at least 1"),
        ({"temperature": -1.0}, {}, "--temperature must be >= 0"),
        ({"device": "tpu"}, {}, "--device 'tpu' is not one of"),
        ({"dtype": "int8"}, {}, "--dtype 'int8' is not one of"),
        ({"tasks": " , "}, {}, "No tasks given"),
        ({}, {"sampels": 3}, "Unknown key\\(s\\) sampels"),
        ({}, {"thresholds": {"accuracy": 0.5}}, "names neither a checked metric"),
        ({}, {"thresholds": {"oracle": 0.5}}, "names neither a checked metric"),
        ({}, {"thresholds": {"gsm8": {"s_gen": 0.1}}}, "names neither a checked metric .* nor a task"),
        ({}, {"thresholds": {"gsm8k": {"majority": 0.1}}}, "gsm8k.majority names a metric no check reads"),
        ({}, {"thresholds": {"s_gen": "high"}}, "must be a number"),
        (
            {},
            {"thresholds": {"s_gen": 50}},
            "Threshold s_gen = 50 is outside \\[0, 1\\] where s_gen lives; write rates as fractions",
        ),
        ({}, {"thresholds": {"dg_diff": -1.5}}, "Threshold dg_diff = -1.5 is outside \\[-1, 1\\]"),
        (
            {},
            {"thresholds": {"gsm8k": {"invalid_rate": {"ceiling": 2}}}},
            "Threshold gsm8k.invalid_rate = 2 is outside",
        ),
        ({}, {"thresholds": {"s_gen": {"floor": 0.1, "mode": "sure"}}}, "mode one of point, confident, not-below"),
        ({}, {"thresholds": {"invalid_rate": {"floor": 0.1}}}, "like {ceiling = 0.0"),
        ({"samples": 1}, {}, "--samples 1 makes DG-DIFF 0 by construction"),
        ({"samples": 3, "permutations": 7}, {}, "--permutations must be between 1 and 6"),
        ({"temperature": 0.0}, {}, "--temperature 0 makes DG-DIFF 0 by construction"),
        ({}, {"samples": "4"}, "samples must be an integer, not '4'"),
        ({}, {"limit": True}, "limit must be an integer"),
        ({}, {"trust_remote_code": "yes"}, "trust_remote_code must be true/false"),
        ({}, {"task_options": {"arithmetic": 3}}, "task_options must be a table"),
        ({"discriminate": "generate,vote"}, {}, "--discriminate generate,vote is not a list of generate, likelihood"),
        ({"discriminate": " , "}, {}, "is not a list of generate, likelihood"),
        ({"discriminate": "likelihood", "samples": 1}, {}, "--samples 1 makes DG-DIFF 0 by construction"),
        ({"baseline": "old.json", "baseline_model": "ckpt"}, {}, "pass only one of them"),
        ({}, {"baseline_model": 3}, "baseline_model must be a string"),
    ],
)
def test_bad_values(cli, config, message):
    with pytest.raises(SelfDiscError, match=message):
        resolve(cli, config)


def test_pyproject_is_read_and_bad_toml_is_explained(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.selfdisc]\nsamples = 6\n")
    assert read_pyproject(tmp_path)[0] == {"samples": 6}
    (tmp_path / "pyproject.toml").write_text("[tool.selfdisc\n")
    with pytest.raises(SelfDiscError, match="is not valid TOML"):
        read_pyproject(tmp_path)


def test_tolerances_global_then_per_task():
    settings = resolve(config={"tolerances": {"dg_diff": 0.01, "gsm8k": {"s_gen": 0.02}}})
    assert settings.tolerance("arithmetic", "dg_diff") == 0.01
    assert settings.tolerance("gsm8k", "s_gen") == 0.02
    assert settings.tolerance("gsm8k", "s_disc") == 0.0  # default: any confident drop is a regression
    with pytest.raises(SelfDiscError, match="Tolerance oracle names no compared metric"):
        resolve(config={"tolerances": {"oracle": 0.1}})
    with pytest.raises(SelfDiscError, match="Tolerance gsm8k.s_gen must be a number >= 0"):
        resolve(config={"tolerances": {"gsm8k": {"s_gen": -1}}})


def test_discrimination_methods_from_the_command_line_or_config():
    assert resolve({}, {}).discriminate == ("generate",)
    assert resolve({"discriminate": "likelihood, generate,likelihood"}, {}).discriminate == ("likelihood", "generate")
    assert resolve({}, {"discriminate": ["likelihood"]}).discriminate == ("likelihood",)
    # DG-DIFF's built-in check exists for each method; turning both off allows --samples 1.
    off = {"thresholds": {"dg_diff": "off", "dg_diff_likelihood": "off"}}
    assert resolve({"discriminate": "generate,likelihood", "samples": 1}, off).samples == 1
    with pytest.raises(SelfDiscError, match="--samples 1"):
        resolve({"discriminate": "generate,likelihood", "samples": 1}, {"thresholds": {"dg_diff": "off"}})


SUMS = {"data": "sums.jsonl", "question": "question", "answer": "answer", "metric": "numeric"}


def test_tasks_may_be_a_table_of_registered_and_declarative_tasks(tmp_path):
    settings = resolve(config={"tasks": {"sums": SUMS, "arithmetic": {}}}, base=tmp_path)
    assert settings.tasks == ("sums", "arithmetic")  # the table's order
    definition = settings.task_definitions["sums"]
    assert definition.data == str(tmp_path / "sums.jsonl") and definition.metric == "numeric"
    assert "arithmetic" not in settings.task_definitions
    assert settings.to_json()["task_definitions"]["sums"]["question"] == "question"  # recorded with the results
    assert resolve({"tasks": "arithmetic"}, {"tasks": {"sums": SUMS}}, tmp_path).tasks == (
        "arithmetic",
    )  # --tasks chooses
    assert resolve({"tasks": "sums"}, {"tasks": {"sums": SUMS}}, tmp_path).task_definitions["sums"] == definition
    assert resolve(config={"tasks": ["gsm8k"]}).task_definitions == {}


def test_thresholds_and_tolerances_may_name_declarative_tasks(tmp_path):
    config = {"tasks": {"sums": SUMS}, "thresholds": {"sums": {"s_gen": 0.4}}, "tolerances": {"sums": {"s_gen": 0.1}}}
    settings = resolve(config=config, base=tmp_path)
    assert settings.threshold("sums", "s_gen") == 0.4 and settings.tolerance("sums", "s_gen") == 0.1
    with pytest.raises(SelfDiscError, match="names neither a checked metric .* nor a task"):
        resolve(config={"thresholds": {"sums": {"s_gen": 0.4}}}, base=tmp_path)


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"tasks": {"gsm8k": {"data": "x.jsonl"}}},
            r"^\[tool.selfdisc.tasks.gsm8k\] redefines the registered task 'gsm8k'; "
            r"leave the table empty to run it as is \(its options go under \[tool.selfdisc.task_options.gsm8k\]\)",
        ),
        (
            {"tasks": {"sums": {}}},
            r"^\[tool.selfdisc.tasks.sums\] is empty but no registered task is called 'sums'; "
            r"define it with data, question, answer and metric, or run one of: arithmetic, ",
        ),
        (
            {"tasks": {"sums": {**SUMS, "metric": "close"}}},
            r"^\[tool.selfdisc.tasks.sums\] metric 'close' is not one of",
        ),
        ({"tasks": {"sums": 3}}, r"^\[tool.selfdisc.tasks.sums\] must be a table"),
        ({"tasks": {}}, "No tasks given"),
        ({"tasks": 3}, r"tasks must be a string or a list or a table, not 3\."),
        ({"task_modules": "mypkg.tasks"}, r"task_modules must be a list, not 'mypkg.tasks'\."),
        ({"task_modules": ["ok", 3]}, r"task_modules must be a list of module names \(strings\), not \['ok', 3\]\."),
        (
            {"task_modules": ["no_such_module_here"]},
            r"^Task module 'no_such_module_here' from task_modules in "
            r"\[tool.selfdisc\] could not be imported \(ModuleNotFoundError",
        ),
    ],
)
def test_bad_task_tables_and_modules(config, message):
    with pytest.raises(SelfDiscError, match=message):
        resolve(config=config)


def test_task_modules_add_their_tasks(tmp_path, monkeypatch, request):
    request.addfinalizer(lambda: sys.modules.pop("settings_user_tasks", None))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the project folder is appended to it; undo that afterwards
    (tmp_path / "settings_user_tasks.py").write_text(
        "from selfdisc_checks.tasks.arithmetic import ArithmeticTask\n\n\nclass Sums(ArithmeticTask):\n    name = 'sums_py'\n"
    )  # next to pyproject.toml (base), neither installed nor on sys.path
    config = {
        "task_modules": ["settings_user_tasks"],
        "tasks": {"sums_py": {}},
        "thresholds": {"sums_py": {"s_gen": 0.1}},
    }
    settings = resolve(config=config, base=tmp_path)
    assert settings.task_modules == ("settings_user_tasks",) and settings.tasks == ("sums_py",)
    with pytest.raises(SelfDiscError, match=r"redefines the registered task 'sums_py'"):
        resolve(config={**config, "tasks": {"sums_py": SUMS}}, base=tmp_path)


def test_the_config_table_model_knows_every_key_and_nothing_else():
    """The [tool.selfdisc] types live in one pydantic model: every key resolve_settings accepts has a type there."""
    from selfdisc_checks.settings import _CONFIG_ONLY, OPTIONS, ConfigTable, config_schema

    assert set(ConfigTable.model_fields) == set(OPTIONS) | _CONFIG_ONLY
    assert set(config_schema()["properties"]) == set(ConfigTable.model_fields)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["run", "--help"], ["compare", "--help"], ["history", "import", "--help"], ["report", "--help"]],
)
def test_every_help_text_says_whole_sentences(argv, capsys):
    """--help's description is a whole sentence (it once stopped at the first line's ', keep a run history,'),
    and every option's help closes what it opens."""
    from selfdisc_checks.__main__ import main

    with pytest.raises(SystemExit):
        main(argv)
    text = capsys.readouterr().out
    description = " ".join(text.split("\n\n")[1].split())
    assert description.endswith("."), description
    assert description.count("(") == description.count(")"), description


def test_the_bench_help_says_a_whole_sentence(capsys):
    from selfdisc_checks.bench import main

    with pytest.raises(SystemExit):
        main(["--help"])
    description = " ".join(capsys.readouterr().out.split("\n\n")[1].split())
    assert description.endswith("."), description


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_options_help_is_a_closed_phrase(name):
    text = OPTIONS[name][1]["help"]
    assert text.count("(") == text.count(")") and text.count("[") == text.count("]"), text
    assert not text.rstrip().endswith((",", ":", ";", "(", "and", "or", "the")), text
