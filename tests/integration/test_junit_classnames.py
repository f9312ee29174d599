"""JUnit classnames of the shipped checks: their module's import name (``selfdisc_checks.checks.test_model``),
however the rootdir sits relative to the installed package. pytest derives a classname from the file's path
relative to the rootdir, so a virtual environment inside the repository gave
``.venv.lib.python3.11.site-packages.selfdisc_checks.checks.test_model``. Here the package is copied into exactly
that layout inside a scratch repository and run from there on the scripted backend (seconds, no model)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = '{"rules": [{"kind": "sample", "reply": " 4"}, {"kind": "greedy", "reply": "(1)"}]}'
OWN_TEST = "def test_own(selfdisc_result):\n    assert selfdisc_result.metrics['n'] == 2\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose virtual environment (here: only its site-packages) lies inside it, as ``.venv``."""
    root = tmp_path_factory.mktemp("repo")
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    shutil.copytree(REPO / "selfdisc_checks", site / "selfdisc_checks", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "model.json").write_text(SCRIPT)
    (root / "pyproject.toml").write_text(
        '[tool.selfdisc]\nmodel = "model.json"\nbackend = "scripted"\ntasks = ["arithmetic"]\nlimit = 2\n'
        'samples = 2\ncache_dir = "cache"\n'
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_own.py").write_text(OWN_TEST)
    return root


def junit(repo: Path, *args: str) -> tuple[list[dict[str, str]], subprocess.CompletedProcess]:
    site = repo / ".venv" / "lib" / "python3.11" / "site-packages"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = repo / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={out}", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    cases = [dict(case.attrib) for case in ElementTree.parse(out).getroot().iter("testcase")]
    return cases, run


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "two xdist workers"])
def test_the_shipped_checks_classnames_are_their_module_names(repo: Path, workers: tuple[str, ...]) -> None:
    cases, run = junit(repo, "--pyargs", "selfdisc_checks.checks", "tests", "-v", *workers)
    assert run.returncode == 0, run.stdout + run.stderr
    # The node ids are the paths in the repository, as before: only the classname is set.
    assert (
        ".venv/lib/python3.11/site-packages/selfdisc_checks/checks/test_model.py::test_dg_diff[arithmetic]"
        in run.stdout
    )
    shipped = [case for case in cases if not case["name"].startswith("test_own")]
    assert len(shipped) == 13, cases  # every shipped check of the task, passed or skipped
    assert {case["classname"] for case in shipped} == {
        "selfdisc_checks.checks.test_model",
        "selfdisc_checks.checks.test_regression",
        "selfdisc_checks.checks.test_likelihood",
    }
    # A test of the repository's own, with a selfdisc fixture, keeps the classname pytest gives it.
    assert [case["classname"] for case in cases if case["name"].startswith("test_own")] == ["tests.test_own"]


def test_a_junit_prefix_still_leads(repo: Path) -> None:
    args = (
        "--pyargs",
        "selfdisc_checks.checks",
        "--junitprefix=nightly",
        "-k",
        "test_dg_diff",
        "-o",
        "junit_family=xunit1",
    )
    cases, run = junit(repo, *args)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [case["classname"] for case in cases] == ["nightly.selfdisc_checks.checks.test_model"]
    assert cases[0]["file"] == ".venv/lib/python3.11/site-packages/selfdisc_checks/checks/test_model.py"
