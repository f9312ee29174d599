#!/usr/bin/env bash
# selfdisc-ci.sh: a thin wrapper around `python -m selfdisc_checks ci gate|nightly`, the measurement steps of the
# selfdisc-checks CI templates, which ship in the installed package. The wrapper adds one thing: installing torch
# and the package first (SELFDISC_INSTALL=1); every other setting is the command's (`ci/selfdisc-ci.sh help`).
#
# Usage:
#   SELFDISC_MODEL=path/to/checkpoint ci/selfdisc-ci.sh gate      # release gate: checks (+ baseline), report
#   SELFDISC_MODEL=path/to/checkpoint ci/selfdisc-ci.sh nightly   # checks appended to a history, trend report
#   ci/selfdisc-ci.sh help
#
# The wrapper's own variables:
#   SELFDISC_PYTHON      the Python to use (default python)
#   SELFDISC_INSTALL     1: install torch and the package first (default 0: the workflows install in their own
#                        step, and locally you usually have a virtual environment already)
#   SELFDISC_PACKAGE     with SELFDISC_INSTALL=1: what pip installs, e.g. "selfdisc-checks==0.2.0" from your package
#                        index, "selfdisc-checks @ git+https://github.com/<owner>/selfdisc-checks@v0.2.0" or a local
#                        path; unset, the selfdisc-checks already installed in SELFDISC_PYTHON is kept
#   SELFDISC_TORCH_INDEX with SELFDISC_INSTALL=1: pip index for torch (default the CPU build,
#                        https://download.pytorch.org/whl/cpu; set it empty for PyPI's default wheels, which are
#                        CUDA builds on Linux, or to e.g. https://download.pytorch.org/whl/cu126)
set -euo pipefail

readonly PROG="selfdisc-ci.sh"

die() {
    # A usage or setup error: one sentence, exit status 2 (the same as pytest's usage errors).
    echo "$PROG: error: $*" >&2
    exit 2
}

note() {
    echo "$PROG: $*" >&2
}

usage() {
    sed -n '2,/^set -euo pipefail$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

importable() {
    "$PY" -c 'import selfdisc_checks' >/dev/null 2>&1
}

install_tools() {
    [[ "${SELFDISC_INSTALL:-0}" == 1 ]] || return 0
    local package="${SELFDISC_PACKAGE:-}"
    if [[ -z "$package" ]] && ! importable; then
        die "SELFDISC_INSTALL=1 needs SELFDISC_PACKAGE, as selfdisc-checks is not installed in '$PY'; set it to what pip installs, e.g. 'selfdisc-checks @ git+https://github.com/<owner>/selfdisc-checks@v0.2.0' or a path."
    fi
    local index="${SELFDISC_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
    if [[ -n "$index" ]]; then
        note "installing torch from $index"
        "$PY" -m pip install torch --index-url "$index"
    else
        note "installing torch from the default index"
        "$PY" -m pip install torch
    fi
    if [[ -n "$package" ]]; then
        note "installing $package"
        "$PY" -m pip install "$package"
    else
        note "SELFDISC_PACKAGE is not set; keeping the installed selfdisc-checks"
    fi
}

main() {
    PY="${SELFDISC_PYTHON:-python}"
    case "${1:-}" in
        help | -h | --help)
            usage
            if command -v "$PY" >/dev/null 2>&1 && importable; then
                echo
                "$PY" -m selfdisc_checks ci help
            else
                echo
                echo "(install selfdisc-checks, or set SELFDISC_PYTHON, to list the command's variables)"
            fi
            return 0
            ;;
    esac
    case "${SELFDISC_INSTALL:-0}" in
        0 | 1 | "") ;;
        *) die "SELFDISC_INSTALL is '${SELFDISC_INSTALL}'; set it to 1 (install first) or 0 (default)." ;;
    esac
    command -v "$PY" >/dev/null 2>&1 || die "Python '$PY' was not found; activate your environment or set SELFDISC_PYTHON."
    install_tools
    importable \
        || die "'$PY' cannot import selfdisc_checks; install it (see ci/README.md) or set SELFDISC_INSTALL=1 and SELFDISC_PACKAGE."
    exec "$PY" -m selfdisc_checks ci "$@"
}

main "$@"
