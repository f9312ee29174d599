"""Short text answers: TriviaQA-style normalised exact match, and letters picked in multiple choice.

Normalisation (``normalize_answer``) is the one of TriviaQA's official evaluation script (Joshi et al.,
2017), which differs from SQuAD's in two places: underscores become spaces, and punctuation is *replaced
by a space* rather than deleted (so ``Campbell-Bannerman`` reads as ``campbell bannerman``). In order:
underscores to spaces, lower case, every ASCII punctuation character and the marks ``‘``, ``’`` and ``´`` to a
space, the words ``a``, ``an`` and ``the`` removed, runs of whitespace collapsed to one space.

Open answers (``extract_short_answer``): the completion's first non-empty line, without a leading answer
tag (``Answer:``, ``A:``, ``The answer is``), surrounding markdown emphasis, spaces and trailing periods.
``strict`` means the line was the bare answer, ``flexible`` that a tag had to be removed.

Multiple-choice letters (``extract_letter``), among the valid letters only, case-insensitively. A letter
counts only as a *token*: in brackets (``(B)``, ``[B]``), or followed by ``.``, ``:``, ``)``, ``,``, ``;``,
``!`` or ``?`` that is not itself followed by a letter or digit (so ``E.g.`` and ``A.M.`` do not count), or
alone to the end of its line, or, for an upper-case letter other than ``A`` and ``I``, followed by a space
(``B bank``). ``A`` and ``I`` followed by a word are the article and the pronoun (``A person would ...``,
``I think ...``), and a lower-case letter followed by a word is prose (``the answer is a bank``).

- *strict*: the completion opens with a letter token, optionally after an ``Answer:`` or ``A:`` tag
  (``B``, ``(B)``, ``B. bank``, ``Answer: B``, ``A: C``; ``A: bank`` is the letter A);
- *flexible*: the last answer statement anywhere, ``answer is X`` or ``answer: X``, optionally with
  ``option``/``choice`` before the letter (``The correct answer is (C)``, ``... so the answer: (c)``,
  ``The answer is option D.``).

A capital letter anywhere else (inside prose, in a list of options) never counts. Markdown emphasis
(``*``, backticks) is removed first, so ``**B**`` and ``Answer: **C**`` read as ``B`` and ``C``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

_PUNCTUATION = frozenset(string.punctuation + "‘’´`")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text: str) -> str:
    """TriviaQA's official normalisation (see the module docstring): ``"The Beatles!"`` -> ``"beatles"``."""
    lowered = text.replace("_", " ").lower()
    spaced = "".join(" " if char in _PUNCTUATION else char for char in lowered)
    return " ".join(_ARTICLES.sub(" ", spaced).split())


def exact_match_any(prediction: str | None, aliases: Iterable[str]) -> bool:
    """Whether ``prediction`` equals one of ``aliases`` after normalisation (an empty one matches nothing)."""
    if prediction is None:
        return False
    predicted = normalize_answer(prediction)
    return bool(predicted) and any(predicted == normalize_answer(alias) for alias in aliases)


# --- open answers ---------------------------------------------------------------------------------------

_ANSWER_TAG = re.compile(r"^(?:(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is\b\s*:?|:)|A\s*:)\s*", re.IGNORECASE)
_EMPHASIS = re.compile(r"[*`]+")


def extract_short_answer(completion: str) -> tuple[str | None, str]:
    """The answer in a short-answer completion and how it was found (``strict``, ``flexible``, ``none``).

    The first non-empty line is taken; markdown emphasis (``*``, backticks) and surrounding spaces are
    removed; a leading ``Answer:``, ``A:``, ``The answer is`` (any case) is removed (``flexible``);
    trailing periods and spaces are removed. ``none`` when nothing is left.
    """
    line = next((line for line in completion.splitlines() if line.strip()), "")
    text = _EMPHASIS.sub("", line).strip()
    tagged = _ANSWER_TAG.match(text)
    if tagged:
        text = text[tagged.end() :]
    text = text.rstrip(". \t").strip()
    if not text:
        return None, "none"
    return text, "flexible" if tagged else "strict"


# --- multiple-choice letters -------------------------------------------------------------------------------

# A letter as a token at some position (see the module docstring): bracketed, or bare and followed by a
# delimiter that is not followed by a letter or digit, by the end of its line, or (B-Z but A and I) a space.
_LETTER_TOKEN = re.compile(
    r"""
    [(\[] (?P<bracketed>[A-Za-z]) [)\]]
    | (?P<bare>[A-Za-z])
      (?: [.:),;!?] (?![A-Za-z0-9])
        | (?=[ \t]*(?:\r?\n|$))
        | (?<=[B-HJ-Z]) (?=[ \t]) )
    """,
    re.VERBOSE,
)
_LEADING_TAG = re.compile(r"\s*(?:answer|A)\s*:\s*", re.IGNORECASE)
_STATEMENT = re.compile(r"\banswer\s*(?:is\b\s*:?|:)\s*(?:(?:option|choice)\s+)?", re.IGNORECASE)


def _letter_at(text: str, position: int, valid: set[str]) -> str | None:
    match = _LETTER_TOKEN.match(text, position)
    if match is None:
        return None
    letter = next(group for group in match.groups() if group).upper()
    return letter if letter in valid else None


def extract_letter(completion: str, letters: Iterable[str] = "ABCDE") -> tuple[str | None, str]:
    """The option letter chosen in ``completion`` (upper case, one of ``letters``) and how it was found:
    ``strict`` (the completion opens with it), ``flexible`` (the last ``answer is X``/``answer: X``) or
    ``none``. See the module docstring for the exact forms."""
    valid = {letter.upper() for letter in letters}
    text = _EMPHASIS.sub("", completion)
    tag = _LEADING_TAG.match(text)
    strict = _letter_at(text, tag.end(), valid) if tag else None
    if strict is None:
        strict = _letter_at(text, len(text) - len(text.lstrip()), valid)
    if strict is not None:
        return strict, "strict"
    found = None
    for statement in _STATEMENT.finditer(text):
        letter = _letter_at(text, statement.end(), valid)
        if letter is not None:
            found = letter
    return (found, "flexible") if found is not None else (None, "none")
