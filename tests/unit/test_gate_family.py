"""The gate's run-wide decision end to end on the scripted backend (no torch): a broken checkpoint whose
DG-DIFF rises is failed by S_gen's regression check, adjusted with the run's other checks; a team can
choose what gates; ``family = "none"`` keeps each check's own decision."""

from __future__ import annotations

import json

from selfdisc_checks.engine import evaluate
from tests.arithmetic_script import arithmetic_script


def _run(tmp_path, model: str, **options):
    base = dict(backend="scripted", limit=40, samples=4, cache_dir=str(tmp_path / "cache"), level=0.95)
    return evaluate(model, ["arithmetic"], **{**base, **options})


def _checks(evaluation) -> dict[str, dict]:
    return {check["id"].split("::")[-1]: check for check in evaluation.checks}


def test_a_broken_checkpoint_whose_dg_diff_rises_fails_the_default_gate_on_s_gen(tmp_path):
    good = arithmetic_script(tmp_path, "good.py", every=2, picks_right=False)  # S_gen ~0.5, picks at position 1
    broken = arithmetic_script(
        tmp_path, "broken.py", every=7, picks_right=True
    )  # S_gen ~0.14, always picks a right one
    baseline = tmp_path / "baseline.json"
    _run(tmp_path, good, results_json=str(baseline))
    evaluation = _run(tmp_path, broken, baseline=str(baseline))
    checks = _checks(evaluation)
    s_gen, dg_diff = checks["test_no_regression[arithmetic-s_gen]"], checks["test_no_regression[arithmetic-dg_diff]"]
    assert evaluation.document["tasks"]["arithmetic"]["metrics"]["dg_diff"] > 0  # DG-DIFF alone would pass it
    assert dg_diff["outcome"] == "passed"
    assert s_gen["outcome"] == "failed" and "S_gen regressed" in s_gen["message"]
    assert "Holm over 4 checks, run-wide alpha 0.05" in s_gen["message"]
    assert s_gen["family"] == "holm" and s_gen["p_value"] <= s_gen["p_adjusted"] <= 0.05
    assert not evaluation.passed
    json.dumps(evaluation.document)  # what the results JSON holds stays JSON


def test_a_check_left_out_of_the_gate_is_measured_and_cannot_fail_the_run(tmp_path):
    good = arithmetic_script(tmp_path, "good.py", every=2, picks_right=False)
    broken = arithmetic_script(tmp_path, "broken.py", every=7, picks_right=True)
    baseline = tmp_path / "baseline.json"
    _run(tmp_path, good, results_json=str(baseline))
    evaluation = _run(tmp_path, broken, baseline=str(baseline), gate={"checks": ["dg_diff", "no_regression.dg_diff"]})
    s_gen = _checks(evaluation)["test_no_regression[arithmetic-s_gen]"]
    assert s_gen["outcome"] == "skipped" and s_gen["gated"] is False
    assert s_gen["message"].startswith("not gated ([tool.selfdisc.gate] checks leaves no_regression.s_gen out): ")
    assert "regressed" in s_gen["message"]  # still measured and told
    assert evaluation.passed


def test_family_none_decides_each_check_alone_as_before(tmp_path):
    good = arithmetic_script(tmp_path, "good.py", every=2, picks_right=False)
    baseline = tmp_path / "baseline.json"
    _run(tmp_path, good, results_json=str(baseline))
    alone = _checks(_run(tmp_path, good, baseline=str(baseline), gate={"family": "none"}))
    together = _checks(_run(tmp_path, good, baseline=str(baseline)))
    for name in ("test_no_regression[arithmetic-s_gen]", "test_dg_diff[arithmetic]"):
        assert "Holm" not in alone[name]["message"] and "Holm over" in together[name]["message"]
        assert alone[name]["outcome"] == together[name]["outcome"] == "passed"  # the same model held
