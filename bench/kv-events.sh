#!/usr/bin/env bash
# Precise (engines publish KV events) vs approximate prefix routing, each cell one JVM running a
# simulated fleet of 4 engines, a gateway and an open-loop client (bench/KvEvents.java).
#   a) caches that evict often and 20% of requests sent straight to engines: approximate vs
#      precise, cache-aware policy, two workloads x two loads x two seeds, round-robin as the
#      baseline at the heavy load;
#   b) caches that hold everything, all traffic through kvgate: approximate vs precise;
#   c) engine 0 restarted 60 s (simulated) into the run: phantom-priced requests after it.
# Needs Java 17+ and gateway/target/kvgate.jar (built when missing). About 15 minutes on 2 cores.
# Usage: bench/kv-events.sh [OUT_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/kv-events.txt}
mkdir -p "$(dirname "$OUT")"
[ -f gateway/target/kvgate.jar ] || ./mvnw -B -ntp -q package -DskipTests
JAR=$(mktemp -d)/kvgate.jar && cp gateway/target/kvgate.jar "$JAR"
MOON=${MOONCAKE:-../shared/traces/mooncake/conversation_trace.jsonl}
run() { echo "+ java -cp kvgate.jar bench/KvEvents.java $*" >&2; java -cp "$JAR" bench/KvEvents.java "$@" 2>/dev/null | tail -1 | tee -a "$OUT"; }
: > "$OUT"
# workload, limit, small capacity, large capacity, moderate rate, heavy rate
for spec in "multitenant 400 1024 16384 0.3 1.0" "$MOON 400 8192 65536 0.35 1.0"; do
  read -r W LIMIT SMALL LARGE MOD HEAVY <<<"$spec"
  for seed in 1 2; do
    for rate in $MOD $HEAVY; do
      for mode in approximate precise; do
        run workload="$W" limit="$LIMIT" mode=$mode policy=cache-aware capacity="$SMALL" direct=0.2 rate="$rate" seed=$seed
      done
    done
    run workload="$W" limit="$LIMIT" mode=approximate policy=round-robin capacity="$SMALL" direct=0.2 rate="$HEAVY" seed=$seed
    for mode in approximate precise; do
      run workload="$W" limit="$LIMIT" mode=$mode policy=cache-aware capacity="$LARGE" direct=0 rate="$MOD" seed=$seed
    done
  done
done
for seed in 1 2; do
  for mode in approximate precise; do
    run workload=multitenant limit=600 mode=$mode policy=cache-aware capacity=4096 direct=0 rate=0.3 restart=60 seed=$seed
  done
done
