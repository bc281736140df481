#!/usr/bin/env bash
# Create (or reuse) a separate venv with sheeprl 0.8.4 on the CPU build of torch 2.13.0.
# Idempotent: re-running only checks that the pinned versions are importable.
#
#   bash benchmarks/sheeprl/setup_venv.sh            # -> /work/main/.bench_venvs/sheeprl
#   SHEEPRL_VENV=/some/path bash benchmarks/sheeprl/setup_venv.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SHEEPRL_VENV:-$REPO_ROOT/.bench_venvs/sheeprl}"
PY="${PYTHON:-python3}"
TORCH_VERSION=2.13.0
SHEEPRL_VERSION=0.8.4

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_venv] creating $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

have() {
    # have DIST VERSION -> 0 if distribution DIST is installed at exactly VERSION (local part ignored)
    "$VPY" - "$1" "$2" <<'PYEOF' >/dev/null 2>&1
import importlib.metadata as m, sys
sys.exit(0 if m.version(sys.argv[1]).split("+")[0] == sys.argv[2] else 1)  # 2.13.0+cpu counts as 2.13.0
PYEOF
}

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
