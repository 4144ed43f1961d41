#!/usr/bin/env bash
# A three-gateway kvgate cluster under multi-turn chat load, one gateway killed and restarted (issue 17).
# 4 simulated engines (one `kvgate sim` process), 3 `kvgate serve` processes with --cluster-* flags
# (TCP-IP join on loopback), and bench/cluster_load.py spraying each request over the gateways that
# answer /ready (a load balancer's health check, polled every 100 ms), so a conversation's turns land
# on different gateways. At KILL_AT gateway gw-2 is SIGKILLed; at RESTART_AT it is started again with
# the same command. Reported: the requests lost (those in flight on gw-2 when it died) and any failure
# on the live gateways (there should be none); the engine-counted hit rate and TTFT before the kill,
# between the kill and the restarted gateway's first /ready 200, and after; the restart's seconds
# from process start to /ready 200 and whether it caught up by snapshot; the restarted gateway's
# index against a peer's; the cluster propagation delay p50/p99 (kvgate_cluster_propagation buckets
# on gw-0) and the cluster bytes sent per request. Baselines: MODE=independent, the same three
# gateways (killed and restarted alike) without --cluster-*, each routing on its own; MODE=single,
# one gateway (nothing killed; its run is cut into the same time windows).
#
# Usage: bench/cluster-failover.sh [OUT_FILE]  (env: DURATION 90, KILL_AT 35, RESTART_AT 50,
#        CONCURRENCY 16, SEED 1, MODE cluster|independent|single, CAPACITY 1200 blocks per engine (smaller than the tenants' prompts and histories together: affinity decides the hit rate), SPEED 1)
# Builds gateway/target/kvgate.jar when missing. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/cluster-failover-$(date -u +%Y%m%dT%H%M%SZ).json}
DURATION=${DURATION:-90}; KILL_AT=${KILL_AT:-35}; RESTART_AT=${RESTART_AT:-50}
CONCURRENCY=${CONCURRENCY:-16}; SEED=${SEED:-1}; MODE=${MODE:-cluster}
CAPACITY=${CAPACITY:-1200}; SPEED=${SPEED:-1}
JAVA=${JAVA:-java}; JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
BASE=27400; GW=27480; CL=27601; MODEL=bench
WORK=$(mktemp -d /tmp/kvgate-cluster-failover.XXXXXX)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "serve --model $MODEL --endpoints http://127.0.0.1:$BASE" 2>/dev/null || true  # the restarted gateway too
  for _ in $(seq 1 100); do  # the next run binds the same ports
    ss -ltn | grep -qE ":($BASE|$GW|$((GW + 10))|$((GW + 20))|$CL|$((CL + 1))|$((CL + 2)))\b" || return 0
    sleep 0.1
  done
}
trap stop_all EXIT
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
wait_http() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }

"$JAVA" -Xmx1g -jar "$JAR" sim --replicas 4 --base-port $BASE --model $MODEL --speed "$SPEED" \
  --capacity-blocks "$CAPACITY" >"$WORK/engines.log" 2>&1 &
PIDS+=($!)
for i in 0 1 2 3; do wait_http http://127.0.0.1:$((BASE + i))/health; done
EPS=http://127.0.0.1:$BASE,http://127.0.0.1:$((BASE + 1)),http://127.0.0.1:$((BASE + 2)),http://127.0.0.1:$((BASE + 3))
N=3; [ "$MODE" = single ] && N=1
MEMBERS=127.0.0.1:$CL,127.0.0.1:$((CL + 1)),127.0.0.1:$((CL + 2))
for i in $(seq 0 $((N - 1))); do
  cluster=()
  [ "$MODE" = cluster ] && cluster=(--cluster-name bench-$$ --cluster-port $((CL + i)) --cluster-members "$MEMBERS" --gateway-id gw-$i)
  # a launcher script per gateway, so that the restart runs exactly the same command
  cat >"$WORK/gw-$i.sh" <<SH
#!/usr/bin/env bash
exec "$JAVA" -Xmx1g -jar "$JAR" serve --model $MODEL --endpoints $EPS --policy cache-aware \
  --host 127.0.0.1 --port $((GW + 10 * i)) --admin-port $((GW + 10 * i + 1)) ${cluster[*]} >>"$WORK/gw-$i.log" 2>&1
SH
  chmod +x "$WORK/gw-$i.sh"
  "$WORK/gw-$i.sh" &
  PIDS+=($!)
done
PORTS=""; READY=""
for i in $(seq 0 $((N - 1))); do
  wait_http http://127.0.0.1:$((GW + 10 * i))/ready
  PORTS+="${PORTS:+,}$((GW + 10 * i))"; READY+="${READY:+,}$((GW + 10 * i + 1))"
done
GW2_PID=$(pgrep -f "serve --model $MODEL.*--port $((GW + 20)) " || true)
# the single gateway's run is cut at the same times (the restart's ready is about 5 s after its start)
KILL=(--windows "$KILL_AT,$((RESTART_AT + 5))"); [ "$MODE" != single ] && KILL=(--kill-at "$KILL_AT" --kill-pid "$GW2_PID" --kill-index 2 --restart-at "$RESTART_AT" --restart-cmd "$WORK/gw-2.sh")
echo "+ python3 bench/cluster_load.py --ports $PORTS --ready-ports $READY --concurrency $CONCURRENCY --duration $DURATION --seed $SEED ${KILL[*]}" >&2
python3 bench/cluster_load.py --ports "$PORTS" --ready-ports "$READY" --model $MODEL --concurrency "$CONCURRENCY" \
  --duration "$DURATION" --seed "$SEED" "${KILL[@]}" >"$WORK/load.json"
# what the gateways say
metrics() { curl -fsS http://127.0.0.1:$((GW + 1))/metrics; }
metrics >"$WORK/gw-0.metrics"
VIEWS="{}"
if [ "$MODE" != single ]; then
  for i in 0 2; do curl -fsS http://127.0.0.1:$((GW + 10 * i + 1))/admin/cluster >"$WORK/view-$i.json"; done
fi
python3 - "$WORK" "$MODE" >"$OUT" <<'PY'
import json, os, re, sys
work, mode = sys.argv[1], sys.argv[2]
r = json.load(open(os.path.join(work, "load.json")))
m = open(os.path.join(work, "gw-0.metrics")).read()
def hist(name):
    b = [(float(le), float(v)) for le, v in re.findall(name + r'_bucket\{[^}]*le="([^"]+)"[^}]*\}\s+(\S+)', m) if le != "+Inf"]
    b.sort()
    tot = float(re.search(name + r'_count(?:\{[^}]*\})?\s+(\S+)', m).group(1)) if re.search(name + r'_count', m) else 0
    def q(p):
        for le, c in b:
            if tot and c >= p * tot: return round(le * 1000, 2)
        return None
    return {"count": tot, "p50_ms_le": q(0.5), "p99_ms_le": q(0.99)}
def total(name):
    return sum(float(v) for v in re.findall("^" + name + r'(?:\{[^}]*\})?\s+(\S+)', m, re.M))
if mode == "cluster":
    r["propagation_gw0"] = hist("kvgate_cluster_propagation_seconds")
    req = total("kvgate_requests_total")
    r["cluster_bytes_sent_per_request_gw0"] = round(total("kvgate_cluster_sent_bytes_total") / req, 1) if req else None
    v0 = json.load(open(os.path.join(work, "view-0.json")))
    v2 = json.load(open(os.path.join(work, "view-2.json")))
    r["restarted_catch_up"] = v2.get("catch_up")
    ms = re.findall(r"caught up from gateway \S+ in (\d+) ms \((\d+) deltas", open(os.path.join(work, "gw-2.log")).read())
    if ms:
        r["restarted_catch_up_ms"], r["restarted_deltas_replayed"] = int(ms[-1][0]), int(ms[-1][1])
    r["index_blocks_gw0"] = [e["indexed_blocks"] for e in v0["endpoints"]]
    r["index_blocks_restarted_gw2"] = [e["indexed_blocks"] for e in v2["endpoints"]]
    r["members_gw0"] = v0["members"]
print(json.dumps(r, indent=1))
PY
cat "$OUT"
echo "raw results and logs: $WORK" >&2
