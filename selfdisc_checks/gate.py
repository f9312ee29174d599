"""What a check decides: a metric's estimate and confidence interval against a floor or a ceiling.

Three modes say how sure the gate must be (``[tool.selfdisc.thresholds]``, per metric):

- ``point``: the estimate itself must clear the bound;
- ``confident``: the whole interval must clear it ("we are sure it is at least this"): for a floor, the
  lower bound; for a ceiling, the upper bound;
- ``not-below``: fail only when the whole interval misses it ("we are sure it is worse"): for a floor,
  the upper bound is below it; for a ceiling, the lower bound is above it.

DG-DIFF defaults to ``not-below`` with floor 0, the paper's question asked so that an unchanged model does
not fail on noise half the time. Pure Python: no torch, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.errors import SelfDiscError

MODES = ("point", "confident", "not-below")
# The checked metrics, from ``metric_registry``: higher is better (a check asks for a minimum) or lower is
# better (a maximum). Kept as names because the plugin and settings import them.
FLOOR_METRICS = registry.names(registry.select(gated=True, side="floor"))
CEILING_METRICS = registry.names(registry.select(gated=True, side="ceiling"))
CHECKED = FLOOR_METRICS + CEILING_METRICS
LABELS = {metric.name: metric.label for metric in registry.select(gated=True)}


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric and how sure the check must be (see the module docstring)."""

    bound: float
    mode: str = "point"

    def is_ceiling(self, metric: str) -> bool:
        found = registry.find(metric)
        return found is not None and found.side == "ceiling"


DEFAULTS = {
    metric.name: Threshold(metric.default_bound, metric.default_mode)
    for metric in registry.select(gated=True)
    if metric.default_bound is not None
}
OFF = "off"


REGRESSION_PREFIX = "no_regression."  # a regression check's name in [tool.selfdisc.gate] checks


def gate_check_names() -> tuple[str, ...]:
    """What ``[tool.selfdisc.gate] checks`` may name: every threshold check by its metric, every regression
    check as ``no_regression.<metric>``."""
    compared = registry.names(registry.select(compared=True))
    return CHECKED + tuple(REGRESSION_PREFIX + metric for metric in compared)


@dataclass(frozen=True)
class GateSettings:
    """``[tool.selfdisc.gate]``: the run-wide false-alarm rate, how the family holds it (``family`` module),
    and which checks may fail the run (None: all of them; the others are measured and reported only)."""

    alpha: float = 0.05
    family: str = "holm"
    checks: tuple[str, ...] | None = None

    def gates(self, name: str) -> bool:
        """Whether the check called ``name`` (a metric, or ``no_regression.<metric>``) may fail the run."""
        return self.checks is None or name in self.checks


def parse_gate(table: Any) -> GateSettings:
    """``[tool.selfdisc.gate]`` checked: alpha in (0, 1), a known family, known check names."""
    from selfdisc_checks.family import FAMILIES

    if not isinstance(table, dict):
        raise SelfDiscError("[tool.selfdisc.gate] must be a table (alpha, family, checks).")
    unknown = sorted(set(table) - {"alpha", "family", "checks"})
    if unknown:
        raise SelfDiscError(
            f"Unknown key(s) {', '.join(unknown)} in [tool.selfdisc.gate]; known keys are alpha, family, checks."
        )
    alpha = table.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise SelfDiscError(
            f"[tool.selfdisc.gate] alpha must be a number strictly between 0 and 1 (e.g. 0.05), not {alpha!r}."
        )
    family = table.get("family", "holm")
    if family not in FAMILIES:
        raise SelfDiscError(f"[tool.selfdisc.gate] family must be one of {', '.join(FAMILIES)}, not {family!r}.")
    checks = table.get("checks")
    if checks is not None:
        known = gate_check_names()
        if not isinstance(checks, list) or not all(isinstance(name, str) for name in checks):
            raise SelfDiscError(
                f'[tool.selfdisc.gate] checks must be a list of check names (e.g. ["dg_diff", '
                f'"no_regression.s_gen"]), not {checks!r}.'
            )
        wrong = [name for name in checks if name not in known]
        if wrong:
            raise SelfDiscError(
                f"[tool.selfdisc.gate] checks names {wrong[0]!r}, which is no check; choose from {', '.join(known)}."
            )
        checks = tuple(dict.fromkeys(checks))
    return GateSettings(float(alpha), family, checks)


@dataclass(frozen=True)
class Verdict:
    """The decision of one check: passed, or skipped with a reason, and a message that explains it."""

    passed: bool
    message: str
    skipped: bool = False


def parse_thresholds(table: Any, tasks: Iterable[str]) -> dict[str, dict[str, Threshold | None]]:
    """``[tool.selfdisc.thresholds]`` as {task or "*": {metric: Threshold, or None when turned off}}.

    A metric is given as a number (a bound in the metric's default mode), an inline table
    ``{floor = 0.0, mode = "confident"}`` (``ceiling`` for ``invalid_rate``), or ``"off"``.
    """
    if not isinstance(table, dict):
        raise SelfDiscError("[tool.selfdisc.thresholds] must be a table of metric = bound.")
    known_tasks = set(tasks)
    result: dict[str, dict[str, Threshold | None]] = {"*": {}}
    for key, value in table.items():
        if key in CHECKED:
            result["*"][key] = _threshold(key, key, value)
        elif key in known_tasks:
            if not isinstance(value, dict):
                raise SelfDiscError(f"[tool.selfdisc.thresholds.{key}] must be a table of metric = bound.")
            result[key] = {metric: _threshold(f"{key}.{metric}", metric, item) for metric, item in value.items()}
        else:
            raise SelfDiscError(
                f"Threshold {key!r} names neither a checked metric ({', '.join(CHECKED)}) nor a task "
                f"({', '.join(sorted(known_tasks))}); fix the key under [tool.selfdisc.thresholds]."
            )
    return result


def _in_range(where: str, metric: str, threshold: Threshold) -> Threshold:
    """Rates live in [0, 1] and differences of rates (DG-DIFF) in [-1, 1]; a bound outside can never or
    always hold, which is a typo (a percentage written as 50, say), not a gate."""
    low, high = registry.get(metric).bounds
    if not low <= threshold.bound <= high:
        raise SelfDiscError(
            f"Threshold {where} = {threshold.bound:g} is outside [{low:g}, {high:g}] where {metric} lives; write rates as "
            "fractions (0.5, not 50) under [tool.selfdisc.thresholds]."
        )
    return threshold


def _threshold(where: str, metric: str, value: Any) -> Threshold | None:
    if metric not in CHECKED:
        raise SelfDiscError(f"Threshold {where} names a metric no check reads; use one of {', '.join(CHECKED)}.")
    default_mode = registry.get(metric).default_mode
    if value == OFF:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _in_range(where, metric, Threshold(float(value), default_mode))
    side = registry.get(metric).side
    if isinstance(value, dict):
        extra = set(value) - {side, "mode"}
        bound = value.get(side)
        mode = value.get("mode", default_mode)
        if not extra and isinstance(bound, (int, float)) and not isinstance(bound, bool) and mode in MODES:
            return _in_range(where, metric, Threshold(float(bound), mode))
    raise SelfDiscError(
        f'Threshold {where} must be a number, "off", or a table like {{{side} = 0.0, mode = "point"}} with '
        f"mode one of {', '.join(MODES)}; got {value!r}."
    )


def judge(
    task: str, metric: str, threshold: Threshold, metrics: dict[str, Any], passed: bool | None = None, note: str = ""
) -> Verdict:
    """Decide one check from a task's metrics (estimate, ``ci`` and counts); ``passed``, when given, is the
    run-wide family's decision (``verdicts.decide_family``), and ``note`` says how it was reached."""
    estimate = float(metrics[metric])
    interval = metrics.get("ci", {}).get(metric)
    low, high = interval if interval is not None else (estimate, estimate)
    ceiling = threshold.is_ceiling(metric)
    if threshold.mode == "point":
        deciding = estimate
    elif threshold.mode == "confident":
        deciding = high if ceiling else low
    else:  # not-below
        deciding = low if ceiling else high
    if passed is None:
        passed = deciding <= threshold.bound if ceiling else deciding >= threshold.bound
    level = metrics.get("ci", {}).get("level")
    shown = f" [{100 * level:.0f}% CI {low:.3f}, {high:.3f}]" if interval is not None and level else ""
    relation = (
        ("is above the ceiling" if ceiling else "is below the floor")
        if not passed
        else ("is within the ceiling" if ceiling else "clears the floor")
    )
    mixed = round(metrics.get("mixed_fraction", 0) * metrics.get("n", 0))
    message = (
        f"{task}: {LABELS[metric]} = {estimate:.3f}{shown} {relation} {threshold.bound:.3f} "
        f"(mode {threshold.mode}, n = {metrics.get('n')}, {mixed} mixed{'; ' + note if note else ''})"
    )
    return Verdict(passed, message)
