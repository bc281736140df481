#!/usr/bin/env bash
# Create (or reuse) a separate venv with sheeprl 0.8.4 on the CPU build of torch 2.13.0.
# Idempotent: re-running only checks that the pinned versions are importable.
#
#   bash benchmarks/sheeprl/setup_venv.sh            # -> /work/main/.bench_venvs/sheeprl
#   SHEEPRL_VENV=/some/path bash benchmarks/sheeprl/setup_venv.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SHEEPRL_VENV:-$REPO_ROOT/.bench_venvs/sheeprl}"
TORCH_VERSION=2.13.0
SHEEPRL_VERSION=0.8.4

# shellcheck source=../venv_common.sh
source "$REPO_ROOT/benchmarks/venv_common.sh"  # creates $VENV, sets VPY, defines have()

# 1. torch FIRST, exact version: the local CPU wheel. Installing it before anything
#    else means sheeprl's `torch>=2.6` is already satisfied and pip will not pull a
#    (multi-GB) CUDA build.
if ! have torch "$TORCH_VERSION"; then
    "$VPY" -m pip install --upgrade pip wheel >/dev/null
    "$VPY" -m pip install "torch==$TORCH_VERSION"
fi

# 2. sheeprl itself, with torch held at the version installed above
#    (sheeprl 0.8.4 requires torch>=2.6, which 2.13.0 satisfies).
if ! have sheeprl "$SHEEPRL_VERSION"; then
    "$VPY" -m pip install "sheeprl==$SHEEPRL_VERSION" "torch==$TORCH_VERSION"
fi

# 3. Sanity: torch is still the CPU 2.13.0 build and sheeprl's DreamerV2 imports.
"$VPY" - <<PYEOF
import torch
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
assert not torch.version.cuda, f"expected a CPU build of torch, got CUDA {torch.version.cuda}"
import sheeprl, lightning
from sheeprl.algos.dreamer_v2 import dreamer_v2, agent  # noqa: F401
print(f"[setup_venv] ok: torch {torch.__version__} (cuda={torch.version.cuda}), "
      f"sheeprl {sheeprl.__version__}, lightning {lightning.__version__}")
PYEOF
echo "[setup_venv] python: $VPY"
