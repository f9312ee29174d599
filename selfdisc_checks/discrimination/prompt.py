"""The discrimination prompt: the question, the model's own candidates as numbered options, a few
worked demonstrations, and the instruction to end with the chosen number (arXiv 2404.04298, sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass

from selfdisc_checks.discrimination.parse import format_label
from selfdisc_checks.records import Prompt


@dataclass(frozen=True)
class DiscriminationDemo:
    """A worked example: a question, its options, and the response that picks the right one."""

    question: str
    options: tuple[str, ...]
    response: str


def render_options(question: str, options: list[str] | tuple[str, ...], instruction: str) -> str:
    """The user text of one discrimination turn."""
    lines = [f"Question: {question}", "Options:"]
    for index, option in enumerate(options):
        text = " ".join(option.split()) or "(empty)"
        lines.append(f"{format_label(index)} {text}")
    lines.append(instruction)
    return "\n".join(lines)


def build_discrimination_prompt(
    question: str,
    candidates: list[str],
    demos: list[DiscriminationDemo],
    instruction: str,
) -> Prompt:
    """A prompt whose demonstrations and query share one layout, so the model can copy the format."""
    shots = tuple((render_options(d.question, d.options, instruction), d.response) for d in demos)
    return Prompt(query=render_options(question, candidates, instruction), shots=shots)
