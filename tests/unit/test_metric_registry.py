"""The metric registry: one declaration per metric, the lists every module derives from it, and the rule that
no other module spells a list of metric names (so a new metric cannot be half added)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import selfdisc_checks
from selfdisc_checks import gate, metric_registry, statistics
from selfdisc_checks.metric_registry import ALL, GENERATE, METHODS
from selfdisc_checks.report import compare, plots, summary

PACKAGE = Path(selfdisc_checks.__file__).parent
NAMES = frozenset(metric.name for metric in ALL)


def test_the_derived_lists_are_the_ones_every_caller_imported_before():
    """Pinned: the public names other modules and users import keep their values and order."""
    assert gate.FLOOR_METRICS == ("s_gen", "s_disc", "dg_diff", "s_disc_likelihood", "dg_diff_likelihood")
    assert gate.CEILING_METRICS == ("invalid_rate", "position_bias", "position_bias_likelihood")
    assert gate.CHECKED == gate.FLOOR_METRICS + gate.CEILING_METRICS
    assert gate.LABELS == {
        "s_gen": "S_gen",
        "s_disc": "S_disc",
        "dg_diff": "DG-DIFF",
        "invalid_rate": "invalid rate",
        "position_bias": "position bias",
        "s_disc_likelihood": "S_disc (likelihood)",
        "dg_diff_likelihood": "DG-DIFF (likelihood)",
        "position_bias_likelihood": "position bias (likelihood)",
    }
    assert gate.DEFAULTS == {
        "dg_diff": gate.Threshold(0.0, "not-below"),
        "dg_diff_likelihood": gate.Threshold(0.0, "not-below"),
    }
    assert compare.METRICS == ("s_gen", "s_disc", "dg_diff", "s_disc_likelihood", "dg_diff_likelihood")
    assert compare._LIKELIHOOD == ("s_disc_likelihood", "dg_diff_likelihood")
    assert summary.NAMES["s_disc_likelihood"] == "S_disc (lik.)"
    assert summary.NAMES["invalid_rate"] == "invalid"
    assert [m.name for m in summary.HEADLINE] == ["s_gen", "s_disc", "dg_diff"]
    assert [m.name for m in plots.LEVELS] == ["s_gen", "s_disc", "s_disc_likelihood"]
    assert [m.name for m in plots.DIFFERENCES] == ["dg_diff", "dg_diff_likelihood"]
    assert plots.COLOURS["s_disc_likelihood"] == plots.COLOURS["s_disc"]


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_a_variant_is_its_declaration_plus_its_method(metric):
    method = metric.method
    if method is None:
        assert metric.name == metric.base and metric.qualifier is None
    else:
        suffix = metric_registry.method(method).suffix
        assert metric.name == metric.base + suffix
        assert (method == GENERATE) == (metric.qualifier is None)
        if method != GENERATE:
            assert metric.label.endswith(f" ({method})") and metric.short.endswith(")")
    assert metric_registry.get(metric.name) is metric
    assert metric_registry.variant(metric.base, method or GENERATE) is metric
    assert metric.side == ("floor" if metric.direction == "higher" else "ceiling")
    assert metric.bounds == ((-1.0, 1.0) if metric.unit == "difference" else (0.0, 1.0))
    assert metric.on_scale == (metric.unit != "rate")
    assert not metric.compared or metric.ci  # a compared metric is shown with its interval


def test_names_are_unique_and_generated_label_names_come_first():
    names = [m.name for m in ALL]
    assert len(names) == len(set(names))
    ranks = [0 if m.method in (None, GENERATE) else 1 for m in ALL]
    assert ranks == sorted(ranks)
    assert [m.name for m in METHODS] == ["generate", "likelihood"] and METHODS[0].suffix == ""


def test_lookups_say_what_is_unknown():
    assert metric_registry.find("n") is None and not metric_registry.is_difference("n")
    with pytest.raises(KeyError, match="not a declared metric"):
        metric_registry.get("s_gen_typo")
    with pytest.raises(KeyError, match="not a discrimination method"):
        metric_registry.method("vote")
    with pytest.raises(KeyError, match="no variant"):
        metric_registry.variant("invalid_rate", "likelihood")  # a likelihood pick cannot be invalid


def test_the_bootstrap_gives_an_interval_for_exactly_the_declared_interval_metrics():
    intervals = statistics.bootstrap_intervals([0.0, 1.0, 0.5], [1.0, 1.0, 0.0], resamples=50)
    assert tuple(intervals) == metric_registry.interval_names() == ("s_gen", "s_disc", "dg_diff")
    assert {m.base for m in metric_registry.select(ci=True)} == set(intervals)


def test_a_threshold_outside_a_metrics_range_names_the_range():
    with pytest.raises(selfdisc_checks.SelfDiscError, match=r"outside \[-1, 1\]"):
        gate.parse_thresholds({"dg_diff_likelihood": -2}, [])
    with pytest.raises(selfdisc_checks.SelfDiscError, match=r"outside \[0, 1\]"):
        gate.parse_thresholds({"position_bias_likelihood": 50}, [])


def _static(node: ast.expr) -> bool:
    """A value fixed in the source (a label, a colour, ``Threshold(0.0, "not-below")``), not one computed
    from data: the difference between a table about metrics and the code that computes them."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_static(item) for item in node.elts)
    if isinstance(node, ast.Call):
        return all(_static(arg) for arg in node.args) and all(_static(k.value) for k in node.keywords)
    return False


def name_lists(source: str) -> list[tuple[int, list[str]]]:
    """(line, names) of every tuple, list or set display holding two or more metric names, and of every dict
    display mapping two or more metric names to fixed values: a list of metrics written out by hand."""
    found = []
    for node in ast.walk(ast.parse(source)):
        items: list[ast.expr]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key, value in zip(node.keys, node.values, strict=True) if key and _static(value)]
        else:
            continue
        spelled = [item.value for item in items if isinstance(item, ast.Constant) and item.value in NAMES]
        if len(spelled) >= 2:
            found.append((node.lineno, spelled))
    return found


def test_the_detector_finds_hand_written_lists():
    assert name_lists('X = ("s_gen", "s_disc")') == [(1, ["s_gen", "s_disc"])]
    assert name_lists('LABELS = {"oracle": "o", "majority": "m"}') == [(1, ["oracle", "majority"])]
    assert name_lists('for name in ["dg_diff", "dg_diff_likelihood"]: pass') != []
    assert name_lists('D = {"dg_diff": Threshold(0.0, "not-below"), "s_disc": Threshold(0.5)}') != []
    assert name_lists('x = m.get("s_gen"); y = ("task", "s_gen")') == []  # one name is a lookup, not a list
    assert name_lists('m = {"s_gen": mean(gen), "oracle": mean(best)}') == []  # computing the metrics


def test_no_module_but_the_registry_spells_a_list_of_metric_names():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {', '.join(names)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "metric_registry.py"
        for line, names in name_lists(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "declare metrics in metric_registry and derive lists from it:\n" + "\n".join(offenders)


def test_other_methods_are_those_some_task_measured():
    assert metric_registry.other_methods([{"s_gen": 0.5}, {"s_disc": 0.5}]) == ()
    found = metric_registry.other_methods([{"s_gen": 0.5}, {"dg_diff_likelihood": 0.1}])
    assert [m.name for m in found] == ["likelihood"]


def test_the_registry_and_its_readers_import_no_torch_and_no_pytest():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import selfdisc_checks.metric_registry, selfdisc_checks.gate, selfdisc_checks.metrics\n"
        "import selfdisc_checks.report.compare, selfdisc_checks.report.summary\n"
        "assert 'torch' not in sys.modules and 'pytest' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
