#!/usr/bin/env bash
# The DER/IQN reproduction of issue 12: full-budget runs of DER on Krull, RoadRunner, Assault
# and Breakout x 2 seeds, and IQN on the same games x 1 seed, two at a time, one torch thread
# each; DER on Alien (x 2 seeds) widens it to a fifth game (started 2026-11-27). Checkpoints and replays stay in $RUNS (outside the repository, ~0.7 GB per run); the
# finished runs' logs and DONE are copied to results/reproduction[-<variant>]/<algo>/<Game>/seed_<k>/,
# and `compare` against the published DER writes compare.md, compare.png and curves.png there.
# Re-running resumes every unfinished run exactly and skips the finished ones.
#   bash scripts/reproduce.sh                  # the DER runs (2-5 h per run on one core, by CPU)
#   ALGOS="der iqn" bash scripts/reproduce.sh  # and IQN (needs a GPU: ~55-150 h per run on a CPU core)
#   RUNS=/scratch/me PARALLEL=4 bash scripts/reproduce.sh
#   ALGOS=iqn GAMES=Breakout PARALLEL=1 THREADS=2 bash scripts/reproduce.sh
#       # one run on both cores (IQN on a Zen 5 EPYC: ~0.44 s per update on 2 threads, ~12 h)
#   VARIANT=dopamine2021 GAMES=RoadRunner bash scripts/reproduce.sh
#       # DER with a preset stacked on atari100k (here the 2021 Dopamine code of the published
#       # runs; `epsilon0` was the default until 2026-11-27); runs go to $RUNS-<variant>, logs to
#       # results/reproduction-<variant>/
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN=$(bash scripts/setup_env.sh)
VARIANT=${VARIANT:-}
RUNS=${RUNS:-$HOME/atari100k-runs}${VARIANT:+-$VARIANT}
RESULTS=results/reproduction${VARIANT:+-$VARIANT}
PRESET=atari100k${VARIANT:+,$VARIANT}
PARALLEL=${PARALLEL:-2}
THREADS=${THREADS:-1}  # torch threads per run
ALGOS=${ALGOS:-der}
if [ -n "$VARIANT" ] && [ "$ALGOS" != der ]; then
    echo "reproduce.sh: VARIANT=$VARIANT is a DER preset; run it with ALGOS=der" >&2
    exit 2
fi
GAMES=${GAMES:-"Krull RoadRunner Assault Breakout Alien"}
jobs=()
for game in $GAMES; do
    for seed in 0 1; do jobs+=("der $game $seed"); done
    jobs+=("iqn $game 0")
done
# Runs already under way (a checkpoint in $RUNS) go first, so a resumed session finishes them
# before starting new ones.
started=() fresh=()
for job in "${jobs[@]}"; do
    read -r algo game seed <<< "$job"
    if [ -f "$RUNS/$algo/$game/seed_$seed/checkpoint.pt" ]; then started+=("$job"); else fresh+=("$job"); fi
done
jobs=("${started[@]}" "${fresh[@]}")
run_one() {
    local algo=$1 game=$2 seed=$3
    case " $ALGOS " in *" $algo "*) ;; *) return 0 ;; esac
    local out="$RUNS/$algo/$game/seed_$seed" keep="$RESULTS/$algo/$game/seed_$seed"
    [ -f "$keep/DONE" ] && return 0  # finished and committed, here or elsewhere (a GPU lease)
    OMP_NUM_THREADS=$THREADS "$PYTHON_BIN" -m atari100k train "$game" --seed "$seed" --algo "$algo" \
        --preset "$PRESET" --out "$out" --no-progress > "$RUNS/$algo-$game-$seed.log" 2>&1 || return 0
    if [ -f "$out/DONE" ]; then
        mkdir -p "$keep"
        cp "$out"/{run.json,metrics.jsonl,episodes.csv,eval.csv,DONE} "$keep"/
    fi
}
export -f run_one
export PYTHON_BIN RUNS ALGOS RESULTS PRESET THREADS
mkdir -p "$RUNS"
printf '%s\n' "${jobs[@]}" | xargs -P "$PARALLEL" -L 1 bash -c 'run_one $0 $1 $2'
if [ -d "$RESULTS" ]; then
    "$PYTHON_BIN" -m atari100k table "$RESULTS" --baselines DER --allow-partial  # says which runs are missing
    # The reproduction check with its learning curves, kept beside the runs (committed with them).
    "$PYTHON_BIN" -m atari100k compare "$RESULTS" --against DER --allow-partial --out "$RESULTS/compare.md" \
        --figure "$RESULTS/compare.png" --curve-figure "$RESULTS/curves.png"
fi
