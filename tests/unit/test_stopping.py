"""--stop-when-decided end to end on the scripted backend (no torch): the seeded order, stopping once the gated
checks are settled with the verdicts of the full run, running every question when a verdict cannot settle, the
regression checks against a results file and a baseline model, and what the record, checks and summary say."""

from __future__ import annotations

import json

import pytest

from selfdisc_checks.engine import evaluate
from selfdisc_checks.report.results import render_table
from selfdisc_checks.settings import Settings
from selfdisc_checks.stopping import alpha_split, order_seed, question_order, watched_checks
from tests.arithmetic_script import arithmetic_script

FAR = {"s_gen": {"floor": 0.1, "mode": "confident"}, "dg_diff": {"floor": -0.3, "mode": "not-below"}}


def _run(tmp_path, model: str, **options):
    base = dict(backend="scripted", samples=4, cache_dir=str(tmp_path / "cache"))
    return evaluate(model, ["arithmetic"], **{**base, **options})


def _outcomes(evaluation) -> dict[str, str]:
    return {check["id"].split("::")[-1]: check["outcome"] for check in evaluation.checks}


def test_the_order_is_seeded_by_run_and_task_and_takes_cached_questions_first():
    ids = [str(i) for i in range(50)]
    seed = order_seed(1234, "arithmetic")
    order = question_order(seed, ids)
    assert order == question_order(order_seed(1234, "arithmetic"), list(reversed(ids)))  # not the file's order
    assert sorted(order) == sorted(ids) and order != sorted(ids, key=int)
    assert question_order(order_seed(1235, "arithmetic"), ids) != order
    assert question_order(order_seed(1234, "gsm8k"), ids) != order
    cached = {"7", "31", "2"}
    first = question_order(seed, ids, cached)
    assert set(first[:3]) == cached and [q for q in first[3:]] == [q for q in order if q not in cached]


def test_far_thresholds_stop_within_100_questions_with_the_full_runs_verdicts(tmp_path):
    model = arithmetic_script(tmp_path, "model.py")
    full = _run(tmp_path, model, thresholds=FAR)
    early = _run(tmp_path, model, thresholds=FAR, stop_when_decided=True, report_dir=str(tmp_path / "report"))
    record = early.document["tasks"]["arithmetic"]["sequential"]
    assert record["questions_available"] == 200 and record["questions_run"] <= 100
    assert record["decided"] and record["stopped_because"] == "every gated check decided"
    assert record["chunk"] == 32 and record["order_seed"] == order_seed(1234, "arithmetic")
    assert len(early.document["tasks"]["arithmetic"]["questions"]) == record["questions_run"]
    metrics = early.document["tasks"]["arithmetic"]["metrics"]
    for metric in ("s_gen", "dg_diff"):  # each sequence read the questions the metrics are over
        watched = record["checks"][metric]
        assert watched["seen"] == metrics["n"] and watched["mean"] == pytest.approx(metrics[metric])
    assert _outcomes(early) == _outcomes(full)
    s_gen = next(c for c in early.checks if c["id"].endswith("test_generation_accuracy[arithmetic]"))
    assert f"decided after {record['questions_run']} of 200 questions" in s_gen["message"]
    assert s_gen["family"] == "sequential" and s_gen["decided_by"] == "sequence"
    assert "Bonferroni over 2 early-stopping checks, run-wide alpha 0.05" in s_gen["message"]
    assert f"{record['questions_run']}/200 decided" in render_table("m", early.document["tasks"], width=200)
    shown = f"{record['questions_run']}/200 decided"
    assert shown in (tmp_path / "report" / "summary.md").read_text()
    page = (tmp_path / "report" / "report.html").read_text()
    assert shown in page and f"stopped after {record['questions_run']} of 200 questions" in page
    json.dumps(early.document)


def test_a_threshold_at_the_measured_value_runs_every_question(tmp_path):
    model = arithmetic_script(tmp_path, "model.py")  # every question's S_gen is exactly 0.5
    at = {"s_gen": {"floor": 0.5, "mode": "confident"}}
    evaluation = _run(tmp_path, model, thresholds=at, stop_when_decided=True, chunk=50)
    record = evaluation.document["tasks"]["arithmetic"]["sequential"]
    assert record["questions_run"] == 200 and not record["decided"]
    assert record["stopped_because"] == "questions ran out" and record["chunk"] == 50
    s_gen = next(c for c in evaluation.checks if c["id"].endswith("test_generation_accuracy[arithmetic]"))
    assert "not settled by its confidence sequence in 200 of 200 questions" in s_gen["message"]
    full = _run(tmp_path, model, thresholds=at)
    assert _outcomes(evaluation) == _outcomes(full)  # the fixed-n look reads a tie as the gate does: met
    assert s_gen["decided_by"] == "final"


def test_a_gated_point_mode_check_needs_every_question(tmp_path):
    model = arithmetic_script(tmp_path, "model.py")
    evaluation = _run(tmp_path, model, thresholds={**FAR, "s_disc": 0.1}, stop_when_decided=True)
    record = evaluation.document["tasks"]["arithmetic"]["sequential"]
    assert record["questions_run"] == 200 and record["needs_every_question"] == ["s_disc"]
    assert record["checks"]["s_gen"]["verdict"] == "pass"  # settled, but the point check needs the rest


def test_a_weakened_model_is_caught_against_its_baseline_and_stopped_early(tmp_path):
    good = arithmetic_script(tmp_path, "good.py", every=2)
    broken = arithmetic_script(tmp_path, "broken.py", every=7)  # S_gen 0.5 -> about 0.14
    baseline = tmp_path / "baseline.json"
    _run(tmp_path, good, results_json=str(baseline), stop_when_decided=True)
    same = _run(tmp_path, good, baseline=str(baseline), stop_when_decided=True)
    assert same.passed, [c["message"] for c in same.checks if c["outcome"] == "failed"]
    weak = _run(tmp_path, broken, baseline=str(baseline), stop_when_decided=True)
    record = weak.document["tasks"]["arithmetic"]["sequential"]
    outcomes = _outcomes(weak)
    assert outcomes["test_no_regression[arithmetic-s_gen]"] == "failed"
    assert record["checks"]["no_regression.s_gen"]["verdict"] == "fail"
    assert record["checks"]["no_regression.s_gen"]["decided_at"] == record["questions_run"] == 32
    assert record["stopped_because"] == "no_regression.s_gen failed"
    assert not weak.passed


def test_a_baseline_model_runs_the_same_chunks(tmp_path):
    good = arithmetic_script(tmp_path, "good.py", every=2)
    broken = arithmetic_script(tmp_path, "broken.py", every=7)
    weak = _run(tmp_path, broken, baseline_model=good, stop_when_decided=True)
    record = weak.document["tasks"]["arithmetic"]["sequential"]
    assert _outcomes(weak)["test_no_regression[arithmetic-s_gen]"] == "failed"
    assert record["questions_run"] == 32 and record["stopped_because"] == "no_regression.s_gen failed"
    assert record["checks"]["no_regression.s_gen"]["seen"] == 32
    s_gen = next(c for c in weak.checks if c["id"].endswith("test_no_regression[arithmetic-s_gen]"))
    assert s_gen["n"] == 32  # the baseline model ran the same 32 questions, no more
    open_check = next(c for c in weak.checks if c["id"].endswith("test_no_regression[arithmetic-dg_diff]"))
    assert open_check["outcome"] == "skipped" and "not decided: the task stopped after 32" in open_check["message"]
    assert not weak.passed


def test_the_alpha_is_split_over_every_watched_check_of_the_run():
    settings = Settings(tasks=("arithmetic", "gsm8k"), baseline="old.json")
    watches, blockers = watched_checks(settings, "arithmetic")
    names = [watch.name for watch in watches]
    assert names == ["dg_diff", "no_regression.s_gen", "no_regression.s_disc", "no_regression.dg_diff"]
    assert blockers == []
    split = alpha_split(settings)
    assert split is not None and split.checks == 8 and split.sequence == pytest.approx(0.05 / 16)
    assert alpha_split(Settings(thresholds={"*": {"dg_diff": None}})) is None


def test_an_unchanged_run_fails_at_most_alpha_of_the_time_under_early_stopping():
    """The guarantee, fast: 15 regression checks (5 tasks x S_gen, S_disc, DG-DIFF) of unchanged models looked
    at after every chunk, at the run's split; the many-replicate version is in the slow tier."""
    from tests.simulations import early_stopping_false_alarms, rate_tolerance

    rate = early_stopping_false_alarms(replicates=200, n=320, seed=1)
    assert rate <= rate_tolerance(0.05, 200), rate


def test_a_baseline_without_the_task_leaves_its_regression_checks_out_of_the_stopping(tmp_path):
    model = arithmetic_script(tmp_path, "model.py")
    baseline = tmp_path / "baseline.json"
    _run(tmp_path, model, results_json=str(baseline), limit=40)
    document = json.loads(baseline.read_text())
    document["tasks"]["other"] = document["tasks"].pop("arithmetic")
    baseline.write_text(json.dumps(document))
    evaluation = _run(tmp_path, model, baseline=str(baseline), thresholds=FAR, stop_when_decided=True)
    record = evaluation.document["tasks"]["arithmetic"]["sequential"]
    assert set(record["checks"]) == {"s_gen", "dg_diff"} and record["decided"], record
    skipped = next(c for c in evaluation.checks if c["id"].endswith("test_no_regression[arithmetic-s_gen]"))
    assert skipped["outcome"] == "skipped" and "has no results for this task" in skipped["message"]
