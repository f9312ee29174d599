"""GSM8K grade-school math (Cobbe et al., 2021): the hub's ``openai/gsm8k`` or a local JSONL copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.scoring.numbers import extract_strict
from selfdisc_checks.records import Example, Prompt
from selfdisc_checks.records import DecodeSpec
from selfdisc_checks.tasks.base import Task

# Worked examples written for this project (not taken from the GSM8K train split).
_SHOTS = (
    (
        "A baker makes 4 trays of 12 rolls and sells 30 rolls. How many rolls are left?",
        "The baker makes 4 * 12 = 48 rolls. After selling 30, 48 - 30 = 18 rolls are left. The answer is 18.",
    ),
    (
        "Tom reads 15 pages a day for 6 days, then 20 pages on the seventh day. How many pages does he read?",
        "In six days he reads 15 * 6 = 90 pages. Adding the seventh day gives 90 + 20 = 110. The answer is 110.",
    ),
    (
        "A shirt costs $25 and is on sale for 20% off. What is the sale price in dollars?",
        "The discount is 25 * 0.2 = 5 dollars, so the price is 25 - 5 = 20 dollars. The answer is 20.",
    ),
    (
        "Mia has 3 boxes with 8 crayons each and gives away half of all her crayons. How many does she keep?",
        "She has 3 * 8 = 24 crayons. Half of 24 is 24 / 2 = 12. The answer is 12.",
    ),
)

_DEMOS = (
    DiscriminationDemo(
        question="A farmer has 5 pens with 7 sheep each. He sells 9 sheep. How many sheep remain?",
        options=(
            "5 * 7 = 35 sheep. 35 - 9 = 26. The answer is 26.",
            "5 + 7 = 12 sheep. 12 - 9 = 3. The answer is 3.",
            "5 * 7 = 35 sheep. 35 - 9 = 24. The answer is 24.",
        ),
        response="Option 1 multiplies the pens by the sheep per pen and subtracts correctly.\nAnswer: (1)",
    ),
    DiscriminationDemo(
        question="A ticket costs $8. How much do 3 adult tickets and 2 half-price child tickets cost?",
        options=(
            "3 * 8 = 24 and 2 * 8 = 16, so 24 + 16 = 40. The answer is 40.",
            "3 * 8 = 24. A child ticket is 8 / 2 = 4, so 2 * 4 = 8. 24 + 8 = 32. The answer is 32.",
            "3 * 8 = 24 and 2 * 4 = 8, so 24 - 8 = 16. The answer is 16.",
            "Adults pay 24 and children pay 8 in total, 24 + 8 = 32. The answer is 32.",
        ),
        response="Child tickets cost half of $8, so the total is 24 + 8 = 32, as in option 2.\nAnswer: (2)",
    ),
)

HUB_ID, HUB_CONFIG, HUB_SPLIT = "openai/gsm8k", "main", "test"


class GSM8KTask(Task):
    """Chain-of-thought math word problems scored on the final number."""

    name = "gsm8k"
    generation = DecodeSpec(max_new_tokens=256, stop=("\n\nQuestion:", "\nQuestion:"))
    discrimination = DecodeSpec(max_new_tokens=128, stop=("\n\nQuestion:", "\nQuestion:"))

    def __init__(self, data: str | Path | None = None, shots: int = 4) -> None:
        if not 0 <= shots <= len(_SHOTS):
            raise SelfDiscError(f"GSM8K shots must be between 0 and {len(_SHOTS)}, not {shots}.")
        self.data = Path(data) if data is not None else None
        self.shots = shots

    def describe(self) -> dict[str, Any]:
        return {"data": str(self.data) if self.data else f"hub:{HUB_ID}/{HUB_CONFIG}/{HUB_SPLIT}", "shots": self.shots}

    def load(self, limit: int | None = None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_records

        rows = load_records(
            self.data, hub=(HUB_ID, HUB_CONFIG, HUB_SPLIT), fields=("question", "answer"), task=self.name, limit=limit
        )
        examples = []
        for index, row in enumerate(rows):
            reference = extract_strict(str(row["answer"]).rsplit("####", 1)[-1]) if "####" in str(row["answer"]) else None
            if reference is None:
                where = self.data or HUB_ID
                raise SelfDiscError(
                    f"Row {index + 1} of {where} has an 'answer' without a final '#### <number>' line; "
                    "GSM8K answers must end with one."
                )
            examples.append(Example(id=f"test-{index}", question=str(row["question"]), reference=reference))
        return examples

    def prompt(self, example: Example) -> Prompt:
        shots = tuple((f"Question: {q}", a) for q, a in _SHOTS[: self.shots])
        return Prompt(query=f"Question: {example.question}", shots=shots, answer_prefix="Answer:")

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        return list(_DEMOS)
