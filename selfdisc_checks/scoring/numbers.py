"""Final-answer extraction for numeric tasks, strict and flexible.

Strict extraction accepts only the explicit final-answer forms (``#### 18``, ``The answer is 18``,
``A: 18`` at a line start, ``Answer: 18``, ``\\boxed{18}``, or a completion that is just a number);
flexible extraction falls back to the last number in the text (lm-evaluation-harness's
``flexible-extract``). Both are reported, as the harness does, so a model that computes right but
formats wrong is visible.

An answer statement (``The answer is``, ``Answer:``, ``A:``, ``####``) must start with a number and runs
to the end of its sentence (a period followed by whitespace or the end, not a decimal point) or line.
Its value is the *final* value of the statement: the number right after its last ``=`` (or ``equals``),
so ``The answer is 18 - 2 = 16.`` gives 16; without an ``=`` it is the statement's first number, so
``The answer is 20 and it took 3 hours.`` gives 20, not 3.

A minus sign is a sign only when it touches the digit or ``$`` (``-5``, ``-$5``) and does not follow an
operand: ``180 - 30``, ``180 -30`` and ``180-30`` are subtractions (180 and 30), while ``-5`` at the
start, ``is -5``, ``(-5)`` and ``= -5`` are negative.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from decimal import Decimal, InvalidOperation

# A number as models write it: optional sign (touching the digits or "$"), currency, thousands, decimals.
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_NUMBER = r"(?:-(?=\$?\d))?(?:\$\s?)?" + _DIGITS
_NUMBER_RE = re.compile(_NUMBER)

# Where an answer statement starts; the statement itself must open with a number (after markdown).
_STATEMENT_STARTS = [
    re.compile(r"####"),
    re.compile(r"answer\s*(?:is|:)", re.IGNORECASE),
    re.compile(r"^[ \t]*A:", re.MULTILINE),
]
_STATEMENT_OPENING = re.compile(r"[\s:*`]*(?=" + _NUMBER + ")")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_BOXED_RE = re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}")
_ONLY_NUMBER_RE = re.compile(r"^\s*(" + _NUMBER + r")\s*\.?\s*$")
_OPERAND_END = ")]}%"


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


def all_numbers(text: str) -> list[str]:
    """Every number in ``text`` in order, canonicalised, with subtraction signs left off the operand."""
    return [number for _, number in _numbers(text)]


def extract_strict(text: str) -> str | None:
    """The value of the last explicit final-answer form, canonicalised; None if there is none."""
    only = _ONLY_NUMBER_RE.match(text)
    if only:
        return _canonical(only.group(1))
    best: tuple[int, str] | None = None
    for position, value in [*_statement_values(text), *_boxed_values(text)]:
        if best is None or position > best[0]:
            best = (position, value)
    return best[1] if best else None


def extract_flexible(text: str) -> str | None:
    """The last number anywhere in the text, canonicalised; None if there is none."""
    numbers = all_numbers(text)
    return numbers[-1] if numbers else None


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


def _numbers(text: str) -> list[tuple[int, str]]:
    """(start, canonical value) of each number; a ``-`` right after an operand is subtraction, not a sign."""
    found = []
    for match in _NUMBER_RE.finditer(text):
        start, raw = match.start(), match.group()
        if raw.startswith("-") and _follows_operand(text, start):
            start, raw = start + 1, raw[1:]
        value = _canonical(raw)
        if value is not None:
            found.append((start, value))
    return found


def _follows_operand(text: str, position: int) -> bool:
    """Whether the character(s) before ``position`` end an operand (``180 -30``, ``x-5``, ``(3)-2``)."""
    before = text[:position]
    if before[-1:].isalnum() or before[-1:] == "_":
        return True
    stripped = before.rstrip()
    return bool(stripped) and (stripped[-1].isdigit() or stripped[-1] in _OPERAND_END)


def _after_equals(text: str, position: int) -> bool:
    """Whether the number at ``position`` follows ``=`` or ``equals`` (past spaces and markdown)."""
    before = text[:position].rstrip(" \t\n*`")
    return before.endswith("=") or (before[-6:].lower() == "equals" and not before[-7:-6].isalnum())


def _statement_values(text: str) -> list[tuple[int, str]]:
    """(position, value) of each answer statement: its number after the last ``=``, else its first.

    A statement ends at its sentence's end, its line's end or the next statement, whichever comes first.
    """
    starts = sorted((m.start(), m.end()) for pattern in _STATEMENT_STARTS for m in pattern.finditer(text))
    values = []
    for anchor, anchor_end in starts:
        opening = _STATEMENT_OPENING.match(text, anchor_end)
        if opening is None:
            continue
        following = bisect_left(starts, (opening.end(), -1))
        limit = starts[following][0] if following < len(starts) else len(text)
        end = _SENTENCE_END.search(text, opening.end(), limit)
        statement = text[opening.end() : end.start() if end else limit]
        numbers = _numbers(statement)
        if numbers:
            results = [value for at, value in numbers if _after_equals(statement, at)]
            values.append((anchor, results[-1] if results else numbers[0][1]))
    return values


def _boxed_values(text: str) -> list[tuple[int, str]]:
    """(position, value) of each ``\\boxed{n}``, the form math-tuned models end with."""
    values = []
    for match in _BOXED_RE.finditer(text):
        value = _canonical(match.group(1))
        if value is not None:
            values.append((match.start(), value))
    return values


def _canonical(text: str) -> str | None:
    value = normalize_number(text)
    return None if value is None else format_number(value)
