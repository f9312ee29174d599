"""The results document: its models, the shipped schema, validation on every read, migration and data identity."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.__main__ import main
from selfdisc_checks.document import MalformedResults, data_digest, load_results, parse_results, results_schema
from selfdisc_checks.document.migrate import MIGRATIONS
from selfdisc_checks.engine import load_baseline
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import RESULTS_VERSION, Candidate, Choice, QuestionResult, TaskResult
from selfdisc_checks.report.compare import compare_results
from selfdisc_checks.report.results import results_document, task_result_json

DATA = Path(__file__).parents[1] / "data"
V1 = sorted(DATA.glob("results-v1*.json"))
SHIPPED = Path(__file__).parents[2] / "selfdisc_checks" / "results.schema.json"


def v1() -> dict:
    return json.loads((DATA / "results-v1.json").read_text())


def test_the_fixtures_are_version_1_files():
    assert len(V1) == 2 and all(json.loads(path.read_text())["version"] == 1 for path in V1)


def test_the_shipped_schema_is_what_the_models_generate():
    assert json.loads(SHIPPED.read_text()) == results_schema(), "regenerate: python -m selfdisc_checks schema"
    jsonschema.Draft202012Validator.check_schema(results_schema())


def test_the_schema_command_prints_it(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == results_schema()


@pytest.mark.parametrize("path", V1, ids=lambda p: p.name)
def test_migrated_fixtures_validate_against_the_shipped_schema(path):
    document = load_results(path)
    assert document["version"] == RESULTS_VERSION
    jsonschema.validate(document, json.loads(SHIPPED.read_text()), cls=jsonschema.Draft202012Validator)


def test_every_earlier_version_has_a_migration():
    assert sorted(MIGRATIONS) == list(range(1, RESULTS_VERSION))


def test_migration_derives_the_data_identity_from_the_records_and_leaves_its_input_alone():
    original = v1()
    kept = copy.deepcopy(original)
    task = parse_results(original)["tasks"]["arithmetic"]
    records = original["tasks"]["arithmetic"]["questions"]
    assert task["data"] == {
        "digest": data_digest((r["id"], r["question"], r["reference"]) for r in records),
        "questions": 6,
        "source": None,
    }
    assert original == kept


def test_the_digest_is_the_documented_canonical_form():
    expected = hashlib.sha256('[["q1","2+2","4"],["q2","é","x"]]'.encode()).hexdigest()
    assert data_digest([("q1", "2+2", "4"), ("q2", "é", "x")]) == expected


triples = st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5), st.text(max_size=5)), max_size=6)


@given(triples, triples)
def test_the_digest_tells_questions_apart_exactly_when_they_differ(a, b):
    assert (data_digest(a) == data_digest(b)) == (a == b)


def test_what_the_writer_writes_validates_and_keeps_the_version_1_keys():
    question = QuestionResult(
        id="q1",
        question="2+2",
        reference="4",
        candidates=(Candidate("4", "4", 1.0, "strict"), Candidate("5", "5", 0.0, "strict")),
        choice=Choice("(1)", 0),
        prompts={"generation": "Q: 2+2=\nA:"},
    )
    result = TaskResult("arithmetic", {"n": 1, "s_gen": 0.5, "ci": {"level": 0.95, "s_gen": (0.0, 1.0)}}, [question])
    task = task_result_json(result)
    assert task["data"]["digest"] == data_digest([("q1", "2+2", "4")]) and task["data"]["questions"] == 1
    document = results_document({"id": "m", "fingerprint": "f"}, {}, {"arithmetic": task})
    assert document["version"] == RESULTS_VERSION and parse_results(document) == document
    old = v1()
    assert set(old) - {"run", "checks"} <= set(document)
    assert set(old["tasks"]["arithmetic"]) <= set(task)
    assert set(old["tasks"]["arithmetic"]["questions"][0]) - {"permuted_choices", "likelihood"} <= set(
        task["questions"][0]
    )


def _broken(change) -> dict:
    document = v1()
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["tasks"]["arithmetic"]["metrics"].update(s_gen="high"),
            'tasks.arithmetic.metrics.s_gen: a number is required, got "high"',
        ),
        (
            lambda d: d["tasks"]["arithmetic"]["metrics"].update(oracle=True),
            "tasks.arithmetic.metrics.oracle: a number is required, got true",
        ),
        (
            lambda d: d["tasks"]["arithmetic"]["metrics"].update(new_metric="x"),
            'tasks.arithmetic.metrics.new_metric: a number is required, got "x"',
        ),
        (
            lambda d: d["tasks"]["arithmetic"]["questions"][2].pop("reference"),
            "tasks.arithmetic.questions[2].reference is missing",
        ),
        (
            lambda d: d["tasks"]["arithmetic"]["questions"][0]["candidates"][1].update(score="1"),
            'tasks.arithmetic.questions[0].candidates[1].score: a number is required, got "1"',
        ),
        (
            lambda d: d["tasks"]["arithmetic"]["questions"][0]["choice"].update(index=1.5),
            "tasks.arithmetic.questions[0].choice.index: a whole number is required, got 1.5",
        ),
        (lambda d: d["tasks"]["arithmetic"].update(questions={}), "tasks.arithmetic.questions: a list is required"),
        (lambda d: d.pop("model"), "model is missing"),
    ],
    ids=["string-metric", "bool-metric", "open-metric", "missing-field", "score", "index", "questions", "model"],
)
def test_a_malformed_file_is_one_sentence_naming_the_file_and_field(tmp_path, capsys, change, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken(change)))
    assert main(["compare", str(DATA / "results-v1.json"), str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: The results file {str(path)!r} is malformed: {message}; pass an unedited file written by "
        "--results-json.\n"
    ) or (
        err.startswith(f"error: The results file {str(path)!r} is malformed: {message}, got ") and err.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (line 1)"),
        ("[1, 2]", "is not a results document (no 'tasks' object)"),
        (json.dumps({"tasks": {}}), "has no valid results version (version: null)"),
        (
            json.dumps({**v1(), "version": RESULTS_VERSION + 1}),
            f"has results version {RESULTS_VERSION + 1}, newer than this selfdisc-checks reads (up to "
            f"{RESULTS_VERSION}); upgrade selfdisc-checks to read it.",
        ),
    ],
    ids=["not-json", "not-an-object", "no-version", "newer"],
)
def test_unreadable_files_are_one_sentence_for_every_reader(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["compare", str(path), str(DATA / "results-v1.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: The results file {str(path)!r} ") and message in err and err.count("\n") == 1
    assert main(["history", "import", "--history", str(tmp_path / "h.sqlite"), str(path)]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SelfDiscError, match=f"^--baseline {path} ") as caught:
        load_baseline(str(path))
    assert message in str(caught.value)


def test_a_missing_file_is_one_sentence(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope.json"), str(DATA / "results-v1.json")]) == 2
    assert "nope.json' does not exist" in capsys.readouterr().err


def test_compare_results_accepts_parsed_documents_of_any_version():
    old = v1()
    new = parse_results(v1())
    assert {c.metric for c in compare_results(old, new)} == {"s_gen", "s_disc", "dg_diff"}
    with pytest.raises(MalformedResults, match="The new results document is malformed: model is missing"):
        compare_results(old, {k: v for k, v in new.items() if k != "model"})


def test_a_version_1_file_is_a_baseline_goes_into_the_history_and_is_reported(tmp_path, capsys):
    assert load_baseline(str(DATA / "results-v1.json"))["tasks"]["arithmetic"]["data"]["questions"] == 6
    history = tmp_path / "h.sqlite"
    files = [str(path) for path in V1]
    assert main(["history", "import", f"--history={history}", *files]) == 0
    assert main(["history", "import", f"--history={history}", files[0]]) == 0  # the same file: skipped
    out = capsys.readouterr().out
    assert "appended as run 1" in out and "already in the history as run 1; skipped" in out
    assert main(["report", f"--history={history}", "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "summary.md").is_file()


def test_the_same_data_at_another_path_is_comparable_and_a_changed_reference_is_not():
    old = v1()
    new = v1()
    for document, runner in ((old, "runner-a"), (new, "runner-b")):
        document["tasks"]["arithmetic"]["options"]["data"] = f"/home/{runner}/data/arith.jsonl"
    assert compare_results(old, new)
    new["tasks"]["arithmetic"]["questions"][3]["reference"] = "43"
    reference = old["tasks"]["arithmetic"]["questions"][3]["reference"]
    with pytest.raises(
        SelfDiscError, match=f'arithmetic: question test-3\'s reference differs \\("{reference}" vs "43"\\)'
    ):
        compare_results(old, new)
