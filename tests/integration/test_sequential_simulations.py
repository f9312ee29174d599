"""Early stopping's guarantees with many simulated streams (seconds each, so in the slow tier; the unit tier
checks the same with few), and the targets docs/statistics.md reports."""

from __future__ import annotations

import numpy as np
import pytest

from selfdisc_checks.sequential import AlphaSplit, SequentialCheck, first_exclusion, regression_check, simulate_stopping
from selfdisc_checks.statistics import PowerModel
from tests.simulations import (
    STREAM_FAMILIES,
    early_stopping_scenarios,
    miss_rates,
    miss_tolerance,
    paired_runs,
    stream_family,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("family", STREAM_FAMILIES)
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_coverage_under_continuous_monitoring_many_streams(family, alpha):
    streams = 4000  # the tolerance is alpha + about 1 point at alpha 0.2
    for rate in miss_rates(family, streams, 1000, alpha, seed=100):
        assert rate <= miss_tolerance(alpha, streams)


@pytest.mark.parametrize("family", ["bernoulli-rare", "dg-diff", "paired-regression"])
def test_the_papers_anytime_bets_cover_too(family):
    alpha, streams = 0.2, 4000
    values, truth, value_range = stream_family(family, streams, 1000, seed=101)
    above, below = first_exclusion(values, truth, alpha, value_range, bets="prpl")
    assert np.isfinite(above).mean() <= miss_tolerance(alpha, streams)
    assert np.isfinite(below).mean() <= miss_tolerance(alpha, streams)


@pytest.mark.parametrize(
    ("side", "mode", "p", "wrong"),
    [
        ("floor", "not-below", 0.3, "fail"),
        ("floor", "not-below", 0.31, "fail"),
        ("floor", "confident", 0.29, "pass"),
        ("ceiling", "not-below", 0.3, "fail"),
        ("ceiling", "confident", 0.31, "pass"),
    ],
)
def test_wrong_verdicts_many_streams(side, mode, p, wrong):
    alpha, alpha_final, streams = 0.05, 0.05, 5000
    values = np.random.default_rng(102).binomial(1, p, (streams, 1000)).astype(float)
    stop = simulate_stopping(values, SequentialCheck(0.3, side, mode, alpha), chunk=32, alpha_final=alpha_final)
    wrong_verdict = ~stop.passed if wrong == "fail" else stop.passed
    assert np.mean(wrong_verdict & stop.settled) <= miss_tolerance(alpha, streams)
    assert np.mean(wrong_verdict) <= miss_tolerance(alpha + alpha_final, streams)


def test_an_unchanged_dg_diff_at_its_floor_rarely_fails_many_streams():
    # PowerModel at skill 0: per-question DG-DIFF mostly 0, mean exactly 0, against the default floor of 0.
    split = AlphaSplit(0.05, 1)
    gen, disc = PowerModel().sample(np.random.default_rng(103), (5000, 1319))
    check = SequentialCheck(0.0, "floor", "not-below", split.sequence, (-1, 1))
    stop = simulate_stopping(disc - gen, check, chunk=32, alpha_final=split.final)
    assert np.mean(~stop.passed) <= miss_tolerance(0.05, 5000)


def test_unchanged_model_regression_many_streams():
    old, new = paired_runs(PowerModel(), np.random.default_rng(104), (5000, 1319), drop=0.0)
    split = AlphaSplit(0.05, 1)
    stop = simulate_stopping(new - old, regression_check(0.0, split.sequence, (-1, 1)), alpha_final=split.final)
    assert np.mean(~stop.passed) <= miss_tolerance(0.05, 5000)


@pytest.mark.parametrize("checks", [1, 4])
def test_the_documented_targets_hold(checks):
    # docs/statistics.md: a clear DG-DIFF pass at n = 1319 settles within 30% of the questions for most streams
    # with up to 4 gated checks, and the fixture's far thresholds settle within 100 questions.
    split = AlphaSplit(0.05, checks)
    scenarios = {s.name: s for s in early_stopping_scenarios(split.sequence, streams=2000, seed=105)}
    clear = scenarios["clear pass: DG-DIFF +0.05 vs floor 0"]
    stop = simulate_stopping(clear.values, clear.check, alpha_final=split.final)
    assert np.median(stop.stopped_at) <= clear.target and stop.passed.all()
    for name in (
        "fixture S_gen 0.42 vs floor 0.2",
        "fixture S_disc 0.40 vs floor 0.2",
        "fixture invalid 0% vs ceiling 0.1",
    ):
        far = scenarios[name]
        stop = simulate_stopping(far.values, far.check, alpha_final=split.final)
        assert np.median(stop.stopped_at) <= far.target and stop.passed.mean() > 0.99


def test_an_unchanged_gate_of_15_checks_fails_at_most_alpha_under_early_stopping_many_runs():
    """The run-wide guarantee of --stop-when-decided at GSM8K size: 5 tasks of 1,319 questions x 3 regression
    checks, 2,000 unchanged runs, looked at after every 32 questions."""
    from tests.simulations import early_stopping_false_alarms, rate_tolerance

    rate = early_stopping_false_alarms(replicates=2000, n=1319)
    assert rate <= rate_tolerance(0.05, 2000), rate
