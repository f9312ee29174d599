"""The product's checks: per task, generation accuracy, self-discrimination accuracy and DG-DIFF.

Each asserts the minimum configured under [tool.selfdisc.thresholds] (per task or global) and is
skipped, showing the measured value, when no minimum is set.
"""


def test_generation_accuracy(selfdisc_check):
    measured, minimum = selfdisc_check.values("s_gen")
    assert measured >= minimum, selfdisc_check.explain("s_gen")


def test_discrimination_accuracy(selfdisc_check):
    measured, minimum = selfdisc_check.values("s_disc")
    assert measured >= minimum, selfdisc_check.explain("s_disc")


def test_dg_diff(selfdisc_check):
    measured, minimum = selfdisc_check.values("dg_diff")
    assert measured >= minimum, selfdisc_check.explain("dg_diff")
