"""Metrics over one candidate pool: invariants that hold for any scores and any pick."""

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.metrics import majority_score, question_s_disc_value_matched, task_metrics
from selfdisc_checks.records import Candidate, Choice, QuestionResult


def question(scores, index, answers=None, reason=None, value=None):
    answers = answers or [str(s) for s in scores]
    candidates = tuple(
        Candidate(f"t{i}", a, s, "strict") for i, (s, a) in enumerate(zip(scores, answers, strict=False))
    )
    return QuestionResult("q", "question", "1", candidates, Choice("raw", index, reason=reason, value=value))


@st.composite
def questions(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    scores = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    index = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=n - 1)))
    return question(scores, index)


@given(st.lists(questions(), min_size=1, max_size=20))
@settings(deadline=None)
def test_invariants(qs):
    m = task_metrics(qs)
    assert m["n"] == len(qs)
    for name in ("s_gen", "s_disc", "invalid_rate", "oracle", "mixed_fraction", "majority"):
        assert 0.0 <= m[name] <= 1.0
    assert math.isclose(m["dg_diff"], m["s_disc"] - m["s_gen"], abs_tol=1e-12)
    assert m["oracle"] >= max(m["s_gen"], m["s_disc"], m["majority"]) - 1e-12
    # Only questions whose candidates disagree can move S_disc away from S_gen.
    same = [q for q in qs if max(q.scores) == min(q.scores)]
    if len(same) == len(qs):
        assert m["dg_diff"] == 0 and m["mixed_fraction"] == 0


def test_worked_example():
    qs = [
        question([1.0, 0.0, 0.0, 1.0], 0),  # picks a right one: S_disc 1, S_gen 0.5
        question([0.0, 1.0, 0.0, 0.0], None),  # invalid: scores the worst candidate
        question([1.0, 1.0, 1.0, 1.0], 2),
    ]
    m = task_metrics(qs)
    assert math.isclose(m["s_gen"], (0.5 + 0.25 + 1.0) / 3)
    assert math.isclose(m["s_disc"], (1.0 + 0.0 + 1.0) / 3)
    assert math.isclose(m["invalid_rate"], 1 / 3)
    assert math.isclose(m["oracle"], 1.0)
    assert math.isclose(m["mixed_fraction"], 2 / 3)


def test_majority_vote_uses_extracted_answers():
    assert majority_score(["7", "8", "7", None], [1.0, 0.0, 1.0, 0.0]) == 1.0
    assert majority_score(["8", "7", "8", "7"], [0.0, 1.0, 0.0, 1.0]) == 0.5  # tie: expected score of a random break
    assert majority_score(["7", "8", "9", "9"], [1.0, 0.0, 0.0, 0.0]) == 0.0  # a clear winner is not a tie
    assert majority_score([None, None], [1.0, 0.0]) == 0.0


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=8), st.data())
def test_majority_with_ties_is_the_mean_over_tied_answers(answer_ids, data):
    answers = [str(a) for a in answer_ids]
    right = data.draw(st.sampled_from(sorted(set(answers))))
    scores = [1.0 if a == right else 0.0 for a in answers]
    counts = {a: answers.count(a) for a in answers}
    tied = [a for a in counts if counts[a] == max(counts.values())]
    assert math.isclose(majority_score(answers, scores), (right in tied) / len(tied))


def test_value_matched_scores_the_stated_value():
    answers = ["20", "18", "20", "7"]
    scores = [0.0, 1.0, 0.0, 0.0]
    stated_right = question(scores, None, answers, reason="value_not_label", value="18")
    stated_wrong = question(scores, None, answers, reason="value_not_label", value="20")
    stated_unknown = question(scores, None, answers, reason="value_not_label", value="99")
    no_label = question(scores, None, answers, reason="no_label")
    assert question_s_disc_value_matched(stated_right) == 1.0
    assert question_s_disc_value_matched(stated_wrong) == 0.0
    assert question_s_disc_value_matched(stated_unknown) == 0.0 and question_s_disc_value_matched(no_label) == 0.0
    m = task_metrics([stated_right, no_label])
    assert m["s_disc"] == 0.0 and m["s_disc_value_matched"] == 0.5  # the paper's policy stays the default S_disc
    assert m["invalid_reasons"] == {"no_label": 1, "value_not_label": 1}


@given(st.lists(questions(), min_size=1, max_size=20))
@settings(deadline=None)
def test_value_matching_only_ever_raises_s_disc(qs):
    m = task_metrics(qs)
    assert m["s_disc_value_matched"] >= m["s_disc"] - 1e-12


@given(st.lists(questions(), min_size=1, max_size=20))
@settings(deadline=None)
def test_every_number_has_an_interval_and_the_paper_test(qs):
    m = task_metrics(qs, level=0.9, seed=3)
    assert m["ci"]["level"] == 0.9
    for name in ("s_gen", "s_disc", "dg_diff"):
        lo, hi = m["ci"][name]
        assert lo - 1e-9 <= m[name] <= hi + 1e-9
    assert 0.0 <= m["p_value"]["mcnemar"] <= 1.0
    assert m["discordant"]["fixed"] + m["discordant"]["broke"] <= len(qs)
    assert m == task_metrics(qs, level=0.9, seed=3)  # seeded


def test_graded_scores_get_wilcoxon_and_mixed_accuracy():
    qs = [question([0.2, 0.8, 0.5], 1), question([0.4, 0.4, 0.4], 0), question([0.1, 0.9, 0.3], 0)]
    m = task_metrics(qs)
    assert set(m["p_value"]) == {"wilcoxon"} and "discordant" not in m
    assert math.isclose(m["s_disc_mixed"], (0.8 + 0.1) / 2)
    assert math.isclose(m["normalized_gap"], (m["s_disc"] - m["s_gen"]) / (m["oracle"] - m["s_gen"]))


def test_no_mixed_question_has_no_gap_and_a_zero_interval():
    m = task_metrics([question([1.0, 1.0], 0), question([0.0, 0.0], None)])
    assert m["normalized_gap"] is None and m["s_disc_mixed"] is None
    assert m["ci"]["dg_diff"] == [0.0, 0.0] and m["p_value"]["mcnemar"] == 1.0


def test_position_metrics_over_orderings():
    from selfdisc_checks.records import PermutedChoice

    def asked(scores, first, others):
        candidates = tuple(Candidate(f"t{i}", str(i), s, "strict") for i, s in enumerate(scores))
        permuted = tuple(PermutedChoice(order, Choice("raw", pick)) for order, pick in others)
        return QuestionResult("q", "q", "1", candidates, Choice("raw", first), {}, permuted)

    # Always the last position: candidate 2 under the identity, candidate 0 under (1, 2, 0)... (2, 0, 1).
    qs = [
        asked([1.0, 0.0, 0.0], 2, [((1, 2, 0), 0), ((2, 0, 1), 1)]),
        asked([0.0, 1.0, 0.0], 2, [((1, 2, 0), 0), ((2, 0, 1), None)]),
    ]
    m = task_metrics(qs)
    assert m["position_pick_rates"] == [0.0, 0.0, 1.0]
    # A position-blind picker of the same answers spreads each pick over the positions holding an equally
    # scored candidate: q1's picks give (0, .5, .5), (0, 0, 1), (.5, 0, .5); q2's (.5, 0, .5), (0, .5, .5).
    assert all(math.isclose(a, b) for a, b in zip(m["position_expected_rates"], [0.2, 0.2, 0.6], strict=False))
    assert math.isclose(m["position_bias"], 1.0 - 0.6)
    assert m["choice_consistency"] == 0.0 and m["orderings"] == 3
    # q1 picked candidates 2, 0, 1 once each (mean score 1/3); q2 picked 2 and 0 once each (mean 0).
    assert math.isclose(m["s_disc_majority_ordering"], (1 / 3 + 0.0) / 2)


def test_right_answers_at_one_position_are_not_position_bias():
    # Each question's only right candidate sits first and the model always picks it: no bias, however
    # lopsided the pick rates; a model that always picks the first position on questions whose right answer
    # sits last is biased.
    right_first = [question([1.0, 0.0, 0.0, 0.0], 0) for _ in range(10)]
    m = task_metrics(right_first)
    assert m["position_pick_rates"] == [1.0, 0.0, 0.0, 0.0] and math.isclose(m["position_bias"], 0.0)
    first_always = [question([0.0, 0.0, 0.0, 1.0], 0) for _ in range(10)]
    m = task_metrics(first_always)
    assert math.isclose(m["position_bias"], 1.0 - 1 / 3)


@given(st.lists(questions(), min_size=1, max_size=10))
@settings(deadline=None)
def test_pick_rates_sum_to_one(qs):
    m = task_metrics(qs)
    if m.get("position_pick_rates") is not None:
        assert math.isclose(sum(m["position_pick_rates"]), 1.0)
        assert math.isclose(sum(m["position_expected_rates"]), 1.0)
        assert -1e-9 <= m["position_bias"] <= 1.0


def test_each_discrimination_method_gets_its_own_metrics():
    from selfdisc_checks.records import PermutedChoice

    def asked(scores, generated, likeliest):
        candidates = tuple(Candidate(f"t{i}", str(i), s, "strict") for i, s in enumerate(scores))
        order = tuple(range(len(scores)))
        likelihood = (PermutedChoice(order, Choice("", likeliest, logprobs=(-1.0,) * len(scores))),)
        return QuestionResult("q", "q", "1", candidates, generated, {}, (), likelihood)

    qs = [asked([1.0, 0.0], Choice("(2)", 1), 0), asked([0.0, 1.0], Choice("?", None, reason="no_label"), 1)]
    both = task_metrics(qs, methods=("generate", "likelihood"))
    assert both["s_disc"] == 0.0 and both["invalid_rate"] == 0.5
    assert both["s_disc_likelihood"] == 1.0 and both["invalid_rate_likelihood"] == 0.0
    assert math.isclose(both["dg_diff_likelihood"], 0.5) and set(both["ci"]) >= {"s_disc_likelihood", "dg_diff"}
    only = task_metrics([replace(q, choice=None) for q in qs], methods=("likelihood",))
    assert "s_disc" not in only and "dg_diff" not in only["ci"]
    assert only["s_disc_likelihood"] == 1.0 and only["s_gen"] == both["s_gen"]
