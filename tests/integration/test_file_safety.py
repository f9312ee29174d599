"""Files the tool writes: only the cache, results, history and report paths it was given, with the user's
normal permissions (their umask), and no name taken from a model's, a task's or a results file's text can
lead a write outside those folders."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import ADMIT_ANY, FIXTURE, Project

UMASK = 0o027  # stricter than the usual 022, so a mode that ignores the umask shows


def files_under(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` (relative name -> permission bits), links and folders aside."""
    return {
        str(path.relative_to(folder)): stat.S_IMODE(path.lstat().st_mode)
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=cwd,
        preexec_fn=lambda: os.umask(UMASK),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


def test_a_run_writes_only_where_it_was_told_with_the_users_permissions(pytester):
    project = Project(pytester, ADMIT_ANY)
    before = set(files_under(project.path))
    done = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--model={FIXTURE}",
            "--limit",
            "3",
            "--samples",
            "2",
            "--results-json",
            "out/results.json",
            "--history",
            "hist/runs.sqlite",
            "--report-dir",
            "report",
        ],
        project.path,
    )
    assert done.returncode == 0, done.stdout
    # pytester makes the project folder HOME, where matplotlib keeps its font cache (~/.cache): not ours
    written = {
        name: mode
        for name, mode in files_under(project.path).items()
        if name not in before and not name.startswith(".cache/")
    }
    assert set(written) == {
        "cache/selfdisc-v2.sqlite",
        "cache/file-hashes-v1.sqlite",
        "cache/CACHEDIR.TAG",
        "cache/.gitignore",
        "out/results.json",
        "hist/runs.sqlite",
        "report/report.html",
        "report/summary.md",
        "report/trend_arithmetic.png",
    }, written
    wrong = {name: oct(mode) for name, mode in written.items() if mode != 0o666 & ~UMASK}
    assert not wrong, f"files that ignore the umask {oct(UMASK)}: {wrong}"


HOSTILE = [
    "../escaped",
    "../../etc/passwd",
    "/tmp/absolute",
    "a/b",
    "..",
    ".",
    "nul\x00byte",
    "x" * 300,
    "<script>",
    "trend_arithmetic",
]


def test_names_from_a_results_file_never_lead_outside_the_report_folder(tmp_path, pytester):
    project = Project(pytester, ADMIT_ANY)
    done = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--model={FIXTURE}",
            "--limit",
            "2",
            "--samples",
            "2",
            "--results-json",
            "results.json",
        ],
        project.path,
    )
    assert done.returncode == 0, done.stdout
    document = json.loads((project.path / "results.json").read_text())
    task = document["tasks"].pop("arithmetic")
    document["tasks"] = {name: task for name in HOSTILE}  # someone else's results file, names and all
    document["model"]["id"] = "../../model"
    (tmp_path / "hostile.json").write_text(json.dumps(document))
    work = tmp_path / "work"
    work.mkdir()
    for command in (
        ["history", "import", "--history", "h.sqlite", "--run-label", "../label", str(tmp_path / "hostile.json")],
        ["report", "--history", "h.sqlite", "--out", "out"],
    ):
        result = run([sys.executable, "-m", "selfdisc_checks", *command], work)
        assert result.returncode == 0, result.stdout
    written = files_under(tmp_path)
    assert set(written) - {"hostile.json"} == {
        "work/h.sqlite",
        *(f"work/out/{name}" for name in files_under(work / "out")),
    }
    pngs = sorted(name for name in files_under(work / "out") if name.endswith(".png"))
    assert len(pngs) == len(HOSTILE) and all("/" not in name and name.startswith("trend_") for name in pngs), pngs
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute").exists()
    assert all(mode == 0o666 & ~UMASK for name, mode in written.items() if name != "hostile.json"), written
