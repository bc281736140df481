#!/usr/bin/env bash
# One lease of a GPU machine, as one command: the update benchmarks on CUDA (DER, IQN,
# DreamerV2 fp32 and bf16), then IQN on the reproduction's games packed onto the one GPU
# (one process per game, 2 CPU threads each) until a deadline. Everything it writes is under
# OUT: log.txt and results.tar.gz (bench JSON, the runs' logs; no checkpoints or replay).
#   bash benchmarks/gpu/session.sh OUT SECONDS [GAMES]
#   CHECK=0 BENCH=0 EAGER=0 DREAMER=0 RESERVE=90: leave out the checks, the DER/IQN benches,
#   their eager (no CUDA graph) twins or the DreamerV2 benches; seconds kept for the final checkpoints.
#   DETERMINISTIC=0: the checks without check_deterministic.py; GRAPH_CASES=act: check_graphs.py's
#   cases (value: DER/IQN updates, dreamer: DreamerV2 updates, act: DreamerV2 acting).
#   COMPILE=1: also bench DreamerV2 with train.compile (+ CUDA graphs), fp32 and bf16.
#   IQN_SET="eval.every=0": config overrides for the IQN runs (space-separated KEY=VALUE).
# Wheels in .whl/ (ale-py, gymnasium, farama-notifications for the machine's Python) are
# installed first when present (site.sh): the GPU image has torch but no ALE.
set -uo pipefail
OUT=${1:?usage: session.sh OUT SECONDS [GAMES]}
BUDGET=${2:?usage: session.sh OUT SECONDS [GAMES]}
GAMES=${3-"Krull RoadRunner Assault Breakout"}  # "" for none
START=$(date +%s)
RUNS=${RUNS:-/tmp/gpu_session_runs}  # checkpoints and replay stay on the machine
mkdir -p "$OUT/results"
exec > >(tee "$OUT/log.txt") 2>&1
source "$(dirname "$0")/site.sh"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, ale_py; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ale_py', ale_py.__version__)"
lscpu | grep 'Model name'
bench() {  # name, then bench arguments
    local name=$1; shift
    echo "== bench $name: $*"
    python3 -m atari100k bench "$@" --json > "$OUT/results/bench_$name.json" && python3 - "$OUT/results/bench_$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
u = r.get("update", r)
keys = ("update_ms", "update_min_ms", "act_step_ms", "projected_run_h", "projected_run_min", "update_s", "update_min_s", "first_update_s",
        "gflop_per_s", "precision")
print({k: (round(u[k], 4) if isinstance(u[k], float) else u[k]) for k in keys if k in u})
PY
}
VALUE_UPDATES=${VALUE_UPDATES:-300} DREAMER_UPDATES=${DREAMER_UPDATES:-30}
if [ "${CHECK:-1}" = 1 ]; then
    # The short check first: check_graphs ends with torch.compile's first update (minutes), which a
    # caller's timeout may cut.
    if [ "${DETERMINISTIC:-1}" = 1 ]; then
        echo "== train.deterministic: twin runs bit for bit, and its cost"
        python3 benchmarks/gpu/check_deterministic.py --updates 30 | tee "$OUT/results/check_deterministic.jsonl"
    fi
    echo "== CUDA graphs against eager steps: ${GRAPH_CASES:=value,dreamer,act}"
    python3 benchmarks/gpu/check_graphs.py --updates 200 --cases "$GRAPH_CASES" | tee "$OUT/results/check_graphs.jsonl"
fi
if [ "${BENCH:-1}" = 1 ]; then
    bench der --algo der --updates "$VALUE_UPDATES"
    bench iqn --algo iqn --updates "$VALUE_UPDATES"
    if [ "${EAGER:-1}" = 1 ]; then
        bench der_eager --algo der --updates "$VALUE_UPDATES" --set train.cuda_graphs=false
        bench iqn_eager --algo iqn --updates "$VALUE_UPDATES" --set train.cuda_graphs=false
    fi
fi
if [ "${DREAMER:-1}" = 1 ]; then
    bench dreamerv2_fp32 --updates "$DREAMER_UPDATES" --set train.cuda_graphs=false
    bench dreamerv2_bf16 --updates "$DREAMER_UPDATES" --set train.cuda_graphs=false --set train.precision=bf16
    bench dreamerv2_graphs --updates "$DREAMER_UPDATES" --set train.cuda_graphs=true
    if [ "${COMPILE:-0}" = 1 ]; then  # torch.compile's first update compiles for minutes
        bench dreamerv2_compiled --updates "$DREAMER_UPDATES" --set train.compile=true --set train.cuda_graphs=true
        bench dreamerv2_compiled_bf16 --updates "$DREAMER_UPDATES" --set train.compile=true \
            --set train.cuda_graphs=true --set train.precision=bf16
    fi
fi
# IQN, one process per game on the one GPU, stopped (checkpointing) RESERVE s before the deadline.
left=$(( BUDGET - ($(date +%s) - START) - ${RESERVE:-90} ))
echo "== IQN on $GAMES for at most $left s"
pids=()
for game in $GAMES; do
    # shellcheck disable=SC2086  # IQN_SET: space-separated KEY=VALUE overrides
    OMP_NUM_THREADS=2 timeout -k 40 -s TERM "$left" python3 -m atari100k train "$game" --seed 0 --algo iqn \
        --out "$RUNS/iqn/$game/seed_0" --no-progress ${IQN_SET:+$(printf -- '--set %s ' $IQN_SET)} \
        > "$OUT/results/iqn_$game.log" 2>&1 &
    pids+=($!)
done
(( ${#pids[@]} )) && wait "${pids[@]}"  # a bare `wait` would also wait for the log's tee
for game in $GAMES; do
    echo "-- $game: $(tail -n 1 "$OUT/results/iqn_$game.log")"
    tail -n 1 "$RUNS/iqn/$game/seed_0/metrics.jsonl" 2>/dev/null
    mkdir -p "$OUT/results/iqn/$game"
    cp "$RUNS/iqn/$game/seed_0"/{run.json,metrics.jsonl,episodes.csv,eval.csv,DONE} "$OUT/results/iqn/$game/" 2>/dev/null
done
tar czf "$OUT/results.tar.gz" -C "$OUT" results && rm -rf "$OUT/results"
echo "== done in $(( $(date +%s) - START )) s"
