"""What a crash, Ctrl-C or a second process does to the cache: finished questions are kept and reused, nothing
partial is read, the database stays sound, and no candidate is sampled twice."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ADMIT_ANY, FIXTURE, Project
from selfdisc_checks.store.cache import FILENAME

pytestmark = pytest.mark.slow

SAMPLES = 8
LIMIT = 120
WIDE = {**os.environ, "COLUMNS": "400"}  # pytest's short summary lines whole


def run_args(*args: str) -> list[str]:
    """The run every test here starts (and resumes): many small batches, so a signal lands mid-sampling."""
    return [f"--model={FIXTURE}", "--samples", str(SAMPLES), "--batch-size", "1", "--limit", str(LIMIT), *args]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *run_args(*args)]


def stored(database: Path) -> int:
    """Candidates in the cache now (read while another process may be writing)."""
    if not database.exists():
        return 0
    with sqlite3.connect(database, timeout=30) as db:
        try:
            return db.execute("SELECT count(*) FROM entries WHERE kind = 'candidate'").fetchone()[0]
        except sqlite3.OperationalError:  # the tables are not there yet
            return 0


def interrupt_while_sampling(project: Project, how: signal.Signals) -> tuple[subprocess.CompletedProcess, int]:
    """Start a run, wait until some candidates are in the cache, send ``how``; the process's output and the
    number of candidates stored when the signal was sent."""
    database = project.path / "cache" / FILENAME
    process = subprocess.Popen(
        command("--results-json", "killed.json"),
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while stored(database) < 3 * SAMPLES and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    before = stored(database)
    process.send_signal(how)
    output, _ = process.communicate(timeout=120)
    assert 0 < before < LIMIT * SAMPLES, f"the run was not caught while sampling ({before} candidates stored)"
    return subprocess.CompletedProcess(process.args, process.returncode, output), before


def assert_sound_and_resumable(project: Project, kept_at_least: int, cache: str = "cache") -> None:
    database = project.path / cache / FILENAME
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = stored(database)
    assert kept >= kept_at_least and kept % SAMPLES == 0, f"{kept} candidates kept: a question's set was split"
    result, resumed = project.run(*run_args("--cache-dir", cache))
    assert result.ret == 0, result.stdout.str()
    run = resumed["tasks"]["arithmetic"]["run"]
    assert run["candidates_sampled"] == LIMIT * SAMPLES - kept  # every finished question reused
    assert run["sampled"] == LIMIT - kept // SAMPLES
    # and what was kept is exactly what an uninterrupted run samples
    result, fresh = project.run(*run_args("--cache-dir", "fresh-cache"))
    assert [q["candidates"] for q in resumed["tasks"]["arithmetic"]["questions"]] == [
        q["candidates"] for q in fresh["tasks"]["arithmetic"]["questions"]
    ]


def test_sigkill_while_sampling_keeps_every_finished_question(pytester):
    project = Project(pytester, ADMIT_ANY)
    _, before = interrupt_while_sampling(project, signal.SIGKILL)
    assert_sound_and_resumable(project, before)


def test_ctrl_c_while_sampling_keeps_every_finished_question_and_says_so_in_one_line(pytester):
    project = Project(pytester, ADMIT_ANY)
    done, before = interrupt_while_sampling(project, signal.SIGINT)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout
    lines = [line for line in done.stdout.splitlines() if "[selfdisc] interrupted" in line]
    assert len(lines) == 1 and "candidates are in the cache" in lines[0] and "rerun" in lines[0], done.stdout
    # pytest's own block (where in torch the signal landed) is not shown: the line above says it all
    assert "Traceback" not in done.stdout and "KeyboardInterrupt" not in done.stdout, done.stdout
    assert_sound_and_resumable(project, before)


def test_two_processes_sampling_overlapping_questions_share_the_work(pytester):
    project = Project(pytester, ADMIT_ANY)
    runs = [
        subprocess.Popen(
            command("--results-json", f"run{k}.json", "--limit", str(limit)),
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k, limit in enumerate((LIMIT, LIMIT // 2))
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    documents = [json.loads((project.path / f"run{k}.json").read_text()) for k in range(2)]
    sampled = [document["tasks"]["arithmetic"]["run"]["candidates_sampled"] for document in documents]
    assert sum(sampled) == LIMIT * SAMPLES, f"{sampled}: a candidate was sampled twice (or lost)"
    assert stored(project.path / "cache" / FILENAME) == LIMIT * SAMPLES
    first, second = ([q["candidates"] for q in d["tasks"]["arithmetic"]["questions"]] for d in documents)
    assert second == first[: LIMIT // 2]  # the shared questions: the same candidates in both runs


def full_disk(kind: str, folder: Path):
    """How to make the disk under ``folder`` fill up: a tiny tmpfs mounted there (where this process may
    mount: root, as in CI), or a file size limit on the run (anywhere: writes past it fail with EFBIG)."""
    folder.mkdir()
    if kind == "tmpfs":
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); the file-size-limit case ran")
        return None

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing the run
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))

    return limit_file_size


@pytest.mark.parametrize("kind", ["file-size-limit", "tmpfs"])
def test_a_disk_that_fills_up_stops_the_run_with_one_sentence_and_keeps_the_cache(pytester, kind):
    project = Project(pytester, ADMIT_ANY)
    small = project.path / "small"
    limit = full_disk(kind, small)
    try:
        run = subprocess.run(
            command(f"--cache-dir={small}"),
            cwd=project.path,
            preexec_fn=limit,
            env=WIDE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        shutil.copytree(small, project.path / "kept")  # what the full disk holds, to resume from elsewhere
    finally:
        if kind == "tmpfs":
            subprocess.run(["umount", str(small)], check=True)
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "Traceback" not in run.stdout and "OperationalError" not in run.stdout, run.stdout
    failures = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert failures and all("Could not write to the cache database" in line for line in failures), run.stdout
    assert re.search(
        r"\((database or disk is full|disk I/O error); [\d.]+ MiB free there\); free some space or pass "
        r"a --cache-dir on a disk with room, then rerun",
        run.stdout,
    ), run.stdout
    assert_sound_and_resumable(project, SAMPLES, cache="kept")


def test_a_disk_that_fills_up_while_the_results_are_written_leaves_no_half_file(pytester):
    project = Project(pytester, ADMIT_ANY)
    first = subprocess.run(
        command("--limit", "40", "--results-json", "results.json"),
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stdout
    before = (project.path / "results.json").read_bytes()

    def limit_file_size() -> None:  # the cache holds every candidate, so only the results are written
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, resource.RLIM_INFINITY))

    again = subprocess.run(
        command("--limit", "40", "--results-json", "results.json"),
        cwd=project.path,
        preexec_fn=limit_file_size,
        env=WIDE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in again.stdout, again.stdout
    assert again.returncode == pytest.ExitCode.TESTS_FAILED, again.stdout  # the checks passed; the output is missing
    assert (
        "error: could not write results.json (File too large); the candidates are in the "
        "cache, so a rerun writes it without sampling again." in again.stdout
    ), again.stdout
    assert (project.path / "results.json").read_bytes() == before  # the old file as it was
    assert sorted(p.name for p in project.path.iterdir() if p.name.startswith(".results")) == []
