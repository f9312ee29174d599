"""Reading a judge model's verdict: a 1-10 rating in ``[[n]]`` (MT-Bench single-answer grading) or a
``[[yes]]``/``[[no]]`` truthfulness verdict.

A verdict that cannot be found is ``None``: the caller records and counts it; it is never guessed.
"""

from __future__ import annotations

import re

from selfdisc_checks.errors import SelfDiscError

# The requested form first; a single pair of brackets is accepted as a fallback, as graders often drop one.
_RATING = (re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]"), re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]"))
_VERDICT = (re.compile(r"\[\[\s*(yes|no)\s*\]\]", re.IGNORECASE), re.compile(r"\[\s*(yes|no)\s*\]", re.IGNORECASE))


JUDGE_STYLES = ("explain", "verdict-first")
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
_LEADING_VERDICT = re.compile(r"\s*(yes|no)\b", re.IGNORECASE)


def check_judge_style(style: str, task: str) -> str:
    """``explain`` (the judge reasons, then gives its verdict in brackets) or ``verdict-first`` (the judge's
    answer is started for it, up to the verdict's opening brackets, so even a small judge states one)."""
    if style not in JUDGE_STYLES:
        raise SelfDiscError(f"Task {task!r}: judge_style must be one of {', '.join(JUDGE_STYLES)}, not {style!r}.")
    return style


def leading_number(output: str, low: float = 1.0, high: float = 10.0) -> float | None:
    """Verdict-first: the number the judge wrote right after the lead (``Rating: [[``), if in [low, high]."""
    match = _LEADING_NUMBER.match(output)
    value = float(match.group(1)) if match else None
    return value if value is not None and low <= value <= high else None


def leading_verdict(output: str) -> bool | None:
    """Verdict-first: ``yes``/``no`` written right after the lead (``Verdict: [[``)."""
    match = _LEADING_VERDICT.match(output)
    return None if match is None else match.group(1).lower() == "yes"


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
