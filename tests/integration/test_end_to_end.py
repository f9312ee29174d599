"""``pytest --model CKPT`` end to end on the fixture checkpoint: table, JSON contract, cache, xdist."""

from __future__ import annotations

import math

import torch
from safetensors.torch import load_file, save_file

from conftest import FIXTURE, assert_checks_ran

FRACTIONS = ("s_gen", "s_disc", "invalid_rate", "oracle", "mixed_fraction", "majority")


def check_contract(document: dict, task: str, n: int, samples: int) -> None:
    """The documented results shape (users' nightly scripts parse it)."""
    assert set(document) >= {"model", "settings", "tasks"}
    assert set(document["model"]) >= {"id", "fingerprint"}
    metrics = document["tasks"][task]["metrics"]
    assert metrics["n"] == n
    for name in FRACTIONS:
        assert 0.0 <= metrics[name] <= 1.0, name
    assert math.isclose(metrics["dg_diff"], metrics["s_disc"] - metrics["s_gen"], abs_tol=1e-9)
    assert metrics["ci"]["level"] == 0.95 and set(metrics["ci"]) == {"s_gen", "s_disc", "dg_diff", "level"}
    assert metrics["ci"]["dg_diff"][0] <= metrics["dg_diff"] <= metrics["ci"]["dg_diff"][1]
    assert 0.0 <= metrics["p_value"]["mcnemar"] <= 1.0
    questions = document["tasks"][task]["questions"]
    assert len(questions) == n
    for q in questions:
        assert set(q) >= {"id", "s_gen", "s_disc", "candidates", "choice"}
        assert len(q["candidates"]) == samples
        assert all(set(c) >= {"text", "answer", "score"} for c in q["candidates"])
        choice = q["choice"]
        assert set(choice) >= {"raw", "index", "valid"}
        scores = [c["score"] for c in q["candidates"]]
        assert math.isclose(q["s_gen"], sum(scores) / len(scores))
        if choice["valid"]:
            assert 0 <= choice["index"] < samples and q["s_disc"] == scores[choice["index"]]
        else:
            assert choice["index"] is None and q["s_disc"] == min(scores)


def test_run_prints_the_table_and_writes_the_json_contract(project):
    result, document = project.run(f"--model={FIXTURE}", "--limit", "10", "--samples", "3", "-rs")
    assert_checks_ran(result)
    result.stdout.fnmatch_lines(
        [
            "*arithmetic: sampling*30/30*",
            "*arithmetic: discriminating*10/10*",
            "*selfdisc-checks*",
            "*S_gen*S_disc*DG-DIFF*invalid*oracle*right+wrong*majority*",
            "*arithmetic*10*",
        ]
    )
    check_contract(document, "arithmetic", n=10, samples=3)
    assert document["tasks"]["arithmetic"]["run"]["sampled"] == 10
    assert document["tasks"]["arithmetic"]["options"]["max_operand"] == 9  # the task's options are recorded
    # The checkpoint lies outside the project, yet the project's [tool.selfdisc] table still applies.
    assert document["settings"]["cache_dir"] == str(project.path / "cache")


def test_second_identical_run_samples_nothing_and_agrees(project):
    args = (f"--model={FIXTURE}", "--limit", "8")
    _, first = project.run(*args)
    _, second = project.run(*args)
    assert second["tasks"]["arithmetic"]["run"] == {
        "sampled": 0,
        "candidates_sampled": 0,
        "discriminated": 0,
        "workers": 1,
    }
    assert first["tasks"]["arithmetic"]["questions"] == second["tasks"]["arithmetic"]["questions"]
    assert first["tasks"]["arithmetic"]["metrics"] == second["tasks"]["arithmetic"]["metrics"]


def test_changed_checkpoint_or_setting_never_reuses_candidates(project, fixture_copy):
    _, original = project.run(f"--model={fixture_copy}", "--limit", "6")
    weights = fixture_copy / "model.safetensors"
    tensors = load_file(weights)
    name = next(iter(sorted(tensors)))
    tensors[name] = tensors[name] + 1e-3 * torch.ones_like(tensors[name])
    save_file(tensors, weights, metadata={"format": "pt"})
    _, changed = project.run(f"--model={fixture_copy}", "--limit", "6")
    assert changed["model"]["fingerprint"] != original["model"]["fingerprint"]
    assert changed["tasks"]["arithmetic"]["run"]["sampled"] == 6
    _, hotter = project.run(f"--model={fixture_copy}", "--limit", "6", "--temperature", "1.0")
    assert hotter["tasks"]["arithmetic"]["run"]["sampled"] == 6
    _, refreshed = project.run(f"--model={fixture_copy}", "--limit", "6", "--refresh-cache")
    assert refreshed["tasks"]["arithmetic"]["run"]["sampled"] == 6
    assert refreshed["tasks"]["arithmetic"]["questions"] == changed["tasks"]["arithmetic"]["questions"]


def test_two_xdist_workers_share_one_cache_without_sampling_twice(project):
    args = (f"--model={FIXTURE}", "--limit", "24", "--batch-size", "2", "-n", "2")
    result, document = project.run(*args)
    result.assert_outcomes(passed=5)
    run = document["tasks"]["arithmetic"]["run"]
    assert run["workers"] == 2, run  # both workers evaluated the task, concurrently
    assert run["candidates_sampled"] == 24 * 4, run  # ... and every candidate was sampled exactly once
    check_contract(document, "arithmetic", n=24, samples=4)
    assert result.stdout.str().count("self-discrimination checks:") == 1  # one table, from the controller
    result, again = project.run(*args)
    assert again["tasks"]["arithmetic"]["run"]["sampled"] == 0
    assert again["tasks"]["arithmetic"]["questions"] == document["tasks"]["arithmetic"]["questions"]


def test_a_failing_check_says_what_was_measured_against_what(pytester):
    from conftest import Project

    config = (
        '[tool.selfdisc.thresholds]\ns_gen = 1.0\ninvalid_rate = { ceiling = 1.0, mode = "confident" }\n'
        "[tool.selfdisc.thresholds.arithmetic]\ndg_diff = -1.0\n"
    )
    project = Project(pytester, config)
    result, document = project.run(f"--model={FIXTURE}", "--limit", "4", "--samples", "2", "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    metrics = document["tasks"]["arithmetic"]["metrics"]
    low, high = metrics["ci"]["s_gen"]
    result.stdout.fnmatch_lines(
        [
            f"*arithmetic: S_gen = {metrics['s_gen']:.3f} [[]95% CI {low:.3f}, {high:.3f}] is below the floor 1.000 "
            f"(mode point, n = 4, * mixed)*",  # "[[]" is a literal "[" in fnmatch
            "*SKIPPED*arithmetic: s_disc = *; no threshold set*",
        ]
    )


def test_a_run_without_mixed_questions_skips_dg_diff_instead_of_passing_it(project):
    # With two samples at a very low temperature, every question's candidates agree.
    result, document = project.run(
        f"--model={FIXTURE}", "--limit", "3", "--samples", "2", "--temperature", "0.01", "-rs"
    )
    assert document["tasks"]["arithmetic"]["metrics"]["mixed_fraction"] == 0
    assert_checks_ran(result)
    result.stdout.fnmatch_lines(["*SKIPPED*arithmetic: DG-DIFF cannot be measured: no question of 3 has both right*"])
    # and the table says so, rather than showing a precise-looking +0.0 [+0.0, +0.0]
    result.stdout.fnmatch_lines(["*│ arithmetic │*│ n/a (no mixed question) │*"])
