"""The pytest plugin: options, the per-task result fixture, and the end-of-session report.

Registered through the ``pytest11`` entry point, so ``pip install`` is all a project needs. Under
pytest-xdist each worker evaluates the tasks its tests need (sharing the candidate cache) and sends its
results to the controller, which prints the table and writes ``--results-json`` once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest

from selfdisc_checks import metric_registry as registry
from selfdisc_checks.backends.checkpoint import Checkpoint
from selfdisc_checks.engine import check_baseline_comparable, load_baseline, validate
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.gate import LABELS, Threshold, Verdict, judge
from selfdisc_checks.progress import FileView, LineView, RichView, Tracker, View, WorkerLines
from selfdisc_checks.records import HistoryRun, TaskResult
from selfdisc_checks.report.compare import METRICS as COMPARED_METRICS
from selfdisc_checks.report.compare import compare_results
from selfdisc_checks.report.results import (
    merge_worker_task,
    render_table,
    results_document,
    run_record,
    task_result_json,
    write_json_atomically,
)
from selfdisc_checks.session import EvaluationSession
from selfdisc_checks.settings import OPTIONS, Settings, read_pyproject, resolve_settings
from selfdisc_checks.store.history import History

_STATE = pytest.StashKey["_PluginState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("selfdisc", "self-discrimination checks (selfdisc-checks)")
    for name, (flag, kwargs) in OPTIONS.items():
        group.addoption(flag, dest=f"selfdisc_{name}", **({"default": None} | kwargs))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _redo_rootdir_choice(early_config)


def _redo_rootdir_choice(config: pytest.Config) -> None:
    """Choose the rootdir again, now that pytest knows our options.

    pytest picks its rootdir (and so pyproject.toml, testpaths and [tool.selfdisc]) before plugins load,
    so it reads ``--model ../models/x.gguf`` as a path to test and may settle on a folder above the
    project. Once our options are registered the same rule gives the right answer; when it differs we
    adopt it. pytest has no public API for this, so any surprise leaves pytest's choice in place.
    """
    ns = config.known_args_namespace
    if getattr(ns, "rootdir", None) or getattr(ns, "inifilename", None):
        return
    try:
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, inicfg, _ = determine_setup(
            inifile=None,
            override_ini=ns.override_ini,
            args=ns.file_or_dir,
            rootdir_cmd_arg=None,
            invocation_dir=config.invocation_params.dir,
        )
        if (rootpath, inipath) == (config.rootpath, config.inipath):
            return
        old_cut = str(config.inipath.parent) if config.inipath else str(config.rootpath)
        config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
        config._inicache.clear()
        config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
        if ns.confcutdir == old_cut:
            ns.confcutdir = str(inipath.parent) if inipath else str(rootpath)
    except Exception:  # a pytest whose internals differ: keep its choice
        return


class _PluginState:
    """What one pytest process knows: its settings, its evaluation session, and merged worker results."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        refresh_before: float | None,
        is_worker: bool,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.refresh_before = refresh_before
        self.is_worker = is_worker
        worker = getattr(config, "workerinput", {}).get("workerid")
        workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
        self.session = EvaluationSession(settings, refresh_before, checkpoint, worker, workers)
        # --baseline-model: the previous release, evaluated here with the same settings (its own cache keys).
        self.baseline_session = (
            EvaluationSession(
                replace(settings, model=settings.baseline_model, baseline_model=None), refresh_before, worker=worker
            )
            if settings.baseline_model
            else None
        )
        self.baseline: dict[str, Any] | None = None
        self.worker_model: dict[str, Any] | None = None
        self.worker_backend: dict[str, str] | None = None
        self.worker_tasks: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []  # each check's outcome, for the results document
        self.outputs: list[str] = []  # what was written at the end of the session, for the summary
        self.interrupted_with: int | None = None  # candidates in the cache when Ctrl-C stopped the run
        self.interruption_told = False  # whether pytest's exit line already says so

    def baseline_task(self, task: str) -> dict[str, Any]:
        """The baseline's results document for ``task``: the --baseline file, or the --baseline-model
        evaluated now (once per task, with a progress bar on a terminal)."""
        if self.baseline_session is None:
            assert self.baseline is not None
            return self.baseline
        session = self.baseline_session
        with _progress(self.config, prefix="baseline ") as progress:
            result = session.result(task, progress)
        return results_document(session.model_json(), session.settings.to_json(), {task: task_result_json(result)})

    def baseline_document(self) -> dict[str, Any] | None:
        """The baseline's results for the report: the --baseline file, or the --baseline-model's results on
        the tasks this process evaluated for it."""
        if self.baseline_session is None:
            return self.baseline
        if not self.baseline_session.results:
            return None
        session = self.baseline_session
        return results_document(session.model_json(), session.settings.to_json(), session.tasks_json())

    def model_json(self) -> dict[str, Any] | None:
        if self.session.results:
            return self.session.model_json()
        return self.worker_model

    def tasks_json(self) -> dict[str, Any]:
        merged = dict(self.worker_tasks)
        merged.update(self.session.tasks_json())
        return {name: merged[name] for name in self.settings.tasks if name in merged}


def pytest_configure(config: pytest.Config) -> None:
    cli = {name: config.getoption(f"selfdisc_{name}") for name in OPTIONS}
    try:
        table, base = read_pyproject(Path(config.rootpath))
        settings = resolve_settings(cli, table, base)
        checkpoint = validate(settings)
        baseline = load_baseline(settings.baseline) if settings.baseline else None
        if baseline is not None:
            check_baseline_comparable(settings, baseline)
    except SelfDiscError as error:
        raise pytest.UsageError(str(error)) from None
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        refresh_before = worker_input.get("selfdisc_refresh_before")
    else:
        refresh_before = time.time() if settings.refresh_cache else None
    config.stash[_STATE] = _PluginState(config, settings, refresh_before, worker_input is not None, checkpoint)
    config.stash[_STATE].baseline = baseline
    config.pluginmanager.register(_CheckOutcomes(config.stash[_STATE]), "selfdisc-check-outcomes")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "selfdisc-xdist")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "selfdisc_task" in metafunc.fixturenames:
        tasks = metafunc.config.stash[_STATE].settings.tasks
        metafunc.parametrize("selfdisc_task", tasks, ids=list(tasks), scope="session")
    if "selfdisc_metric" in metafunc.fixturenames:
        metafunc.parametrize("selfdisc_metric", COMPARED_METRICS, ids=list(COMPARED_METRICS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag every check with its task (and a baseline check with its metric) before it runs, so its outcome
    is known to be a check's even when its fixture fails (JUnit XML properties; ``checks`` in the results)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "selfdisc_task" in params:
            record_properties(item.user_properties, task=params["selfdisc_task"], metric=params.get("selfdisc_metric"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A check skipped inside this plugin (a metric that cannot be measured, no baseline) is reported at the
    check, not at the line of this file that raised the skip."""
    report = yield
    longrepr = report.longrepr
    if (
        report.skipped
        and isinstance(longrepr, tuple)
        and len(longrepr) == 3
        and os.path.abspath(str(longrepr[0])) == os.path.abspath(__file__)
    ):
        path, line = item.reportinfo()[:2]
        report.longrepr = (os.fspath(path), (line or 0) + 1, longrepr[2])
    return report


class _CheckOutcomes:
    """Keeps each check's outcome for the results document (on the xdist controller too: reports travel)."""

    def __init__(self, state: _PluginState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if PROPERTY_PREFIX + "task" in properties and (report.when == "call" or report.outcome != "passed"):
            self.state.checks.append(check_record(report, properties))


def check_record(report: pytest.TestReport, properties: dict[str, object]) -> dict[str, object]:
    """One check's outcome: which check, what it measured against what, and why it ended as it did."""
    values = {
        name.removeprefix(PROPERTY_PREFIX): value
        for name, value in properties.items()
        if name.startswith(PROPERTY_PREFIX)
    }
    message = values.pop("message", None)
    if message is None and report.outcome != "passed":
        if report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        else:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr).strip().splitlines()[-1]
    low, high = values.pop("ci_low", None), values.pop("ci_high", None)
    threshold = values.pop("threshold", None)
    return {
        "id": report.nodeid,
        "name": report.nodeid.split("::")[-1].split("[")[0],
        "task": values.pop("task"),
        "metric": values.pop("metric", None),
        "outcome": report.outcome,
        "message": message,
        "value": values.pop("value", None),
        "interval": [low, high] if low is not None else None,
        "threshold": {"bound": threshold, "side": values.pop("side", None), "mode": values.pop("mode", None)}
        if threshold is not None
        else None,
        **{name: value for name, value in values.items() if name not in ("side", "mode")},
    }


def _fail(error: SelfDiscError) -> NoReturn:
    """Fail the current check with the error's one sentence (not twice: no "During handling" chain)."""
    raise pytest.fail.Exception(str(error), pytrace=False) from None


@pytest.fixture(scope="session")
def selfdisc_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return pytestconfig.stash[_STATE].settings


@pytest.fixture(scope="session")
def selfdisc_result(pytestconfig: pytest.Config, selfdisc_task: str) -> TaskResult:
    """The evaluated task (sampled once per session and cached on disk across sessions)."""
    state = pytestconfig.stash[_STATE]
    try:
        with _progress(pytestconfig) as progress:
            return state.session.result(selfdisc_task, progress)
    except SelfDiscError as error:
        _fail(error)


PROPERTY_PREFIX = "selfdisc_"  # JUnit XML properties of each check: selfdisc_value, selfdisc_ci_low, ...


def record_properties(properties: list[tuple[str, object]] | None, **values: object) -> None:
    """Add ``values`` (None dropped) to a test's user properties, which ``--junitxml`` writes as
    ``<property>`` elements, so CI systems show the measured value, interval and threshold of each check."""
    if properties is None:
        return
    properties.extend((PROPERTY_PREFIX + name, value) for name, value in values.items() if value is not None)


class MetricCheck:
    """One metric of one task against its configured threshold, with a message that explains the decision."""

    def __init__(
        self, result: TaskResult, settings: Settings, properties: list[tuple[str, object]] | None = None
    ) -> None:
        self.result, self.settings, self.properties = result, settings, properties

    def verdict(self, metric: str) -> Verdict:
        """The check's decision (see ``gate``); skips the test, saying why, when there is nothing to decide:
        no threshold set, or DG-DIFF on a run with no question that has both right and wrong candidates."""
        threshold = self.settings.check(self.result.task, metric)
        declared = registry.find(metric)  # None for a key a test reads that no declaration gives
        m = self.result.metrics
        self._record(metric, threshold)
        if not m.get("n"):
            pytest.skip(
                f"{self.result.task}: {LABELS.get(metric, metric)} cannot be measured: no question could be scored "
                f"({m.get('unrated_questions', 0)} left unscored by the judge)"
            )
        if metric not in m:
            method = (declared.method if declared else None) or registry.GENERATE
            asked = ",".join(self.settings.discriminate)
            pytest.skip(
                f"{self.result.task}: {LABELS.get(metric, metric)} not measured: --discriminate {asked} does not "
                f"include {method}"
            )
        if m.get(metric) is None:
            pytest.skip(f"{self.result.task}: {metric} cannot be measured: no valid pick in {m['n']} questions")
        if threshold is None:
            side = declared.side if declared else "floor"
            pytest.skip(
                f"{self.result.task}: {metric} = {self.measured(metric):.3f}; no threshold set "
                f"(add {metric} = <{side}> under [tool.selfdisc.thresholds])"
            )
        if declared is not None and declared.unit == "difference" and not m.get("mixed_fraction"):
            pytest.skip(
                f"{self.result.task}: DG-DIFF cannot be measured: no question of {m['n']} has both right and "
                "wrong candidates, so any pick scores the same (use more or harder questions, or more samples)"
            )
        verdict = judge(self.result.task, metric, threshold, m)
        record_properties(self.properties, message=verdict.message)
        return verdict

    def _record(self, metric: str, threshold: Threshold | None) -> None:
        m = self.result.metrics
        declared = registry.find(metric)
        interval = m.get("ci", {}).get(metric) if m.get(metric) is not None else None
        record_properties(
            self.properties,
            metric=metric,
            value=m.get(metric),
            n=m.get("n"),
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
            ci_level=m.get("ci", {}).get("level") if interval else None,
            threshold=threshold.bound if threshold else None,
            mode=threshold.mode if threshold else None,
            side=(declared.side if declared else "floor") if threshold else None,
        )

    def measured(self, metric: str) -> float:
        return float(self.result.metrics[metric])

    # The first releases' API (point estimate >= minimum), kept for test files copied from them.
    def values(self, metric: str) -> tuple[float, float]:
        """(measured, minimum) for a plain ``assert measured >= minimum``."""
        return self.measured(metric), self.minimum(metric)

    def minimum(self, metric: str) -> float:
        """The threshold's bound, skipping the check (with the measured value) when none is configured."""
        threshold = self.settings.threshold(self.result.task, metric)
        if threshold is None:
            pytest.skip(
                f"{self.result.task}: {metric} = {self.measured(metric):.3f}; no threshold set "
                f"(add {metric} = <minimum> under [tool.selfdisc.thresholds])"
            )
        return threshold

    def explain(self, metric: str) -> str:
        threshold = self.settings.check(self.result.task, metric)
        return judge(
            self.result.task, metric, threshold or Threshold(self.minimum(metric)), self.result.metrics
        ).message


@pytest.fixture(scope="session")
def selfdisc_baseline(pytestconfig: pytest.Config) -> dict[str, Any] | None:
    """The baseline results document: the parsed ``--baseline`` file, or with ``--baseline-model`` that
    checkpoint's results on every task of this run (evaluated on first use); None without a baseline."""
    state = pytestconfig.stash[_STATE]
    if state.baseline_session is None:
        return state.baseline
    try:
        documents = [state.baseline_task(task) for task in state.settings.tasks]
    except SelfDiscError as error:
        _fail(error)
    return {**documents[0], "tasks": {name: doc["tasks"][name] for doc in documents for name in doc["tasks"]}}


@pytest.fixture
def selfdisc_regression(
    selfdisc_result: TaskResult,
    selfdisc_settings: Settings,
    selfdisc_metric: str,
    pytestconfig: pytest.Config,
    request: pytest.FixtureRequest,
) -> Verdict:
    """Did ``selfdisc_metric`` of the current task regress against the baseline (``--baseline`` results or
    ``--baseline-model`` evaluated in this session)? (See ``report.compare``.)"""
    task, settings = selfdisc_result.task, selfdisc_settings
    properties = request.node.user_properties
    record_properties(properties, value=selfdisc_result.metrics.get(selfdisc_metric))
    state = pytestconfig.stash[_STATE]
    source = settings.baseline or settings.baseline_model
    if source is None:
        pytest.skip(f"{task}: no baseline to compare with (pass --baseline OLD_RESULTS.json or --baseline-model CKPT)")
    if selfdisc_metric not in selfdisc_result.metrics:
        pytest.skip(f"{task}: {LABELS[selfdisc_metric]} not measured in this run (see --discriminate)")
    try:
        baseline = state.baseline_task(task)
    except SelfDiscError as error:
        _fail(error)
    old_task = baseline.get("tasks", {}).get(task)
    if old_task is None:
        pytest.skip(f"{task}: the baseline {source} has no results for this task")
    if selfdisc_metric not in old_task.get("metrics", {}):
        pytest.skip(f"{task}: the baseline {source} did not measure {LABELS[selfdisc_metric]}")
    current = results_document(
        state.session.model_json(), settings.to_json(), {task: task_result_json(selfdisc_result)}
    )
    tolerance = settings.tolerance(task, selfdisc_metric)
    try:
        (change,) = compare_results(baseline, current, [selfdisc_metric], tolerance, settings.level)
    except SelfDiscError as error:
        _fail(error)
    low, high = change.interval
    record_properties(
        properties,
        baseline=source,
        baseline_value=change.old,
        difference=change.difference,
        ci_low=low,
        ci_high=high,
        ci_level=change.level,
        upper_bound=change.upper_bound,
        tolerance=tolerance,
        n=change.n,
    )
    verb = "regressed" if change.regressed else "held"
    message = (
        f"{task}: {LABELS[selfdisc_metric]} {verb} against the baseline {source}: {change.old:.3f} -> "
        f"{change.new:.3f}, difference {change.difference:+.3f} [{100 * change.level:.0f}% CI {low:+.3f}, "
        f"{high:+.3f}], one-sided upper bound {change.upper_bound:+.3f} vs tolerance -{tolerance:.3f} "
        f"(n = {change.n} shared questions; {len(change.flipped['fixed'])} fixed, "
        f"{len(change.flipped['broke'])} broke)"
    )
    record_properties(properties, message=message)
    return Verdict(not change.regressed, message)


@pytest.fixture
def selfdisc_check(
    selfdisc_result: TaskResult, selfdisc_settings: Settings, request: pytest.FixtureRequest
) -> MetricCheck:
    """Thresholds and failure messages for the current task's metrics (recorded as JUnit XML properties)."""
    return MetricCheck(selfdisc_result, selfdisc_settings, request.node.user_properties)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    if state.is_worker:
        if state.session.results:
            session.config.workeroutput["selfdisc"] = {
                "model": state.session.model_json(),
                "backend": state.session.backend_json(),
                "tasks": state.session.tasks_json(),
            }
    elif state.tasks_json():
        try:
            _write_outputs(state, exitstatus)
        except (SelfDiscError, OSError) as error:
            if isinstance(error, SelfDiscError):
                state.outputs.append(f"error: {error}")
            else:  # a full disk or a folder that went away: say which; the cache is untouched
                state.outputs.append(
                    f"error: could not write {error.filename or 'an output'} ({error.strerror}); the "
                    "candidates are in the cache, so a rerun writes it without sampling again."
                )
            if session.exitstatus == pytest.ExitCode.OK:  # a gate must not pass without the outputs it asked for
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if exitstatus == pytest.ExitCode.INTERRUPTED and not state.is_worker and state.interrupted_with is None:
        state.interrupted_with = state.session.stored_candidates()  # read before the cache closes
    state.session.close()
    if state.baseline_session is not None:
        state.baseline_session.close()


def _write_outputs(state: _PluginState, exitstatus: int) -> None:
    """The run's results JSON, its history row and its report, as asked; each written whole or not at all."""
    settings = state.settings
    if not (settings.results_json or settings.history or settings.report_dir):
        return
    backend = state.session.backend_json() or state.worker_backend
    run = run_record(state.session.started, time.time(), backend)
    if settings.run_label:
        run["label"] = settings.run_label
    document = results_document(state.model_json() or {}, settings.to_json(), state.tasks_json(), run)
    document["checks"] = state.checks
    if settings.results_json:
        write_json_atomically(Path(settings.results_json), document)
        state.outputs.append(f"results written to {settings.results_json}")
    runs = [HistoryRun(0, settings.run_label or str(document["model"].get("id", "?")), run["started_at"], document)]
    if settings.history:
        missing = [name for name in settings.tasks if name not in document["tasks"]]
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR) or missing:
            why = "it was interrupted" if not missing else f"{', '.join(missing)} could not be evaluated"
            state.outputs.append(
                f"not added to the history {settings.history}: {why} (a history keeps whole runs only)"
            )
        else:
            with History(settings.history) as history:
                run_id = history.append(document)
                runs = history.for_report()
            state.outputs.append(f"run {run_id} appended to the history {settings.history} ({len(runs)} runs)")
    if settings.report_dir:
        from selfdisc_checks.report.html import write_report  # matplotlib loads only when a report is asked for

        baseline = state.baseline_document()
        paths = write_report(
            runs,
            Path(settings.report_dir),
            level=settings.level,
            baseline=(
                HistoryRun(-1, "baseline", (baseline.get("run") or {}).get("started_at", ""), baseline)
                if baseline is not None
                else None
            ),
        )
        state.outputs.append(f"report written to {paths[0]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    """Ctrl-C while checks run ends the session with our one line instead of pytest's KeyboardInterrupt block
    (the place deep inside torch where the signal landed says nothing useful)."""
    try:
        return (yield)
    except KeyboardInterrupt:
        state = session.config.stash.get(_STATE, None)
        if state is None or state.is_worker:
            raise
        state.interrupted_with = state.session.stored_candidates()
        state.interruption_told = True  # pytest prints the exit's message as its one line
        raise pytest.exit.Exception(_interrupted_line(state), returncode=pytest.ExitCode.INTERRUPTED) from None


def _interrupted_line(state: _PluginState) -> str:
    return (
        f"[selfdisc] interrupted: every finished question's candidates are in the cache {state.settings.cache_dir} "
        f"({state.interrupted_with} candidates); rerun the same command to continue from there."
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or state.is_worker:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED and state.interrupted_with is not None and not state.interruption_told:
        terminalreporter.write_line(_interrupted_line(state))
    tasks = state.tasks_json()
    if not tasks:
        return
    model = state.model_json() or {}
    terminalreporter.section("selfdisc-checks")
    terminalreporter.write(render_table(model.get("id", "?"), tasks, width=max(150, terminalreporter._tw.fullwidth)))
    terminalreporter.write_line(f"model fingerprint {model.get('fingerprint', '?')}; cache {state.settings.cache_dir}")
    for line in state.outputs:
        terminalreporter.write_line(line)


class _XdistHooks:
    """Controller-side hooks that exist only when pytest-xdist is installed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.monitor: WorkerLines | None = None  # prints the workers' progress, one line per worker

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput["selfdisc_refresh_before"] = self.config.stash[_STATE].refresh_before
        if self.monitor is None:
            import tempfile

            reporter = self.config.pluginmanager.getplugin("terminalreporter")
            folder = Path(tempfile.mkdtemp(prefix="selfdisc-progress-"))
            self.monitor = WorkerLines(folder, reporter.write_line if reporter is not None else print)
            self.monitor.start()
        node.workerinput["selfdisc_progress_dir"] = str(self.monitor.folder)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if self.monitor is not None:
            import shutil

            self.monitor.stop()  # the last state of every worker, so a short run shows its progress too
            shutil.rmtree(self.monitor.folder, ignore_errors=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", {}).get("selfdisc")
        if output:
            state = self.config.stash[_STATE]
            state.worker_model = output["model"]
            state.worker_backend = output.get("backend") or state.worker_backend
            for name, task in output["tasks"].items():
                merge_worker_task(state.worker_tasks, name, task)


@contextmanager
def _progress(config: pytest.Config, prefix: str = "") -> Iterator[Tracker]:
    """Progress for the work done inside: bars on a terminal, timed lines in a log, and on an xdist worker a
    state file the controller prints from (see ``progress``)."""
    state = config.stash[_STATE]
    if state.is_worker:
        folder = config.workerinput.get("selfdisc_progress_dir")
        worker = config.workerinput.get("workerid", "worker")
        tracker = Tracker(FileView(Path(folder) / f"{worker}.json") if folder else View(), prefix)
        try:
            yield tracker
        finally:
            tracker.close()
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        if reporter is not None and reporter.isatty:
            view: View = RichView()
        else:
            view = LineView(reporter.write_line if reporter is not None else print)
        tracker = Tracker(view, prefix)
        try:
            yield tracker
        finally:
            tracker.close()
