"""The discrimination prompt: the question, the model's own candidates as numbered options, a few worked
demonstrations in the same layout, and the instruction to end with the chosen number (arXiv 2404.04298,
section 3 and appendix A).

Two layouts (``variant``):

- ``paper``: every candidate shown whole, line breaks kept, separated by blank lines; the demonstrations
  reason about how each answer was reached and end with ``Therefore, the final choice is:`` and a line
  ``### <number>``, the structure of the paper's GSM8K prompt.
- ``compact``: one line per option under ``Options:`` and a short answer (``Answer: (2)``); the layout of
  this project's first releases, which the fixture checkpoint was trained on.

A demonstration is either *worked* (:meth:`DiscriminationDemo.paper`, :meth:`DiscriminationDemo.compact`:
its reasoning and the chosen option kept apart, so the response can be rendered for each ablation of
``discrimination.ablations``) or a fixed ``response`` text (the original form, still accepted). In worked
reasoning, ``{2}`` stands for option 2's bare label (``2``, or ``B`` with letter labels): write
``Answer ({2})`` or ``option {2}``. The response of a worked demonstration is:

- ``paper``: ``<reasoning>\\nTherefore, the final choice is:\\n### <label>``;
- ``compact``: ``<reasoning>\\nAnswer: (<label>)``, or ``(<label>)`` alone when it has no reasoning;

without chain of thought the reasoning is left out, and in ``verbatim`` mode the chosen option's text takes
the place of the label. With the default settings a demonstration's ``response`` is shown unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfdisc_checks.discrimination.ablations import DEFAULT_STYLE, FINAL_CHOICE_LINE, DiscriminationStyle
from selfdisc_checks.discrimination.parse import format_label, label_text, read_choice
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Prompt

VARIANTS = ("paper", "compact")
ANSWER_TAG = "Answer:"

_PLACEHOLDER = re.compile(r"\{(\d+)\}")


@dataclass(frozen=True)
class DiscriminationDemo:
    """A worked example: a question, its options, and the response that picks the right one.

    ``response`` is the text shown with the default settings. A worked demonstration (built with
    :meth:`paper` or :meth:`compact`) also keeps its ``reasoning`` (with ``{n}`` label placeholders), the
    ``chosen`` option (0-based) and its ``layout``, and fills ``response`` from them.
    """

    question: str
    options: tuple[str, ...]
    response: str = ""
    reasoning: str | None = None
    chosen: int | None = None
    layout: str | None = None

    def __post_init__(self) -> None:
        if self.chosen is None:
            return
        if not 0 <= self.chosen < len(self.options):
            raise ValueError(f"chosen option {self.chosen} is not one of the {len(self.options)} options")
        if self.layout not in VARIANTS:
            raise ValueError(f"layout must be one of {', '.join(VARIANTS)}, not {self.layout!r}")
        if not self.response:
            object.__setattr__(
                self,
                "response",
                worked_response(self.reasoning or "", self.chosen, self.layout, self.options, DEFAULT_STYLE),
            )

    @classmethod
    def paper(cls, question: str, options: tuple[str, ...], reasoning: str, chosen: int) -> DiscriminationDemo:
        """A demonstration in the paper's layout: reasoning, then the final-choice line and ``### <label>``."""
        return cls(question, tuple(options), reasoning=reasoning, chosen=chosen, layout="paper")

    @classmethod
    def compact(cls, question: str, options: tuple[str, ...], reasoning: str, chosen: int) -> DiscriminationDemo:
        """A demonstration in the compact layout: reasoning, then ``Answer: (<label>)`` (the label alone when
        ``reasoning`` is empty)."""
        return cls(question, tuple(options), reasoning=reasoning, chosen=chosen, layout="compact")

    def worked(self) -> tuple[str, int, str]:
        """(reasoning with ``{n}`` placeholders, chosen index, layout); a fixed ``response`` is read for them:
        its last line must state the choice (see ``parse``), the lines before it (less a closing
        ``Therefore, the final choice is:``) are the reasoning, and its ``(n)`` and ``option n`` become
        placeholders."""
        if self.chosen is not None:
            return self.reasoning or "", self.chosen, self.layout or "compact"
        lines = self.response.strip().splitlines()
        chosen = read_choice(self.response, len(self.options)).index
        if chosen is None or not lines:
            raise SelfDiscError(
                f"The demonstration for {self.question[:60]!r} states no choice on its last line, so it cannot be "
                "shown with other labels, without reasoning or verbatim; give it a worked form (DiscriminationDemo."
                "paper/compact)."
            )
        lines = lines[:-1]
        layout = "compact"
        if lines and lines[-1].strip() == FINAL_CHOICE_LINE:
            lines, layout = lines[:-1], "paper"
        reasoning = "\n".join(lines)
        n = len(self.options)
        reasoning = re.sub(r"\((\d+)\)", lambda m: f"({{{m[1]}}})" if 1 <= int(m[1]) <= n else m[0], reasoning)
        reasoning = re.sub(
            r"\b([Oo]ptions?|[Aa]nswers?) (\d+)\b",
            lambda m: f"{m[1]} {{{m[2]}}}" if 1 <= int(m[2]) <= n else m[0],
            reasoning,
        )
        return reasoning, chosen, layout


def fill_labels(reasoning: str, label_format: str = "numbers") -> str:
    """Worked reasoning with each ``{n}`` replaced by option n's bare label."""
    return _PLACEHOLDER.sub(lambda m: label_text(int(m[1]) - 1, label_format), reasoning)


def shown_option(option: str, variant: str) -> str:
    """An option's text as a layout shows it: whole (``paper``) or on one line (``compact``)."""
    if variant == "paper":
        return option.strip() or "(empty)"
    return " ".join(option.split()) or "(empty)"


def worked_response(
    reasoning: str, chosen: int, layout: str, options: tuple[str, ...] | list[str], style: DiscriminationStyle
) -> str:
    """A worked demonstration's response under ``style`` (see the module docstring)."""
    if style.mode == "verbatim":
        pick = shown_option(options[chosen], layout)
    else:
        pick = label_text(chosen, style.label_format)
    thought = fill_labels(reasoning, style.label_format).strip() if style.cot else ""
    if layout == "paper":
        ending = f"{FINAL_CHOICE_LINE}\n{pick}" if style.mode == "verbatim" else f"{FINAL_CHOICE_LINE}\n### {pick}"
        return f"{thought}\n{ending}" if thought else ending
    shown = pick if style.mode == "verbatim" else f"({pick})"
    ending = f"{ANSWER_TAG} {shown}" if reasoning.strip() else shown
    return f"{thought}\n{ending}" if thought else ending


def demo_response(demo: DiscriminationDemo, style: DiscriminationStyle = DEFAULT_STYLE) -> str:
    """The response a demonstration shows under ``style``: its ``response`` with the default settings."""
    if style.renders_like_default:
        return demo.response
    reasoning, chosen, layout = demo.worked()
    return worked_response(reasoning, chosen, layout, demo.options, style)


def paper_response(reasoning: str, index: int) -> str:
    """A demonstration response in the paper's structure, choosing option ``index`` (0-based)."""
    return f"{reasoning.strip()}\n{FINAL_CHOICE_LINE}\n### {index + 1}"


def label_continuations(variant: str, n_options: int, label_format: str = "numbers") -> tuple[str, list[str]]:
    """For likelihood discrimination: the start of the model's answer (``lead``, appended to the rendered
    prompt) and each option's label as the demonstrations write it right after that start. The option whose
    label the model finds most likely next is its pick, with no text generated."""
    if variant == "paper":
        return f"{FINAL_CHOICE_LINE}\n###", [f" {label_text(i, label_format)}" for i in range(n_options)]
    return "", [format_label(i, label_format) for i in range(n_options)]


def render_options(
    question: str,
    options: list[str] | tuple[str, ...],
    instruction: str,
    variant: str = "compact",
    label_format: str = "numbers",
) -> str:
    """The user text of one discrimination turn."""
    if variant == "paper":
        shown = [f"{format_label(i, label_format)} {shown_option(option, variant)}" for i, option in enumerate(options)]
        return "\n\n".join([f"Question: {question}", "Candidate answers:\n" + "\n\n".join(shown), instruction])
    lines = [f"Question: {question}", "Options:"]
    for index, option in enumerate(options):
        lines.append(f"{format_label(index, label_format)} {shown_option(option, variant)}")
    lines.append(instruction)
    return "\n".join(lines)


def build_discrimination_prompt(
    question: str,
    candidates: list[str],
    demos: list[DiscriminationDemo],
    instruction: str,
    variant: str = "compact",
    style: DiscriminationStyle = DEFAULT_STYLE,
) -> Prompt:
    """A prompt whose demonstrations and query share one layout, so the model can copy the format; ``style``
    (the ablations' settings) sets the labels and how demonstrations answer."""
    fmt = style.label_format
    shots = tuple(
        (render_options(d.question, d.options, instruction, variant, fmt), demo_response(d, style)) for d in demos
    )
    return Prompt(query=render_options(question, candidates, instruction, variant, fmt), shots=shots)
