"""Reading the model's choice out of a discrimination output.

The protocol asks for the chosen option number on the last line. We accept the usual ways models write
it there (``2``, ``(2)``, ``Answer: 2``, ``The answer is (2).``, ``Option 2``) and nothing else: a label
elsewhere, a number out of range or no number at all is invalid, which the metrics count and score as
the worst candidate (the paper's policy). A bare ``The answer is 4`` is *not* a label: models write it
for the answer's value (seen with SmolLM2 on GSM8K), so reading it as option 4 would be a guess.
"""

from __future__ import annotations

import re

_PAREN = re.compile(r"\(\s*(\d+)\s*\)")
_NAMED = re.compile(r"(?:choice|option|pick|select)\w*\s*(?:is|:)?\s*:?\s*\(?\s*(\d+)", re.IGNORECASE)
_BARE = re.compile(r"^\s*(?:answer\s*:\s*)?\(?\s*(\d+)\s*\)?\s*[.!]?\s*$", re.IGNORECASE)


def format_label(index: int) -> str:
    """How option ``index`` (0-based) is shown to the model and written in demonstrations."""
    return f"({index + 1})"


def parse_label(output: str, n_options: int) -> int | None:
    """The 0-based option picked on the last non-empty line of ``output``, or None if invalid."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    for pattern in (_BARE, _NAMED, _PAREN):
        matches = pattern.findall(last)
        if matches:
            number = int(matches[-1])
            return number - 1 if 1 <= number <= n_options else None
    return None
