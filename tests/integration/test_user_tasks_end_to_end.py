"""Tasks users write themselves, run end to end on the fixture checkpoint: a Python task from an installed
distribution's entry point, one from a ``task_modules`` module, and a declarative task defined only in
pyproject.toml (the worked example of docs/configuration.md, verbatim)."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from conftest import ADMIT_ANY, FIXTURE, Project, assert_checks_ran

# The worked example of docs/configuration.md ("Tasks of your own"): these two files and the command below, as written there
# (the test adds only -p no:cacheprovider and -rs; test_the_worked_example_is_the_one_in_the_docs keeps them equal).
EXAMPLE_PYPROJECT = r"""[tool.selfdisc.tasks.sums]               # defines the task "sums" and runs it
data = "sums.jsonl"                       # relative to this file; or a hub id like "org/name"
question = "question"                     # the field holding the question
answer = "answer"                         # the field holding the answer
metric = "numeric"                        # numeric, exact, exact_any or choice
prompt = "Q: {question}=\nA:"             # the last line is the answer prefix
shots = [{ question = "9-3", answer = 6 }, { question = "8*1", answer = 8 }]
stop = ["\n"]
max_new_tokens = 8

[tool.selfdisc.task_options.sums]
discrimination_max_tokens = 4             # the fixture answers "(2)"; no need for more

[tool.selfdisc.thresholds.sums]
s_gen = 0.25
s_disc = 0.25
dg_diff = { floor = -0.25, mode = "not-below" }
invalid_rate = 0.25
position_bias = 1.0                       # the tiny fixture always picks the same position
"""
EXAMPLE_DATA = """{"question": "2-7", "answer": -5}
{"question": "9+2", "answer": 11}
{"question": "0+8", "answer": 8}
{"question": "5*9", "answer": 45}
{"question": "5*3", "answer": 15}
{"question": "2+6", "answer": 8}
{"question": "3+1", "answer": 4}
{"question": "7*5", "answer": 35}
"""
EXAMPLE_COMMAND = (
    "--pyargs",
    "selfdisc_checks.checks",
    f"--model={FIXTURE}",
    "--limit",
    "8",
    "--results-json",
    "results.json",
)

# A Python task: the arithmetic task restricted to one operator (its prompts are the ones the fixture learned).
USER_MODULE = '''
from selfdisc_checks.tasks.arithmetic import ArithmeticTask


class Additions(ArithmeticTask):
    """Sums of two digits."""

    name = "additions"

    def __init__(self, **options):
        super().__init__(**{"operators": "+", "size": 50, **options})


def make_products(**options):
    """A factory: the built task is renamed to the name it is registered under."""
    return ArithmeticTask(**{"operators": "*", "size": 50, **options})
'''


def install_distribution(folder: Path, entry_points: str) -> None:
    """A distribution as pip leaves it: a module and its .dist-info with entry_points.txt, in ``folder``."""
    folder.mkdir(exist_ok=True)
    (folder / "user_tasks.py").write_text(USER_MODULE)
    info = folder / "user_tasks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: user-tasks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[selfdisc_checks.tasks]\n{entry_points}")


def on_pythonpath(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """The subprocess pytester starts inherits the environment, PYTHONPATH included."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))


def assert_no_traceback(result: pytest.RunResult, *fragments: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output


def test_a_python_task_from_an_entry_point(pytester, monkeypatch):
    install_distribution(pytester.path / "site", "products = user_tasks:make_products\n")
    on_pythonpath(monkeypatch, pytester.path / "site")
    project = Project(pytester, 'tasks = ["products"]\n' + ADMIT_ANY)
    result, document = project.run(f"--model={FIXTURE}", "--limit", "6", "-rs")
    assert_checks_ran(result)
    task = document["tasks"]["products"]
    assert task["options"]["operators"] == "*" and task["metrics"]["n"] == 6
    assert all("*" in question["question"] for question in task["questions"])


def test_a_python_task_from_task_modules(pytester):
    (pytester.path / "mypkg").mkdir()
    (pytester.path / "mypkg" / "__init__.py").write_text("")
    (pytester.path / "mypkg" / "tasks.py").write_text(USER_MODULE)
    project = Project(pytester, 'task_modules = ["mypkg.tasks"]\ntasks = ["additions"]\n' + ADMIT_ANY)
    result, document = project.run(f"--model={FIXTURE}", "--limit", "6", "-rs")
    assert_checks_ran(result)
    task = document["tasks"]["additions"]
    assert task["options"]["operators"] == "+" and task["metrics"]["n"] == 6
    assert document["settings"]["task_modules"] == ["mypkg.tasks"]


def test_the_worked_example_is_the_one_in_the_docs():
    """The files and command docs/configuration.md shows are those the test below runs, so the docs cannot drift."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = text[text.index("## Tasks of your own") :]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert blocks[0] == ("toml", EXAMPLE_PYPROJECT)
    assert blocks[1] == ("", EXAMPLE_DATA)
    language, command = blocks[2]
    words = command.split()
    assert language == "bash" and words[0] == "pytest"
    model = "--model=path/to/selfdisc-checks/fixtures/tiny-arith"
    assert model in words
    words[words.index(model)] = f"--model={FIXTURE}"
    assert tuple(words[1:]) == EXAMPLE_COMMAND


def test_a_declarative_task_runs_the_five_checks_from_pyproject_alone(pytester):
    """The worked example of docs/configuration.md: a pyproject.toml table, a JSONL file, one command."""
    (pytester.path / "pyproject.toml").write_text(EXAMPLE_PYPROJECT)
    (pytester.path / "sums.jsonl").write_text(EXAMPLE_DATA)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", *EXAMPLE_COMMAND)
    result.assert_outcomes(passed=5, skipped=8)  # no baseline, no likelihood discrimination asked
    assert "sums" in result.stdout.str()  # the summary table has a row for the task
    document = json.loads((pytester.path / "results.json").read_text())
    task = document["tasks"]["sums"]
    assert task["metrics"]["n"] == 8 and task["metrics"]["s_gen"] >= 0.25  # the fixture answers in this layout
    assert task["options"]["metric"] == "numeric" and task["options"]["data"] == str(pytester.path / "sums.jsonl")
    assert task["protocol"]["generation"]["shots"] == 2 and task["protocol"]["discrimination"]["demonstrations"] == 2
    first = task["questions"][0]
    assert (first["id"], first["question"], first["reference"]) == ("row-0", "2-7", "-5")
    assert first["prompts"]["generation"].endswith("Q: 8*1=\nA: 8\n\nQ: 2-7=\nA:")
    assert document["settings"]["tasks"] == ["sums"]
    assert document["settings"]["task_definitions"]["sums"]["metric"] == "numeric"


@pytest.mark.parametrize(
    "table, message",
    [
        (
            '[tool.selfdisc.tasks.sums]\ndata = "sums.jsonl"\nquestion = "question"\nanswer = "answer"\n',
            "[tool.selfdisc.tasks.sums] lacks metric; a task defined there needs data, question, answer and metric.",
        ),
        (
            '[tool.selfdisc.tasks.sums]\ndata = "gone.jsonl"\nquestion = "q"\nanswer = "a"\nmetric = "exact"\n',
            "for task 'sums' does not exist; fix data under [tool.selfdisc.tasks.sums]",
        ),
        (
            "[tool.selfdisc.tasks.arithmetic]\nterms = 3\n",
            "[tool.selfdisc.tasks.arithmetic] redefines the registered task 'arithmetic'",
        ),
        (
            'task_modules = ["missing_tasks"]\n',
            "Task module 'missing_tasks' from task_modules in [tool.selfdisc] could not be imported",
        ),
    ],
    ids=["missing-key", "missing-file", "redefined-built-in", "missing-module"],
)
def test_a_bad_task_definition_stops_the_run_with_one_sentence(pytester, table, message):
    project = Project(pytester, table)
    result, _ = project.run(f"--model={FIXTURE}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_no_traceback(result, message)


def test_a_broken_entry_point_stops_only_the_runs_that_use_it(pytester, monkeypatch):
    install_distribution(pytester.path / "site", "broken = user_tasks_gone:make\n")
    on_pythonpath(monkeypatch, pytester.path / "site")
    project = Project(pytester, 'tasks = ["broken"]\n' + ADMIT_ANY)
    result, _ = project.run(f"--model={FIXTURE}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_no_traceback(
        result,
        "Task entry point broken = user_tasks_gone:make (group selfdisc_checks.tasks) could "
        "not be loaded (ModuleNotFoundError: No module named 'user_tasks_gone').",
    )
    (pytester.path / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [tool.selfdisc]
        cache_dir = "cache"
        [tool.selfdisc.thresholds]
        dg_diff = "off"
    """)
    )
    result, _ = project.run(f"--model={FIXTURE}", "--limit", "1", "--co")  # another task: collected, not refused
    assert result.ret == 0, result.stdout.str()
