"""README's "Use it in your repository", tried as a new user would: install this repository by path (no
package index entry), then run the shipped checks in a repository that holds only a pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conftest import FIXTURE, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (non-editable) install of this repository into a private folder, as `pip install PATH` makes."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _user_repo(path: Path, thresholds: str) -> Path:
    path.mkdir()
    (path / "pyproject.toml").write_text(
        '[tool.selfdisc]\ntasks = ["arithmetic"]\ncache_dir = ".selfdisc_cache"\nlimit = 4\n\n'
        f"[tool.selfdisc.thresholds]\n{thresholds}"
    )
    return path


def _run(repo: Path, installed: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_checks_run_in_a_repository_with_no_test_file(installed, tmp_path):
    repo = _user_repo(tmp_path / "user-repo", "s_gen = 0.1\ninvalid_rate = 0.5\n")
    where = _run(repo, installed, "-c", "import selfdisc_checks.checks as c; print(c.__file__)")
    assert where.stdout.strip().startswith(str(installed)), where  # the installed copy, not this checkout

    result = _run(
        repo,
        installed,
        "-m",
        "pytest",
        "--pyargs",
        "selfdisc_checks.checks",
        f"--model={FIXTURE}",
        "-p",
        "no:cacheprovider",
        "-rA",
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PASSED test_model.py::test_generation_accuracy[arithmetic]" in out
    assert "PASSED test_model.py::test_invalid_rate[arithmetic]" in out
    # What the run did not configure or measure is skipped with a reason, never silently passed.
    assert "no threshold set (add s_disc = <floor> under [tool.selfdisc.thresholds])" in out
    assert "no baseline to compare with" in out
    assert "self-discrimination checks:" in out and (repo / ".selfdisc_cache").is_dir()
    assert sorted(p.name for p in repo.iterdir()) == [".selfdisc_cache", "pyproject.toml"]  # no test file


def test_a_failing_installed_check_fails_the_run_with_its_reason(installed, tmp_path):
    repo = _user_repo(tmp_path / "strict-repo", "s_gen = 0.99\n")
    result = _run(
        repo,
        installed,
        "-m",
        "pytest",
        "--pyargs",
        "selfdisc_checks.checks",
        f"--model={FIXTURE}",
        "-p",
        "no:cacheprovider",
    )
    assert result.returncode == 1, result.stdout
    assert "FAILED test_model.py::test_generation_accuracy[arithmetic]" in result.stdout
    assert "arithmetic: S_gen = " in result.stdout and "below the floor 0.990" in result.stdout


def test_an_existing_projects_own_tests_run_unchanged_beside_the_install(installed, tmp_path):
    """A project with tests of its own, whose [tool.selfdisc] names a checkpoint not trained yet: installing
    selfdisc-checks changes nothing for its test run (same outcome, no file written), while the checks still run
    when asked for."""
    repo = tmp_path / "project"
    (repo / "tests").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[tool.selfdisc]\nmodel = "models/next"\nlimit = 4\n')
    (repo / "tests" / "test_own.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('n', [1, 2, 3])\ndef test_own(n):\n    assert n * 2 > n\n"
    )
    before = sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))
    with_plugin = _run(repo, installed, "-m", "pytest", "-p", "no:cacheprovider", "tests")
    without = _run(repo, installed, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:selfdisc", "tests")
    assert with_plugin.returncode == without.returncode == 0, with_plugin.stdout + with_plugin.stderr
    assert "3 passed" in with_plugin.stdout and "3 passed" in without.stdout
    after = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
    checks = _run(repo, installed, "-m", "pytest", "--pyargs", "selfdisc_checks.checks", f"--model={FIXTURE}", "-q")
    assert checks.returncode == 0, checks.stdout + checks.stderr


def test_the_ci_command_ships_in_the_package_and_gates_from_a_venv_inside_the_repository(installed, tmp_path):
    """`python -m selfdisc_checks ci gate` from the installed package (nothing copied from ci/), in a repository
    whose virtual environment lies inside it: the gate passes, and its JUnit classnames are the checks' module
    names, not the path through .venv."""
    repo = _user_repo(tmp_path / "repo", "s_gen = 0.1\ninvalid_rate = 0.5\n")
    site = repo / ".venv" / "lib" / "python3.11" / "site-packages"
    shutil.copytree(installed, site)  # the non-editable install, where a venv inside the repository puts it
    assert (site / "selfdisc_checks" / "ci.py").is_file()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SELFDISC_")}
    env.update(
        PYTHONPATH=str(site),
        SELFDISC_MODEL=str(FIXTURE),
        SELFDISC_EXTRA_ARGS="--limit 4 --samples 4 -o junit_family=xunit1",
        SELFDISC_LABEL="v1",
    )
    result = subprocess.run(
        [sys.executable, "-m", "selfdisc_checks", "ci", "gate"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selfdisc-checks ci gate: PASSED" in result.stdout
    assert (repo / "selfdisc-out" / "results.json").is_file() and (
        repo / "selfdisc-out" / "report" / "report.html"
    ).is_file()
    cases = list(ElementTree.parse(repo / "selfdisc-out" / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == 13
    assert {case.get("file") for case in cases} == {
        f".venv/lib/python3.11/site-packages/selfdisc_checks/checks/{name}.py"
        for name in ("test_model", "test_regression", "test_likelihood")
    }  # the installed copy ran, from inside the repository
    assert {case.get("classname") for case in cases} == {
        f"selfdisc_checks.checks.{name}" for name in ("test_model", "test_regression", "test_likelihood")
    }
