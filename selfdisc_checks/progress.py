"""Progress of long work: candidates and discrimination prompts done, tokens per second, time left.

One ``Tracker`` per process counts; what shows it depends on where the output goes:

- a terminal gets rich bars (``RichView``), one per phase;
- a log (CI, a pipe) gets a plain line when a phase starts, every few seconds while it runs and when it ends
  (``LineView``), so a long phase is never silent;
- an xdist worker writes its state to a small JSON file (``FileView``) that the controller reads every few
  seconds and prints as one line per worker (``WorkerLines``).

The pipeline reports units (``tracker(phase, done, total)``) as its batches end; a backend reports decoded
tokens (``tracker.tokens(n)``), each row it finishes (``tracker.row_done(tokens)``: one unit, so the count
moves within a batch), its rows' token limit (``tracker.token_limit(n)``) and loading (``tracker.status(text)``).
The time left is the tokens still to decode (at most the row limit per unit left) at the measured token
rate, or without token reports the pace of units. Nothing here imports pytest or torch.
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
# How a backend's status lines start when they announce work still going on (loading the model, starting an
# engine): until the next line, a log's timed lines repeat them with the time since, not the waiting phase.
ONGOING = ("loading ", "starting ", "spreading ")


@dataclass
class PhaseState:
    """One phase's progress: units (candidates, prompts) done of total, of which ``start_done`` were done when
    its pace started (from the cache, or before the model loaded), and what the backend decoded since then.

    ``done`` moves within a device batch: each row the backend finishes is one unit (a candidate, a
    discrimination output, a verdict), so a phase of one long batch does not sit at 0 until it ends."""

    phase: str
    unit: str
    done: int
    total: int
    start_done: int
    started: float
    tokens: int = 0  # tokens decoded since the pace started
    updated: float = field(default_factory=time.time)
    rows: int = 0  # rows the backend finished since the pace started
    row_tokens: int = 0  # the tokens those rows decoded
    limit: int = 0  # the most tokens a row of the batch in flight may decode (0: not told)
    decoding_since: float = 0.0  # when the first tokens were reported (0: not yet)
    decoding_base: int = 0  # the tokens counted by then (decoded before it, with the first prefill)

    @property
    def elapsed(self) -> float:
        return self.updated - self.started

    @property
    def tokens_per_second(self) -> float | None:
        return self.rate(self.updated)

    @property
    def eta(self) -> float | None:
        return self.eta_at(self.updated)

    def rate(self, now: float) -> float | None:
        """Tokens decoded per second: since the first tokens were reported, once a second has passed since (the
        first prefill, which can take half a minute on a CPU, would make the first estimates hours too long), None
        within that second; a state that never saw a first report (read back from a worker's file) counts since the
        pace started."""
        if self.decoding_since:
            decoding = now - self.decoding_since
            # within a second of the first report there is no rate yet ("ETA ?", not a guess from the prefill)
            if decoding >= 1.0:
                return (self.tokens - self.decoding_base) / decoding
            # a phase that ended within that second: its whole time is known, so is its rate
            finished = self.done >= self.total and self.tokens and now > self.started
            return self.tokens / (now - self.started) if finished else None
        elapsed = now - self.started
        return self.tokens / elapsed if self.tokens and elapsed > 0 else None

    def eta_at(self, now: float) -> float | None:
        """Seconds left at ``now``: the tokens still to decode at the measured rate, when the backend reports
        tokens; else the pace of the units computed since the pace started (cached ones took no time).

        The tokens still to decode are bounded by the row token limit: each unit left may decode up to it, less
        what the rows in flight already decoded. The bound falls by every token decoded and by what a row that
        ends early leaves unused, so at a steady rate the estimate only falls, and is exact when rows run to the
        limit (a long discrimination output). The mean length of the rows finished so far would say less, but
        it is that of the short rows (they finish first), and the estimate it gives rises as the long ones go
        on; it is used only by a backend that tells no limit."""
        left = self.total - self.done
        if left <= 0:
            return 0.0
        elapsed = now - self.started
        if elapsed <= 0:
            return None
        per_unit = self.limit or (self.row_tokens / self.rows if self.rows else 0)
        rate = self.rate(now)
        if rate and per_unit:
            in_flight = max(0, self.tokens - self.row_tokens)
            still = max(left * per_unit - in_flight, float(left))  # at least a token per unit left
            return still / rate
        computed = self.done - self.start_done
        return left * elapsed / computed if computed > 0 else None

    def line(self, now: float | None = None) -> str:
        """``gsm8k: sampling 40/160 candidates (25%) · 0:12 elapsed · ETA 0:36 · 312 tok/s``: what is done, then
        the times (so a narrow log shows them), then the rate and what came from the cache. ``now`` (default:
        the last update) lets a timer show a phase that is busy but has nothing new to report."""
        now = self.updated if now is None else max(now, self.updated)
        percent = 100 * self.done / self.total if self.total else 100.0
        parts = [f"{self.phase} {self.done}/{self.total} {self.unit} ({percent:.0f}%)"]
        parts.append(f"{clock(now - self.started)} elapsed")
        if self.done < self.total:
            parts.append(self.eta_text(now))
        rate = self.rate(now)
        if rate is not None:
            parts.append(f"{rate:,.{1 if rate < 10 else 0}f} tok/s")
        if self.start_done:
            parts.append(f"{self.start_done} cached")
        return " · ".join(parts)

    def eta_text(self, now: float | None = None) -> str:
        eta = self.eta_at(self.updated if now is None else max(now, self.updated))
        return "ETA ?" if eta is None else f"ETA {clock(eta)}"


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
    """Counts progress and hands each change to a view; the callable the pipeline reports to, and the listener a
    backend tells of loading (``status``), decoded tokens (``tokens``), each finished row (``row_done``) and a
    batch's row token limit (``token_limit``)."""

    def __init__(self, view: View, prefix: str = "") -> None:
        self.view, self.prefix = view, prefix
        self.current: PhaseState | None = None
        self._reported = 0  # units the pipeline reported done in the current phase (whole batches)
        self._in_flight = 0  # rows the backend finished since that report (the batch in flight)

    def __call__(self, phase: str, done: int, total: int) -> None:
        phase = self.prefix + phase
        now = time.time()
        self._reported, self._in_flight = done, 0
        if self.current is None or self.current.phase != phase:
            self.current = PhaseState(phase, unit_of(phase), done, total, done, now, updated=now)
            if done >= total:
                self.view.finished(self.current)  # all cached: its one line
            else:
                self.view.started(self.current)
            return
        self.current.done, self.current.total, self.current.updated = done, total, now
        if done >= total:
            self.view.finished(self.current)
        else:
            self.view.changed(self.current)

    def tokens(self, count: int) -> None:
        """Tokens decoded by the backend in the current phase (called about twice a second while decoding)."""
        state = self.current
        if state is not None:
            state.tokens += count
            state.updated = time.time()
            if not state.decoding_since:
                state.decoding_since, state.decoding_base = state.updated, state.tokens
            self.view.changed(state)

    def row_done(self, tokens: int) -> None:
        """The backend finished one row (one unit of the phase) after decoding ``tokens`` tokens. Counted until
        the pipeline reports its batch; a row decoded again (a batch split after running out of memory) may
        count twice until then, never past the phase's total."""
        state = self.current
        if state is None or state.done >= state.total:
            return
        self._in_flight += 1
        state.rows += 1
        state.row_tokens += tokens
        state.done = min(self._reported + self._in_flight, state.total)
        state.updated = time.time()
        self.view.changed(state)

    def token_limit(self, limit: int) -> None:
        """A device batch starts whose rows may each decode up to ``limit`` tokens."""
        if self.current is not None:
            self.current.limit = limit

    def status(self, text: str) -> None:
        """A line of its own, e.g. loading the model. The current phase's pace counts from here on: what came
        before (loading) says nothing about how fast the rest will go."""
        self.view.status(self.prefix + text, ongoing=text.startswith(ONGOING))
        state = self.current
        if state is not None:
            state.started = state.updated = time.time()
            state.start_done, state.tokens, state.rows, state.row_tokens = state.done, 0, 0, 0
            state.decoding_since, state.decoding_base = 0.0, 0

    def close(self) -> None:
        self.view.close()


class View:
    """Where progress shows; the default shows nothing."""

    def started(self, state: PhaseState) -> None:
        self.changed(state)

    def changed(self, state: PhaseState) -> None:
        pass

    def finished(self, state: PhaseState) -> None:
        self.changed(state)

    def status(self, text: str, ongoing: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class LineView(View):
    """Plain lines for logs: a phase's first line, one every ``interval`` seconds while it runs, and its last.

    A timer writes the lines, so they come every ``interval`` seconds however rarely the backend reports (a
    decoding step or a prefill on a CPU can take seconds; lines written only on reports came every 7-8 s). A
    phase's first line waits for its first report (or the first tick), so the model's loading lines, which
    come once the phase has work to do, are written before it."""

    def __init__(self, write: Callable[[str], None], interval: float = INTERVAL, tag: str = "selfdisc") -> None:
        self.write, self.interval, self.tag = write, interval, tag
        self._last = 0.0
        self._state: PhaseState | None = None  # the phase running now (None: none, or it ended)
        self._pending = False  # its first line is still to come
        self._ongoing: tuple[str, float] | None = None  # a status of work still going on, and since when
        self._lock = threading.Lock()  # the timer's thread and the reports' both write
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def started(self, state: PhaseState) -> None:
        with self._lock:
            self._state, self._pending, self._last = state, True, time.time()
        if self._timer is None:
            self._timer = threading.Thread(target=self._tick, name="selfdisc-progress-lines", daemon=True)
            self._timer.start()

    def changed(self, state: PhaseState) -> None:
        with self._lock:
            self._state, self._ongoing = state, None  # the phase reports: what held it up is over
            if state.done < state.total and (self._pending or time.time() - self._last >= self.interval):
                self._emit(state)

    def finished(self, state: PhaseState) -> None:
        with self._lock:
            self._state, self._pending, self._ongoing = None, False, None
            self._emit(state)

    def status(self, text: str, ongoing: bool = False) -> None:
        with self._lock:
            self._last = time.time()  # a line was written: the next timed one is an interval away
            self._ongoing = (text, self._last) if ongoing else None
            self.write(f"[{self.tag}] {text}")

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()

    def _tick(self) -> None:
        while not self._stop.wait(min(0.5, max(0.01, self.interval / 10))):
            with self._lock:
                now = time.time()
                if now - self._last < self.interval:
                    continue
                if self._ongoing is not None:  # e.g. still loading the model: say that, not "sampling 0/12"
                    text, since = self._ongoing
                    self._last = now
                    self.write(f"[{self.tag}] {text} · {clock(now - since)} elapsed")
                elif self._state is not None:
                    self._emit(self._state, now)

    def _emit(self, state: PhaseState, now: float | None = None) -> None:
        self._last, self._pending = time.time(), False
        self.write(f"[{self.tag}] {state.line(now)}")


class RichView(View):
    """Rich bars on a terminal: units done, elapsed and time left first (they stay on an 80-column terminal),
    then tokens per second and the bar, which takes what width is left."""

    def __init__(self, file: TextIO | None = None, width: int | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        def kept() -> Column:
            return Column(no_wrap=True)

        self._console = Console(file=file, width=width) if file is not None else Console(width=width)
        self._progress = Progress(
            # a long description is cut (baseline commonsenseqa: label likelihoods), never the counts or times
            TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=30)),
            MofNCompleteColumn(table_column=kept()),
            TextColumn("{task.fields[unit]}", table_column=kept()),
            TimeElapsedColumn(table_column=kept()),
            TextColumn("{task.fields[eta]}", table_column=kept()),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),
            console=self._console,
            transient=False,
            expand=True,
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

    def status(self, text: str, ongoing: bool = False) -> None:
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

    def status(self, text: str, ongoing: bool = False) -> None:
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
                state = PhaseState(**record["state"])
                # a phase still running shows the time now: its worker may be in a long step with nothing new
                line = state.line(time.time() if state.done < state.total else None)
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
