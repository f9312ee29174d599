"""Reading a choice written out in full (``discrimination_mode = "verbatim"``) back to a candidate.

The written answer is the text after the last ``Therefore, the final choice is:`` (``paper`` layout) or
after the last line-opening ``Answer:`` (``compact``); the whole output when there is none. The task's
``extract`` finds its answer, which is compared with the shown candidates' extracted answers: the first
shown candidate with an equal answer is the pick. The reasons there is none (``ParsedChoice.reason``):
``empty`` (only whitespace), ``truncated`` (cut off by the token limit, and no match), ``no_match`` (the
written answer has no extracted answer, or one no candidate has, ``value`` holding it when there is one; or
it is an option label instead of an answer, ``(4)``, ``### 4``, ``Option 4``, which would otherwise be read
as the number 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from selfdisc_checks.discrimination.ablations import FINAL_CHOICE_LINE
from selfdisc_checks.discrimination.parse import ParsedChoice, read_choice

_LABEL_SIGN = re.compile(r"[(#]|\b(?:option|choice)", re.IGNORECASE)
_MARKERS = {
    "paper": re.compile(re.escape(FINAL_CHOICE_LINE), re.IGNORECASE),
    "compact": re.compile(r"^[ \t]*answer:", re.IGNORECASE | re.MULTILINE),
}


def written_answer(output: str, variant: str) -> str:
    """The part of ``output`` that states the chosen answer (see the module docstring)."""
    marker = _MARKERS.get(variant, _MARKERS["compact"])
    found = list(marker.finditer(output))
    return (output[found[-1].end() :] if found else output).strip()


def read_verbatim(
    output: str,
    shown_answers: Sequence[str | None],
    extract: Callable[[str], tuple[str | None, str]],
    variant: str = "compact",
    truncated: bool = False,
    label_format: str = "numbers",
) -> ParsedChoice:
    """The shown position (0-based) whose extracted answer equals the written answer's, or why none does."""
    if not output.strip():
        return ParsedChoice(None, "truncated" if truncated else "empty")
    written = written_answer(output, variant)
    if _is_label(written, len(shown_answers), label_format):
        return ParsedChoice(None, "truncated" if truncated else "no_match")
    answer, _ = extract(written)
    if answer is not None:
        for position, shown in enumerate(shown_answers):
            if shown is not None and shown == answer:
                return ParsedChoice(position, None)
    if truncated:
        return ParsedChoice(None, "truncated")
    return ParsedChoice(None, "no_match", answer)


def _is_label(written: str, n_options: int, label_format: str) -> bool:
    """Whether the written answer is an option label statement (with a bracket, ``#`` or an option word: a
    bare number may be a written-out answer)."""
    if "\n" in written.strip() or not _LABEL_SIGN.search(written):
        return False
    return read_choice(written, max(n_options, 1), label_format=label_format).reason in (
        None,
        "out_of_range",
        "ambiguous",
    )
