"""The Ray backend on a real local Ray instance with two CPU actors: the same candidates, choices and label
scores as the in-process backend, and the same results through pytest."""

from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'selfdisc-checks[ray]')")

from conftest import ADMIT_ANY, FIXTURE, Project  # noqa: E402
from selfdisc_checks import HFBackend, Sampling, get_task, locate_checkpoint  # noqa: E402
from selfdisc_checks.records import DecodeSpec  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_backend():
    from selfdisc_checks.backends.ray import RayBackend

    backend = RayBackend(locate_checkpoint(str(FIXTURE)), device="cpu", actors=2, rows_in_flight=3, prompts_in_flight=2)
    yield backend
    backend.close()


def test_two_actors_give_the_in_process_results(ray_backend):
    local = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    assert ray_backend.actors == 2 and ray_backend.fingerprint == local.fingerprint
    task = get_task("arithmetic")
    prompts = [local.render(task.prompt(example)) for example in task.load(limit=5)]
    assert [ray_backend.render(task.prompt(example)) for example in task.load(limit=5)] == prompts
    seeds = [[11 * i + j for j in range(4)] for i in range(5)]
    spec = DecodeSpec(8, ("\n",))
    heard = []
    remote = ray_backend.sample(prompts, seeds, Sampling(0.7), spec, done=lambda i, c: heard.append((i, c)))
    assert remote == local.sample(prompts, seeds, Sampling(0.7), spec)
    # each question streamed back on its own, as it finished on its actor
    assert sorted(i for i, _ in heard) == list(range(5)) and all(remote[i] == c for i, c in heard)
    assert ray_backend.greedy(prompts, spec) == local.greedy(prompts, spec)
    labels = [["(1)", "(2)", "(3)"]] * 5
    remote_scores, local_scores = ray_backend.option_logprobs(prompts, labels), local.option_logprobs(prompts, labels)
    # Shards pad their prompts to other widths, which moves the last float bits, never the pick.
    assert [row.index(max(row)) for row in remote_scores] == [row.index(max(row)) for row in local_scores]
    assert remote_scores == [pytest.approx(row, abs=1e-5) for row in local_scores]
    assert ray_backend.counters["row_steps"] > 0  # the work was done by the actors
    assert ray_backend.describe()["backend"] == "ray x 2"


def test_a_pytest_run_on_ray_equals_the_in_process_run(pytester):
    project = Project(pytester, ADMIT_ANY)
    args = (f"--model={FIXTURE}", "--limit", "4", "--samples", "4")
    result, local = project.run(*args, "--cache-dir", "cache-hf")
    assert result.ret == 0
    result, remote = project.run(*args, "--cache-dir", "cache-ray", "--backend", "ray", "--ray-actors", "2")
    assert result.ret == 0, result.stdout.str()
    assert remote["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 16  # sampled again, not read from a cache
    for a, b in zip(local["tasks"]["arithmetic"]["questions"], remote["tasks"]["arithmetic"]["questions"], strict=True):
        assert (a["candidates"], a["choice"]) == (b["candidates"], b["choice"])
    assert remote["run"]["device"] == "cpu"
