"""Gate modes: a floor or ceiling decided on the estimate, or on one end of its confidence interval."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.gate import Threshold, judge
from selfdisc_checks.metrics import task_metrics
from selfdisc_checks.records import Candidate, Choice, QuestionResult


def metrics(estimate, low, high, metric="dg_diff"):
    return {metric: estimate, "ci": {metric: [low, high], "level": 0.95}, "n": 100, "mixed_fraction": 0.4}


@pytest.mark.parametrize(
    "mode, estimate, low, high, passed",
    [
        ("point", 0.01, -0.02, 0.04, True),
        ("point", -0.01, -0.04, 0.02, False),
        ("confident", 0.01, -0.02, 0.04, False),  # not sure it is at least 0
        ("confident", 0.05, 0.01, 0.09, True),
        ("not-below", -0.01, -0.04, 0.02, True),  # not sure it is worse
        ("not-below", -0.05, -0.09, -0.01, False),  # sure it is worse
    ],
)
def test_floor_modes(mode, estimate, low, high, passed):
    assert judge("t", "dg_diff", Threshold(0.0, mode), metrics(estimate, low, high)).passed is passed


@pytest.mark.parametrize(
    "mode, estimate, low, high, passed",
    [
        ("point", 0.10, 0.05, 0.15, True),
        ("confident", 0.10, 0.05, 0.15, False),  # the upper bound exceeds the ceiling 0.12
        ("not-below", 0.14, 0.10, 0.18, True),
        ("not-below", 0.20, 0.15, 0.25, False),
    ],
)
def test_ceiling_modes(mode, estimate, low, high, passed):
    verdict = judge("t", "invalid_rate", Threshold(0.12, mode), metrics(estimate, low, high, "invalid_rate"))
    assert verdict.passed is passed
    assert ("is above the ceiling" in verdict.message) is not passed


def test_failure_message_names_everything():
    verdict = judge(
        "gsm8k",
        "dg_diff",
        Threshold(-0.02, "confident"),
        {"dg_diff": -0.031, "ci": {"dg_diff": [-0.05, -0.012], "level": 0.95}, "n": 1319, "mixed_fraction": 412 / 1319},
    )
    assert verdict.message == (
        "gsm8k: DG-DIFF = -0.031 [95% CI -0.050, -0.012] is below the floor -0.020 (mode confident, n = 1319, 412 mixed)"
    )


def question(scores, index):
    candidates = tuple(Candidate(f"t{i}", str(s), s, "strict") for i, s in enumerate(scores))
    return QuestionResult(f"q{len(scores)}{index}", "q", "1", candidates, Choice("raw", index))


@pytest.mark.parametrize(
    "qs, names",
    [
        ([question([1.0, 1.0], 0)] * 5, ("s_gen", "s_disc", "dg_diff")),  # all right
        ([question([0.0, 0.0], 1)] * 5, ("s_gen", "s_disc", "dg_diff")),  # all wrong
        ([question([1.0, 0.0], 0)], ("s_gen", "s_disc", "dg_diff")),  # n = 1
        ([question([1.0, 1.0], 0), question([0.0, 0.0], None)], ("dg_diff",)),  # no mixed question: DG-DIFF is 0
    ],
    ids=["all-right", "all-wrong", "n=1", "no-mixed"],
)
@pytest.mark.parametrize("mode", ["point", "confident", "not-below"])
def test_edge_cases_decide_on_a_degenerate_interval(qs, names, mode):
    m = task_metrics(qs)
    for metric in names:
        lo, hi = m["ci"][metric]
        assert lo == hi == m[metric]  # nothing to resample: every mode sees the same number
        assert judge("t", metric, Threshold(m[metric], mode), m).passed
        assert not judge("t", metric, Threshold(m[metric] + 0.01, mode), m).passed


@settings(deadline=None, max_examples=50)
@given(st.floats(-1, 1), st.floats(0, 0.5), st.floats(0, 0.5), st.floats(-1, 1))
def test_modes_are_ordered(estimate, below, above, floor):
    """Whatever passes 'confident' passes 'point', and whatever passes 'point' passes 'not-below'."""
    m = metrics(estimate, estimate - below, estimate + above)
    confident, point, lenient = (
        judge("t", "dg_diff", Threshold(floor, mode), m).passed for mode in ("confident", "point", "not-below")
    )
    assert confident <= point <= lenient
