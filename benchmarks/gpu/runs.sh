#!/usr/bin/env bash
# Full-budget runs on a leased GPU that outlive the command that starts them: each run is its
# own process session (setsid), so it keeps training between two device calls while the
# machine is held, with no checkpoint-and-resume at the 10-minute command limit. Calling the
# script again with the same runs watches them (a finished one is left alone, a running one is
# not started twice, a stopped one resumes from its checkpoint).
#   bash benchmarks/gpu/runs.sh OUT SECONDS "iqn/Breakout/0 der/Assault/0 ..."   (ALGO/Game/SEED)
#   SET="eval.every=0 ...": config overrides for every run (space-separated KEY=VALUE)
#   PRESETS=atari100k: their presets (atari100k,debug: the tiny test size)
#   STOP="der/Assault/0 ...": SIGTERM these runs first (checkpointed; frees the GPU for the others)
#   RESERVE=15: seconds kept before the deadline for copying the logs back
# Every call copies each run's logs (run.json, metrics.jsonl, episodes.csv, eval.csv, DONE
# once finished; never checkpoints or replay) to OUT/<algo>/<Game>/seed_<k>/ and prints where
# each run is.
set -uo pipefail
OUT=${1:?usage: runs.sh OUT SECONDS "ALGO/Game/SEED ..."}
BUDGET=${2:?usage: runs.sh OUT SECONDS "ALGO/Game/SEED ..."}
SPECS=${3:?usage: runs.sh OUT SECONDS "ALGO/Game/SEED ..."}
RESERVE=${RESERVE:-15}
START=$(date +%s)
RUNS=${RUNS:-/tmp/gpu_session_runs}  # run folders (checkpoints, replay) stay on the machine
SRC=${SRC:-/tmp/gpu_session_src}      # a frozen copy of the code the runs import from
PRESETS=${PRESETS:-atari100k}
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== $(date -u +%FT%TZ) runs.sh $SPECS, $BUDGET s, uid $(id -u)"
source "$(dirname "$0")/site.sh"
if [ ! -d "$SRC" ]; then  # later calls replace the working tree under the running processes
    mkdir -p "$SRC" && cp -r agent analysis suite atari100k pyproject.toml "$SRC/"
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    lscpu | grep 'Model name'
fi
export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
parse() { IFS=/ read -r algo game seed <<< "$1"; dir=$RUNS/$algo/$game/seed_$seed; }  # ALGO/Game/SEED
pid_of() { pgrep -f -- "--out $1 " | head -n 1; }  # $1: a run folder
for spec in ${STOP:-}; do
    parse "$spec"
    pid=$(pid_of "$dir") && [ -n "$pid" ] && kill -TERM "$pid" && echo "-- $spec: SIGTERM to $pid"
done
for spec in $SPECS; do
    parse "$spec"
    if [ -e "$dir/DONE" ] || [ -n "$(pid_of "$dir")" ] || [[ " ${STOP:-} " == *" $spec "* ]]; then continue; fi
    mkdir -p "$dir"
    # shellcheck disable=SC2086  # SET: space-separated KEY=VALUE overrides
    (cd "$SRC" && OMP_NUM_THREADS=2 exec setsid python3 -m atari100k train "$game" --seed "$seed" --algo "$algo" \
        --preset "$PRESETS" --out "$dir" --no-progress ${SET:+$(printf -- '--set %s ' $SET)}) >> "$dir.log" 2>&1 < /dev/null &
    # Until the forked subshell has exec'd, no process has `--out $dir` in its command line, and
    # any_running below would find none: wait to see the run (10 s at most).
    seen=""
    for _ in $(seq 50); do seen=$(pid_of "$dir") && [ -n "$seen" ] && break; sleep 0.2; done
    if [ -n "$seen" ]; then echo "-- $spec: started"; else echo "-- $spec: started but not seen running: see $dir.log"; fi
done
any_running() {
    for spec in $SPECS; do parse "$spec"; [ -n "$(pid_of "$dir")" ] && return 0; done
    return 1
}
report() {
    for spec in $SPECS; do
        parse "$spec"
        local dest="$OUT/$algo/$game/seed_$seed" step state
        mkdir -p "$dest"
        cp "$dir"/{run.json,metrics.jsonl,episodes.csv,eval.csv,DONE} "$dest/" 2>/dev/null
        cp "$dir.log" "$dest/train.log" 2>/dev/null
        step=$(tail -n 1 "$dir/metrics.jsonl" 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("step", 0))')
        state=$([ -e "$dir/DONE" ] && echo done || { [ -n "$(pid_of "$dir")" ] && echo running || echo stopped; })
        echo "-- $spec: $state at step $step ($(( $(date +%s) - START )) s into this call)"
    done
}
while (( $(date +%s) - START < BUDGET - RESERVE )) && any_running; do
    sleep 10
    (( ($(date +%s) - START) % 60 < 10 )) && report
done
report
# Processes of an ordinary user are ended when the call returns: checkpoint them first.
if [ "$(id -u)" != 0 ]; then
    for spec in $SPECS; do parse "$spec"; pid=$(pid_of "$dir") && [ -n "$pid" ] && kill -TERM "$pid"; done
    for _ in $(seq 60); do any_running || break; sleep 1; done
    report
fi
echo "== $(date -u +%FT%TZ) call done in $(( $(date +%s) - START )) s"
