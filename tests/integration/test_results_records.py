"""The results record end to end: a version-1 file from an older release is a usable baseline, and a baseline is
identified by its data's content, not by where the data file lay on the runner that wrote it."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURE, REPO
from selfdisc_checks.document import load_results

V1 = REPO / "tests" / "data" / "results-v1.json"


def test_a_version_1_results_file_is_a_baseline(regression_project):
    """tests/data/results-v1.json was written by the release before results version 2, on this fixture."""
    result, document = regression_project.run(f"--model={FIXTURE}", "--limit", "6", f"--baseline={V1}", "-rs")
    assert result.ret == 0, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 6, outcomes  # the five checks and the baseline's
    assert document["version"] == 2
    assert document["tasks"]["arithmetic"]["data"] == load_results(V1)["tasks"]["arithmetic"]["data"]
    # The summary table has the baseline's value and the difference from it beside this run's.
    old, new = load_results(V1)["tasks"]["arithmetic"]["metrics"], document["tasks"]["arithmetic"]["metrics"]
    table = result.stdout.str()
    assert "S_gen (base)" in table and f"(base): the value of the baseline {V1}" in " ".join(table.split())
    assert f"{100 * old['s_gen']:.1f}% ({100 * (new['s_gen'] - old['s_gen']):+.1f})" in table


def _gsm8k(path, answers):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"question": f"What is {a} plus {a}?", "answer": f"#### {b}"} for a, b in answers]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_same_data_at_another_path_is_comparable_and_a_changed_answer_is_not(regression_project):
    project = regression_project
    answers = [(1, 2), (2, 4), (3, 6)]
    _gsm8k(project.path / "runner-a" / "gsm8k.jsonl", answers)
    base = (f"--model={FIXTURE}", "--tasks", "gsm8k", "--limit", "3", "--samples", "2")
    result, document = project.run(*base, "--data", "gsm8k=runner-a/gsm8k.jsonl")
    assert result.ret == 0, result.stdout.str()
    (project.path / "baseline.json").write_text(json.dumps(document))
    shutil.copytree(project.path / "runner-a", project.path / "runner-b")

    result, again = project.run(*base, "--data", "gsm8k=runner-b/gsm8k.jsonl", "--baseline", "baseline.json")
    assert result.ret == 0, result.stdout.str()
    assert again["tasks"]["gsm8k"]["data"]["digest"] == document["tasks"]["gsm8k"]["data"]["digest"]
    assert again["tasks"]["gsm8k"]["data"]["source"].endswith("runner-b/gsm8k.jsonl")

    _gsm8k(project.path / "runner-c" / "gsm8k.jsonl", [(1, 2), (2, 5), (3, 6)])
    result, _ = project.run(*base, "--data", "gsm8k=runner-c/gsm8k.jsonl", "--baseline", "baseline.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    second = document["tasks"]["gsm8k"]["questions"][1]["id"]
    assert f"--baseline baseline.json: Cannot compare: gsm8k: question {second}'s reference differs" in output
    assert "Traceback" not in output
