"""What a task is: data + generation prompt + scorer + discrimination demonstrations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.scoring.numbers import extract_number, numbers_equal
from selfdisc_checks.records import DecodeSpec, Example, Prompt


class Task(ABC):
    """A benchmark: ``load`` its questions, ``prompt`` the model, ``score`` a completion in [0, 1].

    Subclasses set ``name``, ``generation`` and ``discrimination`` and implement ``load``, ``prompt``
    and ``discrimination_demos``. The default scorer extracts a number and compares it numerically.
    """

    name: str = ""
    generation: DecodeSpec = DecodeSpec(max_new_tokens=256)
    discrimination: DecodeSpec = DecodeSpec(max_new_tokens=128)
    discrimination_instruction: str = (
        "Which option answers the question correctly? Give the option number on the last line."
    )

    @abstractmethod
    def load(self, limit: int | None = None) -> list[Example]:
        """The first ``limit`` questions (all when None), in a stable order."""

    @abstractmethod
    def prompt(self, example: Example) -> Prompt:
        """The generation prompt for one question."""

    @abstractmethod
    def discrimination_demos(self) -> list[DiscriminationDemo]:
        """Worked demonstrations shown before each discrimination query."""

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
        """The options that define this task's questions (shown in results)."""
        return {}
