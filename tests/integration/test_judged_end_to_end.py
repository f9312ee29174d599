"""Judged and open-answer tasks end to end on the fixture: TruthfulQA by the reference rule and by a judge,
MT-Bench graded by a judge (the fixture as its own judge: its outputs hold no rating, which is counted)."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import FIXTURE


def truthfulqa_csv(path):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"]
        )
        writer.writerow(["Adversarial", "Science", "What is 3+4?", "3+4 is 7", "7; It is 7", "3+4 is 8; 8", "-"])
        writer.writerow(["Adversarial", "Science", "What is 2*5?", "2*5 is 10", "10", "2*5 is 12; 12", "-"])
        writer.writerow(["Adversarial", "Science", "What is 9-4?", "9-4 is 5", "5", "9-4 is 6; 6", "-"])
    return path


def mtbench_jsonl(path):
    rows = [
        {
            "question_id": 81 + i,
            "category": "math",
            "turns": [f"What is {i}+{i}?", "Explain."],
            "reference": [str(2 * i), "-"],
        }
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_truthfulqa_by_the_reference_rule(project):
    data = truthfulqa_csv(project.path / "TruthfulQA.csv")
    result, document = project.run(f"--model={FIXTURE}", "--tasks", "truthfulqa", "--data", f"truthfulqa={data}")
    task = document["tasks"]["truthfulqa"]
    assert task["metrics"]["n"] == 3 and "judge" not in task["protocol"]
    assert all(c["score"] in (0.0, 1.0) and c["judgement"] is None for q in task["questions"] for c in q["candidates"])
    assert task["options"]["data"] == str(data)


def test_judged_tasks_count_what_the_judge_left_unscored(project):
    tqa = truthfulqa_csv(project.path / "TruthfulQA.csv")
    mt = mtbench_jsonl(project.path / "question.jsonl")
    # MT-Bench cannot be scored without a judge: refused before anything runs.
    refused = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--model={FIXTURE}", "--tasks", "mtbench", "--data", f"mtbench={mt}"
    )
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*Task 'mtbench' is graded by a judge model; pass --judge-model PATH_OR_ID*"])

    args = (
        f"--model={FIXTURE}",
        f"--judge-model={FIXTURE}",
        "--tasks",
        "mtbench,truthfulqa",
        "--data",
        f"mtbench={mt}",
        "--data",
        f"truthfulqa={tqa}",
        "-rs",
    )
    result, document = project.run(*args)
    for name in ("mtbench", "truthfulqa"):
        task = document["tasks"][name]
        judge = task["protocol"]["judge"]
        assert judge["same_as_model"] is True and judge["fingerprint"].startswith(document["model"]["fingerprint"])
        candidates = [c for q in task["questions"] for c in q["candidates"]]
        assert len(candidates) == 12 and all(isinstance(c["judgement"], str) for c in candidates)
        # The arithmetic fixture writes no [[rating]] / [[yes]]: every candidate is unscored, and counted.
        assert all(c["score"] is None for c in candidates)
        assert task["metrics"] == {"n": 0, "unrated_questions": 3, "judge_missing_rate": 1.0}
    assert document["tasks"]["mtbench"]["protocol"]["judge"]["verdict"] == "[[rating]] 1-10"
    result.stdout.fnmatch_lines(
        ["*mtbench: S_gen cannot be measured: no question could be scored (3 left unscored by the judge)*"]
    )
    # Judgements are cached: a rerun judges nothing again.
    result, again = project.run(*args)
    assert again["tasks"]["mtbench"]["questions"] == document["tasks"]["mtbench"]["questions"]
    assert again["tasks"]["mtbench"]["run"]["sampled"] == 0
