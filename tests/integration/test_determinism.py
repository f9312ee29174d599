"""The same checkpoint, settings and seed give the same candidates, choices and metrics: across runs, across
``-n 1`` and ``-n 2``, across batch sizes, and whether the cache held them or not (float32 on CPU)."""

from __future__ import annotations

import pytest

from conftest import FIXTURE

pytestmark = pytest.mark.slow

ARGS = (f"--model={FIXTURE}", "--limit", "16", "--samples", "4")


def measured(document: dict) -> tuple:
    task = document["tasks"]["arithmetic"]
    return task["metrics"], [(q["candidates"], q["choice"]) for q in task["questions"]]


def test_candidates_and_metrics_do_not_depend_on_workers_batches_or_the_cache(project):
    result, first = project.run(*ARGS, "--cache-dir", "one")
    assert result.ret == 0, result.stdout.str()
    assert first["run"]["dtype"] == "float32" and first["settings"]["batch_size"] == 8  # what the run used
    runs = {
        "a cache hit": project.run(*ARGS, "--cache-dir", "one")[1],
        "two xdist workers": project.run(*ARGS, "--cache-dir", "two", "-n", "2")[1],
        "another batch size": project.run(*ARGS, "--cache-dir", "three", "--batch-size", "3")[1],
    }
    assert runs["a cache hit"]["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 0
    for how, document in runs.items():
        assert document["tasks"]["arithmetic"]["run"]["candidates_sampled"] in (0, 16 * 4)
        assert measured(document) == measured(first), f"{how} changed what was measured"
    _, other_seed = project.run(*ARGS, "--cache-dir", "one", "--seed", "99")
    assert measured(other_seed)[1] != measured(first)[1]  # the seed does change the candidates
