"""`python -m selfdisc_checks ci gate|nightly` (selfdisc_checks/ci.py) with a recording runner: what it reads
from the environment, the commands each step runs, and its exit statuses. No child process is started here
(tests/integration/test_ci_templates.py runs the command and its wrapper for real)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from selfdisc_checks import ci
from selfdisc_checks.__main__ import main as cli
from selfdisc_checks.errors import SelfDiscError


class Recorder:
    """Stands in for running a command: records it, and writes the history a real nightly run would append to."""

    def __init__(self, statuses: dict[str, int] | None = None, writes_history: bool = True) -> None:
        self.commands: list[list[str]] = []
        self.statuses = statuses or {}
        self.writes_history = writes_history

    def __call__(self, command) -> int:
        command = list(command)
        self.commands.append(command)
        kind = "pytest" if command[1:3] == ["-m", "pytest"] else "report"
        for word in command:
            if self.writes_history and word.startswith("--history="):
                Path(word.split("=", 1)[1]).write_text("")
        return self.statuses.get(kind, 0)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.selfdisc]\ntasks = ["arithmetic"]\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def step(name: str, repo: Path, run: Recorder, **environ: str) -> int:
    return ci.main(name, environ={"SELFDISC_MODEL": "ckpt", **environ}, cwd=repo, run=run)


def test_empty_variables_are_unset_and_extra_arguments_split_as_a_shell_would(repo):
    setup = ci.read_setup(
        {"SELFDISC_MODEL": "m", "SELFDISC_OUT": "", "SELFDISC_EXTRA_ARGS": "--limit 6 --data 'gsm8k=my data.jsonl'"},
        repo,
    )
    assert (setup.out, setup.cache, setup.history) == (
        Path("selfdisc-out"),
        ".selfdisc_cache",
        Path("selfdisc-history.sqlite"),
    )
    assert setup.extra == ("--limit", "6", "--data", "gsm8k=my data.jsonl")
    assert setup.python == sys.executable and setup.label  # a revision or a timestamp
    with pytest.raises(SelfDiscError, match="SELFDISC_EXTRA_ARGS cannot be split"):
        ci.read_setup({"SELFDISC_MODEL": "m", "SELFDISC_EXTRA_ARGS": "--data 'open"}, repo)


def test_the_gate_runs_the_shipped_checks_with_every_output_and_the_baseline_file_if_it_exists(repo):
    run = Recorder({"pytest": 1})
    (repo / "selfdisc-out" / "report").mkdir(parents=True)
    (repo / "selfdisc-out" / "report" / "old.png").write_text("a previous run's")
    assert step("gate", repo, run, SELFDISC_BASELINE="missing.json") == 1  # pytest's status
    (command,) = run.commands
    assert command[:7] == [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "selfdisc_checks.checks",
        "-p",
        "no:cacheprovider",
    ]
    assert "--model=ckpt" in command and "--report-dir=selfdisc-out/report" in command
    assert not any(word.startswith("--baseline") for word in command)
    assert not (repo / "selfdisc-out" / "report" / "old.png").exists()
    (repo / "release.json").write_text("{}")
    run = Recorder()
    assert step("gate", repo, run, SELFDISC_BASELINE="release.json", SELFDISC_EXTRA_ARGS="-k dg_diff") == 0
    assert "--baseline=release.json" in run.commands[0] and run.commands[0][-2:] == ["-k", "dg_diff"]


def test_nightly_appends_then_reports_and_says_which_failed(repo):
    run = Recorder()
    assert step("nightly", repo, run, SELFDISC_LABEL="n1", SELFDISC_HISTORY="h/runs.sqlite") == 0
    checks, report = run.commands
    assert "--history=h/runs.sqlite" in checks and "--run-label=n1" in checks
    assert report == [
        sys.executable,
        "-m",
        "selfdisc_checks",
        "report",
        "--history",
        "h/runs.sqlite",
        "--out",
        "selfdisc-out/report",
    ]
    assert step("nightly", repo, Recorder({"pytest": 1, "report": 3})) == 1  # the checks' status first
    assert step("nightly", repo, Recorder({"report": 3})) == 3
    nothing = Recorder(writes_history=False)
    assert step("nightly", repo, nothing, SELFDISC_HISTORY="none.sqlite") == 1 and len(nothing.commands) == 1


@pytest.mark.parametrize(
    "name, environ, message",
    [
        (None, {}, "no subcommand; use one of: gate, nightly"),
        ("deploy", {}, "unknown subcommand 'deploy'"),
        ("gate", {"SELFDISC_MODEL": ""}, "SELFDISC_MODEL is not set"),
        ("gate", {"SELFDISC_PYTHON": "no-such-python-here"}, "Python 'no-such-python-here' was not found"),
    ],
)
def test_a_setup_problem_is_one_sentence_before_anything_runs(repo, name, environ, message):
    run = Recorder()
    with pytest.raises(SelfDiscError, match=message):
        ci.main(name, environ={"SELFDISC_MODEL": "ckpt", **environ}, cwd=repo, run=run)
    assert run.commands == []


def test_the_command_line_names_the_step_and_refuses_extra_arguments(repo, capsys):
    assert cli(["ci", "gate", "--limit", "4"]) == 2
    assert "unexpected arguments after 'gate': --limit 4; put extra pytest arguments in SELFDISC_EXTRA_ARGS" in (
        capsys.readouterr().err
    )
    assert cli(["ci", "help"]) == 0
    shown = capsys.readouterr().out
    assert all(name in shown for name, _ in ci.VARIABLES) and "nightly" in shown
