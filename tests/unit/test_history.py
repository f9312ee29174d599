"""The run history: a real SQLite file, append-only, whole runs or nothing, several writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from copy import deepcopy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdisc_checks.__main__ import main
from selfdisc_checks.document import parse_results
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.store.history import History, document_digest


def make_document(seed: int = 0, tasks: tuple[str, ...] = ("arithmetic",), label: str | None = None) -> dict:
    """A results document of the documented shape (two questions per task)."""
    questions = [
        {
            "id": f"q{i}",
            "question": f"{i}+{seed}",
            "reference": str(i + seed),
            "s_gen": 0.5,
            "s_disc": float(i % 2),
            "candidates": [
                {"text": f" {i + seed}", "answer": str(i + seed), "score": 1.0},
                {"text": " 0", "answer": "0", "score": 0.0},
            ],
            "choice": {"raw": "(1)", "index": 0, "valid": True, "truncated": False},
            "prompts": {"generation": "Q: ...", "discrimination": "Options: ..."},
        }
        for i in range(2)
    ]
    run = {"started_at": f"2026-11-{10 + seed:02d}T00:00:00Z", "versions": {"torch": "2.13.0"}}
    if label:
        run["label"] = label
    return {
        "version": 1,
        "model": {"id": f"ckpt-{seed}", "fingerprint": f"fp{seed}"},
        "settings": {"samples": 2},
        "tasks": {
            name: {
                "options": {},
                "protocol": {},
                "questions": deepcopy(questions),
                "metrics": {
                    "n": 2,
                    "s_gen": 0.5,
                    "s_disc": 0.5,
                    "dg_diff": 0.0,
                    "ci": {"level": 0.95, "s_gen": [0.25, 0.75]},
                    "p_value": {"mcnemar": 1.0},
                },
            }
            for name in tasks
        },
        "run": run,
    }


def test_a_run_goes_in_whole_and_comes_back_the_same(tmp_path):
    document = make_document(1, ("arithmetic", "gsm8k"), label="abc123")
    with History(tmp_path / "h.sqlite") as history:
        run_id = history.append(document)
        (run,) = history.runs()
    assert (run.run_id, run.label, run.timestamp, run.model_id) == (run_id, "abc123", "2026-11-11T00:00:00Z", "ckpt-1")
    assert run.document == parse_results(document)  # stored migrated to the current results version
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute(
        "SELECT value, ci_low, ci_high FROM metrics WHERE task = 'gsm8k' AND metric = 's_gen'"
    ).fetchone() == (0.5, 0.25, 0.75)
    assert db.execute(
        "SELECT question_id, s_disc, pick FROM questions WHERE task = 'arithmetic' ORDER BY position"
    ).fetchall() == [("q0", 0.0, 0), ("q1", 1.0, 0)]


def test_the_label_defaults_to_the_model_and_can_be_given(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.append(make_document(1))
        history.append(make_document(2), label="v2", timestamp="2026-12-01T00:00:00Z")
        assert [(r.label, r.timestamp) for r in history.runs()] == [
            ("ckpt-1", "2026-11-11T00:00:00Z"),
            ("v2", "2026-12-01T00:00:00Z"),
        ]


def test_nothing_is_overwritten_or_deleted(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.append(make_document(1))
        with pytest.raises(SelfDiscError, match=r"already in the history .* \(run 1\)"):
            history.append(make_document(1))
    db = sqlite3.connect(tmp_path / "h.sqlite")
    for statement in (
        "UPDATE runs SET label = 'x'",
        "DELETE FROM runs",
        "DELETE FROM questions",
        "UPDATE metrics SET value = 0",
        "DELETE FROM records",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)


def test_a_malformed_run_is_refused_before_anything_is_written(tmp_path):
    broken = make_document(3, ("arithmetic", "gsm8k"))
    broken["tasks"]["gsm8k"]["questions"][1]["s_gen"] = [0.5]
    with History(tmp_path / "h.sqlite") as history:
        with pytest.raises(
            SelfDiscError, match=r"tasks\.gsm8k\.questions\[1\]\.s_gen: a number is required, got \[0\.5\]"
        ):
            history.append(broken)
        assert len(history) == 0


def test_a_run_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    import selfdisc_checks.store.history as module

    rows = module._metric_rows

    def failing(run_id, task, result):  # fails after the run row and the first task went in
        if task == "gsm8k":
            raise sqlite3.ProgrammingError("cannot store this")
        return rows(run_id, task, result)

    with History(tmp_path / "h.sqlite") as history:
        monkeypatch.setattr(module, "_metric_rows", failing)
        with pytest.raises(sqlite3.ProgrammingError):
            history.append(make_document(3, ("arithmetic", "gsm8k")))
        monkeypatch.undo()
        assert len(history) == 0 and history.runs() == []
        history.append(make_document(4))  # the database is still usable
        assert len(history) == 1
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT COUNT(*) FROM metrics").fetchone() == (4,)  # only the good run's rows


def _append_many(path: str, start: int) -> None:
    with History(path) as history:
        for seed in range(start, start + 5):
            history.append(make_document(seed))


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "h.sqlite")
    History(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(path, start)) for start in (0, 5)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    with History(path) as history:
        assert sorted(run.model_id for run in history.runs()) == sorted(f"ckpt-{i}" for i in range(10))


def test_the_report_loads_questions_only_for_recent_runs(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        for seed in range(8):
            history.append(make_document(seed))
        runs = history.for_report(last=6, detailed=2)
    assert [run.model_id for run in runs] == [f"ckpt-{i}" for i in range(2, 8)]
    assert [bool(run.document["tasks"]["arithmetic"]["questions"]) for run in runs] == [False] * 4 + [True] * 2
    assert runs[-1].document["tasks"]["arithmetic"]["metrics"]["s_gen"] == 0.5  # trends need no questions


def test_bad_history_paths_get_one_sentence(tmp_path):
    with pytest.raises(SelfDiscError, match="is a folder; pass a file path"):
        History(tmp_path)
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SelfDiscError, match="is not a selfdisc history database"):
        History(tmp_path / "junk.sqlite")
    with History(tmp_path / "h.sqlite") as history:
        with pytest.raises(SelfDiscError, match="Only a results document"):
            history.append({"tasks": []})


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=5)), max_size=5))
def test_the_digest_ignores_key_order_and_sees_every_value(extra):
    document = {**make_document(), "settings": extra}
    reordered = dict(reversed(list({**document, "settings": dict(reversed(list(extra.items())))}.items())))
    assert document_digest(document) == document_digest(reordered)
    changed = {**document, "settings": {**extra, "added": True}}
    assert document_digest(changed) != document_digest(document)


def test_history_import_reads_files_then_skips_what_it_has(tmp_path, capsys):
    files = []
    for seed in (1, 2):
        path = tmp_path / f"r{seed}.json"
        path.write_text(json.dumps(make_document(seed)))
        files.append(str(path))
    history = str(tmp_path / "h.sqlite")
    assert main(["history", "import", "--history", history, *files]) == 0
    assert main(["history", "import", "--history", history, "--run-label", "again", files[0]]) == 0
    out = capsys.readouterr().out
    assert "appended as run 1" in out and "appended as run 2" in out and "already in the history as run 1" in out
    with History(history) as h:
        assert [(run.label, run.timestamp) for run in h.runs()] == [
            ("ckpt-1", "2026-11-11T00:00:00Z"),
            ("ckpt-2", "2026-11-12T00:00:00Z"),
        ]


def test_history_import_refuses_a_bad_file_before_appending_any(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(make_document(1)))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    history = tmp_path / "h.sqlite"
    assert main(["history", "import", f"--history={history}", str(good), str(bad)]) == 2
    assert "bad.json' is not valid JSON (line 1)" in capsys.readouterr().err
    assert not history.exists() or len(History(history)) == 0


def test_report_without_a_history_says_so(tmp_path, capsys):
    assert main(["report", "--history", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "out")]) == 2
    assert "No history at" in capsys.readouterr().err


def test_report_compares_with_a_baseline_file_when_asked_and_names_it(tmp_path, capsys):
    old, new = make_document(1), make_document(1)
    new["model"]["id"], new["run"]["started_at"] = "ckpt-next", "2026-11-20T00:00:00Z"
    baseline = tmp_path / "release.json"
    baseline.write_text(json.dumps(old))
    history = tmp_path / "h.sqlite"
    with History(history) as h:
        h.append(old)
        h.append(new)
    out = tmp_path / "out"
    assert main(["report", "--history", str(history), "--out", str(out), "--baseline", str(baseline)]) == 0
    page = (out / "report.html").read_text()
    assert f"Changes on this page are against the baseline {baseline} (model ckpt-1, run 2026-11-11 00:00 UTC)" in page
    assert main(["report", "--history", str(history), "--out", str(out)]) == 0
    assert (
        "the nearest earlier run in the history measured the same way, ckpt-1 (#1," in (out / "report.html").read_text()
    )
    assert main(["report", "--history", str(history), "--out", str(out), "--baseline", str(tmp_path / "no.json")]) == 2
    assert "no.json' does not exist" in capsys.readouterr().err


def test_a_full_disk_adds_nothing_and_says_how_to_add_the_run_later(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.append(make_document(1))
        pages = history._db.execute("PRAGMA page_count").fetchone()[0]
        history._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        big = make_document(2)
        big["tasks"]["arithmetic"]["questions"][0]["prompts"]["generation"] = os.urandom(100_000).hex()
        with pytest.raises(
            SelfDiscError,
            match=r"^Could not write to the history .*full.*free some space and add the "
            r"run later with `python -m selfdisc_checks history import`",
        ):
            history.append(big)
        assert [run.label for run in history.runs()] == ["ckpt-1"]
    assert sqlite3.connect(tmp_path / "h.sqlite").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_run_stored_by_an_older_release_is_migrated_when_read_and_not_appended_twice(tmp_path, monkeypatch):
    import selfdisc_checks.store.history as module

    document = make_document(1, ("arithmetic",))
    with History(tmp_path / "h.sqlite") as history:
        monkeypatch.setattr(module, "parse_results", lambda document, name: document)  # stored as version 1 was
        run_id = history.append(document)
        monkeypatch.undo()
        assert history.runs()[0].document == parse_results(document)  # read back as the current version
        assert history.runs()[0].document["tasks"]["arithmetic"]["data"]["questions"] == 2
        assert history.find(document) == run_id
        with pytest.raises(SelfDiscError, match=r"already in the history .* \(run 1\)"):
            history.append(document)
        assert len(history) == 1
