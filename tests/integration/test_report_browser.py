"""report.html in a real headless Chromium: built from real runs of the fixture model (and a weakened copy),
it loads with no error, shows its decoded trend plots, its Table 2 cells equal the JSON, and a candidate
holding a script tag is shown as text, never run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from browser import Browser, find_chromium
from safetensors.torch import load_file, save_file

from conftest import FIXTURE, Project
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.report.html import anchor, write_report
from selfdisc_checks.report.summary import p_value, percent, show, show_p

INJECTED = "<script>window.pwned=1</script>"
# The repository's own thresholds: the weakened copy fails some of them.
CONFIG = (
    '[tool.selfdisc.thresholds]\ns_gen = 0.3\ns_disc = 0.3\ndg_diff = { floor = -0.05, mode = "not-below" }\n'
    "invalid_rate = 0.1\n"
)
ARGS = ("--limit", "6", "--samples", "4")

# Skipped on a workstation without Chromium; in CI (.ci/run installs it) a missing browser is a failure.
needs_chromium = pytest.mark.skipif(
    find_chromium() is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install chromium, or set $CHROMIUM)",
)


def weaken(checkpoint: Path) -> None:
    """Perturb every weight matrix by 60% of its spread: a much worse model (as in test_protocol.py)."""
    weights = checkpoint / "model.safetensors"
    tensors = load_file(weights)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in tensors.items():
        if tensor.dim() == 2:
            tensors[name] = tensor + 0.6 * tensor.std() * torch.randn(tensor.shape, generator=generator)
    save_file(tensors, weights, metadata={"format": "pt"})


def run_once(project: Project, model: Path, label: str, stamp: str, run_id: int, *extra: str) -> HistoryRun:
    result, document = project.run(f"--model={model}", *ARGS, *extra)
    assert document is not None and document.get("checks"), result.stdout.str()
    return HistoryRun(run_id, label, stamp, document)


def _history(pytester: pytest.Pytester, tmp_path: Path) -> list[HistoryRun]:
    """Three real runs: the fixture, the fixture sampled at another temperature (not comparable), and a
    weakened copy (the latest), with a script tag injected into one of its candidates."""
    project = Project(pytester, CONFIG)
    weak = tmp_path / "weak"
    shutil.copytree(FIXTURE, weak)
    weaken(weak)
    runs = [
        run_once(project, FIXTURE, "v1.0", "2026-11-20T09:00:00Z", 1),
        run_once(project, FIXTURE, "v1.1-hot", "2026-11-25T09:00:00Z", 2, "--temperature", "1.0", "--seed", "7"),
        run_once(project, weak, "v1.2-rc1", "2026-11-30T14:10:40Z", 3),
    ]
    latest = runs[-1].document["tasks"]["arithmetic"]
    latest["questions"][0]["candidates"][0]["text"] = INJECTED
    return runs


@pytest.mark.slow
@needs_chromium
def test_the_report_opens_in_chromium_with_its_plots_numbers_and_no_script(pytester, tmp_path):
    runs = _history(pytester, tmp_path)
    out = tmp_path / "report"
    paths = write_report(runs, out)
    assert {p.name for p in paths} == {"report.html", "summary.md", "trend_arithmetic.png"}
    latest = runs[-1].document
    metrics = latest["tasks"]["arithmetic"]["metrics"]

    with Browser() as browser:
        browser.open((out / "report.html").as_uri())
        images = browser.evaluate(
            "[...document.images].map(i => ({w: i.naturalWidth, h: i.naturalHeight, "
            "done: i.complete, src: i.src.slice(0, 22)}))"
        )
        cells = browser.evaluate(
            "[...document.querySelectorAll('table.results [data-metric]')].map(e => "
            "({task: e.dataset.task, metric: e.dataset.metric, value: e.dataset.value, "
            "text: e.textContent}))"
        )
        pwned = browser.evaluate("typeof window.pwned")
        candidate = browser.evaluate(
            f"document.querySelector('#{anchor('arithmetic', latest['tasks']['arithmetic']['questions'][0]['id'])} "
            "pre.cand').textContent"
        )
        scripts = browser.evaluate("document.scripts.length")
        banner = browser.evaluate("document.querySelector('.banner').textContent")
        failing_shown = browser.evaluate("document.querySelectorAll('.failing li').length")
        comparison = browser.evaluate("document.querySelector('#task-arithmetic .side').textContent")
        links = browser.evaluate("[...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href'))")
        missing = browser.evaluate(
            "[...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href'))"
            ".filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))"
        )
        shot = browser.screenshot(tmp_path / "report.png")
        browser.screenshot(tmp_path / "report-top.png", full_page=False)
        errors = browser.errors()

    print(f"screenshot: {shot}")
    assert errors == []
    assert images and all(i["w"] > 0 and i["h"] > 0 and i["done"] for i in images), images
    assert all(i["src"].startswith("data:image/png;base64") for i in images)
    assert pwned == "undefined" and scripts == 0
    assert candidate == INJECTED  # shown as text

    # Table 2: every number is the JSON's, formatted as documented.
    found = {c["metric"]: c for c in cells if c["task"] == "arithmetic"}
    for name in ("s_gen", "s_disc", "dg_diff", "oracle"):
        assert float(found[name]["value"]) == metrics[name], name
        assert found[name]["text"] == show(metrics, name), name
    assert found["invalid_rate"]["text"] == percent(metrics["invalid_rate"])
    assert int(found["n"]["value"]) == metrics["n"] == 6
    test, p = p_value(metrics)
    assert test == "mcnemar" and float(found["p_value"]["value"]) == p and found["p_value"]["text"] == show_p(p)
    assert json.loads(found["dg_diff_ci"]["value"]) == metrics["ci"]["dg_diff"]

    # The failing checks (from this run's own pytest session) lead the page.
    failing = [c for c in latest["checks"] if c["outcome"] == "failed"]
    assert failing_shown == len(failing)
    assert (f"{len(failing)} failing check" in banner) if failing else ("checks passed" in banner)
    # The nearest comparable run is v1.0: v1.1-hot sampled at another temperature.
    assert "Against v1.0" in comparison, comparison
    assert links and missing == [], missing
    assert (out / "summary.md").read_text().count("| arithmetic |") == 1
    assert shot.stat().st_size > 10_000


def wide_checks(task: str) -> list[dict]:
    """Every shipped check of ``task`` as a run from a virtual environment inside the repository names it."""
    venv = ".venv/lib/python3.11/site-packages/selfdisc_checks/checks"
    found = []
    for file, name, metric in [
        ("test_model.py", "test_generation_accuracy", "s_gen"),
        ("test_model.py", "test_position_bias", "position_bias"),
        ("test_likelihood.py", "test_likelihood_position_bias", "position_bias_likelihood"),
        ("test_regression.py", "test_no_regression", "dg_diff_likelihood"),
    ]:
        params = f"{task}-{metric}" if name == "test_no_regression" else task
        found.append(
            {
                "id": f"{venv}/{file}::{name}[{params}]",
                "name": name,
                "task": task,
                "metric": metric,
                "outcome": "failed",
                "message": f"{task}: {metric} " + "regressed against the baseline selfdisc-baseline/results.json " * 6,
                "value": 0.1,
                "interval": [0.05, 0.15],
                "threshold": {"bound": 0.2, "side": "floor", "mode": "confident"},
            }
        )
    return found


@pytest.mark.slow
@needs_chromium
def test_the_checks_table_fits_a_1400_px_window(tmp_path):
    """Long check ids (a virtual environment inside the repository), a long task name, long messages: no
    part of the page is wider than the window, and the checks table needs no scrolling."""
    from tests.unit.test_report import make_document, run

    task = "internal-benchmark-with-a-long-name"
    document = make_document(1, {task: {}}, checks=wide_checks(task), model="/models/team/run-7/checkpoint-12000")
    write_report([run(1, document)], tmp_path)
    with Browser(width=1400, height=900) as browser:
        browser.open((tmp_path / "report.html").as_uri())
        page_width = browser.evaluate("document.documentElement.scrollWidth")
        overflowing = browser.evaluate(
            "[...document.querySelectorAll('#checks *, #overview *')].filter(e => e.scrollWidth > e.clientWidth + 1 "
            "&& getComputedStyle(e).overflowX !== 'visible').map(e => e.tagName + '.' + e.className + ' ' + "
            "e.scrollWidth + '>' + e.clientWidth)"
        )
        table = browser.evaluate(
            "(() => { const t = document.querySelector('table.checks-table'); "
            "return [t.getBoundingClientRect().right, t.parentElement.getBoundingClientRect().right]; })()"
        )
        shown = browser.evaluate("document.querySelector('table.checks-table code').textContent")
        browser.screenshot(tmp_path / "checks.png")
    assert page_width <= 1400
    assert overflowing == [], overflowing
    assert table[0] <= table[1] + 0.5, table
    assert shown == f"test_model.py::test_generation_accuracy[{task}]"
