"""The likelihood-discrimination checks: the pick is the option whose label the model finds most likely right
after the discrimination prompt (one forward pass, no generated text, so no invalid picks).

Measured with --discriminate likelihood (or generate,likelihood, beside the generated-label checks of
test_model.py); skipped otherwise. Thresholds: s_disc_likelihood, dg_diff_likelihood (built-in: floor 0, mode
not-below) and position_bias_likelihood under [tool.selfdisc.thresholds].
"""


def test_likelihood_discrimination_accuracy(selfdisc_check):
    verdict = selfdisc_check.verdict("s_disc_likelihood")
    assert verdict.passed, verdict.message


def test_likelihood_dg_diff(selfdisc_check):
    verdict = selfdisc_check.verdict("dg_diff_likelihood")
    assert verdict.passed, verdict.message


def test_likelihood_position_bias(selfdisc_check):
    verdict = selfdisc_check.verdict("position_bias_likelihood")
    assert verdict.passed, verdict.message
