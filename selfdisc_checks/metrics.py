"""Views of one candidate pool: mean (S_gen), the model's pick (S_disc), max (oracle), mode (majority).

All rates are fractions in [0, 1]. A question's S_gen is the mean score of its candidates, the expected
score of a random pick; an invalid pick scores the worst candidate (arXiv 2404.04298's policy).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from selfdisc_checks.records import QuestionResult

METRIC_NAMES = ("n", "s_gen", "s_disc", "dg_diff", "invalid_rate", "oracle", "mixed_fraction", "majority")


def question_s_gen(scores: Sequence[float]) -> float:
    return sum(scores) / len(scores)


def question_s_disc(scores: Sequence[float], index: int | None) -> float:
    return scores[index] if index is not None else min(scores)


def majority_score(answers: Sequence[str | None], scores: Sequence[float]) -> float:
    """Score of the most frequent extracted answer (ties: the one seen first); worst if none parsed."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return min(scores)
    top = max(counts.values())
    winner = next(a for a in answers if a is not None and counts[a] == top)
    return scores[answers.index(winner)]


def task_metrics(questions: Sequence[QuestionResult]) -> dict[str, float | int]:
    """Every per-task metric, plus standard errors and strict-extraction accuracy."""
    n = len(questions)
    if n == 0:
        return {name: 0 for name in METRIC_NAMES}
    gen = [question_s_gen(q.scores) for q in questions]
    disc = [question_s_disc(q.scores, q.choice.index) for q in questions]
    diffs = [d - g for d, g in zip(disc, gen, strict=True)]
    mixed = [q for q in questions if max(q.scores) != min(q.scores)]
    strict = [
        sum(c.score for c in q.candidates if c.extraction == "strict") / len(q.candidates) for q in questions
    ]
    metrics: dict[str, float | int] = {
        "n": n,
        "s_gen": _mean(gen),
        "s_disc": _mean(disc),
        "dg_diff": _mean(disc) - _mean(gen),
        "invalid_rate": sum(not q.choice.valid for q in questions) / n,
        "oracle": _mean([max(q.scores) for q in questions]),
        "mixed_fraction": len(mixed) / n,
        "majority": _mean([majority_score([c.answer for c in q.candidates], q.scores) for q in questions]),
        "s_gen_strict": _mean(strict),
        "s_gen_stderr": _stderr(gen),
        "s_disc_stderr": _stderr(disc),
        "dg_diff_stderr": _stderr(diffs),
        "candidates_per_question": _mean([len(q.candidates) for q in questions]),
    }
    if mixed:
        metrics["dg_diff_mixed"] = _mean(
            [question_s_disc(q.scores, q.choice.index) - question_s_gen(q.scores) for q in mixed]
        )
    return metrics


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _stderr(values: Sequence[float]) -> float:
    """Standard error of the mean (0 for a single value)."""
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(variance / len(values))
