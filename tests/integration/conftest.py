"""Helpers for end-to-end runs: a scratch project holding the product's checks, run in a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "tiny-arith"
CHECKS = (REPO / "selfdisc_checks" / "checks" / "test_model.py").read_text()
REGRESSION = (REPO / "selfdisc_checks" / "checks" / "test_regression.py").read_text()
LIKELIHOOD = (REPO / "selfdisc_checks" / "checks" / "test_likelihood.py").read_text()


class Project:
    """A throwaway pytest project with the product's checks and its own [tool.selfdisc] table."""

    def __init__(
        self, pytester: pytest.Pytester, config: str, regression: bool = False, likelihood: bool = False
    ) -> None:
        self.pytester = pytester
        self.path = pytester.path
        pytester.makepyfile(test_checks=CHECKS)
        if regression:
            pytester.makepyfile(test_regression=REGRESSION)
        if likelihood:
            pytester.makepyfile(test_likelihood=LIKELIHOOD)
        pytester.makefile(".toml", pyproject=f'[tool.selfdisc]\ncache_dir = "cache"\n{config}')

    def run(self, *args: str, results: str = "results.json") -> tuple[pytest.RunResult, dict | None]:
        result = self.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--results-json", results, *args)
        path = self.path / results
        document = json.loads(path.read_text()) if path.exists() else None
        if path.exists():
            path.unlink()
        return result, document


ADMIT_ANY = (
    "[tool.selfdisc.thresholds]\ns_gen = 0.0\ns_disc = 0.0\ndg_diff = -1.0\ninvalid_rate = 1.0\n"
    "position_bias = 1.0\ns_disc_likelihood = 0.0\ndg_diff_likelihood = -1.0\nposition_bias_likelihood = 1.0\n"
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    return Project(pytester, ADMIT_ANY)


@pytest.fixture
def regression_project(pytester: pytest.Pytester) -> Project:
    """A project with the baseline check as well."""
    return Project(pytester, ADMIT_ANY, regression=True)


@pytest.fixture
def likelihood_project(pytester: pytest.Pytester) -> Project:
    """A project with the likelihood-discrimination checks as well."""
    return Project(pytester, ADMIT_ANY, likelihood=True)


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Path:
    """A private copy of the fixture checkpoint that a test may change."""
    target = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, target)
    return target


def weaken(checkpoint: Path) -> None:
    """Issue 27's broken model: noise of one standard deviation (seeded) on every matrix of ``checkpoint``'s
    weights, in place. On the fixture S_gen collapses while DG-DIFF rises."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(checkpoint / "model.safetensors")
    generator = torch.Generator().manual_seed(0)
    for name, tensor in tensors.items():
        if tensor.dim() == 2:
            tensors[name] = tensor + tensor.std() * torch.randn(tensor.shape, generator=generator)
    save_file(tensors, checkpoint / "model.safetensors", metadata={"format": "pt"})


def assert_checks_ran(result: pytest.RunResult) -> None:
    """All five checks ran and passed, or (on a tiny run, with -rs) were skipped because their metric cannot be
    measured there: DG-DIFF without a mixed question, position bias without a valid pick."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 5 and outcomes.get("passed", 0) >= 3, outcomes
    unmeasurable = [line for line in result.stdout.lines if line.startswith("SKIPPED") and "cannot be measured" in line]
    assert len(unmeasurable) == outcomes.get("skipped", 0), result.stdout.str()
    # reported at the check that was skipped, not at the plugin line that raised the skip
    assert all("plugin.py" not in line and ".py:" in line for line in unmeasurable), unmeasurable
