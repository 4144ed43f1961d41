#!/usr/bin/env bash
# Failover benchmark: steady streamed-chat load through kvgate over 4 simulated engines (one process
# each, so one can be killed), in four scenarios measured in one run:
#   kill        kill -9 one of the 4 engines under load: failed requests, p99 in the seconds after the
#               kill against the steady p99 before it, time until kvgate ejects the dead engine
#   hang        one engine passes /health but never answers a request (sim --hang-before-first-byte 1h):
#               requests sent to it before it stays out, client-visible failures, p99
#   errors      one engine answers 30% of requests with 500 (sim --error-rate 0.3), error-rate ejection on
#   errors-off  the same with error-rate ejection off (health.errorRateThreshold: 1): the baseline
# The load generator is bench/failover_load.py (Python 3, standard library only), pinned to the last core
# where there are two or more.
#
# Usage: bench/failover.sh [--duration SECONDS] [--concurrency N] [--scenarios kill,hang,errors,errors-off] [--out FILE]
# Builds gateway/target/kvgate.jar when missing. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=45
CONC=16
SCENARIOS=kill,hang,errors,errors-off
OUT=bench/results/failover-$(date -u +%Y%m%dT%H%M%SZ).md
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

BASE=27300; KVGATE_PORT=27380; ADMIN_PORT=27381; MODEL=bench
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
METRICS_URL=http://127.0.0.1:$ADMIN_PORT/metrics   # the admin listener
WORK=$(mktemp -d /tmp/kvgate-failover.XXXXXX)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  # The next scenario binds the same ports: wait until nothing listens on them.
  for _ in $(seq 1 100); do
    ss -ltn | grep -qE ":(${BASE}|$((BASE + 1))|$((BASE + 2))|$((BASE + 3))|${KVGATE_PORT}|${ADMIN_PORT})\b" || return 0
    sleep 0.1
  done
  echo "ports still in use after stopping the scenario:" >&2; ss -ltnp | grep -E ":($BASE|$KVGATE_PORT)" >&2 || true
}
alive() { # pid: fails if the process exited (e.g. its port was taken)
  kill -0 "$1" 2>/dev/null || { echo "process $1 exited; see $WORK" >&2; exit 1; }
}
trap stop_all EXIT
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
  LOADGEN=(taskset -c $((NCPU - 1))); SERVERS=(taskset -c 0-$((NCPU - 2)))
else
  LOADGEN=(); SERVERS=()
fi

wait_http() { # url
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}

# metric NAME ENDPOINT_OR_EMPTY [EXTRA_TAG_REGEX]: the sum of a counter's series (optionally one endpoint's)
metric() {
  curl -fsS "$METRICS_URL" | awk -v name="$1" -v ep="$2" -v extra="${3:-}" '
    index($0, name "{") == 1 && (ep == "" || index($0, "endpoint=\"" ep "\"")) && (extra == "" || $0 ~ extra) { s += $NF }
    END { printf "%d\n", s }'
}

ENGINE_PIDS=()
start_engines() { # fault flags of engine 4
  ENGINE_PIDS=()
  for i in 0 1 2 3; do
    local extra=()
    [ $i -eq 3 ] && extra=("$@")
    "${SERVERS[@]}" "$JAVA" -Xmx256m -XX:+UseSerialGC -jar "$JAR" sim --replicas 1 --base-port $((BASE + i)) \
      --model $MODEL "${extra[@]}" >"$WORK/engine-$i.log" 2>&1 &
    PIDS+=($!); ENGINE_PIDS+=($!)
  done
  for i in 0 1 2 3; do wait_http http://127.0.0.1:$((BASE + i))/health; alive "${ENGINE_PIDS[$i]}"; done
}

start_kvgate() { # extra health YAML lines
  cat >"$WORK/kvgate.yaml" <<YAML
listener: {host: 127.0.0.1, port: $KVGATE_PORT}
admin: {host: 127.0.0.1, port: $ADMIN_PORT}
timeouts: {connect: 1s, firstByte: 2s, idle: 5s, total: 60s}
health:
  interval: 1s
  timeout: 2s
  failureThreshold: 3
  baseEjectionTime: 30s
$1
models:
  - name: $MODEL
    policy: round-robin
    endpoints:
      - url: http://127.0.0.1:$BASE
      - url: http://127.0.0.1:$((BASE + 1))
      - url: http://127.0.0.1:$((BASE + 2))
      - url: http://127.0.0.1:$((BASE + 3))
YAML
  "${SERVERS[@]}" "$JAVA" -Xmx1g -jar "$JAR" serve --config "$WORK/kvgate.yaml" >"$WORK/kvgate.log" 2>&1 &
  PIDS+=($!)
  wait_http http://127.0.0.1:$KVGATE_PORT/ready
  alive "${PIDS[-1]}"
  # A slow start can fail the first checks: begin once kvgate admits all four endpoints.
  for _ in $(seq 1 300); do
    [ "$(curl -fsS "$METRICS_URL" | awk 'index($0, "kvgate_endpoint_healthy{") == 1 { s += $NF } END { print s + 0 }')" = 4 ] && return 0
    sleep 0.1
  done
  echo "kvgate did not admit all four endpoints" >&2; exit 1
}

BAD=127.0.0.1:$((BASE + 3))
reasons() { # the bad engine's ejections by reason, "reason=N,..."
  curl -fsS "$METRICS_URL" | awk -v ep="$BAD" 'index($0, "kvgate_endpoint_ejections_total{") == 1 && index($0, "endpoint=\"" ep "\"") {
      match($0, /reason="[^"]*"/); r = substr($0, RSTART + 8, RLENGTH - 9); printf "%s%s=%d", sep, r, $NF; sep = ","}'
}

run() { # scenario: load args...
  local name=$1; shift
  # Counters before the load (a cold start may have failed a first check), subtracted below.
  local sent0 reasons0 suppressed0
  sent0=$(metric kvgate_routing_decisions_total "$BAD")
  reasons0=$(reasons)
  suppressed0=$(metric kvgate_log_suppressed_total "")
  local lines0
  lines0=$(grep -c '^WARNING' "$WORK/kvgate.log" || true)
  "${LOADGEN[@]}" python3 bench/failover_load.py --port $KVGATE_PORT --model $MODEL --concurrency "$CONC" \
    --duration "$DURATION" --steady-from 8 --watch "$BAD" --metrics-url "$METRICS_URL" "$@" >"$WORK/$name.json"
  local sent reasons1 suppressed warnings
  sent=$(metric kvgate_routing_decisions_total "$BAD")
  reasons1=$(reasons)
  suppressed=$(metric kvgate_log_suppressed_total "")
  warnings=$(grep -c '^WARNING' "$WORK/kvgate.log" || true)
  python3 - "$WORK/$name.json" $((sent - sent0)) "$reasons0" "$reasons1" $((warnings - lines0)) $((suppressed - suppressed0)) <<'PY' >"$WORK/$name.summary.json"
import json, sys
r = json.load(open(sys.argv[1]))
parse = lambda s: {k: int(v) for k, v in (x.split("=") for x in s.split(",") if x)}
before, after = parse(sys.argv[3]), parse(sys.argv[4])
delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
r["dispatched_to_bad_endpoint"] = int(sys.argv[2])
r["ejections_of_bad_endpoint"] = ",".join(f"{k}={v}" for k, v in sorted(delta.items())) or "none"
r["warning_lines"] = int(sys.argv[5])
r["log_lines_suppressed"] = int(sys.argv[6])
print(json.dumps(r))
PY
  echo "== $name: $(cat "$WORK/$name.summary.json")" >&2
  cp "$WORK/kvgate.log" "$WORK/kvgate-$name.log"
}

IFS=, read -ra WANT <<<"$SCENARIOS"
for s in "${WANT[@]}"; do
  case "$s" in
    kill)
      start_engines; start_kvgate ""
      run kill --kill-at $((DURATION * 2 / 5)) --kill-pid "${ENGINE_PIDS[3]}" ;;
    hang)
      start_engines --hang-before-first-byte 1h; start_kvgate ""
      run hang ;;
    errors)
      start_engines --error-rate 0.3; start_kvgate ""
      run errors ;;
    errors-off)
      start_engines --error-rate 0.3; start_kvgate "  errorRateThreshold: 1"
      run errors-off ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
  stop_all
done

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$DURATION" "$CONC" "${WANT[@]}" >"$OUT" <<'PY'
import json, os, sys
work, duration, conc, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
res = {n: json.load(open(os.path.join(work, n + ".summary.json"))) for n in names}
print(f"# Failover benchmark ({duration} s per scenario, {conc} concurrent streamed chats, 4 engines, round-robin)\n")
print("Counts are those of the load phase (counters read before and after it).\n")
print("| scenario | requests | failed (by kind) | p50 ms | p99 ms, steady (8 s warm-up excluded; before the kill) | p99 ms, 5 s after the kill | p99 ms, after that | dispatched to the bad engine (retries included) | its ejections by reason | kvgate WARNING lines / lines suppressed |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n, r in res.items():
    kinds = ", ".join(f"{k} {v}" for k, v in r["failures_by_kind"].items())
    failed = f"{r['total']['failed']}" + (f" ({kinds})" if kinds else "")
    print(f"| {n} | {r['total']['requests']} | {failed} | {r['total']['p50_ms']} | {r['steady']['p99_ms']} | "
          f"{r['recovery']['p99_ms'] or '-'} | {r['after']['p99_ms'] or '-'} | {r['dispatched_to_bad_endpoint']} | {r['ejections_of_bad_endpoint']} | {r['warning_lines']} / {r['log_lines_suppressed']} |")
if "kill" in res:
    k = res["kill"]
    ratio = f"{k['recovery']['p99_ms'] / k['steady']['p99_ms']:.2f}x" if k["steady"]["p99_ms"] else "n/a (no steady window)"
    print(f"\nkill: ejected {k.get('ejected_after_kill_ms')} ms after the kill; p99 in the 5 s after it is "
          f"{ratio} the steady p99 of the same run; {k['total']['failed']} of {k['total']['requests']} requests failed.")
for n in ("hang", "errors", "errors-off"):
    if n in res:
        t = ", ".join(f"{'in' if v else 'out'} at {s:.1f} s" for s, v in res[n]["health_transitions"])
        print(f"\n{n}: the bad engine as kvgate's /metrics showed it (polled every 20 ms): {t}")
if "errors" in res and "errors-off" in res:
    a, b = res["errors"], res["errors-off"]
    print(f"\nerror-rate ejection sends {a['dispatched_to_bad_endpoint']} requests to the 30%-failing engine against "
          f"{b['dispatched_to_bad_endpoint']} without it ({a['dispatched_to_bad_endpoint'] / max(1, b['dispatched_to_bad_endpoint']):.2f}x); "
          f"p99 {a['steady']['p99_ms']} ms against {b['steady']['p99_ms']} ms ({a['steady']['p99_ms'] / b['steady']['p99_ms']:.2f}x).")
PY
cat "$OUT"
echo "raw results and logs: $WORK" >&2
