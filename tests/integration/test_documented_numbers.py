"""The fixture's numbers in docs/benchmarks.md come from a run: the repository's default run (its
pyproject.toml's [tool.selfdisc] table) is made here and every cell of the documented table is re-derived from
its results JSON, so a change to the fixture, a prompt, the sampler or a metric that moves a number fails
here until the table is rewritten from the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

MARKER = "<!-- fixture-metrics:"


def documented_table() -> dict[str, str]:
    """The table after the marker in docs/benchmarks.md, as header -> cell (one data row)."""
    lines = (REPO / "docs" / "benchmarks.md").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(MARKER)) + 1
    header, _, row = lines[start : start + 3]

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    return dict(zip(cells(header), cells(row), strict=True))


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def test_the_documented_fixture_numbers_are_what_the_default_run_measures(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "fixture.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfdisc_checks",
            "run",
            "--project",
            str(REPO),
            "--discriminate",
            "generate,likelihood",
        ]
        + ["--cache-dir", str(tmp_path / "cache"), "--results-json", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.exists(), run.stdout + run.stderr
    task = json.loads(out.read_text())["tasks"]["arithmetic"]
    m = task["metrics"]
    low, high = m["ci"]["dg_diff"]
    measured = {
        "questions": str(m["n"]),
        "S_gen": percent(m["s_gen"]),
        "S_disc": percent(m["s_disc"]),
        "DG-DIFF (points, 95% CI)": f"{100 * m['dg_diff']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]",
        "invalid": percent(m["invalid_rate"]),
        "oracle": percent(m["oracle"]),
        "right+wrong": percent(m["mixed_fraction"]),
        "majority": percent(m["majority"]),
        "S_disc (likelihood)": percent(m["s_disc_likelihood"]),
        "picks by position": "/".join(f"{100 * rate:.0f}" for rate in m["position_pick_rates"]),
    }
    documented = documented_table()
    assert set(documented) == set(measured)
    drifted = {name: (documented[name], measured[name]) for name in measured if documented[name] != measured[name]}
    assert not drifted, f"docs/benchmarks.md (documented, measured): {drifted}; rewrite the table from this run"
    # "the likelihood pick equals the generated one on every question" (docs/benchmarks.md, likelihood section)
    assert all(q["likelihood"]["index"] == q["choice"]["index"] for q in task["questions"])
