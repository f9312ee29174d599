"""Progress: the counts, rates and time left it shows, that the count and the time left move within a batch,
that a log gets a line every interval however rarely the backend reports, and that every kind of output hears
of long work."""

from __future__ import annotations

import io
import itertools
import re
import threading
import time
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.backends.scripted import ScriptedBackend
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.pipeline import evaluate_task
from selfdisc_checks.progress import FileView, LineView, PhaseState, RichView, Tracker, View, WorkerLines, clock
from selfdisc_checks.settings import Settings
from selfdisc_checks.store.cache import Cache
from selfdisc_checks.tasks import get_task


def test_a_line_says_units_then_elapsed_and_time_left_then_the_rate():
    state = PhaseState(
        "gsm8k: sampling", "candidates", done=40, total=160, start_done=0, started=100.0, tokens=3120, updated=110.0
    )
    assert state.line() == "gsm8k: sampling 40/160 candidates (25%) · 0:10 elapsed · ETA 0:30 · 312 tok/s"


def test_a_log_line_shows_elapsed_and_time_left_within_80_columns():
    state = PhaseState("gsm8k: sampling", "candidates", 1040, 5276, 800, 0.0, tokens=250_000, updated=130.0)
    line = "[selfdisc] " + state.line()
    assert re.search(r"2:10 elapsed · ETA \d+:\d\d", line[:80]), line
    assert line.endswith("800 cached")


def test_cached_units_do_not_make_the_estimate_optimistic():
    # 100 of 160 came from the cache at once; 20 more took 10 s: 40 left take 20 s, not 40 * 10 / 120.
    state = PhaseState("t: sampling", "candidates", done=120, total=160, start_done=100, started=0.0, updated=10.0)
    assert state.eta == 20.0
    assert "100 cached" in state.line() and "ETA 0:20" in state.line()
    assert PhaseState("t: sampling", "candidates", 100, 160, 100, 0.0, updated=5.0).eta is None  # nothing done yet
    assert "ETA" not in PhaseState("t: x", "prompts", 8, 8, 0, 0.0, updated=1.0).line()


def test_the_time_left_counts_the_tokens_still_to_decode_at_the_measured_rate():
    # 4 prompts of at most 100 tokens; 10 s in, 50 tokens decoded and no row finished: at 5 tok/s the
    # 400 - 50 tokens left (an upper bound) take 70 s.
    state = PhaseState("t: discriminating", "prompts", 0, 4, 0, 0.0, tokens=50, updated=10.0, limit=100)
    assert state.eta == 70.0
    # Two rows ended early, after 20 tokens each; 30 more are in flight: 2 left x 100 - 30 = 170 tokens, 34 s.
    state = replace(state, done=2, rows=2, row_tokens=40, tokens=70, updated=14.0)
    assert state.eta == 170 * 14.0 / 70
    # A backend that tells no limit: the mean length of the rows finished, 2 x 20 - 30 = 10 tokens.
    assert replace(state, limit=0).eta == 10 * 14.0 / 70


@given(st.integers(1, 30), st.integers(1, 50), st.integers(0, 200), st.floats(1.0, 500.0), st.data())
def test_at_a_steady_rate_the_time_left_never_rises_and_is_exact_when_rows_run_to_the_limit(
    units, length, extra, rate, data
):
    """Rows of ``length`` tokens decoded one after another at ``rate`` tokens per second, the row limit
    ``length + extra``: the estimate is never below the true time left, never rises, and equals it when the
    rows use their whole limit."""
    view = _Collect()
    tracker = Tracker(view)
    tracker("t: discriminating", 0, units)
    tracker.token_limit(length + extra)
    state = tracker.current
    assert state is not None and view.events == ["started"]
    state.started = 0.0  # (the clock's own digits would round the small times below)
    decoded_at = sorted(data.draw(st.lists(st.integers(1, max(1, units * length - 1)), min_size=2, max_size=20)))
    estimates = []
    for decoded in decoded_at:
        finished = decoded // length
        state.tokens, state.rows, state.row_tokens, state.done = decoded, finished, finished * length, finished
        state.updated = state.started + decoded / rate
        estimate, truth = state.eta_at(state.updated), (units * length - decoded) / rate
        assert estimate is not None and estimate >= truth * (1 - 1e-9) - 1e-9
        if extra == 0 and finished < units:
            assert abs(estimate - truth) <= 1e-9 * truth + 1e-9
        estimates.append(estimate)
    assert all(later <= earlier * (1 + 1e-9) + 1e-9 for earlier, later in itertools.pairwise(estimates))


class _Collect(View):
    """A view that records which events it got."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def started(self, state: PhaseState) -> None:
        self.events.append("started")

    def changed(self, state: PhaseState) -> None:
        self.events.append("changed")

    def finished(self, state: PhaseState) -> None:
        self.events.append("finished")


@given(st.integers(0, 10**6))
def test_clock_reads_back(seconds):
    parts = [int(p) for p in clock(seconds).split(":")]
    total = parts[-1] + 60 * parts[-2] + (3600 * parts[0] if len(parts) == 3 else 0)
    assert total == seconds and all(p < 60 for p in parts[1:])


@given(st.integers(1, 1000), st.data())
def test_time_left_is_never_negative_and_zero_when_done(total, data):
    start = data.draw(st.integers(0, total))
    done = data.draw(st.integers(start, total))
    rows = data.draw(st.integers(0, done - start))
    state = PhaseState(
        "t: sampling",
        "candidates",
        done,
        total,
        start,
        0.0,
        tokens=data.draw(st.integers(0, 10**6)),
        updated=data.draw(st.floats(0.01, 1e5)),
        rows=rows,
        row_tokens=data.draw(st.integers(0, 10**6)) if rows else 0,
        limit=data.draw(st.integers(0, 4096)),
    )
    eta = state.eta
    assert eta is None or eta >= 0
    assert (eta == 0.0) == (done == total)


def test_finished_rows_move_the_count_within_a_batch_until_the_pipeline_reports_it():
    tracker = Tracker(_Collect())
    tracker("t: sampling", 4, 16)  # four from the cache
    for _ in range(3):
        tracker.row_done(10)
    assert tracker.current is not None and tracker.current.done == 7
    tracker("t: sampling", 12, 16)  # the batch of eight ended: the pipeline's count replaces the rows'
    tracker.row_done(10)
    assert tracker.current.done == 13
    for _ in range(10):  # a row decoded twice (a batch split after running out of memory) never passes the total
        tracker.row_done(10)
    assert tracker.current.done == 16


def test_the_rate_counts_from_the_first_tokens_not_from_the_prefill_before_them():
    # 30 s of prefill, then 10 tokens in the first report; 40 more in the next 10 s: 4 tok/s, not 50 / 40 s.
    state = PhaseState("t: sampling", "candidates", 0, 4, 0, 0.0, tokens=50, updated=40.0)
    state.decoding_since, state.decoding_base, state.limit = 30.0, 10, 100
    assert state.rate(40.0) == 4.0
    assert state.eta == (400 - 50) / 4.0
    assert state.rate(30.5) is None and state.eta_at(30.5) is None  # within a second of the first report: no rate


def test_while_the_model_loads_the_timed_lines_say_so():
    lines: list[str] = []
    tracker = Tracker(LineView(lines.append, interval=0.2))
    tracker("t: sampling", 0, 4)
    tracker.status("loading ckpt (cpu, float32)")
    time.sleep(0.5)
    tracker.status("loaded ckpt in 0.5 s")
    tracker.tokens(5)
    tracker("t: sampling", 4, 4)
    tracker.close()
    assert lines[0] == "[selfdisc] loading ckpt (cpu, float32)"
    timed = lines[1 : lines.index("[selfdisc] loaded ckpt in 0.5 s")]
    assert timed and all(re.fullmatch(r"\[selfdisc\] loading ckpt \(cpu, float32\) · 0:00 elapsed", t) for t in timed)
    assert [line.split(" · ")[0] for line in lines[-2:]] == [
        "[selfdisc] t: sampling 0/4 candidates (0%)",
        "[selfdisc] t: sampling 4/4 candidates (100%)",
    ]


def test_a_log_gets_a_line_every_interval_while_nothing_is_reported():
    lines: list[tuple[float, str]] = []
    view = LineView(lambda line: lines.append((time.time(), line)), interval=0.2)
    tracker = Tracker(view)
    tracker("t: discriminating", 0, 2)
    tracker.tokens(5)  # its first line comes with the first report
    time.sleep(1.1)  # one long prefill: nothing reported
    tracker("t: discriminating", 2, 2)
    tracker.close()
    texts = [line for _, line in lines]
    assert texts[0].startswith("[selfdisc] t: discriminating 0/2 prompts (0%) · 0:00 elapsed")
    assert texts[-1].startswith("[selfdisc] t: discriminating 2/2 prompts (100%)")
    times = [at for at, _ in lines]
    assert len(lines) >= 4, texts  # 1.1 s at one line every 0.2 s (a loaded machine may wake the timer late)
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.7, texts  # without the timer: one gap of 1.1 s


def test_the_loading_lines_come_before_the_phases_first_line():
    lines: list[str] = []
    tracker = Tracker(LineView(lines.append, interval=5))
    tracker("t: sampling", 0, 4)  # the pipeline starts the phase; the backend loads the model on its first call
    tracker.status("loading ckpt (cpu, float32)")
    tracker.status("loaded ckpt in 1.0 s")
    tracker.tokens(50)
    time.sleep(0.05)
    tracker.row_done(10)  # too soon after the first line: kept quiet
    tracker("t: sampling", 4, 4)
    tracker.close()
    assert [line.split(" · ")[0] for line in lines] == [
        "[selfdisc] loading ckpt (cpu, float32)",
        "[selfdisc] loaded ckpt in 1.0 s",
        "[selfdisc] t: sampling 0/4 candidates (0%)",
        "[selfdisc] t: sampling 4/4 candidates (100%)",
    ]


def test_a_cached_phase_gets_one_line():
    lines: list[str] = []
    tracker = Tracker(LineView(lines.append))
    tracker("t: sampling", 16, 16)
    tracker.close()
    assert lines == ["[selfdisc] t: sampling 16/16 candidates (100%) · 0:00 elapsed · 16 cached"]


def test_a_slow_scripted_run_moves_every_interval_and_its_time_left_falls(tmp_path):
    """A pipeline run (both phases, a real cache) on a scripted model that takes 40 ms a word: the log's line
    moves at least every interval, its count rises within the one batch of each phase, and the time left falls."""
    stamped: list[tuple[float, str]] = []
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            stamped.append((time.time(), line))

    def respond(request):
        if request.kind == "sample":
            return "so the answer is 7"
        return "option (2) is wrong, so I pick (1)"  # 7 words: within the task's limit of 8 tokens

    interval = 0.25
    tracker = Tracker(LineView(write, interval=interval))
    backend = ScriptedBackend(respond=respond, delay=0.04)
    backend.listener = tracker
    settings = Settings(model="script", tasks=("arithmetic",), limit=4, samples=4, seed=1, batch_size=8)
    cache = Cache(tmp_path / "cache")
    try:
        evaluate_task(get_task("arithmetic"), backend, cache, settings, tracker)
    finally:
        tracker.close()
        cache.close()
    for phase, unit, total in (("sampling", "candidates", 16), ("discriminating", "prompts", 4)):
        lines = [(at, line) for at, line in stamped if f"arithmetic: {phase} " in line]
        counts = [int(re.search(rf" (\d+)/{total} {unit}", line).group(1)) for _, line in lines]  # type: ignore[union-attr]
        etas = [_seconds(re.search(r"ETA (\d+:\d\d)", line)) for _, line in lines[:-1]]
        assert len(lines) >= 4 and counts[-1] == total, lines
        assert 0 < max(counts[:-1]) < total, lines  # it moved before the batch ended
        assert counts == sorted(counts), lines
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(lines)]
        assert max(gaps) < interval + 0.5, lines  # (a loaded machine may wake the timer late)
        known = [eta for eta in etas if eta is not None]
        assert len(known) >= 2 and known[-1] < known[0], lines
        # The rate is measured, so a loaded machine may lift the time left for a moment; it must not climb.
        assert all(later <= earlier + 3 for earlier, later in itertools.pairwise(known)), lines


def _seconds(found: re.Match[str] | None) -> int | None:
    if found is None:
        return None
    minutes, seconds = found.group(1).split(":")
    return 60 * int(minutes) + int(seconds)


def test_worker_files_become_one_line_per_worker_on_the_controller(tmp_path):
    lines: list[str] = []
    monitor = WorkerLines(tmp_path, lines.append, interval=60)
    gw0, gw1 = Tracker(FileView(tmp_path / "gw0.json")), Tracker(FileView(tmp_path / "gw1.json"))
    gw0.status("loaded ckpt in 1.0 s")
    gw1("b: discriminating", 8, 8)
    monitor.poll()
    monitor.poll()  # nothing changed: nothing printed again
    gw0("a: sampling", 0, 8)
    time.sleep(1.1)
    monitor.poll()  # a worker busy in one long step, with nothing new to report: its elapsed time still moves
    gw1("c: discriminating", 4, 4)  # another phase, all cached
    monitor.stop()  # the final poll shows the last state, so a short run shows progress too
    assert [line.split(" · ")[:2] for line in lines[:3]] == [
        ["[selfdisc gw0] loaded ckpt in 1.0 s"],
        ["[selfdisc gw1] b: discriminating 8/8 prompts (100%)", "0:00 elapsed"],
        ["[selfdisc gw0] a: sampling 0/8 candidates (0%)", "0:01 elapsed"],
    ]
    assert any(line.startswith("[selfdisc gw1] c: discriminating 4/4 prompts (100%)") for line in lines[3:]), lines


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
    tracker.tokens(10)
    tracker.current.decoding_since -= 2  # type: ignore[union-attr]  # two seconds of decoding since then
    tracker.tokens(100)
    tracker("t: sampling", 5, 10)
    tracker.close()
    text = out.getvalue()
    assert "t: sampling" in text and "5/10" in text and "candidates" in text and "tok/s" in text and "ETA" in text


def test_terminal_bars_keep_the_count_elapsed_time_and_time_left_at_80_columns():
    out = io.StringIO()
    tracker = Tracker(RichView(file=out, width=80), prefix="baseline ")
    tracker("commonsenseqa: label likelihoods", 0, 1319)
    tracker.current.started -= 3725  # type: ignore[union-attr]
    tracker.tokens(123_456)
    tracker("commonsenseqa: label likelihoods", 5, 1319)
    tracker.close()
    last = out.getvalue().splitlines()[-1]
    assert len(last) <= 80 and re.search(r"5/1319 prompts \d:\d\d:\d\d ETA \d+:\d\d:\d\d", last), last


def test_a_scripts_delay_is_read_from_its_file_and_checked(tmp_path):
    script = tmp_path / "slow.json"
    script.write_text('{"rules": [], "delay": 0.01}')
    assert ScriptedBackend.from_file(script).delay == 0.01
    script.write_text('{"rules": [], "delay": "slow"}')
    try:
        ScriptedBackend.from_file(script)
    except SelfDiscError as error:
        assert "delay" in str(error) and "seconds from 0 to 60" in str(error)
    else:
        raise AssertionError("a delay that is no number was accepted")
