"""The measurement protocol end to end: neutral decoding, candidates that grow with N, a checkable record."""

from __future__ import annotations

import json
import math
import os
import stat
from datetime import datetime

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import ADMIT_ANY, FIXTURE, assert_checks_ran

# Settings several popular instruct checkpoints ship; each would change what sampling and greedy mean.
LEAKY = {
    "repetition_penalty": 3.0,
    "no_repeat_ngram_size": 1,
    "top_k": 2,
    "top_p": 0.5,
    "temperature": 0.1,
    "do_sample": True,
    "min_new_tokens": 3,
    "suppress_tokens": [5, 6],
}


def leaky_copy(folder):
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **LEAKY}))
    return folder


def test_the_leaky_settings_would_change_what_transformers_decodes(fixture_copy):
    """So the next test has power: left in, these settings change the output."""
    leaky_copy(fixture_copy)
    tokenizer = AutoTokenizer.from_pretrained(fixture_copy)
    inputs = tokenizer(["Q: 9-3=\nA: 6\n\nQ: 4+5=\nA:"], return_tensors="pt")
    plain = AutoModelForCausalLM.from_pretrained(FIXTURE).generate(**inputs, do_sample=False, max_new_tokens=6)
    torch.manual_seed(0)
    leaky = AutoModelForCausalLM.from_pretrained(fixture_copy).generate(**inputs, max_new_tokens=6)
    assert not torch.equal(plain, leaky)


def test_a_checkpoints_generation_config_does_not_leak_in(project, fixture_copy):
    leaky_copy(fixture_copy)
    args = ("--limit", "12", "--samples", "3")
    _, original = project.run(f"--model={FIXTURE}", *args)
    _, copied = project.run(f"--model={fixture_copy}", *args)
    assert copied["model"]["fingerprint"] != original["model"]["fingerprint"]  # so nothing came from the cache
    assert copied["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 36
    for ours, theirs in zip(
        copied["tasks"]["arithmetic"]["questions"], original["tasks"]["arithmetic"]["questions"], strict=True
    ):
        assert [c["text"] for c in ours["candidates"]] == [c["text"] for c in theirs["candidates"]]
        assert ours["choice"] == theirs["choice"]


def test_more_samples_later_samples_only_the_new_candidates(project):
    _, four = project.run(f"--model={FIXTURE}", "--limit", "6", "--samples", "4")
    _, eight = project.run(f"--model={FIXTURE}", "--limit", "6", "--samples", "8")
    run = eight["tasks"]["arithmetic"]["run"]
    assert run["candidates_sampled"] == 6 * 4 and run["sampled"] == 6, run
    for small, large in zip(
        four["tasks"]["arithmetic"]["questions"], eight["tasks"]["arithmetic"]["questions"], strict=True
    ):
        assert large["candidates"][:4] == small["candidates"]
        assert len(large["candidates"]) == 8
    _, again = project.run(f"--model={FIXTURE}", "--limit", "6", "--samples", "2")
    assert again["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 0
    assert [q["candidates"] for q in again["tasks"]["arithmetic"]["questions"]] == [
        q["candidates"][:2] for q in four["tasks"]["arithmetic"]["questions"]
    ]


def test_the_record_holds_what_a_reader_needs_to_check_the_protocol(project):
    result, document = project.run(f"--model={FIXTURE}", "--limit", "3", "--samples", "2", "--top-k", "5", "-rs")
    assert_checks_ran(result)
    run = document["run"]
    assert datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).tzinfo is not None
    assert run["duration_s"] > 0 and run["device"] == "cpu" and run["dtype"] == "float32" and run["backend"] == "hf"
    assert set(run["versions"]) == {"selfdisc_checks", "torch", "transformers", "vllm", "python"}
    assert all(value for name, value in run["versions"].items() if name != "vllm")
    task = document["tasks"]["arithmetic"]
    generation, discrimination = task["protocol"]["generation"], task["protocol"]["discrimination"]
    assert generation["max_new_tokens"] == 8 and generation["stop"] == ["\n"] and generation["shots"] == 2
    assert generation["top_k"] == 5 and generation["top_p"] == 1.0 and generation["temperature"] == 0.7
    assert discrimination == {
        "max_new_tokens": 8,
        "stop": ["\n"],
        "demonstrations": 1,
        "prompt_variant": "compact",
        "decoding": "greedy",
        "orderings": 1,
    }
    assert document["settings"]["top_k"] == 5
    for question in task["questions"]:
        prompts = question["prompts"]
        assert prompts["generation"].endswith(f"Q: {question['question']}=\nA:")
        for index, candidate in enumerate(question["candidates"]):
            assert f"({index + 1}) {question['question']}={candidate['text'].strip()}" in prompts["discrimination"]
        assert question["choice"]["truncated"] is False


def test_results_file_gets_normal_permissions(project):
    # Project.run removes its results file after reading it; this run keeps it.
    result = project.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--model={FIXTURE}",
        "--limit",
        "2",
        "--samples",
        "2",
        "--results-json",
        "out/kept.json",
        "-rs",
    )
    assert_checks_ran(result)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(project.path / "out" / "kept.json").st_mode) == 0o666 & ~umask


def test_the_fixture_is_its_own_baseline_and_a_weakened_copy_regresses(regression_project, fixture_copy):
    project = regression_project
    from safetensors.torch import load_file, save_file

    args = ("--limit", "40", "-rA")
    baseline = project.path / "baseline.json"
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--model={FIXTURE}", *args, "--results-json", "baseline.json"
    )
    assert baseline.exists()
    measured = f"{json.loads(baseline.read_text())['tasks']['arithmetic']['metrics']['s_gen']:.3f}"
    # Another seed: an independent run of the same model must not look like a regression.
    result, _ = project.run(f"--model={FIXTURE}", *args, f"--baseline={baseline}", "--seed", "7")
    result.stdout.fnmatch_lines(
        ["*PASSED*test_no_regression[[]arithmetic-s_gen]*", "*PASSED*test_no_regression[[]arithmetic-dg_diff]*"]
    )
    assert "FAILED" not in result.stdout.str()

    weights = fixture_copy / "model.safetensors"
    tensors = load_file(weights)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in tensors.items():
        if tensor.dim() == 2:  # perturb every matrix by 60% of its own spread: a much worse model
            tensors[name] = tensor + 0.6 * tensor.std() * torch.randn(tensor.shape, generator=generator)
    save_file(tensors, weights, metadata={"format": "pt"})
    result, document = project.run(f"--model={fixture_copy}", *args, f"--baseline={baseline}")
    assert document["tasks"]["arithmetic"]["metrics"]["s_gen"] < 0.3
    result.stdout.fnmatch_lines(
        [
            f"*arithmetic: S_gen regressed against the baseline {baseline}: {measured} -> *, difference -0.* "
            "[[]95% CI -0.*, -0.*], one-sided upper bound -0.* vs tolerance 0.000 (n = 40 shared questions;*",
            "*FAILED*test_no_regression[[]arithmetic-s_gen]*",
        ]
    )

    # The same comparison with the baseline checkpoint evaluated in this session (candidates from the cache).
    result, _ = project.run(f"--model={fixture_copy}", *args, f"--baseline-model={FIXTURE}")
    result.stdout.fnmatch_lines(
        [
            f"*arithmetic: S_gen regressed against the baseline {FIXTURE}: {measured} -> *, difference -0.* "
            "[[]95% CI -0.*, -0.*], one-sided upper bound -0.* vs tolerance 0.000 (n = 40 shared questions;*",
            "*FAILED*test_no_regression[[]arithmetic-s_gen]*",
        ]
    )
    result.stdout.fnmatch_lines(["*SKIPPED*arithmetic: S_disc (likelihood) not measured in this run*"])
    # And a checkpoint against itself holds, sampled once for both roles.
    result, document = project.run(f"--model={FIXTURE}", *args, f"--baseline-model={FIXTURE}")
    result.stdout.fnmatch_lines(["*PASSED*test_no_regression[[]arithmetic-dg_diff]*"])
    assert "FAILED" not in result.stdout.str()
    assert document["tasks"]["arithmetic"]["run"]["sampled"] == 0


def test_an_incomparable_baseline_is_refused_with_the_difference(regression_project):
    project = regression_project
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--model={FIXTURE}", "--limit", "4", "--results-json", "old.json"
    )
    # Refused before any sampling, as a usage error naming the difference.
    result = project.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--model={FIXTURE}",
        "--limit",
        "4",
        "--baseline",
        "old.json",
        "--temperature",
        "1.0",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --baseline old.json: Cannot compare: arithmetic protocol.generation.temperature differs (0.7 vs 1.0)*"]
    )
    # Other questions (another task seed: seeds may differ, questions may not) are refused the same way.
    project.pytester.makefile(
        ".toml",
        pyproject=f'[tool.selfdisc]\ncache_dir = "cache"\n{ADMIT_ANY}'
        "[tool.selfdisc.task_options.arithmetic]\nseed = 5\n",
    )
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--model={FIXTURE}", "--limit", "4", "--baseline", "old.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Cannot compare: arithmetic: question test-0's question differs*"])


def test_permutations_report_pick_rates_by_position(project):
    result, document = project.run(f"--model={FIXTURE}", "--limit", "12", "--permutations", "3")
    result.assert_outcomes(passed=5)
    task = document["tasks"]["arithmetic"]
    metrics = task["metrics"]
    assert math.isclose(sum(metrics["position_pick_rates"]), 1.0) and len(metrics["position_pick_rates"]) == 4
    assert metrics["orderings"] == 3 and 0.0 <= metrics["choice_consistency"] <= 1.0
    assert task["protocol"]["discrimination"]["orderings"] == 3
    for question in task["questions"]:
        assert len(question["permuted_choices"]) == 2
        for pick in question["permuted_choices"]:
            assert sorted(pick["order"]) == [0, 1, 2, 3]
            if pick["valid"]:
                assert pick["order"][pick["position"]] == pick["index"]
    rates = "/".join(f"{100 * rate:.0f}" for rate in metrics["position_pick_rates"])
    result.stdout.fnmatch_lines(["*picks by*", f"*arithmetic*{rates}*"])
    # The first ordering is the one asked without --permutations: its choices came from the cache.
    _, single = project.run(f"--model={FIXTURE}", "--limit", "12")
    assert single["tasks"]["arithmetic"]["run"]["discriminated"] == 0


def test_likelihood_discrimination_beside_the_generated_label(likelihood_project):
    project = likelihood_project
    result, document = project.run(
        f"--model={FIXTURE}", "--limit", "12", "--discriminate", "generate,likelihood", "--permutations", "2", "-rA"
    )
    result.assert_outcomes(passed=8)
    task = document["tasks"]["arithmetic"]
    m = task["metrics"]
    assert m["invalid_rate_likelihood"] == 0.0
    assert math.isclose(sum(m["position_pick_rates_likelihood"]), 1.0)
    assert math.isclose(m["dg_diff_likelihood"], m["s_disc_likelihood"] - m["s_gen"])
    assert set(m["ci"]) >= {"s_disc_likelihood", "dg_diff_likelihood"}
    assert task["protocol"]["likelihood"]["labels"] == ["(1)", "(2)", "(3)", "(4)"]
    matched = 0
    for question in task["questions"]:
        picked = question["likelihood"]
        assert len(picked["logprobs"]) == 4 and picked["index"] == max(range(4), key=picked["logprobs"].__getitem__)
        assert len(question["likelihood_permuted"]) == 1
        # Greedy decoding writes "(" and then the likeliest digit: where it wrote a label, both methods agree.
        raw = question["choice"]["raw"].strip()
        if len(raw) >= 3 and raw[0] == "(" and raw[1] in "1234" and raw[2] == ")":
            matched += 1
            assert picked["index"] == question["choice"]["index"], question
    assert matched >= 6
    result.stdout.fnmatch_lines(
        [
            "*S_disc (lik.)*DG-DIFF (lik., pts)*",
            f"*arithmetic*{100 * m['dg_diff_likelihood']:+.1f} [[]*",
            "*PASSED*test_likelihood_dg_diff[[]arithmetic]*",
        ]
    )

    # Likelihood alone: its scores come from the cache, and the generated-label checks say they were not asked.
    result, document = project.run(
        f"--model={FIXTURE}", "--limit", "12", "--discriminate", "likelihood", "--permutations", "2", "-rs"
    )
    result.assert_outcomes(passed=4, skipped=4)
    result.stdout.fnmatch_lines(
        ["*arithmetic: S_disc not measured: --discriminate likelihood does not include generate*"]
    )
    alone = document["tasks"]["arithmetic"]
    assert alone["run"]["discriminated"] == 0 and alone["run"]["sampled"] == 0
    assert "s_disc" not in alone["metrics"] and alone["metrics"]["s_disc_likelihood"] == m["s_disc_likelihood"]
    assert all(q["choice"] is None and "s_disc" not in q for q in alone["questions"])


def test_unknown_discrimination_method_is_a_usage_error(project):
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--discriminate", "generate,vote")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--discriminate generate,vote is not a list of generate, likelihood*"])
