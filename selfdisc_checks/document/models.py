"""The results document (``--results-json``) as typed models: one definition for the writer, every reader and
the published JSON Schema (``python -m selfdisc_checks schema``).

Strict on the types of what readers use (scores, picks, ids, metric values); open where the writer is
open-ended (task options, protocol, settings, and keys a later version may add), so that extending the
document never breaks a reader. Numbers keep their JSON type (an int stays an int) and a bool is never a
number.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from selfdisc_checks.records import RESULTS_VERSION


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", "a number is required")
    return value


def _metric_value(value: Any) -> Any:
    """A metric: a number or null, or a list or object of them (intervals, rates by position, counts)."""
    if value is None or isinstance(value, (list, dict)):
        return value
    if isinstance(value, tuple):
        return list(value)
    return _number(value)


Number = Annotated[float | int, PlainValidator(_number), WithJsonSchema({"type": "number"})]
MetricValue = Annotated[
    Any,
    PlainValidator(_metric_value),
    WithJsonSchema({"type": ["number", "null", "array", "object"]}),
]


class _Closed(BaseModel):
    """Unknown keys are kept (a later writer may add some), known ones are type-checked."""

    model_config = ConfigDict(extra="allow")


class Candidate(_Closed):
    """One sampled answer and its score in [0, 1] (null: a judge left it unscored)."""

    text: StrictStr | None = None
    answer: StrictStr | None = None
    score: Number | None
    extraction: StrictStr | None = None
    truncated: StrictBool = False
    judgement: StrictStr | None = None


class Choice(_Closed):
    """The model's generated pick: ``index`` is the candidate's 0-based index, null when invalid."""

    raw: StrictStr | None = None
    index: StrictInt | None
    valid: StrictBool | None = None
    truncated: StrictBool = False
    reason: StrictStr | None = None
    value: StrictStr | None = None


class PermutedChoice(Choice):
    """The pick under another ordering: ``order[p]`` is the candidate shown at position ``p``."""

    order: list[StrictInt]
    position: StrictInt | None = None


class LikelihoodPick(_Closed):
    """The likelihood pick (the candidate's index) and each shown option's label log-probability."""

    index: StrictInt | None
    logprobs: list[Number] = []


class PermutedLikelihoodPick(LikelihoodPick):
    order: list[StrictInt]
    position: StrictInt | None = None


class Question(_Closed):
    """One question's record: what was asked, every candidate and every pick."""

    id: StrictStr
    question: StrictStr
    reference: StrictStr
    s_gen: Number | None = None
    s_disc: Number | None = None
    candidates: list[Candidate] = []
    choice: Choice | None = None
    prompts: dict[str, StrictStr] = {}
    permuted_choices: list[PermutedChoice] = []
    likelihood: LikelihoodPick | None = None
    likelihood_permuted: list[PermutedLikelihoodPick] = []


class Intervals(_Closed):
    """``ci``: the confidence level and, per metric, its two-sided interval [low, high]."""

    __pydantic_extra__: dict[str, list[Number | None] | None]
    level: Number | None = None


class Scale(_Closed):
    """A graded task's rating scale (e.g. 1-10)."""

    low: Number
    high: Number


class Metrics(_Closed):
    """A task's metrics: an open mapping of name -> number or null (``s_gen``, ``s_disc_likelihood``, ...),
    with a few nested ones (``ci``, ``p_value``, position rates)."""

    __pydantic_extra__: dict[str, MetricValue]
    n: StrictInt | None = None
    s_gen: Number | None = None
    s_disc: Number | None = None
    dg_diff: Number | None = None
    s_disc_likelihood: Number | None = None
    dg_diff_likelihood: Number | None = None
    invalid_rate: Number | None = None
    oracle: Number | None = None
    majority: Number | None = None
    mixed_fraction: Number | None = None
    unrated_questions: StrictInt | None = None
    ci: Intervals | None = None
    scale: Scale | None = None
    on_scale: dict[str, Number | None] | None = None
    position_pick_rates: list[Number] | None = None


class DataIdentity(_Closed):
    """Which questions a task ran, by content: runs on the same questions are comparable wherever the file
    lies. ``digest`` is the SHA-256 (hex) of the canonical JSON of ``[[id, question, reference], ...]`` in load
    order (see ``document.identity``); ``source`` (a path or hub id) is for people only."""

    digest: Annotated[StrictStr, Field(pattern="^[0-9a-f]{64}$")]
    questions: StrictInt
    source: StrictStr | None = None


class TaskRun(_Closed):
    """What this run had to compute for the task (all 0 when the cache held everything)."""

    sampled: StrictInt = 0
    candidates_sampled: StrictInt = 0
    discriminated: StrictInt = 0
    workers: StrictInt = 1


class Sequential(_Closed):
    """Where ``--stop-when-decided`` stopped the task: questions run of those available, whether every gated
    check was settled, why it stopped, the chunk and the question order's seed; ``checks`` holds each watched
    check's confidence sequence at the stop (see ``stopping``)."""

    questions_run: StrictInt
    questions_available: StrictInt
    decided: StrictBool
    stopped_because: StrictStr
    chunk: StrictInt
    order_seed: StrictInt
    checks: dict[str, Any] = {}


class Task(_Closed):
    """One task's options, protocol, data identity, metrics and per-question records."""

    options: dict[str, Any] = {}
    protocol: dict[str, Any] = {}
    data: DataIdentity
    metrics: Metrics = Field(default_factory=lambda: Metrics.model_validate({}))
    questions: list[Question]
    run: TaskRun | None = None
    timing: dict[str, Number | None] = {}
    sequential: Sequential | None = None


class Model(_Closed):
    """The checkpoint measured: its id as given and its content fingerprint."""

    id: StrictStr
    fingerprint: StrictStr | None = None


class Run(_Closed):
    """When and where the run happened, and the versions that shaped its numbers."""

    started_at: StrictStr | None = None
    duration_s: Number | None = None
    device: StrictStr | None = None
    dtype: StrictStr | None = None
    backend: StrictStr | None = None
    label: StrictStr | None = None
    versions: dict[str, StrictStr | None] = {}


class Check(_Closed):
    """One pytest check's outcome, with what it measured and the threshold it was held to."""

    id: StrictStr
    outcome: StrictStr
    name: StrictStr | None = None
    task: StrictStr | None = None
    metric: StrictStr | None = None
    message: StrictStr | None = None
    value: Number | None = None
    interval: list[Number | None] | None = None
    threshold: Any = None
    n: StrictInt | None = None


class ResultsDocument(_Closed):
    """A whole run: the model, the settings, each task's results, the run record and the checks' outcomes."""

    model_config = ConfigDict(extra="allow", title="selfdisc-checks results")
    version: Literal[RESULTS_VERSION]  # type: ignore[valid-type]
    model: Model
    settings: dict[str, Any] = {}
    tasks: dict[str, Task]
    run: Run | None = None
    checks: list[Check] = []


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the results document, generated from the models."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:selfdisc-checks:results:v{RESULTS_VERSION}",
        **ResultsDocument.model_json_schema(),
    }
