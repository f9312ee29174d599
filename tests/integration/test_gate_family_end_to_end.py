"""The run-wide family under pytest: the collected checks are decided together, in one process and with
xdist workers alike, and a team's [tool.selfdisc.gate] choice of checks holds."""

from __future__ import annotations

import pytest

from conftest import ADMIT_ANY, FIXTURE, Project, weaken

pytestmark = pytest.mark.slow

ARGS = (f"--model={FIXTURE}", "--limit", "8", "--samples", "4")


def _outcomes(document: dict) -> dict[str, tuple[str, str]]:
    return {check["id"].split("::")[-1]: (check["outcome"], check["message"]) for check in document["checks"]}


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_the_collected_checks_are_one_family_in_one_process_and_across_workers(pytester, workers):
    project = Project(
        pytester, ADMIT_ANY.replace("dg_diff = -1.0", 'dg_diff = { floor = -1.0, mode = "not-below" }'), regression=True
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *ARGS, "--results-json", "baseline.json")
    assert result.ret == 0
    result, document = project.run(*ARGS, "--baseline=baseline.json", "--seed", "7", *workers)
    assert result.ret == 0, result.stdout.str()
    checks = _outcomes(document)
    # dg_diff's not-below floor and the 3 regression checks are the family; the point-mode floors are not.
    for name in ("test_dg_diff[arithmetic]", "test_no_regression[arithmetic-s_gen]"):
        assert checks[name][0] == "passed" and "Holm over 4 checks, run-wide alpha 0.05" in checks[name][1], checks[
            name
        ]
    assert "Holm" not in checks["test_generation_accuracy[arithmetic]"][1]
    records = {check["id"].split("::")[-1]: check for check in document["checks"]}
    assert records["test_no_regression[arithmetic-s_disc]"]["family"] == "holm"
    assert 0 <= records["test_no_regression[arithmetic-s_disc]"]["p_value"] <= 1


def test_a_check_the_gate_leaves_out_is_reported_and_skipped(pytester):
    config = ADMIT_ANY + '[tool.selfdisc.gate]\nchecks = ["dg_diff", "no_regression.dg_diff"]\n'
    project = Project(pytester, config.replace("s_gen = 0.0", "s_gen = 1.0"))
    result, document = project.run(*ARGS, "-rs")
    result.stdout.fnmatch_lines(["*SKIPPED*not gated ([[]tool.selfdisc.gate[]] checks leaves s_gen out): *S_gen = *"])
    assert result.ret == 0  # S_gen is below its floor of 1.0, but it does not gate
    assert _outcomes(document)["test_generation_accuracy[arithmetic]"][0] == "skipped"


def test_a_broken_fixture_copy_whose_dg_diff_rises_is_failed_by_the_default_gate(tmp_path, fixture_copy):
    """Issue 27's new user: noise of one standard deviation on every matrix of the fixture. S_gen collapses
    and DG-DIFF rises, so a gate on DG-DIFF alone would ship it; the default gate fails it on S_gen and S_disc."""
    from selfdisc_checks import evaluate

    weaken(fixture_copy)
    options = {"limit": 40, "cache_dir": str(tmp_path / "cache")}
    baseline = tmp_path / "baseline.json"
    before = evaluate(str(FIXTURE), ["arithmetic"], results_json=str(baseline), **options)
    after = evaluate(str(fixture_copy), ["arithmetic"], baseline=str(baseline), **options)
    old, new = (run.document["tasks"]["arithmetic"]["metrics"] for run in (before, after))
    assert new["dg_diff"] > old["dg_diff"] and new["s_gen"] < old["s_gen"] / 2, (old, new)
    outcomes = {check["id"].split("::")[-1]: check for check in after.checks}
    assert outcomes["test_no_regression[arithmetic-dg_diff]"]["outcome"] == "passed"
    failed = [check["message"] for check in after.checks if check["outcome"] == "failed"]
    assert any(message.startswith("arithmetic: S_gen regressed") for message in failed), failed
    assert any(message.startswith("arithmetic: S_disc regressed") for message in failed), failed
    assert not after.passed
