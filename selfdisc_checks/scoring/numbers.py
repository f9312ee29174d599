"""Final-answer extraction for numeric tasks, strict and flexible.

Strict extraction accepts only the explicit final-answer forms (``#### 18``, ``The answer is 18``,
``A: 18``, ``Answer: 18``, ``\\boxed{18}``, or a completion that is just a number); flexible extraction
falls back to the last number in the text. Both are reported, as lm-evaluation-harness does, so a
model that computes right but formats wrong is visible.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A number as models write it: optional sign and currency, thousands separators, decimals.
_NUMBER = r"-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)

_STRICT_PATTERNS = [
    re.compile(r"####\s*(" + _NUMBER + r")"),
    re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}"),
    re.compile(r"answer\s*(?:is|:)\s*:?\s*(" + _NUMBER + r")", re.IGNORECASE),
    re.compile(r"(?:^|\n)\s*A:\s*(" + _NUMBER + r")"),
]
_ONLY_NUMBER_RE = re.compile(r"^\s*(" + _NUMBER + r")\s*\.?\s*$")


def normalize_number(text: str) -> Decimal | None:
    """``"$1,000.00"`` -> ``Decimal("1000")``; None when ``text`` is not a number."""
    cleaned = text.strip().replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value.normalize() + Decimal(0)  # +0 turns -0 into 0


def format_number(value: Decimal) -> str:
    """Canonical text of a number: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def extract_strict(text: str) -> str | None:
    """The number in the last explicit final-answer form, canonicalised; None if there is none."""
    only = _ONLY_NUMBER_RE.match(text)
    if only:
        return _canonical(only.group(1))
    best: tuple[int, str] | None = None
    for pattern in _STRICT_PATTERNS:
        for match in pattern.finditer(text):
            if best is None or match.start(1) > best[0]:
                best = (match.start(1), match.group(1))
    return _canonical(best[1]) if best else None


def extract_flexible(text: str) -> str | None:
    """The last number anywhere in the text, canonicalised; None if there is none."""
    matches = _NUMBER_RE.findall(text)
    return _canonical(matches[-1]) if matches else None


def extract_number(text: str) -> tuple[str | None, str]:
    """The final answer and how it was found: ``"strict"``, ``"flexible"`` or ``"none"``."""
    strict = extract_strict(text)
    if strict is not None:
        return strict, "strict"
    flexible = extract_flexible(text)
    if flexible is not None:
        return flexible, "flexible"
    return None, "none"


def numbers_equal(a: str | None, b: str | None) -> bool:
    """Numeric comparison of two answers (``"18.0" == "18"``)."""
    if a is None or b is None:
        return False
    x, y = normalize_number(a), normalize_number(b)
    return x is not None and y is not None and x == y


def _canonical(text: str) -> str | None:
    value = normalize_number(text)
    return None if value is None else format_number(value)
