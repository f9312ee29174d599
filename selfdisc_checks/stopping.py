"""``--stop-when-decided``: a task's questions a chunk at a time, until every gated check of the task is settled.

Which checks can stop a task (``watched_checks``, from the settings alone, before any question): the gated
threshold checks in mode ``confident`` or ``not-below`` on a mean over questions (S_gen, S_disc, DG-DIFF, invalid
rate, each discrimination method's) and, with a baseline, every gated regression check. A gated check that no
sequence can settle (mode ``point``, position bias) needs every question, so its task runs them all.

Order: the questions sorted by a digest of (order seed, id), the order seed derived from the run seed and the
task, so every release takes the same order and a baseline run the same way ran a prefix of it (the pairs line
up); questions whose candidates are all cached come first, since they cost nothing. Which questions are cached
depends on earlier runs, not on this run's values, so the stream stays a fair draw.

After each chunk (both phases, and judging, run per chunk), each check updates its confidence sequence
(``sequential.SequentialCheck``): the per-question values for a threshold, new - old on the questions both runs
hold for a regression. The task stops when every watched check is settled, when one of them fails (the run fails
whatever the others would say; they are reported as not decided, and skipped), or when its questions (for a
regression against a results file, the baseline's questions) run out. The alpha: ``[tool.selfdisc.gate] alpha`` is split by
Bonferroni over every watched check of the run, half to the sequences and half to a fixed-n look at a check the
questions left open (``sequential.AlphaSplit``); ``verdicts.decide_family`` reads the record this writes. By the
union bound, the chance that any check of the run makes the error its mode controls (failing a compliant or
unchanged model; for ``confident``, passing a non-compliant one) stays at most alpha, however early each task
stops.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.gate import REGRESSION_PREFIX
from selfdisc_checks.sequential import AlphaSplit, SequentialCheck, regression_check

if TYPE_CHECKING:
    from selfdisc_checks.pipeline import TaskEvaluation
    from selfdisc_checks.records import QuestionResult, TaskResult
    from selfdisc_checks.session import EvaluationSession
    from selfdisc_checks.settings import Settings

# Half of each watched check's alpha goes to its sequence, half to the fixed-n look when the questions run out.
FINAL_SHARE = 0.5
# Questions per look when --chunk is not given: one refill of the decoding batch (pipeline.REFILL batches).
REFILL_BATCHES = 4

DECIDED = "every gated check decided"
RAN_OUT = "questions ran out"
BASELINE_RAN_OUT = "the baseline has no more of these questions"


@dataclass(frozen=True)
class Watch:
    """One gated check a confidence sequence follows: its gate name, metric, bound and how it is read."""

    name: str  # a metric, or no_regression.<metric>
    metric: str
    bound: float  # a threshold's bound, or a regression's tolerance
    side: str = "floor"
    mode: str = "not-below"

    @property
    def regression(self) -> bool:
        return self.name.startswith(REGRESSION_PREFIX)

    def sequence(self, alpha: float) -> SequentialCheck:
        if self.regression:
            return regression_check(self.bound, alpha, registry.get(self.metric).bounds)
        return SequentialCheck(self.bound, self.side, self.mode, alpha, registry.get(self.metric).bounds)  # type: ignore[arg-type]


def chunk_size(settings: Settings) -> int:
    """Questions per look: ``--chunk``, else one refill's worth (4 x --batch-size)."""
    return settings.chunk or REFILL_BATCHES * settings.batch_size


def order_seed(seed: int, task: str) -> int:
    """The seed of a task's question order: the run seed and the task, so releases share it."""
    return int(hashlib.sha256(f"order:{seed}:{task}".encode()).hexdigest()[:12], 16)


def question_order(seed: int, ids: list[str], cached: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``ids`` in the seeded order, the ``cached`` ones first (each part in that order)."""

    def rank(qid: str) -> tuple[bool, str]:
        return (qid not in cached, hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest())

    return sorted(ids, key=rank)


def _measured(settings: Settings) -> list[str]:
    """The threshold checks' metrics this run measures (each discrimination method's with its suffix)."""
    from selfdisc_checks.verdicts import CHECK_FILES

    measured = []
    for table in CHECK_FILES.values():
        for metric in table.values():
            method = registry.get(metric).method
            if method is None or method in settings.discriminate:
                measured.append(metric)
    return measured


def watched_checks(settings: Settings, task: str) -> tuple[list[Watch], list[str]]:
    """The gated checks of ``task`` a sequence can settle, and the gated ones that need every question."""
    from selfdisc_checks.metrics import per_question_values
    from selfdisc_checks.report.compare import METRICS as COMPARED

    gate, watches, blockers = settings.gate, [], []
    per_question = set(per_question_values([], settings.discriminate))  # the means over questions
    for metric in _measured(settings):
        threshold = settings.check(task, metric)
        if threshold is None or not gate.gates(metric):
            continue
        if threshold.mode == "point" or metric not in per_question:
            blockers.append(metric)
            continue
        side = "ceiling" if threshold.is_ceiling(metric) else "floor"
        watches.append(Watch(metric, metric, threshold.bound, side, threshold.mode))
    if settings.baseline or settings.baseline_model:
        for metric in COMPARED:
            method = registry.get(metric).method or registry.GENERATE
            name = REGRESSION_PREFIX + metric
            if method in settings.discriminate and gate.gates(name):
                watches.append(Watch(name, metric, settings.tolerance(task, metric)))
    return watches, blockers


def alpha_split(settings: Settings) -> AlphaSplit | None:
    """The run's alpha over every watched check of every task (None when no check can stop a task)."""
    count = sum(len(watched_checks(settings, task)[0]) for task in settings.tasks)
    return AlphaSplit(settings.gate.alpha, count, FINAL_SHARE) if count else None


def values_by_question(questions: list[QuestionResult], methods: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Each rated question's own metric values, by id (what a regression pairs)."""
    from selfdisc_checks.metrics import per_question_values

    found = {}
    for question in questions:
        values = per_question_values([question], methods)
        if values["s_gen"]:
            found[question.id] = {metric: column[0] for metric, column in values.items()}
    return found


def _document_values(document: dict[str, Any] | None, task: str) -> dict[str, dict[str, float]] | None:
    """The baseline document's per-question values of ``task`` by id (None when it has no such task)."""
    from selfdisc_checks.report.compare import _questions

    found = (document or {}).get("tasks", {}).get(task)
    if found is None:
        return None
    return {qid: dict(q.values) for qid, q in _questions(found, task, "baseline").items()}


class Stopping:
    """How a session runs each task under ``--stop-when-decided``; the baseline is a results document
    (``--baseline``) or the ``--baseline-model``'s session, which then runs the same chunks."""

    def __init__(
        self,
        settings: Settings,
        baseline: dict[str, Any] | None = None,
        baseline_session: EvaluationSession | None = None,
    ) -> None:
        self.settings, self.baseline, self.baseline_session = settings, baseline, baseline_session
        self.split = alpha_split(settings)

    def evaluate(self, evaluation: TaskEvaluation) -> TaskResult:
        """The task's result over the questions run, with its ``sequential`` record; the baseline model's
        result on the same questions goes to its session."""
        settings, name = self.settings, evaluation.task.name
        methods = settings.discriminate
        watches, blockers = watched_checks(settings, name)
        alpha = self.split.sequence if self.split is not None else settings.gate.alpha
        checks = {watch.name: watch.sequence(alpha) for watch in watches}
        examples = {example.id: example for example in evaluation.examples}
        seed = order_seed(settings.seed, name)
        order = question_order(seed, list(examples), evaluation.cached())
        chunk = chunk_size(settings)
        session = self.baseline_session
        baseline_run = None  # the --baseline-model run on the same chunks, unless it ran this task already
        if session is None:
            old = _document_values(self.baseline, name)
        elif name in session.results:
            old = values_by_question(session.results[name].questions, methods)
        else:
            baseline_run, old = session.evaluation(name, evaluation.progress), {}
        if baseline_run is None:  # what the baseline lacks (the task, a metric), its regression checks skip
            measured = set().union(*old.values()) if old else set()
            watches = [watch for watch in watches if not watch.regression or watch.metric in measured]
        ran: list[QuestionResult] = []
        old_ran: list[QuestionResult] = []
        stopped = RAN_OUT
        for start in range(0, len(order), chunk):
            chosen = [examples[qid] for qid in order[start : start + chunk]]
            new = evaluation.run(chosen, shown=(start, len(order)))
            ran += new
            if baseline_run is not None:
                old_new = baseline_run.run(chosen, shown=(start, len(order)))
                old_ran += old_new
                assert old is not None
                old.update(values_by_question(old_new, methods))
            _update(checks, watches, new, old, methods)
            left = order[start + chunk :]
            open_checks = [watch for watch in watches if not checks[watch.name].state.decided]
            _tell(evaluation, name, len(ran), len(order), len(watches) - len(open_checks), len(watches))
            if not left or blockers or not watches:
                continue
            if not open_checks:
                stopped = DECIDED
                break
            failed = [watch.name for watch in watches if checks[watch.name].state.verdict == "fail"]
            if failed:  # the run fails whatever the open checks would say: sampling more changes nothing
                stopped = f"{failed[0]} failed"
                break
            if baseline_run is None and all(watch.regression for watch in open_checks):
                if not any(qid in (old or {}) for qid in left):
                    stopped = BASELINE_RAN_OUT
                    break
        record = {
            "questions_run": len(ran),
            "questions_available": len(order),
            "decided": bool(watches) and not blockers and all(checks[w.name].state.decided for w in watches),
            "stopped_because": stopped,
            "failed_early": stopped.endswith(" failed"),
            "chunk": chunk,
            "order_seed": seed,
            "alpha_sequence": alpha,
            "alpha_final": self.split.final if self.split is not None else 0.0,
            "watched": self.split.checks if self.split is not None else 0,
            "needs_every_question": blockers,
            "checks": {watch.name: _state_json(watch, checks[watch.name]) for watch in watches},
        }
        if baseline_run is not None and session is not None:
            session.results[name] = baseline_run.result(old_ran, dict(record, checks={}))
        return evaluation.result(ran, record)


def _update(
    checks: dict[str, SequentialCheck],
    watches: list[Watch],
    new: list[QuestionResult],
    old: dict[str, dict[str, float]] | None,
    methods: tuple[str, ...],
) -> None:
    """Feed one chunk's values to every check, in question order: each rated question's own value to a
    threshold, new - old on the questions the baseline holds to a regression."""
    mine = values_by_question(new, methods)
    rated = [q.id for q in new if q.id in mine]
    for watch in watches:
        if watch.regression:
            paired = [qid for qid in rated if old is not None and watch.metric in old.get(qid, {})]
            checks[watch.name].update([mine[qid][watch.metric] - old[qid][watch.metric] for qid in paired])  # type: ignore[index]
        else:
            checks[watch.name].update([mine[qid][watch.metric] for qid in rated if watch.metric in mine[qid]])


def _state_json(watch: Watch, check: SequentialCheck) -> dict[str, Any]:
    state = check.state
    return {
        "metric": watch.metric,
        "mode": watch.mode,
        "bound": -watch.bound if watch.regression else watch.bound,
        "seen": state.seen,
        "mean": state.mean,
        "lower": state.lower,
        "upper": state.upper,
        "verdict": state.verdict,
        "decided_at": state.decided_at,
    }


def _tell(evaluation: TaskEvaluation, task: str, run: int, available: int, decided: int, watched: int) -> None:
    """One progress line per chunk: questions run, and how many of the task's watched checks are settled."""
    status = getattr(evaluation.progress, "status", None)
    if status is not None and watched:
        status(f"{task}: {run}/{available} questions run, {decided} of {watched} gated checks decided")
