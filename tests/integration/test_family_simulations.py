"""Many-replicate simulations of the run-wide family (docs/statistics.md, "One decision for the run"): a gate
of 5 GSM8K-sized tasks x (S_gen, S_disc, DG-DIFF) regression checks on an unchanged model fails the run at
most alpha of the time under Holm and max-T, and max-T catches a 3-point DG-DIFF drop at least as often."""

from __future__ import annotations

import pytest

from tests.simulations import gate_rejections, rate_tolerance

pytestmark = pytest.mark.slow
REPLICATES = 150


@pytest.mark.parametrize("family", ["holm", "max-t"])
def test_an_unchanged_model_fails_a_fifteen_check_gate_at_most_alpha_of_the_time(family):
    rate, _ = gate_rejections(family, REPLICATES, n=1319, resamples=500, seed=11)
    assert rate <= rate_tolerance(0.05, REPLICATES), f"{family}: the run failed in {rate:.1%} of unchanged pairs"


def test_max_t_catches_a_drop_at_least_as_often_as_holm():
    _, holm = gate_rejections("holm", REPLICATES, n=1319, drop=0.03, resamples=500, seed=12)
    _, max_t = gate_rejections("max-t", REPLICATES, n=1319, drop=0.03, resamples=500, seed=12)
    assert max_t >= holm, f"max-T caught {max_t:.1%}, Holm {holm:.1%} (same replicates)"
