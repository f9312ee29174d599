"""A DG-DIFF that was not measured is shown as n/a with the reason, in the terminal table and summary.md, never
as a precise-looking ``+0.0 [+0.0, +0.0]``."""

from __future__ import annotations

import textwrap

from selfdisc_checks.engine import evaluate
from selfdisc_checks.metrics import unmeasured
from selfdisc_checks.report.results import render_table

# Every candidate right: no question has both right and wrong candidates, so any pick scores the same.
ALWAYS_RIGHT = """
import re

def respond(request):
    if request.kind == "sample":
        a, op, b = re.search(r"Q: (-?\\d+)([-+*])(-?\\d+)=\\nA:$", request.prompt).groups()
        value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        return f" {value}"
    return "(1)"
"""


def test_why_a_difference_has_no_value():
    assert unmeasured({"n": 5, "dg_diff": 0.0, "mixed_fraction": 0.0}, "dg_diff") == "no mixed question"
    assert unmeasured({"n": 5, "dg_diff": None, "mixed_fraction": 0.4}, "dg_diff") == "not measured"
    assert unmeasured({"n": 5}, "dg_diff_likelihood") == "not measured"
    assert unmeasured({"n": 5, "dg_diff": 0.0, "mixed_fraction": 0.2}, "dg_diff") is None  # a measured zero
    assert unmeasured({"n": 5, "s_gen": 0.0, "mixed_fraction": 0.0}, "s_gen") is None  # levels always show


def test_a_run_without_a_mixed_question_shows_dg_diff_as_n_a_in_the_table_and_summary(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent(ALWAYS_RIGHT))
    evaluation = evaluate(
        tmp_path / "model.py",
        "arithmetic",
        backend="scripted",
        limit=5,
        samples=2,
        cache_dir=str(tmp_path / "cache"),
        report_dir=str(tmp_path / "report"),
    )
    metrics = evaluation.document["tasks"]["arithmetic"]["metrics"]
    assert metrics["mixed_fraction"] == 0 and metrics["dg_diff"] == 0  # what the file holds is unchanged
    table = render_table("model.py", evaluation.document["tasks"], width=200)
    row = next(line for line in table.splitlines() if "arithmetic" in line)
    assert "n/a (no mixed question)" in row and "+0.0 [+0.0, +0.0]" not in row, table
    assert "no question had both right and wrong candidates" in " ".join(table.split())
    summary = (tmp_path / "report" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| arithmetic"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    header = [cell.strip() for cell in summary.splitlines()[2].strip("|").split("|")]
    assert cells[header.index("DG-DIFF")] == "n/a (no mixed question)", summary
    assert cells[header.index("S_gen")] == "100.0%", summary


def test_a_measured_dg_diff_keeps_its_number_and_interval():
    metrics = {"n": 40, "dg_diff": -0.019, "mixed_fraction": 0.725, "ci": {"dg_diff": [-0.131, 0.088]}}
    row = next(line for line in render_table("m", {"t": {"metrics": metrics}}, width=200).splitlines() if "│ t" in line)
    assert "-1.9 [-13.1, +8.8]" in row and "n/a" not in row
