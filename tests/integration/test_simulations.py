"""The statistics' guarantees checked with many simulated runs (seconds each, so in the slow tier; the unit tier
checks the same with fewer)."""

from __future__ import annotations

import pytest

from tests.simulations import check_false_alarm, coverage

pytestmark = pytest.mark.slow


def test_bootstrap_coverage_many_seeds():
    # 3000 datasets: Monte Carlo standard error of the coverage is about 0.4 points.
    assert 0.935 <= coverage(3000) <= 0.965


def test_false_alarm_rate_at_mt_bench_size_many_replicates():
    check_false_alarm(100_000)  # tolerance about +-0.5 points
