"""``python -m selfdisc_checks run`` is the pytest run without pytest: the same results and the same decisions,
and exit 0 / 1 / 2 for a CI system or a notebook."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ADMIT_ANY, FIXTURE, Project


def _run(folder, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "selfdisc_checks", "run", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _comparable(document: dict) -> dict:
    """The measured part of a results document: per task everything but the seconds it took."""
    return {name: {k: v for k, v in task.items() if k != "timing"} for name, task in document["tasks"].items()}


def _decisions(document: dict) -> list[tuple]:
    return sorted((c["name"], c["task"], c["metric"], c["outcome"], c["message"]) for c in document["checks"])


def test_run_writes_what_a_pytest_run_writes(pytester):
    project = Project(pytester, ADMIT_ANY, regression=True, likelihood=True)
    common = ("--limit", "6", "--samples", "3", "--discriminate", "generate,likelihood")
    result, from_pytest = project.run(f"--model={FIXTURE}", "--cache-dir=cache-a", *common)
    assert result.ret == 0, result.stdout.str()
    ran = _run(project.path, f"--model={FIXTURE}", "--cache-dir", "cache-b", "--results-json", "r.json", *common)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    from_run = json.loads((project.path / "r.json").read_text())
    assert _comparable(from_run) == _comparable(from_pytest)
    assert from_run["settings"] | {"cache_dir": None, "results_json": None} == from_pytest["settings"] | {
        "cache_dir": None,
        "results_json": None,
    }
    assert _decisions(from_run) == _decisions(from_pytest)
    assert "PASSED  test_dg_diff[arithmetic]" in ran.stdout
    # The same run against the first one as a baseline decides the regression checks too.
    again = _run(project.path, f"--model={FIXTURE}", "--cache-dir=cache-b", "--baseline=r.json", *common)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PASSED  test_no_regression[arithmetic-s_gen]: arithmetic: S_gen held against the baseline" in again.stdout
    assert "S_gen (base)" in again.stdout and "(base): the value of the baseline r.json" in " ".join(
        again.stdout.split()
    )


def test_a_failed_check_exits_1_and_bad_input_exits_2(pytester):
    project = Project(pytester, "[tool.selfdisc.thresholds]\ns_gen = 1.0\n")
    failed = _run(project.path, f"--model={FIXTURE}", "--limit", "4", "--samples", "2")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED  test_generation_accuracy[arithmetic]: arithmetic: S_gen = " in failed.stdout
    bad = _run(project.path, f"--model={FIXTURE}", "--tasks", "nope")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: Unknown task 'nope'") and "Traceback" not in bad.stderr


def test_the_python_api_returns_typed_results(tmp_path):
    from selfdisc_checks import evaluate

    evaluation = evaluate(FIXTURE, ["arithmetic"], limit=4, samples=2, cache_dir=str(tmp_path / "cache"))
    result = evaluation.results["arithmetic"]
    assert result.metrics["n"] == 4 and len(result.questions) == 4
    assert evaluation.document["tasks"]["arithmetic"]["metrics"] == json.loads(json.dumps(result.metrics))
    assert evaluation.passed  # no thresholds but DG-DIFF's built-in floor 0 in mode not-below
    assert not (tmp_path / "results.json").exists()  # nothing written that was not asked for


def test_run_compares_with_a_baseline_model_evaluated_in_the_same_run(pytester):
    project = Project(pytester, ADMIT_ANY)
    ran = _run(project.path, f"--model={FIXTURE}", f"--baseline-model={FIXTURE}", "--limit", "3", "--samples", "2")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The same checkpoint as its own baseline: the same candidates and picks, so every metric held at difference 0.
    assert f"S_gen held against the baseline {FIXTURE}: " in ran.stdout
    assert "difference +0.000" in ran.stdout
