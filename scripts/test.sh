#!/usr/bin/env bash
# The test command of the README: set up the venv if needed, then run the whole suite.
# Slurm tests start the local cluster themselves (slurm/cluster.sh up).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=$(bash scripts/setup_env.sh)
exec "$PYTHON_BIN" -m pytest -q -ra "$@"
