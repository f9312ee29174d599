"""--stop-when-decided on the fixture checkpoint: far thresholds stop within 100 of its 200 questions with the
full run's verdicts, a threshold at the measured value runs every question, the plugin (one process and xdist)
records where each task stopped, a nightly of three tasks against its own baseline raises no alarm in 20 seeds,
and a weakened copy of the fixture is caught, early."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURE, Project, weaken
from selfdisc_checks import evaluate

pytestmark = pytest.mark.slow

FAR = {
    "s_gen": {"floor": 0.1, "mode": "confident"},
    "s_disc": {"floor": 0.1, "mode": "confident"},
    "dg_diff": {"floor": -0.4, "mode": "not-below"},
    "invalid_rate": {"ceiling": 0.5, "mode": "confident"},
}


def _outcomes(evaluation) -> dict[str, str]:
    return {check["id"]: check["outcome"] for check in evaluation.checks}


def test_far_thresholds_stop_within_100_questions_with_the_verdicts_of_the_full_run(tmp_path):
    full = evaluate(str(FIXTURE), ["arithmetic"], cache_dir=str(tmp_path / "full"), thresholds=FAR)
    early = evaluate(
        str(FIXTURE), ["arithmetic"], cache_dir=str(tmp_path / "early"), thresholds=FAR, stop_when_decided=True
    )
    record = early.document["tasks"]["arithmetic"]["sequential"]
    assert record["questions_available"] == 200 and record["questions_run"] <= 100, record
    assert record["decided"] and set(record["checks"]) == set(FAR)
    assert _outcomes(early) == _outcomes(full)
    assert early.document["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 4 * record["questions_run"]


def test_a_threshold_at_the_measured_value_runs_every_question(tmp_path):
    options = {"cache_dir": str(tmp_path / "cache")}
    full = evaluate(str(FIXTURE), ["arithmetic"], **options)
    measured = full.document["tasks"]["arithmetic"]["metrics"]["s_gen"]
    at = {"s_gen": {"floor": measured, "mode": "not-below"}, "dg_diff": "off"}
    early = evaluate(str(FIXTURE), ["arithmetic"], thresholds=at, stop_when_decided=True, **options)
    record = early.document["tasks"]["arithmetic"]["sequential"]
    assert record["questions_run"] == 200 and record["checks"]["s_gen"]["verdict"] is None, record
    assert early.document["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 0  # the first run's cache
    s_gen = next(check for check in early.checks if "test_generation_accuracy" in check["id"])
    assert s_gen["outcome"] == "passed" and s_gen["decided_by"] == "final"


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_the_plugin_stops_each_task_and_says_where(pytester, workers):
    config = (
        "stop_when_decided = true\nchunk = 16\n[tool.selfdisc.thresholds]\n"
        's_gen = { floor = 0.1, mode = "confident" }\ndg_diff = { floor = -0.4, mode = "not-below" }\n'
    )
    project = Project(pytester, config)
    result, document = project.run(f"--model={FIXTURE}", "--limit", "96", *workers)
    assert result.ret == 0, result.stdout.str()
    record = document["tasks"]["arithmetic"]["sequential"]
    assert record["chunk"] == 16 and record["decided"] and record["questions_run"] < 96, record
    assert len(document["tasks"]["arithmetic"]["questions"]) == record["questions_run"]
    checks = {check["id"].split("::")[-1]: check for check in document["checks"]}
    assert (
        f"decided after {record['checks']['s_gen']['decided_at']} of 96 questions"
        in checks["test_generation_accuracy[arithmetic]"]["message"]
    )
    result.stdout.fnmatch_lines([f"*{record['questions_run']}/96 decided*"])


TASK = """
[tool.selfdisc.tasks.{name}]
data = "{name}.jsonl"
question = "question"
answer = "answer"
metric = "numeric"
prompt = "Q: {{question}}=\\nA:"
shots = [{{ question = "9-3", answer = 6 }}, {{ question = "8*1", answer = 8 }}]
stop = ["\\n"]
max_new_tokens = 8

[tool.selfdisc.task_options.{name}]
discrimination_max_tokens = 4
"""
NIGHTLY = (
    "[tool.selfdisc]\nlimit = 60\n\n[tool.selfdisc.tasks.arithmetic]\n"
    + TASK.format(name="sums")
    + TASK.format(name="products")
    + '\n[tool.selfdisc.thresholds]\ndg_diff = { floor = -0.3, mode = "not-below" }\n'
)


def _nightly_project(folder) -> None:
    (folder / "pyproject.toml").write_text(NIGHTLY)
    for name, op in (("sums", "+"), ("products", "*")):
        rows = [
            {"question": f"{a}{op}{b}", "answer": a + b if op == "+" else a * b} for a in range(10) for b in range(10)
        ]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_a_nightly_of_three_tasks_against_its_own_baseline_raises_no_alarm_in_20_seeds(tmp_path):
    _nightly_project(tmp_path)
    cache = str(tmp_path / "cache")
    baseline = tmp_path / "baseline.json"
    evaluate(str(FIXTURE), project=tmp_path, cache_dir=cache, results_json=str(baseline))
    alarms, run = [], []
    for seed in range(1, 21):
        nightly = evaluate(
            str(FIXTURE), project=tmp_path, cache_dir=cache, seed=seed, baseline=str(baseline), stop_when_decided=True
        )
        alarms += [check["message"] for check in nightly.checks if check["outcome"] in ("failed", "error")]
        run += [task["sequential"]["questions_run"] for task in nightly.document["tasks"].values()]
        assert nightly.document["tasks"]["sums"]["sequential"]["watched"] == 12
    assert not alarms, alarms
    assert len(run) == 60 and all(0 < count <= 60 for count in run)


def test_a_weakened_fixture_copy_is_caught_and_stopped_early(tmp_path, fixture_copy):
    """The baseline tests' broken copy (one standard deviation of noise on every matrix): S_gen collapses."""
    weaken(fixture_copy)
    options = {"cache_dir": str(tmp_path / "cache")}
    baseline = tmp_path / "baseline.json"
    evaluate(str(FIXTURE), ["arithmetic"], results_json=str(baseline), **options)
    after = evaluate(str(fixture_copy), ["arithmetic"], baseline=str(baseline), stop_when_decided=True, **options)
    record = after.document["tasks"]["arithmetic"]["sequential"]
    assert not after.passed
    assert record["questions_run"] < record["questions_available"] == 200, record
    failed = [check["message"] for check in after.checks if check["outcome"] == "failed"]
    assert any("regressed" in message and "decided after" in message for message in failed), failed
