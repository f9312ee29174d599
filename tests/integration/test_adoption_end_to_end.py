"""What CI and nightly users read: progress in logs, JUnit XML properties, the run history, the report files."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from conftest import FIXTURE

pytestmark = pytest.mark.slow

ARGS = ("-p", "no:cacheprovider", f"--model={FIXTURE}", "--limit", "4", "--samples", "4")


def test_a_log_shows_loading_and_progress_lines_while_it_runs(project):
    result = project.pytester.runpytest_subprocess(*ARGS)  # stdout is a pipe here, as in CI
    out = result.stdout.str()
    assert f"[selfdisc] loading {FIXTURE} (cpu, float32)" in out
    assert f"[selfdisc] loaded {FIXTURE} in " in out
    result.stdout.fnmatch_lines(
        [
            "[[]selfdisc[]] arithmetic: sampling */16 candidates (*%) · * elapsed · ETA *",
            "[[]selfdisc[]] arithmetic: sampling 16/16 candidates (100%) · * elapsed · * tok/s",
            "[[]selfdisc[]] arithmetic: discriminating 4/4 prompts (100%) · * elapsed · * tok/s",
        ]
    )
    lines = result.stdout.lines
    first = next(k for k, line in enumerate(lines) if "arithmetic: sampling" in line)
    assert lines.index(f"[selfdisc] loading {FIXTURE} (cpu, float32)") < first, out  # loading comes first
    assert "Loading weights" not in out + result.stderr.str()  # transformers' own bar stays out of the log
    again = project.pytester.runpytest_subprocess(*ARGS)  # all cached: says so, loads nothing
    again.stdout.fnmatch_lines(
        ["[[]selfdisc[]] arithmetic: sampling 16/16 candidates (100%) · 0:00 elapsed · 16 cached"]
    )
    assert "[selfdisc] loading" not in again.stdout.str()


def test_xdist_workers_progress_shows_on_the_controller(project):
    result = project.pytester.runpytest_subprocess(*ARGS, "-n", "2")
    result.stdout.fnmatch_lines(["[[]selfdisc gw[01][]] arithmetic: * candidates *"])
    assert result.ret == 0


def test_junit_xml_carries_each_checks_value_interval_and_threshold(project):
    result, document = project.run(*ARGS[2:], "--junitxml", "junit.xml")
    assert result.ret == 0
    cases = {case.get("name"): case for case in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_generation_accuracy[arithmetic]"].iter("property")}
    metrics = document["tasks"]["arithmetic"]["metrics"]
    assert props["selfdisc_task"] == "arithmetic" and props["selfdisc_metric"] == "s_gen"
    assert float(props["selfdisc_value"]) == metrics["s_gen"]
    assert [float(props["selfdisc_ci_low"]), float(props["selfdisc_ci_high"])] == metrics["ci"]["s_gen"]
    assert (props["selfdisc_threshold"], props["selfdisc_side"], props["selfdisc_mode"]) == ("0.0", "floor", "point")
    assert props["selfdisc_message"].startswith("arithmetic: S_gen = ")
    bias = {p.get("name"): p.get("value") for p in cases["test_position_bias[arithmetic]"].iter("property")}
    assert bias["selfdisc_side"] == "ceiling"
    # The same outcomes are in the results JSON, for the report.
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["test_generation_accuracy"]["outcome"] == "passed"
    assert checks["test_generation_accuracy"]["value"] == metrics["s_gen"]
    assert checks["test_generation_accuracy"]["threshold"] == {"bound": 0.0, "side": "floor", "mode": "point"}


def test_a_failing_check_is_recorded_with_its_reason(pytester):
    from conftest import Project

    project = Project(pytester, "[tool.selfdisc.thresholds]\ns_gen = 0.99\n")
    result, document = project.run(*ARGS[2:], "--junitxml", "junit.xml")
    assert result.ret == 1
    (check,) = [c for c in document["checks"] if c["name"] == "test_generation_accuracy"]
    assert check["outcome"] == "failed" and "is below the floor 0.990" in check["message"]
    failure = next(
        case
        for case in ET.parse(project.path / "junit.xml").getroot().iter("testcase")
        if case.get("name") == "test_generation_accuracy[arithmetic]"
    ).find("failure")
    assert "is below the floor 0.990" in failure.get("message")


def test_history_keeps_whole_runs_and_the_report_reads_it(project):
    history = project.path / "runs.sqlite"
    for label, seed in (("rev-a", "1"), ("rev-b", "2")):
        result = project.pytester.runpytest_subprocess(
            *ARGS, "--seed", seed, "--history", "runs.sqlite", "--run-label", label, "--report-dir", f"report-{label}"
        )
        assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["run 2 appended to the history runs.sqlite (2 runs)", "report written to report-rev-b/report.html"]
    )
    db = sqlite3.connect(history)
    assert db.execute("SELECT label FROM runs ORDER BY id").fetchall() == [("rev-a",), ("rev-b",)]
    assert db.execute("SELECT COUNT(*) FROM questions").fetchone() == (8,)
    for name in ("report.html", "summary.md", "trend_arithmetic.png"):
        assert (project.path / "report-rev-b" / name).stat().st_size > 0

    # A run in which a task was not evaluated (its checks deselected here; a bad data file is now refused before
    # any check runs) is not a whole run: the history does not take it.
    (project.path / "two.jsonl").write_text('{"question": "1+1", "answer": "#### 2"}\n')
    result = project.pytester.runpytest_subprocess(
        *ARGS,
        "--tasks",
        "arithmetic,gsm8k",
        "--data",
        "gsm8k=two.jsonl",
        "--history",
        "runs.sqlite",
        "-k",
        "arithmetic",
    )
    result.stdout.fnmatch_lines(["not added to the history runs.sqlite: gsm8k could not be evaluated*"])
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)

    # The report command renders the history; history import takes results files.
    import subprocess
    import sys

    out = project.path / "nightly"
    done = subprocess.run(
        [sys.executable, "-m", "selfdisc_checks", "report", f"--history={history}", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "report.html").exists() and (out / "summary.md").read_text().strip()
    result, document = project.run(*ARGS[2:], "--seed", "3")
    (project.path / "r3.json").write_text(json.dumps(document))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfdisc_checks",
            "history",
            "import",
            f"--history={history}",
            str(project.path / "r3.json"),
            "--run-label",
            "imported",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "appended as run 3" in done.stdout, done.stderr
    assert db.execute("SELECT label FROM runs WHERE id = 3").fetchone() == ("imported",)
