#!/usr/bin/env bash
# The batch lane (issue 18): an interactive trace with a large batch submitted at its start.
# Each cell is a fresh fleet of 4 simulated engines (one `kvgate sim` process) and one `kvgate serve`
# (quick form, cache-aware, batch lane at its defaults, state under a fresh --data-dir), driven by
# bench/batch_load.py: a stretch of the Mooncake conversation trace replayed open-loop and streamed
# (client-side TTFT) for WINDOW seconds, and, from t=0, the batch in one of these modes:
#   none   no batch work at all (the baseline)
#   lane   the batch's lines as one file through POST /v1/files and POST /v1/batches
#   naive  the same lines POSTed as ordinary chat completions by NAIVE_CONCURRENCY workers
#   repeat none again, after the others: the run-to-run spread of the baseline itself
# The run goes on up to TAIL seconds after the window for the batch to finish. Two batch shapes:
#   synthetic  short prompt, long output (synthetic data): groups share a 1,000-token instruction
#   tickets    long shared document, short output (summarise tickets): groups share a 3,000-token
#              document, each line adds a 250-token ticket
# at two interactive loads (LOADS: name:rate-multiplier of the trace's arrivals) and over SEEDS
# (seed k replays the trace from (k-1) x 15 min and draws the batch text and order from k).
# Per-cell JSON in OUT_DIR, then bench/batch-lane-summary.py OUT_DIR prints the tables.
#
# Usage: bench/batch-lane.sh [OUT_DIR]
#   env: LOADS "moderate:0.5 heavy:1.2", SEEDS "1 2", SHAPES "synthetic tickets", MODES "none lane naive repeat",
#        SPEED 4, WINDOW 35, TAIL 25, NAIVE_CONCURRENCY 32, MAX_OUTPUT 64, TRACE (Mooncake conversation)
# Builds gateway/target/kvgate.jar when missing. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/batch-lane-$(date -u +%Y%m%dT%H%M%SZ)}
LOADS=${LOADS:-moderate:0.5 heavy:1.2}
SEEDS=${SEEDS:-1 2}
SHAPES=${SHAPES:-synthetic tickets}
MODES=${MODES:-none lane naive repeat}
SPEED=${SPEED:-4}; WINDOW=${WINDOW:-35}; TAIL=${TAIL:-25}
NAIVE_CONCURRENCY=${NAIVE_CONCURRENCY:-32}; MAX_OUTPUT=${MAX_OUTPUT:-64}
TRACE=${TRACE:-../shared/traces/mooncake/conversation_trace.jsonl}
JAVA=${JAVA:-java}; JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
BASE=27800; GW=27880; ADMIN=27881; MODEL=bench
EPORTS=$BASE,$((BASE + 1)),$((BASE + 2)),$((BASE + 3))
EPS=http://127.0.0.1:$BASE,http://127.0.0.1:$((BASE + 1)),http://127.0.0.1:$((BASE + 2)),http://127.0.0.1:$((BASE + 3))
WORK=$(mktemp -d /tmp/kvgate-batch-lane.XXXXXX)
mkdir -p "$OUT"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  for _ in $(seq 1 100); do  # the next cell binds the same ports
    ss -ltn | grep -qE ":($BASE|$((BASE + 1))|$((BASE + 2))|$((BASE + 3))|$GW|$ADMIN)\b" || return 0
    sleep 0.1
  done
  echo "ports still in use after a cell" >&2
}
trap stop_all EXIT
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
[ -f "$TRACE" ] || { echo "no trace at $TRACE (set TRACE)" >&2; exit 1; }
wait_http() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }

shape_args() {
  case "$1" in
    synthetic) echo "--batch-lines 2000 --group-size 50 --prefix-tokens 1000 --unique-tokens 40 --batch-max-tokens 256" ;;
    tickets) echo "--batch-lines 4000 --group-size 100 --prefix-tokens 3000 --unique-tokens 250 --batch-max-tokens 24" ;;
    *) echo "unknown shape $1" >&2; exit 2 ;;
  esac
}

cell() {  # load rate seed mode shape
  local load=$1 rate=$2 seed=$3 mode=$4 shape=$5
  local name=$load-s$seed-$mode${shape:+-$shape}
  local dir=$WORK/$name
  mkdir -p "$dir"
  "$JAVA" -Xmx2g -jar "$JAR" sim --replicas 4 --base-port $BASE --model $MODEL --speed "$SPEED" \
    >"$dir/engines.log" 2>&1 &
  PIDS+=($!); local sim=$!
  "$JAVA" -Xmx2g -jar "$JAR" serve --model $MODEL --endpoints "$EPS" --policy cache-aware \
    --host 127.0.0.1 --port $GW --admin-port $ADMIN --data-dir "$dir/data" >"$dir/gateway.log" 2>&1 &
  PIDS+=($!); local gw=$!
  for i in 0 1 2 3; do wait_http http://127.0.0.1:$((BASE + i))/health; done
  wait_http http://127.0.0.1:$GW/ready
  local extra=()
  [ -n "$shape" ] && read -r -a extra <<<"$(shape_args "$shape") --shape $shape"
  echo "+ $(date -u +%H:%M:%S) $name: python3 bench/batch_load.py --mode $mode --rate $rate --seed $seed --speed $SPEED --window $WINDOW --tail $TAIL ${extra[*]}" >&2
  python3 bench/batch_load.py --port $GW --admin-port $ADMIN --engine-ports $EPORTS --model $MODEL \
    --mode "${mode/repeat/none}" --trace "$TRACE" --rate "$rate" --seed "$seed" --speed "$SPEED" --window "$WINDOW" \
    --tail "$TAIL" --max-output "$MAX_OUTPUT" --naive-concurrency "$NAIVE_CONCURRENCY" --cpu-pids "engines:$sim,gateway:$gw" "${extra[@]}" \
    >"$dir/load.json"
  python3 - "$dir/load.json" "$load" "$mode" <<'PY' >"$OUT/$name.json"
import json, sys
r = json.load(open(sys.argv[1]))
r["load"], r["mode"] = sys.argv[2], sys.argv[3]
print(json.dumps(r))
PY
  curl -fsS http://127.0.0.1:$ADMIN/metrics >"$dir/gateway.metrics" || true
  stop_all
}

echo "cells in $OUT, logs in $WORK; commit $(git rev-parse --short HEAD)" >&2
for lr in $LOADS; do
  load=${lr%%:*}; rate=${lr#*:}
  for seed in $SEEDS; do
    for mode in $MODES; do
      if [ "$mode" = none ] || [ "$mode" = repeat ]; then
        cell "$load" "$rate" "$seed" "$mode" ""
      else
        for shape in $SHAPES; do cell "$load" "$rate" "$seed" "$mode" "$shape"; done
      fi
    done
  done
done
python3 bench/batch-lane-summary.py "$OUT"
echo "raw logs: $WORK" >&2
