"""The product's checks: per task, generation and discrimination accuracy, DG-DIFF, invalid rate, position bias.

Each decides against the threshold configured under [tool.selfdisc.thresholds] (per task or global; a
floor or ceiling and a mode: point, confident or not-below) and is skipped, showing the measured value,
when none is set. DG-DIFF has a built-in floor of 0 in mode not-below. test_regression.py compares with a
previous release (--baseline).
"""


def test_generation_accuracy(selfdisc_check):
    verdict = selfdisc_check.verdict("s_gen")
    assert verdict.passed, verdict.message


def test_discrimination_accuracy(selfdisc_check):
    verdict = selfdisc_check.verdict("s_disc")
    assert verdict.passed, verdict.message


def test_dg_diff(selfdisc_check):
    verdict = selfdisc_check.verdict("dg_diff")
    assert verdict.passed, verdict.message


def test_invalid_rate(selfdisc_check):
    verdict = selfdisc_check.verdict("invalid_rate")
    assert verdict.passed, verdict.message


def test_position_bias(selfdisc_check):
    verdict = selfdisc_check.verdict("position_bias")
    assert verdict.passed, verdict.message
