# Sourced by runs.sh and session.sh: the GPU image has torch but no ALE, so the wheels in
# $WHEELS (default .whl/) go into /tmp/site, once per machine (runs started by an earlier call
# may be importing from there), and /tmp/site goes on PYTHONPATH.
WHEELS=${WHEELS:-.whl}
if [ ! -d /tmp/site ] && compgen -G "$WHEELS/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
fi
if [ -d /tmp/site ]; then export PYTHONPATH=/tmp/site; fi
