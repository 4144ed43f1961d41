#!/usr/bin/env bash
# Precise (engine KV events) against approximate routing (issue 16), through the trace replay: per
# workload, scenario, load level and seed, one `kvgate replay` whose cells are the two index modes
# (cache-aware in both; round-robin, approximate, as a baseline in a replay of its own at the heavy
# level). Each cell: a fresh simulated fleet of 4 engines and a fresh gateway; in precise cells every
# engine publishes its KV events to the gateway's gRPC listener before traffic starts. Then
# bench/kv-events-summary.py prints the cells side by side with the spread over seeds and writes
# summary.md and summary.csv.
#
# Scenarios:
#   evict   = small caches that evict often (EVICT_CAP blocks per engine) and DIRECT_SHARE (0.2) of
#             the requests sent straight to a random engine, bypassing the gateway;
#   calm    = caches larger than the workload's working set (CALM_CAP), all traffic through the
#             gateway: the two modes should be about equal;
#   restart = calm, and engine 0 restarts RESTART_AT (75 s, simulated) into each cell: gateway-routed
#             requests priced on a phantom hit there in the next minute, and its hit rate around it.
# Workloads:
#   conv = the Mooncake conversation trace's first CONV_LIMITS requests (one limit per load, ~180 s of
#          simulated traffic each), arrivals jittered by 3 s;
#   mt   = a seeded `kvgate workload multi-tenant` (its defaults: 24 tenants, 2-8 turns, 2-8k-token
#          system prompts), its first MT_LIMITS requests (~150 s each).
# Loads (--rate-scale): CONV_LOADS "0.6 1.2" and MT_LOADS "0.5 1" -- a moderate one and a heavy one at
# which round-robin's TTFT p99 runs to seconds. Speeds: CONV_SPEED 10, MT_SPEED 5 (simulated ms are
# reported; TTFT resolution is about speed x 1 ms. ITL is not measured here: at these speeds its
# "bursts" are the timers' resolution, not the fleet).
#
# Run time with the defaults on 2 cores: about 35 minutes (56 cells of 20-35 s, 32 JVM starts with
# their warm-ups). Every command is printed before it runs.
#
# Usage: bench/kv-events-replay.sh [OUT_DIR]   (builds gateway/target/kvgate.jar if missing, or set JAR;
#                                        needs ../shared/traces/mooncake, or set TRACES; python3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/kv-events-$(date -u +%Y%m%dT%H%M%SZ)}
TRACES=${TRACES:-../shared/traces/mooncake}
JAR=${JAR:-gateway/target/kvgate.jar}
SEEDS=${SEEDS:-1 2}
WORKLOADS=${WORKLOADS:-conv mt}
SCENARIOS=${SCENARIOS:-evict calm restart}
RR_SCENARIOS=${RR_SCENARIOS:-evict calm}    # where round-robin runs as a baseline, at the heavy load
REPLICAS=${REPLICAS:-4}
DIRECT_SHARE=${DIRECT_SHARE:-0.2}
RESTART_AT=${RESTART_AT:-75s}
CONV_LOADS=${CONV_LOADS:-0.6 1.2}
CONV_LIMITS=${CONV_LIMITS:-330 660}
CONV_SPEED=${CONV_SPEED:-10}
CONV_EVICT_CAP=${CONV_EVICT_CAP:-8000}
CONV_CALM_CAP=${CONV_CALM_CAP:-200000}
MT_LOADS=${MT_LOADS:-0.5 1}
MT_LIMITS=${MT_LIMITS:-1000 2000}
MT_SPEED=${MT_SPEED:-5}
MT_EVICT_CAP=${MT_EVICT_CAP:-6000}
MT_CALM_CAP=${MT_CALM_CAP:-80000}
MT_ARGS=${MT_ARGS:---seed 42}               # flags of `kvgate workload multi-tenant`
MAX_OUTPUT=${MAX_OUTPUT:-32}
WARMUP=${WARMUP:-100}
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
mkdir -p "$OUT"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "nproc: $(nproc)"
  free -g | sed 's/^/free: /'
  echo "java: $(java -version 2>&1 | head -1)"
  echo "SEEDS=$SEEDS WORKLOADS=$WORKLOADS SCENARIOS=$SCENARIOS RR_SCENARIOS=$RR_SCENARIOS REPLICAS=$REPLICAS"
  echo "DIRECT_SHARE=$DIRECT_SHARE RESTART_AT=$RESTART_AT MAX_OUTPUT=$MAX_OUTPUT WARMUP=$WARMUP"
  echo "CONV_LOADS=$CONV_LOADS CONV_LIMITS=$CONV_LIMITS CONV_SPEED=$CONV_SPEED CONV_EVICT_CAP=$CONV_EVICT_CAP CONV_CALM_CAP=$CONV_CALM_CAP"
  echo "MT_LOADS=$MT_LOADS MT_LIMITS=$MT_LIMITS MT_SPEED=$MT_SPEED MT_EVICT_CAP=$MT_EVICT_CAP MT_CALM_CAP=$MT_CALM_CAP MT_ARGS=$MT_ARGS"
} | tee "$OUT/machine.txt"

cmd() { # prints a command, then runs it
  echo "+ $*" | tee -a "$OUT/commands.txt"
  "$@"
}

if [[ " $WORKLOADS " == *" mt "* ]]; then
  # shellcheck disable=SC2086
  cmd java -jar "$JAR" workload multi-tenant --out "$OUT/mt.jsonl" $MT_ARGS --replicas "$REPLICAS" \
    --capacity-blocks "$MT_EVICT_CAP,$MT_CALM_CAP" | tee "$OUT/mt-workload.txt"
fi

nth() { echo "$2" | awk -v n="$1" '{print $n}'; }

run() { # workload scenario load seed limit policies modes
  local w=$1 scenario=$2 load=$3 seed=$4 limit=$5 policies=$6 modes=$7
  local trace speed jitter cap direct=0 restart=()
  if [ "$w" = conv ]; then
    trace=$TRACES/conversation_trace.jsonl speed=$CONV_SPEED jitter=3000
    cap=$CONV_CALM_CAP; [ "$scenario" = evict ] && cap=$CONV_EVICT_CAP
  else
    trace=$OUT/mt.jsonl speed=$MT_SPEED jitter=500
    cap=$MT_CALM_CAP; [ "$scenario" = evict ] && cap=$MT_EVICT_CAP
  fi
  [ "$scenario" = evict ] && direct=$DIRECT_SHARE
  [ "$scenario" = restart ] && restart=(--restart-engine-at "$RESTART_AT")
  local name=$w-$scenario
  [ "$policies" = round-robin ] && name=$name-rr
  local dir=$OUT/$name-x$load-s$seed
  echo "== $name x$load seed $seed: $(uptime)" | tee -a "$OUT/machine.txt"
  cmd java -Xmx4g -jar "$JAR" replay --trace "$trace" --replicas "$REPLICAS" --policies "$policies" \
    --index-modes "$modes" --direct-share "$direct" "${restart[@]}" --capacity-blocks "$cap" \
    --rate-scale "$load" --speed "$speed" --limit "$limit" --max-output-tokens "$MAX_OUTPUT" \
    --max-model-len 262144 --jitter-ms "$jitter" --seed "$seed" --warmup "$WARMUP" --out "$dir" \
    | grep -v '^  .* sent '
}

for seed in $SEEDS; do
  for w in $WORKLOADS; do
    if [ "$w" = conv ]; then loads=$CONV_LOADS limits=$CONV_LIMITS; else loads=$MT_LOADS limits=$MT_LIMITS; fi
    n=$(echo "$loads" | wc -w)
    i=0
    for load in $loads; do
      i=$((i + 1))
      limit=$(nth $i "$limits")
      for scenario in $SCENARIOS; do
        run "$w" "$scenario" "$load" "$seed" "$limit" cache-aware approximate,precise
        if [ "$i" = "$n" ] && [[ " $RR_SCENARIOS " == *" $scenario "* ]]; then
          run "$w" "$scenario" "$load" "$seed" "$limit" round-robin approximate
        fi
      done
    done
  done
done
echo "== done: $(uptime)" | tee -a "$OUT/machine.txt"
python3 bench/kv-events-summary.py "$OUT"
echo "raw reports in $OUT; commands in $OUT/commands.txt"
