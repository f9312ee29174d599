"""Baseline comparison: paired by question id, refuses incomparable runs, flags only real regressions."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.report.compare import IncomparableResults, compare_results


def make_doc(questions, task="gsm8k", seed=1234, temperature=0.7, options=None, **protocol_changes):
    """A results document from [(candidate scores, picked index or None), ...], shaped like --results-json."""
    records = []
    for i, (scores, index) in enumerate(questions):
        records.append(
            {
                "id": f"q{i}",
                "question": f"What is {i} + {i}?",
                "reference": str(2 * i),
                "s_gen": sum(scores) / len(scores),
                "s_disc": scores[index] if index is not None else min(scores),
                "candidates": [
                    {"text": f"answer {s}", "answer": str(s), "score": s, "extraction": "strict", "truncated": False}
                    for s in scores
                ],
                "choice": {
                    "raw": "1" if index is not None else "?",
                    "index": index,
                    "valid": index is not None,
                    "truncated": False,
                },
                "prompts": {"generation": "...", "discrimination": "..."},
            }
        )
    generation = {
        "max_new_tokens": 256,
        "stop": ["\n\n"],
        "shots": 5,
        "samples": len(questions[0][0]),
        "temperature": temperature,
        "top_p": 1.0,
        "top_k": None,
        "seed": seed,
        "sampler": 1,
    }
    discrimination = {
        "max_new_tokens": 1024,
        "stop": [],
        "demonstrations": 2,
        "prompt_variant": "compact",
        "decoding": "greedy",
    }
    for key, value in protocol_changes.items():
        phase, field = key.split("__")
        {"generation": generation, "discrimination": discrimination}[phase][field] = value
    return {
        "version": 1,
        "model": {"id": "m", "fingerprint": "f" * 16},
        "settings": {"samples": len(questions[0][0]), "temperature": temperature, "seed": seed},
        "run": {},
        "tasks": {
            task: {
                "options": options
                or {
                    "data": "hub:openai/gsm8k/main/test",
                    "shots": 5,
                    "generation_max_tokens": 256,
                    "discrimination_max_tokens": 1024,
                    "discrimination_prompt": "compact",
                },
                "protocol": {"generation": generation, "discrimination": discrimination},
                "metrics": {},
                "questions": records,
            }
        },
    }


def mixed_questions(n=200, seed=0):
    """Candidates [1, 0, 0, 1]-style pools with a right pick everywhere a right candidate exists."""
    rng = np.random.default_rng(seed)
    questions = []
    for _ in range(n):
        scores = [float(x) for x in rng.integers(0, 2, 4)]
        questions.append((scores, scores.index(max(scores))))
    return questions


def by_metric(changes):
    return {(c.task, c.metric): c for c in changes}


def test_identical_documents_do_not_regress():
    doc = make_doc(mixed_questions())
    changes = compare_results(doc, copy.deepcopy(doc))
    assert [c.metric for c in changes] == ["s_gen", "s_disc", "dg_diff"]
    for change in changes:
        assert change.difference == 0.0 and change.interval == (0.0, 0.0) and change.upper_bound == 0.0
        assert not change.regressed and change.n == 200
        assert change.flipped == {"fixed": [], "broke": []}


def test_worse_picks_regress_with_the_right_sign_and_ids():
    questions = mixed_questions()
    worse = [
        (scores, scores.index(min(scores))) if i % 3 == 0 else (scores, index)
        for i, (scores, index) in enumerate(questions)
    ]
    broken = sorted(f"q{i}" for i, (scores, _) in enumerate(questions) if i % 3 == 0 and max(scores) != min(scores))
    changes = by_metric(compare_results(make_doc(questions), make_doc(worse, seed=99)))  # another seed is fine
    s_disc = changes[("gsm8k", "s_disc")]
    assert s_disc.regressed and s_disc.difference < 0 and s_disc.interval[1] < 0
    assert s_disc.difference == pytest.approx(-len(broken) / 200)
    assert sorted(s_disc.flipped["broke"]) == broken and s_disc.flipped["fixed"] == []
    assert changes[("gsm8k", "dg_diff")].regressed and sorted(changes[("gsm8k", "dg_diff")].flipped["broke"]) == broken
    assert not changes[("gsm8k", "s_gen")].regressed and changes[("gsm8k", "s_gen")].difference == 0.0
    # Going the other way is an improvement, not a regression.
    back = by_metric(compare_results(make_doc(worse), make_doc(questions)))[("gsm8k", "s_disc")]
    assert not back.regressed and back.difference > 0 and sorted(back.flipped["fixed"]) == broken
    # A tolerance larger than the drop forgives it.
    tolerant = compare_results(make_doc(questions), make_doc(worse), metrics=["s_disc"], tolerance=0.5)
    assert not tolerant[0].regressed


def test_pairs_by_id_and_uses_only_shared_questions():
    questions = mixed_questions(60)
    old = make_doc(questions)
    new = copy.deepcopy(old)
    records = new["tasks"]["gsm8k"]["questions"]
    new["tasks"]["gsm8k"]["questions"] = list(reversed(records[10:]))  # other order, 10 fewer questions
    changes = compare_results(old, new)
    assert all(c.n == 50 and c.difference == 0.0 for c in changes)
    new["tasks"]["gsm8k"]["questions"] = [dict(r, id="other-" + r["id"]) for r in records]
    with pytest.raises(IncomparableResults, match="no question id in both"):
        compare_results(old, new)


def test_invalid_pick_scores_the_worst_candidate():
    old = make_doc([([1.0, 0.0, 1.0, 1.0], 0)] * 4)
    new = make_doc([([1.0, 0.0, 1.0, 1.0], None)] * 4)
    s_disc = by_metric(compare_results(old, new, metrics=["s_disc"]))[("gsm8k", "s_disc")]
    assert s_disc.old == 1.0 and s_disc.new == 0.0 and s_disc.difference == -1.0


@pytest.mark.parametrize(
    ("new_kwargs", "field"),
    [
        ({"temperature": 1.0}, "protocol.generation.temperature differs (0.7 vs 1.0)"),
        ({"generation__top_p": 0.9}, "protocol.generation.top_p"),
        ({"generation__top_k": 40}, "protocol.generation.top_k"),
        ({"generation__max_new_tokens": 512}, "protocol.generation.max_new_tokens"),
        ({"discrimination__prompt_variant": "paper"}, "protocol.discrimination.prompt_variant"),
        ({"discrimination__demonstrations": 0}, "protocol.discrimination.demonstrations"),
        ({"discrimination__max_new_tokens": 64}, "protocol.discrimination.max_new_tokens"),
        (
            {
                "options": {
                    "data": "hub:openai/gsm8k/main/test",
                    "shots": 3,
                    "generation_max_tokens": 256,
                    "discrimination_max_tokens": 1024,
                    "discrimination_prompt": "compact",
                }
            },
            "options.shots",
        ),
    ],
)
def test_refuses_a_different_protocol_or_options(new_kwargs, field):
    questions = mixed_questions(20)
    with pytest.raises(IncomparableResults, match=field.replace("(", r"\(").replace(")", r"\)")) as caught:
        compare_results(make_doc(questions), make_doc(questions, **new_kwargs))
    message = str(caught.value)
    assert message.startswith("Cannot compare: gsm8k ") and message.count(".") >= 2 and "\n" not in message


def test_the_same_questions_from_another_path_are_comparable():
    """Data are identified by content: the path in options.data (another runner, another checkout) is for people."""
    questions = mixed_questions(20)
    old = make_doc(questions, options=_options(data="/home/runner-a/data/gsm8k.jsonl"))
    new = make_doc(questions, options=_options(data="/home/runner-b/data/gsm8k.jsonl"))
    assert all(c.difference == 0.0 for c in compare_results(old, new))


def test_one_changed_reference_is_refused_naming_the_question():
    questions = mixed_questions(20)
    old, new = make_doc(questions), make_doc(questions)
    new["tasks"]["gsm8k"]["questions"][7]["reference"] = "changed"
    with pytest.raises(IncomparableResults) as caught:
        compare_results(old, new)
    reference = old["tasks"]["gsm8k"]["questions"][7]["reference"]
    assert str(caught.value) == (
        f'Cannot compare: gsm8k: question q7\'s reference differs ("{reference}" vs "changed"); compare runs on '
        "the same task data."
    )


def _options(**changes):
    return {
        "data": "hub:openai/gsm8k/main/test",
        "shots": 5,
        "generation_max_tokens": 256,
        "discrimination_max_tokens": 1024,
        "discrimination_prompt": "compact",
        **changes,
    }


def test_a_baseline_from_another_sampler_or_backend_stays_comparable():
    questions = mixed_questions(20)
    old = make_doc(questions, generation__sampler="gumbel-max/mt19937-cpu/2")
    for sampler in ("inverse-cdf/lowbias32/3", "vllm"):
        assert compare_results(old, make_doc(questions, generation__sampler=sampler))


def test_refuses_different_samples_and_question_sets():
    with pytest.raises(IncomparableResults, match="protocol.generation.samples differs"):
        compare_results(make_doc([([1.0, 0.0], 0)] * 5), make_doc([([1.0, 0.0, 1.0], 0)] * 5))
    questions = mixed_questions(20)
    changed = make_doc(questions)
    changed["tasks"]["gsm8k"]["questions"][3]["question"] = "What is 3 + 4?"
    with pytest.raises(IncomparableResults, match="question q3's question differs"):
        compare_results(make_doc(questions), changed)
    changed = make_doc(questions)
    changed["tasks"]["gsm8k"]["questions"][5]["reference"] = "11"
    with pytest.raises(IncomparableResults, match="question q5's reference differs"):
        compare_results(make_doc(questions), changed)
    with pytest.raises(IncomparableResults, match="share no task"):
        compare_results(make_doc(questions), make_doc(questions, task="arithmetic"))


def test_seed_and_model_may_differ():
    questions = mixed_questions(20)
    new = make_doc(questions, seed=5)
    new["model"] = {"id": "other", "fingerprint": "0" * 16}
    assert not any(c.regressed for c in compare_results(make_doc(questions), new))


def test_rejects_bad_arguments_and_documents():
    doc = make_doc(mixed_questions(10))
    with pytest.raises(SelfDiscError, match="Unknown metric 'oracle'"):
        compare_results(doc, doc, metrics=["oracle"])
    with pytest.raises(SelfDiscError, match="tolerance"):
        compare_results(doc, doc, tolerance=-0.1)
    with pytest.raises(SelfDiscError, match="level"):
        compare_results(doc, doc, level=1.5)
    with pytest.raises(SelfDiscError, match="not a results document"):
        compare_results({"hello": 1}, doc)
    broken = copy.deepcopy(doc)
    broken["tasks"]["gsm8k"]["questions"][2]["choice"]["index"] = 9
    with pytest.raises(SelfDiscError, match="question #3 is malformed"):
        compare_results(doc, broken)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=3, max_size=3), st.one_of(st.none(), st.integers(0, 2))
        ),
        min_size=1,
        max_size=30,
    ),
    st.floats(0.0, 0.5),
    st.floats(0.5, 0.99),
)
def test_a_document_never_regresses_against_itself(questions, tolerance, level):
    doc = make_doc(questions)
    assert not any(c.regressed for c in compare_results(doc, doc, tolerance=tolerance, level=level, resamples=200))


def run_cli(tmp_path, old, new, *extra):
    paths = []
    for name, doc in (("old.json", old), ("new.json", new)):
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        paths.append(str(path))
    return subprocess.run(
        [sys.executable, "-m", "selfdisc_checks", "compare", *paths, *extra], capture_output=True, text=True, timeout=60
    )


def test_cli_exit_codes_and_output(tmp_path):
    questions = mixed_questions()
    worse = [(s, s.index(min(s))) if i % 3 == 0 else (s, k) for i, (s, k) in enumerate(questions)]
    same = run_cli(tmp_path, make_doc(questions), make_doc(questions), "--tolerance", "0.01")
    assert same.returncode == 0, same.stderr
    for words in (
        "task",
        "metric",
        "difference",
        "95% interval",
        "tolerance 0.0100",
        "gsm8k",
        "dg_diff",
        "No regression",
    ):
        assert words in same.stdout
    regressed = run_cli(tmp_path, make_doc(questions), make_doc(worse), "--metric", "s_disc", "--level", "0.9")
    assert regressed.returncode == 1, regressed.stderr
    assert "REGRESSED" in regressed.stdout and "90% interval" in regressed.stdout
    assert "broke " in regressed.stdout and "s_gen" not in regressed.stdout
    incomparable = run_cli(tmp_path, make_doc(questions), make_doc(questions, temperature=1.0))
    assert incomparable.returncode == 2 and "protocol.generation.temperature" in incomparable.stderr
    assert "Traceback" not in incomparable.stderr and incomparable.stderr.count("\n") == 1
    unreadable = run_cli(tmp_path, "{not json", make_doc(questions))
    assert unreadable.returncode == 2 and "not valid JSON" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr


def test_cli_does_not_import_torch_or_pytest(tmp_path):
    code = (
        "import sys, runpy; sys.argv = ['x', '--help']\n"
        "try:\n    runpy.run_module('selfdisc_checks', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'pytest', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr


def with_likelihood(document, picks, labels=("(1)", "(2)", "(3)", "(4)")):
    """``document`` with likelihood picks (candidate indices) on its questions, as --discriminate likelihood
    records them."""
    document = copy.deepcopy(document)
    task = next(iter(document["tasks"].values()))
    task["protocol"]["likelihood"] = {"lead": "", "labels": list(labels), "scorer": "s1"}
    for record, index in zip(task["questions"], picks, strict=True):
        record["likelihood"] = {"index": index, "logprobs": [-1.0] * len(record["candidates"])}
    return document


def test_likelihood_metrics_are_compared_when_both_runs_measured_them():
    pools = [([1.0, 0.0, 0.0, 1.0], 1)] * 30
    old = with_likelihood(make_doc(pools), [0] * 30)  # the likelihood pick is right everywhere
    new = with_likelihood(make_doc(pools, seed=7), [1] * 30)  # ... and wrong everywhere
    changes = {c.metric: c for c in compare_results(old, new)}
    assert set(changes) == {"s_gen", "s_disc", "dg_diff", "s_disc_likelihood", "dg_diff_likelihood"}
    assert changes["s_disc_likelihood"].difference == -1.0 and changes["s_disc_likelihood"].regressed
    assert changes["dg_diff_likelihood"].regressed and not changes["s_disc"].regressed
    # A run without likelihood picks is still comparable on the rest; asking for the missing metric is refused.
    plain = make_doc(pools, seed=7)
    assert {c.metric for c in compare_results(old, plain)} == {"s_gen", "s_disc", "dg_diff"}
    with pytest.raises(IncomparableResults, match="the new run of gsm8k did not measure it.*--discriminate likelihood"):
        compare_results(old, plain, metrics=["dg_diff_likelihood"])
    # Other labels change what the likelihood measures, not what the generated label does.
    relabelled = with_likelihood(make_doc(pools, seed=7), [1] * 30, labels=("1", "2", "3", "4"))
    assert {c.metric for c in compare_results(old, relabelled, metrics=["s_disc"])} == {"s_disc"}
    with pytest.raises(IncomparableResults, match="protocol.likelihood.labels differs"):
        compare_results(old, relabelled, metrics=["s_disc_likelihood"])


def test_a_likelihood_only_run_has_no_generated_label_metrics():
    pools = [([1.0, 0.0], 0)] * 10
    old = with_likelihood(make_doc(pools), [0] * 10, labels=("(1)", "(2)"))
    new = copy.deepcopy(old)
    for record in new["tasks"]["gsm8k"]["questions"]:
        record["choice"] = None
        del record["s_disc"]
    assert {c.metric for c in compare_results(old, new)} == {"s_gen", "s_disc_likelihood", "dg_diff_likelihood"}
