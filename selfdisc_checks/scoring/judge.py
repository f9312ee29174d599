"""Reading a judge model's verdict: a 1-10 rating in ``[[n]]`` (MT-Bench single-answer grading) or a
``[[yes]]``/``[[no]]`` truthfulness verdict.

A verdict that cannot be found is ``None``: the caller records and counts it; it is never guessed.
"""

from __future__ import annotations

import re

# The requested form first; a single pair of brackets is accepted as a fallback, as graders often drop one.
_RATING = (re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]"), re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]"))
_VERDICT = (re.compile(r"\[\[\s*(yes|no)\s*\]\]", re.IGNORECASE), re.compile(r"\[\s*(yes|no)\s*\]", re.IGNORECASE))


def parse_rating(output: str, low: float = 1.0, high: float = 10.0) -> float | None:
    """The last rating in ``[[...]]`` (else ``[...]``) within [low, high]; None when there is none."""
    for pattern in _RATING:
        found = [float(m) for m in pattern.findall(output)]
        found = [value for value in found if low <= value <= high]
        if found:
            return found[-1]
    return None


def parse_verdict(output: str) -> bool | None:
    """The last ``[[yes]]``/``[[no]]`` (else ``[yes]``/``[no]``) as True/False; None when there is none."""
    for pattern in _VERDICT:
        found = pattern.findall(output)
        if found:
            return found[-1].lower() == "yes"
    return None
