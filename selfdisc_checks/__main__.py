"""Command line (also installed as ``selfdisc-checks``): run the checks without pytest, compare two results
files, keep a run history, write the regression report.

    python -m selfdisc_checks run --model CKPT [the pytest plugin's options]
    python -m selfdisc_checks compare OLD.json NEW.json
    python -m selfdisc_checks history import --history PATH FILE.json ...
    python -m selfdisc_checks report --history PATH --out DIR
    python -m selfdisc_checks schema          # the results document's JSON Schema
    python -m selfdisc_checks ci gate|nightly # the CI templates' steps (configured by SELFDISC_* variables)

Kept free of pytest, and of torch but for ``run``, so that it is instant and works anywhere. Exit status of run:
0 every check passed (or was skipped), 1 a check failed or could not run, 130 Ctrl-C stopped it; of compare: 0 no regression, 1 a metric
regressed; of every command: 2 when its input cannot be read or used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.options import OPTIONS
from selfdisc_checks.report.compare import METRICS, Change, compare_results

_SHOWN_IDS = 5  # flipped question ids listed per metric; the rest are counted


def _first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line of plain text (--help's description): a whole sentence, not
    the first line of one."""
    paragraph = (doc or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("``", "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m selfdisc_checks", description=_first_paragraph(__doc__))
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser(
        "run",
        help="evaluate a checkpoint and decide the checks, without pytest",
        description="The checks of `pytest --pyargs selfdisc_checks.checks`, without pytest: the same options, the "
        "same [tool.selfdisc] table (of --project, default the current folder), the same results JSON.",
    )
    running.add_argument(
        "--project", metavar="DIR", default=".", help="folder whose pyproject.toml holds [tool.selfdisc] (default: .)"
    )
    for name, (flag, kwargs) in OPTIONS.items():
        running.add_argument(flag, dest=name, **({"default": None} | kwargs))
    running.set_defaults(run=_run)

    compare = commands.add_parser(
        "compare",
        help="flag metrics that regressed between two --results-json files",
        description="Pair two results files by question id and flag every task metric whose one-sided "
        "upper confidence bound of (new - old) is below -tolerance.",
    )
    compare.add_argument("old", help="the baseline results JSON")
    compare.add_argument("new", help="the results JSON to check against it")
    compare.add_argument(
        "--metric",
        action="extend",
        nargs="+",
        choices=METRICS,
        metavar="NAME",
        help=f"metrics to compare (default: all of {', '.join(METRICS)})",
    )
    compare.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="drop allowed before a change counts as a regression (0.01 = one point; default 0)",
    )
    compare.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    compare.add_argument(
        "--family",
        choices=("holm", "max-t", "none"),
        default="holm",
        help="how the changes are decided together: holm (default) or max-t bound the chance that an unchanged "
        "model shows any regression by --alpha; none decides each change alone, as before",
    )
    compare.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="the false-alarm rate the family holds over all changes shown (default 1 - --level)",
    )
    compare.set_defaults(run=_compare)

    history = commands.add_parser("history", help="the run history (--history): import results files")
    history_commands = history.add_subparsers(dest="history_command", required=True)
    importing = history_commands.add_parser(
        "import",
        help="append --results-json files to a history database",
        description="Append results files to the history, oldest first as given. Each run's label and timestamp "
        "come from the file (run.label, else the model id; run.started_at), or from --run-label. A file already "
        "in the history is skipped.",
    )
    importing.add_argument("--history", required=True, metavar="PATH", help="the SQLite history (created if absent)")
    importing.add_argument("--run-label", metavar="LABEL", help="label for the imported run(s), e.g. a git revision")
    importing.add_argument("files", nargs="+", metavar="FILE.json", help="results files written by --results-json")
    importing.set_defaults(run=_import)

    report = commands.add_parser(
        "report",
        help="write report.html, summary.md and trend plots from a history",
        description="Render the history's runs: per task, trends of S_gen, S_disc and DG-DIFF with their "
        "intervals and of the invalid and truncation rates, the latest run against the one before it (or "
        "--baseline; regressions highlighted), a per-question drill-down and the flipped questions.",
    )
    report.add_argument("--history", required=True, metavar="PATH", help="the SQLite history written by --history")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for report.html, summary.md and PNGs")
    report.add_argument("--last", type=int, metavar="N", help="show only the last N runs (default: all)")
    report.add_argument(
        "--baseline",
        metavar="FILE.json",
        help="compare the latest run with this results file (e.g. the one its regression checks used) instead of "
        "the nearest earlier run in the history",
    )
    report.add_argument(
        "--tolerance", type=float, default=0.0, help="drop allowed before a change counts as a regression (default 0)"
    )
    report.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    report.add_argument(
        "--questions",
        type=int,
        default=200,
        metavar="N",
        help="questions per task in the drill-down: flipped, invalid and wrong picks first (default 200; 0: all)",
    )
    report.set_defaults(run=_report)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema (draft 2020-12) of the --results-json document",
        description="Print the JSON Schema of the results document, generated from the models every reader "
        "validates with (the same file ships in the package as selfdisc_checks/results.schema.json).",
    )
    schema.set_defaults(run=_schema)

    from selfdisc_checks.ci import help_text

    ci = commands.add_parser(
        "ci",
        help="the release gate or the nightly run of the CI templates: ci gate|nightly",
        description=help_text().split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ci.add_argument("step", nargs="?", metavar="gate|nightly|help")
    ci.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ci.set_defaults(run=_ci)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SelfDiscError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and each check's line, write the outputs asked for; 1 when a check failed."""
    from pathlib import Path

    from selfdisc_checks.engine import Interrupted, interrupted_line, load_baseline, run_evaluation
    from selfdisc_checks.progress import LineView, RichView, Tracker, View
    from selfdisc_checks.report.results import render_table
    from selfdisc_checks.settings import read_pyproject, resolve_settings

    table, base = read_pyproject(Path(args.project))
    settings = resolve_settings({name: getattr(args, name) for name in OPTIONS}, table, base)
    view: View = RichView(sys.stderr) if sys.stderr.isatty() else LineView(lambda line: print(line, file=sys.stderr))
    tracker = Tracker(view)
    try:
        evaluation = run_evaluation(settings, tracker)
    except Interrupted as interrupted:
        tracker.close()
        print(interrupted_line(settings.cache_dir, interrupted.stored), file=sys.stderr)
        return 130
    finally:
        tracker.close()
    model = evaluation.document.get("model", {})
    if evaluation.document["tasks"]:
        # The --baseline file, read again for its columns (run_evaluation validated it before any sampling).
        baseline = load_baseline(settings.baseline) if settings.baseline else None
        print(
            render_table(model.get("id", "?"), evaluation.document["tasks"], 120, baseline, settings.baseline),
            end="",
        )
    counts: dict[str, int] = {}
    for check in evaluation.checks:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
        if check["outcome"] != "skipped" or not check["name"].startswith("test_no_regression"):
            print(f"{check['outcome'].upper():7} {check['id'].split('::')[-1]}: {check['message']}")
    for line in evaluation.outputs:
        print(line)
    print(", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    return 0 if evaluation.passed else 1


def _compare(args: argparse.Namespace) -> int:
    try:
        old, new = _load(args.old), _load(args.new)
        changes = compare_results(
            old,
            new,
            metrics=args.metric,
            tolerance=args.tolerance,
            level=args.level,
            family=args.family,
            alpha=args.alpha,
        )
    except SelfDiscError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_render(changes, args.old, args.new, args.tolerance, args.level, _only_in_one(old, new)))
    return 1 if any(change.regressed for change in changes) else 0


def _import(args: argparse.Namespace) -> int:
    from selfdisc_checks.document.read import parse_results, read_json
    from selfdisc_checks.store.history import History

    documents = []  # as written: a run an older release appended is found under its own digest
    for path in args.files:  # all valid before anything is appended
        name = f"The results file {path!r}"
        document = read_json(path, name)
        parse_results(document, name)
        documents.append((path, document))
    with History(args.history) as history:
        for path, document in documents:
            existing = history.find(document)
            if existing is not None:
                print(f"{path}: already in the history as run {existing}; skipped")
                continue
            run_id = history.append(document, label=args.run_label)
            print(f"{path}: appended as run {run_id}")
        count = len(history)
        print(f"{args.history}: {count} run{'' if count == 1 else 's'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from selfdisc_checks.report.html import write_report
    from selfdisc_checks.store.history import History

    if not Path(args.history).is_file():
        raise SelfDiscError(f"No history at {args.history}; pass a file written by --history or history import.")
    with History(args.history) as history:
        runs = history.for_report(last=args.last)
    if not runs:
        raise SelfDiscError(f"The history {args.history} holds no run yet; run pytest with --history first.")
    baseline = None
    if args.baseline:
        from selfdisc_checks.records import HistoryRun

        document = _load(args.baseline)
        baseline = HistoryRun(-1, args.baseline, (document.get("run") or {}).get("started_at", ""), document)
    paths = write_report(
        runs,
        Path(args.out),
        baseline=baseline,
        level=args.level,
        tolerance=args.tolerance,
        max_questions=args.questions or None,
    )
    for path in paths:
        print(path)
    return 0


def _ci(args: argparse.Namespace) -> int:
    from selfdisc_checks.ci import main as ci_main

    return ci_main(args.step, args.rest)


def _schema(args: argparse.Namespace) -> int:
    from selfdisc_checks.document.models import results_schema

    print(json.dumps(results_schema(), indent=2, ensure_ascii=False))
    return 0


def _load(path: str) -> dict[str, Any]:
    """A results file, migrated to the current version and validated (one sentence naming the file and the
    field when it cannot be used)."""
    from selfdisc_checks.document.read import load_results

    return load_results(path)


def _only_in_one(old: dict, new: dict) -> list[str]:
    old_tasks, new_tasks = old["tasks"], new["tasks"]
    return [f"{name} (old only)" for name in old_tasks if name not in new_tasks] + [
        f"{name} (new only)" for name in new_tasks if name not in old_tasks
    ]


def _render(changes: list[Change], old: str, new: str, tolerance: float, level: float, skipped: list[str]) -> str:
    percent = f"{level * 100:g}%"
    family = changes[0].family if changes else "none"
    if family == "none":
        rule = (
            f"A metric REGRESSED when the one-sided {percent} upper bound of (new - old) is below -tolerance "
            f"(tolerance {tolerance:.4f}); each change is decided alone (--family none)."
        )
    else:
        name = {"holm": "Holm", "max-t": "max-T"}[family]
        rule = (
            f"A metric REGRESSED when its sign-flip p-value for (new - old) < -tolerance (tolerance "
            f"{tolerance:.4f}), adjusted by {name} over the {len(changes)} changes, is at most alpha "
            f"{changes[0].alpha:g}: an unchanged model shows any regression at most that often."
        )
    lines = [f"Comparing {old} -> {new}, paired by question id on shared questions.", rule, ""]
    header = [
        "task",
        "metric",
        "n",
        "old",
        "new",
        "difference",
        f"{percent} interval",
        "upper bound",
        "p",
        "p adjusted",
        "verdict",
    ]
    rows = [
        [
            c.task,
            c.metric,
            str(c.n),
            f"{c.old:.4f}",
            f"{c.new:.4f}",
            f"{c.difference:+.4f}",
            f"[{c.interval[0]:+.4f}, {c.interval[1]:+.4f}]",
            f"{c.upper_bound:+.4f}",
            f"{c.p_value:.4f}",
            f"{c.p_adjusted:.4f}",
            _verdict(c),
        ]
        for c in changes
    ]
    lines += _table([header, *rows])
    lines += ["", "Flipped questions (fixed: per-question value rose, e.g. wrong -> right; broke: it fell):"]
    flips = []
    for c in changes:
        fixed, broke = c.flipped["fixed"], c.flipped["broke"]
        flips.append([c.task, c.metric, _ids("fixed", fixed), _ids("broke", broke)])
    lines += _table(flips)
    if skipped:
        lines += ["", f"Not compared (in one file only): {', '.join(skipped)}."]
    regressed = [f"{c.task} {c.metric}" for c in changes if c.regressed]
    lines += ["", f"{len(regressed)} regression(s): {', '.join(regressed)}." if regressed else "No regression."]
    return "\n".join(lines)


def _verdict(change: Change) -> str:
    if change.regressed:
        return "REGRESSED"
    return "improved" if change.interval[0] > 0 else "ok"


def _ids(label: str, ids: list[str]) -> str:
    """'broke 7 (q3, q9, ... +2 more)': the count, then the first few ids."""
    if not ids:
        return f"{label} 0"
    more = f", +{len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else ""
    return f"{label} {len(ids)} ({', '.join(ids[:_SHOWN_IDS])}{more})"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


if __name__ == "__main__":
    sys.exit(main())
