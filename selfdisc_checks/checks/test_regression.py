"""The product's baseline check: did this checkpoint regress against a previous release?

With --baseline OLD_RESULTS.json, per task and metric (S_gen, S_disc, DG-DIFF), the paired difference on
the questions both runs share; a check fails when the one-sided upper confidence bound of (new - old) is
below -tolerance ([tool.selfdisc.tolerances], default 0). Skipped without a baseline.
"""


def test_no_regression(selfdisc_regression):
    assert selfdisc_regression.passed, selfdisc_regression.message
