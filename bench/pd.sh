#!/usr/bin/env bash
# Prefill/decode disaggregation against aggregation at equal GPU count (issue 15), through the trace
# replay: per workload, load level and seed, one `kvgate replay` whose cells are the fleet layouts
# (4 aggregated engines; 2 prefill + 2 decode; 3 prefill + 1 decode) and, on the disaggregated
# layouts, the gateway's pd.minUncachedTokens (0 = always disaggregate; 256 = the default, short
# uncached prompts served whole on the decode engine). Each cell: a fresh simulated fleet with those
# roles and a fresh gateway; streaming requests; the clients measure TTFT and the gaps between
# streamed tokens (ITL). Then bench/pd-summary.py prints every cell against the aggregated fleet of
# the same replay (same seed, same run) and writes summary.md and summary.csv.
#
# Workloads:
#   long  = the Mooncake conversation trace's first LONG_LIMIT requests (prompts: mean 12k tokens),
#           output lengths as the trace has them;
#   short = a seeded `kvgate workload multi-tenant` of short chats (16 tenants, 512-1,024-token
#           system prompts, user messages of median 300 tokens, 1-2 turns, replies of median 130
#           tokens capped at 64).
# Load levels: LONG_LOADS / SHORT_LOADS are --rate-scale values (arrivals that many times faster
# than the trace says, in simulated time): for the long workload a light (0.3), a moderate (0.6) and
# a heavy one (1.2: the aggregated fleet's TTFT p99 past its ~5.6 s floor by seconds); for the short
# one a moderate (2) and a heavy one (7.5: the aggregated fleet near its prefill capacity). LONG_SPEEDS / SHORT_SPEEDS, one per load, are the --speed of each: low
# enough that the harness keeps up (ITL resolution is about speed x 1 ms; the short workload's
# heavy level runs at half real time because its many streams would otherwise outrun 2 cores).
# Each cell logs its ITL "bursts": gaps shorter than half a decode step, which no engine makes; a
# cell above a few percent ran on a machine that could not keep up (check `uptime`; run quiet).
#
# Usage: bench/pd.sh [OUT_DIR]   (builds gateway/target/kvgate.jar if missing, or set JAR;
#                                 needs ../shared/traces/mooncake, or set TRACES; python3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/pd-$(date -u +%Y%m%dT%H%M%SZ)}
TRACES=${TRACES:-../shared/traces/mooncake}
JAR=${JAR:-gateway/target/kvgate.jar}
FLEETS=${FLEETS:-both=4,prefill=2+decode=2,prefill=3+decode=1}   # the first one is the baseline
THRESHOLDS=${THRESHOLDS:-0,256}
PROTOCOL=${PROTOCOL:-vllm}
POLICY=${POLICY:-cache-aware}
SEEDS=${SEEDS:-1 2}                  # the arrival jitter's seeds: another timing of the same trace
WORKLOADS=${WORKLOADS:-long short}
LONG_LOADS=${LONG_LOADS:-0.3 0.6 1.2}
LONG_SPEEDS=${LONG_SPEEDS:-2 2 2}
LONG_LIMIT=${LONG_LIMIT:-300}
SHORT_LOADS=${SHORT_LOADS:-2 7.5}
SHORT_SPEEDS=${SHORT_SPEEDS:-1 0.5}
SHORT_LIMIT=${SHORT_LIMIT:-1200}
WARMUP=${WARMUP:-100}
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
mkdir -p "$OUT"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "nproc: $(nproc)"
  free -g | sed 's/^/free: /'
  echo "java: $(java -version 2>&1 | head -1)"
  echo "FLEETS=$FLEETS THRESHOLDS=$THRESHOLDS PROTOCOL=$PROTOCOL POLICY=$POLICY SEEDS=$SEEDS"
  echo "LONG_LOADS=$LONG_LOADS LONG_SPEEDS=$LONG_SPEEDS LONG_LIMIT=$LONG_LIMIT"
  echo "SHORT_LOADS=$SHORT_LOADS SHORT_SPEEDS=$SHORT_SPEEDS SHORT_LIMIT=$SHORT_LIMIT WARMUP=$WARMUP"
} | tee "$OUT/machine.txt"

java -jar "$JAR" workload multi-tenant --out "$OUT/short.jsonl" --seed 1 --tenants 16 \
  --sessions 6000 --session-rate 10 --min-turns 1 --max-turns 2 \
  --system-min-tokens 512 --system-max-tokens 1024 --user-median-tokens 300 --user-max-tokens 2048 \
  --output-median-tokens 130 --output-max-tokens 1000 --think-seconds 5 \
  --replicas 4 --capacity-blocks 26000 | tee "$OUT/short-workload.txt"

run() { # workload load seed trace speed limit max_output jitter_ms
  local dir="$OUT/$1-x$2-s$3"
  echo "== $1 x$2 seed $3 speed $5: $(uptime)" | tee -a "$OUT/machine.txt"
  java -Xmx4g -jar "$JAR" replay --trace "$4" --fleets "$FLEETS" --policies "$POLICY" \
    --pd-protocol "$PROTOCOL" --min-uncached-tokens "$THRESHOLDS" --rate-scale "$2" \
    --speed "$5" --limit "$6" --max-output-tokens "$7" --max-model-len 262144 \
    --jitter-ms "$8" --seed "$3" --warmup "$WARMUP" --out "$dir" | grep -v '^  .* sent '
}
nth() { echo "$2" | awk -v n="$1" '{print $n}'; }
for seed in $SEEDS; do
  for w in $WORKLOADS; do
    i=0
    if [ "$w" = long ]; then
      for load in $LONG_LOADS; do
        i=$((i + 1))
        run long "$load" "$seed" "$TRACES/conversation_trace.jsonl" "$(nth $i "$LONG_SPEEDS")" "$LONG_LIMIT" 0 3000
      done
    else
      for load in $SHORT_LOADS; do
        i=$((i + 1))
        run short "$load" "$seed" "$OUT/short.jsonl" "$(nth $i "$SHORT_SPEEDS")" "$SHORT_LIMIT" 64 500
      done
    fi
  done
done
echo "== done: $(uptime)" | tee -a "$OUT/machine.txt"
python3 bench/pd-summary.py "$OUT"
echo "raw reports in $OUT"
