"""What a crash, Ctrl-C or a second process does to the cache: finished questions are kept and reused, nothing
partial is read, the database stays sound, and no candidate is sampled twice."""

from __future__ import annotations

import json
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


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--model", str(FIXTURE),
            "--samples", str(SAMPLES), "--batch-size", "1", *args]


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
    process = subprocess.Popen(command("--limit", str(LIMIT), "--results-json", "killed.json"), cwd=project.path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while stored(database) < 3 * SAMPLES and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    before = stored(database)
    process.send_signal(how)
    output, _ = process.communicate(timeout=120)
    assert 0 < before < LIMIT * SAMPLES, f"the run was not caught while sampling ({before} candidates stored)"
    return subprocess.CompletedProcess(process.args, process.returncode, output), before


def assert_sound_and_resumable(project: Project, kept_at_least: int) -> None:
    database = project.path / "cache" / FILENAME
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = stored(database)
    assert kept >= kept_at_least and kept % SAMPLES == 0, f"{kept} candidates kept: a question's set was split"
    result, resumed = project.run(*command("--limit", str(LIMIT))[6:])
    assert result.ret == 0, result.stdout.str()
    run = resumed["tasks"]["arithmetic"]["run"]
    assert run["candidates_sampled"] == LIMIT * SAMPLES - kept  # every finished question reused
    assert run["sampled"] == LIMIT - kept // SAMPLES
    # and what was kept is exactly what an uninterrupted run samples
    result, fresh = project.run(*command("--limit", str(LIMIT))[6:], "--cache-dir", "fresh-cache")
    assert [q["candidates"] for q in resumed["tasks"]["arithmetic"]["questions"]] == \
        [q["candidates"] for q in fresh["tasks"]["arithmetic"]["questions"]]


def test_sigkill_while_sampling_keeps_every_finished_question(pytester):
    project = Project(pytester, ADMIT_ANY)
    _, before = interrupt_while_sampling(project, signal.SIGKILL)
    assert_sound_and_resumable(project, before)


def test_ctrl_c_while_sampling_keeps_every_finished_question_and_says_so_in_one_line(pytester):
    project = Project(pytester, ADMIT_ANY)
    done, before = interrupt_while_sampling(project, signal.SIGINT)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("[selfdisc] interrupted")]
    assert len(lines) == 1 and "candidates are in the cache" in lines[0] and "rerun" in lines[0], done.stdout
    assert "Traceback" not in done.stdout
    assert_sound_and_resumable(project, before)


def test_two_processes_sampling_overlapping_questions_share_the_work(pytester):
    project = Project(pytester, ADMIT_ANY)
    runs = [subprocess.Popen(command("--limit", str(limit), "--results-json", f"run{k}.json"), cwd=project.path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for k, limit in enumerate((LIMIT, LIMIT // 2))]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    documents = [json.loads((project.path / f"run{k}.json").read_text()) for k in range(2)]
    sampled = [document["tasks"]["arithmetic"]["run"]["candidates_sampled"] for document in documents]
    assert sum(sampled) == LIMIT * SAMPLES, f"{sampled}: a candidate was sampled twice (or lost)"
    assert stored(project.path / "cache" / FILENAME) == LIMIT * SAMPLES
    first, second = ([q["candidates"] for q in d["tasks"]["arithmetic"]["questions"]] for d in documents)
    assert second == first[: LIMIT // 2]  # the shared questions: the same candidates in both runs
