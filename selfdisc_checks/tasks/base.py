"""What a task is: data + generation prompt + scorer + discrimination demonstrations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

from selfdisc_checks.discrimination.prompt import (
    DiscriminationDemo,
    build_discrimination_prompt,
    label_continuations,
)
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.numbers import extract_number, numbers_equal


class Task(ABC):
    """A benchmark: ``load`` its questions, ``prompt`` the model, ``score`` a completion in [0, 1].

    Subclasses set ``name``, ``generation``, ``discrimination`` and ``instructions`` (one discrimination
    instruction per prompt variant they support, the default first) and implement ``load``, ``prompt`` and
    ``discrimination_demos``. The default scorer extracts a number and compares it numerically.

    Every task accepts the protocol options ``generation_max_tokens``, ``discrimination_max_tokens`` and
    ``discrimination_prompt`` (a variant name), passed to the constructor by ``get_task``.
    """

    name: str = ""
    generation: DecodeSpec = DecodeSpec(max_new_tokens=256)
    discrimination: DecodeSpec = DecodeSpec(max_new_tokens=1024)
    instructions: dict[str, str] = {
        "compact": "Which option answers the question correctly? Give the option number on the last line."
    }
    discrimination_prompt: str = "compact"

    def set_protocol(
        self,
        generation_max_tokens: int | None = None,
        discrimination_max_tokens: int | None = None,
        discrimination_prompt: str | None = None,
    ) -> None:
        """Apply the protocol options (None keeps the task's default)."""
        for option, value in (("generation_max_tokens", generation_max_tokens),
                              ("discrimination_max_tokens", discrimination_max_tokens)):
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

    @property
    def discrimination_instruction(self) -> str:
        return self.instructions[self.discrimination_prompt]

    @abstractmethod
    def load(self, limit: int | None = None) -> list[Example]:
        """The first ``limit`` questions (all when None), in a stable order."""

    @abstractmethod
    def prompt(self, example: Example) -> Prompt:
        """The generation prompt for one question."""

    @abstractmethod
    def discrimination_demos(self) -> list[DiscriminationDemo]:
        """Worked demonstrations shown before each discrimination query, for the chosen prompt variant."""

    def discrimination_prompt_for(self, example: Example, completions: list[str]) -> Prompt:
        """The multiple-choice prompt over ``completions`` (the question's own candidates)."""
        options = [self.option_text(example, text) for text in completions]
        return build_discrimination_prompt(
            example.question, options, self.discrimination_demos(), self.discrimination_instruction,
            self.discrimination_prompt,
        )

    def label_continuations(self, n_options: int) -> tuple[str, list[str]]:
        """The answer start and the option labels that likelihood discrimination scores (see
        ``discrimination.prompt.label_continuations``)."""
        return label_continuations(self.discrimination_prompt, n_options)

    def option_text(self, example: Example, completion: str) -> str:
        """How a candidate is shown as a discrimination option (the completion itself by default)."""
        return completion

    def extract(self, completion: str) -> tuple[str | None, str]:
        """The final answer in ``completion`` and how it was found (strict, flexible or none)."""
        return extract_number(completion)

    def score(self, example: Example, completion: str) -> float:
        """1.0 when the extracted answer equals the reference, else 0.0."""
        answer, _ = self.extract(completion)
        return 1.0 if numbers_equal(answer, example.reference) else 0.0

    def describe(self) -> dict[str, Any]:
        """The options that define this task's questions and protocol (shown in results)."""
        return {
            "generation_max_tokens": self.generation.max_new_tokens,
            "discrimination_max_tokens": self.discrimination.max_new_tokens,
            "discrimination_prompt": self.discrimination_prompt,
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
                "demonstrations": len(self.discrimination_demos()),
                "prompt_variant": self.discrimination_prompt,
                "decoding": "greedy",
            },
        }
