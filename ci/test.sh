#!/usr/bin/env bash
# The project's whole test suite, in the order that fails fastest: lint and types, the fast unit tier (no
# checkpoint is loaded), the integration tier (checkpoints, browser, Ray, crash and install tests), then the vLLM
# backend's tests in an environment of their own (made by ci/vllm-check.sh the first time).
#
#   ci/test.sh            # from the repository root, in the environment README's set-up made
#   SELFDISC_SKIP_VLLM=1 ci/test.sh   # everything but the vLLM environment
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PATHS=(selfdisc_checks tests benchmarks ci conftest.py)
echo "== ruff"
python -m ruff check "${PATHS[@]}"
python -m ruff format --check "${PATHS[@]}"
echo "== mypy"
python -m mypy
echo "== unit tier"
python -m pytest tests/unit -n 2 -p no:cacheprovider -q
echo "== integration tier and the shipped checks"
python -m pytest tests/integration selfdisc_checks/checks -n 2 -p no:cacheprovider
if [[ -z "${SELFDISC_SKIP_VLLM:-}" ]]; then
    echo "== vLLM backend"
    ci/vllm-check.sh -q
fi
