"""Reading the model's choice out of a discrimination output.

A choice is read only from an explicit final choice: the last non-empty line must *be* a label
statement. Anything else is invalid, which the metrics count and score as the worst candidate (the
paper's policy): an invalid choice is honest, a wrongly read one silently corrupts the metric.

The last line is first normalised: markdown emphasis (``**``, ``*`` around words, backticks) removed,
spaces collapsed, trailing ``.``/``!`` dropped; matching is case-insensitive. A *label* is ``2``,
``(2)``, ``### 2``/``###2``/``### (2)``, optionally after ``option``/``choice``; several labels may be
joined by ``,``, ``/``, ``or``, ``and``, ``i.e.``, ``that is`` (all must agree, else ``ambiguous``).
The accepted line forms (each matched whole, ``LEAD`` being an optional ``Therefore,``/``So``/``Thus``/
``Hence``/``Finally``):

- the label alone: ``2``, ``(2)``, ``### 2``, ``**2**``, ``Option 2``, ``Option (2)``;
- ``Answer: <label>`` (at the line start): ``Answer: 2``, ``Answer: (2)``;
- ``LEAD [the|my] [final|best|correct|right] choice|option [is][:] <label>``: ``Choice: 2``,
  ``Final choice: 2``, ``The final choice is: (2)``, ``Therefore, the final choice is ### 2``,
  ``My choice is 2``, ``The best option is (2)``;
- ``LEAD I choose|pick|select|go with <label>``: ``I choose option 2``, ``I choose (2)``;
- ``LEAD [the|my] [final|...] answer is|: <label>`` with a parenthesised or ``option``-tagged label
  only: ``The answer is (2)``, ``The final answer is option 2`` (a bare number there is a value);
- ``[LEAD] [the] option <label> is [the] correct|right|best [one|answer|option|choice]``.

A last line that only affirms (``This is the correct answer``, ``That is right``, optionally after a ``LEAD``)
refers to the line before it, which is then read instead: as one of the statements above, or as an answer
that echoes its option, ``Answer (4), C. kill animals`` / ``Answer: option 2 - 48 - 30 = 18``, i.e. ``Answer``,
a parenthesised or ``option``-tagged label and, after ``,``/``:``/``;``/``.``/``-``, text that names no other
label (no parenthesised number, ``option N`` or ``###``; with letter labels no capital standing alone) and
negates nothing (``not``, ``no``, ``wrong``, ``incorrect``, ``false``, ``never``, ``n't``). Only the affirmation
makes such an echo final: without it ``Answer (4), C. kill animals`` may be one step of a walk through the
options, and stays ``no_label``, as a re-listed option does.

The reasons an output gives no choice (``ParsedChoice.reason``):

- ``empty``: nothing but whitespace;
- ``truncated``: cut off by the token limit and no valid choice on its last line (overrides the rest);
- ``out_of_range``: a label statement whose number is not in 1..n (``(7)`` of 4, ``### 0``);
- ``ambiguous``: several different labels, in a label statement (``(1) or (3)``, ``2 or 3``) or as a
  list anywhere on the line (``Options 1 and 3 are both right``, an echoed ``1, 2, 3, or 4``);
- ``value_not_label``: an answer statement with a value instead of a label (``The answer is 20.``,
  ``The answer is $20.``, ``#### 20``); ``value`` holds the stated number, canonicalised, so the caller
  can match it against the candidates' answers;
- ``no_label``: anything else, e.g. a re-listed option (``(2) The robe takes 2 bolts...``), text about
  an option (``In option (2), 48 - 30 = 18.``), a prompt stopped after ``Therefore, the final choice
  is:``, or ``I am not sure.``.

Letter labels (``label_format="letters"``, the ``label_format`` ablation): the same forms with an upper-case
letter for the number: ``B``, ``(B)``, ``### B``, ``Option B``, ``Answer: (B)``, ``The final choice is B``,
``I choose (B)``, ``The answer is option B``; ``A`` is option 1. The letter must be a capital standing alone
(``a``, ``Apple`` or ``A.B.`` are no labels), and, as with numbers, the whole last line must be a label
statement, so prose that opens with the article (``A coat keeps you warm.``) is ``no_label``. A keyword
(``Option``/``Choice``) is followed by a space before a bare letter (``Options`` is no label ``S``). A letter
past the options is ``out_of_range`` without a ``value`` (a letter is no stated answer); ``The answer is
20.`` is still ``value_not_label``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from selfdisc_checks.scoring.numbers import extract_strict

_I = re.IGNORECASE
_LEAD = r"(?:(?:therefore|so|thus|hence|finally)\s*,?\s*)?"
_DET = r"(?:(?:the|my)\s+)?"
_ADJ = r"(?:(?:final|best|correct|right)\s+)?"
_HASH = r"(?:###\s*)?"
_TAG = r"(?:(?:option|choice)s?\s*)"
_ANY_LABEL = rf"{_TAG}?{_HASH}(?:\(\s*\d+\s*\)|\d+)"
_TAGGED_LABEL = rf"(?:{_TAG}{_HASH}(?:\(\s*\d+\s*\)|\d+)|{_HASH}\(\s*\d+\s*\))"
_SEP = r"(?:\s*[,/]\s*|\s+)(?:(?:or|and|i\.?e\.?|that\s+is|namely)[\s,]*)?"


def _labels(label: str) -> str:
    return rf"(?P<labels>{label}(?:{_SEP}{label})*)"


# Whole-line label statements; the named group holds only labels and separators, so its digits are the labels.
_STATEMENTS = [
    re.compile(_labels(_ANY_LABEL), _I),
    re.compile(rf"answer\s*:\s*{_labels(_ANY_LABEL)}", _I),
    re.compile(rf"{_LEAD}{_DET}{_ADJ}(?:choice|option)s?(?:\s+is)?\s*:?\s*{_labels(_ANY_LABEL)}", _I),
    re.compile(rf"{_LEAD}i(?:\s+will|'ll)?\s+(?:choose|pick|select|go\s+with)\s+{_labels(_ANY_LABEL)}", _I),
    re.compile(rf"{_LEAD}{_DET}{_ADJ}answer(?:\s+is\s*:?|\s*:)\s*{_labels(_TAGGED_LABEL)}", _I),
    re.compile(
        rf"{_LEAD}{_DET}{_labels(_TAGGED_LABEL)}\s+is\s+(?:the\s+)?(?:correct|right|best)"
        r"(?:\s+(?:one|answer|option|choice))?",
        _I,
    ),
]
# Lists of labels anywhere on the line: all parenthesised, or bare numbers closed by "or"/"and".
_BARE = rf"{_TAG}?(?<![\w.,$])\d+(?![\w]|[.,]\d)"
_LISTS = [
    re.compile(r"\(\s*\d+\s*\)(?P<closing>(?:\s*(?:,|/|\bor\b|\band\b)[\s,]*(?:or\s+|and\s+)?\(\s*\d+\s*\))+)", _I),
    # The closing "or"/"and" is optional in the pattern (checked after) so a failed list costs one pass, not n.
    re.compile(rf"{_BARE}(?:\s*,\s*{_BARE})*(?P<closing>\s*,?\s*\b(?:or|and)\b\s*{_BARE})?", _I),
]
_VALUE_STATEMENT = re.compile(rf"(?:{_LEAD}{_DET}{_ADJ}answer\s*(?:is|:)|####)", _I)
_EMPHASIS = re.compile(r"`+|\*\*+|(?:(?<=\s)|^)\*(?=\S)|(?<=\S)\*(?=[\s.,:;!?]|$)")
_DIGITS = re.compile(r"\d+")

# A last line that only affirms, and what it may confirm besides a statement: an answer echoing its option.
_AFFIRMATION = re.compile(
    rf"{_LEAD}(?:this|that|it)(?:\s+is|'s)\s+(?:the\s+)?(?:correct|right|best)(?:\s+(?:one|answer|option|choice))?",
    _I,
)
_ECHO_SEP = r"\s*[,;:.\-\u2013]\s*(?P<echo>\S.*)"
_ECHOED = re.compile(rf"answer\s*:?\s*{_labels(_TAGGED_LABEL)}{_ECHO_SEP}", _I)
_NAMES_LABEL = re.compile(rf"\(\s*\d+\s*\)|{_TAG}{_HASH}\d|###", _I)
_NEGATION = re.compile(r"\b(?:not|no|wrong|incorrect|false|never)\b|n't", _I)

# Letter labels: the same statements and lists with a capital letter (case-sensitive inside the otherwise
# case-insensitive patterns) in place of the number.
LABEL_FORMATS = ("numbers", "letters")
_LETTER = r"(?-i:[A-Z])"
_LTAG = r"(?:(?:option|choice)s?\s+)"
_L_LABEL = rf"{_LTAG}?{_HASH}(?:\(\s*{_LETTER}\s*\)|{_LETTER})"
_L_TAGGED = rf"(?:{_LTAG}{_HASH}(?:\(\s*{_LETTER}\s*\)|{_LETTER})|{_HASH}\(\s*{_LETTER}\s*\))"
_L_STATEMENTS = [
    re.compile(_labels(_L_LABEL), _I),
    re.compile(rf"answer\s*:\s*{_labels(_L_LABEL)}", _I),
    re.compile(rf"{_LEAD}{_DET}{_ADJ}(?:choice|option)s?(?:\s+is)?(?:\s*:\s*|\s+|(?=[(#])){_labels(_L_LABEL)}", _I),
    re.compile(rf"{_LEAD}i(?:\s+will|'ll)?\s+(?:choose|pick|select|go\s+with)\s+{_labels(_L_LABEL)}", _I),
    re.compile(rf"{_LEAD}{_DET}{_ADJ}answer(?:\s+is\s*:?|\s*:)\s*{_labels(_L_TAGGED)}", _I),
    re.compile(
        rf"{_LEAD}{_DET}{_labels(_L_TAGGED)}\s+is\s+(?:the\s+)?(?:correct|right|best)"
        r"(?:\s+(?:one|answer|option|choice))?",
        _I,
    ),
]
_L_BARE = rf"{_LTAG}?(?<![\w.,$]){_LETTER}(?![\w])"
_L_LISTS = [
    re.compile(
        rf"\(\s*{_LETTER}\s*\)(?P<closing>(?:\s*(?:,|/|\bor\b|\band\b)[\s,]*(?:or\s+|and\s+)?\(\s*{_LETTER}\s*\))+)", _I
    ),
    re.compile(rf"{_L_BARE}(?:\s*,\s*{_L_BARE})*(?P<closing>\s*,?\s*\b(?:or|and)\b\s*{_L_BARE})?", _I),
]
# The labels inside a matched label group or list: capitals standing alone (not the "I" of "I.e.").
_LETTERS = re.compile(r"(?<![A-Za-z.])[A-Z](?![A-Za-z.])")
_L_ECHOED = re.compile(rf"answer\s*:?\s*{_labels(_L_TAGGED)}{_ECHO_SEP}", _I)
_L_NAMES_LABEL = re.compile(r"(?<![A-Za-z])[A-Z](?![A-Za-z])|###")


@dataclass(frozen=True)
class _Grammar:
    statements: list[re.Pattern[str]]
    lists: list[re.Pattern[str]]
    labels: re.Pattern[str]  # finds each label in a matched label group or list
    number: Callable[[str], int]  # a found label's 1-based number
    keeps_value: bool  # an out-of-range label is also a stated value
    echoed: re.Pattern[str]  # an answer echoing its option (read only before an affirmation)
    names_label: re.Pattern[str]  # a label, found anywhere in an echo (which then names two options)


_GRAMMARS = {
    "numbers": _Grammar(_STATEMENTS, _LISTS, _DIGITS, int, True, _ECHOED, _NAMES_LABEL),
    "letters": _Grammar(
        _L_STATEMENTS, _L_LISTS, _LETTERS, lambda letter: ord(letter) - ord("A") + 1, False, _L_ECHOED, _L_NAMES_LABEL
    ),
}


@dataclass(frozen=True)
class ParsedChoice:
    """What a discrimination output chose, or why it chose nothing (see the module docstring)."""

    index: int | None
    reason: str | None
    value: str | None = None


def label_text(index: int, label_format: str = "numbers") -> str:
    """Option ``index`` (0-based) as a bare label: ``2`` (numbers) or ``B`` (letters, at most 26 options)."""
    _grammar(label_format)
    if label_format == "letters":
        if not 0 <= index < 26:
            raise ValueError(f"letter labels stop at Z (26 options), not option {index + 1}")
        return chr(ord("A") + index)
    return str(index + 1)


def format_label(index: int, label_format: str = "numbers") -> str:
    """How option ``index`` (0-based) is shown to the model and written in demonstrations: ``(2)``/``(B)``."""
    return f"({label_text(index, label_format)})"


def parse_choice(output: str, n_options: int, *, label_format: str = "numbers") -> int | None:
    """The 0-based option chosen on the last non-empty line of ``output``, or None if no valid choice;
    ``label_format="letters"`` reads letter labels (``(B)``, ``### B``) instead of numbers."""
    return read_choice(output, n_options, label_format=label_format).index


def parse_label(output: str, n_options: int) -> int | None:
    """Kept for compatibility: the former name of :func:`parse_choice`."""
    return parse_choice(output, n_options)


def read_choice(output: str, n_options: int, truncated: bool = False, *, label_format: str = "numbers") -> ParsedChoice:
    """The full reading: the index, or the reason there is none (``truncated`` overrides other reasons)."""
    parsed = _read(output, n_options, _grammar(label_format))
    if truncated and parsed.index is None:
        return ParsedChoice(None, "truncated")
    return parsed


def _grammar(label_format: str) -> _Grammar:
    if label_format not in _GRAMMARS:
        raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}, not {label_format!r}")
    return _GRAMMARS[label_format]


def _read(output: str, n_options: int, grammar: _Grammar) -> ParsedChoice:
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return ParsedChoice(None, "empty")
    line = _normalise(lines[-1])
    if len(lines) > 1 and _AFFIRMATION.fullmatch(line):
        confirmed = _statement(_normalise(lines[-2]), n_options, grammar, echo=True)
        if confirmed is not None:
            return confirmed
    stated = _statement(line, n_options, grammar)
    if stated is not None:
        return stated
    for listing in grammar.lists:
        lists = [found.group() for found in listing.finditer(line) if found.group("closing") is not None]
        if any(len(set(grammar.labels.findall(found))) > 1 for found in lists):
            return ParsedChoice(None, "ambiguous")
    if _VALUE_STATEMENT.match(line):
        value = extract_strict(line)
        if value is not None:
            return ParsedChoice(None, "value_not_label", value)
    return ParsedChoice(None, "no_label")


def _statement(line: str, n_options: int, grammar: _Grammar, echo: bool = False) -> ParsedChoice | None:
    """What a whole-line label statement says (with ``echo``, also an answer echoing its option), or None."""
    for statement in grammar.statements:
        match = statement.fullmatch(line)
        if match:
            numbers = {grammar.number(label) for label in grammar.labels.findall(match.group("labels"))}
            return _from_labels(numbers, n_options, grammar.keeps_value)
    match = grammar.echoed.fullmatch(line) if echo else None
    if match and not grammar.names_label.search(match.group("echo")) and not _NEGATION.search(match.group("echo")):
        numbers = {grammar.number(label) for label in grammar.labels.findall(match.group("labels"))}
        return _from_labels(numbers, n_options, grammar.keeps_value)
    return None


def _from_labels(numbers: set[int], n_options: int, keeps_value: bool = True) -> ParsedChoice:
    if len(numbers) > 1:
        return ParsedChoice(None, "ambiguous")
    (number,) = numbers
    if 1 <= number <= n_options:
        return ParsedChoice(number - 1, None)
    # A number is kept so a stated value can still be matched; a letter states no value.
    return ParsedChoice(None, "out_of_range", str(number) if keeps_value else None)


def _normalise(line: str) -> str:
    """The line without markdown emphasis, runs of spaces or trailing ``.``/``!``."""
    text = " ".join(_EMPHASIS.sub("", line).split())
    return text.rstrip(" .!")
