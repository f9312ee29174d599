"""What a task is: data + generation prompt + scorer + discrimination demonstrations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from selfdisc_checks.discrimination.ablations import (
    DEFAULT_STYLE,
    MAX_LETTER_OPTIONS,
    DiscriminationStyle,
    check_style,
    instruction_text,
)
from selfdisc_checks.discrimination.parse import ParsedChoice, read_choice
from selfdisc_checks.discrimination.prompt import (
    DiscriminationDemo,
    build_discrimination_prompt,
    label_continuations,
)
from selfdisc_checks.discrimination.verbatim import read_verbatim
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.numbers import extract_number, numbers_equal


class Task(ABC):
    """A benchmark: ``load`` its questions, ``prompt`` the model, ``score`` a completion in [0, 1].

    Subclasses set ``name``, ``generation``, ``discrimination`` and ``instructions`` (one discrimination
    instruction per prompt variant they support, the default first) and implement ``load``, ``prompt`` and
    ``discrimination_demos``. The default scorer extracts a number and compares it numerically.

    Every task accepts the protocol options ``generation_max_tokens``, ``discrimination_max_tokens`` and
    ``discrimination_prompt`` (a variant name), and the ablation options of ``discrimination.ablations``
    (``discrimination_demos``, ``discrimination_cot``, ``label_format``, ``discrimination_mode``,
    ``show_reasoning``, ``instruction``, ``selector``), passed to the constructor by ``get_task``.
    """

    name: str = ""
    generation: DecodeSpec = DecodeSpec(max_new_tokens=256)
    discrimination: DecodeSpec = DecodeSpec(max_new_tokens=1024)
    instructions: dict[str, str] = {
        "compact": "Which option answers the question correctly? Give the option number on the last line."
    }
    discrimination_prompt: str = "compact"
    discrimination_style: DiscriminationStyle = DEFAULT_STYLE  # the ablation options (set_protocol)
    # Judged tasks: a judge model (--judge-model) scores each candidate through judge_prompt/read_judgement;
    # tasks that need one cannot be scored without it. Graded tasks report on their own scale as well.
    judged: bool = False
    needs_judge: bool = False
    judge_decoding: DecodeSpec = DecodeSpec(max_new_tokens=512)
    judge_lead: str = ""  # verdict-first judging: the start of the judge's answer, appended to its prompt
    scale: dict[str, Any] | None = None  # e.g. {"unit": "rating", "low": 1, "high": 10}
    majority_by: str = "answer"  # "answer": vote on extracted answers; "consensus": the most agreed-with text

    def set_protocol(
        self,
        generation_max_tokens: int | None = None,
        discrimination_max_tokens: int | None = None,
        discrimination_prompt: str | None = None,
        discrimination_demos: int | None = None,
        discrimination_cot: bool | None = None,
        label_format: str | None = None,
        discrimination_mode: str | None = None,
        show_reasoning: bool | None = None,
        instruction: str | None = None,
        selector: str | None = None,
    ) -> None:
        """Apply the protocol options (None keeps the task's default); the ablation options are described in
        ``discrimination.ablations``."""
        for option, value in (
            ("generation_max_tokens", generation_max_tokens),
            ("discrimination_max_tokens", discrimination_max_tokens),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SelfDiscError(f"Task {self.name!r}: {option} must be a positive integer, not {value!r}.")
        if generation_max_tokens is not None:
            self.generation = replace(self.generation, max_new_tokens=generation_max_tokens)
        if discrimination_max_tokens is not None:
            self.discrimination = replace(self.discrimination, max_new_tokens=discrimination_max_tokens)
        variant = discrimination_prompt or next(iter(self.instructions))
        if variant not in self.instructions:
            raise SelfDiscError(
                f"Task {self.name!r} has no discrimination prompt {variant!r}; choose one of: "
                f"{', '.join(self.instructions)}."
            )
        self.discrimination_prompt = variant
        ablations = {
            "discrimination_demos": discrimination_demos,
            "discrimination_cot": discrimination_cot,
            "label_format": label_format,
            "discrimination_mode": discrimination_mode,
            "show_reasoning": show_reasoning,
            "instruction": instruction,
            "selector": selector,
        }
        available = None
        if discrimination_demos is not None:
            try:
                available = len(self.discrimination_demos())
            except SelfDiscError:
                raise
            except Exception as error:  # a user task's own code: name it, not a traceback from inside it
                raise SelfDiscError(
                    f"Task {self.name!r}: discrimination_demos() raised {type(error).__name__} ({error}) while the "
                    "discrimination_demos option was checked; fix the task's demonstrations, or leave the option "
                    "out to use them all."
                ) from None
        style = check_style(self.name, available, **ablations)
        default_count = 0 if style.selector == "consistency" else available
        if style.demos is not None and style.demos == default_count:  # as many as by default: the default
            style = replace(style, demos=None)
        self.discrimination_style = style

    @property
    def discrimination_instruction(self) -> str:
        """The instruction the model reads: the prompt variant's, worded as the ablation options ask."""
        return instruction_text(
            self.instructions[self.discrimination_prompt], self.discrimination_prompt, self.discrimination_style
        )

    @abstractmethod
    def load(self, limit: int | None = None) -> list[Example]:
        """The first ``limit`` questions (all when None), in a stable order."""

    @abstractmethod
    def prompt(self, example: Example) -> Prompt:
        """The generation prompt for one question."""

    @abstractmethod
    def discrimination_demos(self) -> list[DiscriminationDemo]:
        """Worked demonstrations shown before each discrimination query, for the chosen prompt variant."""

    def shown_demos(self) -> list[DiscriminationDemo]:
        """The demonstrations a discrimination prompt shows: the first ``discrimination_demos`` of the task's
        (none with the consistency selector unless asked), options shortened when ``show_reasoning`` is off."""
        demos = self.discrimination_demos()
        style = self.discrimination_style
        count = style.demos if style.demos is not None else (0 if style.selector == "consistency" else len(demos))
        if count > len(demos):
            raise SelfDiscError(
                f"Task {self.name!r}: discrimination_demos must be a whole number from 0 to {len(demos)} (the "
                f"demonstrations it has), not {count}."
            )
        demos = demos[:count]
        if not style.show_reasoning:
            demos = [replace(d, options=tuple(self.final_answer_text(o) for o in d.options)) for d in demos]
        return demos

    def discrimination_prompt_for(self, example: Example, completions: list[str]) -> Prompt:
        """The multiple-choice prompt over ``completions`` (the question's own candidates)."""
        style = self.discrimination_style
        self._check_labels(len(completions))
        if style.show_reasoning:
            options = [self.option_text(example, text) for text in completions]
        else:
            options = [self.final_answer_text(text) for text in completions]
        return build_discrimination_prompt(
            example.question,
            options,
            self.shown_demos(),
            self.discrimination_instruction,
            self.discrimination_prompt,
            style,
        )

    def read_discrimination(
        self, output: str, shown_answers: Sequence[str | None], truncated: bool = False
    ) -> ParsedChoice:
        """The shown position a discrimination output picks, or why none: its label (``parse``), or in
        ``verbatim`` mode the candidate whose extracted answer it writes (``shown_answers``, in shown order;
        see ``discrimination.verbatim``)."""
        style = self.discrimination_style
        if style.mode == "verbatim":
            return read_verbatim(
                output, shown_answers, self.extract, self.discrimination_prompt, truncated, style.label_format
            )
        return read_choice(output, len(shown_answers), truncated, label_format=style.label_format)

    def label_continuations(self, n_options: int) -> tuple[str, list[str]]:
        """The answer start and the option labels that likelihood discrimination scores (see
        ``discrimination.prompt.label_continuations``)."""
        style = self.discrimination_style
        if style.mode == "verbatim":
            raise SelfDiscError(
                f"Task {self.name!r}: discrimination_mode 'verbatim' has no option labels to score, so use "
                "--discriminate generate with it."
            )
        self._check_labels(n_options)
        return label_continuations(self.discrimination_prompt, n_options, style.label_format)

    def _check_labels(self, n_options: int) -> None:
        if self.discrimination_style.label_format == "letters" and n_options > MAX_LETTER_OPTIONS:
            raise SelfDiscError(
                f"Task {self.name!r}: label_format 'letters' labels at most {MAX_LETTER_OPTIONS} options, not "
                f"{n_options}; lower --samples or use numbers."
            )

    def option_text(self, example: Example, completion: str) -> str:
        """How a candidate is shown as a discrimination option (the completion itself by default)."""
        return completion

    def final_answer_text(self, text: str) -> str:
        """A candidate shown without its reasoning (``show_reasoning = false``): ``The answer is 18.`` from its
        extracted answer, else its last non-empty line."""
        answer, _ = self.extract(text)
        if answer is not None and answer.strip():
            answer = answer.strip()
            return f"The answer is {answer}" + ("" if answer[-1] in ".!?" else ".")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def extract(self, completion: str) -> tuple[str | None, str]:
        """The final answer in ``completion`` and how it was found (strict, flexible or none)."""
        return extract_number(completion)

    def score(self, example: Example, completion: str) -> float:
        """1.0 when the extracted answer equals the reference, else 0.0."""
        answer, _ = self.extract(completion)
        return 1.0 if numbers_equal(answer, example.reference) else 0.0

    def judge_prompt(self, example: Example, completion: str) -> Prompt:
        """The grading prompt the judge model reads for one candidate (judged tasks only)."""
        raise NotImplementedError(f"task {self.name!r} is not judged")

    def read_judgement(self, example: Example, completion: str, output: str) -> float | None:
        """The candidate's score in [0, 1] from the judge's output; None when the output holds no verdict."""
        raise NotImplementedError(f"task {self.name!r} is not judged")

    def judge_protocol(self) -> dict[str, Any]:
        """How the judge grades (prompt source, verdict format), for the record."""
        return {}

    def describe(self) -> dict[str, Any]:
        """The options that define this task's questions and protocol (shown in results)."""
        return {
            "generation_max_tokens": self.generation.max_new_tokens,
            "discrimination_max_tokens": self.discrimination.max_new_tokens,
            "discrimination_prompt": self.discrimination_prompt,
            **self.discrimination_style.changed(),  # ablation options, only those set off their default
        }

    def protocol(self) -> dict[str, Any]:
        """Each phase's decoding limits, stop sequences, demonstrations and prompt variant (for the record)."""
        shots = len(self.prompt(Example("protocol-probe", "?", "0")).shots)
        return {
            "generation": {
                "max_new_tokens": self.generation.max_new_tokens,
                "stop": list(self.generation.stop),
                "shots": shots,
            },
            "discrimination": {
                "max_new_tokens": self.discrimination.max_new_tokens,
                "stop": list(self.discrimination.stop),
                "demonstrations": len(self.shown_demos()),
                "prompt_variant": self.discrimination_prompt,
                "decoding": "greedy",
                **self.discrimination_style.changed(),
            },
        }
