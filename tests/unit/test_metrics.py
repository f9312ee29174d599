"""Metrics over one candidate pool: invariants that hold for any scores and any pick."""

import math

from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.metrics import majority_score, task_metrics
from selfdisc_checks.records import Candidate, Choice, QuestionResult


def question(scores, index, answers=None):
    answers = answers or [str(s) for s in scores]
    candidates = tuple(Candidate(f"t{i}", a, s, "strict") for i, (s, a) in enumerate(zip(scores, answers)))
    return QuestionResult("q", "question", "1", candidates, Choice("raw", index))


@st.composite
def questions(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    scores = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    index = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=n - 1)))
    return question(scores, index)


@given(st.lists(questions(), min_size=1, max_size=20))
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
    assert majority_score(["8", "7", "8", "7"], [0.0, 1.0, 0.0, 1.0]) == 0.0  # tie: first seen wins
    assert majority_score([None, None], [1.0, 0.0]) == 0.0
