"""MT-Bench (Zheng et al., 2023): 80 open questions in eight categories, graded 1-10 by a judge model.

Data: FastChat's ``question.jsonl`` (``question_id``, ``category``, ``turns``, optional ``reference``), given
with ``--data mtbench=PATH``, or the same schema from the hub (``lighteval/mt-bench``, split ``train``).
Generation answers the first turn as a single user message (the second turn is not asked: its answer
depends on each candidate's first answer, which would give every candidate a different question). Each
candidate is graded alone (single-answer grading) by ``--judge-model``: the judge ends with ``[[rating]]``;
questions with a reference answer (math, reasoning, coding) show it to the judge. The grading prompts are
this project's own; ``judge_prompts=PATH`` (a task option) uses FastChat's ``judge_prompts.jsonl`` instead
(``single-v1``, and ``single-math-v1`` where a reference exists). Scores are ratings normalised to [0, 1] as
(rating - 1) / 9; the results also give them on the 1-10 scale. A missing rating leaves the candidate
unscored and is counted, never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.judge import check_judge_style, leading_number, parse_rating
from selfdisc_checks.tasks.base import Task

HUB_ID, HUB_CONFIG, HUB_SPLIT = "lighteval/mt-bench", None, "train"
LOW, HIGH = 1, 10

JUDGE_SYSTEM = "You are an impartial and demanding judge of answers written by AI assistants."
JUDGE_INSTRUCTION = (
    "Rate the assistant's answer to the user's question for helpfulness, correctness, depth and clarity. "
    "Be strict: a fluent answer with a wrong fact or a wrong result is a poor answer. Explain your assessment "
    "in a few sentences, then give a rating from 1 to 10 in exactly this form: [[rating]], for example [[6]]."
)
JUDGE_INSTRUCTION_FIRST = (
    "Rate the assistant's answer to the user's question for helpfulness, correctness, depth and clarity, from 1 to "
    "10. Be strict: a fluent answer with a wrong fact or a wrong result is a poor answer. Reply with the rating "
    "alone, in exactly this form: [[rating]], for example [[6]]."
)
JUDGE_REFERENCE = "Compare the answer with the reference answer below; a different final result is wrong."

# Demonstrations written for this project: short options so the prompt stays within small models' context.
_WRITING = "Write a two-sentence invitation to a neighbourhood book club."
_WRITING_OPTIONS = (
    "Book club. Thursday.",
    "Join our neighbourhood book club this Thursday at 7 pm in the library's reading room! Bring a favourite "
    "novel and meet neighbours who love stories as much as you do.",
    "I like books and reading is a good habit that many people enjoy in their free time.",
)
_MATH = "A rectangle is 8 cm long and 5 cm wide. What is its area?"
_MATH_OPTIONS = (
    "The area is 8 + 5 = 13 square centimetres.",
    "The area is 2 * (8 + 5) = 26 square centimetres.",
    "The area is length times width: 8 * 5 = 40 square centimetres.",
)
_ADVICE = "Give one practical tip for sleeping better."
_ADVICE_OPTIONS = (
    "Keep a regular schedule: going to bed and getting up at the same time every day, weekends included, "
    "steadies your body clock and makes falling asleep easier.",
    "Sleep is important.",
    "Drink a large coffee before bed so that you are relaxed.",
)

# Worked demonstrations: "{n}" in the reasoning is option n's label (see discrimination.prompt).
_DEMOS = {
    "paper": (
        DiscriminationDemo.paper(
            _WRITING,
            _WRITING_OPTIONS,
            "Option {1} is not two sentences and lacks warmth. Option {3} does not invite anyone. Option {2} is two "
            "sentences, gives the time and place, and is inviting.",
            1,
        ),
        DiscriminationDemo.paper(
            _MATH,
            _MATH_OPTIONS,
            "The area of a rectangle is length times width. Option {1} adds the sides and option {2} computes the "
            "perimeter. Option {3} multiplies: 8 * 5 = 40.",
            2,
        ),
        DiscriminationDemo.paper(
            _ADVICE,
            _ADVICE_OPTIONS,
            "Option {2} gives no tip. Option {3} is wrong: caffeine keeps you awake. Option {1} is a practical, "
            "correct tip with a reason.",
            0,
        ),
    ),
    "compact": (
        DiscriminationDemo.compact(
            _WRITING, _WRITING_OPTIONS, "Option {2} is a complete, inviting two-sentence invitation.", 1
        ),
        DiscriminationDemo.compact(_MATH, _MATH_OPTIONS, "Area is length times width, 40, as in option {3}.", 2),
        DiscriminationDemo.compact(_ADVICE, _ADVICE_OPTIONS, "Option {1} is a correct, practical tip.", 0),
    ),
}


class MTBenchTask(Task):
    """Open questions (writing, roleplay, reasoning, math, coding, extraction, STEM, humanities), graded."""

    name = "mtbench"
    generation = DecodeSpec(max_new_tokens=512, stop=("</s>", "<|im_end|>"))
    discrimination = DecodeSpec(max_new_tokens=1024, stop=("</s>", "<|im_end|>"))
    judge_decoding = DecodeSpec(max_new_tokens=512, stop=("</s>", "<|im_end|>"))
    judged = True
    needs_judge = True
    scale = {"unit": "rating", "low": LOW, "high": HIGH}
    majority_by = "consensus"
    instructions = {
        "paper": (
            "Check each candidate answer for correctness, helpfulness and completeness, and decide which one "
            'answers the question best. End with the line "Therefore, the final choice is:" followed by a line '
            '"### <number of the best answer>".'
        ),
        "compact": "Which option answers the question best? Give the option number on the last line.",
    }

    def __init__(
        self,
        data: str | Path | None = None,
        judge_prompts: str | Path | None = None,
        judge_style: str = "explain",
        **protocol: Any,
    ) -> None:
        self.data = Path(data) if data is not None else None
        self.judge_style = check_judge_style(judge_style, self.name)
        if judge_style == "verdict-first":  # the judge continues "Rating: [[": the rating comes first, nothing else
            self.judge_lead = "Rating: [["
            self.judge_decoding = DecodeSpec(max_new_tokens=8, stop=("]]", "</s>", "<|im_end|>"))
        self.judge_prompts = Path(judge_prompts) if judge_prompts is not None else None
        self._templates = _fastchat_templates(self.judge_prompts) if self.judge_prompts else None
        self.set_protocol(**protocol)

    def describe(self) -> dict[str, Any]:
        where = str(self.data) if self.data else f"hub:{HUB_ID}/{HUB_SPLIT}"
        return {"data": where, "judge_style": self.judge_style, **super().describe()}

    def load(self, limit: int | None = None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_records

        rows = load_records(
            self.data,
            hub=(HUB_ID, HUB_CONFIG, HUB_SPLIT),
            fields=("question_id", "category", "turns"),
            task=self.name,
            limit=limit,
        )
        examples = []
        for index, row in enumerate(rows):
            turns = row.get("turns")
            if not isinstance(turns, list) or not turns or not str(turns[0]).strip():
                raise SelfDiscError(
                    f"Row {index + 1} of {self.data or HUB_ID} has no first turn; MT-Bench rows need 'turns', a list "
                    "of one or two questions."
                )
            references = [str(r) for r in (row.get("reference") or []) if r]
            examples.append(
                Example(
                    id=f"mtbench-{row['question_id']}",
                    question=str(turns[0]),
                    reference=references[0] if references else "",
                    meta={"category": str(row["category"]), "reference": references[0] if references else None},
                )
            )
        return examples

    def prompt(self, example: Example) -> Prompt:
        return Prompt(query=example.question)

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        return list(_DEMOS[self.discrimination_prompt])

    def extract(self, completion: str) -> tuple[str | None, str]:
        """Open answers have no short answer to extract; majority vote uses the most agreed-with candidate."""
        return None, "none"

    def score(self, example: Example, completion: str) -> float:
        raise SelfDiscError("Task 'mtbench' is graded by a judge model; pass --judge-model PATH_OR_ID.")

    def judge_prompt(self, example: Example, completion: str) -> Prompt:
        reference = example.meta.get("reference")
        if self._templates is not None:
            name = "single-math-v1" if reference else "single-v1"
            system, template = self._templates[name]
            values = {"question": example.question, "answer": completion.strip(), "ref_answer_1": reference or ""}
            return Prompt(query=template.format(**values), system=system or None)
        parts = [f"[Question]\n{example.question}"]
        if reference:
            parts.append(f"[Reference answer]\n{reference}")
        parts.append(f"[The assistant's answer]\n{completion.strip() or '(empty)'}")
        instruction = JUDGE_INSTRUCTION_FIRST if self.judge_lead else JUDGE_INSTRUCTION
        parts.append(f"{instruction} {JUDGE_REFERENCE}" if reference else instruction)
        return Prompt(query="\n\n".join(parts), system=JUDGE_SYSTEM)

    def read_judgement(self, example: Example, completion: str, output: str) -> float | None:
        rating = leading_number(output, LOW, HIGH) if self.judge_lead else parse_rating(output, LOW, HIGH)
        return None if rating is None else (rating - LOW) / (HIGH - LOW)

    def judge_protocol(self) -> dict[str, Any]:
        source = f"fastchat:{self.judge_prompts.name}" if self.judge_prompts else "selfdisc single-answer v1"
        return {
            "prompt": source,
            "verdict": "[[rating]] 1-10",
            "style": self.judge_style,
            "lead": self.judge_lead,
            "max_new_tokens": self.judge_decoding.max_new_tokens,
        }


def _fastchat_templates(path: Path) -> dict[str, tuple[str, str]]:
    """FastChat's single-answer grading prompts (name -> (system prompt, template)) from judge_prompts.jsonl."""
    if not path.is_file():
        raise SelfDiscError(f"judge_prompts file {path} does not exist; point it at FastChat's judge_prompts.jsonl.")
    templates: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            templates[record["name"]] = (record.get("system_prompt") or "", record["prompt_template"])
        except (ValueError, KeyError, TypeError):
            raise SelfDiscError(
                f"Line {number} of {path} is not a judge prompt (JSON with name and prompt_template); use FastChat's "
                "judge_prompts.jsonl."
            ) from None
    missing = [name for name in ("single-v1", "single-math-v1") if name not in templates]
    if missing:
        raise SelfDiscError(
            f"{path} lacks the judge prompt(s) {', '.join(missing)}; use FastChat's judge_prompts.jsonl."
        )
    return templates
