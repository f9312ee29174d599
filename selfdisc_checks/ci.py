"""The measurement steps of the CI templates, shipped as a command: ``python -m selfdisc_checks ci gate|nightly``.

The workflows in the repository's ``ci/`` folder call it, ``ci/selfdisc-ci.sh`` wraps it, and running it on your
machine runs what CI runs. Run it from the root of a repository whose pyproject.toml has a [tool.selfdisc] table;
it is configured by environment variables (``VARIABLES``), so a workflow, a shell and the wrapper set the same
names. Each command it runs is printed first. No pytest here: the checks run in a child ``python -m pytest``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from selfdisc_checks.errors import SelfDiscError

PROG = "selfdisc-checks ci"
STEPS = ("gate", "nightly")

STEPS_HELP = """\
gate     runs the checks with --results-json $SELFDISC_OUT/results.json, --junitxml $SELFDISC_OUT/junit.xml
         and --report-dir $SELFDISC_OUT/report (and --baseline when SELFDISC_BASELINE names an existing file),
         then exits with pytest's exit status (0 all checks passed, 1 a check failed, 2-5 pytest could not run).
nightly  runs the checks with --history $SELFDISC_HISTORY and --run-label $SELFDISC_LABEL (plus the results
         JSON and JUnit XML), then writes the trend report of the whole history with
         `python -m selfdisc_checks report --history ... --out $SELFDISC_OUT/report`; exits non-zero when the
         checks failed (after writing the report) or when the report could not be written.
"""

# (name, what it means); the help lists them in this order.
VARIABLES: tuple[tuple[str, str], ...] = (
    ("SELFDISC_MODEL", "required: the checkpoint to check (folder, .gguf file or hub id); passed as --model"),
    (
        "SELFDISC_BASELINE",
        "gate only, optional: the previous release's results JSON; passed as --baseline when the file exists (a "
        "missing file is reported and the gate runs without a baseline)",
    ),
    ("SELFDISC_OUT", "output folder (default selfdisc-out)"),
    (
        "SELFDISC_CACHE",
        "candidate cache folder, passed as --cache-dir (default .selfdisc_cache; this overrides cache_dir in "
        "[tool.selfdisc]); keep it between runs and reruns cost almost nothing",
    ),
    ("SELFDISC_HISTORY", "nightly only: SQLite history to append to (default selfdisc-history.sqlite)"),
    (
        "SELFDISC_LABEL",
        "run label (default: `git rev-parse --short HEAD` inside a git work tree, else a UTC timestamp such as "
        "20261130T141040Z)",
    ),
    ("SELFDISC_EXTRA_ARGS", 'extra pytest arguments, split as a shell would (e.g. "--limit 6 --samples 4")'),
    ("SELFDISC_PYTHON", "the Python that runs pytest and the report (default: this one)"),
)

Runner = Callable[[Sequence[str]], int]


@dataclass(frozen=True)
class Setup:
    """One CI step's configuration, read from the environment and checked before anything runs."""

    python: str
    model: str
    out: Path
    cache: str
    history: Path
    baseline: str
    label: str
    extra: tuple[str, ...]


def help_text() -> str:
    lines = [
        "usage: python -m selfdisc_checks ci gate|nightly",
        "",
        "The measurement steps of the CI templates (ci/release-gate.yml, ci/nightly.yml); run from the root of a",
        "repository whose pyproject.toml has a [tool.selfdisc] table.",
        "",
        STEPS_HELP,
        "Configuration (environment variables):",
    ]
    for name, meaning in VARIABLES:
        lines.append(textwrap.fill(meaning, 112, initial_indent=f"  {name:20} ", subsequent_indent=" " * 23))
    return "\n".join(lines) + "\n"


def main(
    step: str | None,
    rest: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run: Runner | None = None,
) -> int:
    """Run one step and return its exit status; a setup problem raises one ``SelfDiscError`` sentence."""
    if step in ("help", "-h", "--help"):
        print(help_text(), end="")
        return 0
    if not step:
        raise SelfDiscError(
            f"no subcommand; use one of: {', '.join(STEPS)} (e.g. SELFDISC_MODEL=ckpt python -m selfdisc_checks ci gate)."
        )
    if step not in STEPS:
        raise SelfDiscError(f"unknown subcommand '{step}'; use one of: {', '.join(STEPS)}, help.")
    if rest:
        raise SelfDiscError(
            f"unexpected arguments after '{step}': {' '.join(rest)}; put extra pytest arguments in SELFDISC_EXTRA_ARGS."
        )
    setup = read_setup(os.environ if environ is None else environ, Path.cwd() if cwd is None else cwd)
    runner = run or _run
    return gate(setup, runner) if step == "gate" else nightly(setup, runner)


def read_setup(environ: Mapping[str, str], cwd: Path) -> Setup:
    """The step's configuration (empty variables count as unset), after checking what can be checked first:
    the model is named, the repository configures selfdisc, the Python exists and imports the package."""

    def get(name: str, default: str = "") -> str:
        return environ.get(name) or default

    model = get("SELFDISC_MODEL")
    if not model:
        raise SelfDiscError(
            "SELFDISC_MODEL is not set; set it to the checkpoint to check (a folder, a .gguf file or a hub id)."
        )
    _check_configuration(cwd)
    python = _python(get("SELFDISC_PYTHON"))
    try:
        extra = tuple(shlex.split(get("SELFDISC_EXTRA_ARGS")))
    except ValueError as error:
        raise SelfDiscError(f"SELFDISC_EXTRA_ARGS cannot be split ({error}); close its quotes.") from None
    return Setup(
        python=python,
        model=model,
        out=Path(get("SELFDISC_OUT", "selfdisc-out")),
        cache=get("SELFDISC_CACHE", ".selfdisc_cache"),
        history=Path(get("SELFDISC_HISTORY", "selfdisc-history.sqlite")),
        baseline=get("SELFDISC_BASELINE"),
        label=get("SELFDISC_LABEL") or default_label(cwd),
        extra=extra,
    )


def _check_configuration(cwd: Path) -> None:
    pyproject = cwd / "pyproject.toml"
    if not pyproject.is_file():
        raise SelfDiscError(
            f"no pyproject.toml in {cwd}; run this from the root of the repository that configures [tool.selfdisc]."
        )
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SelfDiscError(f"{pyproject} is not valid TOML ({error}); fix it first.") from None
    tool = table.get("tool")
    if not isinstance(tool, dict) or not isinstance(tool.get("selfdisc"), dict):
        raise SelfDiscError(
            f"pyproject.toml in {cwd} has no [tool.selfdisc] table; add one (see the selfdisc-checks README, "
            "Configuration)."
        )


def _python(named: str) -> str:
    """The Python for the child processes: SELFDISC_PYTHON when set (it must exist and import this package),
    else the one running this."""
    if not named:
        return sys.executable
    found = shutil.which(named)
    if found is None:
        raise SelfDiscError(f"Python '{named}' was not found; activate your environment or set SELFDISC_PYTHON.")
    if os.path.realpath(found) != os.path.realpath(sys.executable):
        imported = subprocess.run([found, "-c", "import selfdisc_checks"], capture_output=True)
        if imported.returncode != 0:
            raise SelfDiscError(
                f"'{named}' cannot import selfdisc_checks; install selfdisc-checks into it (see ci/README.md) or "
                "set SELFDISC_PYTHON to the Python that has it."
            )
    return found


def default_label(cwd: Path) -> str:
    """The short git revision of the work tree, else the time now (UTC) such as 20261130T141040Z."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        found = None
    if found is not None and found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _run(command: Sequence[str]) -> int:
    """Print a command as it would be typed, then run it; its exit status."""
    note_command(command)
    return subprocess.run(list(command)).returncode


def note_command(command: Sequence[str]) -> None:
    print("+ " + shlex.join(command), file=sys.stderr, flush=True)


def note(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _checks(setup: Setup, run: Runner, *args: str) -> int:
    """The shipped checks, from the installed package: no test file is needed in the repository."""
    command = [setup.python, "-m", "pytest", "--pyargs", "selfdisc_checks.checks", "-p", "no:cacheprovider", "-ra"]
    command += [f"--model={setup.model}", f"--cache-dir={setup.cache}", *args, *setup.extra]
    sys.stdout.flush()
    return run(command)


def _clear(out: Path) -> None:
    """Never report a previous run's files as this run's."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "junit.xml"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "report", ignore_errors=True)


def _show_outputs(*paths: Path) -> None:
    print("Outputs:")
    for path in paths:
        print(f"  {path}" if path.exists() else f"  {path} (missing)")


def gate(setup: Setup, run: Runner) -> int:
    """The release gate: the checks with every output, against the baseline file when there is one."""
    out = setup.out
    args = [
        f"--results-json={out / 'results.json'}",
        f"--junitxml={out / 'junit.xml'}",
        f"--report-dir={out / 'report'}",
    ]
    if not setup.baseline:
        note("SELFDISC_BASELINE is not set; gating without --baseline")
    elif Path(setup.baseline).is_file():
        note(f"comparing with the baseline {setup.baseline}")
        args.append(f"--baseline={setup.baseline}")
    else:
        note(f"no baseline at {setup.baseline} (first release?); gating without --baseline")
    _clear(out)
    status = _checks(setup, run, *args)
    _show_outputs(
        out / "results.json", out / "junit.xml", out / "report" / "report.html", out / "report" / "summary.md"
    )
    if status == 0:
        print(f"{PROG} gate: PASSED ({setup.model})")
    else:
        print(f"{PROG} gate: FAILED with pytest exit status {status} ({setup.model})")
    return status


def nightly(setup: Setup, run: Runner) -> int:
    """The nightly run: the checks appended to the history, then the trend report of the whole history."""
    out, history = setup.out, setup.history
    history.parent.mkdir(parents=True, exist_ok=True)
    _clear(out)
    note(f"appending run '{setup.label}' to {history}")
    status = _checks(
        setup,
        run,
        f"--history={history}",
        f"--run-label={setup.label}",
        f"--results-json={out / 'results.json'}",
        f"--junitxml={out / 'junit.xml'}",
    )
    if history.is_file():
        report = [
            setup.python,
            "-m",
            "selfdisc_checks",
            "report",
            "--history",
            str(history),
            "--out",
            str(out / "report"),
        ]
        sys.stdout.flush()
        report_status = run(report)
    else:
        note(f"no history at {history} after the run, so no trend report")
        report_status = 1
    _show_outputs(
        history, out / "results.json", out / "junit.xml", out / "report" / "report.html", out / "report" / "summary.md"
    )
    if status != 0:
        print(f"{PROG} nightly: checks FAILED with pytest exit status {status} ({setup.model}, run '{setup.label}')")
        return status
    if report_status != 0:
        print(f"{PROG} nightly: checks passed but the report failed with exit status {report_status}")
        return report_status
    print(f"{PROG} nightly: PASSED ({setup.model}, run '{setup.label}')")
    return 0
