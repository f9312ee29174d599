"""Early stopping: the confidence sequences' coverage under continuous monitoring, the error rate of settled
verdicts, and the properties the construction guarantees (few streams here; many in the slow tier)."""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.sequential import (
    HORIZONS,
    AlphaSplit,
    SequentialCheck,
    confidence_sequence,
    first_exclusion,
    fixed_n_bounds,
    lower_bound,
    regression_check,
    simulate_stopping,
    upper_bound,
)
from selfdisc_checks.statistics import PowerModel
from tests.simulations import STREAM_FAMILIES, miss_rates, miss_tolerance, paired_runs, update_cost

grid = st.sampled_from([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
unit_values = st.lists(st.one_of(grid, st.floats(0, 1)), min_size=1, max_size=120)
alphas = st.floats(0.001, 0.3)


@pytest.mark.parametrize("family", STREAM_FAMILIES)
def test_the_sequences_hold_the_true_mean_at_every_question(family):
    # 300 streams of 400 questions, looked at after every question; alpha 0.2 so that a broken bound shows.
    alpha, streams = 0.2, 300
    lower_miss, upper_miss, two_sided_miss = miss_rates(family, streams, 400, alpha, seed=1)
    for rate in (lower_miss, upper_miss, two_sided_miss):
        assert rate <= miss_tolerance(alpha, streams)


def test_the_coverage_check_catches_an_interval_that_peeks():
    # The same tolerance flags a fixed-n 80% normal interval looked at after every chunk of 32: it misses far
    # more often than 20%, which is why early stopping needs a confidence sequence.
    alpha, streams, n = 0.2, 300, 400
    x = np.random.default_rng(2).binomial(1, 0.5, (streams, n)).astype(float)
    t = np.arange(1, n + 1)
    mean = np.cumsum(x, axis=1) / t
    half = 1.2816 * np.sqrt(mean * (1 - mean) / t)
    looks = slice(31, None, 32)
    missed = ((mean - half)[:, looks] > 0.5) | ((mean + half)[:, looks] < 0.5)
    assert missed.any(axis=1).mean() > miss_tolerance(alpha, streams) + 0.1


def test_first_exclusion_agrees_with_the_bounds():
    values = np.random.default_rng(3).beta(2, 3, (20, 150))  # mean 0.4
    for m in (0.3, 0.4, 0.5):
        above, below = first_exclusion(values, m, 0.1)
        assert m == 0.4 or np.isfinite(above if m < 0.4 else below).any()
        for row, up, down in zip(values, above, below, strict=True):
            assert (lower_bound(row, 0.1) > m) == math.isfinite(up)
            assert (upper_bound(row, 0.1) < m) == math.isfinite(down)
            if math.isfinite(up):  # excluded from the question it first was, not one before
                assert lower_bound(row[: int(up)], 0.1) > m >= lower_bound(row[: int(up) - 1], 0.1)


@pytest.mark.parametrize(
    ("side", "mode", "p", "wrong"),
    [
        ("floor", "not-below", 0.5, "fail"),  # exactly at the floor: compliant, must not fail
        ("floor", "not-below", 0.52, "fail"),  # just above it
        ("floor", "confident", 0.48, "pass"),  # just below it: must not pass
        ("floor", "confident", 0.5, "fail"),  # at the floor, a settled "surely below" is wrong too
        ("ceiling", "not-below", 0.5, "fail"),
        ("ceiling", "confident", 0.52, "pass"),
    ],
)
def test_a_settled_verdict_is_wrong_at_most_alpha_of_the_time(side, mode, p, wrong):
    alpha, alpha_final, streams = 0.1, 0.05, 400
    values = np.random.default_rng(4).binomial(1, p, (streams, 300)).astype(float)
    check = SequentialCheck(0.5, side, mode, alpha)
    stop = simulate_stopping(values, check, chunk=16, alpha_final=alpha_final)
    wrong_verdict = ~stop.passed if wrong == "fail" else stop.passed
    assert np.mean(wrong_verdict & stop.settled) <= miss_tolerance(alpha, streams)
    if (mode == "not-below") == (wrong == "fail"):  # the error this mode controls, final look included
        assert np.mean(wrong_verdict) <= miss_tolerance(alpha + alpha_final, streams)


def test_an_unchanged_model_is_rarely_called_regressed():
    # DG-DIFF of two runs of the same model on the same questions: mean difference exactly 0 = -tolerance.
    alpha, alpha_final, streams = 0.1, 0.05, 400
    old, new = paired_runs(PowerModel(), np.random.default_rng(5), (streams, 400), drop=0.0)
    stop = simulate_stopping(new - old, regression_check(0.0, alpha, (-1, 1)), chunk=32, alpha_final=alpha_final)
    assert np.mean(~stop.passed) <= miss_tolerance(alpha + alpha_final, streams)


def test_a_clear_pass_and_a_clear_failure_settle_early():
    rng = np.random.default_rng(6)
    good = simulate_stopping(rng.binomial(1, 0.7, (200, 500)).astype(float), SequentialCheck(0.5, alpha=0.01))
    assert good.settled.all() and good.passed.all() and np.median(good.stopped_at) <= 128
    bad = simulate_stopping(rng.binomial(1, 0.3, (200, 500)).astype(float), SequentialCheck(0.5, alpha=0.01))
    assert bad.settled.all() and not bad.passed.any()


def test_simulate_stopping_decides_as_update_does():
    rng = np.random.default_rng(7)
    values = np.clip(rng.normal(0.05, 0.3, (12, 400)), -1, 1)
    for check, final in (
        (SequentialCheck(0.0, "floor", "not-below", 0.05, (-1, 1)), 0.05),
        (SequentialCheck(0.08, "ceiling", "confident", 0.05, (-1, 1)), 0.0),
    ):
        stop = simulate_stopping(values, check, chunk=32, alpha_final=final)
        for i, row in enumerate(values):
            fresh = SequentialCheck(check.bound, check.side, check.mode, check.alpha, check.value_range)
            for start in range(0, row.size, 32):
                if fresh.update(row[start : start + 32]).decided:
                    break
            state = fresh.finish(final)
            assert state.decided_at == stop.stopped_at[i] and (state.verdict == "pass") == stop.passed[i]
            assert (state.by == "sequence") == stop.settled[i]


@settings(max_examples=30, deadline=None)
@given(unit_values, alphas, st.floats(-3, 3), st.floats(0.1, 5))
def test_bounds_lie_in_the_range_and_scale_with_it(values, alpha, shift, width):
    low, high = lower_bound(values, alpha), upper_bound(values, alpha)
    assert 0.0 <= low <= 1.0 and 0.0 <= high <= 1.0
    moved = [shift + width * v for v in values]
    value_range = (shift, shift + width)
    assert math.isclose(lower_bound(moved, alpha, value_range), shift + width * low, abs_tol=1e-6 * width)
    assert math.isclose(upper_bound(moved, alpha, value_range), shift + width * high, abs_tol=1e-6 * width)
    fixed_low, fixed_high = fixed_n_bounds(values, alpha)
    assert 0.0 <= fixed_low <= 1.0 and 0.0 <= fixed_high <= 1.0


@settings(max_examples=30, deadline=None)
@given(unit_values, alphas, st.sampled_from(["horizons", "prpl"]))
def test_bounds_only_tighten_as_questions_arrive(values, alpha, bets):
    # The running intersection: every prefix's CS contains the CS after more questions.
    before = len(values) // 2
    assert lower_bound(values[:before], alpha, bets=bets) <= lower_bound(values, alpha, bets=bets)
    assert upper_bound(values[:before], alpha, bets=bets) >= upper_bound(values, alpha, bets=bets)


@settings(max_examples=30, deadline=None)
@given(unit_values, alphas)
def test_reflecting_the_values_swaps_the_bounds(values, alpha):
    mirrored = [1.0 - v for v in values]
    assert math.isclose(lower_bound(values, alpha), 1.0 - upper_bound(mirrored, alpha), abs_tol=1e-8)


@settings(max_examples=25, deadline=None)
@given(unit_values, alphas)
def test_the_two_sided_sequence_is_both_one_sided_ones_at_half_alpha(values, alpha):
    assert confidence_sequence(values, alpha) == (lower_bound(values, alpha / 2), upper_bound(values, alpha / 2))


def test_a_smaller_alpha_is_not_always_wider():
    # The bets grow with log(1/alpha) and truncation caps their losses but not their gains, so on a stream that
    # changes course a smaller alpha can exclude more: the module docstring says so and no test assumes nesting.
    values = [1.0] * 11 + [0.0] * 41
    assert upper_bound(values, 0.001) < upper_bound(values, 0.01)
    assert lower_bound(values, 0.001) <= lower_bound(values, 0.01)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.one_of(grid, st.floats(0, 1)), min_size=1, max_size=30), min_size=1, max_size=8),
    st.sampled_from([0.2, 0.4, 0.5, 0.6]),
    st.sampled_from(["floor", "ceiling"]),
    st.sampled_from(["not-below", "confident"]),
    st.floats(0.01, 0.3),
)
def test_verdicts_are_final_and_agree_with_the_bounds(chunks, bound, side, mode, alpha):
    check = SequentialCheck(bound, side, mode, alpha)
    settled = None
    for chunk in chunks:
        state = check.update(chunk)
        if settled is not None:
            assert (state.verdict, state.decided_at, state.by) == settled
        elif state.decided:
            settled = (state.verdict, state.decided_at, state.by)
            surely_above, surely_below = state.lower >= bound, state.upper < bound
            assert surely_above or surely_below
            assert state.verdict == ("pass" if (surely_above if side == "floor" else surely_below) else "fail")
        else:
            assert state.lower < bound <= state.upper
    # The state after the last chunk does not depend on how the questions were chunked.
    whole = SequentialCheck(bound, side, mode, alpha)
    state = whole.update([v for chunk in chunks for v in chunk])
    assert (state.lower, state.upper) == (check.state.lower, check.state.upper)
    final = check.finish(0.05)
    assert final.decided and (settled is None or (final.verdict, final.decided_at, final.by) == settled)


def test_finish_applies_the_modes_default_or_a_fixed_n_look():
    values = [1.0, 0.0] * 10  # mean 0.5, too few questions to settle a floor of 0.45
    for mode, default in (("not-below", "pass"), ("confident", "fail")):
        check = SequentialCheck(0.45, "floor", mode, 0.01)
        assert not check.update(values).decided
        assert check.finish().verdict == default and check.state.by == "default"
    # Mean 0.475 against a floor of 0.4: left open by a sequence at alpha 1e-4, clear to a fixed-n look at 0.2.
    near = SequentialCheck(0.4, "floor", "confident", 1e-4)
    near.update(np.random.default_rng(1).binomial(1, 0.5, 400).astype(float))
    assert not near.state.decided
    assert near.finish(0.2).verdict == "pass" and near.state.by == "final" and near.state.decided_at == 400
    assert fixed_n_bounds([1.0, 0.0] * 200, 0.05)[0] < 0.5 < fixed_n_bounds([1.0, 0.0] * 200, 0.05)[1]


@pytest.mark.parametrize(
    ("side", "mode", "interval", "verdict"),
    [
        ("floor", "not-below", (0.38, 0.45), "pass"),  # the interval reaches the floor: not surely below
        ("floor", "not-below", (0.38, 0.449), "fail"),
        ("floor", "confident", (0.45, 0.6), "pass"),  # read as the gate reads it: lower >= floor
        ("floor", "confident", (0.449, 0.6), "fail"),
        ("ceiling", "not-below", (0.46, 0.6), "fail"),
        ("ceiling", "confident", (0.3, 0.45), "pass"),
    ],
)
def test_finish_reads_a_given_interval_as_the_gate_does(side, mode, interval, verdict):
    check = SequentialCheck(0.45, side, mode, 1e-6)
    check.update([1.0, 0.0] * 5)
    state = check.finish(0.05, interval=interval)
    assert (state.verdict, state.by) == (verdict, "final")


def test_a_bound_at_the_edge_of_the_range_is_settled_before_any_question():
    assert SequentialCheck(0.0, "floor").state.verdict == "pass"
    assert SequentialCheck(1.0, "ceiling").state.verdict == "pass"
    assert not SequentialCheck(1.0, "floor").state.decided
    stop = simulate_stopping(np.zeros((3, 10)), SequentialCheck(-1.0, "floor", value_range=(-1, 1)))
    assert stop.passed.all() and (stop.stopped_at == 0).all()


def test_alpha_split_spreads_alpha_over_checks_and_the_final_look():
    split = AlphaSplit(0.05, 15)
    assert math.isclose(split.sequence, 0.05 / 30) and math.isclose(split.final, 0.05 / 30)
    assert math.isclose(15 * (split.sequence + split.final), 0.05)
    assert AlphaSplit(0.05, 4, final_share=0.0).final == 0.0
    for bad in (
        {"alpha": 0.0, "checks": 1},
        {"alpha": 0.05, "checks": 0},
        {"alpha": 0.05, "checks": 2, "final_share": 1},
    ):
        with pytest.raises(SelfDiscError):
            AlphaSplit(**bad)


def test_regression_check_reads_differences_of_the_metric():
    check = regression_check(0.02, 0.05, (-1, 1))  # DG-DIFF: new - old lies in [-2, 2]
    assert (check.bound, check.side, check.mode, check.value_range) == (-0.02, "floor", "not-below", (-2, 2))
    with pytest.raises(SelfDiscError, match="tolerance"):
        regression_check(-0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bound": 0.5, "mode": "point"}, "no error rate"),
        ({"bound": 0.5, "mode": "loose"}, "not a threshold mode"),
        ({"bound": 0.5, "side": "top"}, "side"),
        ({"bound": 1.5}, "outside the values' range"),
        ({"bound": 0.5, "alpha": 1.0}, "alpha"),
        ({"bound": 0.5, "value_range": (1, 0)}, "low < high"),
        ({"bound": 0.5, "bets": "kelly"}, "bets"),
    ],
)
def test_bad_settings_name_the_problem(kwargs, match):
    with pytest.raises(SelfDiscError, match=match):
        SequentialCheck(**kwargs)


def test_values_outside_the_range_are_refused():
    with pytest.raises(SelfDiscError, match="outside"):
        SequentialCheck(0.5).update([0.2, 1.5])
    with pytest.raises(SelfDiscError, match="NaN"):
        lower_bound([0.2, float("nan")])


def test_one_update_is_cheap_at_two_thousand_questions():
    # Measured ~11 ms on the development machine (docs/statistics.md); a loose guard against a slow rewrite.
    assert update_cost(2000, repeats=3) < 0.25
    assert len(HORIZONS) == 4


def test_the_module_imports_no_torch_and_no_pytest():
    code = (
        "import sys\n"
        "import selfdisc_checks.sequential\n"
        "assert 'torch' not in sys.modules and 'pytest' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
