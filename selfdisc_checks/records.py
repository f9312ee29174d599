"""Records that cross module boundaries: questions, prompts, candidates, choices and results."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

# The results JSON's format version (bumped on a change that older readers would misread). Readers accept
# every earlier version through document.migrate; 2 added each task's ``data`` identity by content.
RESULTS_VERSION = 2


@dataclass(frozen=True)
class DecodeSpec:
    """How long a completion may be and where it stops."""

    max_new_tokens: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sampling:
    """How candidates are drawn: softmax(logits / temperature), optionally restricted to the top-k tokens
    and to the smallest set whose probability reaches top-p. Nothing else shapes the distribution: a
    checkpoint's own generation settings are ignored (see ``backends.hf``)."""

    temperature: float
    top_p: float = 1.0
    top_k: int = 0  # 0: off

    def describe(self) -> dict[str, float | int | None]:
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k or None}


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one row: the text (cut at a stop sequence) and whether the token limit
    ended it (``truncated``) rather than the end-of-sequence token or a stop sequence."""

    text: str
    truncated: bool = False


@dataclass(frozen=True)
class Example:
    """One question of a task, with the reference answer its scorer compares against; ``meta`` holds what
    else a task's scorer or prompts need (answer aliases, true and false references, a category ...)."""

    id: str
    question: str
    reference: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


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
    score: float | None  # None: the judge's output held no verdict (the question is left out and counted)
    extraction: str  # "strict", "flexible" or "none": how the answer was found
    truncated: bool = False  # the generation token limit ended it
    judgement: str | None = None  # judged tasks: the judge model's output


@dataclass(frozen=True)
class Choice:
    """The model's pick among its own candidates (``index`` is 0-based, None when invalid).

    ``reason`` says why a choice is invalid (``no_label``, ``out_of_range``, ``ambiguous``,
    ``value_not_label``, ``truncated``, ``empty``, and in verbatim mode ``no_match``); ``value`` is the number the model stated
    instead of a valid label (for ``value_not_label`` and ``out_of_range``), which ``s_disc_value_matched``
    matches to the candidates' answers.
    """

    raw: str
    index: int | None
    reason: str | None = None
    value: str | None = None
    truncated: bool = False  # the discrimination token limit ended the output
    logprobs: tuple[float, ...] | None = None  # likelihood discrimination: each shown option's label score

    @property
    def valid(self) -> bool:
        return self.index is not None


@dataclass(frozen=True)
class PermutedChoice:
    """The pick when the candidates were shown in another order: ``order[p]`` is the candidate at position
    ``p``; ``choice.index`` is mapped back to the candidate's own index (None when invalid)."""

    order: tuple[int, ...]
    choice: Choice

    @property
    def position(self) -> int | None:
        return None if self.choice.index is None else self.order.index(self.choice.index)


@dataclass(frozen=True)
class QuestionResult:
    """Everything measured for one question.

    ``choice`` and ``permuted`` are the generated-label picks (``--discriminate generate``; ``choice`` is None
    when that method was not asked); ``likelihood`` holds the likelihood picks, one per ordering, the shown
    order first (``--discriminate likelihood``).
    """

    id: str
    question: str
    reference: str
    candidates: tuple[Candidate, ...]
    choice: Choice | None
    prompts: dict[str, str] = field(default_factory=dict)  # phase -> the exact text the model read
    permuted: tuple[PermutedChoice, ...] = ()  # --permutations: picks under other orderings of the candidates
    likelihood: tuple[PermutedChoice, ...] = ()

    @property
    def scores(self) -> list[float]:
        """Each candidate's score. Only a judged task's unrated candidates have none, and the metrics leave
        their questions out before reading scores (``metrics.task_metrics``)."""
        return cast(list[float], [c.score for c in self.candidates])

    def picks(self, method: str) -> QuestionResult:
        """This question seen through one discrimination method: its pick as ``choice``, the picks under
        other orderings as ``permuted`` (so every metric of the generated-label method applies to it)."""
        if method == "generate":
            return self
        if method == "likelihood" and self.likelihood:
            return replace(self, choice=self.likelihood[0].choice, permuted=self.likelihood[1:], likelihood=())
        raise ValueError(f"question {self.id!r} has no {method!r} picks")


@dataclass
class TaskResult:
    """The metrics of one task and the per-question records behind them."""

    task: str
    metrics: dict[str, float | int]
    questions: list[QuestionResult] = field(default_factory=list)
    sampled: int = 0  # candidate sets sampled in this run (0 when the cache held everything)
    discriminated: int = 0  # discrimination prompts run in this run
    options: dict = field(default_factory=dict)  # the task's options (Task.describe()), for the record
    protocol: dict = field(default_factory=dict)  # each phase's decoding settings, demonstrations, variant
    candidates_sampled: int = 0  # candidates sampled in this run
    # generation_s, discrimination_s (judging_s), candidates, prompt_tokens, generated_tokens: computed here
    timing: dict = field(default_factory=dict)
    # digest, questions, source: the loaded questions' identity by content (see document.identity); derived
    # from ``questions`` when empty
    data: dict = field(default_factory=dict)
    # --stop-when-decided: where the task stopped and why (``stopping.evaluate_until_decided``); None otherwise
    sequential: dict | None = None


@dataclass(frozen=True)
class HistoryRun:
    """One run as the history keeps it (``--history``): the results document and how it was labelled.

    ``document`` has the ``--results-json`` shape; a run made under pytest also carries ``checks``, each
    check's outcome with its measured value, interval and threshold.
    """

    run_id: int
    label: str  # --run-label (e.g. a git revision), or the model id when none was given
    timestamp: str  # ISO 8601 UTC, e.g. "2026-11-30T14:10:40Z"
    document: dict[str, Any]

    @property
    def model_id(self) -> str:
        return str(self.document.get("model", {}).get("id", "?"))
