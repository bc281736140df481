#!/usr/bin/env bash
# Create (or reuse) a separate venv with dopamine-rl 4.1.2 (Google Dopamine, JAX) on CPU jax/jaxlib 0.4.35.
# Everything comes from PyPI. Idempotent: re-running only checks that the pinned versions are importable.
#
#   bash benchmarks/dopamine/setup_venv.sh            # -> /work/main/.bench_venvs/dopamine
#   DOPAMINE_VENV=/some/path bash benchmarks/dopamine/setup_venv.sh
#
# Pins (all contemporary with dopamine-rl 4.1.2, Oct 2024; Python 3.11):
#   dopamine-rl 4.1.2, jax 0.4.35 + jaxlib 0.4.35 (PyPI's jaxlib is the CPU build), flax 0.10.0, optax 0.2.4,
#   tensorflow 2.18.0 + tf-keras 2.18.0 + tensorflow-probability 0.25.0 (dopamine's modules `import tensorflow`,
#   its networks use tfp's JAX substrate), numpy 1.26.4 (tensorflow 2.18 needs < 2.1), gym 0.25.2 (dopamine's
#   cap), gymnasium 1.0.0, ale-py 0.10.1; tensorstore 0.1.74, keras 3.15.1 and protobuf 5.29.6 as pip resolved
#   them in the tested install (pinned so that pip does not backtrack through tensorstore releases).
#   The venv takes ~2.9 GB (tensorflow alone is a 615 MB wheel).
#   baselines 0.1.5 (--no-deps): dopamine/discrete_domains/atari_lib.py does `from baselines.common import
#   atari_wrappers` (imported by dopamine.jax.networks and the agents) but dopamine-rl does not declare it; the
#   PyPI sdist's install_requires (mpi4py, gym[mujoco], tensorflow>=1.4 ...) cannot be met, and what the
#   import needs (numpy, scipy, gym, cv2) is installed here, so it goes in without its dependencies.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${DOPAMINE_VENV:-$REPO_ROOT/.bench_venvs/dopamine}"
DOPAMINE_VERSION=4.1.2
JAX_VERSION=0.4.35

# shellcheck source=../venv_common.sh
source "$REPO_ROOT/benchmarks/venv_common.sh"  # creates $VENV, sets VPY, defines have()

CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
cat > "$CONSTRAINTS" <<CEOF
dopamine-rl==$DOPAMINE_VERSION
jax==$JAX_VERSION
jaxlib==$JAX_VERSION
flax==0.10.0
optax==0.2.4
chex==0.1.87
orbax-checkpoint==0.7.0
tensorstore==0.1.74
keras==3.15.1
protobuf==5.29.6
tensorflow==2.18.0
tf-keras==2.18.0
tensorflow-probability==0.25.0
tf-slim==1.1.0
numpy==1.26.4
scipy==1.14.1
ml-dtypes==0.4.1
gym==0.25.2
gymnasium==1.0.0
ale-py==0.10.1
opencv-python==4.10.0.84
pandas==2.2.3
pygame==2.6.1
python-snappy==0.7.3
gin-config==0.5.0
absl-py==2.1.0
CEOF

# 1. dopamine-rl and its declared dependencies, held at the pins above.
if ! have dopamine-rl "$DOPAMINE_VERSION" || ! have jax "$JAX_VERSION" || ! have jaxlib "$JAX_VERSION"; then
    "$VPY" -m pip install --upgrade pip wheel setuptools >/dev/null
    "$VPY" -m pip install -c "$CONSTRAINTS" "dopamine-rl==$DOPAMINE_VERSION" "jax==$JAX_VERSION" \
        "jaxlib==$JAX_VERSION" scipy
fi

# 2. baselines 0.1.5 without its (unsatisfiable, unneeded) dependencies: see the header.
if ! have baselines 0.1.5; then
    "$VPY" -m pip install --no-deps "baselines==0.1.5"
fi

# 3. Sanity: CPU jax at the pinned version, and Dopamine's DER pieces import.
"$VPY" - <<PYEOF
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import jax, jaxlib
assert jax.__version__ == "$JAX_VERSION", jax.__version__
assert jax.default_backend() == "cpu", jax.default_backend()
import importlib.metadata as m
from dopamine.jax import networks  # noqa: F401
from dopamine.jax.agents.full_rainbow import full_rainbow_agent  # noqa: F401
from dopamine.labs.atari_100k import atari_100k_rainbow_agent  # noqa: F401
import flax, optax, tensorflow as tf
print(f"[setup_venv] ok: dopamine-rl {m.version('dopamine-rl')}, jax {jax.__version__} "
      f"(jaxlib {jaxlib.__version__}, backend {jax.default_backend()}), flax {flax.__version__}, "
      f"optax {optax.__version__}, tensorflow {tf.__version__}")
PYEOF
echo "[setup_venv] python: $VPY"
