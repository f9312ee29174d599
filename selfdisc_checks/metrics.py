"""Views of one candidate pool: mean (S_gen), the model's pick (S_disc), max (oracle), mode (majority).

All rates are fractions in [0, 1]. A question's S_gen is the mean score of its candidates, the expected
score of a random pick; an invalid pick scores the worst candidate (arXiv 2404.04298's policy).
``s_disc_value_matched`` relaxes that one policy for outputs that state an answer value instead of an
option number: they score the worst candidate whose extracted answer equals that value.
``usc_majority_agreement`` says how often the pick agrees with majority vote (see ``majority_agreement``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.records import Candidate, Choice, QuestionResult


def question_s_gen(scores: Sequence[float]) -> float:
    return sum(scores) / len(scores)


def question_s_disc(scores: Sequence[float], index: int | None) -> float:
    return scores[index] if index is not None else min(scores)


def question_s_disc_value_matched(question: QuestionResult) -> float:
    """S_disc, except that an output stating a value instead of a label scores the worst candidate with
    that extracted answer (and the worst candidate overall when none has it)."""
    scores, choice = question.scores, _choice(question)
    if choice.index is not None:
        return scores[choice.index]
    matched = [_rated(c) for c in question.candidates if choice.value is not None and c.answer == choice.value]
    return min(matched) if matched else min(scores)


def majority_score(answers: Sequence[str | None], scores: Sequence[float]) -> float:
    """Expected score of a majority vote with a random tie-break: the mean over the most frequent
    extracted answers of each one's score; the worst candidate's score if no answer was extracted."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return min(scores)
    top = max(counts.values())
    tied = [a for a in counts if counts[a] == top]
    return _mean([scores[answers.index(answer)] for answer in tied])


METHODS = registry.method_names()


def unmeasured(metrics: Mapping[str, Any], name: str) -> str | None:
    """Why a difference (DG-DIFF) in a task's ``metrics`` has no value to show, or None when it has one:
    "not measured" (absent or None), "no mixed question" (no question had both right and wrong candidates, so
    every pick scored the same and the difference is 0 by construction, not a measured 0)."""
    if not registry.is_difference(name):
        return None
    if metrics.get(name) is None:
        return "not measured"
    if metrics.get("n") and not metrics.get("mixed_fraction"):
        return "no mixed question"
    return None


def method_suffix(method: str) -> str:
    """Metrics of the generated-label method keep their plain names (``s_disc``); other methods' metrics
    carry the method's name (``s_disc_likelihood``), so a name always means one method."""
    return registry.method(method).suffix


def majority_agreement(questions: Sequence[QuestionResult]) -> float | None:
    """The share of questions with a valid pick (``q.choice``) whose picked candidate's extracted answer is
    one of the most frequent extracted answers, i.e. one majority vote could return; questions where no
    candidate has an extracted answer are left out. None when no question counts. The consistency selector
    (Universal Self-Consistency) asks the model for exactly this pick; for the default selector it measures
    how far choosing the correct answer departs from following the majority."""
    agrees = []
    for q in questions:
        if q.choice is None or q.choice.index is None:
            continue
        counts = Counter(c.answer for c in q.candidates if c.answer is not None)
        if not counts:
            continue
        picked = q.candidates[q.choice.index].answer
        agrees.append(float(picked is not None and counts[picked] == max(counts.values())))
    return _mean(agrees) if agrees else None


def consensus_score(texts: Sequence[str], scores: Sequence[float]) -> float:
    """Majority vote for free-text answers: the mean score of the candidates that agree most with the others
    (highest mean token F1 to the rest; see ``scoring.similarity.consensus_indices``)."""
    from selfdisc_checks.scoring.similarity import consensus_indices

    return _mean([scores[i] for i in consensus_indices(texts)])


def task_metrics(
    questions: Sequence[QuestionResult],
    level: float = 0.95,
    seed: int = 0,
    methods: Sequence[str] = ("generate",),
    majority_by: str = "answer",
) -> dict[str, Any]:
    """Every per-task metric, with standard errors, paired bootstrap intervals (at ``level``, seeded with
    ``seed``) and the paper's one-sided test of "DG-DIFF <= 0", for each discrimination method asked.

    Questions with a candidate the judge left unscored (no verdict in its output) are left out and counted
    (``unrated_questions``; ``judge_missing_rate`` is the share of unscored candidates). ``majority_by``:
    ``"answer"`` votes on extracted answers, ``"consensus"`` takes the most agreed-with text; only the
    former reports ``usc_majority_agreement`` (for each method, with its suffix).
    """
    everything = list(questions)
    questions = [q for q in everything if all(c.score is not None for c in q.candidates)]
    judged = [c for q in everything for c in q.candidates if c.judgement is not None or c.score is None]
    extra: dict[str, Any] = {}
    if judged:
        extra = {
            "unrated_questions": len(everything) - len(questions),
            "judge_missing_rate": sum(c.score is None for c in judged) / len(judged),
        }
    n = len(questions)
    if n == 0:
        return {"n": 0, **extra}
    gen = [question_s_gen(q.scores) for q in questions]
    mixed = [q for q in questions if max(q.scores) != min(q.scores)]
    strict = [sum(_rated(c) for c in q.candidates if c.extraction == "strict") / len(q.candidates) for q in questions]
    metrics: dict[str, Any] = {
        "n": n,
        "s_gen": _mean(gen),
        "candidates_truncated_rate": _mean([_mean([float(c.truncated) for c in q.candidates]) for q in questions]),
        "oracle": _mean([max(q.scores) for q in questions]),
        "mixed_fraction": len(mixed) / n,
        "majority": _mean(
            [
                consensus_score([c.text for c in q.candidates], q.scores)
                if majority_by == "consensus"
                else majority_score([c.answer for c in q.candidates], q.scores)
                for q in questions
            ]
        ),
        "s_gen_strict": _mean(strict),
        "s_gen_stderr": _stderr(gen),
        "candidates_per_question": _mean([len(q.candidates) for q in questions]),
        "ci": {"level": level},
        **extra,
    }
    for method in methods:
        part = discrimination_metrics([q.picks(method) for q in questions], gen, metrics, level, seed)
        suffix = method_suffix(method)
        intervals = part.pop("ci")
        gen_name, disc_name, diff_name = registry.interval_names()
        metrics["ci"].setdefault(gen_name, intervals[gen_name])
        metrics["ci"].update({f"{name}{suffix}": intervals[name] for name in (disc_name, diff_name)})
        metrics.update({f"{name}{suffix}": value for name, value in part.items()})
        if majority_by == "answer":
            metrics[f"usc_majority_agreement{suffix}"] = majority_agreement([q.picks(method) for q in questions])
    return metrics


def per_question_values(
    questions: Sequence[QuestionResult], methods: Sequence[str] = ("generate",)
) -> dict[str, list[float]]:
    """Each question's own value of the metrics that are means over questions (s_gen; s_disc, dg_diff and
    invalid_rate per method, with its suffix), over the questions ``task_metrics`` reads, so that their
    means are the task's metrics. The family's tests (``verdicts``) test these means."""
    rated = [q for q in questions if all(c.score is not None for c in q.candidates)]
    values: dict[str, list[float]] = {"s_gen": [question_s_gen(q.scores) for q in rated]}
    for method in methods:
        suffix = method_suffix(method)
        picks = [_choice(q.picks(method)) for q in rated]
        disc = [question_s_disc(q.scores, pick.index) for q, pick in zip(rated, picks, strict=True)]
        values[f"s_disc{suffix}"] = disc
        values[f"dg_diff{suffix}"] = [d - g for d, g in zip(disc, values["s_gen"], strict=True)]
        values[f"invalid_rate{suffix}"] = [float(not pick.valid) for pick in picks]
    return values


def discrimination_metrics(
    questions: Sequence[QuestionResult], gen: list[float], base: dict[str, Any], level: float, seed: int
) -> dict[str, Any]:
    """What one discrimination method's picks (``q.choice``, ``q.permuted``) make of the candidate pool."""
    n = len(questions)
    picks = [_choice(q) for q in questions]
    disc = [question_s_disc(q.scores, pick.index) for q, pick in zip(questions, picks, strict=True)]
    diffs = [d - g for d, g in zip(disc, gen, strict=True)]
    mixed = [q for q in questions if max(q.scores) != min(q.scores)]
    metrics: dict[str, Any] = {
        "s_disc": _mean(disc),
        "dg_diff": _mean(disc) - base["s_gen"],
        "s_disc_value_matched": _mean([question_s_disc_value_matched(q) for q in questions]),
        "invalid_rate": sum(not pick.valid for pick in picks) / n,
        "truncated_rate": sum(pick.truncated for pick in picks) / n,
        "s_disc_stderr": _stderr(disc),
        "dg_diff_stderr": _stderr(diffs),
    }
    metrics.update(uncertainty(questions, gen, disc, {**base, **metrics}, level, seed))
    metrics.update(position_metrics(questions))
    reasons = Counter(pick.reason for pick in picks if not pick.valid)
    metrics["invalid_reasons"] = {reason or "unknown": count for reason, count in sorted(reasons.items(), key=str)}
    if mixed:
        metrics["dg_diff_mixed"] = _mean(
            [question_s_disc(q.scores, _choice(q).index) - question_s_gen(q.scores) for q in mixed]
        )
    return metrics


def position_metrics(questions: Sequence[QuestionResult]) -> dict[str, Any]:
    """Where the picks fall, over every ordering asked (``--permutations``).

    ``position_pick_rates[p]``: the share of valid picks at shown position p (sums to 1).
    ``position_expected_rates[p]``: the share a picker blind to position would give p, one that prefers the
    same answers as this model: each pick's weight is spread evenly over the shown positions whose candidate
    scores the same as the picked one, so right answers that happen to sit at one position do not count as
    bias. ``position_bias``: the largest excess of an observed rate over its expected rate. With more than one
    ordering, ``choice_consistency`` is the share of questions whose orderings all picked the same valid
    candidate, and ``s_disc_majority_ordering`` scores the candidate picked most often across orderings
    (ties: the mean of the tied candidates; no valid pick: the worst candidate).
    """
    sizes = {len(q.candidates) for q in questions}
    if len(sizes) != 1:
        return {}
    (n,) = sizes
    identity = tuple(range(n))
    counts = [0] * n
    expected = [0.0] * n
    for q in questions:
        scores = q.scores
        for order, index in [(identity, _choice(q).index), *((p.order, p.choice.index) for p in q.permuted)]:
            if index is None:
                continue
            counts[order.index(index)] += 1
            alike = [position for position in range(n) if scores[order[position]] == scores[index]]
            for position in alike:
                expected[position] += 1 / len(alike)
    total = sum(counts)
    result: dict[str, Any] = {
        "position_pick_rates": [c / total for c in counts] if total else None,
        "position_expected_rates": [e / total for e in expected] if total else None,
        "position_bias": max((c - e) / total for c, e in zip(counts, expected, strict=True)) if total else None,
    }
    if any(q.permuted for q in questions):
        picked = [[_choice(q).index, *(p.choice.index for p in q.permuted)] for q in questions]
        result["choice_consistency"] = _mean([float(None not in chosen and len(set(chosen)) == 1) for chosen in picked])
        result["s_disc_majority_ordering"] = _mean(
            [_majority_pick_score(q.scores, chosen) for q, chosen in zip(questions, picked, strict=True)]
        )
        result["orderings"] = 1 + max(len(q.permuted) for q in questions)
    return result


def _majority_pick_score(scores: Sequence[float], chosen: Sequence[int | None]) -> float:
    valid = Counter(index for index in chosen if index is not None)
    if not valid:
        return min(scores)
    top = max(valid.values())
    return _mean([scores[index] for index, count in valid.items() if count == top])


def uncertainty(
    questions: Sequence[QuestionResult],
    gen: list[float],
    disc: list[float],
    metrics: dict[str, Any],
    level: float,
    seed: int,
) -> dict[str, Any]:
    """Intervals, the paper's test, the normalised gap and S_disc on mixed questions.

    Right/wrong tasks get McNemar's exact test of the pick against one seeded random candidate per question
    (the paper's design, with the discordant counts); graded tasks get a Wilcoxon signed-rank test of the
    per-question differences S_disc - S_gen (exact, zeros dropped).
    """
    from selfdisc_checks import statistics

    intervals = statistics.bootstrap_intervals(gen, disc, level=level, seed=seed)
    binary = all(score in (0.0, 1.0) for q in questions for score in q.scores)
    if binary:
        randoms = [q.scores[statistics.random_candidate(q.scores, q.id, seed)] for q in questions]
        test = statistics.mcnemar_test([d == 1.0 for d in disc], [r == 1.0 for r in randoms])
        p_value: dict[str, float] = {"mcnemar": test.p_value}
        discordant = {"fixed": test.fixed, "broke": test.broke}
    else:
        p_value = {"wilcoxon": statistics.wilcoxon_test([d - g for d, g in zip(disc, gen, strict=True)])}
        discordant = None
    mixed = [q for q in questions if max(q.scores) != min(q.scores)]
    result: dict[str, Any] = {
        "ci": {**{name: list(bounds) for name, bounds in intervals.items()}, "level": level},
        "p_value": p_value,
        "normalized_gap": statistics.normalized_gap(metrics["s_gen"], metrics["s_disc"], metrics["oracle"]),
        "s_disc_mixed": _mean([question_s_disc(q.scores, _choice(q).index) for q in mixed]) if mixed else None,
    }
    if discordant is not None:
        result["discordant"] = discordant
    return result


def _choice(question: QuestionResult) -> Choice:
    """The pick a method's metrics read; ``QuestionResult.picks`` gives every question one for its method."""
    if question.choice is None:
        raise ValueError(f"question {question.id!r} has no pick for this discrimination method")
    return question.choice


def _rated(candidate: Candidate) -> float:
    """A candidate's score; the metrics see only questions whose candidates the judge rated."""
    if candidate.score is None:
        raise ValueError("an unrated candidate reached the metrics; questions with one are left out first")
    return candidate.score


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _stderr(values: Sequence[float]) -> float:
    """Standard error of the mean (0 for a single value)."""
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(variance / len(values))
