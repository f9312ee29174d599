"""The pytest plugin: options, the per-task result fixture, and the end-of-session report.

Registered through the ``pytest11`` entry point, so ``pip install`` is all a project needs. Under
pytest-xdist each worker evaluates the tasks its tests need (sharing the candidate cache) and sends its
results to the controller, which prints the table and writes ``--results-json`` once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.options import OPTIONS

if TYPE_CHECKING:  # the engine loads only once a session uses a selfdisc check or fixture
    from selfdisc_checks.backends.checkpoint import Checkpoint
    from selfdisc_checks.gate import Verdict
    from selfdisc_checks.progress import Tracker, WorkerLines
    from selfdisc_checks.records import TaskResult
    from selfdisc_checks.settings import Settings
    from selfdisc_checks.verdicts import Decision, Planned

_STATE = pytest.StashKey["_PluginState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("selfdisc", "self-discrimination checks (selfdisc-checks)")
    for name, (flag, kwargs) in OPTIONS.items():
        group.addoption(flag, dest=f"selfdisc_{name}", **({"default": None} | kwargs))


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
        from selfdisc_checks.engine import BaselineModel
        from selfdisc_checks.session import EvaluationSession

        self.config = config
        self.settings = settings
        self.refresh_before = refresh_before
        self.is_worker = is_worker
        worker = getattr(config, "workerinput", {}).get("workerid")
        workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
        self.session = EvaluationSession(settings, refresh_before, checkpoint, worker, workers)
        # --baseline-model: the previous release, evaluated here with the same settings (its own cache keys).
        self.baseline_session = BaselineModel(settings, refresh_before, worker) if settings.baseline_model else None
        self.baseline: dict[str, Any] | None = None
        self.worker_model: dict[str, Any] | None = None
        self.worker_backend: dict[str, str] | None = None
        self.worker_tasks: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []  # each check's outcome, for the results document
        self.outputs: list[str] = []  # what was written at the end of the session, for the summary
        self.interrupted_with: int | None = None  # candidates this run had stored when Ctrl-C stopped it
        self.interruption_told = False  # whether pytest's exit line already says so
        self.collected: dict[str, list[str]] = {}  # task -> the gate names of its collected shipped checks
        self._decisions: dict[tuple[str, str], Decision] | None = None

    def decision(self, task: str, name: str, plan: Callable[[], Planned]) -> Decision:
        """The check's decision as the run-wide family makes it (``verdicts.decide_family``): the family is
        every shipped check collected in this session, decided together once every task they need is
        evaluated. A check outside it (a project's own) is decided alone, at the run's alpha."""
        from selfdisc_checks.verdicts import decide_family

        if name not in self.collected.get(task, ()):
            planned = plan()
            return decide_family([planned], self.settings)[planned.key]
        if self._decisions is None:
            self._decisions = decide_family(self._plan_collected(), self.settings)
        found = self._decisions.get((task, name))
        if found is None:  # its task or baseline could not be evaluated: the check says why, alone
            planned = plan()
            return decide_family([planned], self.settings)[planned.key]
        return found

    def _plan_collected(self) -> list[Planned]:
        """Every collected shipped check before the family decides; a task or a baseline that cannot be
        evaluated leaves its checks out (each of them fails with the reason when it runs)."""
        from selfdisc_checks.gate import REGRESSION_PREFIX
        from selfdisc_checks.report.results import results_document, task_result_json
        from selfdisc_checks.verdicts import plan_regression, plan_threshold

        planned = []
        for task, names in self.collected.items():
            try:
                with _progress(self.config) as progress:
                    result = self.session.result(task, progress)
            except SelfDiscError:
                continue
            current = None
            for name in names:
                if not name.startswith(REGRESSION_PREFIX):
                    planned.append(plan_threshold(result, self.settings, name))
                    continue
                metric = name.removeprefix(REGRESSION_PREFIX)
                try:
                    if current is None:
                        current = results_document(
                            self.session.model_json(), self.settings.to_json(), {task: task_result_json(result)}
                        )
                    baseline = self.baseline_task(task) if self.settings.baseline or self.baseline_session else {}
                    planned.append(plan_regression(result, self.settings, metric, baseline, current))
                except SelfDiscError:
                    continue
        return planned

    def baseline_task(self, task: str) -> dict[str, Any]:
        """The baseline's results document for ``task``: the --baseline file, or the --baseline-model
        evaluated now (once per task, with a progress bar on a terminal)."""
        if self.baseline_session is None:
            assert self.baseline is not None
            return self.baseline
        with _progress(self.config, prefix="baseline ") as progress:
            return self.baseline_session.document(task, progress)

    def baseline_document(self) -> dict[str, Any] | None:
        """The baseline's results for the report: the --baseline file, or the --baseline-model's results on
        the tasks this process evaluated for it."""
        if self.baseline_session is None:
            return self.baseline
        return self.baseline_session.evaluated()

    def model_json(self) -> dict[str, Any] | None:
        if self.session.results:
            return self.session.model_json()
        return self.worker_model

    def tasks_json(self) -> dict[str, Any]:
        merged = dict(self.worker_tasks)
        merged.update(self.session.tasks_json())
        return {name: merged[name] for name in self.settings.tasks if name in merged}


_LAZY = pytest.StashKey["_Lazy"]()
_FIXTURES = frozenset(
    {
        "selfdisc_task",
        "selfdisc_result",
        "selfdisc_check",
        "selfdisc_settings",
        "selfdisc_regression",
        "selfdisc_metric",
        "selfdisc_baseline",
    }
)


class _Lazy:
    """The plugin's state, made on first use: an installed plugin must cost a repository's unrelated tests
    nothing (no settings read, no checkpoint fingerprinted, no cache folder, no torch), so the engine starts
    only when a selfdisc option is given or a selfdisc check or fixture is collected."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.error: SelfDiscError | None = None
        self.from_workers = False  # an xdist controller learns a bad input from its workers, and tells it

    def state(self) -> _PluginState:
        """The active state, activating now if needed; a bad input raises its one sentence (once)."""
        found = self.config.stash.get(_STATE, None)
        if found is not None:
            return found
        if self.error is not None:
            raise self.error
        try:
            return _activate(self.config)
        except SelfDiscError as error:
            self.error = error
            raise


def _cli(config: pytest.Config) -> dict[str, Any]:
    return {name: config.getoption(f"selfdisc_{name}") for name in OPTIONS}


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LAZY] = _Lazy(config)
    if getattr(config.option, "xmlpath", None) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_JunitNames(config), "selfdisc-junit-names")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "selfdisc-xdist")
    if any(value is not None for value in _cli(config).values()):  # asked for on the command line: check now
        try:
            config.stash[_LAZY].state()
        except SelfDiscError as error:
            raise pytest.UsageError(str(error)) from None


def _state(config: pytest.Config) -> _PluginState:
    return config.stash[_LAZY].state()


def _activate(config: pytest.Config) -> _PluginState:
    """Resolve and check everything a run needs before any sampling (``engine.validate``), then set up."""
    from selfdisc_checks.engine import check_baseline_comparable, load_baseline, load_data, validate
    from selfdisc_checks.settings import read_pyproject, resolve_settings

    _check_rootdir(config)
    table, base = read_pyproject(Path(config.rootpath))
    settings = resolve_settings(_cli(config), table, base)
    checkpoint = validate(settings)
    load_data(settings)  # a data error is one sentence now, not a setup error of every check
    baseline = load_baseline(settings.baseline) if settings.baseline else None
    if baseline is not None:
        check_baseline_comparable(settings, baseline)
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        refresh_before = worker_input.get("selfdisc_refresh_before")
        if refresh_before is None and settings.refresh_cache:
            refresh_before = worker_input.get("selfdisc_started")
    else:
        refresh_before = time.time() if settings.refresh_cache else None
    state = _PluginState(config, settings, refresh_before, worker_input is not None, checkpoint)
    state.baseline = baseline
    if settings.stop_when_decided:
        from selfdisc_checks.stopping import Stopping

        paired = state.baseline_session.session if state.baseline_session is not None else None
        state.session.stopping = Stopping(settings, baseline, paired)
    config.stash[_STATE] = state
    config.pluginmanager.register(_CheckOutcomes(state), "selfdisc-check-outcomes")
    return state


def _check_rootdir(config: pytest.Config) -> None:
    """pytest chooses its rootdir (and so pyproject.toml) before plugins load, so in ``--model ../m`` it takes
    ``../m`` for a test path. pytest offers no supported way to choose again, so we refuse the run, naming the
    fix, when such a path moved the rootdir away from where the configuration is."""
    args = list(config.invocation_params.args)
    flags = {flag for flag, kwargs in OPTIONS.values() if kwargs.get("action") not in ("store_true",)}
    invocation = Path(config.invocation_params.dir)
    if any(arg.startswith("--rootdir") or arg == "-c" or arg.startswith("--config-file") for arg in args):
        return
    for flag, value in zip(args, args[1:], strict=False):
        if flag not in flags or value.startswith("-") or not (invocation / value).exists():
            continue
        path = (invocation / value).resolve()
        if path.is_relative_to(invocation.resolve()):
            continue
        expected = _config_folder(invocation)
        if expected is not None and Path(config.rootpath).resolve() != expected:
            raise SelfDiscError(
                f"pytest read the value of {flag} {value} as a test path and chose the rootdir {config.rootpath} "
                f"instead of {expected}, so that folder's configuration would be ignored; write {flag}={value} "
                f"(with '='), or pass --rootdir={expected}."
            )


def _config_folder(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a pytest configuration file (pytest's own search)."""
    for folder in [start.resolve(), *start.resolve().parents]:
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            if (folder / name).is_file():
                return folder
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not _FIXTURES.intersection(metafunc.fixturenames):
        return
    try:
        state = _state(metafunc.config)
    except SelfDiscError:
        return  # told once, as a usage error, when collection ends (pytest_collection_modifyitems)
    if "selfdisc_task" in metafunc.fixturenames:
        tasks = state.settings.tasks
        metafunc.parametrize("selfdisc_task", tasks, ids=list(tasks), scope="session")
    if "selfdisc_metric" in metafunc.fixturenames:
        from selfdisc_checks.report.compare import METRICS as COMPARED_METRICS

        metafunc.parametrize("selfdisc_metric", COMPARED_METRICS, ids=list(COMPARED_METRICS))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag every check with its task (and a baseline check with its metric) before it runs, so its outcome
    is known to be a check's even when its fixture fails (JUnit XML properties; ``checks`` in the results).
    A bad input found when the first selfdisc check was collected is reported here, once."""
    ours = [item for item in items if _FIXTURES.intersection(getattr(item, "fixturenames", ()))]
    if ours:
        try:
            _state(config)
        except SelfDiscError as error:
            if not hasattr(config, "workerinput"):
                raise pytest.UsageError(str(error)) from None
            # An xdist worker cannot stop the run: it leaves the checks out (every worker alike, so their
            # collections agree) and the controller tells the sentence once and ends with a usage error.
            config.hook.pytest_deselected(items=ours)
            items[:] = [item for item in items if item not in ours]
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "selfdisc_task" in params:
            record_properties(item.user_properties, task=params["selfdisc_task"], metric=params.get("selfdisc_metric"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which shipped checks this session runs (after -k and -m chose), by test name and fixture, so a
    project's copy of a shipped check counts too: they are the run's family."""
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    from selfdisc_checks.gate import REGRESSION_PREFIX
    from selfdisc_checks.verdicts import CHECK_FILES, REGRESSION_CHECK

    shipped = {check: metric for table in CHECK_FILES.values() for check, metric in table.items()}
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        task, name = params.get("selfdisc_task"), getattr(item, "originalname", item.name)
        fixtures = getattr(item, "fixturenames", ())
        if task is None:
            continue
        if name in shipped and "selfdisc_check" in fixtures:  # the shipped check, or a project's copy of it
            gate_name = shipped[name]
        elif name == REGRESSION_CHECK[1] and "selfdisc_regression" in fixtures and "selfdisc_metric" in params:
            gate_name = REGRESSION_PREFIX + params["selfdisc_metric"]
        else:
            continue
        names = state.collected.setdefault(task, [])
        if gate_name not in names:
            names.append(gate_name)


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
    classname = _junit_classname(item)
    if classname is not None:
        report.selfdisc_classname = classname  # an attribute of the report: it travels to the xdist controller
    return report


def _junit_classname(item: pytest.Item) -> str | None:
    """The JUnit classname of a shipped check, its module's import name (``selfdisc_checks.checks.test_model``),
    when --junitxml is asked for; None for any other test, whose classname pytest derives as usual. pytest
    derives it from the file's path relative to the rootdir, which makes ``.venv.lib.python3.11.site-packages.
    selfdisc_checks.checks.test_model`` of a virtual environment inside the repository, and ``test_model`` of one
    outside it."""
    if not getattr(item.config.option, "xmlpath", None) or not _FIXTURES.intersection(
        getattr(item, "fixturenames", ())
    ):
        return None
    module = getattr(getattr(item, "module", None), "__name__", "")
    if not module.startswith("selfdisc_checks.checks."):
        return None
    cls = getattr(item, "cls", None)
    return f"{module}.{cls.__qualname__}" if cls is not None else module


class _JunitNames:
    """Gives the shipped checks their short, stable JUnit classname (registered only with --junitxml, on the
    process that writes the file). It runs before pytest's own junitxml hook and sets the attribute on the
    test case's reporter, which keeps it over the classname pytest derives (pytest's LogXML restores
    attributes set this way); no node id is changed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        classname = getattr(report, "selfdisc_classname", None)
        if not isinstance(classname, str):
            return
        try:
            from _pytest.junitxml import xml_key  # how pytest's own junitxml fixtures reach its LogXML
        except ImportError:  # pragma: no cover - a pytest without it keeps its own classnames
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        prefix = getattr(xml, "prefix", None)
        xml.node_reporter(report).add_attribute("classname", f"{prefix}.{classname}" if prefix else classname)


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
    from selfdisc_checks.engine import check_record as record

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
    task, metric = values.pop("task"), values.pop("metric", None)
    shown = None if message is None else str(message)
    return record(report.nodeid, str(task), None if metric is None else str(metric), report.outcome, shown, values)


def _fail(error: SelfDiscError) -> NoReturn:
    """Fail the current check with the error's one sentence (not twice: no "During handling" chain)."""
    raise pytest.fail.Exception(str(error), pytrace=False) from None


@pytest.fixture(scope="session")
def selfdisc_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return _state(pytestconfig).settings


@pytest.fixture(scope="session")
def selfdisc_result(pytestconfig: pytest.Config, selfdisc_task: str) -> TaskResult:
    """The evaluated task (sampled once per session and cached on disk across sessions)."""
    state = _state(pytestconfig)
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
        self,
        result: TaskResult,
        settings: Settings,
        properties: list[tuple[str, object]] | None = None,
        state: _PluginState | None = None,
    ) -> None:
        self.result, self.settings, self.properties, self.state = result, settings, properties, state

    def verdict(self, metric: str) -> Verdict:
        """The check's decision, made with the run's other checks (``verdicts.decide_family``); skips the test,
        saying why, when there is nothing to decide: no threshold set, DG-DIFF on a run with no question that
        has both right and wrong candidates, or a check that [tool.selfdisc.gate] checks leaves out."""
        from selfdisc_checks.verdicts import decide_family, plan_threshold

        def plan() -> Planned:
            return plan_threshold(self.result, self.settings, metric)

        if self.state is None:
            planned = plan()
            return _apply(decide_family([planned], self.settings)[planned.key], self.properties)
        return _apply(self.state.decision(self.result.task, metric, plan), self.properties)


def _apply(decision: Decision, properties: list[tuple[str, object]] | None) -> Verdict:
    """Record a decision's properties on the check and skip it when there was nothing to decide."""
    record_properties(properties, **decision.properties)
    if decision.verdict.skipped:
        pytest.skip(decision.verdict.message)
    return decision.verdict


@pytest.fixture(scope="session")
def selfdisc_baseline(pytestconfig: pytest.Config) -> dict[str, Any] | None:
    """The baseline results document: the parsed ``--baseline`` file, or with ``--baseline-model`` that
    checkpoint's results on every task of this run (evaluated on first use); None without a baseline."""
    state = _state(pytestconfig)
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
    ``--baseline-model`` evaluated in this session)? (See ``verdicts.decide_regression``.)"""
    from selfdisc_checks.gate import REGRESSION_PREFIX
    from selfdisc_checks.report.results import results_document, task_result_json
    from selfdisc_checks.verdicts import plan_regression, regression_skip

    properties = request.node.user_properties
    early = regression_skip(selfdisc_result, selfdisc_settings, selfdisc_metric)
    if early is not None:
        return _apply(early, properties)
    state = _state(pytestconfig)

    def plan() -> Planned:
        baseline = state.baseline_task(selfdisc_result.task)
        current = results_document(
            state.session.model_json(),
            selfdisc_settings.to_json(),
            {selfdisc_result.task: task_result_json(selfdisc_result)},
        )
        return plan_regression(selfdisc_result, selfdisc_settings, selfdisc_metric, baseline, current)

    try:
        decision = state.decision(selfdisc_result.task, REGRESSION_PREFIX + selfdisc_metric, plan)
    except SelfDiscError as error:
        record_properties(properties, value=selfdisc_result.metrics.get(selfdisc_metric))
        _fail(error)
    return _apply(decision, properties)


@pytest.fixture
def selfdisc_check(
    selfdisc_result: TaskResult, selfdisc_settings: Settings, request: pytest.FixtureRequest
) -> MetricCheck:
    """Thresholds and failure messages for the current task's metrics (recorded as JUnit XML properties)."""
    return MetricCheck(selfdisc_result, selfdisc_settings, request.node.user_properties, _state(request.config))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    lazy = session.config.stash[_LAZY]
    if lazy.error is not None:
        if hasattr(session.config, "workerinput"):
            session.config.workeroutput["selfdisc_error"] = str(lazy.error)  # type: ignore[attr-defined]
        elif lazy.from_workers:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    if state.is_worker:
        if state.session.results:
            session.config.workeroutput["selfdisc"] = {  # type: ignore[attr-defined]  # xdist's worker attribute
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
    from selfdisc_checks.engine import write_outputs
    from selfdisc_checks.report.results import results_document, run_record

    settings = state.settings
    if not (settings.results_json or settings.history or settings.report_dir):
        return
    run = run_record(state.session.started, time.time(), state.session.backend_json() or state.worker_backend)
    if settings.run_label:
        run["label"] = settings.run_label
    document = results_document(state.model_json() or {}, settings.to_json(), state.tasks_json(), run)
    document["checks"] = state.checks
    interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
    write_outputs(settings, document, state.baseline_document(), interrupted, state.outputs)


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
    from selfdisc_checks.engine import interrupted_line

    return interrupted_line(state.settings.cache_dir, state.interrupted_with or 0)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lazy = config.stash[_LAZY]
    if lazy.error is not None and lazy.from_workers:
        terminalreporter.write_line(f"ERROR: {lazy.error}", red=True)
    state = config.stash.get(_STATE, None)
    if state is None or state.is_worker:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED and state.interrupted_with is not None and not state.interruption_told:
        terminalreporter.write_line(_interrupted_line(state))
    tasks = state.tasks_json()
    if not tasks:
        return
    from selfdisc_checks.report.results import render_table

    model = state.model_json() or {}
    terminalreporter.section("selfdisc-checks")
    terminalreporter.write(
        render_table(
            model.get("id", "?"),
            tasks,
            width=max(150, config.get_terminal_writer().fullwidth),
            baseline=state.baseline_document(),
            baseline_name=state.settings.baseline or state.settings.baseline_model,
        )
    )
    terminalreporter.write_line(f"model fingerprint {model.get('fingerprint', '?')}; cache {state.settings.cache_dir}")
    for line in state.outputs:
        terminalreporter.write_line(line)


class _XdistHooks:
    """Controller-side hooks that exist only when pytest-xdist is installed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.monitor: WorkerLines | None = None  # prints the workers' progress, one line per worker
        self.started = time.time()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        state = self.config.stash.get(_STATE, None)
        # Workers started together refresh what is older than one moment (a --refresh-cache set in pyproject.toml
        # is only read by the workers, so they get the moment too).
        node.workerinput["selfdisc_refresh_before"] = state.refresh_before if state is not None else None
        node.workerinput["selfdisc_started"] = self.started
        if self.monitor is None and (state is not None or self._may_use_selfdisc()):
            import tempfile

            from selfdisc_checks.progress import WorkerLines

            reporter = self.config.pluginmanager.getplugin("terminalreporter")
            folder = Path(tempfile.mkdtemp(prefix="selfdisc-progress-"))
            self.monitor = WorkerLines(folder, reporter.write_line if reporter is not None else print)
            self.monitor.start()
        if self.monitor is not None:
            node.workerinput["selfdisc_progress_dir"] = str(self.monitor.folder)

    def _may_use_selfdisc(self) -> bool:
        """Whether this run's test paths name the shipped checks (the workers decide for sure; this only says
        whether to show their progress lines)."""
        paths = [*self.config.args, *self.config.getini("testpaths")]
        return any("selfdisc" in str(path) for path in paths)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if self.monitor is not None:
            import shutil

            self.monitor.stop()  # the last state of every worker, so a short run shows its progress too
            shutil.rmtree(self.monitor.folder, ignore_errors=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        told = getattr(node, "workeroutput", {}).get("selfdisc_error")
        lazy = self.config.stash[_LAZY]
        if told and lazy.error is None:
            lazy.error, lazy.from_workers = SelfDiscError(told), True
        output = getattr(node, "workeroutput", {}).get("selfdisc")
        if output:
            try:
                state = _state(self.config)
            except SelfDiscError as error:  # the worker could, so this is rare: say it, keep the run going
                print(f"[selfdisc] the results of {node.gateway.id} cannot be merged: {error}")
                return
            from selfdisc_checks.report.results import merge_worker_task

            state.worker_model = output["model"]
            state.worker_backend = output.get("backend") or state.worker_backend
            for name, task in output["tasks"].items():
                merge_worker_task(state.worker_tasks, name, task)


@contextmanager
def _progress(config: pytest.Config, prefix: str = "") -> Iterator[Tracker]:
    """Progress for the work done inside: bars on a terminal, timed lines in a log, and on an xdist worker a
    state file the controller prints from (see ``progress``)."""
    from selfdisc_checks.progress import FileView, LineView, RichView, Tracker, View

    state = _state(config)
    if state.is_worker:
        worker_input: dict[str, Any] = getattr(config, "workerinput", {})
        folder = worker_input.get("selfdisc_progress_dir")
        worker = worker_input.get("workerid", "worker")
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
