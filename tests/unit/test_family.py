"""The run-wide family: each member's one-sided test, Holm and max-T, and the gate's decisions together."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.family import Member, adjust, describe, holm, max_t_adjusted, sign_flip_test, t_test
from selfdisc_checks.gate import GateSettings, parse_gate
from selfdisc_checks.power import PowerModel
from tests.simulations import gate_rejections, rate_tolerance


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_adjusts_upward_keeps_the_order_and_rejects_as_its_step_down_does(p_values):
    adjusted = holm(p_values)
    assert all(a >= p - 1e-15 and a <= 1 for a, p in zip(adjusted, p_values, strict=True))
    for i, j in itertools.permutations(range(len(p_values)), 2):
        if p_values[i] < p_values[j]:
            assert adjusted[i] <= adjusted[j]
    # The step-down definition at alpha 0.05: reject the k smallest while p_(k) <= alpha / (m - k + 1).
    m, order = len(p_values), sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = set()
    for rank, index in enumerate(order):
        if p_values[index] > 0.05 / (m - rank):
            break
        rejected.add(index)
    assert {i for i, a in enumerate(adjusted) if a <= 0.05} == rejected


def test_a_sign_flip_p_value_is_the_share_of_sign_patterns_at_or_below_the_observed_one():
    d = [0.0, -0.25, -0.5, 0.25, -0.75, 0.0]
    nonzero = np.array([x for x in d if x])
    n = len(d)

    def t(values):
        return values.mean() / (values.std(ddof=1) / np.sqrt(n))

    observed = t(np.array(d))
    patterns = [np.array(signs) * nonzero for signs in itertools.product((-1, 1), repeat=len(nonzero))]
    expected = np.mean([t(np.concatenate([p, np.zeros(n - len(p))])) <= observed + 1e-12 for p in patterns])
    result = sign_flip_test(d)
    assert result.exact and result.p_value == pytest.approx(expected)
    assert sign_flip_test([0.0] * 5).p_value == 1.0  # nothing changed: nothing to reject
    assert sign_flip_test([-1.0] * 20).p_value == pytest.approx(1 / 4001)  # every question broke: the least p
    assert sign_flip_test([-0.1] * 3 + [0.0] * 50, tolerance=0.5).p_value > 0.5  # within the tolerance


def test_a_sign_flip_test_calls_an_unchanged_model_regressed_at_most_alpha_of_the_time():
    model, rng, alarms, replicates = PowerModel(accuracy=0.2, mixed_fraction=0.15), np.random.default_rng(3), 0, 400
    for i in range(replicates):  # few changed questions per run: where percentile bootstraps run hot
        latent = model._latent(rng, (120,))
        old, new = (np.subtract(*model._run(rng, latent, 0.0)[::-1]) for _ in range(2))
        alarms += sign_flip_test(new - old, resamples=400, seed=i).p_value <= 0.05
    assert alarms / replicates <= rate_tolerance(0.05, replicates)


def test_t_test_sides_and_a_mean_without_spread():
    values = [0.2, 0.3, 0.25, 0.35, 0.3]
    assert t_test(values, 0.5, "less") < 0.01 and t_test(values, 0.5, "greater") > 0.99
    assert t_test([0.0] * 4, 0.1, "less") == 0.0 and t_test([0.0] * 4, 0.0, "less") == 1.0
    assert t_test([0.1] * 4, 0.1, "greater", bound_in_alternative=True) == 0.0  # met at its bound
    with pytest.raises(SelfDiscError, match="alternative"):
        t_test(values, 0.5, "two-sided")


def test_max_t_rejects_a_clear_drop_and_adjusts_no_lower_than_each_members_own_test_would_need():
    rng = np.random.default_rng(0)
    clear = tuple(rng.normal(-0.2, 0.3, 300))
    noise = [tuple(rng.normal(0, 0.3, 300)) for _ in range(3)]
    members = [Member("drop", "a", clear, 0.0)] + [Member(f"n{i}", "b", v, 0.0) for i, v in enumerate(noise)]
    adjusted = max_t_adjusted(members, resamples=2000, seed=1)
    assert adjusted["drop"] < 0.001 and all(adjusted[f"n{i}"] > 0.05 for i in range(3))
    same = [Member(f"c{i}", "a", clear, 0.0) for i in range(3)]  # perfectly correlated: no price for three
    assert max(max_t_adjusted(same, resamples=500).values()) < 0.01


def test_the_family_of_a_five_task_gate_holds_alpha_where_each_check_alone_does_not():
    # Fast variant (the slow tier and docs/statistics.md run many more replicates at n = 1319).
    rate_none, _ = gate_rejections("none", 60, n=200, resamples=200)
    rate_holm, _ = gate_rejections("holm", 60, n=200, resamples=200)
    assert rate_holm <= rate_tolerance(0.05, 60)
    assert rate_none > rate_holm  # 15 checks each at 5%: an unchanged model fails the run far more often


def test_gate_settings_are_checked_with_one_sentence():
    assert parse_gate({}) == GateSettings()
    chosen = parse_gate({"alpha": 0.1, "family": "max-t", "checks": ["dg_diff", "no_regression.s_gen"]})
    assert chosen.gates("no_regression.s_gen") and not chosen.gates("s_disc")
    for table, words in (
        ({"alpha": 1.5}, "alpha must be a number strictly between 0 and 1"),
        ({"family": "bonferroni"}, "family must be one of holm, max-t, none"),
        ({"checks": ["dg-diff"]}, "names 'dg-diff', which is no check"),
        ({"checks": "dg_diff"}, "must be a list of check names"),
        ({"alfa": 0.05}, "Unknown key(s) alfa"),
    ):
        with pytest.raises(SelfDiscError, match=words.replace("(", r"\(").replace(")", r"\)")):
            parse_gate(table)
    with pytest.raises(SelfDiscError, match="family"):
        adjust("bonferroni", {"a": 0.1})
    assert describe("holm", 12, 0.05) == "Holm over 12 checks, run-wide alpha 0.05"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0]), min_size=2, max_size=40))
def test_a_sign_flip_test_of_negated_differences_mirrors_it(differences):
    down, up = sign_flip_test(differences, resamples=300), sign_flip_test([-x for x in differences], resamples=300)
    if down.exact:  # P(T <= t) + P(T >= t) = 1 + P(T = t) for a symmetric, enumerated distribution
        assert down.p_value + up.p_value >= 1 - 1e-9
    assert down.upper_bound >= np.mean(differences) - 1e-9  # an upper bound is not below the mean
