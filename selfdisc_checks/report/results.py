"""The results document (a public JSON contract) and the end-of-session table."""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from selfdisc_checks.records import TaskResult

RESULTS_VERSION = 1


def task_result_json(result: TaskResult) -> dict[str, Any]:
    """One task's metrics and per-question records, in the documented shape."""
    questions = []
    for q in result.questions:
        index = q.choice.index
        scores = q.scores
        questions.append(
            {
                "id": q.id,
                "question": q.question,
                "reference": q.reference,
                "s_gen": sum(scores) / len(scores),
                "s_disc": scores[index] if index is not None else min(scores),
                "candidates": [asdict(c) for c in q.candidates],
                "choice": {"raw": q.choice.raw, "index": index, "valid": q.choice.valid},
            }
        )
    return {
        "options": dict(result.options),
        "metrics": dict(result.metrics),
        "questions": questions,
        # What this run had to compute (0 and 0 when the cache held everything); summed over xdist workers.
        "run": {"sampled": result.sampled, "discriminated": result.discriminated, "workers": 1},
    }


def merge_worker_task(merged: dict[str, Any], name: str, task: dict[str, Any]) -> None:
    """Fold one xdist worker's result for a task into the controller's (same records, summed work)."""
    if name not in merged:
        merged[name] = task
        return
    run, other = merged[name]["run"], task["run"]
    for key in ("sampled", "discriminated", "workers"):
        run[key] += other[key]


def results_document(model: dict[str, Any], settings: dict[str, Any], tasks: dict[str, Any]) -> dict[str, Any]:
    return {"version": RESULTS_VERSION, "model": model, "settings": settings, "tasks": tasks}


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    os.replace(tmp, path)


def _fraction(value: float) -> str:
    return f"{value:.3f}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def render_table(model_id: str, tasks: dict[str, Any], width: int = 120) -> str:
    """The summary table as text (rich markup rendered for a plain terminal)."""
    table = Table(title=f"self-discrimination checks: {model_id}", title_justify="left")
    for header in ("task", "questions", "S_gen", "S_disc", "DG-DIFF", "invalid", "oracle", "mixed", "majority"):
        table.add_column(header, justify="left" if header == "task" else "right")
    for name, task in tasks.items():
        m = task["metrics"]
        diff = m["dg_diff"]
        colour = "green" if diff > 0 else "red" if diff < 0 else "yellow"
        table.add_row(
            name,
            str(m["n"]),
            _fraction(m["s_gen"]),
            _fraction(m["s_disc"]),
            f"[{colour}]{diff:+.3f}[/{colour}] ±{m.get('dg_diff_stderr', 0):.3f}",
            _percent(m["invalid_rate"]),
            _fraction(m["oracle"]),
            _percent(m["mixed_fraction"]),
            _fraction(m["majority"]),
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue()
