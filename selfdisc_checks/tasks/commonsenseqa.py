"""CommonsenseQA (Talmor et al., 2019): the hub's ``tau/commonsense_qa`` (``validation``: its test split has
no answers) or a local file in that schema (``id``, ``question``, ``choices`` {``label``, ``text``},
``answerKey``).

The question the model reads is lm-evaluation-harness's ``commonsense_qa`` layout: ``Question: <stem>``,
one line per option (``A. bank``), then ``Answer:``. The harness scores that prompt by the likelihood of
each letter; this suite needs a sampled answer, so the model *writes* the letter: five solved questions
written for this project come first (``shots``), each answered with its letter alone, and generation
stops at the end of the line, within 32 new tokens (room for a chat model's ``The answer is B. bank``).

A candidate scores 1 when the letter it gives (``scoring.text.extract_letter``: strict when the answer
opens with the letter, flexible for a later ``answer is X``) is the answer key. In discrimination each
candidate is shown as its letter and option text (``B. bank``), so the options mean something on their
own; a candidate without a letter is shown as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.text import extract_letter
from selfdisc_checks.tasks.base import Task

HUB_ID, HUB_CONFIG, HUB_SPLIT = "tau/commonsense_qa", None, "validation"


def format_question(stem: str, choices: dict[str, str]) -> str:
    """The stem and one ``X. text`` line per option: what the model reads after ``Question:``."""
    return "\n".join([stem.strip(), *(f"{label}. {text}" for label, text in choices.items())])


# Questions written for this project in CommonsenseQA's style, answer letters spread over A-E.
_SHOTS = (
    (
        "Where would you keep milk so that it stays cold?",
        {"A": "cupboard", "B": "refrigerator", "C": "oven", "D": "backpack", "E": "mailbox"},
        "B",
    ),
    (
        "What does a person usually do when they feel tired at night?",
        {"A": "run a marathon", "B": "eat breakfast", "C": "go to sleep", "D": "paint a fence", "E": "buy a car"},
        "C",
    ),
    (
        "If you want to cross a wide river without getting wet, what could you use?",
        {"A": "bridge", "B": "towel", "C": "umbrella", "D": "ladder", "E": "blanket"},
        "A",
    ),
    (
        "Where are you likely to find many books that you can borrow?",
        {"A": "bakery", "B": "gym", "C": "garage", "D": "library", "E": "swimming pool"},
        "D",
    ),
    (
        "What would someone put on their feet before going for a run?",
        {"A": "gloves", "B": "a scarf", "C": "earrings", "D": "a hat", "E": "running shoes"},
        "E",
    ),
)

_PLANT = format_question(
    "Where would you put a house plant so that it gets plenty of sunlight?",
    {"A": "basement", "B": "closet", "C": "windowsill", "D": "drawer", "E": "cave"},
)
_PLANT_OPTIONS = ("A. basement", "C. windowsill", "B. closet")
_COLD = format_question(
    "What might someone do to keep warm on a cold day?",
    {
        "A": "wear a coat",
        "B": "open the windows",
        "C": "eat ice cream",
        "D": "take a cold shower",
        "E": "sit in the shade",
    },
)
_COLD_OPTIONS = ("C. eat ice cream", "E. sit in the shade", "C. eat ice cream", "A. wear a coat")

# Worked demonstrations: "{n}" in the reasoning is option n's label (see discrimination.prompt).
_DEMOS = {
    "paper": (
        DiscriminationDemo.paper(
            _PLANT,
            _PLANT_OPTIONS,
            "Answer ({1}), a basement, gets little or no daylight.\n"
            "Answer ({2}), a windowsill, is right next to a window, where the sun shines in. This fits.\n"
            "Answer ({3}), a closet, is dark once its door is shut.",
            1,
        ),
        DiscriminationDemo.paper(
            _COLD,
            _COLD_OPTIONS,
            "Answers ({1}) and ({3}), eating ice cream, cool a person down rather than warm them.\n"
            "Answer ({2}), sitting in the shade, keeps the sun off and makes a cold day feel colder.\n"
            "Answer ({4}), wearing a coat, keeps the body's heat in. This fits.",
            3,
        ),
    ),
    "compact": (
        DiscriminationDemo.compact(_PLANT, _PLANT_OPTIONS, "A windowsill gets the most sunlight, option {2}.", 1),
        DiscriminationDemo.compact(_COLD, _COLD_OPTIONS, "A coat keeps a person warm, option {4}.", 3),
    ),
}

_STOP = ("Question:", "</s>", "<|im_end|>")


class CommonsenseQATask(Task):
    """Five-way multiple-choice commonsense questions, answered with a letter, scored against the key."""

    name = "commonsenseqa"
    generation = DecodeSpec(max_new_tokens=32, stop=("\n", "Question:"))
    discrimination = DecodeSpec(max_new_tokens=512, stop=_STOP)
    instructions = {
        "paper": (
            "Check each candidate answer against the question and common sense, and decide which one is the "
            'best answer. End with the line "Therefore, the final choice is:" followed by a line "### <number '
            'of the correct answer>".'
        ),
        "compact": "Which option answers the question correctly? Give the option number on the last line.",
    }

    def __init__(self, data: str | Path | None = None, shots: int = 5, **protocol: Any) -> None:
        if not isinstance(shots, int) or not 0 <= shots <= len(_SHOTS):
            raise SelfDiscError(f"CommonsenseQA shots must be between 0 and {len(_SHOTS)}, not {shots!r}.")
        self.data = Path(data) if data is not None else None
        self.shots = shots
        self.letters = "ABCDE"  # every option label of the loaded questions (extract has no question)
        self.set_protocol(**protocol)

    def describe(self) -> dict[str, Any]:
        where = str(self.data) if self.data else f"hub:{HUB_ID}/{HUB_SPLIT}"
        return {"data": where, "shots": self.shots, **super().describe()}

    def load(self, limit: int | None = None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_records

        rows = load_records(
            self.data,
            hub=(HUB_ID, HUB_CONFIG, HUB_SPLIT),
            fields=("id", "question", "choices", "answerKey"),
            task=self.name,
            limit=limit,
        )
        where = self.data or HUB_ID
        examples = [self._example(row, index, where) for index, row in enumerate(rows)]
        self.letters = "".join(sorted({letter for e in examples for letter in e.meta["choices"]} | set("ABCDE")))
        return examples

    def _example(self, row: dict[str, Any], index: int, where: object) -> Example:
        def bad(problem: str) -> SelfDiscError:
            return SelfDiscError(
                f"Row {index + 1} of {where} {problem}; CommonsenseQA rows need 'question', 'choices' "
                "{'label': [A, B, ...], 'text': [...]} and an 'answerKey' among the labels, as in the hub's "
                "tau/commonsense_qa validation split."
            )

        stem = row["question"]
        if not isinstance(stem, str) or not stem.strip():
            raise bad("has no question text")
        choices = row["choices"]
        if choices is None:
            raise bad("has no 'choices'")
        labels = choices.get("label") if isinstance(choices, dict) else None
        texts = choices.get("text") if isinstance(choices, dict) else None
        if not (isinstance(labels, list) and isinstance(texts, list) and len(labels) == len(texts) >= 2):
            raise bad("has 'choices' without equally long 'label' and 'text' lists of two or more options")
        if not all(isinstance(label, str) and len(label) == 1 and label.isalpha() for label in labels):
            raise bad(f"has option labels {labels!r} that are not single letters")
        if len({label.upper() for label in labels}) != len(labels):
            raise bad(f"repeats an option label in {labels!r}")
        if not all(isinstance(text, str) and text.strip() for text in texts):
            raise bad("has an empty option text")
        key = row["answerKey"]
        options = {label.upper(): " ".join(text.split()) for label, text in zip(labels, texts, strict=False)}
        if not isinstance(key, str) or key.strip().upper() not in options:
            raise bad(f"has answerKey {key!r}, which is not one of its labels (the hub's test split has none)")
        identifier = row["id"] if row["id"] not in (None, "") else f"row-{index}"
        return Example(
            id=str(identifier),
            question=format_question(stem, options),
            reference=key.strip().upper(),
            meta={"choices": options, "stem": stem.strip()},
        )

    def prompt(self, example: Example) -> Prompt:
        shots = tuple((f"Question: {format_question(q, c)}", key) for q, c, key in _SHOTS[: self.shots])
        return Prompt(query=f"Question: {example.question}", shots=shots, answer_prefix="Answer:")

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        return list(_DEMOS[self.discrimination_prompt])

    def _letters(self, example: Example) -> str:
        return "".join(example.meta.get("choices") or self.letters)

    def extract(self, completion: str) -> tuple[str | None, str]:
        return extract_letter(completion, self.letters)

    def score(self, example: Example, completion: str) -> float:
        letter, _ = extract_letter(completion, self._letters(example))
        return 1.0 if letter is not None and letter == example.reference else 0.0

    def option_text(self, example: Example, completion: str) -> str:
        """``B. bank`` for a candidate that gives a letter of this question; else the completion itself."""
        choices = example.meta.get("choices") or {}
        letter, _ = extract_letter(completion, self._letters(example))
        if letter is None or letter not in choices:
            return completion
        return f"{letter}. {choices[letter]}"
