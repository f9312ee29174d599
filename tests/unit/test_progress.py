"""Progress: the counts, rates and time left it shows, and that every kind of output hears of long work."""

from __future__ import annotations

import io
import time

from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.progress import FileView, LineView, PhaseState, RichView, Tracker, WorkerLines, clock


def test_a_line_says_units_rate_elapsed_and_time_left():
    state = PhaseState(
        "gsm8k: sampling", "candidates", done=40, total=160, start_done=0, started=100.0, tokens=3120, updated=110.0
    )
    assert state.line() == "gsm8k: sampling 40/160 candidates (25%) · 312 tok/s · 0:10 elapsed · ETA 0:30"


def test_cached_units_do_not_make_the_estimate_optimistic():
    # 100 of 160 came from the cache at once; 20 more took 10 s: 40 left take 20 s, not 40 * 10 / 120.
    state = PhaseState("t: sampling", "candidates", done=120, total=160, start_done=100, started=0.0, updated=10.0)
    assert state.eta == 20.0
    assert "100 cached" in state.line() and "ETA 0:20" in state.line()
    assert PhaseState("t: sampling", "candidates", 100, 160, 100, 0.0, updated=5.0).eta is None  # nothing done yet
    assert "ETA" not in PhaseState("t: x", "prompts", 8, 8, 0, 0.0, updated=1.0).line()


@given(st.integers(0, 10**6))
def test_clock_reads_back(seconds):
    parts = [int(p) for p in clock(seconds).split(":")]
    total = parts[-1] + 60 * parts[-2] + (3600 * parts[0] if len(parts) == 3 else 0)
    assert total == seconds and all(p < 60 for p in parts[1:])


@given(st.integers(1, 1000), st.data())
def test_time_left_is_never_negative_and_zero_when_done(total, data):
    start = data.draw(st.integers(0, total))
    done = data.draw(st.integers(start, total))
    state = PhaseState("t: sampling", "candidates", done, total, start, 0.0, updated=data.draw(st.floats(0.01, 1e5)))
    eta = state.eta
    assert eta is None or eta >= 0
    assert (eta == 0.0) == (done == total)


def test_a_log_gets_a_line_at_start_every_interval_and_at_the_end():
    lines: list[str] = []
    tracker = Tracker(LineView(lines.append, interval=0.2))
    tracker("t: sampling", 0, 4)
    tracker("t: sampling", 1, 4)  # too soon after the first line: kept quiet
    time.sleep(0.25)
    tracker.tokens(50)  # decoding inside a batch: a line once the interval passed
    tracker("t: sampling", 4, 4)
    tracker.status("loading model")
    assert [line.split(" · ")[0] for line in lines] == [
        "[selfdisc] t: sampling 0/4 candidates (0%)",
        "[selfdisc] t: sampling 1/4 candidates (25%)",
        "[selfdisc] t: sampling 4/4 candidates (100%)",
        "[selfdisc] loading model",
    ]
    assert "tok/s" in lines[1] and "ETA" in lines[1]


def test_worker_files_become_one_line_per_worker_on_the_controller(tmp_path):
    lines: list[str] = []
    monitor = WorkerLines(tmp_path, lines.append, interval=60)
    gw0, gw1 = Tracker(FileView(tmp_path / "gw0.json")), Tracker(FileView(tmp_path / "gw1.json"))
    gw0.status("loaded ckpt in 1.0 s")
    gw0("a: sampling", 0, 8)
    gw1("b: discriminating", 3, 8)
    monitor.poll()
    monitor.poll()  # nothing changed: nothing printed again
    gw1("b: discriminating", 8, 8)
    monitor.stop()  # the final poll shows the last state, so a short run shows progress too
    assert [line.split(" · ")[0] for line in lines] == [
        "[selfdisc gw0] loaded ckpt in 1.0 s",
        "[selfdisc gw0] a: sampling 0/8 candidates (0%)",
        "[selfdisc gw1] b: discriminating 3/8 prompts (38%), 3 cached",
        "[selfdisc gw1] b: discriminating 8/8 prompts (100%), 3 cached",
    ]


def test_a_phase_that_ends_between_two_polls_still_shows_its_last_line(tmp_path):
    lines: list[str] = []
    monitor = WorkerLines(tmp_path, lines.append, interval=60)
    gw0 = Tracker(FileView(tmp_path / "gw0.json"))
    gw0("a: sampling", 0, 4)
    gw0("a: sampling", 4, 4)
    gw0("a: discriminating", 0, 2)
    gw0("a: discriminating", 2, 2)
    monitor.stop()  # one poll after both phases ended
    assert [line.split(" · ")[0] for line in lines] == [
        "[selfdisc gw0] a: sampling 4/4 candidates (100%)",
        "[selfdisc gw0] a: discriminating 2/2 prompts (100%)",
    ]


def test_terminal_bars_show_the_rate_and_time_left():
    out = io.StringIO()
    view = RichView(file=out)
    tracker = Tracker(view)
    tracker("t: sampling", 0, 10)
    time.sleep(0.05)
    tracker.tokens(100)
    tracker("t: sampling", 5, 10)
    tracker.close()
    text = out.getvalue()
    assert "t: sampling" in text and "5/10" in text and "candidates" in text and "tok/s" in text and "ETA" in text


def test_before_a_batch_ends_the_time_left_is_bounded_by_its_token_budget():
    lines: list[str] = []
    tracker = Tracker(LineView(lines.append, interval=0))
    tracker("t: discriminating", 0, 3)
    tracker.batch(3 * 1024)  # three rows that may each decode 1,024 tokens
    tracker.current.started -= 10  # ten seconds in, 100 tokens done: 10 tok/s
    tracker.tokens(100)
    assert tracker.current.batch_budget == 3 * 1024 - 100
    assert lines[-1].endswith("batch ETA <= 4:57")  # (3072 - 100) / 10 s
    tracker.batch(0)
    tracker("t: discriminating", 3, 3)
    assert "ETA" not in lines[-1]
