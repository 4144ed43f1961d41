#!/usr/bin/env bash
# Several gateways over one fleet (issue 17), through the trace replay: per workload, load level and
# seed, one `kvgate replay --gateways 1,3,3c` whose cells are cache-aware behind one gateway, behind
# three independent gateways and behind three gateways in one cluster (round-robin behind one gateway
# as a baseline, in a replay of its own, at the heavy level). Each cell: a fresh simulated fleet of 4
# engines and fresh gateways, all in the replay's JVM; with three, request i of the trace goes to
# gateway i mod 3, so consecutive turns of a conversation land on different gateways, as behind a
# round-robin load balancer. Clustered cells start only once every gateway has caught up and sees
# the other two, and report the cluster's propagation delay (wall ms) and bytes sent per request.
# Then bench/cluster-summary.py prints the cells side by side with the ratios to one gateway and the
# spread over seeds, and writes summary.md and summary.csv.
#
# Workloads:
#   conv = the Mooncake conversation trace's first CONV_LIMITS requests (one limit per load, ~180 s of
#          simulated traffic each), arrivals jittered by 3 s;
#   mt   = a seeded `kvgate workload multi-tenant` (its defaults: 24 tenants, 2-8 turns, 2-8k-token
#          system prompts), its first MT_LIMITS requests (~150 s each).
# Loads (--rate-scale): CONV_LOADS "0.6 1.2" and MT_LOADS "0.5 1" -- a moderate one and a heavy one at
# which round-robin's TTFT p99 runs to seconds (the loads and limits of bench/kv-events-replay.sh).
# Caches: CONV_CAP 8000 and MT_CAP 6000 blocks per engine, smaller than either workload's working
# set (kv-events-replay.sh's evict sizes), so an engine holding a prefix twice evicts another.
# Speeds: CONV_SPEED 10, MT_SPEED 5 (simulated ms are reported; TTFT resolution is about speed x 1 ms;
# the cluster's propagation runs on the wall clock, so at speed S a 10 ms delay stands for S x 10 ms
# of simulated time: the replay is harsher on the cluster than real time is). The three gateways
# (and their three Hazelcast members) share the replay's JVM and the machine's cores with the
# engines and the clients: on 2 cores a clustered cell pays for the cluster's threads in its TTFT.
#
# Run time with the defaults on 2 cores: about 20-25 minutes (12 replays, 28 cells of 20-45 s, each
# replay with a warm-up of WARMUP requests per --gateways value). Every command is printed before it runs. The full limits
# of kv-events-replay.sh are kept; to halve the time, e.g. CONV_LIMITS="165 330" MT_LIMITS="500 1000".
#
# Usage: bench/cluster-replay.sh [OUT_DIR]   (builds gateway/target/kvgate.jar if missing, or set JAR;
#                                      needs ../shared/traces/mooncake, or set TRACES; python3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)}
TRACES=${TRACES:-../shared/traces/mooncake}
JAR=${JAR:-gateway/target/kvgate.jar}
SEEDS=${SEEDS:-1 2}
WORKLOADS=${WORKLOADS:-conv mt}
GATEWAYS=${GATEWAYS:-1,3,3c}                # the cells of each replay (--gateways)
POLICY=${POLICY:-cache-aware}
RR_BASELINE=${RR_BASELINE:-1}               # 1: round-robin behind one gateway at the heavy load
REPLICAS=${REPLICAS:-4}
CONV_LOADS=${CONV_LOADS:-0.6 1.2}
CONV_LIMITS=${CONV_LIMITS:-330 660}
CONV_SPEED=${CONV_SPEED:-10}
CONV_CAP=${CONV_CAP:-8000}
MT_LOADS=${MT_LOADS:-0.5 1}
MT_LIMITS=${MT_LIMITS:-1000 2000}
MT_SPEED=${MT_SPEED:-5}
MT_CAP=${MT_CAP:-6000}
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
  echo "SEEDS=$SEEDS WORKLOADS=$WORKLOADS GATEWAYS=$GATEWAYS POLICY=$POLICY RR_BASELINE=$RR_BASELINE REPLICAS=$REPLICAS"
  echo "MAX_OUTPUT=$MAX_OUTPUT WARMUP=$WARMUP"
  echo "CONV_LOADS=$CONV_LOADS CONV_LIMITS=$CONV_LIMITS CONV_SPEED=$CONV_SPEED CONV_CAP=$CONV_CAP"
  echo "MT_LOADS=$MT_LOADS MT_LIMITS=$MT_LIMITS MT_SPEED=$MT_SPEED MT_CAP=$MT_CAP MT_ARGS=$MT_ARGS"
} | tee "$OUT/machine.txt"

cmd() { # prints a command, then runs it
  echo "+ $*" | tee -a "$OUT/commands.txt"
  "$@"
}

if [[ " $WORKLOADS " == *" mt "* ]]; then
  # shellcheck disable=SC2086
  cmd java -jar "$JAR" workload multi-tenant --out "$OUT/mt.jsonl" $MT_ARGS --replicas "$REPLICAS" \
    --capacity-blocks "$MT_CAP" | tee "$OUT/mt-workload.txt"
fi

nth() { echo "$2" | awk -v n="$1" '{print $n}'; }

run() { # workload load seed limit policy gateways
  local w=$1 load=$2 seed=$3 limit=$4 policy=$5 gateways=$6
  local trace speed jitter cap
  if [ "$w" = conv ]; then
    trace=$TRACES/conversation_trace.jsonl speed=$CONV_SPEED jitter=3000 cap=$CONV_CAP
  else
    trace=$OUT/mt.jsonl speed=$MT_SPEED jitter=500 cap=$MT_CAP
  fi
  local name=$w
  [ "$policy" = round-robin ] && name=$name-rr
  local dir=$OUT/$name-x$load-s$seed
  echo "== $name x$load seed $seed: $(uptime)" | tee -a "$OUT/machine.txt"
  cmd java -Xmx4g -jar "$JAR" replay --trace "$trace" --replicas "$REPLICAS" --policies "$policy" \
    --gateways "$gateways" --capacity-blocks "$cap" --rate-scale "$load" --speed "$speed" \
    --limit "$limit" --max-output-tokens "$MAX_OUTPUT" --max-model-len 262144 --jitter-ms "$jitter" \
    --seed "$seed" --warmup "$WARMUP" --out "$dir" \
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
      run "$w" "$load" "$seed" "$limit" "$POLICY" "$GATEWAYS"
      if [ "$i" = "$n" ] && [ "$RR_BASELINE" = 1 ]; then
        run "$w" "$load" "$seed" "$limit" round-robin 1
      fi
    done
  done
done
echo "== done: $(uptime)" | tee -a "$OUT/machine.txt"
python3 bench/cluster-summary.py "$OUT"
echo "raw reports in $OUT; commands in $OUT/commands.txt"
