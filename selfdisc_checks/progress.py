"""Progress of long work: candidates and discrimination prompts done, tokens per second, time left.

One ``Tracker`` per process counts; what shows it depends on where the output goes:

- a terminal gets rich bars (``RichView``), one per phase;
- a log (CI, a pipe) gets a plain line when a phase starts, every few seconds while it runs and when it ends
  (``LineView``), so a long phase is never silent;
- an xdist worker writes its state to a small JSON file (``FileView``) that the controller reads every few
  seconds and prints as one line per worker (``WorkerLines``).

The pipeline reports units (``tracker(phase, done, total)``); a backend reports decoded tokens
(``tracker.tokens(n)``) and loading (``tracker.status(text)``). Nothing here imports pytest or torch.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

INTERVAL = 5.0  # seconds between lines in a log


@dataclass
class PhaseState:
    """One phase's progress: units (candidates, prompts) done of total, of which ``start_done`` came from the
    cache, and the tokens decoded since the phase started."""

    phase: str
    unit: str
    done: int
    total: int
    start_done: int
    started: float
    tokens: int = 0
    updated: float = field(default_factory=time.time)
    batch_budget: int = 0  # tokens the batch in flight may still decode (rows x token limit, less what it did)

    @property
    def elapsed(self) -> float:
        return self.updated - self.started

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.elapsed if self.tokens and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace of the units computed in this phase (cached ones took no time)."""
        computed = self.done - self.start_done
        if self.done >= self.total:
            return 0.0
        if computed <= 0 or self.elapsed <= 0:
            return None
        return (self.total - self.done) * self.elapsed / computed

    @property
    def batch_bound(self) -> float | None:
        """Seconds the batch in flight can take at most, at the current pace (its rows may all run to the token
        limit); what a phase shows before its first batch ends, when there is no pace of units yet."""
        rate = self.tokens_per_second
        return self.batch_budget / rate if rate and self.batch_budget > 0 else None

    def line(self) -> str:
        """``arithmetic: sampling 40/160 candidates (25%) · 312 tok/s · 0:12 elapsed · ETA 0:36``."""
        percent = 100 * self.done / self.total if self.total else 100.0
        parts = [f"{self.phase} {self.done}/{self.total} {self.unit} ({percent:.0f}%)"]
        if self.start_done:
            parts[0] += f", {self.start_done} cached"
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:,.0f} tok/s")
        parts.append(f"{clock(self.elapsed)} elapsed")
        if self.done < self.total:
            parts.append(self.eta_text())
        return " · ".join(parts)

    def eta_text(self) -> str:
        if self.eta is not None:
            return f"ETA {clock(self.eta)}"
        if self.batch_bound is not None:
            return f"batch ETA <= {clock(self.batch_bound)}"
        return "ETA ?"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def unit_of(phase: str) -> str:
    """What a phase counts, from its description ("task: sampling" counts candidates)."""
    return "candidates" if phase.endswith("sampling") else "ratings" if phase.endswith("judging") else "prompts"


class Tracker:
    """Counts progress and hands each change to a view; the callable the pipeline reports to."""

    def __init__(self, view: View, prefix: str = "") -> None:
        self.view, self.prefix = view, prefix
        self.current: PhaseState | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        phase = self.prefix + phase
        now = time.time()
        if self.current is None or self.current.phase != phase:
            self.current = PhaseState(phase, unit_of(phase), done, total, done, now, updated=now)
            self.view.started(self.current)
            return
        self.current.done, self.current.total, self.current.updated = done, total, now
        self.view.changed(self.current)
        if done >= total:
            self.view.finished(self.current)

    def tokens(self, count: int) -> None:
        """Tokens decoded by the backend in the current phase (called about twice a second while decoding)."""
        if self.current is not None:
            self.current.tokens += count
            self.current.batch_budget = max(0, self.current.batch_budget - count)
            self.current.updated = time.time()
            self.view.changed(self.current)

    def batch(self, budget: int) -> None:
        """A device batch starts that may decode up to ``budget`` tokens (0: it ended)."""
        if self.current is not None:
            self.current.batch_budget = budget

    def status(self, text: str) -> None:
        """A line of its own, e.g. loading the model. The current phase's pace counts from here on: what came
        before (loading) says nothing about how fast the rest will go."""
        self.view.status(self.prefix + text)
        if self.current is not None:
            self.current.started = self.current.updated = time.time()
            self.current.start_done, self.current.tokens = self.current.done, 0

    def close(self) -> None:
        self.view.close()


class View:
    """Where progress shows; the default shows nothing."""

    def started(self, state: PhaseState) -> None:
        self.changed(state)

    def changed(self, state: PhaseState) -> None:
        pass

    def finished(self, state: PhaseState) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class LineView(View):
    """Plain lines for logs: at a phase's start, at most every ``interval`` seconds, and at its end."""

    def __init__(self, write: Callable[[str], None], interval: float = INTERVAL, tag: str = "selfdisc") -> None:
        self.write, self.interval, self.tag = write, interval, tag
        self._last = 0.0

    def started(self, state: PhaseState) -> None:
        self._emit(state)

    def changed(self, state: PhaseState) -> None:
        if time.time() - self._last >= self.interval:
            self._emit(state)

    def finished(self, state: PhaseState) -> None:
        self._emit(state)

    def status(self, text: str) -> None:
        self.write(f"[{self.tag}] {text}")

    def _emit(self, state: PhaseState) -> None:
        self._last = time.time()
        self.write(f"[{self.tag}] {state.line()}")


class RichView(View):
    """Rich bars on a terminal: units done, tokens per second, elapsed and time left, one bar per phase."""

    def __init__(self, file: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._console = Console(file=file) if file is not None else Console()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=self._console,
            transient=False,
        )
        self._progress.start()
        self._bars: dict[str, Any] = {}

    def changed(self, state: PhaseState) -> None:
        rate = f"{state.tokens_per_second:,.0f} tok/s" if state.tokens_per_second else ""
        eta = "" if state.done >= state.total else state.eta_text()
        if state.phase not in self._bars:
            self._bars[state.phase] = self._progress.add_task(
                state.phase, total=state.total, completed=state.done, unit=state.unit, rate=rate, eta=eta
            )
        self._progress.update(self._bars[state.phase], completed=state.done, total=state.total, rate=rate, eta=eta)

    def status(self, text: str) -> None:
        self._progress.console.print(text)

    def close(self) -> None:
        self._progress.stop()


class FileView(View):
    """An xdist worker's state in a JSON file (replaced atomically, at most once a second) for the controller."""

    def __init__(self, path: Path, min_gap: float = 1.0) -> None:
        self.path, self.min_gap = path, min_gap
        self._last = 0.0
        self._status: str | None = None
        self._state: PhaseState | None = None
        self._finished: list[str] = []  # each ended phase's last line, so the controller shows it however short

    def started(self, state: PhaseState) -> None:
        self._state = state
        self._save()

    def changed(self, state: PhaseState) -> None:
        self._state = state
        if time.time() - self._last >= self.min_gap:
            self._save()

    def finished(self, state: PhaseState) -> None:
        self._state = state
        self._finished.append(state.line())
        self._save()

    def status(self, text: str) -> None:
        self._status = text
        self._save()

    def _save(self) -> None:
        self._last = time.time()
        record = {
            "state": asdict(self._state) if self._state else None,
            "status": self._status,
            "finished": self._finished,
            "at": self._last,
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(record))
            os.replace(tmp, self.path)
        except OSError:  # progress lines are a courtesy: a full disk must not fail the check (the cache says so)
            pass


class WorkerLines:
    """On the xdist controller: every ``interval`` seconds, one line per worker whose progress changed."""

    def __init__(self, folder: Path, write: Callable[[str], None], interval: float = INTERVAL) -> None:
        self.folder, self.write, self.interval = folder, write, interval
        self._shown: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="selfdisc-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Print what changed since the last poll (also called once at the end, so short runs show too)."""
        for path in sorted(self.folder.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):  # being replaced right now: next time
                continue
            worker = path.stem
            lines = []
            if record.get("status") and self._shown.get(worker + ":status") != record["status"]:
                self._shown[worker + ":status"] = record["status"]
                lines.append(record["status"])
            finished = record.get("finished", [])
            seen = int(self._shown.get(worker + ":finished", "0"))
            for line in finished[seen:]:  # phases that ended between two polls still get their last line
                self._shown[worker] = line
                lines.append(line)
            self._shown[worker + ":finished"] = str(len(finished))
            if record.get("state"):
                line = PhaseState(**record["state"]).line()
                if self._shown.get(worker) != line:
                    self._shown[worker] = line
                    lines.append(line)
            for line in lines:
                self.write(f"[selfdisc {worker}] {line}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 1)
        self.poll()
