"""Command line: ``python -m selfdisc_checks compare OLD.json NEW.json``.

Kept free of torch and pytest so that comparing two results files is instant and works anywhere.
Exit status: 0 no regression, 1 a metric regressed, 2 the files cannot be read or compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.report.compare import METRICS, Change, compare_results

_SHOWN_IDS = 5  # flipped question ids listed per metric; the rest are counted


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m selfdisc_checks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="flag metrics that regressed between two --results-json files",
        description="Pair two results files by question id and flag every task metric whose one-sided "
        "upper confidence bound of (new - old) is below -tolerance.",
    )
    compare.add_argument("old", help="the baseline results JSON")
    compare.add_argument("new", help="the results JSON to check against it")
    compare.add_argument("--metric", action="extend", nargs="+", choices=METRICS, metavar="NAME",
                         help=f"metrics to compare (default: all of {', '.join(METRICS)})")
    compare.add_argument("--tolerance", type=float, default=0.0,
                         help="drop allowed before a change counts as a regression (0.01 = one point; default 0)")
    compare.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    args = parser.parse_args(argv)
    try:
        old, new = _load(args.old), _load(args.new)
        changes = compare_results(old, new, metrics=args.metric, tolerance=args.tolerance, level=args.level)
    except SelfDiscError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_render(changes, args.old, args.new, args.tolerance, args.level, _only_in_one(old, new)))
    return 1 if any(change.regressed for change in changes) else 0


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        reason = "no such file"
    except json.JSONDecodeError as error:
        reason = f"not valid JSON (line {error.lineno})"
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
    raise SelfDiscError(f"Cannot read results file {path!r}: {reason}; pass a file written by --results-json.")


def _only_in_one(old: dict, new: dict) -> list[str]:
    old_tasks, new_tasks = old["tasks"], new["tasks"]
    return [f"{name} (old only)" for name in old_tasks if name not in new_tasks] + [
        f"{name} (new only)" for name in new_tasks if name not in old_tasks
    ]


def _render(changes: list[Change], old: str, new: str, tolerance: float, level: float, skipped: list[str]) -> str:
    percent = f"{level * 100:g}%"
    lines = [
        f"Comparing {old} -> {new}, paired by question id on shared questions.",
        f"A metric REGRESSED when the one-sided {percent} upper bound of (new - old) is below -tolerance "
        f"(tolerance {tolerance:.4f}).",
        "",
    ]
    header = ["task", "metric", "n", "old", "new", "difference", f"{percent} interval", "upper bound", "verdict"]
    rows = [
        [c.task, c.metric, str(c.n), f"{c.old:.4f}", f"{c.new:.4f}", f"{c.difference:+.4f}",
         f"[{c.interval[0]:+.4f}, {c.interval[1]:+.4f}]", f"{c.upper_bound:+.4f}", _verdict(c)]
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
