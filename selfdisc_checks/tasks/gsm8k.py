"""GSM8K grade-school math (Cobbe et al., 2021): the hub's ``openai/gsm8k`` or a local JSONL copy.

Generation follows lm-evaluation-harness's default ``gsm8k`` task, which the paper ran: five worked
examples as ``Question: ...\\nAnswer: <solution ending #### n>`` blocks separated by blank lines (for chat
models, user/assistant turns), the stop sequences ``Question:``, ``</s>``, ``<|im_end|>``, 256 new tokens,
and both of its answer filters (strict ``#### n``, flexible last number), reported side by side.
Discrimination follows the paper's GSM8K prompt structure (see ``discrimination.prompt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.numbers import extract_strict
from selfdisc_checks.tasks.base import Task

# Worked examples written for this project in GSM8K's answer format (not taken from its train split).
_SHOTS = (
    (
        "A baker makes 4 trays of 12 rolls and sells 30 rolls. How many rolls are left?",
        "The baker makes 4 * 12 = <<4*12=48>>48 rolls.\nAfter selling 30, 48 - 30 = <<48-30=18>>18 rolls are left.\n"
        "#### 18",
    ),
    (
        "Tom reads 15 pages a day for 6 days, then 20 pages on the seventh day. How many pages does he read that week?",
        "In six days he reads 15 * 6 = <<15*6=90>>90 pages.\nWith the seventh day he reads 90 + 20 = <<90+20=110>>110 "
        "pages.\n#### 110",
    ),
    (
        "A shirt costs $25 and is on sale for 20% off. What is the sale price in dollars?",
        "The discount is 25 * 20 / 100 = <<25*20/100=5>>5 dollars.\nThe sale price is 25 - 5 = <<25-5=20>>20 dollars.\n"
        "#### 20",
    ),
    (
        "Mia has 3 boxes with 8 crayons each. She gives away half of her crayons. How many crayons does she keep?",
        "Mia has 3 * 8 = <<3*8=24>>24 crayons.\nShe keeps half of them, 24 / 2 = <<24/2=12>>12 crayons.\n#### 12",
    ),
    (
        "A train travels at 60 miles per hour for 2 hours and then at 45 miles per hour for 1 hour. How many miles "
        "does it travel in total?",
        "In the first 2 hours it travels 60 * 2 = <<60*2=120>>120 miles.\nIn the last hour it travels 45 * 1 = "
        "<<45*1=45>>45 miles.\nIn total it travels 120 + 45 = <<120+45=165>>165 miles.\n#### 165",
    ),
)

_SHEEP = "A farmer has 5 pens with 7 sheep each. He sells 9 sheep. How many sheep remain?"
_SHEEP_OPTIONS = (
    "The farmer has 5 + 7 = <<5+7=12>>12 sheep.\nAfter selling 9, he has 12 - 9 = <<12-9=3>>3 sheep.\n#### 3",
    "The farmer has 5 * 7 = <<5*7=35>>35 sheep.\nAfter selling 9, he has 35 - 9 = <<35-9=26>>26 sheep.\n#### 26",
    "The farmer has 5 * 7 = <<5*7=35>>35 sheep.\nHe sells 9, so 35 - 9 = <<35-9=24>>24 sheep remain.\n#### 24",
)
_TICKETS = "A ticket costs $8. How much do 3 adult tickets and 2 half-price child tickets cost?"
_TICKET_OPTIONS = (
    "3 adult tickets cost 3 * 8 = <<3*8=24>>24 dollars.\n2 child tickets cost 2 * 8 = <<2*8=16>>16 dollars.\n"
    "In total 24 + 16 = <<24+16=40>>40 dollars.\n#### 40",
    "3 adult tickets cost 3 * 8 = <<3*8=24>>24 dollars.\nA child ticket costs 8 / 2 = <<8/2=4>>4 dollars, so 2 cost "
    "2 * 4 = <<2*4=8>>8 dollars.\nThe difference is 24 - 8 = <<24-8=16>>16 dollars.\n#### 16",
    "3 adult tickets cost 3 * 8 = <<3*8=24>>24 dollars.\nA child ticket costs 8 / 2 = <<8/2=4>>4 dollars, so 2 cost "
    "2 * 4 = <<2*4=8>>8 dollars.\nIn total 24 + 8 = <<24+8=32>>32 dollars.\n#### 32",
    "A child ticket costs 8 / 2 = <<8/2=4>>4 dollars.\nThe 3 + 2 = <<3+2=5>>5 tickets cost 5 * 4 = <<5*4=20>>20 "
    "dollars.\n#### 20",
)

# Worked demonstrations: "{n}" in the reasoning is option n's label (see discrimination.prompt).
_DEMOS = {
    "paper": (
        DiscriminationDemo.paper(
            _SHEEP,
            _SHEEP_OPTIONS,
            "Answer ({1}) adds the pens and the sheep per pen, 5 + 7, but there are 5 * 7 = 35 sheep, so it is "
            "wrong.\nAnswer ({2}) finds 5 * 7 = 35 sheep and then 35 - 9 = 26. Both steps are right.\n"
            "Answer ({3}) finds 35 sheep, but 35 - 9 is 26, not 24, so it is wrong.",
            1,
        ),
        DiscriminationDemo.paper(
            _TICKETS,
            _TICKET_OPTIONS,
            "Answer ({1}) charges the full $8 for the child tickets, but they are half price, so it is wrong.\n"
            "Answer ({2}) finds both costs but subtracts them instead of adding them, so it is wrong.\n"
            "Answer ({3}) finds 24 dollars for the adults and 8 dollars for the children, and 24 + 8 = 32. "
            "This is right.\nAnswer ({4}) charges the half price for the adult tickets too, so it is wrong.",
            2,
        ),
    ),
    "compact": (
        DiscriminationDemo.compact(
            _SHEEP, _SHEEP_OPTIONS, "Option {2} multiplies the pens by the sheep per pen and subtracts correctly.", 1
        ),
        DiscriminationDemo.compact(
            _TICKETS,
            _TICKET_OPTIONS,
            "Child tickets cost half of $8, so the total is 24 + 8 = 32, as in option {3}.",
            2,
        ),
    ),
}

HUB_ID, HUB_CONFIG, HUB_SPLIT = "openai/gsm8k", "main", "test"


class GSM8KTask(Task):
    """Chain-of-thought math word problems scored on the final number."""

    name = "gsm8k"
    generation = DecodeSpec(max_new_tokens=256, stop=("Question:", "</s>", "<|im_end|>"))
    # The paper's code allowed 4096; 1024 lets small chat models finish reasoning about four candidates.
    discrimination = DecodeSpec(max_new_tokens=1024, stop=("Question:", "</s>", "<|im_end|>"))
    instructions = {
        "paper": (
            "Check how each candidate answer was reached, step by step, and decide which one is correct. "
            'End with the line "Therefore, the final choice is:" followed by a line "### <number of the '
            'correct answer>".'
        ),
        "compact": "Which option answers the question correctly? Give the option number on the last line.",
    }

    def __init__(self, data: str | Path | None = None, shots: int = 5, **protocol: Any) -> None:
        if not 0 <= shots <= len(_SHOTS):
            raise SelfDiscError(f"GSM8K shots must be between 0 and {len(_SHOTS)}, not {shots}.")
        self.data = Path(data) if data is not None else None
        self.shots = shots
        self.set_protocol(**protocol)

    def describe(self) -> dict[str, Any]:
        where = str(self.data) if self.data else f"hub:{HUB_ID}/{HUB_CONFIG}/{HUB_SPLIT}"
        return {"data": where, "shots": self.shots, **super().describe()}

    def load(self, limit: int | None = None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_records

        rows = load_records(
            self.data, hub=(HUB_ID, HUB_CONFIG, HUB_SPLIT), fields=("question", "answer"), task=self.name, limit=limit
        )
        examples = []
        for index, row in enumerate(rows):
            answer = str(row["answer"])
            reference = extract_strict("#### " + answer.rsplit("####", 1)[-1].strip()) if "####" in answer else None
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
        return list(_DEMOS[self.discrimination_prompt])
