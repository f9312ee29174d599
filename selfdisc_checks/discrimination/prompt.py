"""The discrimination prompt: the question, the model's own candidates as numbered options, a few worked
demonstrations in the same layout, and the instruction to end with the chosen number (arXiv 2404.04298,
section 3 and appendix A).

Two layouts (``variant``):

- ``paper``: every candidate shown whole, line breaks kept, separated by blank lines; the demonstrations
  reason about how each answer was reached and end with ``Therefore, the final choice is:`` and a line
  ``### <number>``, the structure of the paper's GSM8K prompt.
- ``compact``: one line per option under ``Options:`` and a short answer (``Answer: (2)``); the layout of
  this project's first releases, which the fixture checkpoint was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfdisc_checks.discrimination.parse import format_label
from selfdisc_checks.records import Prompt

VARIANTS = ("paper", "compact")
FINAL_CHOICE_LINE = "Therefore, the final choice is:"


@dataclass(frozen=True)
class DiscriminationDemo:
    """A worked example: a question, its options, and the response that picks the right one."""

    question: str
    options: tuple[str, ...]
    response: str


def paper_response(reasoning: str, index: int) -> str:
    """A demonstration response in the paper's structure, choosing option ``index`` (0-based)."""
    return f"{reasoning.strip()}\n{FINAL_CHOICE_LINE}\n### {index + 1}"


def label_continuations(variant: str, n_options: int) -> tuple[str, list[str]]:
    """For likelihood discrimination: the start of the model's answer (``lead``, appended to the rendered
    prompt) and each option's label as the demonstrations write it right after that start. The option whose
    label the model finds most likely next is its pick, with no text generated."""
    if variant == "paper":
        return f"{FINAL_CHOICE_LINE}\n###", [f" {i + 1}" for i in range(n_options)]
    return "", [format_label(i) for i in range(n_options)]


def render_options(
    question: str, options: list[str] | tuple[str, ...], instruction: str, variant: str = "compact"
) -> str:
    """The user text of one discrimination turn."""
    if variant == "paper":
        shown = [f"{format_label(i)} {option.strip() or '(empty)'}" for i, option in enumerate(options)]
        return "\n\n".join([f"Question: {question}", "Candidate answers:\n" + "\n\n".join(shown), instruction])
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
    variant: str = "compact",
) -> Prompt:
    """A prompt whose demonstrations and query share one layout, so the model can copy the format."""
    shots = tuple((render_options(d.question, d.options, instruction, variant), d.response) for d in demos)
    return Prompt(query=render_options(question, candidates, instruction, variant), shots=shots)
