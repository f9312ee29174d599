"""The graded (judge-scored, MT-Bench-like) power model and the regression rule's false alarms and power on it."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.statistics import GradedPowerModel, simulate_power, smallest_detectable_drop
from tests.simulations import MT_BENCH, check_false_alarm


def within(simulated: np.ndarray, expected: float, sigmas: float = 4.0) -> bool:
    """Whether the mean of ``simulated`` is within ``sigmas`` Monte Carlo standard errors of ``expected``."""
    se = simulated.std() / math.sqrt(simulated.size)
    return abs(simulated.mean() - expected) <= sigmas * se + 1e-12


@pytest.mark.parametrize(
    "model",
    [GradedPowerModel(), GradedPowerModel(mean_rating=8.6, question_sd=0.0, candidate_sd=0.7, samples=6)],
    ids=["mt-bench-defaults", "near-ceiling-one-quality"],
)
def test_expectations_match_simulated_runs(model):
    shape = (200_000,)
    # One seed for both extremes: the same questions and ratings, so best != worst exactly on mixed questions.
    gen, best = model.sample(np.random.default_rng(11), shape, skill=1.0)
    gen_again, worst = model.sample(np.random.default_rng(11), shape, skill=-1.0)
    assert np.array_equal(gen, gen_again)
    assert within(gen, model.expected_s_gen)
    assert within((best != worst).astype(float), model.mixed_fraction)
    assert within(best - gen, model.expected_dg_diff(1.0))
    assert within(gen - worst, -model.expected_dg_diff(-1.0))
    for skill in (-0.6, -0.1, 0.0, 0.25, 0.8):
        s_gen, s_disc = model.sample(np.random.default_rng(12), shape, skill=skill)
        assert within(s_disc - s_gen, model.expected_dg_diff(skill))
    # Scores live on the normalised 1-10 grid.
    assert set(np.unique(np.rint(best * 9)).tolist()) <= set(range(10))


def test_defaults_look_like_a_mid_sized_chat_model_on_mt_bench():
    model = GradedPowerModel()
    assert 0.55 < model.expected_s_gen < 0.65  # about 6-6.5 on the 1-10 scale
    assert model.mixed_fraction > 0.9  # four samples rarely all get the same rating
    # Best minus mean is about one rating point.
    assert 0.8 < 9 * model.expected_dg_diff(1.0) < 1.4 and 0.8 < -9 * model.expected_dg_diff(-1.0) < 1.4


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-1, 1),
    st.floats(-1, 1),
    st.floats(1, 10),
    st.floats(0, 3),
    st.floats(0.2, 3),
    st.integers(2, 8),
)
def test_skill_for_drop_inverts_expected_dg_diff(base, target, mean_rating, question_sd, candidate_sd, samples):
    model = GradedPowerModel(mean_rating, question_sd, candidate_sd, samples, skill=base)
    drop = model.expected_dg_diff() - model.expected_dg_diff(target)
    skill = model.skill_for_drop(drop)
    assert -1 <= skill <= 1
    assert math.isclose(model.expected_dg_diff(skill), model.expected_dg_diff() - drop, abs_tol=1e-12)
    gain_room, loss_room = model.expected_dg_diff(1.0), -model.expected_dg_diff(-1.0)
    if min(gain_room, loss_room) > 1e-6:  # otherwise skills on the empty side all give the same DG-DIFF
        assert math.isclose(skill, target, abs_tol=1e-6)
    # Anything past the best or the worst pick is impossible.
    with pytest.raises(SelfDiscError, match="impossible"):
        model.skill_for_drop(model.expected_dg_diff() + loss_room + 0.01)
    with pytest.raises(SelfDiscError, match="impossible"):
        model.skill_for_drop(model.expected_dg_diff() - gain_room - 0.01)


def test_false_alarm_rate_at_mt_bench_size():
    check_false_alarm(4000)  # tolerance about +-2.5 points


def test_power_rises_with_the_drop():
    model = GradedPowerModel()
    estimates = [simulate_power(MT_BENCH, drop, model, replicates=2000) for drop in (0.0, 0.01, 0.02, 0.04, 0.08)]
    powers = [e.power for e in estimates]
    assert all(a < b for a, b in zip(powers, powers[1:], strict=False)), powers
    assert powers[-1] > 0.95
    assert len({e.false_alarm for e in estimates}) == 1  # one seed: the same old and "same" runs every time
    assert all(math.isclose(e.regressed_dg_diff, -e.drop, abs_tol=1e-12) for e in estimates)
    assert 0.03 < smallest_detectable_drop(MT_BENCH, model=model, replicates=500, precision=0.005) < 0.07


def test_power_from_a_skilled_baseline():
    model = GradedPowerModel(skill=0.5)
    small = simulate_power(MT_BENCH, 0.02, model, replicates=1000)
    large = simulate_power(MT_BENCH, 0.1, model, replicates=1000)
    assert math.isclose(small.baseline_dg_diff, model.expected_dg_diff()) and small.baseline_dg_diff > 0.05
    assert small.power < large.power and large.power > 0.95


def test_normal_approximation_tracks_the_bootstrap_rule_on_graded_scores():
    kwargs = {"n": MT_BENCH, "drop": 0.03, "model": GradedPowerModel(), "replicates": 200, "seed": 1}
    normal = simulate_power(**kwargs)
    boot = simulate_power(**kwargs, method="bootstrap", resamples=1000)
    # The same simulated runs (one seed) near 50% power: only decisions right at the bound can differ.
    assert 0.3 < normal.power < 0.7
    assert abs(normal.power - boot.power) <= 0.04 and abs(normal.false_alarm - boot.false_alarm) <= 0.04


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 1}, "samples >= 2"),
        ({"samples": 2.5}, "whole number"),
        ({"samples": math.nan}, "whole number"),
        ({"mean_rating": 0.5}, "1-10 scale"),
        ({"mean_rating": 11.0}, "1-10 scale"),
        ({"mean_rating": math.nan}, "1-10 scale"),
        ({"question_sd": -0.1}, "question_sd"),
        ({"question_sd": math.inf}, "question_sd"),
        ({"candidate_sd": 0.0}, "candidate_sd"),
        ({"candidate_sd": math.nan}, "candidate_sd"),
        ({"skill": 1.5}, "skill"),
        ({"skill": -1.01}, "skill"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(SelfDiscError, match=message):
        GradedPowerModel(**kwargs)


def test_impossible_drops_and_bad_simulations_are_refused():
    model = GradedPowerModel()
    with pytest.raises(SelfDiscError, match="impossible"):
        simulate_power(MT_BENCH, 0.5, model)  # the worst pick loses only about 0.13
    with pytest.raises(SelfDiscError, match="n >= 1"):
        simulate_power(0, 0.01, model)
    with pytest.raises(SelfDiscError, match="method"):
        simulate_power(MT_BENCH, 0.01, model, method="exact")


@pytest.mark.parametrize("first", ["selfdisc_checks.power", "selfdisc_checks.statistics"])
def test_power_module_imports_in_either_order_and_the_old_path_names_the_same_objects(first):
    """``power`` holds the simulations; ``statistics`` re-exports them, whichever module is imported first."""
    import subprocess
    import sys

    code = (
        f"import {first}\n"
        "from selfdisc_checks import power, statistics\n"
        "names = ('PowerModel', 'GradedPowerModel', 'PowerEstimate', 'simulate_power', 'smallest_detectable_drop')\n"
        "assert all(getattr(statistics, n) is getattr(power, n) for n in names)\n"
        "import sys; assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
