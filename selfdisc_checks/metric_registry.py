"""One declaration per metric: its name, how it is shown, which way is better, and what reads it.

Every other module (the gate, the baseline comparison, the terminal table, summary.md, the HTML report and
its trend plots, a graded task's ``on_scale`` values, the JUnit properties) takes metric names, labels,
units and sides from here, so adding or relabelling a metric is one edit. A metric of a discrimination
method is declared once; each method it is measured for gives one variant, named with the method's suffix
(``s_disc`` for the generated-label method, ``s_disc_likelihood`` for likelihood) and labelled with the
method's name ("S_disc (likelihood)"). Pure Python: no torch, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Unit = Literal["level", "difference", "rate"]
"""``level``: a mean score (percent, or a graded task's own scale); ``difference``: a difference of two
levels (percentage points, or rating points); ``rate``: a share of questions or picks (always percent)."""
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Method:
    """A discrimination method: how the model's pick among its candidates is read."""

    name: str  # as given to --discriminate
    short: str  # in narrow table headers: "S_disc (lik.)"

    @property
    def suffix(self) -> str:
        """The generated-label method's metrics keep their plain names; other methods' carry the name, so a
        name always means one method."""
        return "" if self.name == GENERATE else f"_{self.name}"


GENERATE = "generate"
METHODS: tuple[Method, ...] = (Method(GENERATE, "gen."), Method("likelihood", "lik."))


@dataclass(frozen=True)
class Metric:
    """One metric as a task's ``metrics`` record holds it (one variant per method for a method's metric)."""

    name: str  # the key in a task's metrics: "dg_diff_likelihood"
    base: str  # the declaration's name: "dg_diff"
    label: str  # in check messages, plot legends and the report: "DG-DIFF (likelihood)"
    stem: str  # the declaration's short label, for narrow tables: "DG-DIFF"
    qualifier: str | None  # the method's short name when it is not generated labels: "lik."
    unit: Unit
    direction: Direction
    ci: bool  # has a paired bootstrap interval under metrics["ci"]
    method: str | None  # the discrimination method that produced it; None for S_gen, oracle, majority
    gated: bool  # a pytest check reads it (a threshold may name it)
    compared: bool  # compared question by question against a baseline
    colour: str | None  # its colour in the trend plot; None: not drawn there
    default_bound: float | None  # the built-in threshold, when there is one
    default_mode: str  # the gate mode a bare number under [tool.selfdisc.thresholds] gets

    @property
    def short(self) -> str:
        """The label of narrow tables (terminal, summary.md): "DG-DIFF (lik.)"."""
        return self.short_with()

    def short_with(self, *notes: str) -> str:
        """The short label with ``notes`` in its brackets after the method: "DG-DIFF (lik., pts)"."""
        inside = [note for note in (self.qualifier, *notes) if note]
        return f"{self.stem} ({', '.join(inside)})" if inside else self.stem

    @property
    def side(self) -> Literal["floor", "ceiling"]:
        """Higher is better: a check asks for a minimum (a floor); lower is better: a maximum (a ceiling)."""
        return "floor" if self.direction == "higher" else "ceiling"

    @property
    def on_scale(self) -> bool:
        """Shown on a graded task's own scale (a 1-10 rating): levels and differences, not rates."""
        return self.unit != "rate"

    @property
    def bounds(self) -> tuple[float, float]:
        """Where the value lives: rates and levels in [0, 1], differences of them in [-1, 1]."""
        return (-1.0 if self.unit == "difference" else 0.0, 1.0)


@dataclass(frozen=True)
class _Declaration:
    name: str
    label: str
    short: str
    unit: Unit
    direction: Direction
    ci: bool = False
    methods: tuple[str, ...] = ()  # the methods it is measured for; () for a metric of the candidates alone
    gated: bool = False
    compared: bool = False
    colour: str | None = None
    default_bound: float | None = None
    default_mode: str = "point"


_DECLARATIONS = (
    _Declaration("s_gen", "S_gen", "S_gen", "level", "higher", ci=True, gated=True, compared=True, colour="#2563eb"),
    _Declaration(
        "s_disc",
        "S_disc",
        "S_disc",
        "level",
        "higher",
        ci=True,
        methods=("generate", "likelihood"),
        gated=True,
        compared=True,
        colour="#ea580c",
    ),
    _Declaration(
        "dg_diff",
        "DG-DIFF",
        "DG-DIFF",
        "difference",
        "higher",
        ci=True,
        methods=("generate", "likelihood"),
        gated=True,
        compared=True,
        colour="#7c3aed",
        # The paper's question, asked so that an unchanged model does not fail on noise half the time.
        default_bound=0.0,
        default_mode="not-below",
    ),
    # A likelihood pick is always one of the labels, so only generated picks can be invalid.
    _Declaration(
        "invalid_rate", "invalid rate", "invalid", "rate", "lower", methods=("generate",), gated=True, colour="#dc2626"
    ),
    # Outputs cut at the token limit: discrimination outputs (a cut one is often an invalid pick), and candidates.
    # Reported, trended and compared in the report; no check reads them.
    _Declaration(
        "truncated_rate", "truncation rate", "truncated", "rate", "lower", methods=("generate",), colour="#d97706"
    ),
    _Declaration(
        "candidates_truncated_rate", "candidate truncation rate", "truncated cand.", "rate", "lower", colour="#0d9488"
    ),
    _Declaration(
        "position_bias",
        "position bias",
        "position bias",
        "rate",
        "lower",
        methods=("generate", "likelihood"),
        gated=True,
    ),
    _Declaration("oracle", "oracle", "oracle", "level", "higher"),
    _Declaration("majority", "majority", "majority", "level", "higher"),
)

_METHODS_BY_NAME = {method.name: method for method in METHODS}


def _variant(declaration: _Declaration, method: Method | None) -> Metric:
    named = method if method is not None and method.name != GENERATE else None  # shown beside the label
    return Metric(
        name=declaration.name + (method.suffix if method is not None else ""),
        base=declaration.name,
        label=f"{declaration.label} ({named.name})" if named else declaration.label,
        stem=declaration.short,
        qualifier=named.short if named else None,
        unit=declaration.unit,
        direction=declaration.direction,
        ci=declaration.ci,
        method=method.name if method is not None else None,
        gated=declaration.gated,
        compared=declaration.compared,
        colour=declaration.colour,
        default_bound=declaration.default_bound,
        default_mode=declaration.default_mode,
    )


def _expand() -> tuple[Metric, ...]:
    """Every variant: first what a generated-label run reports (in declaration order), then each other
    method's variants, so the generated-label names always come first in lists and messages."""
    ordered: list[Metric] = []
    for rank, method in enumerate(METHODS):
        for declaration in _DECLARATIONS:
            if not declaration.methods:
                if rank == 0:
                    ordered.append(_variant(declaration, None))
            elif method.name in declaration.methods:
                ordered.append(_variant(declaration, method))
    return tuple(ordered)


ALL: tuple[Metric, ...] = _expand()
_BY_NAME = {metric.name: metric for metric in ALL}


def find(name: str) -> Metric | None:
    """The metric called ``name``, or None for a key no declaration gives (counts, stderrs, rates by position)."""
    return _BY_NAME.get(name)


def get(name: str) -> Metric:
    found = _BY_NAME.get(name)
    if found is None:
        raise KeyError(f"{name!r} is not a declared metric (see selfdisc_checks.metric_registry)")
    return found


def method(name: str) -> Method:
    found = _METHODS_BY_NAME.get(name)
    if found is None:
        raise KeyError(f"{name!r} is not a discrimination method; use one of {', '.join(_METHODS_BY_NAME)}")
    return found


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS_BY_NAME)


def variant(base: str, method_name: str) -> Metric:
    """The variant of declaration ``base`` a run discriminating with ``method_name`` reports (``s_gen`` for
    any method: it has none)."""
    for metric in ALL:
        if metric.base == base and metric.method in (None, method_name):
            return metric
    raise KeyError(f"{base!r} has no variant for method {method_name!r}")


def select(
    *,
    gated: bool | None = None,
    compared: bool | None = None,
    ci: bool | None = None,
    side: Literal["floor", "ceiling"] | None = None,
    units: tuple[Unit, ...] | None = None,
    method: str | None = None,
    reported_by: str | None = None,
    plotted: bool | None = None,
) -> tuple[Metric, ...]:
    """The metrics (in registry order) that match every filter given. ``method``: produced by exactly that
    method; ``reported_by``: what a run discriminating with that method reports (its variants and the
    method-free metrics); ``plotted``: drawn in the trend plot (has a colour)."""
    return tuple(
        m
        for m in ALL
        if (gated is None or m.gated == gated)
        and (compared is None or m.compared == compared)
        and (ci is None or m.ci == ci)
        and (side is None or m.side == side)
        and (units is None or m.unit in units)
        and (method is None or m.method == method)
        and (reported_by is None or m.method in (None, reported_by))
        and (plotted is None or (m.colour is not None) == plotted)
    )


def other_methods(records: Iterable[Mapping[str, Any]]) -> tuple[Method, ...]:
    """The discrimination methods besides generated labels that some task's metrics hold (``records``: each
    task's metrics); a table gives each its own columns."""
    found = list(records)
    return tuple(
        m
        for m in METHODS
        if m.name != GENERATE and any(metric.name in record for metric in select(method=m.name) for record in found)
    )


def names(metrics: tuple[Metric, ...]) -> tuple[str, ...]:
    return tuple(m.name for m in metrics)


def is_difference(name: str) -> bool:
    """Whether ``name`` is shown as a signed difference (DG-DIFF); False for names no declaration gives."""
    found = _BY_NAME.get(name)
    return found is not None and found.unit == "difference"


def interval_names() -> tuple[str, str, str]:
    """The metrics one paired bootstrap of (S_gen, S_disc) per question gives intervals for, in its column
    order: the method-free level, the pick's level, and their difference."""
    found = select(ci=True, reported_by=GENERATE)
    levels = [m.name for m in found if m.unit == "level"]
    differences = [m.name for m in found if m.unit == "difference"]
    if len(levels) != 2 or len(differences) != 1:  # pragma: no cover - a declaration error, caught by the tests
        raise RuntimeError("the registry must declare exactly two levels and one difference with intervals")
    return levels[0], levels[1], differences[0]
