"""The regression report (report.html, summary.md, trend PNGs) from histories of results documents.

The documents are built here in the --results-json shape (right/wrong, graded and likelihood tasks), so the
tests need no model and no files from elsewhere.
"""

from __future__ import annotations

import copy
import io
import json
import random
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import HistoryRun
from selfdisc_checks.report.html import CSP, anchor, esc, render_html, shared_prefix, short_check_id, write_report
from selfdisc_checks.report.plots import TrendPoint, trend_png
from selfdisc_checks.report.results import render_table
from selfdisc_checks.report.summary import analyse, duration, p_value, percent, render_markdown, show, show_p

PNG = b"\x89PNG\r\n\x1a\n"
DEMOS = "".join(f"Q: {i}+{i}=\nA: {2 * i}\n\n" for i in range(60))  # a long few-shot prefix shared by every prompt


def make_task(
    rng: random.Random,
    n: int = 40,
    samples: int = 4,
    skill: float = 0.5,
    graded: bool = False,
    likelihood: bool = False,
    temperature: float = 0.7,
    unscored: int = 0,
) -> dict:
    """One task's record: candidates scored at random around ``skill``, metrics computed from them."""
    questions = []
    for i in range(n):
        if graded:
            scores = [rng.randint(0, 9) / 9 for _ in range(samples)]
        else:
            scores = [1.0 if rng.random() < skill else 0.0 for _ in range(samples)]
        valid = rng.random() > 0.1
        index = (scores.index(max(scores)) if rng.random() < skill else rng.randrange(samples)) if valid else None
        record = {
            "id": f"q{i}",
            "question": f"{i}+{i + 1}",
            "reference": str(2 * i + 1),
            "s_gen": sum(scores) / samples,
            "s_disc": scores[index] if index is not None else min(scores),
            "candidates": [
                {
                    "text": f" answer {k} for {i}",
                    "answer": str(k),
                    "score": s,
                    "extraction": "strict",
                    "truncated": False,
                    "judgement": "[[7]]" if graded else None,
                }
                for k, s in enumerate(scores)
            ],
            "choice": {
                "raw": f"({index + 1})" if index is not None else "I think so",
                "index": index,
                "valid": valid,
                "truncated": False,
                **({} if valid else {"reason": "no_label"}),
            },
            "prompts": {
                "generation": f"{DEMOS}Q: {i}+{i + 1}=\nA:",
                "discrimination": f"{DEMOS}Question: {i}+{i + 1}\nOptions:\n(1) ...\nWhich is correct?\n",
            },
        }
        if likelihood:
            pick = rng.randrange(samples)
            record["likelihood"] = {"index": pick, "logprobs": [-rng.random() * 3 for _ in range(samples)]}
        questions.append(record)
    for record in questions[:unscored]:
        record["candidates"][0]["score"] = None
        record["s_gen"] = record["s_disc"] = None
    scored = [q for q in questions if q["s_gen"] is not None]
    s_gen = sum(q["s_gen"] for q in scored) / len(scored)
    s_disc = sum(q["s_disc"] for q in scored) / len(scored)
    metrics = {
        "n": len(scored),
        "s_gen": s_gen,
        "s_disc": s_disc,
        "dg_diff": s_disc - s_gen,
        "invalid_rate": sum(not q["choice"]["valid"] for q in scored) / len(scored),
        "oracle": sum(max(c["score"] for c in q["candidates"]) for q in scored) / len(scored),
        "mixed_fraction": 0.5,
        "majority": s_gen,
        "ci": {
            "level": 0.95,
            "s_gen": [s_gen - 0.1, s_gen + 0.1],
            "s_disc": [s_disc - 0.15, s_disc + 0.15],
            "dg_diff": [s_disc - s_gen - 0.12, s_disc - s_gen + 0.12],
        },
        "p_value": {"wilcoxon" if graded else "mcnemar": rng.random()},
        "position_pick_rates": [0.25, 0.25, 0.25, 0.25],
    }
    if unscored:
        metrics["unrated_questions"] = unscored
    if likelihood:
        lik = sum(q["candidates"][q["likelihood"]["index"]]["score"] for q in scored) / len(scored)
        metrics.update(s_disc_likelihood=lik, dg_diff_likelihood=lik - s_gen, p_value_likelihood={"mcnemar": 0.5})
        metrics["ci"].update(
            s_disc_likelihood=[lik - 0.1, lik + 0.1], dg_diff_likelihood=[lik - s_gen - 0.1, lik - s_gen + 0.1]
        )
    if graded:
        metrics["scale"] = {"unit": "rating", "low": 1, "high": 10}
        metrics["on_scale"] = {
            "s_gen": 1 + 9 * s_gen,
            "s_disc": 1 + 9 * s_disc,
            "dg_diff": 9 * (s_disc - s_gen),
            "oracle": 1 + 9 * metrics["oracle"],
            "majority": 1 + 9 * s_gen,
        }
    protocol = {
        "generation": {
            "max_new_tokens": 8,
            "stop": ["\n"],
            "shots": 2,
            "samples": samples,
            "temperature": temperature,
            "top_p": 1.0,
            "top_k": None,
            "seed": rng.randrange(1000),
            "sampler": "gumbel-max/mt19937-cpu/2",
        },
        "discrimination": {
            "max_new_tokens": 8,
            "stop": ["\n"],
            "demonstrations": 1,
            "prompt_variant": "compact",
            "decoding": "greedy",
            "orderings": 1,
        },
    }
    return {
        "options": {"size": n, "shots": 2},
        "protocol": protocol,
        "metrics": metrics,
        "questions": questions,
        "run": {"sampled": n, "candidates_sampled": n * samples, "discriminated": n, "workers": 1},
    }


def make_document(
    seed: int = 0, tasks: dict | None = None, checks: list | None = None, model: str = "org/model"
) -> dict:
    rng = random.Random(seed)
    tasks = tasks if tasks is not None else {"arithmetic": {}}
    document = {
        "version": 1,
        "model": {"id": model, "fingerprint": f"{seed:016x}"},
        "settings": {"samples": 4, "seed": seed},
        "run": {
            "started_at": "2026-11-30T14:10:40Z",
            "duration_s": 12.5,
            "device": "cpu",
            "dtype": "float32",
            "versions": {"selfdisc_checks": "0.1.0", "torch": "2.13.0", "transformers": "5.0", "python": "3.11"},
        },
        "tasks": {name: make_task(rng, **options) for name, options in tasks.items()},
    }
    if checks is not None:
        document["checks"] = checks
    return document


def run(run_id: int, document: dict, label: str | None = None) -> HistoryRun:
    stamp = datetime(2026, 10, 1, 10, tzinfo=UTC) + timedelta(days=run_id)
    return HistoryRun(run_id, label or f"r{run_id}", stamp.isoformat().replace("+00:00", "Z"), document)


class Page(HTMLParser):
    """The parts of a page the tests read: tags, ids, hrefs, data-metric cells and their text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.cells: list[dict] = []
        self.text: list[str] = []
        self._open: list[dict] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if "data-metric" in attrs:
            cell = {
                "tag": tag,
                "task": attrs.get("data-task"),
                "metric": attrs["data-metric"],
                "value": attrs.get("data-value"),
                "text": "",
            }
            self.cells.append(cell)
            self._open.append(cell)
        elif tag not in ("meta", "img", "br", "link"):
            self._open.append({})

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        for cell in self._open:
            if "metric" in cell:
                cell["text"] += data


def table2(page: Page, task: str) -> dict[str, dict]:
    return {c["metric"]: c for c in page.cells if c["task"] == task}


# ---- the page ------------------------------------------------------------------------------------------


def test_a_single_run_writes_every_file_and_says_there_is_no_trend_yet(tmp_path):
    paths = write_report([run(1, make_document())], tmp_path / "out")
    assert [p.name for p in paths] == ["report.html", "summary.md", "trend_arithmetic.png"]
    assert all(p.exists() for p in paths)
    assert (tmp_path / "out" / "trend_arithmetic.png").read_bytes().startswith(PNG)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "no trend yet" in page and "no earlier run measured this task" in page
    assert "data:image/png;base64," in page


def test_the_page_is_self_contained_and_runs_no_script(tmp_path):
    runs = [run(i, make_document(i)) for i in range(1, 4)]
    write_report(runs, tmp_path)
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert "http://" not in text and "https://" not in text and "@import" not in text
    for href in page.hrefs:  # in-page anchors that exist, or the PNG beside the page
        assert href.startswith("#") and href[1:] in page.ids or href == "trend_arithmetic.png", href


def test_table2_cells_are_exactly_the_json(tmp_path):
    doc = make_document(
        3, {"arithmetic": {}, "mtbench": {"graded": True, "unscored": 2}, "gsm8k": {"likelihood": True}}
    )
    write_report([run(1, doc)], tmp_path)
    page = Page((tmp_path / "report.html").read_text())
    for name, task in doc["tasks"].items():
        m = task["metrics"]
        cells = table2(page, name)
        for metric in ("s_gen", "s_disc", "dg_diff", "oracle"):
            assert float(cells[metric]["value"]) == m[metric]
            assert cells[metric]["text"] == show(m, metric)
        assert cells["invalid_rate"]["text"] == percent(m["invalid_rate"])
        assert int(cells["n"]["value"]) == m["n"]
        test, p = p_value(m)
        assert float(cells["p_value"]["value"]) == p and cells["p_value"]["text"] == show_p(p)
        assert json.loads(cells["dg_diff_ci"]["value"]) == m["ci"]["dg_diff"]
    # A graded task on its own scale; DG-DIFF in rating points.
    mt = doc["tasks"]["mtbench"]["metrics"]
    assert table2(page, "mtbench")["s_gen"]["text"] == f"{mt['on_scale']['s_gen']:.2f}"
    assert table2(page, "mtbench")["dg_diff"]["text"] == f"{mt['on_scale']['dg_diff']:+.2f}".replace("-0.00", "+0.00")
    assert table2(page, "arithmetic")["s_gen"]["text"] == f"{100 * doc['tasks']['arithmetic']['metrics']['s_gen']:.1f}"
    # The likelihood method, present in one task only.
    lik = doc["tasks"]["gsm8k"]["metrics"]
    assert float(table2(page, "gsm8k")["s_disc_likelihood"]["value"]) == lik["s_disc_likelihood"]
    assert "s_disc_likelihood" not in table2(page, "arithmetic")


def test_the_format_of_numbers():
    m = {"s_gen": 0.444, "s_disc": 0.35, "dg_diff": -0.094, "oracle": 0.9}
    assert (show(m, "s_gen"), show(m, "s_disc"), show(m, "dg_diff")) == ("44.4", "35.0", "-9.4")
    assert show({"dg_diff": -0.0001}, "dg_diff") == "+0.0"
    graded = {"s_gen": 0.5, "dg_diff": -1 / 9, "scale": {"low": 1, "high": 10}, "on_scale": {}}
    assert (show(graded, "s_gen"), show(graded, "dg_diff")) == ("5.50", "-1.00")
    assert (show_p(0.9375), show_p(0.004), show_p(0.0)) == ("0.94", "0.004", "0")
    assert show({}, "s_gen") == "–"


def test_unscored_questions_and_missing_pieces_do_not_break_the_page(tmp_path):
    doc = make_document(1, {"mtbench": {"graded": True, "unscored": 3}})
    task = doc["tasks"]["mtbench"]
    del task["metrics"]["p_value"], task["metrics"]["ci"]
    task["questions"][3]["choice"] = None  # no generate discrimination for this one
    task["questions"][4]["prompts"] = {}
    del task["questions"][5]["candidates"][0]["judgement"]
    task["questions"][6]["candidates"] = []
    previous = make_document(2, {"mtbench": {"graded": True, "unscored": 1}})
    write_report([run(1, previous), run(2, doc)], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert "unscored" in text and "(3 unscored)" in text
    assert 'id="q-mtbench-q0"' in text


def test_the_baseline_is_the_nearest_comparable_run_and_a_refusal_is_a_sentence(tmp_path):
    first = run(1, make_document(1), "v1")
    hot = run(2, make_document(2, {"arithmetic": {"temperature": 1.0}}), "v2-hot")
    other = run(3, make_document(3, {"gsm8k": {}}), "v3-gsm8k")
    latest = run(4, make_document(4), "v4")
    report = analyse([first, hot, other, latest])
    (task,) = report.tasks
    assert task.comparison.baseline is first and task.comparison.changes
    assert [r.label for r, _ in task.history] == ["v1", "v2-hot", "v4"]  # runs without the task are skipped
    assert report.other_tasks == ("gsm8k",)

    explicit = analyse([first, hot, latest], baseline=hot)
    comparison = explicit.tasks[0].comparison
    assert not comparison.changes
    assert comparison.reason.startswith(
        "not comparable with v2-hot: arithmetic protocol.generation.temperature differs"
    )
    write_report([first, hot, latest], tmp_path, baseline=hot)
    assert (
        "Not comparable with v2-hot: arithmetic protocol.generation.temperature differs (1.0 vs 0.7)"
        in (tmp_path / "report.html").read_text()
    )

    only = analyse([hot, latest]).tasks[0].comparison
    assert "no earlier run measured it the same way; the nearest is not comparable with v2-hot" in only.reason
    missing = analyse([latest], baseline=other).tasks[0].comparison
    assert missing.reason == "the baseline v3-gsm8k has no arithmetic results"


def test_regressions_are_red_improvements_green_and_flips_link_to_the_drill_down(tmp_path):
    good = make_document(1, {"arithmetic": {"skill": 0.9}})
    bad = copy.deepcopy(good)
    task = bad["tasks"]["arithmetic"]
    for q in task["questions"]:  # every pick made wrong where a wrong candidate exists
        scores = [c["score"] for c in q["candidates"]]
        q["choice"] = {"raw": "(1)", "index": scores.index(min(scores)), "valid": True, "truncated": False}
        q["s_disc"] = min(scores)
    report = analyse([run(1, good, "good"), run(2, bad, "bad")])
    comparison = report.tasks[0].comparison
    assert comparison.verdict("s_disc") == "regressed" and comparison.verdict("s_gen") == "steady"
    assert analyse([run(1, bad, "bad"), run(2, good, "good")]).tasks[0].comparison.verdict("s_disc") == "improved"

    write_report([run(1, good, "good"), run(2, bad, "bad")], tmp_path)
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    broke = comparison.change("s_disc").flipped["broke"]
    assert broke
    for qid in broke:
        assert f'href="#{anchor("arithmetic", qid)}"' in text and anchor("arithmetic", qid) in page.ids
    assert 'class="chip regressed"' in text and "metrics regressed" in text or "metric regressed" in text
    summary = (tmp_path / "summary.md").read_text()
    assert "**" in summary and "↓" in summary


def test_failing_checks_lead_the_page_and_the_summary(tmp_path):
    checks = [
        {
            "id": "tests/checks/test_model.py::test_dg_diff[arithmetic]",
            "name": "test_dg_diff",
            "task": "arithmetic",
            "metric": "dg_diff",
            "outcome": "failed",
            "message": "arithmetic: DG-DIFF = -0.031 is below the floor -0.020",
            "value": -0.031,
            "interval": [-0.05, -0.012],
            "threshold": {"bound": -0.02, "side": "floor", "mode": "confident"},
        },
        {
            "id": "x::test_generation_accuracy[arithmetic]",
            "name": "test_generation_accuracy",
            "task": "arithmetic",
            "metric": "s_gen",
            "outcome": "passed",
            "message": "",
            "value": 0.5,
            "interval": None,
            "threshold": None,
        },
    ]
    write_report([run(1, make_document(1, checks=checks))], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert text.index("Failing checks") < text.index("Results")
    assert "1 failing check" in text and "floor -0.020 (confident)" in text
    summary = (tmp_path / "summary.md").read_text()
    assert (
        "❌ **1 failing check**" in summary
        and "`tests/checks/test_model.py::test_dg_diff[arithmetic]`: arithmetic: DG-DIFF = -0.031" in summary
    )

    checks[0]["outcome"] = "passed"
    write_report([run(1, make_document(1, checks=checks))], tmp_path)
    assert "All 2 checks passed" in (tmp_path / "report.html").read_text()
    assert "✅ **All 2 checks passed**" in (tmp_path / "summary.md").read_text()

    write_report([run(1, make_document(1))], tmp_path)  # an imported file: no checks at all
    assert "No check outcomes recorded" in (tmp_path / "report.html").read_text()


def test_summary_md_is_one_row_per_task_with_arrows(tmp_path):
    tasks = {"arithmetic": {}, "mtbench": {"graded": True}}
    runs = [run(1, make_document(1, tasks), "v1"), run(2, make_document(2, tasks), "v2")]
    text = render_markdown(analyse(runs))
    rows = [line for line in text.splitlines() if line.startswith("| arithmetic") or line.startswith("| mtbench")]
    assert len(rows) == 2 and all(any(a in row for a in "↑↓→") for row in rows)
    assert "/10" in rows[1] and "%" in rows[0]
    assert "report.html" in text.splitlines()[-1]
    assert len(text) < 2000


def test_a_history_needs_a_run():
    with pytest.raises(SelfDiscError, match="at least one run"):
        analyse([])


def test_shared_prompt_prefix_is_cut_at_a_line_end():
    assert shared_prefix(["ab\ncd\nx1", "ab\ncd\nx2", "ab\ncd\ny"]) == "ab\ncd\n"
    assert shared_prefix(["abc", "abd"]) == ""
    assert shared_prefix(["only one"]) == ""


def test_long_demonstrations_are_shown_once_per_task(tmp_path):
    doc = make_document(1)
    write_report([run(1, doc)], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert text.count(esc(DEMOS[:400])) == 2  # once per phase, not once per question and phase


# ---- escaping: any text is shown as text ---------------------------------------------------------------

ALLOWED = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "div",
    "span",
    "nav",
    "a",
    "main",
    "section",
    "h1",
    "h2",
    "h3",
    "h4",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "p",
    "figure",
    "img",
    "figcaption",
    "details",
    "summary",
    "pre",
    "code",
    "ul",
    "li",
    "footer",
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(min_size=1, max_size=60)
    | st.sampled_from(
        [
            "<script>window.pwned=1</script>",
            '"><img src=x onerror=alert(1)>',
            "</pre></details><b>",
            "&amp;",
            "\ud800 lone surrogate",
            "a\x00b\x0cc",
            "$x^2$ and {}",
            "</td></tr></table><b>bold</b>",
            "' onmouseover='alert(1)",
            "<!-- x",
            "long " * 4000,
        ]
    )
)
def test_any_model_or_user_text_is_shown_as_text(text):
    doc = make_document(
        1,
        checks=[
            {
                "id": text,
                "name": "test_dg_diff",
                "task": "arithmetic",
                "metric": "dg_diff",
                "outcome": "failed",
                "message": text,
            }
        ],
        model=text,
    )
    task = doc["tasks"]["arithmetic"]
    q = task["questions"][0]
    q["candidates"][0]["text"] = text
    q["candidates"][1]["answer"] = text
    q["question"] = q["reference"] = text
    q["id"] = text
    q["choice"] = {"raw": text, "index": None, "valid": False, "truncated": False, "reason": text}
    q["prompts"]["generation"] = text
    report = analyse([run(1, doc, text)])
    html = render_html(report)
    html.encode("utf-8")  # writable: no lone surrogates left
    page = Page(html)
    assert set(page.tags) <= ALLOWED
    shown = "".join(page.text)
    visible = esc(text)  # what the text becomes: the same characters, minus those HTML cannot carry
    expected = Page(f"<p>{visible}</p>").text[0] if visible.strip() else ""
    assert expected in shown
    render_markdown(report).encode("utf-8", "surrogatepass")


def test_esc_escapes_markup_and_replaces_what_html_cannot_carry():
    assert esc("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    assert esc("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert esc(None) == "" and esc(["x"]) == "[&quot;x&quot;]"


# ---- plots -------------------------------------------------------------------------------------------------


def test_trend_plots_draw_one_point_many_points_and_odd_labels():
    metrics = make_document(1)["tasks"]["arithmetic"]["metrics"]
    one = trend_png("arithmetic", [TrendPoint("v1", "2026-11-30T14:10:40Z", metrics)])
    assert one.startswith(PNG)
    odd = [TrendPoint(label, "not a time", metrics) for label in ("$x$", "a$b", "日本語", "<b>", "v" * 80)]
    assert trend_png("t$", odd, baseline=2).startswith(PNG)
    graded = make_document(1, {"mtbench": {"graded": True}})["tasks"]["mtbench"]["metrics"]
    sparse = dict(graded)
    del sparse["ci"]
    assert trend_png("mtbench", [TrendPoint("a", "", graded), TrendPoint("b", "", sparse)]).startswith(PNG)


# ---- performance: 30 runs x 5 tasks x 40 questions ---------------------------------------------------------


def test_thirty_runs_of_five_tasks_render_in_seconds_and_stay_small(tmp_path):
    tasks = {
        "arithmetic": {},
        "gsm8k": {"likelihood": True},
        "triviaqa": {},
        "commonsenseqa": {},
        "mtbench": {"graded": True, "unscored": 2},
    }
    base = make_document(0, tasks)
    runs = []
    for i in range(30):
        doc = make_document(i, tasks)
        for name in tasks:  # the same questions and protocol as the first run, other samples
            doc["tasks"][name]["protocol"] = base["tasks"][name]["protocol"]
        runs.append(run(i + 1, doc, f"nightly-{i + 1:02d}"))
    start = time.perf_counter()
    paths = write_report(runs, tmp_path)
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in paths)
    page = (tmp_path / "report.html").stat().st_size
    print(
        f"\n30 runs x 5 tasks x 40 questions: {elapsed:.2f} s, report.html {page / 1e6:.2f} MB, "
        f"all files {size / 1e6:.2f} MB"
    )
    assert elapsed < 30
    assert page < 5_000_000
    assert len(paths) == 7


def test_a_long_run_shows_flipped_invalid_and_wrong_picks_first_within_the_cap(tmp_path):
    good = make_document(1, {"arithmetic": {"skill": 0.9, "n": 120}})
    bad = copy.deepcopy(good)
    questions = bad["tasks"]["arithmetic"]["questions"]
    for q in questions[100:]:  # the last 20 questions break: their picks flip against the baseline
        scores = [c["score"] for c in q["candidates"]]
        q["choice"] = {"raw": "(1)", "index": scores.index(min(scores)), "valid": True, "truncated": False}
        q["s_disc"] = min(scores)
    runs = [run(1, good, "good"), run(2, bad, "bad")]
    broke = analyse(runs).tasks[0].comparison.change("s_disc").flipped["broke"]
    assert broke
    write_report(runs, tmp_path, max_questions=30)
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    shown = {qid for qid in (q["id"] for q in questions) if anchor("arithmetic", qid) in page.ids}
    assert set(broke) <= shown  # every flip link has its target
    invalid = {q["id"] for q in questions if not q["choice"]["valid"]}
    assert len(shown) == max(30, len(broke)) and (invalid <= shown or len(set(broke) | invalid) > 30)
    assert f"Showing {len(shown)} of 120 questions" in text
    write_report(runs, tmp_path / "all", max_questions=None)
    everything = Page((tmp_path / "all" / "report.html").read_text())  # parsed once
    assert sum(anchor("arithmetic", q["id"]) in everything.ids for q in questions) == 120


# ---- invalid and truncation rates, run labels, durations, baselines ---------------------------------------


def with_picks(document: dict, invalid: int, truncated: int = 0) -> dict:
    """The document with its first ``invalid`` picks invalid (the first ``truncated`` of them cut at the token
    limit) and the rest valid, its metrics made to agree."""
    task = document["tasks"]["arithmetic"]
    for position, q in enumerate(task["questions"]):
        scores = [c["score"] for c in q["candidates"]]
        if position < invalid:
            q["choice"] = {
                "raw": "The answer is",
                "index": None,
                "valid": False,
                "truncated": position < truncated,
                "reason": "truncated" if position < truncated else "no_label",
            }
            q["s_disc"] = min(scores)
        else:
            q["choice"] = {"raw": "(1)", "index": 0, "valid": True, "truncated": False}
            q["s_disc"] = scores[0]
    n = len(task["questions"])
    task["metrics"].update(invalid_rate=invalid / n, truncated_rate=truncated / n, candidates_truncated_rate=0.0)
    return document


def test_a_fall_of_the_invalid_rate_from_100_to_33_percent_is_trended_and_marked(tmp_path, monkeypatch):
    before = with_picks(make_document(1, {"arithmetic": {"n": 6}}), invalid=6, truncated=6)
    after = with_picks(make_document(1, {"arithmetic": {"n": 6}}), invalid=2, truncated=1)
    runs = [run(1, before, "v1"), run(2, after, "v2")]
    comparison = analyse(runs).tasks[0].comparison
    invalid = comparison.change("invalid_rate")
    assert (invalid.old, invalid.new, invalid.n) == (1.0, pytest.approx(1 / 3), 6)
    assert comparison.verdict("invalid_rate") == "improved" and comparison.verdict("truncated_rate") == "improved"
    assert comparison.verdict("candidates_truncated_rate") == "steady"

    drawn = []
    monkeypatch.setattr("selfdisc_checks.report.html.trend_png", lambda task, points, **_: drawn.append(points) or PNG)
    write_report(runs, tmp_path)
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    cells = table2(page, "arithmetic")
    assert float(cells["change_invalid_rate"]["value"]) == pytest.approx(-2 / 3)
    assert cells["change_invalid_rate"]["text"] == "-66.7"
    history = text[text.index('id="history"') :]
    assert "100.0% · 100.0% · 0.0%" in history and "33.3% · 16.7% · 0.0%" in history
    assert '<span class="chip improved" title="improved">invalid ↓ -66.7</span>' in text
    assert [p.metrics["invalid_rate"] for p in drawn[0]] == [1.0, pytest.approx(1 / 3)]  # the plot's points
    row = next(line for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith("| arith"))
    assert "33.3% (↓ -66.7)" in row and "16.7% (↓ -83.3)" in row

    worse = analyse([run(1, after, "v1"), run(2, before, "v2")])
    assert worse.tasks[0].comparison.verdict("invalid_rate") == "regressed"
    assert "invalid_rate" in {c.metric for c in worse.regressions}
    assert "**100.0% (↑ +66.7)**" in render_markdown(worse)


def test_the_trend_plot_gets_a_panel_of_rates_when_runs_recorded_them():
    from PIL import Image

    metrics = with_picks(make_document(1), invalid=4)["tasks"]["arithmetic"]["metrics"]
    bare = {k: v for k, v in metrics.items() if "rate" not in k}
    points = [TrendPoint("a", "", metrics), TrendPoint("b", "", metrics)]
    tall = Image.open(io.BytesIO(trend_png("t", points))).size
    short = Image.open(io.BytesIO(trend_png("t", [TrendPoint("a", "", bare), TrendPoint("b", "", bare)]))).size
    assert tall[0] == short[0] and tall[1] > 1.2 * short[1]


def test_a_checkpoint_path_label_is_cut_to_its_folder_told_apart_and_kept_in_full_in_the_tooltip(tmp_path, monkeypatch):
    paths = ["/ckpts/run-a/step-1000", "/ckpts/run-b/step-1000", "/ckpts/run-a/step-2000"]
    runs = [run(i + 1, make_document(i, model=path), path) for i, path in enumerate(paths)]
    runs.append(run(4, make_document(4, model="/ckpts/run-a/step-3000"), "v1.2-rc1"))  # --run-label: kept
    report = analyse(runs)
    assert [report.label(r) for r in runs] == ["run-a/step-1000", "run-b/step-1000", "step-2000", "v1.2-rc1"]

    drawn = []
    monkeypatch.setattr("selfdisc_checks.report.html.trend_png", lambda task, points, **_: drawn.append(points) or PNG)
    write_report(runs[:3], tmp_path)
    assert [p.label for p in drawn[0]] == ["run-a/step-1000", "run-b/step-1000", "step-2000"]
    text = (tmp_path / "report.html").read_text()
    assert '<span class="runlabel" title="/ckpts/run-a/step-2000">step-2000</span>' in text
    assert '<div class="muted small path">/ckpts/run-b/step-1000</div>' in text  # the full path, in the table
    assert "run step-2000" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    "seconds, text",
    [(0.04, "0.0 s"), (8.44, "8.4 s"), (42.4, "42 s"), (59.6, "1 min"), (725, "12 min 5 s"), (3780, "1 h 3 min")],
)
def test_durations_are_read_at_a_glance(seconds, text):
    assert duration(seconds) == text


@given(st.floats(min_value=0, max_value=10**6, allow_nan=False))
def test_a_shown_duration_is_the_duration_rounded(seconds):
    units = {"h": 3600, "min": 60, "s": 1}
    words = duration(seconds).split()
    shown = sum(float(value) * units[unit] for value, unit in zip(words[::2], words[1::2], strict=True))
    assert abs(shown - seconds) <= (30 if seconds >= 3599.5 else 0.5) + 1e-9


def test_the_page_shows_the_run_duration_human_readable(tmp_path):
    doc = make_document(1)
    doc["run"]["duration_s"] = 725.2
    write_report([run(1, doc)], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert '<dd title="725.2 s">12 min 5 s</dd>' in text and ">725.2 s<" not in text


def regression_checks(baseline: str) -> list[dict]:
    return [
        {
            "id": "selfdisc_checks/checks/test_regression.py::test_no_regression[arithmetic-s_disc]",
            "name": "test_no_regression",
            "task": "arithmetic",
            "metric": "s_disc",
            "outcome": "failed",
            "message": f"arithmetic: S_disc regressed against the baseline {baseline}: 0.750 -> 0.000",
            "value": 0.0,
            "interval": [-1.0, -0.25],
            "threshold": None,
            "baseline": baseline,
        }
    ]


def test_the_page_names_the_baseline_of_its_changes_and_of_the_regression_checks(tmp_path):
    first = run(1, make_document(1), "v1")
    latest = run(2, make_document(2, checks=regression_checks("release/results.json")), "v2")
    write_report([first, latest], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert (
        "Changes on this page are against the nearest earlier run in the history measured the same way, v1 (#1," in text
    )
    assert "This run&#x27;s regression checks compared with the baseline release/results.json." in text
    assert "These are two different baselines" in text and "report --baseline release/results.json" in text
    summary = (tmp_path / "summary.md").read_text()
    assert "- This run's regression checks compared with the baseline release/results.json." in summary
    assert "`report --baseline release/results.json`" in summary

    explicit = HistoryRun(-1, "release/results.json", "2026-09-01T10:00:00Z", make_document(1))
    write_report([first, latest], tmp_path, baseline=explicit)
    text = (tmp_path / "report.html").read_text()
    assert "against the baseline release/results.json (model org/model, run 2026-09-01 10:00 UTC)." in text
    assert "These are two different baselines" not in text
    assert "baseline: --baseline" in text and "Against <span" in text
    assert "is not in this history, so no point marks it" in text

    write_report([first, run(2, make_document(2, checks=[]))], tmp_path)
    assert (
        "compared with nothing: no --baseline or --baseline-model was given" in (tmp_path / "report.html").read_text()
    )


def test_a_long_check_id_is_shown_from_its_file_on_with_the_full_id_in_the_tooltip(tmp_path):
    venv = ".venv/lib/python3.11/site-packages/selfdisc_checks/checks/test_regression.py"
    assert short_check_id(f"{venv}::test_no_regression[a-s_gen]") == "test_regression.py::test_no_regression[a-s_gen]"
    assert short_check_id("test_x[a]") == "test_x[a]" and short_check_id(r"c:\x\t.py::t") == "t.py::t"
    checks = regression_checks("old.json")
    checks[0]["id"] = f"{venv}::test_no_regression[arithmetic-s_disc]"
    write_report([run(1, make_document(1, checks=checks))], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert f'<code title="{venv}::test_no_regression[arithmetic-s_disc]">test_regression.py::' in text


# ---- the terminal table ------------------------------------------------------------------------------------


def test_the_summary_table_shows_the_baselines_value_and_the_difference_when_there_is_one():
    tasks = {"arithmetic": {}, "mtbench": {"graded": True}}
    old, new = make_document(1, tasks), make_document(2, {**tasks, "gsm8k": {}})
    plain = render_table("org/model", new["tasks"], 150)
    assert "base" not in plain
    table = render_table("org/model", new["tasks"], 150, old, "release.json")
    assert "S_gen (base)" in table and "DG-DIFF (base)" in table
    assert "(base): the value of the baseline release.json" in " ".join(table.split())
    a, b = old["tasks"]["arithmetic"]["metrics"], new["tasks"]["arithmetic"]["metrics"]
    row = next(line for line in table.splitlines() if "arithmetic" in line)
    assert f"{100 * a['s_gen']:.1f}% ({100 * (b['s_gen'] - a['s_gen']):+.1f})" in row
    assert f"{100 * a['dg_diff']:+.1f} ({100 * (b['dg_diff'] - a['dg_diff']):+.1f})" in row
    a, b = old["tasks"]["mtbench"]["metrics"], new["tasks"]["mtbench"]["metrics"]
    row = next(line for line in table.splitlines() if "mtbench" in line)
    assert f"{1 + 9 * a['s_gen']:.2f}/10 ({9 * (b['s_gen'] - a['s_gen']):+.2f})" in row  # rating points
    row = next(line for line in table.splitlines() if "gsm8k" in line)
    assert row.count(" - ") >= 3  # not in the baseline


def test_a_dg_diff_without_a_mixed_question_reads_n_a_on_the_page(tmp_path):
    doc = make_document(4)
    doc["tasks"]["arithmetic"]["metrics"]["mixed_fraction"] = 0.0  # every pick scores the same: 0 by construction
    write_report([run(1, doc)], tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "n/a (no mixed question)" in page
    measured = make_document(4)
    write_report([run(1, measured)], tmp_path / "measured")
    assert "n/a (" not in (tmp_path / "measured" / "report.html").read_text()
