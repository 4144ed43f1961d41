#!/usr/bin/env bash
# Graceful-drain benchmark: 100 streams in flight through `kvgate serve` over 4 simulated engines,
# then SIGTERM to the gateway. Reports how long /ready took to answer 503, when new requests started
# being refused, how the 100 streams ended (all [DONE] is the goal) and how long they took next to
# the same 100 streams in the same run without a SIGTERM (the baseline), and when the process exited.
#
# Usage: bench/drain.sh [--streams N] [--max-tokens N] [--grace DURATION] [--timeout DURATION]
# Needs: a JDK, python3 (stdlib only); builds kvgate.jar when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

STREAMS=100; MAX_TOKENS=500; GRACE=2s; TIMEOUT=30s
while [ $# -gt 0 ]; do
  case "$1" in
    --streams) STREAMS=$2; shift 2 ;;
    --max-tokens) MAX_TOKENS=$2; shift 2 ;;
    --grace) GRACE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
ENGINE_BASE=19400; PORT=19480; ADMIN=19481
WORK=$(mktemp -d /tmp/kvgate-drain.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests

wait_http() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$JAVA" -jar "$JAR" sim --replicas 4 --base-port $ENGINE_BASE >"$WORK/sim.log" 2>&1 & PIDS+=($!)
for i in 0 1 2 3; do wait_http "http://127.0.0.1:$((ENGINE_BASE + i))/health"; done
cat >"$WORK/gateway.yaml" <<YAML
listener: {host: 127.0.0.1, port: $PORT}
admin: {host: 127.0.0.1, port: $ADMIN}
drain: {grace: $GRACE, timeout: $TIMEOUT}
models:
  - name: kvgate-sim-8b
    policy: cache-aware
    endpoints:
$(for i in 0 1 2 3; do echo "      - url: http://127.0.0.1:$((ENGINE_BASE + i))"; done)
YAML

run() { # label, send-sigterm (0/1)
  "$JAVA" -jar "$JAR" serve --config "$WORK/gateway.yaml" >"$WORK/serve-$1.log" 2>&1 &
  local gw=$!; PIDS+=($gw)
  wait_http "http://127.0.0.1:$PORT/ready"
  python3 - "$1" "$2" "$gw" "$STREAMS" "$MAX_TOKENS" "$PORT" <<'PY'
import json, os, signal, sys, threading, time, http.client
label, sigterm, pid, n, max_tokens, port = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
started = threading.Barrier(n + 1)
results = [None] * n
def stream(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"model": "kvgate-sim-8b", "stream": True, "max_tokens": max_tokens,
                       "messages": [{"role": "system", "content": "You are a storyteller. " * 50},
                                    {"role": "user", "content": f"story {i}"}]})
    t0 = time.monotonic()
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    r = c.getresponse()
    first = r.readline()
    started.wait()
    data = first + r.read()
    last = [l for l in data.decode().splitlines() if l.startswith("data: ")][-1]
    results[i] = (r.status, last, time.monotonic() - t0)
threads = [threading.Thread(target=stream, args=(i,)) for i in range(n)]
for t in threads: t.start()
started.wait()   # every stream has its first event
t_sig = time.monotonic()
ready_503 = refused_at = None
exit_s = None
if sigterm:
    os.kill(pid, signal.SIGTERM)
    while refused_at is None and time.monotonic() - t_sig < 60:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if ready_503 is None:
                c.request("GET", "/ready"); r = c.getresponse(); r.read()
                if r.status == 503: ready_503 = time.monotonic() - t_sig
                continue
            c.request("POST", "/v1/chat/completions", json.dumps({"model": "kvgate-sim-8b", "max_tokens": 1, "messages": [{"role": "user", "content": "late"}]}), {"content-type": "application/json"})
            r = c.getresponse(); b = r.read()
            if r.status == 503 and b"server_shutting_down" in b: refused_at = time.monotonic() - t_sig
        except OSError:
            refused_at = refused_at or -1
        time.sleep(0.02)
for t in threads: t.join()
if sigterm:
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        if time.monotonic() - t_sig > 120: break
        time.sleep(0.05)
    exit_s = time.monotonic() - t_sig
done = sum(1 for s, l, _ in results if s == 200 and l.strip() == "data: [DONE]")
errors = sum(1 for s, l, _ in results if '"error"' in l)
durs = sorted(d for _, _, d in results)
print(json.dumps({"run": label, "streams": n, "done": done, "error_events": errors,
                  "stream_s_p50": round(durs[n // 2], 2), "stream_s_max": round(durs[-1], 2),
                  "ready_503_after_s": None if ready_503 is None else round(ready_503, 3),
                  "refusing_after_s": None if refused_at is None else round(refused_at, 3),
                  "exit_after_s": None if exit_s is None else round(exit_s, 2)}))
PY
  if [ "$2" = 0 ]; then kill "$gw"; fi
  wait "$gw" 2>/dev/null || true
}
echo "machine: $(nproc) cores, $(java -version 2>&1 | head -1); streams=$STREAMS max_tokens=$MAX_TOKENS grace=$GRACE timeout=$TIMEOUT"
run baseline 0
run sigterm 1
grep -h "kvgate: " "$WORK/serve-sigterm.log" || true
