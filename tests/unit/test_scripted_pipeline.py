"""The whole pipeline on the scripted backend (no torch, no checkpoint): both phases through ``evaluate_task``
with a real SQLite cache, cache hits and growth, a judged task, permutations, likelihood discrimination, the
gate, and the shipped checks end to end with ``--backend scripted``.

Expected values are computed from the script (which candidate seeds answer correctly), never read back from
the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from selfdisc_checks.backends.scripted import Request, ScriptedBackend
from selfdisc_checks.backends.seeds import candidate_seed, orderings
from selfdisc_checks.gate import Threshold, judge
from selfdisc_checks.pipeline import evaluate_task
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.cache import Cache
from selfdisc_checks.tasks import get_task

REPO = Path(__file__).resolve().parents[2]
SEED = 1234
QUERY = re.compile(r"Q: (-?\d+)([-+*])(-?\d+)=\nA:$")  # the end of a plain-rendered arithmetic prompt
OPTION = re.compile(r"^\((\d+)\) .*?=(.*)$", re.M)  # "(2) 2-7= -5": an option of the discrimination prompt


def true_answer(a: str, op: str, b: str) -> int:
    x, y = int(a), int(b)
    return x + y if op == "+" else x - y if op == "-" else x * y


def right(seed: int) -> bool:
    """The script's rule: a candidate is right when its seed is divisible by 3."""
    return seed % 3 == 0


def arithmetic_script(request: Request) -> str | list[float] | None:
    """Candidates right or off by one by their seed; the discriminator picks the first right option (else the
    first); likelihood scores prefer a wrong option (the first of them)."""
    if request.kind == "sample":
        found = QUERY.search(request.prompt)
        assert found, request.prompt[-80:]
        answer = true_answer(*found.groups())
        return f" {answer if right(request.seed or 0) else answer + 1}"
    query = request.prompt.rsplit("Question: ", 1)[1]
    a, op, b = re.match(r"(-?\d+)([-+*])(-?\d+)", query).groups()  # type: ignore[union-attr]
    shown = [text.strip() == str(true_answer(a, op, b)) for _, text in OPTION.findall(query)]
    if request.kind == "greedy":
        return f"({shown.index(True) + 1 if True in shown else 1})"
    return [-5.0 if ok else 0.0 for ok in shown]


def settings(**changes) -> Settings:
    base = Settings(model="script", tasks=("arithmetic",), limit=6, samples=4, seed=SEED, batch_size=2)
    return replace(base, **changes)


def expected_right(task: str, questions: list[str], n: int) -> dict[str, list[bool]]:
    return {qid: [right(candidate_seed(SEED, task, qid, i)) for i in range(n)] for qid in questions}


@pytest.fixture
def cache(tmp_path):
    cache = Cache(tmp_path / "cache")
    yield cache
    cache.close()


def test_both_phases_give_the_scripts_s_gen_and_s_disc(cache):
    task, backend = get_task("arithmetic"), ScriptedBackend(respond=arithmetic_script)
    result = evaluate_task(task, backend, cache, settings())
    ids = [q.id for q in result.questions]
    expected = expected_right("arithmetic", ids, 4)
    assert len(ids) == 6 and any(not all(v) for v in expected.values())  # the script gives mixed questions
    s_gen = sum(sum(v) for v in expected.values()) / 24
    s_disc = sum(any(v) for v in expected.values()) / 6  # the first right option is a right candidate
    assert result.metrics["s_gen"] == pytest.approx(s_gen)
    assert result.metrics["s_disc"] == pytest.approx(s_disc)
    assert result.metrics["dg_diff"] == pytest.approx(s_disc - s_gen)
    for question in result.questions:
        assert [c.score for c in question.candidates] == [float(v) for v in expected[question.id]]
        assert question.choice is not None and question.choice.index is not None
        assert expected[question.id][question.choice.index] or not any(expected[question.id])
    assert result.sampled == 6 and result.candidates_sampled == 24
    assert result.questions[0].prompts["generation"].endswith("=\nA:")  # plain rendering, no tokenizer


def test_a_second_run_computes_nothing(cache):
    task, backend = get_task("arithmetic"), ScriptedBackend(respond=arithmetic_script)
    first = evaluate_task(task, backend, cache, settings())
    calls = len(backend.calls)
    again = evaluate_task(task, backend, cache, settings())
    assert len(backend.calls) == calls  # every candidate, choice and rendered prompt came from the cache
    assert (again.sampled, again.candidates_sampled, again.discriminated) == (0, 0, 0)
    assert again.metrics["s_gen"] == first.metrics["s_gen"] and again.metrics["s_disc"] == first.metrics["s_disc"]


def test_more_samples_later_samples_only_the_new_indices(cache):
    task, backend = get_task("arithmetic"), ScriptedBackend(respond=arithmetic_script)
    evaluate_task(task, backend, cache, settings(samples=2))
    backend.calls.clear()
    grown = evaluate_task(task, backend, cache, settings(samples=4))
    ids = [q.id for q in grown.questions]
    sampled = sorted(r.seed for r in backend.calls if r.kind == "sample")
    new = sorted(candidate_seed(SEED, "arithmetic", qid, i) for qid in ids for i in (2, 3))
    assert sampled == new and grown.candidates_sampled == 12
    expected = expected_right("arithmetic", ids, 4)
    assert grown.metrics["s_gen"] == pytest.approx(sum(sum(v) for v in expected.values()) / 24)


def test_a_changed_script_is_a_different_model_for_the_cache(cache, tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(json.dumps({"rules": [{"kind": "sample", "reply": " 1"}]}))
    two.write_text(json.dumps({"rules": [{"kind": "sample", "reply": " 2"}]}))
    first, second = ScriptedBackend.from_file(one), ScriptedBackend.from_file(two)
    assert first.fingerprint != second.fingerprint
    task = get_task("arithmetic")
    evaluate_task(task, first, cache, settings(limit=2, samples=2))
    result = evaluate_task(task, second, cache, settings(limit=2, samples=2))
    assert result.candidates_sampled == 4 and {c.text for q in result.questions for c in q.candidates} == {" 2"}


def test_permutations_ask_each_ordering_and_read_the_pick_back_through_it(cache):
    task = get_task("arithmetic")
    backend = ScriptedBackend(respond=lambda r: "(1)" if r.kind == "greedy" else arithmetic_script(r))
    result = evaluate_task(task, backend, cache, settings(permutations=3))
    for question in result.questions:
        orders = orderings(SEED, "arithmetic", question.id, 4, 3)
        assert question.choice.index == orders[0][0] == 0
        assert [p.order for p in question.permuted] == orders[1:]
        assert [p.choice.index for p in question.permuted] == [order[0] for order in orders[1:]]
    greedy_calls = [r for r in backend.calls if r.kind == "greedy"]
    distinct = {(q.id, tuple(c.text for c in q.candidates)) for q in result.questions}
    assert len(greedy_calls) <= 18 and len(distinct) == 6


def test_likelihood_discrimination_takes_the_scripts_highest_score(cache):
    task, backend = get_task("arithmetic"), ScriptedBackend(respond=arithmetic_script)
    result = evaluate_task(task, backend, cache, settings(discriminate=("generate", "likelihood")))
    expected = expected_right("arithmetic", [q.id for q in result.questions], 4)
    # the script scores wrong options highest: the pick is right only when every candidate is
    assert result.metrics["s_disc_likelihood"] == pytest.approx(sum(all(v) for v in expected.values()) / 6)
    lead, labels = task.label_continuations(4)
    assert {r.options for r in backend.calls if r.kind == "likelihood"} == {tuple(labels)}


def write_mtbench(tmp_path: Path, count: int) -> Path:
    rows = [{"question_id": k + 1, "category": "writing", "turns": [f"Write poem number {k}."]} for k in range(count)]
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def rating(seed: int) -> int:
    return seed % 10 + 1


def test_a_scripted_judge_grades_and_the_metrics_follow_its_ratings(cache, tmp_path):
    task = get_task("mtbench", data=str(write_mtbench(tmp_path, 3)))

    def model(request: Request) -> str:
        if request.kind == "sample":
            return f"Answer variant {rating(request.seed or 0)}"
        variants = [int(v) for v in re.findall(r"Answer variant (\d+)", request.prompt)]
        return f"Therefore, the final choice is:\n### {variants.index(max(variants)) + 1}"

    def grader(request: Request) -> str:
        assert request.kind == "greedy" and "[The assistant's answer]" in request.prompt
        found = re.search(r"Answer variant (\d+)", request.prompt)
        assert found
        return f"Fine. [[{found.group(1)}]]"

    backend, referee = ScriptedBackend(respond=model), ScriptedBackend(respond=grader, fingerprint="judge-1")
    result = evaluate_task(task, backend, cache, settings(tasks=("mtbench",), limit=3), judge=referee)
    ids = [q.id for q in result.questions]
    ratings = {qid: [rating(candidate_seed(SEED, "mtbench", qid, i)) for i in range(4)] for qid in ids}
    s_gen = sum((r - 1) / 9 for row in ratings.values() for r in row) / 12
    s_disc = sum((max(row) - 1) / 9 for row in ratings.values()) / 3
    assert result.metrics["s_gen"] == pytest.approx(s_gen)
    assert result.metrics["s_disc"] == pytest.approx(s_disc)
    assert result.metrics["on_scale"]["s_gen"] == pytest.approx(sum(map(sum, ratings.values())) / 12)
    assert result.protocol["judge"]["fingerprint"] == "judge-1" and not result.protocol["judge"]["same_as_model"]
    assert len(referee.calls) == 12
    # The gate decides on those metrics: a floor just under S_gen passes, just over it fails.
    assert judge("mtbench", "s_gen", Threshold(s_gen - 0.01), result.metrics).passed
    assert not judge("mtbench", "s_gen", Threshold(s_gen + 0.01), result.metrics).passed
    assert judge("mtbench", "dg_diff", Threshold(s_disc - s_gen - 0.01), result.metrics).passed
    assert not judge("mtbench", "dg_diff", Threshold(s_disc - s_gen + 0.01), result.metrics).passed


def test_the_gate_on_scripted_arithmetic(cache):
    result = evaluate_task(get_task("arithmetic"), ScriptedBackend(respond=arithmetic_script), cache, settings())
    expected = expected_right("arithmetic", [q.id for q in result.questions], 4)
    s_disc = sum(any(v) for v in expected.values()) / 6
    assert judge("arithmetic", "s_disc", Threshold(s_disc), result.metrics).passed
    assert not judge("arithmetic", "s_disc", Threshold(s_disc + 1e-6), result.metrics).passed
    assert judge("arithmetic", "invalid_rate", Threshold(0.0), result.metrics).passed


SCRIPT = """
import re

def respond(request):
    if request.kind == "sample":
        a, op, b = re.search(r"Q: (-?\\d+)([-+*])(-?\\d+)=\\nA:$", request.prompt).groups()
        value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        return f" {value if request.seed % 2 == 0 else value + 1}"
    return "(1)"
"""


def test_the_shipped_checks_run_end_to_end_on_a_scripted_model(tmp_path):
    checks = REPO / "selfdisc_checks" / "checks"
    (tmp_path / "test_checks.py").write_text((checks / "test_model.py").read_text())
    (tmp_path / "model.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.selfdisc]\nmodel = "model.py"\nbackend = "scripted"\ntasks = ["arithmetic"]\nlimit = 8\n'
        'samples = 2\ncache_dir = "cache"\n[tool.selfdisc.thresholds]\ns_gen = 0.99\ndg_diff = "off"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results-json", "out.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    document = json.loads((tmp_path / "out.json").read_text())
    metrics = document["tasks"]["arithmetic"]["metrics"]
    ids = [q["id"] for q in document["tasks"]["arithmetic"]["questions"]]
    expected = [candidate_seed(SEED, "arithmetic", qid, i) % 2 == 0 for qid in ids for i in range(2)]
    assert metrics["s_gen"] == pytest.approx(sum(expected) / len(expected))
    assert document["model"]["id"].endswith("model.py") and document["model"]["fingerprint"].startswith("scripted-")
    # s_gen's floor 0.99 fails (about half the candidates are right); the other checks have no threshold
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "test_generation_accuracy" in run.stdout


# A model that Ctrl-C stops at its fifth candidate: a run of 2 questions x 2 candidates never gets there, a
# longer one stops after two more questions (stored) while sampling a third.
STOPPED_BY_CTRL_C = """
calls = 0

def respond(request):
    global calls
    if request.kind == "sample":
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt
        return " 1"
    return "(1)"
"""


@pytest.mark.parametrize("how", ["pytest", "run"])
def test_ctrl_c_says_how_many_candidates_this_run_stored_not_the_whole_cache(tmp_path, how):
    (tmp_path / "test_checks.py").write_text((REPO / "selfdisc_checks" / "checks" / "test_model.py").read_text())
    (tmp_path / "model.py").write_text(STOPPED_BY_CTRL_C)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.selfdisc]\nmodel = "model.py"\nbackend = "scripted"\ntasks = ["arithmetic"]\nsamples = 2\n'
        'cache_dir = "cache"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command = pytest_run if how == "pytest" else [sys.executable, "-m", "selfdisc_checks", "run"]

    def run(limit: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, "--limit", str(limit)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    first = run(2)  # fills the cache with 4 candidates
    assert first.returncode in (0, 1), first.stdout + first.stderr
    stopped = run(6)
    output = stopped.stdout + stopped.stderr
    cache = Cache(tmp_path / "cache")
    held = cache.count("candidate")
    cache.close()
    assert held == 8, output  # 4 from the first run, 4 stored by this one
    lines = [line for line in output.splitlines() if "[selfdisc] interrupted" in line]
    assert len(lines) == 1 and "(4 candidates stored by this run)" in lines[0], output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert stopped.returncode == (pytest.ExitCode.INTERRUPTED if how == "pytest" else 130), output


@pytest.mark.parametrize("tolerance, shown", [(0.0, "vs tolerance 0.000 "), (0.01, "vs tolerance -0.010 ")])
def test_the_regression_message_shows_the_tolerance_with_its_sign(tmp_path, tolerance, shown):
    """A zero tolerance reads 0.000, never -0.000; a real one as the bound the upper bound is held against."""
    from selfdisc_checks.engine import evaluate

    (tmp_path / "model.py").write_text(textwrap.dedent(SCRIPT))
    common = {"backend": "scripted", "limit": 6, "samples": 2, "cache_dir": str(tmp_path / "cache")}
    evaluate(tmp_path / "model.py", "arithmetic", results_json=str(tmp_path / "old.json"), **common)
    evaluation = evaluate(
        tmp_path / "model.py",
        "arithmetic",
        baseline=str(tmp_path / "old.json"),
        tolerances={"s_gen": tolerance},
        **common,
    )
    (message,) = [c["message"] for c in evaluation.checks if c["id"].endswith("test_no_regression[arithmetic-s_gen]")]
    assert shown in message and "held against the baseline" in message, message
