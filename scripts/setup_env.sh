#!/usr/bin/env bash
# Create .venv (once) with the pinned CPU torch first, then the project in editable mode.
# Idempotent: a second call only re-checks. Usage: source-free; prints the venv's python path.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv >&2
fi
if ! .venv/bin/python -c "import torch, ale_py, rliable.library, submitit, atari100k" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip >&2
    # The pinned torch first (pip's default build for this machine: the CPU one from this dev
    # machine's wheel index, the CUDA one on a Linux GPU box); pyproject's torch range stays loose.
    if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
        .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}" >&2
    fi
    .venv/bin/python -m pip install -q -e ".[dev]" >&2
    touch .venv/.installed
fi
echo "$PWD/.venv/bin/python"
