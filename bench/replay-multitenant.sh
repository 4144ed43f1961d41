#!/usr/bin/env bash
# Policy comparison on the seeded multi-tenant workload (`kvgate workload multi-tenant`): 24 tenants
# with Zipf(1.0) popularity, system prompts of 2,048-8,192 tokens, 1,500 Poisson sessions of 2-8
# turns, each turn's prompt extending the previous one's. Through real gateways in front of fresh
# fleets of 4 simulated engines, at three per-engine cache sizes: C = 8,000 blocks of 16 tokens (the
# fleet holds 0.44 of the peak live working set: pooled-LRU bound 92% of the oracle), C = 12,000
# (0.66 of it: pooled bound 97%) and C = 20,000 (1.1 of the peak live set, still only 0.3 of the
# trace's distinct blocks). The generator prints both working-set measures and the pooled bound
# for each C.
# Usage: bench/replay-multitenant.sh [OUT_DIR]   (needs gateway/target/kvgate.jar, or set JAR)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/replay-multitenant-$(date -u +%Y%m%dT%H%M%SZ)}
POLICIES=${POLICIES:-round-robin,cache-aware,sglang-cache-aware,dynamo-kv}
SPEED=${SPEED:-5}
REPLICAS=${REPLICAS:-4}
CAPACITIES=${CAPACITIES:-8000 12000 20000}
SEED=${SEED:-42}                    # the workload's seed
JITTER_MS=${JITTER_MS:-0}           # spread arrivals within this many ms; with REPLAY_SEED, another timing
REPLAY_SEED=${REPLAY_SEED:-1}
JAR=${JAR:-gateway/target/kvgate.jar}
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
mkdir -p "$OUT"
java -jar "$JAR" workload multi-tenant --out "$OUT/multitenant.jsonl" --seed "$SEED" \
  --replicas "$REPLICAS" --capacity-blocks "$(echo $CAPACITIES | tr ' ' ,)" | tee "$OUT/workload.txt"
for cap in $CAPACITIES; do
  java -Xmx6g -jar "$JAR" replay --trace "$OUT/multitenant.jsonl" --policies "$POLICIES" \
    --replicas "$REPLICAS" --capacity-blocks "$cap" --speed "$SPEED" --max-output-tokens 32 --jitter-ms "$JITTER_MS" --seed "$REPLAY_SEED" \
    --out "$OUT/multitenant-$cap" | grep -v '^  .* sent '
done
echo "reports in $OUT"
