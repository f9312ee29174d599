"""Bad input gets one clear sentence naming the problem and the fix, never a traceback."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURE


def assert_one_clear_sentence(result: pytest.RunResult, *fragments: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output


def test_missing_model_path(project):
    result, _ = project.run("--model", "./no/such/ckpt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "Model path ./no/such/ckpt does not exist; pass an existing checkpoint")


def test_a_folder_that_is_not_a_checkpoint(project, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result, _ = project.run("--model", str(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "is not a Hugging Face checkpoint: it has no config.json")


def test_unknown_task(project):
    result, _ = project.run("--model", str(FIXTURE), "--tasks", "arithmetic,nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "Unknown task 'nope'; choose from: arithmetic, gsm8k.")


def test_missing_data_file(project):
    result, _ = project.run("--model", str(FIXTURE), "--tasks", "gsm8k", "--data", "gsm8k=missing.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "missing.jsonl for task 'gsm8k' does not exist; check --data gsm8k=PATH.")


def test_malformed_data_file_fails_each_check_cleanly(project):
    (project.path / "bad.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    result, _ = project.run("--model", str(FIXTURE), "--tasks", "gsm8k", "--data", "gsm8k=bad.jsonl")
    result.assert_outcomes(errors=3)
    assert_one_clear_sentence(result, "lacks field(s) answer; task 'gsm8k' needs question, answer.")


def test_bad_option_values(project):
    result, _ = project.run("--model", str(FIXTURE), "--samples", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "--samples must be at least 1, not 0.")


def test_unknown_config_key(pytester):
    from conftest import Project

    project = Project(pytester, "sampels = 4\n")
    result, _ = project.run("--model", str(FIXTURE))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "Unknown key(s) sampels in [tool.selfdisc]")
