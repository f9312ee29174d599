"""Tasks defined in ``pyproject.toml``: a question/answer data set, a prompt template and a metric.

A table ``[tool.selfdisc.tasks.NAME]`` (parsed by :func:`parse_definition`) names the data (a local
``.jsonl``/``.json``/``.csv``/``.parquet`` file, relative to ``pyproject.toml``, or a hub id ``org/name``
with ``config`` and ``split``), the ``question`` and ``answer`` fields, and a ``metric``:

- ``numeric``: the number in the completion (strict answer statements first, then the last number, as for
  GSM8K) compared numerically with the answer field;
- ``exact``: the completion's first line equals the answer after normalisation (lower case, punctuation
  removed, the articles a/an/the removed, spaces collapsed); a leading ``The answer is`` / ``Answer:`` is
  dropped first;
- ``exact_any``: the same, against any of the aliases the answer field lists;
- ``choice``: the letter the completion chooses equals the answer (a letter, or a 0-based index); the
  options, when a ``choices`` field holds them, are shown under the question as ``A. ...`` lines.

Field names may be dotted paths into nested records (``answer.aliases``). Optional keys: ``prompt`` (a
template holding ``{question}``, default ``Question: {question}\nAnswer:``; its last line, when it comes
after the question's line, is the answer prefix), ``shots`` (few-shot demonstrations: tables of
``question`` and ``answer``, plus ``choices`` for ``choice``), ``stop`` (default: the template's text before
``{question}``, where the next demonstration would start, and ``</s>``, ``<|im_end|>``), ``max_new_tokens``
(256 for ``numeric``, else 64) and ``choices``. Questions are numbered ``row-0``, ``row-1``, ... in file order.

Discrimination uses the ``compact`` variant by default (``paper`` through the ``discrimination_prompt``
option), 512 new tokens, stopping at ``Question:``. Its demonstrations are built from the first two shots:
each shot's question with two options, its own answer and a wrong one (the first other shot's answer the
metric scores wrong; for ``choice`` another letter), the right one second in the first demonstration and
first in the second. With fewer than two shots there are none.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from selfdisc_checks.discrimination.parse import format_label
from selfdisc_checks.discrimination.prompt import DiscriminationDemo, paper_response
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Example, Prompt
from selfdisc_checks.scoring.numbers import (
    extract_number,
    extract_strict,
    format_number,
    normalize_number,
    numbers_equal,
)
from selfdisc_checks.tasks.base import Task

METRICS = ("numeric", "exact", "exact_any", "choice")
DEFAULT_PROMPT = "Question: {question}\nAnswer:"
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


_Text = Annotated[StrictStr, Field(pattern=r"\S")]  # non-empty, not only spaces


class TaskTable(BaseModel):
    """``[tool.selfdisc.tasks.NAME]``: a task defined in pyproject.toml. Its keys and their TOML types, in the
    order they are checked; what a key means (a known metric, a prompt holding ``{question}``, a file or a hub
    id) is checked after, and each shot by ``_shots``, with their own sentences."""

    model_config = ConfigDict(extra="forbid", title="[tool.selfdisc.tasks.NAME]")

    data: _Text
    question: _Text
    answer: _Text
    metric: _Text
    config: _Text | None = None
    split: _Text | None = None
    choices: _Text | None = None
    prompt: _Text | None = None
    shots: Any = None
    stop: list[Annotated[StrictStr, Field(min_length=1)]] | None = None
    max_new_tokens: Annotated[StrictInt, Field(ge=1)] | None = None


KEYS = tuple(TaskTable.model_fields)
REQUIRED = tuple(name for name, spec in TaskTable.model_fields.items() if spec.is_required())
# What a key must be, for the sentence that refuses a value of the wrong type.
_MUST_BE = {
    **dict.fromkeys(
        ("data", "question", "answer", "metric", "config", "split", "choices", "prompt"), "a non-empty string"
    ),
    "stop": "a list of non-empty strings",
    "max_new_tokens": "a positive integer",
}
DEFAULT_SPLIT = "test"
# Enough for a worked solution on numeric tasks; a short answer, letter or alias needs far fewer.
DEFAULT_MAX_NEW_TOKENS = {"numeric": 256, "exact": 64, "exact_any": 64, "choice": 64}
CHAT_STOPS = ("</s>", "<|im_end|>")
LETTERS = string.ascii_uppercase

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TaskDefinition:
    """One ``[tool.selfdisc.tasks.NAME]`` table, checked; ``data`` is an absolute path when ``local``."""

    name: str
    data: str
    question: str
    answer: str
    metric: str
    local: bool
    config: str | None = None
    split: str = DEFAULT_SPLIT
    choices: str | None = None
    prompt: str = DEFAULT_PROMPT
    shots: tuple[tuple[str, Any, tuple[str, ...]], ...] = ()  # (question, answer, choices)
    stop: tuple[str, ...] | None = None  # None: derived from the prompt (see default_stop)
    max_new_tokens: int | None = None  # None: DEFAULT_MAX_NEW_TOKENS[metric]


def check_task_name(name: str, origin: str) -> None:
    """Refuse a task name that ``--tasks a,b``, pytest ids and file names could not carry."""
    if not _NAME.match(name):
        raise SelfDiscError(
            f"Task name {name!r} ({origin}) may hold only letters, digits, '_', '-' and '.', starting with a "
            "letter or digit."
        )


def parse_definition(name: str, table: Any, base: Path) -> TaskDefinition:
    """Check one ``[tool.selfdisc.tasks.NAME]`` table; every problem is one sentence naming the key."""
    where = f"[tool.selfdisc.tasks.{name}]"
    check_task_name(name, where)
    if not isinstance(table, Mapping):
        raise SelfDiscError(f"{where} must be a table (empty to run a registered task as is), not {table!r}.")
    try:
        TaskTable.model_validate(dict(table))
    except ValidationError as error:
        problems = error.errors(include_url=False)
        unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden")
        if unknown:
            raise SelfDiscError(
                f"{where} has unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(KEYS))}."
            ) from None
        missing = [key for key in REQUIRED if key not in table]
        if missing:
            raise SelfDiscError(
                f"{where} lacks {', '.join(missing)}; a task defined there needs data, question, answer and metric."
            ) from None
        key = str(problems[0]["loc"][0])
        raise SelfDiscError(f"{where} {key} must be {_MUST_BE[key]}, not {table[key]!r}.") from None
    metric = table["metric"]
    if metric not in METRICS:
        raise SelfDiscError(f"{where} metric {metric!r} is not one of {', '.join(METRICS)}.")
    if "choices" in table and metric != "choice":
        raise SelfDiscError(f'{where} choices (a field of options) needs metric "choice", not {metric!r}.')
    prompt = table.get("prompt", DEFAULT_PROMPT)
    if "{question}" not in prompt:
        raise SelfDiscError(
            f"{where} prompt must contain {{question}} where the question goes, e.g. "
            f"{DEFAULT_PROMPT!r}, not {prompt!r}."
        )

    data = table["data"].strip()
    local = data.lower().endswith(DATA_SUFFIXES)
    if not local and (base / Path(data).expanduser()).is_file():
        raise SelfDiscError(
            f"{where} data {data!r} is a file of unknown type; use one ending in {', '.join(DATA_SUFFIXES)}."
        )
    if not local and not _HUB_ID.match(data):
        raise SelfDiscError(
            f"{where} data {data!r} is neither a file ending in {', '.join(DATA_SUFFIXES)} nor a hub id like "
            '"org/name".'
        )
    if local:
        for key in ("config", "split"):
            if key in table:
                raise SelfDiscError(f"{where} {key} applies to hub data sets only, not to the file {data!r}.")
        data = str(base / Path(data).expanduser())

    stop = table.get("stop")
    max_new_tokens = table.get("max_new_tokens")

    return TaskDefinition(
        name=name,
        data=data,
        question=table["question"],
        answer=table["answer"],
        metric=metric,
        local=local,
        config=table.get("config"),
        split=table.get("split", DEFAULT_SPLIT),
        choices=table.get("choices"),
        prompt=prompt,
        shots=_shots(where, table.get("shots", []), metric),
        stop=tuple(stop) if stop is not None else None,
        max_new_tokens=max_new_tokens,
    )


def _shots(where: str, shots: Any, metric: str) -> tuple[tuple[str, Any, tuple[str, ...]], ...]:
    if not isinstance(shots, list):
        raise SelfDiscError(f"{where} shots must be a list of {{question = ..., answer = ...}} tables, not {shots!r}.")
    allowed = {"question", "answer"} | ({"choices"} if metric == "choice" else set())
    parsed = []
    for index, shot in enumerate(shots):
        at = f"{where} shots[{index}]"
        if not isinstance(shot, Mapping):
            raise SelfDiscError(f"{at} must be a table {{question = ..., answer = ...}}, not {shot!r}.")
        unknown = sorted(set(shot) - allowed)
        missing = [key for key in ("question", "answer") if key not in shot]
        if unknown or missing:
            problem = f"has unknown key(s) {', '.join(unknown)}" if unknown else f"lacks {', '.join(missing)}"
            raise SelfDiscError(f"{at} {problem}; a shot holds {', '.join(sorted(allowed))}.")
        question, answer, choices = shot["question"], shot["answer"], shot.get("choices", [])
        if not isinstance(question, str) or not question.strip():
            raise SelfDiscError(f"{at} question must be a non-empty string, not {question!r}.")
        if not isinstance(choices, list) or not all(isinstance(item, str) for item in choices):
            raise SelfDiscError(f"{at} choices must be a list of strings, not {choices!r}.")
        try:
            reference = reference_for(metric, answer, len(choices) or None)
        except ValueError as error:
            raise SelfDiscError(f"{at} answer {answer!r} {error}.") from None
        if metric == "choice" or (metric == "numeric" and not isinstance(answer, str)):
            shown = reference  # the letter; a TOML number written canonically
        else:
            shown = str(answer[0] if isinstance(answer, list) else answer)
        parsed.append((question, shown, tuple(choices)))
    return tuple(parsed)


# --- answers: references from data, extraction and scoring per metric -----------------------------------

_ANSWER_LEAD = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is\b\s*:?|:))\s*", re.IGNORECASE)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
# Strict: the completion opens with the letter (optionally in parentheses) and then ")", ":", "." before a
# space or the end, or the end of the line. Flexible: "answer is X" / "answer: X" with X in parentheses, or
# X followed by punctuation or the end of the line, so "The answer is I think ..." gives nothing.
_LETTER_STRICT = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])(?:[):]|\.(?=\s|$)|[ \t]*(?:\n|$)))")
_LETTER_FLEXIBLE = re.compile(
    r"answer\s*(?:is\b\s*:?|:)\s*(?:\(([A-Z])\)|([A-Z])(?=[.,;:!)]|[ \t]*(?:\n|$)))", re.IGNORECASE
)


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed, articles removed, whitespace collapsed (SQuAD's normalisation)."""
    lowered = text.lower()
    kept = "".join(
        char for char in lowered if char not in string.punctuation and not unicodedata.category(char).startswith("P")
    )
    return " ".join(_ARTICLES.sub(" ", kept).split())


def extract_line(completion: str) -> tuple[str | None, str]:
    """The first non-empty line, without a leading ``The answer is`` / ``Answer:`` (then ``flexible``)."""
    for line in completion.splitlines():
        line = line.strip()
        if not line:
            continue
        stripped = _ANSWER_LEAD.sub("", line, count=1)
        if stripped != line and stripped:
            return stripped, "flexible"
        return line, "strict"
    return None, "none"


def extract_letter(completion: str) -> tuple[str | None, str]:
    """The option letter a completion chooses: strict when it opens with it (``B``, ``B)``, ``(B)``,
    ``B.``, ``B:``), flexible from the last ``answer is X`` / ``answer: X``; never a capital inside prose."""
    text = completion.replace("**", "").replace("`", "")  # markdown emphasis around the letter
    strict = _LETTER_STRICT.match(text)
    if strict:
        return strict.group(1) or strict.group(2), "strict"
    found = list(_LETTER_FLEXIBLE.finditer(text))
    for match in reversed(found):
        letter = match.group(1) or match.group(2)
        if letter and letter.isupper():
            return letter, "flexible"
    return None, "none"


def reference_for(metric: str, value: Any, n_choices: int | None = None) -> str:
    """The canonical reference of one answer value; ``ValueError`` (a clause) when it cannot be one."""
    if metric == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("is not a number")
        text = str(value)
        number = normalize_number(text)
        canonical = format_number(number) if number is not None else extract_strict(text)
        if canonical is None:
            raise ValueError("is not a number, nor text ending in '#### n' or 'The answer is n' (metric numeric)")
        return canonical
    if metric == "exact":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("is not a string (metric exact)")
        if not normalize_text(str(value)):
            raise ValueError("is empty after normalisation (metric exact)")
        return str(value)
    if metric == "exact_any":
        aliases = [value] if isinstance(value, str) else value
        if not isinstance(aliases, list) or not aliases or not all(isinstance(a, (str, int, float)) for a in aliases):
            raise ValueError("is not a non-empty list of aliases (metric exact_any)")
        if not any(normalize_text(str(a)) for a in aliases):
            raise ValueError("has only aliases that are empty after normalisation (metric exact_any)")
        return str(aliases[0])
    # choice
    if isinstance(value, int) and not isinstance(value, bool):
        index = value
    elif isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in LETTERS:
        index = LETTERS.index(value.strip().upper())
    else:
        raise ValueError("is neither a letter nor a 0-based option index (metric choice)")
    limit = n_choices if n_choices is not None else len(LETTERS)
    if not 0 <= index < limit:
        raise ValueError(f"is outside the {limit} options (metric choice)")
    return LETTERS[index]


def default_stop(prompt: str) -> tuple[str, ...]:
    """The template's text before ``{question}`` on its line (where the next few-shot block starts, e.g.
    ``Question:``), and the end-of-turn markers chat models sometimes write out."""
    opening = prompt.split("{question}", 1)[0].rsplit("\n", 1)[-1].strip()
    return ((opening,) if opening else ()) + CHAT_STOPS


def split_template(prompt: str) -> tuple[str, str]:
    """(query template, answer prefix): the last line is the answer prefix when the question is above it."""
    head, newline, last = prompt.rpartition("\n")
    if newline and "{question}" in head and "{question}" not in last:
        return head, last.strip()
    return prompt, ""


def _field(row: Mapping[str, Any], path: str) -> Any:
    """A field of a record: a column name, or a dotted path into nested records (``answer.aliases``)."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def format_question(question: str, choices: list[str] | tuple[str, ...]) -> str:
    """The question with its options as ``A. ...`` lines under it (as MMLU prompts show them)."""
    if not choices:
        return question
    return "\n".join([question, *(f"{LETTERS[i]}. {str(option).strip()}" for i, option in enumerate(choices))])


class DeclarativeTask(Task):
    """A question/answer task from a :class:`TaskDefinition` (see the module docstring)."""

    instructions = {
        "compact": "Which option answers the question correctly? Give the option number on the last line.",
        "paper": (
            "Check each candidate answer against the question and decide which one is correct. End with the "
            'line "Therefore, the final choice is:" followed by a line "### <number of the correct answer>".'
        ),
    }

    def __init__(self, definition: TaskDefinition, data: str | Path | None = None, **protocol: Any) -> None:
        self.definition = definition
        self.name = definition.name
        self.data_override = Path(data) if data is not None else None
        self.query_template, self.answer_prefix = split_template(definition.prompt)
        stop = definition.stop if definition.stop is not None else default_stop(definition.prompt)
        tokens = definition.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[definition.metric]
        self.generation = DecodeSpec(max_new_tokens=tokens, stop=stop)
        # Both discrimination layouts open each block with "Question:".
        self.discrimination = DecodeSpec(max_new_tokens=512, stop=("Question:", *CHAT_STOPS))
        self.set_protocol(**protocol)
        path = self.data_path
        if path is not None and not path.is_file():
            how = (
                f"check --data {self.name}=PATH"
                if self.data_override is not None
                else f"fix data under [tool.selfdisc.tasks.{self.name}] (paths are relative to pyproject.toml)"
            )
            raise SelfDiscError(f"Data file {path} for task {self.name!r} does not exist; {how}.")

    @property
    def data_path(self) -> Path | None:
        if self.data_override is not None:
            return self.data_override
        return Path(self.definition.data) if self.definition.local else None

    def describe(self) -> dict[str, Any]:
        d = self.definition
        path = self.data_path
        where = str(path) if path is not None else f"hub:{d.data}/{d.config or '-'}/{d.split}"
        options = {
            "data": where,
            "question": d.question,
            "answer": d.answer,
            "metric": d.metric,
            "prompt": d.prompt,
            "shots": len(d.shots),
        }
        if d.choices:
            options["choices"] = d.choices
        return {**options, **super().describe()}

    def load(self, limit: int | None = None) -> list[Example]:
        from selfdisc_checks.tasks.data import load_records

        d = self.definition
        paths = [d.question, d.answer] + ([d.choices] if d.choices else [])
        columns = tuple(dict.fromkeys(path if "." not in path else path.split(".", 1)[0] for path in paths))
        rows = load_records(
            self.data_path, hub=(d.data, d.config, d.split), fields=columns, task=self.name, limit=limit
        )
        where = self.data_path or d.data
        examples = []
        for index, row in enumerate(rows):
            try:
                question, answer = _field(row, d.question), _field(row, d.answer)
                choices = _field(row, d.choices) if d.choices else []
            except KeyError as error:
                raise SelfDiscError(
                    f"Row {index + 1} of {where} has no field {error.args[0]!r} (task {self.name!r})."
                ) from None
            if not isinstance(question, str) or not question.strip():
                raise SelfDiscError(f"Row {index + 1} of {where} has an empty or non-text {d.question!r} field.")
            if not isinstance(choices, (list, tuple)) or not all(isinstance(c, (str, int, float)) for c in choices):
                raise SelfDiscError(
                    f"Row {index + 1} of {where} has a {d.choices!r} field that is not a list of options."
                )
            try:
                reference = reference_for(d.metric, answer, len(choices) or None)
            except ValueError as error:
                raise SelfDiscError(f"Row {index + 1} of {where} has {d.answer!r} {answer!r}, which {error}.") from None
            meta: dict[str, Any] = {}
            if d.metric == "exact_any":
                meta["aliases"] = [str(a) for a in ([answer] if isinstance(answer, str) else answer)]
            if choices:
                meta["choices"] = [str(c) for c in choices]
            examples.append(
                Example(
                    id=f"row-{index}",
                    question=format_question(question, meta.get("choices", [])),
                    reference=reference,
                    meta=meta,
                )
            )
        return examples

    def query(self, question: str) -> str:
        return self.query_template.replace("{question}", question)

    def prompt(self, example: Example) -> Prompt:
        shots = tuple((self.query(format_question(q, choices)), answer) for q, answer, choices in self.definition.shots)
        return Prompt(query=self.query(example.question), shots=shots, answer_prefix=self.answer_prefix)

    def extract(self, completion: str) -> tuple[str | None, str]:
        metric = self.definition.metric
        if metric == "numeric":
            return extract_number(completion)
        if metric == "choice":
            return extract_letter(completion)
        return extract_line(completion)

    def score(self, example: Example, completion: str) -> float:
        answer, _ = self.extract(completion)
        return 1.0 if answer is not None and self.matches(example, answer) else 0.0

    def matches(self, example: Example, answer: str) -> bool:
        """Whether an extracted answer is right for ``example``."""
        metric = self.definition.metric
        if metric == "numeric":
            return numbers_equal(answer, example.reference)
        if metric == "choice":
            return answer.upper() == example.reference
        aliases = example.meta.get("aliases", [example.reference]) if metric == "exact_any" else [example.reference]
        normalized = normalize_text(answer)
        return any(normalized == normalize_text(alias) for alias in aliases)

    def discrimination_demos(self) -> list[DiscriminationDemo]:
        shots = self.definition.shots
        demos = []
        for position, (question, answer, choices) in zip((1, 0), shots[:2] if len(shots) >= 2 else (), strict=False):
            wrong = self._wrong_answer(question, answer, choices)
            if wrong is None:
                continue
            options = (wrong, answer) if position == 1 else (answer, wrong)
            shown = format_question(question, choices)
            if self.discrimination_prompt == "paper":
                reasoning = "\n".join(
                    f"Answer {format_label(i)} gives {' '.join(text.split())}, which "
                    + ("answers the question correctly." if i == position else "is wrong.")
                    for i, text in enumerate(options)
                )
                response = paper_response(reasoning, position)
            else:
                response = format_label(position)
            demos.append(DiscriminationDemo(shown, options, response))
        return demos

    def _wrong_answer(self, question: str, answer: str, choices: tuple[str, ...]) -> str | None:
        """A wrong option for a demonstration: another shot's answer the metric scores wrong (for ``choice``,
        another letter)."""
        d = self.definition
        probe = Example(
            "demo",
            question,
            reference_for(d.metric, answer, len(choices) or None),
            {"aliases": [answer]} if d.metric == "exact_any" else {},
        )
        if d.metric == "choice":
            return "A" if probe.reference != "A" else "B"
        for _, other, _ in d.shots:
            extracted, _ = self.extract(other)
            if extracted is not None and not self.matches(probe, extracted):
                return other
        return None
