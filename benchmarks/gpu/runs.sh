#!/usr/bin/env bash
# Full-budget runs on a leased GPU that outlive the command that starts them: each run is its
# own process session (setsid), so it keeps training between two device calls while the
# machine is held, with no checkpoint-and-resume at the 10-minute command limit. Calling the
# script again with the same GAMES watches the same runs (a finished one is left alone, a
# running one is not started twice, a stopped one resumes from its checkpoint).
#   bash benchmarks/gpu/runs.sh OUT SECONDS [GAMES]
#   ALGO=iqn SEED=0: the runs; SET="eval.every=0 ...": config overrides (space-separated KEY=VALUE)
#   STOP="Game ...": SIGTERM these runs first (checkpointed; frees the GPU for the others)
#   RESERVE=15: seconds kept before the deadline for copying the logs back
# Every call copies each run's logs (run.json, metrics.jsonl, episodes.csv, eval.csv, DONE
# once finished; never checkpoints or replay) to OUT/<algo>/<Game>/ and prints where each run is.
set -uo pipefail
OUT=${1:?usage: runs.sh OUT SECONDS [GAMES]}
BUDGET=${2:?usage: runs.sh OUT SECONDS [GAMES]}
GAMES=${3:-"Krull RoadRunner Assault Breakout"}
ALGO=${ALGO:-iqn} SEED=${SEED:-0} RESERVE=${RESERVE:-15}
START=$(date +%s)
RUNS=${RUNS:-/tmp/gpu_session_runs}  # run folders (checkpoints, replay) stay on the machine
SRC=/tmp/gpu_session_src              # a frozen copy of the code the runs import from
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== $(date -u +%FT%TZ) runs.sh $ALGO seed $SEED on $GAMES, $BUDGET s, uid $(id -u)"
WHEELS=${WHEELS:-.whl}
if [ ! -d /tmp/site ] && compgen -G "$WHEELS/*.whl" > /dev/null; then  # the GPU image has no ALE
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site
if [ ! -d "$SRC" ]; then  # later calls replace the working tree under the running processes
    mkdir -p "$SRC" && cp -r agent analysis suite atari100k pyproject.toml "$SRC/"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    lscpu | grep 'Model name'
fi
export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
run_dir() { echo "$RUNS/$ALGO/$1/seed_$SEED"; }
pid_of() { pgrep -f -- "--out $(run_dir "$1") " | head -n 1; }
for game in ${STOP:-}; do
    pid=$(pid_of "$game") && [ -n "$pid" ] && kill -TERM "$pid" && echo "-- $game: SIGTERM to $pid"
done
for game in $GAMES; do
    dir=$(run_dir "$game")
    if [ -e "$dir/DONE" ] || [ -n "$(pid_of "$game")" ] || [[ " ${STOP:-} " == *" $game "* ]]; then continue; fi
    mkdir -p "$dir"
    # shellcheck disable=SC2086  # SET: space-separated KEY=VALUE overrides
    (cd "$SRC" && OMP_NUM_THREADS=2 setsid nohup python3 -m atari100k train "$game" --seed "$SEED" --algo "$ALGO" \
        --out "$dir" --no-progress ${SET:+$(printf -- '--set %s ' $SET)} >> "$RUNS/${ALGO}_$game.log" 2>&1 < /dev/null &)
    echo "-- $game: started"
done
report() {
    for game in $GAMES; do
        dir=$(run_dir "$game") dest="$OUT/$ALGO/$game"
        mkdir -p "$dest"
        cp "$dir"/{run.json,metrics.jsonl,episodes.csv,eval.csv,DONE} "$dest/" 2>/dev/null
        cp "$RUNS/${ALGO}_$game.log" "$dest/train.log" 2>/dev/null
        step=$(tail -n 1 "$dir/metrics.jsonl" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("step", 0))')
        state=$([ -e "$dir/DONE" ] && echo done || { [ -n "$(pid_of "$game")" ] && echo running || echo stopped; })
        echo "-- $game: $state at step $step ($(( $(date +%s) - START )) s into this call)"
    done
}
while (( $(date +%s) - START < BUDGET - RESERVE )); do
    busy=0
    for game in $GAMES; do [ -n "$(pid_of "$game")" ] && busy=1; done
    (( busy )) || break
    sleep 10
    (( ($(date +%s) - START) % 60 < 10 )) && report
done
report
# Processes of an ordinary user are ended when the call returns: checkpoint them first.
if [ "$(id -u)" != 0 ]; then
    for game in $GAMES; do pid=$(pid_of "$game") && [ -n "$pid" ] && kill -TERM "$pid"; done
    for _ in $(seq 60); do
        busy=0
        for game in $GAMES; do [ -n "$(pid_of "$game")" ] && busy=1; done
        (( busy )) || break
        sleep 1
    done
    report
fi
echo "== $(date -u +%FT%TZ) call done in $(( $(date +%s) - START )) s"
