#!/usr/bin/env bash
# selfdisc-ci.sh: the measurement steps of the selfdisc-checks CI templates, runnable on your own machine.
#
# Both workflows in this folder (release-gate.yml, nightly.yml) call this script, so running it locally runs
# exactly what CI runs. Run it from the root of a repository whose pyproject.toml has a [tool.selfdisc] table.
#
# Usage:
#   SELFDISC_MODEL=path/to/checkpoint ci/selfdisc-ci.sh gate      # release gate: checks (+ baseline), report
#   SELFDISC_MODEL=path/to/checkpoint ci/selfdisc-ci.sh nightly   # checks appended to a history, trend report
#   ci/selfdisc-ci.sh help
#
# gate     runs the checks with --results-json $OUT/results.json, --junitxml $OUT/junit.xml and
#          --report-dir $OUT/report (and --baseline when SELFDISC_BASELINE names an existing file), then
#          exits with pytest's exit status (0 all checks passed, 1 a check failed, 2-5 pytest could not run).
# nightly  runs the checks with --history $SELFDISC_HISTORY and --run-label $SELFDISC_LABEL (plus the results
#          JSON and JUnit XML), then writes the trend report of the whole history with
#          `python -m selfdisc_checks report --history ... --out $OUT/report`; exits non-zero when the checks
#          failed (after writing the report) or when the report could not be written.
#
# Configuration (environment variables):
#   SELFDISC_MODEL       required: the checkpoint to check (folder, .gguf file or hub id); passed as --model
#   SELFDISC_BASELINE    gate only, optional: the previous release's results JSON; passed as --baseline when the
#                        file exists (a missing file is reported and the gate runs without a baseline)
#   SELFDISC_OUT         output folder (default selfdisc-out)
#   SELFDISC_CACHE       candidate cache folder, passed as --cache-dir (default .selfdisc_cache; this overrides
#                        cache_dir in [tool.selfdisc]); keep it between runs and reruns cost almost nothing
#   SELFDISC_HISTORY     nightly only: SQLite history to append to (default selfdisc-history.sqlite)
#   SELFDISC_LABEL       run label (default: `git rev-parse --short HEAD` inside a git work tree, else a UTC
#                        timestamp such as 20261130T141040Z)
#   SELFDISC_EXTRA_ARGS  extra pytest arguments, split on whitespace (e.g. "--limit 6 --samples 4")
#   SELFDISC_PYTHON      the Python to use (default python)
#   SELFDISC_INSTALL     1: install torch and the package first (default 0: the workflows install in their own
#                        step, and locally you usually have a virtual environment already)
#   SELFDISC_PACKAGE     with SELFDISC_INSTALL=1, required: what pip installs, e.g.
#                        "selfdisc-checks @ git+https://github.com/OWNER/selfdisc-checks" or a local path
#   SELFDISC_TORCH_INDEX with SELFDISC_INSTALL=1: pip index for torch (default the CPU build,
#                        https://download.pytorch.org/whl/cpu; set it empty for PyPI's default wheels, which are
#                        CUDA builds on Linux, or to e.g. https://download.pytorch.org/whl/cu126)
set -euo pipefail

readonly PROG="selfdisc-ci.sh"
readonly SUBCOMMANDS="gate nightly help"

die() {
    # A usage or setup error: one sentence, exit status 2 (the same as pytest's usage errors).
    echo "$PROG: error: $*" >&2
    exit 2
}

note() {
    echo "$PROG: $*" >&2
}

trace() {
    # Print a command as it would be typed, then run it (its exit status is the function's).
    printf '+' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
    "$@"
}

usage() {
    sed -n '2,/^set -euo pipefail$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------- settings

load_settings() {
    PY="${SELFDISC_PYTHON:-python}"
    OUT="${SELFDISC_OUT:-selfdisc-out}"
    CACHE="${SELFDISC_CACHE:-.selfdisc_cache}"
    HISTORY="${SELFDISC_HISTORY:-selfdisc-history.sqlite}"
    MODEL="${SELFDISC_MODEL:-}"
    BASELINE="${SELFDISC_BASELINE:-}"
    EXTRA=()
    if [[ -n "${SELFDISC_EXTRA_ARGS:-}" ]]; then
        read -r -a EXTRA <<<"$SELFDISC_EXTRA_ARGS"
    fi
    if [[ -n "${SELFDISC_LABEL:-}" ]]; then
        LABEL="$SELFDISC_LABEL"
    elif git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git rev-parse --short HEAD >/dev/null 2>&1; then
        LABEL="$(git rev-parse --short HEAD)"
    else
        LABEL="$(date -u +%Y%m%dT%H%M%SZ)"
    fi
}

check_settings() {
    [[ -n "$MODEL" ]] || die "SELFDISC_MODEL is not set; set it to the checkpoint to check (a folder, a .gguf file or a hub id)."
    [[ -n "$OUT" ]] || die "SELFDISC_OUT is empty; set it to an output folder or leave it unset for selfdisc-out."
    [[ -n "$CACHE" ]] || die "SELFDISC_CACHE is empty; set it to a cache folder or leave it unset for .selfdisc_cache."
    [[ -f pyproject.toml ]] || die "no pyproject.toml in $(pwd); run this script from the root of the repository that configures [tool.selfdisc]."
    grep -Eq '^[[:space:]]*\[tool\.selfdisc(\.[^]]*)?\]' pyproject.toml \
        || die "pyproject.toml in $(pwd) has no [tool.selfdisc] table; add one (see the selfdisc-checks README, Configuration)."
    case "${SELFDISC_INSTALL:-0}" in
        0 | 1 | "") ;;
        *) die "SELFDISC_INSTALL is '${SELFDISC_INSTALL}'; set it to 1 (install first) or 0 (default)." ;;
    esac
    command -v "$PY" >/dev/null 2>&1 || die "Python '$PY' was not found; activate your environment or set SELFDISC_PYTHON."
}

install_tools() {
    [[ "${SELFDISC_INSTALL:-0}" == 1 ]] || return 0
    [[ -n "${SELFDISC_PACKAGE:-}" ]] \
        || die "SELFDISC_INSTALL=1 needs SELFDISC_PACKAGE, e.g. 'selfdisc-checks @ git+https://github.com/OWNER/selfdisc-checks' or a path."
    local index="${SELFDISC_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
    if [[ -n "$index" ]]; then
        note "installing torch from $index"
        "$PY" -m pip install torch --index-url "$index"
    else
        note "installing torch from the default index"
        "$PY" -m pip install torch
    fi
    note "installing $SELFDISC_PACKAGE"
    "$PY" -m pip install "$SELFDISC_PACKAGE"
}

check_installed() {
    "$PY" -c 'import selfdisc_checks' >/dev/null 2>&1 \
        || die "'$PY' cannot import selfdisc_checks; install it (see ci/README.md) or set SELFDISC_INSTALL=1 and SELFDISC_PACKAGE."
}

# ------------------------------------------------------------------------------------------------- steps

# The checks, from the installed package: no test file is needed in the repository.
run_checks() {
    trace "$PY" -m pytest --pyargs selfdisc_checks.checks -p no:cacheprovider -ra \
        --model="$MODEL" --cache-dir="$CACHE" "$@" ${EXTRA[@]+"${EXTRA[@]}"}
}

show_outputs() {
    local path
    echo "Outputs:"
    for path in "$@"; do
        if [[ -e "$path" ]]; then
            echo "  $path"
        else
            echo "  $path (missing)"
        fi
    done
}

cmd_gate() {
    local args=(--results-json="$OUT/results.json" --junitxml="$OUT/junit.xml" --report-dir="$OUT/report")
    if [[ -n "$BASELINE" ]]; then
        if [[ -f "$BASELINE" ]]; then
            note "comparing with the baseline $BASELINE"
            args+=(--baseline="$BASELINE")
        else
            note "no baseline at $BASELINE (first release?); gating without --baseline"
        fi
    else
        note "SELFDISC_BASELINE is not set; gating without --baseline"
    fi
    mkdir -p "$OUT"
    rm -rf "$OUT/results.json" "$OUT/junit.xml" "$OUT/report"  # never report a previous run's files as this run's
    local status=0
    run_checks "${args[@]}" || status=$?
    show_outputs "$OUT/results.json" "$OUT/junit.xml" "$OUT/report/report.html" "$OUT/report/summary.md"
    if [[ "$status" -eq 0 ]]; then
        echo "$PROG gate: PASSED ($MODEL)"
    else
        echo "$PROG gate: FAILED with pytest exit status $status ($MODEL)"
    fi
    return "$status"
}

cmd_nightly() {
    mkdir -p "$OUT"
    local history_dir
    history_dir="$(dirname "$HISTORY")"
    mkdir -p "$history_dir"
    rm -rf "$OUT/results.json" "$OUT/junit.xml" "$OUT/report"
    local status=0 report_status=0
    note "appending run '$LABEL' to $HISTORY"
    run_checks --history="$HISTORY" --run-label="$LABEL" \
        --results-json="$OUT/results.json" --junitxml="$OUT/junit.xml" || status=$?
    if [[ -f "$HISTORY" ]]; then
        trace "$PY" -m selfdisc_checks report --history "$HISTORY" --out "$OUT/report" || report_status=$?
    else
        note "no history at $HISTORY after the run, so no trend report"
        report_status=1
    fi
    show_outputs "$HISTORY" "$OUT/results.json" "$OUT/junit.xml" "$OUT/report/report.html" "$OUT/report/summary.md"
    if [[ "$status" -ne 0 ]]; then
        echo "$PROG nightly: checks FAILED with pytest exit status $status ($MODEL, run '$LABEL')"
        return "$status"
    fi
    if [[ "$report_status" -ne 0 ]]; then
        echo "$PROG nightly: checks passed but the report failed with exit status $report_status"
        return "$report_status"
    fi
    echo "$PROG nightly: PASSED ($MODEL, run '$LABEL')"
}

main() {
    local command="${1:-}"
    case "$command" in
        gate | nightly)
            shift
            [[ $# -eq 0 ]] || die "unexpected arguments after '$command': $*; put extra pytest arguments in SELFDISC_EXTRA_ARGS."
            load_settings
            check_settings
            install_tools
            check_installed
            "cmd_$command"
            ;;
        help | -h | --help)
            usage
            ;;
        "")
            die "no subcommand; use one of: $SUBCOMMANDS (e.g. SELFDISC_MODEL=ckpt $0 gate)."
            ;;
        *)
            die "unknown subcommand '$command'; use one of: $SUBCOMMANDS."
            ;;
    esac
}

main "$@"
