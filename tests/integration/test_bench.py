"""The benchmark command runs and prints its table of ratios (what it measures is not asserted: timing is not a
test; the ratios are read by people)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import FIXTURE

pytestmark = pytest.mark.slow


def test_the_benchmark_prints_its_table_on_the_fixture():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfdisc_checks.bench",
            f"--model={FIXTURE}",
            "--limit",
            "2",
            "--no-xdist",
            "--rows",
            "4",
            "--context",
            "16",
            "--verdict-limit",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"selfdisc-checks bench: {FIXTURE}, arithmetic, 2 questions x 4 samples")
    for row in (
        "cold run / warm-cache run",
        "batched / question-by-question sampling",
        "useful / computed row-steps",
        "discrimination / generation time",
        "peak memory",
        "sampler / decode step",
        "decode tokens/s / bandwidth floor",
        "time to verdict: whole run / --stop-when-decided",
    ):
        assert any(line.strip().startswith(row) for line in lines), done.stdout
    verdict = next(line for line in lines if "time to verdict" in line)
    assert "s for 64 questions vs" in verdict and "the same verdicts" in verdict, verdict
