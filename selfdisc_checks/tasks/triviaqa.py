"""TriviaQA, closed book (Joshi et al., 2017): the hub's ``mandarjoshi/trivia_qa`` (``rc.nocontext``,
``validation``), a local file in that schema, or DPR's QA file (``trivia-test.qa.csv``: the 11,313 questions
of the unfiltered validation set, tab-separated, answers as a Python list).

Generation follows lm-evaluation-harness's ``triviaqa`` task: ``Question: {question}?\\nAnswer:``, with the
harness's ``?`` appended even though most questions already end with one (so the model reads ``...??``, as
it does in the harness), answers after a space, blocks separated by a blank line, stopped at ``\\n``, ``.``
or ``,``. The harness runs zero shots unless asked; here five short question-answer pairs written for this
project come first by default (``shots``), so that a base model answers in the format at all.

A candidate scores 1 when its answer (the first line, without an ``Answer:`` tag; see
``scoring.text.extract_short_answer``) equals one of the question's answer aliases after TriviaQA's
official normalisation (lower case, punctuation to spaces, articles removed, spaces collapsed). That is a
little more lenient than the harness's ``exact_match`` (which ignores case and deletes punctuation but keeps
articles): ``The Beatles`` matches the alias ``Beatles`` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdisc_checks.discrimination.prompt import DiscriminationDemo
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.text import exact_match_any, extract_short_answer, normalize_answer
from selfdisc_checks.tasks.base import Task

HUB_ID, HUB_CONFIG, HUB_SPLIT = "mandarjoshi/trivia_qa", "rc.nocontext", "validation"

# Question-answer pairs written for this project in TriviaQA's style; no answer holds a "." or "," (the
# stop sequences would cut it).
_SHOTS = (
    ("In which country are the ruins of the ancient city of Petra?", "Jordan"),
    ("Which composer wrote the opera The Magic Flute?", "Wolfgang Amadeus Mozart"),
    ("Which chemical element has the symbol Fe?", "Iron"),
    ("What is the largest ocean on Earth?", "The Pacific Ocean"),
    ("Who painted the ceiling of the Sistine Chapel?", "Michelangelo"),
)

_VIENNA = "Which river flows through the city of Vienna?"
_VIENNA_OPTIONS = ("The Rhine", "The Danube", "The Elbe")
_ORWELL = "Who wrote the novel Nineteen Eighty-Four?"
_ORWELL_OPTIONS = ("Aldous Huxley", "Ray Bradbury", "George Orwell", "Aldous Huxley")

# Worked demonstrations: "{n}" in the reasoning is option n's label (see discrimination.prompt).
_DEMOS = {
    "paper": (
        DiscriminationDemo.paper(
            _VIENNA,
            _VIENNA_OPTIONS,
            "Answer ({1}), the Rhine, flows through Basel, Strasbourg and Cologne, but not through Vienna.\n"
            "Answer ({2}), the Danube, flows through Vienna on its way to the Black Sea. This is right.\n"
            "Answer ({3}), the Elbe, flows through Dresden and Hamburg, far from Vienna.",
            1,
        ),
        DiscriminationDemo.paper(
            _ORWELL,
            _ORWELL_OPTIONS,
            "Answers ({1}) and ({4}), Aldous Huxley, wrote Brave New World, a different dystopian novel.\n"
            "Answer ({2}), Ray Bradbury, wrote Fahrenheit 451, not Nineteen Eighty-Four.\n"
            "Answer ({3}), George Orwell, published Nineteen Eighty-Four in 1949. This is right.",
            2,
        ),
    ),
    "compact": (
        DiscriminationDemo.compact(_VIENNA, _VIENNA_OPTIONS, "The Danube flows through Vienna, as option {2} says.", 1),
        DiscriminationDemo.compact(
            _ORWELL, _ORWELL_OPTIONS, "Nineteen Eighty-Four is George Orwell's novel, option {3}.", 2
        ),
    ),
}

_STOP = ("Question:", "</s>", "<|im_end|>")


class TriviaQATask(Task):
    """Closed-book trivia questions scored by normalised exact match against any answer alias."""

    name = "triviaqa"
    # The harness's stop sequences; its default limit is 256 new tokens, but an answer cut at "\n", "." or
    # "," is a few words, so 32 is ample and keeps rambling chat answers short.
    generation = DecodeSpec(max_new_tokens=32, stop=("\n", ".", ","))
    discrimination = DecodeSpec(max_new_tokens=512, stop=_STOP)
    instructions = {
        "paper": (
            "Check each candidate answer against what you know about the question and decide which one is "
            'correct. End with the line "Therefore, the final choice is:" followed by a line "### <number of '
            'the correct answer>".'
        ),
        "compact": "Which option answers the question correctly? Give the option number on the last line.",
    }

    def __init__(self, data: str | Path | None = None, shots: int = 5, **protocol: Any) -> None:
        if not isinstance(shots, int) or not 0 <= shots <= len(_SHOTS):
            raise SelfDiscError(f"TriviaQA shots must be between 0 and {len(_SHOTS)}, not {shots!r}.")
        self.data = Path(data) if data is not None else None
        self.shots = shots
        self.set_protocol(**protocol)

    @property
    def data_format(self) -> str:
        """``dpr`` for DPR's tab-separated QA files (by extension), else ``hub`` (the hub's schema)."""
        from selfdisc_checks.tasks.data import DPR_EXTENSIONS

        return "dpr" if self.data is not None and self.data.suffix.lower() in DPR_EXTENSIONS else "hub"

    def describe(self) -> dict[str, Any]:
        where = str(self.data) if self.data else f"hub:{HUB_ID}/{HUB_CONFIG}/{HUB_SPLIT}"
        return {"data": where, "format": self.data_format, "shots": self.shots, **super().describe()}

    def load(self, limit: int | None = None) -> list[Example]:
        if self.data_format == "dpr":
            return self._load_dpr(limit)
        from selfdisc_checks.tasks.data import load_records

        rows = load_records(
            self.data,
            hub=(HUB_ID, HUB_CONFIG, HUB_SPLIT),
            fields=("question", "answer"),
            task=self.name,
            limit=limit,
        )
        where = self.data or HUB_ID
        examples = []
        for index, row in enumerate(rows):
            question = str(row["question"] or "").strip()
            answer = row["answer"]
            aliases = answer.get("aliases") if isinstance(answer, dict) else None
            value = answer.get("value") if isinstance(answer, dict) else None
            aliases = [a for a in aliases if isinstance(a, str) and a.strip()] if isinstance(aliases, list) else []
            value = value.strip() if isinstance(value, str) else ""
            if value and value not in aliases:
                aliases.append(value)
            if not question or not aliases:
                missing = "a question" if not question else "an 'answer' with a 'value' or 'aliases'"
                raise SelfDiscError(
                    f"Row {index + 1} of {where} lacks {missing}; TriviaQA rows need 'question' and 'answer' "
                    "{'value', 'aliases'} as in the hub's mandarjoshi/trivia_qa."
                )
            identifier = row.get("question_id") or f"row-{index}"
            examples.append(
                Example(id=str(identifier), question=question, reference=value or aliases[0], meta={"aliases": aliases})
            )
        return examples

    def _load_dpr(self, limit: int | None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_dpr_qa

        assert self.data is not None  # only a local file is read as DPR
        rows = load_dpr_qa(self.data, self.name, limit)
        if not rows:
            raise SelfDiscError(f"Data file {self.data} has no rows; task {self.name!r} needs at least one question.")
        # DPR has no canonical value: the reference shown is the first alias that normalisation leaves
        # something of (not '+-*/' for "Arithmetic"); every alias scores.
        return [
            Example(
                id=f"dpr-{row['row']}",
                question=row["question"],
                reference=next((a for a in row["answers"] if normalize_answer(a)), row["answers"][0]),
                meta={"aliases": list(row["answers"])},
            )
            for row in rows
        ]

    def prompt(self, example: Example) -> Prompt:
        shots = tuple((f"Question: {q}?", a) for q, a in _SHOTS[: self.shots])
        return Prompt(query=f"Question: {example.question}?", shots=shots, answer_prefix="Answer:")

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        return list(_DEMOS[self.discrimination_prompt])

    def extract(self, completion: str) -> tuple[str | None, str]:
        """The normalised answer (so that majority votes count ``The Beatles`` and ``beatles`` as one)."""
        answer, how = extract_short_answer(completion)
        normalised = normalize_answer(answer) if answer is not None else ""
        return (normalised, how) if normalised else (None, "none")

    def score(self, example: Example, completion: str) -> float:
        answer, _ = self.extract(completion)
        aliases = example.meta.get("aliases") or [example.reference]
        return 1.0 if exact_match_any(answer, aliases) else 0.0
