# Sourced by benchmarks/*/setup_venv.sh: create the venv at $VENV once (with $PY, default
# python3) and define `have DIST VERSION` (0 if DIST is installed at exactly VERSION, local
# version part ignored: 2.13.0+cpu counts as 2.13.0). Sets VPY to the venv's python.
PY="${PY:-${PYTHON:-python3}}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_venv] creating $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

have() {
    "$VPY" - "$1" "$2" <<'PYEOF' >/dev/null 2>&1
import importlib.metadata as m, sys
sys.exit(0 if m.version(sys.argv[1]).split("+")[0] == sys.argv[2] else 1)
PYEOF
}
