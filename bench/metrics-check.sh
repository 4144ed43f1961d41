#!/usr/bin/env bash
# Metrics check: Prometheus's own linter on kvgate's /metrics, and a real Prometheus scraping the
# admin listener with an admin key, after plain, streamed, malformed, unauthenticated and
# rate-limited requests (so that the auth, rate-limit, parse and upstream meters exist).
#
# Usage: bench/metrics-check.sh
# Installs the Debian package `prometheus` (promtool and the server) when missing; builds
# kvgate.jar when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
ENGINE=19500; PORT=19580; ADMIN=19581; PROM=19590
WORK=$(mktemp -d /tmp/kvgate-metrics.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "installing prometheus from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq prometheus >/dev/null
fi
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
wait_http() { for _ in $(seq 1 300); do curl -fs "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer: $*" >&2; exit 1; }

"$JAVA" -jar "$JAR" sim --replicas 2 --base-port $ENGINE >"$WORK/sim.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$ENGINE/health
CLIENT_KEY=sk-metrics-check-client-key
ADMIN_KEY=sk-metrics-check-admin-key
CLIENT_HASH=$(echo $CLIENT_KEY | "$JAVA" -jar "$JAR" hash-key | sed -n 's/.*hash: "\(.*\)"/\1/p')
ADMIN_HASH=$(echo $ADMIN_KEY | "$JAVA" -jar "$JAR" hash-key | sed -n 's/.*hash: "\(.*\)"/\1/p')
cat >"$WORK/gateway.yaml" <<YAML
listener: {host: 127.0.0.1, port: $PORT}
admin: {host: 127.0.0.1, port: $ADMIN}
auth:
  keys:
    - {name: client, tenant: team-a, hash: "$CLIENT_HASH", rateLimit: {rps: 2, tpm: 100000}}
    - {name: ops, tenant: ops, hash: "$ADMIN_HASH", admin: true}
accessLog: {sampleRate: 0.5}
models:
  - name: kvgate-sim-8b
    endpoints: [{url: "http://127.0.0.1:$ENGINE"}, {url: "http://127.0.0.1:$((ENGINE + 1))"}]
YAML
"$JAVA" -jar "$JAR" serve --config "$WORK/gateway.yaml" >"$WORK/serve.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$PORT/ready

chat() { curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:$PORT/v1/chat/completions -H 'content-type: application/json' "$@"; }
BODY='{"model":"kvgate-sim-8b","messages":[{"role":"user","content":"hello"}],"max_tokens":8}'
SBODY='{"model":"kvgate-sim-8b","stream":true,"messages":[{"role":"user","content":"hello"}],"max_tokens":8}'
echo -n "requests: "
for i in 1 2 3 4 5; do chat -H "authorization: Bearer $CLIENT_KEY" -d "$BODY"; done   # 2 then 429s
sleep 1.1; chat -H "authorization: Bearer $CLIENT_KEY" -d "$SBODY"
chat -d "$BODY"                                                                          # 401
chat -H "authorization: Bearer $ADMIN_KEY" -d '{"model": 1}'                             # 400
chat -H "authorization: Bearer $ADMIN_KEY" -d '{"model":"nope","messages":[{"role":"user","content":"x"}]}'  # 404
echo
echo "promtool check metrics on the admin listener's /metrics:"
curl -s -H "authorization: Bearer $ADMIN_KEY" http://127.0.0.1:$ADMIN/metrics >"$WORK/metrics.txt"
set +e; promtool check metrics <"$WORK/metrics.txt"; echo "exit $?"; set -e
echo "kvgate_ series: $(grep -c '^kvgate_' "$WORK/metrics.txt")"

echo -n "$ADMIN_KEY" >"$WORK/admin-key"
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 2s}
scrape_configs:
  - job_name: kvgate
    static_configs: [{targets: ["127.0.0.1:$ADMIN"]}]
    authorization: {type: Bearer, credentials_file: $WORK/admin-key}
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:$PROM >"$WORK/prometheus.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$PROM/-/ready
q() { curl -s "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
for _ in $(seq 1 50); do [ "$(q 'up{job="kvgate"}')" = 1 ] && break; sleep 0.2; done
echo "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'): up=$(q 'up{job="kvgate"}')" \
  "sum(kvgate_requests_total)=$(q 'sum(kvgate_requests_total)')" \
  "sum(kvgate_rate_limited_total)=$(q 'sum(kvgate_rate_limited_total)')" \
  "sum(kvgate_auth_refused_total)=$(q 'sum(kvgate_auth_refused_total)')" \
  "last scrape error: $(curl -s http://127.0.0.1:$PROM/api/v1/targets | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(repr(t[0]["lastError"]) if t else "no target")')"
