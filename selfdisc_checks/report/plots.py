"""Trend plots of a task across runs (PNG bytes), drawn with matplotlib's Agg renderer.

matplotlib is imported inside the function, so importing the report package costs nothing when no report
is written, and a Figure bound to its own Agg canvas keeps pyplot's global figure registry out of it.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.metric_registry import Metric
from selfdisc_checks.report.summary import on_scale, scale, when

# The drawn metrics (those the registry gives a colour): levels on top, differences around zero below them, and
# the rates of invalid and truncated outputs at the bottom (when a run recorded them).
LEVELS = registry.select(plotted=True, units=("level",))
DIFFERENCES = registry.select(plotted=True, units=("difference",))
RATES = registry.select(plotted=True, units=("rate",))
COLOURS = {metric.name: metric.colour for metric in LEVELS + DIFFERENCES + RATES}
LABELS = {metric.name: metric.label for metric in LEVELS + DIFFERENCES + RATES}
MAX_TICKS = 12  # more run labels than this overlap; the others are thinned out (the last is always shown)


@dataclass(frozen=True)
class TrendPoint:
    """One run of the task: its label and time (the x axis) and the task's metrics."""

    label: str
    timestamp: str
    metrics: dict[str, Any]


def trend_png(task: str, points: Sequence[TrendPoint], *, baseline: int | None = None, dpi: int = 160) -> bytes:
    """S_gen and S_disc (top) and DG-DIFF around zero (middle) with their confidence bands, one point per run;
    below them the invalid-pick and truncation rates in percent, when some run recorded them.

    ``baseline`` is the index in ``points`` of the run the latest is compared with (a dotted line). Levels are
    in percent, or on a graded task's own scale; DG-DIFF in points (rating points). A single run is drawn as
    points with interval bars and says that there is no trend yet.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not points:
        raise ValueError("a trend needs at least one run")
    reference = points[-1].metrics  # the latest run's scale names the axes
    graded = scale(reference)
    rates = [metric for metric in RATES if any(on_scale(p.metrics, metric.name) is not None for p in points)]
    fig = Figure(figsize=(6.6, 5.3 if rates else 4.1), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        3 if rates else 2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.6] if rates else [3, 2]}
    )
    top, middle = axes[0], axes[1]
    bottom = axes[-1]  # carries the run labels
    xs = list(range(len(points)))
    single = len(points) == 1
    for metric in LEVELS:
        _series(top, xs, points, metric, single)
    for metric in DIFFERENCES:
        _series(middle, xs, points, metric, single)
    middle.axhline(0.0, color="#475569", linewidth=0.9, zorder=1)
    if rates:
        for metric in rates:
            _series(bottom, xs, points, metric, single, percent=True)
        bottom.set_ylim(-4, 104)
        bottom.set_yticks([0, 50, 100])
        bottom.set_ylabel("invalid, truncated (%)", fontsize=8.5)

    level_unit = "%" if graded is None else f"rating ({graded[0]:g}-{graded[1]:g})"
    top.set_ylabel(f"accuracy ({level_unit})" if graded is None else level_unit, fontsize=8.5)
    middle.set_ylabel("DG-DIFF (points)" if graded is None else "DG-DIFF (rating pts)", fontsize=8.5)
    if graded is None:
        top.set_ylim(-3, 103)
    else:
        top.set_ylim(graded[0] - 0.03 * graded[2], graded[1] + 0.03 * graded[2])
    _symmetric(middle)
    title = f"{task}: {len(points)} runs" if not single else f"{task}: one run, no trend yet"
    top.set_title(title, loc="left", fontsize=10, fontweight="bold", color="#0f172a", parse_math=False)
    for axis in axes:
        if axis.get_legend_handles_labels()[0]:
            axis.legend(
                loc="lower right",
                bbox_to_anchor=(1.0, 0.98),
                fontsize=8,
                frameon=False,
                ncol=3,
                handlelength=1.6,
                columnspacing=1.2,
                borderaxespad=0.2,
            )
    for axis in axes:
        axis.grid(axis="y", color="#e2e8f0", linewidth=0.8)
        axis.set_axisbelow(True)
        axis.tick_params(labelsize=8, colors="#334155")
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            axis.spines[side].set_color("#94a3b8")
        if baseline is not None and 0 <= baseline < len(points) - 1:
            axis.axvline(baseline, color="#64748b", linestyle=":", linewidth=1.2, zorder=1)
    if baseline is not None and 0 <= baseline < len(points) - 1:
        late = baseline > len(points) / 2  # the label goes on the side with room
        top.annotate(
            "baseline",
            (baseline, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3 if late else 3, -10),
            textcoords="offset points",
            fontsize=7.5,
            color="#475569",
            ha="right" if late else "left",
        )
    shown = _ticks(len(points))
    crowded = len(shown) > 6  # then labels only, slanted; dates fit under a few labels
    bottom.set_xticks(shown)
    bottom.set_xticklabels(
        [_tick(points[i], with_time=not crowded) for i in shown],
        fontsize=7.5,
        parse_math=False,
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
        rotation_mode="anchor" if crowded else "default",
    )
    bottom.set_xlim(-0.5 if single else -0.3, len(points) - (0.5 if single else 0.7))
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a label in a script the font lacks draws boxes; not worth a warning
        warnings.simplefilter("ignore", UserWarning)
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return _compact(buffer.getvalue())


def _values(
    points: Sequence[TrendPoint], name: str, percent: bool = False
) -> tuple[list[float], list[float], list[float]]:
    """The shown value and interval bounds of ``name`` per run (NaN where a run lacks it); ``percent``: a rate,
    in percent on every task (not on a graded task's scale)."""
    values, lows, highs = [], [], []

    def shown(metrics: dict[str, Any], value: Any = None) -> float | None:
        if not percent:
            return on_scale(metrics, name, value)
        found = metrics.get(name) if value is None else value
        return 100 * found if isinstance(found, (int, float)) and not isinstance(found, bool) else None

    for point in points:
        value = shown(point.metrics)
        bounds = point.metrics.get("ci", {}).get(name) if isinstance(point.metrics.get("ci"), dict) else None
        low = high = value
        if isinstance(bounds, (list, tuple)) and len(bounds) == 2:
            low, high = shown(point.metrics, bounds[0]), shown(point.metrics, bounds[1])
        values.append(math.nan if value is None else value)
        lows.append(math.nan if low is None else low)
        highs.append(math.nan if high is None else high)
    return values, lows, highs


def _series(
    axis: Any, xs: list[int], points: Sequence[TrendPoint], metric: Metric, single: bool, percent: bool = False
) -> None:
    values, lows, highs = _values(points, metric.name, percent)
    if all(math.isnan(v) for v in values):
        return
    colour = metric.colour
    dashed = metric.method not in (None, registry.GENERATE)  # another method's variant of a drawn metric
    if single:
        below = [max(v - lo, 0.0) for v, lo in zip(values, lows, strict=False)]
        above = [max(hi - v, 0.0) for v, hi in zip(values, highs, strict=False)]
        axis.errorbar(
            xs,
            values,
            yerr=[below, above],
            fmt="o" if not dashed else "s",
            color=colour,
            capsize=4,
            markersize=6,
            label=metric.label,
            alpha=0.7 if dashed else 1.0,
        )
        return
    axis.fill_between(xs, lows, highs, color=colour, alpha=0.08 if dashed else 0.14, linewidth=0)
    axis.plot(
        xs,
        values,
        color=colour,
        linewidth=1.8,
        linestyle="--" if dashed else "-",
        label=metric.label,
        marker="o",
        markersize=3.5 if len(xs) > 15 else 4.5,
    )
    if not math.isnan(values[-1]):  # the latest run stands out
        axis.plot(
            [xs[-1]],
            [values[-1]],
            marker="o",
            markersize=8,
            color=colour,
            markeredgecolor="white",
            markeredgewidth=1.5,
            linestyle="none",
        )


def _symmetric(axis: Any) -> None:
    """DG-DIFF's axis centred on zero, so its sign reads at a glance."""
    low, high = axis.get_ylim()
    reach = max(abs(low), abs(high), 1e-9)
    axis.set_ylim(-reach, reach)


def _ticks(count: int) -> list[int]:
    step = max(1, math.ceil(count / MAX_TICKS))
    shown = list(range(count - 1, -1, -step))[::-1]  # counted back from the latest, which is always shown
    return shown


def _tick(point: TrendPoint, with_time: bool) -> str:
    label = point.label if len(point.label) <= 16 else point.label[:15] + "…"
    return f"{label}\n{when(point.timestamp)[:16]}" if with_time else label


def _compact(png: bytes) -> bytes:
    """The PNG with a 256-colour palette: a third of the size, no visible change for flat-coloured plots.
    (Pillow comes with matplotlib; without it the image is kept as drawn.)"""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
