#!/usr/bin/env bash
# Policy comparison on the Mooncake traces (issue 5's quality bar, issue 6's instrument), through
# real gateways in front of fresh simulated fleets. Two per-engine cache sizes matching the
# reference table in ../shared/traces/README.md: C = 600 and 3,000 trace blocks of 512 tokens
# (19,200 and 96,000 engine blocks of 16 tokens).
# Usage: bench/replay-mooncake.sh [OUT_DIR]   (needs gateway/target/kvgate.jar and ../shared/traces)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/replay-$(date -u +%Y%m%dT%H%M%SZ)}
TRACES=${TRACES:-../shared/traces/mooncake}
POLICIES=${POLICIES:-round-robin,cache-aware,sglang-cache-aware,dynamo-kv}
SPEED=${SPEED:-20}
SEED=${SEED:-1}                     # seeds the arrival jitter: another seed, another timing of the same trace
JAR=${JAR:-gateway/target/kvgate.jar}
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
for trace in conversation synthetic; do
  limit=0; [ "$trace" = conversation ] && limit=${CONV_LIMIT:-4000}
  for cap in 19200 96000; do
    java -Xmx6g -jar "$JAR" replay --trace "$TRACES/${trace}_trace.jsonl" --policies "$POLICIES" \
      --replicas 8 --capacity-blocks $cap --speed "$SPEED" --limit $limit --max-output-tokens 32 \
      --max-model-len 262144 --jitter-ms 3000 --seed "$SEED" --out "$OUT/$trace-$cap" | grep -v '^  .* sent '
  done
done
echo "reports in $OUT"
