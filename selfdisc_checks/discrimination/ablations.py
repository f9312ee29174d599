"""The discrimination prompt's ablations (arXiv 2404.04298, section 5 and appendix E), as task options.

Every task accepts them (``[tool.selfdisc.task_options.NAME]``, or keywords of ``get_task``); each changes
the prompt the model reads, so the cached discrimination is recomputed, and each is recorded in the task's
options and protocol when it differs from its default. With every default the prompt, its parsing and the
metrics are what they were before these options existed.

- ``discrimination_demos`` (0 up to the task's count; default: all): how many of the task's demonstrations
  are shown, the first ones.
- ``discrimination_cot`` (default true): false shows each demonstration's final choice without its
  reasoning. The instruction is left as it is.
- ``label_format``: ``"numbers"`` (default: ``(1)`` .. ``(N)``, ``### 2``) or ``"letters"`` (``(A)`` ..,
  ``### B``, at most 26 options). Options, demonstrations (their reasoning's option references too), the
  instruction's closing sentence, the parser and the likelihood labels all follow.
- ``discrimination_mode``: ``"label"`` (default) or ``"verbatim"``: the model writes out the answer it picks
  instead of its label, and so do the demonstrations. The written answer is the text after the last
  ``Therefore, the final choice is:`` (``paper``) or line-opening ``Answer:`` (``compact``), the whole
  output when there is none; its extracted answer (``task.extract``) is matched to the shown candidates'
  extracted answers, the first shown candidate with an equal one being the pick; no equal answer (or none
  extracted) is invalid with the reason ``no_match``. Tasks that extract no answer (MT-Bench) never match.
  Likelihood discrimination has no labels to score in this mode and is refused.
- ``show_reasoning`` (default true): false shows each candidate (and each demonstration option) as its
  extracted final answer only, ``The answer is 18.``; one with no extracted answer as its last non-empty line.
- ``instruction``: the instruction's wording: one of :data:`INSTRUCTIONS` (followed by the closing sentence
  the layout, labels and mode call for) or a custom sentence, used exactly as written. Default: the task's
  own instruction (its closing sentence adapted to letter labels or verbatim mode, when those are set).
- ``selector``: ``"choose"`` (default: which candidate is correct) or ``"consistency"``: which candidate is
  most consistent with the others, i.e. agrees with the majority, in the manner of Universal
  Self-Consistency (Chen et al., arXiv 2311.17311). It is asked without demonstrations (the task's
  demonstrations pick the correct answer, often against the majority) and with its own instruction, so
  ``discrimination_demos`` above 0 and ``instruction`` are refused with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from selfdisc_checks.errors import SelfDiscError

FINAL_CHOICE_LINE = "Therefore, the final choice is:"
LABEL_FORMATS = ("numbers", "letters")
MODES = ("label", "verbatim")
SELECTORS = ("choose", "consistency")
MAX_LETTER_OPTIONS = 26

# Named instruction wordings (this project's own), each followed by the closing sentence of the layout.
INSTRUCTIONS = {
    "plain": "Which of the candidate answers is correct?",
    "stepwise": (
        "Go through the candidate answers one at a time and check every step of each; then decide which "
        "candidate is correct."
    ),
    "grader": (
        "You are an experienced grader marking answers to the question above. Judge each candidate answer on "
        "its merits and decide which one is correct."
    ),
}
CONSISTENCY_INSTRUCTION = (
    "These candidate answers were written independently for the same question. Which one agrees best with the "
    "others, that is, reaches the final answer that most of the candidates reach?"
)

# The closing sentences of the built-in instructions with number labels, recognised so that letter labels
# and verbatim mode can replace them.
_COMPACT_CLOSING = re.compile(r"\s*Give the option number on the last line\.$")
_PAPER_CLOSING = re.compile(
    r'\s*End with the line "Therefore, the final choice is:" followed by a line "### <number of the '
    r'(?P<what>[^<>"]+)>"\.$'
)


@dataclass(frozen=True)
class DiscriminationStyle:
    """The ablations' settings (see the module docstring); the defaults are the unablated prompt."""

    demos: int | None = None  # None: all of the task's demonstrations (none with the consistency selector)
    cot: bool = True
    label_format: str = "numbers"
    mode: str = "label"
    show_reasoning: bool = True
    instruction: str | None = None  # None: the task's own; a name of INSTRUCTIONS; or a custom sentence
    selector: str = "choose"

    @property
    def renders_like_default(self) -> bool:
        """Whether demonstrations answer exactly as their fixed ``response`` (labels, reasoning, mode)."""
        return self.label_format == "numbers" and self.cot and self.mode == "label"

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults, under their option names (for options and protocol)."""
        values = {
            "discrimination_demos": self.demos,
            "discrimination_cot": self.cot,
            "label_format": self.label_format,
            "discrimination_mode": self.mode,
            "show_reasoning": self.show_reasoning,
            "instruction": self.instruction,
            "selector": self.selector,
        }
        defaults = {
            "discrimination_demos": None,
            "discrimination_cot": True,
            "label_format": "numbers",
            "discrimination_mode": "label",
            "show_reasoning": True,
            "instruction": None,
            "selector": "choose",
        }
        return {name: value for name, value in values.items() if value != defaults[name]}


DEFAULT_STYLE = DiscriminationStyle()


def check_style(
    task: str,
    available: int | None = None,
    discrimination_demos: Any = None,
    discrimination_cot: Any = None,
    label_format: Any = None,
    discrimination_mode: Any = None,
    show_reasoning: Any = None,
    instruction: Any = None,
    selector: Any = None,
) -> DiscriminationStyle:
    """The settings of task ``task``'s ablation options (None keeps a default), each checked;
    ``discrimination_demos`` against the ``available`` demonstrations when that is known."""
    prefix = f"Task {task!r}:"
    demos = discrimination_demos
    if demos is not None and (
        isinstance(demos, bool)
        or not isinstance(demos, int)
        or demos < 0
        or (available is not None and demos > available)
    ):
        bound = f"0 to {available} (the demonstrations it has)" if available is not None else "0 up"
        raise SelfDiscError(f"{prefix} discrimination_demos must be a whole number from {bound}, not {demos!r}.")
    for option, value in (("discrimination_cot", discrimination_cot), ("show_reasoning", show_reasoning)):
        if value is not None and not isinstance(value, bool):
            raise SelfDiscError(f"{prefix} {option} must be true or false, not {value!r}.")
    for option, value, allowed in (
        ("label_format", label_format, LABEL_FORMATS),
        ("discrimination_mode", discrimination_mode, MODES),
        ("selector", selector, SELECTORS),
    ):
        if value is not None and value not in allowed:
            raise SelfDiscError(f"{prefix} {option} must be {' or '.join(map(repr, allowed))}, not {value!r}.")
    if instruction is not None and not (
        isinstance(instruction, str) and (instruction in INSTRUCTIONS or len(instruction.split()) > 1)
    ):
        raise SelfDiscError(
            f"{prefix} instruction must be one of {', '.join(INSTRUCTIONS)} or a custom sentence of several words, "
            f"not {instruction!r}."
        )
    if selector == "consistency" and discrimination_demos:
        raise SelfDiscError(
            f"{prefix} selector 'consistency' is asked without demonstrations (the task's pick the correct answer, "
            f"not the most consistent one), so discrimination_demos must be 0, not {discrimination_demos}."
        )
    if selector == "consistency" and instruction is not None:
        raise SelfDiscError(
            f"{prefix} selector 'consistency' has its own instruction, so leave instruction unset or use selector "
            "'choose'."
        )
    return DiscriminationStyle(
        demos=discrimination_demos,
        cot=True if discrimination_cot is None else discrimination_cot,
        label_format=label_format or "numbers",
        mode=discrimination_mode or "label",
        show_reasoning=True if show_reasoning is None else show_reasoning,
        instruction=instruction,
        selector=selector or "choose",
    )


def closing_sentence(variant: str, style: DiscriminationStyle, what: str = "correct answer") -> str:
    """The instruction's last sentence: where and how the model states its pick."""
    noun = "number" if style.label_format == "numbers" else "letter"
    if variant == "paper":
        if style.mode == "verbatim":
            return f'End with the line "{FINAL_CHOICE_LINE}" followed by the {what}, copied out in full.'
        return f'End with the line "{FINAL_CHOICE_LINE}" followed by a line "### <{noun} of the {what}>".'
    if style.mode == "verbatim":
        return "Write out the chosen answer in full on the last line."
    return f"Give the option {noun} on the last line."


def instruction_text(task_instruction: str, variant: str, style: DiscriminationStyle) -> str:
    """The instruction the model reads under ``style``: the task's own unchanged with the defaults."""
    if style.selector == "consistency":
        return f"{CONSISTENCY_INSTRUCTION} {closing_sentence(variant, style, 'most consistent answer')}"
    if style.instruction in INSTRUCTIONS:
        return f"{INSTRUCTIONS[style.instruction]} {closing_sentence(variant, style)}"
    if style.instruction is not None:
        return style.instruction
    if style.label_format == "numbers" and style.mode == "label":
        return task_instruction
    for closing in (_PAPER_CLOSING, _COMPACT_CLOSING):
        found = closing.search(task_instruction)
        if found:
            what = found.groupdict().get("what") or "correct answer"
            return f"{task_instruction[: found.start()]} {closing_sentence(variant, style, what)}"
    if style.mode == "verbatim":  # an instruction without a closing sentence (arithmetic's "Which is correct?")
        return f"{task_instruction} {closing_sentence(variant, style)}"
    return task_instruction
