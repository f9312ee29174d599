"""Statistics: bootstrap coverage against a known truth, exact tests against scipy, edge cases, power."""

import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.statistics import (
    PowerModel,
    bootstrap_intervals,
    mcnemar_test,
    normalized_gap,
    paired_difference,
    random_candidate,
    simulate_power,
    smallest_detectable_drop,
    wilcoxon_test,
)
from tests.simulations import coverage

scores01 = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=40)


def test_bootstrap_covers_the_true_dg_diff():
    assert 0.93 <= coverage(400) <= 0.97


def test_power_model_matches_its_targets():
    model = PowerModel()
    a, b = model.beta
    mixed = 1 - stats.betabinom.pmf(0, 4, a, b) - stats.betabinom.pmf(4, 4, a, b)
    assert math.isclose(a / (a + b), 0.5) and math.isclose(mixed, 0.4, abs_tol=1e-9)
    for drop in (0.01, 0.03, 0.1):
        assert math.isclose(model.expected_dg_diff(model.skill_for_drop(drop)), -drop, abs_tol=1e-12)
    # The simulated runs agree with the analytic expectation.
    s_gen, s_disc = PowerModel(skill=0.4).sample(np.random.default_rng(0), (200_000,))
    assert abs((s_disc - s_gen).mean() - PowerModel(skill=0.4).expected_dg_diff()) < 0.005
    assert abs(s_gen.mean() - 0.5) < 0.005
    with pytest.raises(SelfDiscError, match="mixed_fraction"):
        PowerModel(mixed_fraction=0.95)


@given(st.lists(st.booleans(), max_size=60), st.data())
def test_mcnemar_matches_the_binomial_tail(pick, data):
    rand = data.draw(st.lists(st.booleans(), min_size=len(pick), max_size=len(pick)))
    result = mcnemar_test(pick, rand)
    assert result.fixed == sum(p and not r for p, r in zip(pick, rand, strict=False))
    assert result.broke == sum(r and not p for p, r in zip(pick, rand, strict=False))
    if result.fixed + result.broke == 0:
        assert result.p_value == 1.0
    else:
        expected = stats.binom.sf(result.fixed - 1, result.fixed + result.broke, 0.5)
        assert math.isclose(result.p_value, expected, rel_tol=1e-9, abs_tol=1e-15)


def test_mcnemar_rejects_a_picker_that_beats_chance():
    result = mcnemar_test([True] * 30 + [False] * 5, [False] * 30 + [True] * 5)
    assert (result.fixed, result.broke) == (30, 5) and result.p_value < 1e-4
    with pytest.raises(SelfDiscError, match="one of each"):
        mcnemar_test([True], [True, False])


def test_random_candidate_is_seeded_and_stable_across_processes():
    scores = [0.0, 1.0, 0.0, 1.0]
    picks = [random_candidate(scores, f"q{i}", seed=7) for i in range(400)]
    assert all(0 <= p < 4 for p in picks)
    assert picks == [random_candidate(scores, f"q{i}", seed=7) for i in range(400)]
    assert picks != [random_candidate(scores, f"q{i}", seed=8) for i in range(400)]
    assert min(np.bincount(picks, minlength=4)) > 60  # roughly uniform
    # Another interpreter (with its own hash salt) picks the same candidates.
    code = (
        "from selfdisc_checks.statistics import random_candidate as r; "
        "print([r([0, 1, 0, 1], f'q{i}', 7) for i in range(20)])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    ).stdout
    assert out.strip() == str(picks[:20])
    with pytest.raises(SelfDiscError, match="no candidates"):
        random_candidate([], "q", 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=25, unique=True))
def test_wilcoxon_matches_scipy_exact_without_ties(values):
    d = np.round(np.array(values), 6)
    d = d[d != 0]
    if d.size == 0 or np.unique(np.abs(d)).size != d.size:
        return  # ties or zeros after rounding: covered below
    expected = stats.wilcoxon(d, alternative="greater", method="exact").pvalue
    assert math.isclose(wilcoxon_test(d), expected, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]), min_size=1, max_size=12))
def test_wilcoxon_with_ties_is_the_exact_sign_flip_tail(d):
    p = wilcoxon_test(d)
    assert 0.0 <= p <= 1.0
    nonzero = np.array([x for x in d if x != 0])  # zero_method="wilcox": zeros are dropped
    if nonzero.size == 0:
        assert p == 1.0
        return
    ranks = stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    tail = [
        ranks[list(signs)].sum() >= observed - 1e-9 for signs in itertools.product([False, True], repeat=nonzero.size)
    ]
    assert math.isclose(p, sum(tail) / len(tail), rel_tol=1e-9)


def test_wilcoxon_is_sensible_on_judge_like_scores():
    better = np.array([0.1] * 30 + [0.2] * 20 + [-0.1] * 10 + [0.0] * 20)  # 80 questions, heavy ties
    assert wilcoxon_test(better) < 1e-4
    assert wilcoxon_test(-better) > 0.99
    assert wilcoxon_test([0.0] * 80) == 1.0
    assert wilcoxon_test([0.7 - 0.7000000000000001] * 5) == 1.0  # float noise is no difference
    assert wilcoxon_test([]) == 1.0


@settings(max_examples=40, deadline=None)
@given(scores01, st.data(), st.floats(0.5, 0.9), st.floats(0.01, 0.09))
def test_intervals_contain_the_estimate_and_widen_with_level(gen, data, level, extra):
    disc = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(gen), max_size=len(gen)))
    narrow = bootstrap_intervals(gen, disc, level=level, resamples=500)
    wide = bootstrap_intervals(gen, disc, level=level + extra, resamples=500)
    estimates = {"s_gen": np.mean(gen), "s_disc": np.mean(disc), "dg_diff": np.mean(disc) - np.mean(gen)}
    for name, estimate in estimates.items():
        lo, hi = narrow[name]
        assert lo - 1e-9 <= estimate <= hi + 1e-9
        assert wide[name][0] <= lo and hi <= wide[name][1]
    assert 0 <= wide["s_gen"][0] and wide["s_gen"][1] <= 1 and -1 <= wide["dg_diff"][0] <= wide["dg_diff"][1] <= 1


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(3)
    gen = rng.random(300)
    disc = gen + 0.1  # every pick beats its question's mean by exactly 0.1
    assert bootstrap_intervals(gen, disc, seed=5) == bootstrap_intervals(gen, disc, seed=5)
    assert bootstrap_intervals(gen, disc, seed=5) != bootstrap_intervals(gen, disc, seed=6)
    lo, hi = bootstrap_intervals(gen, disc)["dg_diff"]  # paired: no question-to-question noise left
    assert math.isclose(lo, 0.1, abs_tol=1e-9) and math.isclose(hi, 0.1, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("gen", "disc", "expected"),
    [
        ([1.0] * 10, [1.0] * 10, {"s_gen": (1, 1), "s_disc": (1, 1), "dg_diff": (0, 0)}),  # all right
        ([0.0] * 10, [0.0] * 10, {"s_gen": (0, 0), "s_disc": (0, 0), "dg_diff": (0, 0)}),  # all wrong
        ([0.25], [1.0], {"s_gen": (0.25, 0.25), "s_disc": (1, 1), "dg_diff": (0.75, 0.75)}),  # n = 1
    ],
)
def test_degenerate_intervals(gen, disc, expected):
    assert bootstrap_intervals(gen, disc) == expected


def test_no_mixed_question_means_dg_diff_is_exactly_zero():
    gen = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]  # every question's candidates agree, so the pick is forced
    intervals = bootstrap_intervals(gen, gen)
    assert intervals["dg_diff"] == (0.0, 0.0)
    assert intervals["s_gen"][0] < intervals["s_gen"][1]
    assert normalized_gap(np.mean(gen), np.mean(gen), oracle=np.mean(gen)) is None


def test_bootstrap_rejects_bad_input():
    with pytest.raises(SelfDiscError, match="one of each"):
        bootstrap_intervals([0.5, 1.0], [1.0])
    with pytest.raises(SelfDiscError, match="empty"):
        bootstrap_intervals([], [])
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(SelfDiscError, match="between 0 and 1"):
            bootstrap_intervals([0.5], [1.0], level=level)
    with pytest.raises(SelfDiscError, match="NaN"):
        bootstrap_intervals([math.nan], [1.0])


def test_normalized_gap():
    assert normalized_gap(0.5, 0.6, 0.9) == pytest.approx(0.25)
    assert normalized_gap(0.5, 0.4, 0.9) == pytest.approx(-0.25)
    assert normalized_gap(0.5, 0.5, 0.5) is None
    assert normalized_gap(0.1 + 0.2, 0.3, 0.3) is None  # float noise in the denominator


def test_paired_difference():
    old = np.random.default_rng(1).random(200)
    same = paired_difference(old, old)
    assert same.difference == 0.0 and same.interval == (0.0, 0.0) and same.upper_one_sided == 0.0
    new = np.where(np.arange(200) < 40, 0.0, old)  # 40 questions got worse
    change = paired_difference(old, new, level=0.9)
    lo, hi = change.interval
    assert change.difference < 0 and lo <= change.difference <= hi < 0
    assert change.difference <= change.upper_one_sided <= hi  # the 0.9 quantile sits below the 0.95 one
    with pytest.raises(SelfDiscError, match="one of each"):
        paired_difference([1.0], [1.0, 0.0])


def test_regression_rule_at_gsm8k_size():
    estimate = simulate_power(1319, 0.03, replicates=2000, seed=0)
    assert estimate.baseline_dg_diff == 0.0 and math.isclose(estimate.regressed_dg_diff, -0.03, abs_tol=1e-12)
    assert estimate.false_alarm <= 0.05 + 2 * estimate.false_alarm_se
    assert estimate.power >= 0.80


def test_power_grows_with_questions_and_drop():
    small = simulate_power(80, 0.03, replicates=500)
    assert small.power < simulate_power(800, 0.03, replicates=500).power
    assert small.power < simulate_power(80, 0.15, replicates=500).power
    assert 0.05 < smallest_detectable_drop(80, replicates=300, precision=0.005) < 0.2


def test_normal_approximation_tracks_the_bootstrap_rule():
    kwargs = {"n": 200, "drop": 0.06, "replicates": 100, "seed": 1}
    normal = simulate_power(**kwargs)
    boot = simulate_power(**kwargs, method="bootstrap", resamples=1000)
    # Same simulated runs (one seed); only decisions right at the bound can differ.
    assert abs(normal.power - boot.power) <= 0.04 and abs(normal.false_alarm - boot.false_alarm) <= 0.04
