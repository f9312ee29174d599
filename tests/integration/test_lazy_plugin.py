"""An installed selfdisc-checks costs a repository's unrelated tests nothing: they run unchanged, nothing is written,
and collection is no slower than without the plugin (to within 0.3 s)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

HOST_CONFIG = '[tool.selfdisc]\nmodel = "models/next"\ntasks = ["gsm8k"]\ndata = { gsm8k = "missing.jsonl" }\n'


def _host(folder: Path) -> Path:
    """A repository whose [tool.selfdisc] names a model and data that do not exist yet, with one unrelated test."""
    (folder / "tests").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(HOST_CONFIG)
    (folder / "tests" / "test_unrelated.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    return folder


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if "__pycache__" not in path.parts}


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_unrelated_tests_pass_and_nothing_is_written(tmp_path, workers):
    host = _host(tmp_path / "host")
    before = _files(host)
    result = _pytest(host, *workers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "selfdisc" not in result.stdout + result.stderr
    assert _files(host) == before  # no cache folder, no file-hash memo


def test_a_selfdisc_option_still_starts_it(tmp_path):
    """Asking for it on the command line checks the configuration at once, as before."""
    host = _host(tmp_path / "host")
    result = _pytest(host, "--limit", "2")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "does not exist" in result.stdout + result.stderr  # the missing data file, named before any work


def test_collection_costs_at_most_a_third_of_a_second_more(tmp_path):
    host = _host(tmp_path / "host")

    def cpu_seconds(*args: str) -> float:
        """CPU time of one collection (less disturbed by other work on the machine than wall time)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert _pytest(host, "--collect-only", *args).returncode == 0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime

    runs = [(cpu_seconds("-p", "no:selfdisc"), cpu_seconds()) for _ in range(5)]  # interleaved
    without, loaded = min(r[0] for r in runs), min(r[1] for r in runs)
    assert loaded - without <= 0.3, f"collection with the plugin {loaded:.2f} s of CPU vs without {without:.2f} s"


def test_importing_the_plugin_imports_no_engine():
    code = (
        "import sys, selfdisc_checks.plugin; "
        "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'datasets', 'selfdisc_checks.engine') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
