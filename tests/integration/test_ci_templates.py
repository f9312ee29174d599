"""The CI templates in ci/: both workflows are well-formed and call the shipped command
(`python -m selfdisc_checks ci gate|nightly`), which ci/selfdisc-ci.sh wraps, and the command runs what CI runs.
Fast tests drive the command and the wrapper with a stand-in Python that records its arguments; the slow ones run
them end to end on the fixture checkpoint in a scratch repository that holds nothing but a pyproject.toml."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from selfdisc_checks import ci

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "ci"
SCRIPT = CI / "selfdisc-ci.sh"
WORKFLOWS = {"release-gate": CI / "release-gate.yml", "nightly": CI / "nightly.yml"}
FIXTURE = REPO / "fixtures" / "tiny-arith"

PASSING = textwrap.dedent(
    """\
    [tool.selfdisc.thresholds]
    s_gen = 0.0
    s_disc = 0.0
    dg_diff = -1.0
    invalid_rate = 1.0
    position_bias = 1.0
    """
)
FAILING = PASSING.replace("s_gen = 0.0", "s_gen = 0.99")


# ------------------------------------------------------------------------------------------------- helpers


def workflow(name: str) -> dict:
    return yaml.safe_load(WORKFLOWS[name].read_text())


def triggers(document: dict) -> dict:
    """The `on:` table; YAML 1.1 reads the bare key `on` as the boolean True."""
    value = document.get("on", document.get(True))
    assert isinstance(value, dict), f"no 'on:' table in {document}"
    return value


def steps(document: dict) -> list[dict]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


COMMAND = (sys.executable, "-m", "selfdisc_checks", "ci")
CALLED = re.compile(r"python -m selfdisc_checks ci\s+(\S+)")  # how a workflow calls the command


def make_repo(path: Path, thresholds: str = PASSING) -> Path:
    """A repository holding only a pyproject.toml with a [tool.selfdisc] table."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(
        f'[tool.selfdisc]\nmodel = "{FIXTURE.as_posix()}"\ntasks = ["arithmetic"]\ncache_dir = "cache"\n\n{thresholds}'
    )
    return path


def clean_environ(**variables: str) -> dict[str, str]:
    """os.environ without any SELFDISC_* of the caller, plus the given variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SELFDISC_")}
    env.update(variables)
    return env


def run_script(
    *args: str, cwd: Path, timeout: float = 60, entry: str = "wrapper", **variables: str
) -> subprocess.CompletedProcess:
    """The wrapper script, or (``entry="command"``) the shipped command, with only the given SELFDISC_* set."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args] if entry == "wrapper" else [*COMMAND, *args],
        cwd=cwd,
        env=clean_environ(**variables),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


FAKE_PYTHON = """\
#!{python}
# A stand-in for python: records its arguments and writes the files a real run would write.
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:3] == ["-m", "selfdisc_checks", "ci"]:  # the wrapper's call: the real command (it calls us back)
    os.execv(sys.executable, [sys.executable, *args])
if args[:1] == ["-c"]:  # the check that selfdisc_checks imports
    sys.exit(int(os.environ.get("FAKE_IMPORT_STATUS", "0")))

def value(flag):
    for i, word in enumerate(args):
        if word == flag:
            return args[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1:]
    return None

if args[:2] == ["-m", "pytest"]:
    for flag in ("--results-json", "--junitxml", "--history"):
        if value(flag):
            Path(value(flag)).parent.mkdir(parents=True, exist_ok=True)
            Path(value(flag)).write_text("{{}}")
    if value("--report-dir"):
        Path(value("--report-dir")).mkdir(parents=True, exist_ok=True)
        (Path(value("--report-dir")) / "report.html").write_text("<html></html>")
    sys.exit(int(os.environ.get("FAKE_PYTEST_STATUS", "0")))
if args[:3] == ["-m", "selfdisc_checks", "report"]:
    Path(value("--out")).mkdir(parents=True, exist_ok=True)
    (Path(value("--out")) / "report.html").write_text("<html></html>")
    sys.exit(int(os.environ.get("FAKE_REPORT_STATUS", "0")))
sys.exit(0)
"""


class FakeRun:
    """The wrapper or the command run against a stand-in Python in a scratch repository."""

    def __init__(self, tmp_path: Path, entry: str = "wrapper") -> None:
        self.entry = entry
        self.repo = make_repo(tmp_path / "repo")
        self.log = tmp_path / "calls.jsonl"
        self.python = tmp_path / "fake-python"
        self.python.write_text(FAKE_PYTHON.format(python=sys.executable))
        self.python.chmod(0o755)

    def __call__(self, *args: str, **variables: str) -> subprocess.CompletedProcess:
        if self.log.exists():
            self.log.unlink()
        variables = {"SELFDISC_PYTHON": str(self.python), "FAKE_LOG": str(self.log), **variables}
        return run_script(*args, cwd=self.repo, entry=self.entry, **variables)

    def calls(self) -> list[list[str]]:
        """What the stand-in ran: pip, pytest and the report (not the import checks and the wrapper's hand-off)."""
        found = [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []
        return [call for call in found if call[:1] != ["-c"] and call[:3] != ["-m", "selfdisc_checks", "ci"]]

    def call(self, *prefix: str) -> list[str]:
        matching = [call for call in self.calls() if call[: len(prefix)] == list(prefix)]
        assert len(matching) == 1, (prefix, self.calls())
        return matching[0]


def option(call: list[str], flag: str) -> str | None:
    """The value of ``flag`` in a command line, written ``--flag VALUE`` or ``--flag=VALUE``."""
    for i, word in enumerate(call):
        if word == flag:
            return call[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


@pytest.fixture(params=["command", "wrapper"])
def fake(tmp_path: Path, request: pytest.FixtureRequest) -> FakeRun:
    """The shipped command, and ci/selfdisc-ci.sh in front of it: they must behave the same."""
    return FakeRun(tmp_path, request.param)


@pytest.fixture
def wrapper(tmp_path: Path) -> FakeRun:
    """ci/selfdisc-ci.sh alone (installing first is the wrapper's)."""
    return FakeRun(tmp_path, "wrapper")


# ----------------------------------------------------------------------------------------------- workflows


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_is_valid_yaml_with_jobs_on_a_gpu_runner(name: str) -> None:
    document = workflow(name)
    assert document["jobs"], name
    runners = [job["runs-on"] for job in document["jobs"].values()]
    assert ["self-hosted", "gpu"] in runners, runners


def test_release_gate_triggers() -> None:
    on = triggers(workflow("release-gate"))
    assert "checkpoint" in on["workflow_dispatch"]["inputs"]
    assert on["push"]["tags"]


def test_nightly_triggers() -> None:
    on = triggers(workflow("nightly"))
    assert on["schedule"] and all("cron" in entry for entry in on["schedule"])
    assert "workflow_dispatch" in on


@pytest.mark.parametrize("name, subcommand", [("release-gate", "gate"), ("nightly", "nightly")])
def test_workflow_has_the_named_steps(name: str, subcommand: str) -> None:
    document = workflow(name)
    all_steps = steps(document)
    assert all(step.get("name") for step in all_steps), "every step has a name"
    used = [uses(step) for step in all_steps]
    assert "actions/checkout" in used
    assert "actions/setup-python" in used
    assert any(action.startswith("actions/cache") for action in used)
    assert "actions/upload-artifact" in used
    runs = [step.get("run", "") for step in all_steps]
    assert any("pip install" in run and "torch" in run for run in runs), "a step installs torch"
    assert [match.group(1) for run in runs for match in CALLED.finditer(run)] == [subcommand], runs


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_uploads_run_always(name: str) -> None:
    uploads = [step for step in steps(workflow(name)) if uses(step) == "actions/upload-artifact"]
    assert uploads
    for step in uploads:
        assert "always()" in str(step.get("if", "")), step["name"]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_cache_is_saved_even_when_the_checks_fail(name: str) -> None:
    """actions/cache saves only after a successful job, so the templates save explicitly under always()."""
    caches = [step for step in steps(workflow(name)) if uses(step).startswith("actions/cache")]
    saves = [step for step in caches if uses(step) in ("actions/cache", "actions/cache/save")]
    assert saves and all("always()" in str(step.get("if", "")) for step in saves), caches


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_calls_only_subcommands_the_command_supports(name: str) -> None:
    calls = [match.group(1) for step in steps(workflow(name)) for match in CALLED.finditer(step.get("run", ""))]
    assert calls, f"{name} never calls python -m selfdisc_checks ci"
    assert set(calls) <= set(ci.STEPS), (calls, ci.STEPS)
    text = WORKFLOWS[name].read_text()
    assert "OWNER" not in text and "selfdisc-ci.sh" not in text  # no placeholder, no script to copy


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_installs_what_is_set_else_keeps_the_installed_package(name: str) -> None:
    install = next(step for step in steps(workflow(name)) if "pip install" in step.get("run", ""))
    assert install["env"]["SELFDISC_PACKAGE"] == "${{ vars.SELFDISC_PACKAGE }}"
    assert 'python -m pip install "$SELFDISC_PACKAGE"' in install["run"]
    assert "import selfdisc_checks" in install["run"] and "::error::" in install["run"]


def test_release_gate_hands_the_baseline_to_the_script() -> None:
    """The file the fetch step downloads is the file the script reads as SELFDISC_BASELINE."""
    document = workflow("release-gate")
    baseline = document["env"]["SELFDISC_BASELINE"]
    assert Path(baseline).name == "selfdisc-results.json"
    fetch = next(step for step in steps(document) if "gh release download" in step.get("run", ""))
    assert fetch.get("continue-on-error") is True
    assert "--pattern selfdisc-results.json" in fetch["run"]


def test_nightly_persists_the_history_it_appends_to() -> None:
    document = workflow("nightly")
    history = document["env"]["SELFDISC_HISTORY"]
    cached = " ".join(
        str(step.get("with", {}).get("path", "")) for step in steps(document) if uses(step).startswith("actions/cache")
    )
    assert "env.SELFDISC_HISTORY" in cached and history


# ------------------------------------------------------------------------------------------------ the script


def test_script_is_executable_and_valid_bash() -> None:
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in SCRIPT.read_text()
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


ENTRIES = ["command", "wrapper"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("asked", ["help", "--help"])
def test_help_lists_the_subcommands_and_variables(tmp_path: Path, entry: str, asked: str) -> None:
    result = run_script(asked, cwd=tmp_path, entry=entry)
    assert result.returncode == 0
    if entry == "wrapper":
        assert "SELFDISC_INSTALL" in result.stdout and "SELFDISC_PACKAGE" in result.stdout
    for word in (
        "gate",
        "nightly",
        "SELFDISC_MODEL",
        "SELFDISC_BASELINE",
        "SELFDISC_OUT",
        "SELFDISC_CACHE",
        "SELFDISC_HISTORY",
        "SELFDISC_LABEL",
        "SELFDISC_EXTRA_ARGS",
        "SELFDISC_PYTHON",
    ):
        assert word in result.stdout, word


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "no subcommand"),
        (("deploy",), "unknown subcommand 'deploy'"),
        (("gate", "--limit", "4"), "unexpected arguments after 'gate'"),
    ],
)
@pytest.mark.parametrize("entry", ENTRIES)
def test_bad_subcommand_is_one_sentence(tmp_path: Path, args: tuple[str, ...], message: str, entry: str) -> None:
    result = run_script(*args, cwd=make_repo(tmp_path / "repo"), entry=entry, SELFDISC_MODEL="ckpt")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("subcommand", ["gate", "nightly"])
def test_missing_model_is_one_sentence(tmp_path: Path, subcommand: str, entry: str) -> None:
    result = run_script(subcommand, cwd=make_repo(tmp_path / "repo"), entry=entry, SELFDISC_MODEL="")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: SELFDISC_MODEL is not set; set it to the checkpoint to check (a folder, a .gguf file or a hub id)."
    )


@pytest.mark.parametrize("entry", ENTRIES)
def test_missing_pyproject_and_table(tmp_path: Path, entry: str) -> None:
    result = run_script("gate", cwd=tmp_path, entry=entry, SELFDISC_MODEL="ckpt")
    assert result.returncode == 2 and "no pyproject.toml" in result.stderr, result.stderr
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run_script("gate", cwd=tmp_path, entry=entry, SELFDISC_MODEL="ckpt")
    assert result.returncode == 2 and "has no [tool.selfdisc] table" in result.stderr, result.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.selfdisc\n")
    result = run_script("gate", cwd=tmp_path, entry=entry, SELFDISC_MODEL="ckpt")
    assert result.returncode == 2 and "is not valid TOML" in result.stderr, result.stderr


def test_a_subtable_alone_counts_as_configuration(fake: FakeRun) -> None:
    (fake.repo / "pyproject.toml").write_text("[tool.selfdisc.thresholds]\ns_gen = 0.1\n")
    assert fake("gate", SELFDISC_MODEL="ckpt").returncode == 0


def test_missing_python_and_missing_package(fake: FakeRun) -> None:
    result = fake("gate", SELFDISC_MODEL="ckpt", SELFDISC_PYTHON="no-such-python-here")
    assert result.returncode == 2 and "Python 'no-such-python-here' was not found" in result.stderr
    result = run_script("gate", cwd=fake.repo, entry=fake.entry, SELFDISC_MODEL="ckpt", SELFDISC_PYTHON="/bin/false")
    assert result.returncode == 2 and "cannot import selfdisc_checks" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_gate_runs_the_packaged_checks_with_every_output(fake: FakeRun) -> None:
    result = fake("gate", SELFDISC_MODEL="my/ckpt", SELFDISC_EXTRA_ARGS="  --limit 6\t--samples  4 ")
    assert result.returncode == 0, result.stderr
    call = fake.call("-m", "pytest")
    assert call[2:6] == ["--pyargs", "selfdisc_checks.checks", "-p", "no:cacheprovider"]
    assert option(call, "--model") == "my/ckpt"
    assert option(call, "--cache-dir") == ".selfdisc_cache"
    assert option(call, "--results-json") == "selfdisc-out/results.json"
    assert option(call, "--junitxml") == "selfdisc-out/junit.xml"
    assert option(call, "--report-dir") == "selfdisc-out/report"
    assert call[-4:] == ["--limit", "6", "--samples", "4"]
    assert option(call, "--baseline") is None and option(call, "--history") is None
    assert "selfdisc-out/results.json" in result.stdout and "gate: PASSED" in result.stdout


def test_gate_passes_the_baseline_only_when_the_file_exists(fake: FakeRun) -> None:
    result = fake("gate", SELFDISC_MODEL="ckpt", SELFDISC_BASELINE="old/results.json")
    assert result.returncode == 0
    assert "--baseline" not in fake.call("-m", "pytest")
    assert "no baseline at old/results.json" in result.stderr
    (fake.repo / "old").mkdir()
    (fake.repo / "old" / "results.json").write_text("{}")
    assert fake("gate", SELFDISC_MODEL="ckpt", SELFDISC_BASELINE="old/results.json").returncode == 0
    assert option(fake.call("-m", "pytest"), "--baseline") == "old/results.json"


def test_gate_settings_and_a_failing_check(fake: FakeRun) -> None:
    (fake.repo / "selfdisc-out-x" / "report").mkdir(parents=True)
    (fake.repo / "selfdisc-out-x" / "report" / "stale.png").write_text("old run")
    result = fake(
        "gate",
        SELFDISC_MODEL="ckpt",
        SELFDISC_OUT="selfdisc-out-x",
        SELFDISC_CACHE="/tmp/cands",
        FAKE_PYTEST_STATUS="1",
    )
    assert result.returncode == 1
    call = fake.call("-m", "pytest")
    assert option(call, "--cache-dir") == "/tmp/cands"
    assert option(call, "--results-json") == "selfdisc-out-x/results.json"
    assert not (fake.repo / "selfdisc-out-x" / "report" / "stale.png").exists(), "a previous run's files are cleared"
    assert "gate: FAILED with pytest exit status 1" in result.stdout


def test_nightly_appends_to_the_history_then_reports(fake: FakeRun) -> None:
    result = fake("nightly", SELFDISC_MODEL="ckpt", SELFDISC_LABEL="night-1", SELFDISC_HISTORY="h/history.sqlite")
    assert result.returncode == 0, result.stderr
    checks, report = fake.calls()[-2:]
    assert checks[:4] == ["-m", "pytest", "--pyargs", "selfdisc_checks.checks"]
    assert option(checks, "--history") == "h/history.sqlite"
    assert option(checks, "--run-label") == "night-1"
    assert option(checks, "--results-json") == "selfdisc-out/results.json"
    assert option(checks, "--junitxml") == "selfdisc-out/junit.xml"
    assert "--report-dir" not in checks
    assert report == [
        "-m",
        "selfdisc_checks",
        "report",
        "--history",
        "h/history.sqlite",
        "--out",
        "selfdisc-out/report",
    ]


def test_nightly_reports_before_failing(fake: FakeRun) -> None:
    result = fake("nightly", SELFDISC_MODEL="ckpt", FAKE_PYTEST_STATUS="1")
    assert result.returncode == 1
    assert fake.call("-m", "selfdisc_checks", "report")
    assert (fake.repo / "selfdisc-out" / "report" / "report.html").exists()
    assert "checks FAILED with pytest exit status 1" in result.stdout


def test_nightly_fails_when_the_report_fails(fake: FakeRun) -> None:
    result = fake("nightly", SELFDISC_MODEL="ckpt", FAKE_REPORT_STATUS="3")
    assert result.returncode == 3
    assert "the report failed with exit status 3" in result.stdout


def test_default_label_is_the_git_revision_else_a_timestamp(fake: FakeRun) -> None:
    assert fake("nightly", SELFDISC_MODEL="ckpt").returncode == 0
    assert re.fullmatch(r"\d{8}T\d{6}Z", option(fake.call("-m", "pytest"), "--run-label"))
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    identity = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for command in (["init", "-q"], ["add", "pyproject.toml"], ["commit", "-q", "-m", "config"]):
        subprocess.run(["git", *command], cwd=fake.repo, env=clean_environ(**identity), check=True)
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=fake.repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert fake("nightly", SELFDISC_MODEL="ckpt").returncode == 0
    assert option(fake.call("-m", "pytest"), "--run-label") == revision


def test_install_needs_a_package_unless_one_is_installed(wrapper: FakeRun) -> None:
    result = wrapper("gate", SELFDISC_MODEL="ckpt", SELFDISC_INSTALL="1", FAKE_IMPORT_STATUS="1")
    assert result.returncode == 2 and "SELFDISC_INSTALL=1 needs SELFDISC_PACKAGE" in result.stderr
    result = wrapper("gate", SELFDISC_MODEL="ckpt", SELFDISC_INSTALL="yes")
    assert result.returncode == 2 and "SELFDISC_INSTALL is 'yes'" in result.stderr
    assert wrapper.calls() == []
    result = wrapper("gate", SELFDISC_MODEL="ckpt", SELFDISC_INSTALL="1")  # installed: kept, torch installed
    assert result.returncode == 0 and "keeping the installed selfdisc-checks" in result.stderr
    assert [call[:3] for call in wrapper.calls()] == [["-m", "pip", "install"], ["-m", "pytest", "--pyargs"]]


def test_install_puts_cpu_torch_and_the_package_first(wrapper: FakeRun) -> None:
    fake = wrapper
    assert fake("gate", SELFDISC_MODEL="ckpt", SELFDISC_INSTALL="1", SELFDISC_PACKAGE="/src/selfdisc").returncode == 0
    calls = fake.calls()
    assert calls[0] == ["-m", "pip", "install", "torch", "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert calls[1] == ["-m", "pip", "install", "/src/selfdisc"]
    assert calls[-1][:2] == ["-m", "pytest"]
    fake("gate", SELFDISC_MODEL="ckpt", SELFDISC_INSTALL="1", SELFDISC_PACKAGE="/src/selfdisc", SELFDISC_TORCH_INDEX="")
    assert fake.calls()[0] == ["-m", "pip", "install", "torch"]


# ------------------------------------------------------------------------------------ end to end, on the fixture


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One candidate cache for every end-to-end run here: they ask the same questions of the same checkpoint."""
    return tmp_path_factory.mktemp("candidates")


def run_real(
    subcommand: str, repo: Path, cache: Path, entry: str = "command", **variables: str
) -> subprocess.CompletedProcess:
    result = run_script(
        subcommand,
        cwd=repo,
        timeout=900,
        entry=entry,
        SELFDISC_MODEL=str(FIXTURE),
        SELFDISC_CACHE=str(cache),
        SELFDISC_PYTHON=sys.executable,
        SELFDISC_EXTRA_ARGS="--limit 4 --samples 4",
        **variables,
    )
    print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
    return result


def junit_counts(path: Path) -> dict[str, int]:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors")}


def junit_outcomes(path: Path) -> dict[str, str]:
    """Each test case's name and outcome: passed, skipped, failure or error."""
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        tags = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        outcomes[case.get("name", "")] = tags[0] if tags else "passed"
    return outcomes


def history_strings(path: Path) -> set[str]:
    """Every text value in the history database, whatever its schema."""
    found: set[str] = set()
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                found.update(value for value in row if isinstance(value, str))
    return found


@pytest.mark.slow
def test_gate_end_to_end_then_against_its_own_baseline(tmp_path: Path, shared_cache: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = repo / "selfdisc-out"
    result = run_real("gate", repo, shared_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((out / "results.json").read_text())
    assert "arithmetic" in document["tasks"]
    counts = junit_counts(out / "junit.xml")
    assert counts["tests"] >= 5 and counts["failures"] == counts["errors"] == 0, counts
    classnames = {case.get("classname") for case in ElementTree.parse(out / "junit.xml").getroot().iter("testcase")}
    assert classnames <= {
        f"selfdisc_checks.checks.{name}" for name in ("test_model", "test_regression", "test_likelihood")
    }
    assert (out / "report" / "report.html").stat().st_size > 0
    assert "selfdisc-checks ci gate: PASSED" in result.stdout

    shutil.copy(out / "results.json", tmp_path / "baseline.json")
    result = run_real("gate", repo, shared_cache, SELFDISC_BASELINE=str(tmp_path / "baseline.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = junit_outcomes(out / "junit.xml")
    compared = {name: outcome for name, outcome in outcomes.items() if name.startswith("test_no_regression")}
    assert "passed" in compared.values() and "failure" not in compared.values(), outcomes


@pytest.mark.slow
def test_nightly_end_to_end_twice(tmp_path: Path, shared_cache: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    history = repo / "history" / "runs.sqlite"
    report = repo / "selfdisc-out" / "report"
    for label in ("night-1", "night-2"):
        result = run_real(
            "nightly", repo, shared_cache, "wrapper", SELFDISC_HISTORY="history/runs.sqlite", SELFDISC_LABEL=label
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert label in history_strings(history)
        assert (report / "report.html").stat().st_size > 0
        assert (report / "summary.md").exists()
        assert json.loads((repo / "selfdisc-out" / "results.json").read_text())["tasks"]
    assert {"night-1", "night-2"} <= history_strings(history)


@pytest.mark.slow
def test_failing_gate_end_to_end_still_writes_its_outputs(tmp_path: Path, shared_cache: Path) -> None:
    repo = make_repo(tmp_path / "repo", thresholds=FAILING)
    out = repo / "selfdisc-out"
    result = run_real("gate", repo, shared_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads((out / "results.json").read_text())["tasks"]["arithmetic"]
    assert junit_counts(out / "junit.xml")["failures"] >= 1
    assert (out / "report" / "report.html").exists()
    assert "gate: FAILED with pytest exit status 1" in result.stdout
