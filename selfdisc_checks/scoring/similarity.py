"""Text similarity for open answers: ROUGE-L (TruthfulQA's reference rule) and token F1 (consensus voting).

Both work on lower-cased word tokens with punctuation removed, so "Nothing happens." and "nothing happens"
are the same answer. Pure Python: no model, no extra dependency.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits; an apostrophe inside a word is kept)."""
    return _WORD.findall(text.lower())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of two texts: the longest common subsequence of their words, as a harmonic mean of the
    share of each text it covers (0 when either text has no word)."""
    a, b = words(candidate), words(reference)
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def token_f1(a: str, b: str) -> float:
    """F1 of the two texts' word multisets (1 for two empty texts: they agree)."""
    x, y = Counter(words(a)), Counter(words(b))
    if not x and not y:
        return 1.0
    overlap = sum((x & y).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(x.values()), overlap / sum(y.values())
    return 2 * precision * recall / (precision + recall)


def consensus_indices(texts: Sequence[str]) -> list[int]:
    """The candidates that agree most with the others (highest mean token F1 to the rest): majority vote
    for answers that are free text, where no two candidates are ever exactly equal. All tie when alone."""
    if len(texts) < 2:
        return list(range(len(texts)))
    agreement = [
        sum(token_f1(texts[i], texts[j]) for j in range(len(texts)) if j != i) / (len(texts) - 1)
        for i in range(len(texts))
    ]
    best = max(agreement)
    return [i for i, value in enumerate(agreement) if value >= best - 1e-12]
