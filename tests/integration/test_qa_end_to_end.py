"""TriviaQA (hub schema and DPR's QA file) and CommonsenseQA end to end on the fixture, from local files
written here in each schema, as a user without hub access runs them."""

from __future__ import annotations

import json

from conftest import FIXTURE


def test_triviaqa_and_commonsenseqa_run_from_local_files(project):
    trivia = project.path / "trivia.jsonl"
    trivia.write_text(
        "".join(
            json.dumps(
                {
                    "question": f"What is {a}+{b}?",
                    "question_id": f"tq{a}",
                    "answer": {"value": str(a + b), "aliases": [str(a + b)], "normalized_aliases": [str(a + b)]},
                }
            )
            + "\n"
            for a, b in ((3, 4), (2, 2), (5, 1))
        )
    )
    dpr = project.path / "trivia-test.qa.csv"
    dpr.write_text('What is 6+1?\t["7", "seven"]\n"""Quoted"" question: 2+3?"\t["5"]\n')
    csqa = project.path / "csqa.jsonl"
    csqa.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"c{i}",
                    "question": f"Which is {i}+1?",
                    "question_concept": "sum",
                    "choices": {"label": list("ABCDE"), "text": [str(i + d) for d in range(5)]},
                    "answerKey": "B",
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    result, document = project.run(
        f"--model={FIXTURE}",
        "--tasks",
        "triviaqa,commonsenseqa",
        "--data",
        f"triviaqa={trivia}",
        "--data",
        f"commonsenseqa={csqa}",
    )
    for name in ("triviaqa", "commonsenseqa"):
        task = document["tasks"][name]
        assert task["metrics"]["n"] == 3 and task["options"]["data"].endswith((".jsonl",))
        assert all(len(q["candidates"]) == 4 and q["prompts"]["generation"] for q in task["questions"])
        assert 0.0 <= task["metrics"]["s_gen"] <= 1.0
    assert [q["reference"] for q in document["tasks"]["commonsenseqa"]["questions"]] == ["B", "B", "B"]
    assert "A. 0" in document["tasks"]["commonsenseqa"]["questions"][0]["question"]
    # DPR's format through the same option; its extra quotes are removed.
    result, document = project.run(f"--model={FIXTURE}", "--tasks", "triviaqa", "--data", f"triviaqa={dpr}")
    questions = document["tasks"]["triviaqa"]["questions"]
    assert [q["question"] for q in questions] == ["What is 6+1?", '"Quoted" question: 2+3?']
    assert [q["reference"] for q in questions] == ["7", "5"]
