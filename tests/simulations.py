"""Simulations that check the statistics' guarantees, shared by the unit tier (few replicates) and the slow tier
(many): the interval's coverage and the regression rule's false-alarm rate."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from selfdisc_checks.statistics import GradedPowerModel, PowerModel, bootstrap_intervals, simulate_power

MT_BENCH = 80  # questions


def coverage(datasets: int, n: int = 100, resamples: int = 1000) -> float:
    """Share of simulated datasets whose 95% DG-DIFF interval covers the model's true DG-DIFF."""
    model = PowerModel(skill=0.3)
    truth = model.expected_dg_diff()
    covered = 0
    for i in range(datasets):
        s_gen, s_disc = model.sample(np.random.default_rng(10_000 + i), (n,))
        lo, hi = bootstrap_intervals(s_gen, s_disc, resamples=resamples, seed=i)["dg_diff"]
        covered += lo <= truth <= hi
    return covered / datasets


def z_rule_level(n: int, level: float = 0.95) -> float:
    """The false-alarm rate of the normal rule (z quantile, plug-in sd) when per-question differences are normal.

    The rule fires when mean + z * sd_plugin / sqrt(n) < 0, i.e. when the t statistic is below
    -z * sqrt((n - 1) / n): slightly more often than 1 - level, because z < t_{n-1} quantile.
    """
    z = stats.norm.ppf(level)
    return float(stats.t.cdf(-z * math.sqrt((n - 1) / n), n - 1))


def false_alarm_tolerance(replicates: int, n: int = MT_BENCH) -> float:
    """How far from 5% a simulated false-alarm rate may land: the z rule's own excess plus 3 standard errors."""
    return abs(z_rule_level(n) - 0.05) + 3 * math.sqrt(0.05 * 0.95 / replicates)


def check_false_alarm(replicates: int) -> None:
    estimate = simulate_power(MT_BENCH, 0.0, GradedPowerModel(), replicates=replicates, seed=0)
    assert estimate.baseline_dg_diff == 0.0 and estimate.regressed_dg_diff == 0.0
    assert estimate.power == estimate.false_alarm  # a zero drop leaves the regressed run equal to "same"
    assert abs(estimate.false_alarm - 0.05) <= false_alarm_tolerance(replicates)
