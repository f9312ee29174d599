"""A synthetic arithmetic task generated in code: needs no download and is the embedded default.

Questions are drawn from a stream seeded by the task's ``seed``, so ``--limit`` takes a stable prefix and
two machines see the same questions. A drawn expression that repeats an earlier question or one of the
task's own demonstrations is skipped: every question is asked once, and never one the prompt answers.
"""

from __future__ import annotations

import random
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.tasks.base import Task


def evaluate(expression: str) -> int:
    """The value of a ``+ - *`` expression of non-negative integers, with the usual precedence."""
    total, product, sign, number = 0, 1, 1, ""
    for char in expression + "+":
        if char.isdigit():
            number += char
            continue
        product *= int(number)
        number = ""
        if char == "*":
            continue
        total += sign * product
        product, sign = 1, (1 if char == "+" else -1)
    return total


def make_expression(rng: random.Random, terms: int, max_operand: int, operators: str) -> str:
    parts = [str(rng.randint(0, max_operand))]
    for _ in range(terms - 1):
        parts += [rng.choice(operators), str(rng.randint(0, max_operand))]
    return "".join(parts)


def near_miss(value: int, rng: random.Random) -> int:
    """A plausible wrong answer: off by one, by ten, or by a sign."""
    return rng.choice([value + 1, value - 1, value + 10, value - 10, -value if value else 2, value + 2])


class ArithmeticTask(Task):
    """``Q: 7*8=`` / ``A: 56``: seeded expressions over small integers (harder with more terms or digits)."""

    name = "arithmetic"
    generation = DecodeSpec(max_new_tokens=8, stop=("\n",))
    discrimination = DecodeSpec(max_new_tokens=8, stop=("\n",))
    # The fixture checkpoint was trained on this compact layout, so it is the task's only variant.
    instructions = {"compact": "Which is correct?"}

    def __init__(
        self,
        size: int = 200,
        terms: int = 2,
        max_operand: int = 9,
        operators: str = "+-*",
        seed: int = 0,
        shots: int = 2,
        **protocol: Any,
    ) -> None:
        if size < 1 or terms < 1 or max_operand < 1 or shots < 0:
            raise SelfDiscError("Arithmetic options size, terms and max_operand must be >= 1 and shots >= 0.")
        if not operators or set(operators) - set("+-*"):
            raise SelfDiscError(f"Arithmetic operators must be a non-empty mix of '+-*', not {operators!r}.")
        self.size, self.terms, self.max_operand = size, terms, max_operand
        self.operators, self.seed, self.shots = operators, seed, shots
        self.set_protocol(**protocol)
        available = (max_operand + 1) ** terms * len(set(operators)) ** (terms - 1)
        if size > available - shots - 1:
            raise SelfDiscError(
                f"Arithmetic size {size} is too large for terms={terms}, max_operand={max_operand}, operators="
                f"{operators!r} (at most {available} distinct expressions); lower size or raise max_operand."
            )

    def describe(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "terms": self.terms,
            "max_operand": self.max_operand,
            "operators": self.operators,
            "seed": self.seed,
            "shots": self.shots,
            **super().describe(),
        }

    def example(self, index: int, stream: str = "test") -> Example:
        """Question ``index`` of a stream (``test`` is evaluated; ``shots``/``demo``/``train`` are not)."""
        rng = random.Random(f"arithmetic:{stream}:{self.seed}:{index}")
        expression = make_expression(rng, self.terms, self.max_operand, self.operators)
        return Example(id=f"{stream}-{index}", question=expression, reference=str(evaluate(expression)))

    def load(self, limit: int | None = None) -> list[Example]:
        count = self.size if limit is None else min(limit, self.size)
        seen = {self.example(i, "shots").question for i in range(self.shots)} | {self.example(0, "demo").question}
        examples: list[Example] = []
        draw = 0
        while len(examples) < count:
            if draw > 100 * self.size:  # only when nearly every expression is already taken
                raise SelfDiscError(
                    f"Arithmetic found only {len(examples)} distinct questions for size {self.size}; lower size "
                    "or raise max_operand."
                )
            example = self.example(draw)
            draw += 1
            if example.question not in seen:
                seen.add(example.question)
                examples.append(
                    Example(id=f"test-{len(examples)}", question=example.question, reference=example.reference)
                )
        return examples

    def prompt(self, example: Example) -> Prompt:
        shots = tuple(
            (self.query(shot.question), shot.reference)
            for shot in (self.example(i, "shots") for i in range(self.shots))
        )
        return Prompt(query=self.query(example.question), shots=shots, answer_prefix="A:")

    @staticmethod
    def query(expression: str) -> str:
        return f"Q: {expression}="

    def option_text(self, example: Example, completion: str) -> str:
        """The full claim (``7*8=54``), so each option can be checked on its own."""
        return f"{example.question}={completion.strip()}"

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        demo = self.example(0, "demo")
        rng = random.Random(f"arithmetic:demo-options:{self.seed}")
        value = int(demo.reference)
        answers = [str(near_miss(value, rng)), demo.reference, str(near_miss(value, rng)), demo.reference]
        options = tuple(self.option_text(demo, answer) for answer in answers)
        # No reasoning: the response is the label alone, "(2)" (the form the fixture checkpoint learned).
        return [DiscriminationDemo.compact(demo.question, options, "", 1)]
