#!/usr/bin/env bash
# One device call of a GPU lease: start (or keep watching) the full-budget runs of runs.sh,
# run the GPU checks beside them while they train (CHECKS=1, the first call), watch the runs
# until the deadline, and pack everything into OUT/lease.tgz (the device tool brings back only
# a few files per call).
#   bash benchmarks/gpu/lease.sh OUT SECONDS "iqn/Breakout/0 der/Assault/0"   # first call
#   CHECKS=0 bash benchmarks/gpu/lease.sh OUT SECONDS "iqn/Breakout/0 der/Assault/0"  # the next ones
#   CHECK_SECONDS=300: the checks' share of the first call (check_graphs.py, check_deterministic.py)
#   SET, PRESETS, RESERVE, STOP: as runs.sh (SET defaults to no intermediate evaluations/checkpoints)
set -uo pipefail
OUT=${1:?usage: lease.sh OUT SECONDS "ALGO/Game/SEED ..."}
BUDGET=${2:?usage: lease.sh OUT SECONDS "ALGO/Game/SEED ..."}
SPECS=${3-}
START=$(date +%s)
HERE=$(dirname "$0")
# Neither touches training or the score; both cost minutes of a lease (README "Full-budget runs").
export SET=${SET-"eval.every=0 train.checkpoint_every=1000000"}
work=$(mktemp -d)
if [ -n "$SPECS" ]; then RESERVE=0 bash "$HERE/runs.sh" "$work/runs" 1 "$SPECS"; fi
if [ "${CHECKS:-1}" = 1 ]; then
    CHECK=1 BENCH=0 DREAMER=0 timeout -k 10 "${CHECK_SECONDS:-300}" \
        bash "$HERE/session.sh" "$work/session" "${CHECK_SECONDS:-300}" ""
fi
left=$(( BUDGET - ($(date +%s) - START) - 10 ))
if [ -n "$SPECS" ] && (( left > 0 )); then bash "$HERE/runs.sh" "$work/runs" "$left" "$SPECS"; fi
tar czf "$OUT/lease.tgz" -C "$work" . && rm -rf "$work"
echo "== lease.sh: $OUT/lease.tgz after $(( $(date +%s) - START )) s"
