"""The decision of every shipped check, without pytest: the pytest plugin and ``python -m selfdisc_checks run``
decide the same way and say the same sentence.

A decision is a ``gate.Verdict`` (passed, or skipped with the reason) and the properties a CI system shows beside
it (measured value, interval, threshold; ``--junitxml`` writes them, the results JSON keeps them under ``checks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.gate import LABELS, REGRESSION_PREFIX, Verdict, judge
from selfdisc_checks.records import TaskResult
from selfdisc_checks.settings import Settings

# The shipped checks (selfdisc_checks/checks/), by file and test name, with the metric each decides.
MODEL_CHECKS = {
    "test_generation_accuracy": "s_gen",
    "test_discrimination_accuracy": "s_disc",
    "test_dg_diff": "dg_diff",
    "test_invalid_rate": "invalid_rate",
    "test_position_bias": "position_bias",
}
LIKELIHOOD_CHECKS = {
    "test_likelihood_discrimination_accuracy": "s_disc_likelihood",
    "test_likelihood_dg_diff": "dg_diff_likelihood",
    "test_likelihood_position_bias": "position_bias_likelihood",
}
CHECK_FILES = {"test_model.py": MODEL_CHECKS, "test_likelihood.py": LIKELIHOOD_CHECKS}
REGRESSION_CHECK = ("test_regression.py", "test_no_regression")


@dataclass(frozen=True)
class Decision:
    """One check's verdict and what it measured against what (None values are left out)."""

    verdict: Verdict
    properties: dict[str, Any] = field(default_factory=dict)


def _skip(message: str, properties: dict[str, Any]) -> Decision:
    return Decision(Verdict(True, message, skipped=True), properties)


def _present(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def decide_threshold(result: TaskResult, settings: Settings, metric: str) -> Decision:
    """``metric`` of ``result`` against its configured threshold (``gate``); skipped, saying why, when there is
    nothing to decide: no threshold, a metric this run did not measure, or DG-DIFF with no mixed question."""
    task, m = result.task, dict[str, Any](result.metrics)
    threshold = settings.check(task, metric)
    declared = registry.find(metric)  # None for a key a test reads that no declaration gives
    interval = m.get("ci", {}).get(metric) if m.get(metric) is not None else None
    properties = _present(
        metric=metric,
        value=m.get(metric),
        n=m.get("n"),
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        ci_level=m.get("ci", {}).get("level") if interval else None,
        threshold=threshold.bound if threshold else None,
        mode=threshold.mode if threshold else None,
        side=(declared.side if declared else "floor") if threshold else None,
    )
    label = LABELS.get(metric, metric)
    if not m.get("n"):
        return _skip(
            f"{task}: {label} cannot be measured: no question could be scored "
            f"({m.get('unrated_questions', 0)} left unscored by the judge)",
            properties,
        )
    if metric not in m:
        method = (declared.method if declared else None) or registry.GENERATE
        asked = ",".join(settings.discriminate)
        return _skip(f"{task}: {label} not measured: --discriminate {asked} does not include {method}", properties)
    if m.get(metric) is None:
        return _skip(f"{task}: {metric} cannot be measured: no valid pick in {m['n']} questions", properties)
    if threshold is None:
        return _skip(
            f"{task}: {metric} = {float(m[metric]):.3f}; no threshold set "
            f"(add {metric} = <{declared.side if declared else 'floor'}> under [tool.selfdisc.thresholds])",
            properties,
        )
    if declared is not None and declared.unit == "difference" and not m.get("mixed_fraction"):
        return _skip(
            f"{task}: DG-DIFF cannot be measured: no question of {m['n']} has both right and wrong candidates, so "
            "any pick scores the same (use more or harder questions, or more samples)",
            properties,
        )
    verdict = judge(task, metric, threshold, m)
    return Decision(verdict, {**properties, "message": verdict.message})


def regression_skip(result: TaskResult, settings: Settings, metric: str) -> Decision | None:
    """The regression check's skip before any baseline is read: no baseline given, or a metric not measured."""
    properties = _present(value=result.metrics.get(metric))
    source = settings.baseline or settings.baseline_model
    if source is None:
        return _skip(
            f"{result.task}: no baseline to compare with (pass --baseline OLD_RESULTS.json or --baseline-model CKPT)",
            properties,
        )
    if metric not in result.metrics:
        return _skip(f"{result.task}: {LABELS[metric]} not measured in this run (see --discriminate)", properties)
    return None


def decide_regression(
    result: TaskResult, settings: Settings, metric: str, baseline: dict[str, Any], current: dict[str, Any]
) -> Decision:
    """Did ``metric`` regress against ``baseline`` (a results document)? ``current`` is this run's document for
    the task. Raises ``SelfDiscError`` when the two cannot be compared (see ``report.compare``). Decided alone,
    at the run's alpha; ``plan_regression`` and ``decide_family`` decide it with the rest of the run."""
    planned = plan_regression(result, settings, metric, baseline, current)
    if planned.change is None:
        return planned.decision
    return decide_family([planned], settings)[planned.key]


@dataclass(frozen=True)
class Planned:
    """One check before the run-wide family decides it: its own decision (each check at its own level, as
    ``family = "none"`` keeps it) and what the family reads.

    ``role``: "reject" when failing is a rejection (mode not-below, every regression check), "confirm" when
    passing is (mode confident), None when no test decides it (point mode, a skip, no per-question values).
    ``p_value`` is the one-sided p-value of the role's test.
    """

    task: str
    name: str  # the gate's name of the check: a metric, or "no_regression.<metric>"
    metric: str
    decision: Decision
    role: str | None = None
    p_value: float | None = None
    values: tuple[float, ...] = ()  # per-question values (differences for a regression), for max-t
    bound: float = 0.0  # what the mean of ``values`` is tested against (a floor's bound, -tolerance)
    change: Any = None  # the regression check's ``report.compare.Change``
    source: str | None = None  # the regression check's baseline, as the messages name it
    threshold: Any = None  # the threshold check's ``gate.Threshold``
    metrics: dict[str, Any] = field(default_factory=dict)  # the task's metrics, for a threshold check's message
    sequential: dict[str, Any] | None = None  # --stop-when-decided: the task's record (``stopping``)

    @property
    def key(self) -> tuple[str, str]:
        return (self.task, self.name)


def plan_threshold(result: TaskResult, settings: Settings, metric: str) -> Planned:
    """A threshold check's own decision, and its test for the family: Student's t on the per-question values
    of a metric that is a mean over questions (S_gen, S_disc, DG-DIFF, invalid rate)."""
    from selfdisc_checks.family import t_test
    from selfdisc_checks.metrics import per_question_values

    decision = decide_threshold(result, settings, metric)
    threshold = settings.check(result.task, metric)
    planned = Planned(
        result.task,
        metric,
        metric,
        decision,
        threshold=threshold,
        metrics=dict(result.metrics),
        sequential=result.sequential,
    )
    if decision.verdict.skipped or threshold is None or threshold.mode == "point":
        return planned
    values = per_question_values(result.questions, settings.discriminate).get(metric)
    if not values:
        return planned  # position bias and the like: no per-question mean to test (see docs/statistics.md)
    ceiling = threshold.is_ceiling(metric)
    worse = "greater" if ceiling else "less"  # the side a failure is on
    role = "reject" if threshold.mode == "not-below" else "confirm"
    alternative = worse if role == "reject" else ("less" if ceiling else "greater")
    p_value = t_test(values, threshold.bound, alternative, bound_in_alternative=role == "confirm")
    signed = tuple(-v for v in values) if ceiling else tuple(values)  # max-t tests "surely below the bound"
    bound = -threshold.bound if ceiling else threshold.bound
    return replace(planned, role=role, p_value=p_value, values=signed, bound=bound)


def plan_regression(
    result: TaskResult, settings: Settings, metric: str, baseline: dict[str, Any], current: dict[str, Any]
) -> Planned:
    """A regression check's own decision (the bootstrap rule of before) and its sign-flip test for the family.
    Raises ``SelfDiscError`` when the runs cannot be compared."""
    from selfdisc_checks.report.compare import compare_results

    task, name = result.task, REGRESSION_PREFIX + metric
    early = regression_skip(result, settings, metric)
    if early is not None:
        return Planned(task, name, metric, early)
    source = settings.baseline or settings.baseline_model
    properties = _present(value=result.metrics.get(metric))
    old_task = baseline.get("tasks", {}).get(task)
    if old_task is None:
        return Planned(
            task, name, metric, _skip(f"{task}: the baseline {source} has no results for this task", properties)
        )
    if metric not in old_task.get("metrics", {}):
        return Planned(
            task, name, metric, _skip(f"{task}: the baseline {source} did not measure {LABELS[metric]}", properties)
        )
    tolerance = settings.tolerance(task, metric)
    (change,) = compare_results(baseline, current, [metric], tolerance, settings.level, family="none")
    message = _regression_message(task, metric, source, change, "")
    properties = {**_regression_properties(change, source, result.metrics.get(metric)), "message": message}
    decision = Decision(Verdict(not change.regressed, message), properties)
    return Planned(
        task,
        name,
        metric,
        decision,
        "reject",
        change.p_value,
        change.differences,
        -tolerance,
        change,
        str(source),
        sequential=result.sequential,
    )


def _regression_message(task: str, metric: str, source: Any, change: Any, note: str) -> str:
    low, high = change.interval
    verb = "regressed" if change.regressed else "held"
    tolerance = f"{0.0 - change.tolerance:.3f}"  # 0.000, not -0.000
    return (
        f"{task}: {LABELS[metric]} {verb} against the baseline {source}: {change.old:.3f} -> "
        f"{change.new:.3f}, difference {change.difference:+.3f} [{100 * change.level:.0f}% CI {low:+.3f}, "
        f"{high:+.3f}], one-sided upper bound {change.upper_bound:+.3f} vs tolerance {tolerance} "
        f"(n = {change.n} shared questions; {len(change.flipped['fixed'])} fixed, "
        f"{len(change.flipped['broke'])} broke{'; ' + note if note else ''})"
    )


def _regression_properties(change: Any, source: Any, value: Any) -> dict[str, Any]:
    low, high = change.interval
    return _present(
        value=value,
        baseline=source,
        baseline_value=change.old,
        difference=change.difference,
        ci_low=low,
        ci_high=high,
        ci_level=change.level,
        upper_bound=change.upper_bound,
        tolerance=change.tolerance,
        n=change.n,
    )


def decide_family(planned: Sequence[Planned], settings: Settings, seed: int = 0) -> dict[tuple[str, str], Decision]:
    """Every check's decision, the run-wide family deciding together (``[tool.selfdisc.gate]``).

    Gated "reject" checks are adjusted over all of them (Holm or max-T) and fail where the adjusted p-value
    is at most alpha, so a compliant, unchanged checkpoint fails any of them at most alpha of the time;
    gated "confirm" checks pass where their own p-value is at most alpha; the rest keep their own decision.
    A check left out of ``[tool.selfdisc.gate] checks`` is measured and reported, and skipped: it cannot fail
    the run. ``family = "none"`` keeps every check's own decision, as before the gate had a family.
    """
    from selfdisc_checks import family as families

    gate = settings.gate
    gated = [p for p in planned if gate.gates(p.name) and not p.decision.verdict.skipped]
    members = [p for p in gated if p.role == "reject" and p.p_value is not None and not _watched(p)]
    keys = {p.key: f"{p.task}:{p.name}" for p in members}
    p_values = {keys[p.key]: float(p.p_value) for p in members}  # type: ignore[arg-type]
    tests = [families.Member(keys[p.key], p.task, p.values, p.bound) for p in members]
    adjusted = families.adjust(gate.family, p_values, tests, seed) if members else {}
    note = families.describe(gate.family, len(members), gate.alpha)
    decisions: dict[tuple[str, str], Decision] = {}
    for p in planned:
        decisions[p.key] = _decided(p, gate, adjusted.get(keys.get(p.key, ""), None), note)
    return decisions


def _watched(p: Planned) -> bool:
    """Whether --stop-when-decided followed the check with a confidence sequence (it leaves the family then)."""
    return p.role is not None and p.name in (p.sequential or {}).get("checks", {})


def _decided(p: Planned, gate: Any, adjusted: float | None, note: str) -> Decision:
    """One check's final decision and properties (see ``decide_family``)."""
    own = p.decision
    if own.verdict.skipped:
        return own
    family = gate.family
    if _watched(p):
        record = p.sequential or {}
        return _decided_sequentially(p, gate, record, record["checks"][p.name])
    if p.role == "reject" and adjusted is not None and family != "none":
        passed = adjusted > gate.alpha
        how = f"p = {p.p_value:.3g}, adjusted {adjusted:.3g}: {note}"
    elif p.role == "confirm" and family != "none":
        passed = float(p.p_value) <= gate.alpha  # type: ignore[arg-type]
        how = f"p = {p.p_value:.3g} at run-wide alpha {gate.alpha:g} (mode confident needs no adjustment)"
    else:
        passed, how = own.verdict.passed, ""
    extra = _present(
        p_value=p.p_value,
        p_adjusted=adjusted if family != "none" else p.p_value,
        family=family if p.role is not None else None,
        alpha=gate.alpha if p.role is not None and family != "none" else None,
        gated=gate.gates(p.name),
    )
    if p.change is not None:
        change = replace(p.change, regressed=not passed)
        message = _regression_message(p.task, p.metric, p.source, change, how)
        properties = {**own.properties, **extra}
    elif p.threshold is not None and p.role is not None:
        from selfdisc_checks.gate import judge

        message = judge(p.task, p.metric, p.threshold, p.metrics, passed, how).message
        properties = {**own.properties, **extra}
    else:
        message, properties = own.verdict.message, {**own.properties, **extra}
    return _finished(p, gate, passed, message, properties)


def _finished(p: Planned, gate: Any, passed: bool, message: str, properties: dict[str, Any]) -> Decision:
    properties["message"] = message
    if not gate.gates(p.name):
        told = f"not gated ([tool.selfdisc.gate] checks leaves {p.name} out): {message}"
        return Decision(Verdict(True, told, skipped=True), {**properties, "message": told})
    return Decision(Verdict(passed, message), properties)


def _decided_sequentially(p: Planned, gate: Any, record: dict[str, Any], watched: dict[str, Any]) -> Decision:
    """A check that ``--stop-when-decided`` followed: the verdict of its confidence sequence when it settled,
    else the fixed-n test at the final share of its alpha (``stopping``: Bonferroni over the run's watched
    checks, half to the sequences, half to these looks)."""
    run, available = record["questions_run"], record["questions_available"]
    count = record["watched"]
    split = f"Bonferroni over {count} early-stopping check{'' if count == 1 else 's'}, run-wide alpha {gate.alpha:g}"
    if watched.get("verdict") is not None:
        passed = watched["verdict"] == "pass"
        how = (
            f"decided after {watched['decided_at']} of {available} questions: its confidence sequence "
            f"[{watched['lower']:.3f}, {watched['upper']:.3f}] at alpha {record['alpha_sequence']:.2g} ({split})"
        )
        by = "sequence"
    elif record.get("failed_early"):
        told = (
            f"{p.task}: {LABELS.get(p.metric, p.metric)}{' regression' if p.change is not None else ''} not decided: "
            f"the task stopped after {run} of {available} questions once "
            f"{record['stopped_because']}, which fails the run whatever this check would say (its confidence "
            f"sequence [{watched['lower']:.3f}, {watched['upper']:.3f}] at alpha {record['alpha_sequence']:.2g})"
        )
        properties = {**p.decision.properties, "message": told, "family": "sequential", "gated": True}
        return Decision(Verdict(True, told, skipped=True), properties)
    else:
        final = record["alpha_final"]
        p_value = float(p.p_value) if p.p_value is not None else 1.0
        passed = p_value > final if p.role == "reject" else p_value <= final
        how = (
            f"not settled by its confidence sequence in {run} of {available} questions; the fixed-n test at alpha "
            f"{final:.2g}: p = {p_value:.3g} ({split})"
        )
        by = "final"
    extra = _present(
        p_value=p.p_value,
        family="sequential",
        alpha=gate.alpha,
        gated=gate.gates(p.name),
        decided_by=by,
        decided_after=watched.get("decided_at"),
        questions_run=run,
        questions_available=available,
    )
    if p.change is not None:
        message = _regression_message(p.task, p.metric, p.source, replace(p.change, regressed=not passed), how)
    else:
        from selfdisc_checks.gate import judge

        message = judge(p.task, p.metric, p.threshold, p.metrics, passed, how).message
    return _finished(p, gate, passed, message, {**p.decision.properties, **extra})
