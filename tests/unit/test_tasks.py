"""Tasks through the public API: arithmetic generated in code, GSM8K through ``datasets`` from local files."""

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import selfdisc_checks
from selfdisc_checks import SelfDiscError, get_task
from selfdisc_checks.tasks.arithmetic import evaluate


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=5), st.data())
def test_arithmetic_evaluation_matches_python(numbers, data):
    ops = data.draw(st.lists(st.sampled_from("+-*"), min_size=len(numbers) - 1, max_size=len(numbers) - 1))
    expression = str(numbers[0]) + "".join(op + str(n) for op, n in zip(ops, numbers[1:], strict=False))
    assert evaluate(expression) == eval(expression)  # noqa: S307 - digits and + - * only


def test_arithmetic_questions_are_a_stable_seeded_prefix():
    task = get_task("arithmetic")
    assert task.load(limit=5) == task.load()[:5]
    assert task.load(limit=5) != get_task("arithmetic", seed=1).load(limit=5)
    example = task.load(limit=1)[0]
    assert task.score(example, f" {example.reference}\n") == 1.0
    assert task.score(example, f" {int(example.reference) + 1}") == 0.0


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


GSM_ROWS = [
    {"question": "Ann has 3 apples and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A box costs $1,200. Two boxes?", "answer": "2 * 1200 = 2400\n#### 2,400"},
]


def test_gsm8k_loads_a_local_jsonl_through_datasets(tmp_path):
    task = get_task("gsm8k", data=write_jsonl(tmp_path / "test.jsonl", GSM_ROWS))
    examples = task.load()
    assert [e.reference for e in examples] == ["7", "2400"]
    assert [e.id for e in examples] == ["test-0", "test-1"]
    assert task.load(limit=1) == examples[:1]
    assert task.score(examples[1], "So the total is $2,400.00. The answer is 2400.") == 1.0
    assert task.score(examples[1], "#### 2401") == 0.0


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("{not json\n", "is not valid JSON Lines: line 1 does not parse"),
        (json.dumps({"question": "q"}) + "\n", "lacks field\\(s\\) answer"),
        (json.dumps({"question": "q", "answer": "no final line"}) + "\n", "without a final '#### <number>'"),
    ],
)
def test_bad_gsm8k_files_get_one_clear_sentence(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(SelfDiscError, match=message) as raised:
        get_task("gsm8k", data=path).load()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("indent, where", [(2, " over several lines"), (None, "")])
def test_a_jsonl_file_holding_a_json_array_is_refused_and_the_same_array_loads_as_json(tmp_path, indent, where):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(GSM_ROWS, indent=indent) + "\n")
    with pytest.raises(SelfDiscError) as raised:
        get_task("gsm8k", data=path).load()
    assert str(raised.value) == (
        f"Data file {path} for task 'gsm8k' holds a JSON array{where}, not JSON Lines; write one JSON object per "
        "line, or rename it to test.json (a .json file may hold an array)."
    )
    renamed = path.rename(tmp_path / "test.json")  # the fix the sentence names works
    assert [e.reference for e in get_task("gsm8k", data=renamed).load()] == ["7", "2400"]


def test_missing_data_file(tmp_path):
    with pytest.raises(SelfDiscError, match=re.escape("--data gsm8k=PATH")):
        get_task("gsm8k", data=tmp_path / "nope.jsonl").load()


def test_unreachable_hub_says_how_to_pass_a_local_file(tmp_path):
    # A fresh interpreter, so the hub libraries read the offline switches at import (as a user's run would).
    script = "import selfdisc_checks as s\ntry:\n    s.get_task('gsm8k').load(limit=2)\nexcept s.SelfDiscError as e:\n    print(e)"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert "pass a local copy with --data gsm8k=PATH" in out.stdout, out.stdout + out.stderr


def test_unknown_task_and_bad_options():
    with pytest.raises(
        SelfDiscError,
        match="Unknown task 'nope'; choose one of: arithmetic, commonsenseqa, gsm8k, mtbench, triviaqa, truthfulqa",
    ):
        get_task("nope")
    with pytest.raises(SelfDiscError, match="does not accept"):
        get_task("arithmetic", data="x.jsonl")
    assert isinstance(get_task("arithmetic"), selfdisc_checks.Task)


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=4))
def test_arithmetic_never_repeats_a_question_or_asks_a_demonstration(seed, shots):
    task = get_task("arithmetic", seed=seed, shots=shots, size=120)
    questions = [example.question for example in task.load()]
    assert len(questions) == len(set(questions)) == 120
    demonstrated = {user.removeprefix("Q: ").removesuffix("=") for user, _ in task.prompt(task.load(1)[0]).shots}
    demonstrated |= {demo.question for demo in task.discrimination_demos()}
    assert not demonstrated & set(questions)


def test_arithmetic_size_beyond_the_distinct_questions_is_one_sentence():
    with pytest.raises(SelfDiscError, match="too large .* lower size or raise max_operand"):
        get_task("arithmetic", size=500, max_operand=3)


def test_protocol_options_are_recorded_and_checked():
    task = get_task("gsm8k", generation_max_tokens=64, discrimination_max_tokens=2048, discrimination_prompt="compact")
    assert task.generation.max_new_tokens == 64 and task.discrimination.max_new_tokens == 2048
    protocol = task.protocol()
    assert protocol["generation"] == {"max_new_tokens": 64, "stop": ["Question:", "</s>", "<|im_end|>"], "shots": 5}
    assert protocol["discrimination"]["prompt_variant"] == "compact"
    assert protocol["discrimination"]["demonstrations"] == 2
    assert get_task("gsm8k").discrimination_prompt == "paper"  # the paper's structure is the default
    assert get_task("gsm8k").discrimination.max_new_tokens == 1024  # defaults are per instance, not shared
    with pytest.raises(SelfDiscError, match="no discrimination prompt 'fancy'; choose one of: paper, compact"):
        get_task("gsm8k", discrimination_prompt="fancy")
    with pytest.raises(SelfDiscError, match="discrimination_max_tokens must be a positive integer"):
        get_task("arithmetic", discrimination_max_tokens=0)
