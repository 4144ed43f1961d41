#!/usr/bin/env bash
# Large bodies next to normal traffic: the p99 of normal chat requests and the gateway's peak heap,
# in one run, without and with ten large bodies arriving at once:
#   none           normal traffic alone (the baseline)
#   upload-only    the same ~30 MB bodies declared text/plain: received and buffered, then refused
#                  with 415 before any parse (the cost of receiving ten such bodies, alone)
#   tiny-messages  ten ~30 MB bodies of one million tiny messages each (refused by limits.maxMessages)
#   long-prompt    ten ~10 MB bodies holding the longest prompt the default limits accept
#                  (9.9 M characters in 1000 messages), parsed within limits.parseBudgetBytes and
#                  forwarded to their own engine (another model), so that the normal requests share
#                  only the gateway (and the machine) with them
# Then a focused timing of the request parse on a 4 KB and a 1 MB body (bench/ParseTiming.java).
#
# Usage: bench/large-bodies.sh [--seconds N] [--clients N] [--out FILE]
# Needs Java 17+ (java and jcmd) and gateway/target/kvgate.jar (built when missing). KVGATE_JAR=... measures another
# gateway build with the same engines and driver.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE=12
CLIENTS=4
OUT=bench/results/large-bodies-$(date -u +%Y%m%dT%H%M%SZ).md
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_PHASE=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

ENGINE_PORT=19300; BIG_ENGINE_PORT=19310; KVGATE_PORT=19380
MODEL=bench-model
BIG_MODEL=bench-long
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
WORK=$(mktemp -d /tmp/kvgate-large-bodies.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

[ -f gateway/target/kvgate.jar ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests

wait_http() { # url
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}

# Two engines for the normal requests, and one that accepts a 2.5M-token prompt for the large ones.
"$JAVA" -Xmx1g -jar gateway/target/kvgate.jar sim --replicas 2 --base-port $ENGINE_PORT \
  --model $MODEL --speed 1000 >"$WORK/engine.log" 2>&1 &
PIDS+=($!)
"$JAVA" -Xmx3g -jar gateway/target/kvgate.jar sim --replicas 1 --base-port $BIG_ENGINE_PORT \
  --model $BIG_MODEL --speed 1000 --capacity-blocks 400000 --max-model-len 4000000 >"$WORK/engine-big.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:$ENGINE_PORT/health
wait_http http://127.0.0.1:$((ENGINE_PORT + 1))/health
wait_http http://127.0.0.1:$BIG_ENGINE_PORT/health

# The gateway with its default limits, a 4 GiB heap and a GC log (the driver reads peak heap there).
cat >"$WORK/kvgate.yaml" <<YAML
listener: {host: 127.0.0.1, port: $KVGATE_PORT}
admin: {host: 127.0.0.1, port: $((KVGATE_PORT + 1))}
models:
  - name: $MODEL
    policy: cache-aware
    endpoints: [{url: "http://127.0.0.1:$ENGINE_PORT"}, {url: "http://127.0.0.1:$((ENGINE_PORT + 1))"}]
  - name: $BIG_MODEL
    policy: cache-aware
    endpoints: [{url: "http://127.0.0.1:$BIG_ENGINE_PORT"}]
YAML
"$JAVA" -Xmx4g -Xlog:gc:file="$WORK/gc.log" -jar "$JAR" serve --config "$WORK/kvgate.yaml" >"$WORK/kvgate.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=($GATEWAY_PID)
wait_http http://127.0.0.1:$KVGATE_PORT/ready

URL=http://127.0.0.1:$KVGATE_PORT
drive() { # kind burst seconds
  "$JAVA" -Xmx3g bench/LargeBodies.java "$URL" "$MODEL,$BIG_MODEL" "$3" "$CLIENTS" "$2" "$1" "$WORK/gc.log" \
    "http://127.0.0.1:$((KVGATE_PORT + 1))"
}

# Warm-up: normal traffic, then one unmeasured burst, so that the first measured burst does not pay
# alone for the JIT of the large-body paths and the heap's growth to hold 300 MB of bodies.
echo "warm-up..." >&2
drive none 0 5 >/dev/null
drive upload-only 10 6 >/dev/null
declare -A R
for phase in none upload-only tiny-messages long-prompt; do
  burst=10; [ $phase = none ] && burst=0
  echo "phase $phase..." >&2
  # Each phase starts from a collected heap: its peak is its own, not the previous phase's garbage.
  jcmd $GATEWAY_PID GC.run >/dev/null
  R[$phase]=$(drive $phase $burst "$SECONDS_PER_PHASE")
  echo "${R[$phase]}" >&2
done
echo "parse timing..." >&2
TIMING=$("$JAVA" -cp gateway/target/kvgate.jar bench/ParseTiming.java)
echo "$TIMING" >&2

field() { # line key
  sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

mkdir -p "$(dirname "$OUT")"
{
  echo "- date: $(date -u +%Y-%m-%d); commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo)"
  echo "- java: $("$JAVA" -version 2>&1 | head -1); gateway under test: $JAR"
  echo "- command: \`bench/large-bodies.sh --seconds $SECONDS_PER_PHASE --clients $CLIENTS\`"
  echo
  echo "| phase | normal requests | failed | p50 ms | p99 ms | p99 during the burst ms | p99 vs none | large bodies: statuses | slowest large answer ms | peak heap MB (GC log) | peak heap MB (sampled) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  base=$(field "${R[none]}" p99_ms)
  for phase in none upload-only tiny-messages long-prompt; do
    l=${R[$phase]}
    echo "| $phase | $(field "$l" requests) | $(field "$l" failures) | $(field "$l" p50_ms) | $(field "$l" p99_ms) | $(field "$l" burst_p99_ms) | $(ratio "$(field "$l" burst_p99_ms)" "$base") | $(field "$l" big_statuses) | $(field "$l" big_slowest_ms) | $(field "$l" peak_heap_gc_mb) | $(field "$l" peak_heap_sampled_mb) |"
  done
  echo
  echo "| body | bounded parse µs | full Jackson tree µs | ratio | bounded KB allocated | tree KB allocated |"
  echo "|---|---|---|---|---|---|"
  while read -r t; do
    echo "| $(field "$t" body_bytes) B | $(field "$t" bounded_us) | $(field "$t" readTree_us) | $(field "$t" ratio) | $(field "$t" bounded_alloc_kb) | $(field "$t" readTree_alloc_kb) |"
  done <<<"$TIMING"
} | tee "$OUT"
echo "results: $OUT" >&2
