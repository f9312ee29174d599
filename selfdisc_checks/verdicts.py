"""The decision of every shipped check, without pytest: the pytest plugin and ``python -m selfdisc_checks run``
decide the same way and say the same sentence.

A decision is a ``gate.Verdict`` (passed, or skipped with the reason) and the properties a CI system shows beside
it (measured value, interval, threshold; ``--junitxml`` writes them, the results JSON keeps them under ``checks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.gate import LABELS, Verdict, judge
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
    the task. Raises ``SelfDiscError`` when the two cannot be compared (see ``report.compare``)."""
    from selfdisc_checks.report.compare import compare_results

    task = result.task
    early = regression_skip(result, settings, metric)
    if early is not None:
        return early
    source = settings.baseline or settings.baseline_model
    properties = _present(value=result.metrics.get(metric))
    old_task = baseline.get("tasks", {}).get(task)
    if old_task is None:
        return _skip(f"{task}: the baseline {source} has no results for this task", properties)
    if metric not in old_task.get("metrics", {}):
        return _skip(f"{task}: the baseline {source} did not measure {LABELS[metric]}", properties)
    tolerance = settings.tolerance(task, metric)
    (change,) = compare_results(baseline, current, [metric], tolerance, settings.level)
    low, high = change.interval
    properties |= _present(
        baseline=source,
        baseline_value=change.old,
        difference=change.difference,
        ci_low=low,
        ci_high=high,
        ci_level=change.level,
        upper_bound=change.upper_bound,
        tolerance=tolerance,
        n=change.n,
    )
    verb = "regressed" if change.regressed else "held"
    message = (
        f"{task}: {LABELS[metric]} {verb} against the baseline {source}: {change.old:.3f} -> "
        f"{change.new:.3f}, difference {change.difference:+.3f} [{100 * change.level:.0f}% CI {low:+.3f}, "
        f"{high:+.3f}], one-sided upper bound {change.upper_bound:+.3f} vs tolerance {0.0 - tolerance:.3f} "
        f"(n = {change.n} shared questions; {len(change.flipped['fixed'])} fixed, "
        f"{len(change.flipped['broke'])} broke)"
    )
    return Decision(Verdict(not change.regressed, message), {**properties, "message": message})
