#!/usr/bin/env bash
# The main job of the README on its embedded default: a small local sweep of the debug
# preset (no cluster), then a score table and the figures. Extra args go to `atari100k demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=$(bash scripts/setup_env.sh)
exec "$PYTHON_BIN" -m atari100k demo "$@"
