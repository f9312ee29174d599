"""Records that cross module boundaries: questions, prompts, candidates, choices and results."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DecodeSpec:
    """How long a completion may be and where it stops."""

    max_new_tokens: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    """One question of a task, with the reference answer its scorer compares against."""

    id: str
    question: str
    reference: str


@dataclass(frozen=True)
class Prompt:
    """A backend-neutral prompt: optional system text, worked demonstrations, then the query.

    Backends with a chat template render shots as user/assistant turns; plain backends render
    ``user\\n{answer_prefix} assistant`` blocks separated by blank lines and end with the prefix, so the
    model continues with its answer.
    """

    query: str
    shots: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    answer_prefix: str = ""


@dataclass(frozen=True)
class Candidate:
    """One sampled answer, its extracted final answer and its score in [0, 1]."""

    text: str
    answer: str | None
    score: float
    extraction: str  # "strict", "flexible" or "none": how the answer was found


@dataclass(frozen=True)
class Choice:
    """The model's pick among its own candidates (``index`` is 0-based, None when invalid)."""

    raw: str
    index: int | None

    @property
    def valid(self) -> bool:
        return self.index is not None


@dataclass(frozen=True)
class QuestionResult:
    """Everything measured for one question."""

    id: str
    question: str
    reference: str
    candidates: tuple[Candidate, ...]
    choice: Choice

    @property
    def scores(self) -> list[float]:
        return [c.score for c in self.candidates]


@dataclass
class TaskResult:
    """The metrics of one task and the per-question records behind them."""

    task: str
    metrics: dict[str, float | int]
    questions: list[QuestionResult] = field(default_factory=list)
    sampled: int = 0  # candidate sets sampled in this run (0 when the cache held everything)
    discriminated: int = 0  # discrimination prompts run in this run
    options: dict = field(default_factory=dict)  # the task's options (Task.describe()), for the record
