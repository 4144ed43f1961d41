#!/usr/bin/env bash
# Overhead benchmark: the same simulated engine reached three ways in one run:
#   direct -> engine,   kvgate -> engine,   nginx (plain reverse proxy) -> engine.
# wrk (Debian package) is the load generator, pinned to its own core where the machine has two.
# Reports added latency p50/p99 at one connection, and max RPS and each proxy's CPU time per request
# at many connections, per workload:
# short non-streaming chat, a streamed chat, and long prompts (32k and 128k tokens); and the
# latency of short requests while other clients send distinct 128k-token prompts ("mixed": a long
# prompt must not slow unrelated requests).
# With --bare two more targets join the latency and throughput sections: a plain Netty relay
# (io.kvgate.bench.BareRelay: reads each request whole, forwards it, relays the response, parses
# and routes nothing), the floor under any JVM gateway on the machine, and its twin on Vert.x's
# HTTP server and client (io.kvgate.bench.VertxBareRelay), the layer kvgate is built on; so that
# kvgate's gap to nginx splits into what the JVM and Netty cost, what Vert.x's HTTP layer adds, and
# what kvgate's own work costs.
#
# Usage: bench/overhead.sh [--duration SECONDS] [--connections N] [--sections latency,throughput,mixed]
#                          [--upstream sim|canned] [--unpinned] [--bare] [--out FILE]
#   --upstream canned: the upstream is nginx answering every request with a canned OpenAI body (a
#     chat completion, or a 64-chunk SSE stream for the stream workload), the fastest upstream
#     there is, so the proxies' own cost is all that is measured; sim (default): a simulated engine.
#   --unpinned: no taskset; wrk, the proxies and the upstream share every core as the OS schedules.
#   env: KVGATE_JAR (the kvgate under test), KVGATE_JAVA (its java, default JAVA or java),
#        KVGATE_JVM (its JVM flags, default -Xmx2g: the GC comparison in docs/BENCHMARKS.md §3)
# Installs nginx and wrk with apt-get when they are missing; builds kvgate.jar when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
CONNS=32
SECTIONS=latency,throughput,mixed
UPSTREAM=sim
PIN=yes
BARE=no
OUT=bench/results/overhead-$(date -u +%Y%m%dT%H%M%SZ).md
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --sections) SECTIONS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --upstream) UPSTREAM=$2; shift 2 ;;
    --unpinned) PIN=no; shift ;;
    --bare) BARE=yes; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

ENGINE_PORT=19100; LONG_ENGINE_PORT=19101; KVGATE_PORT=19180; NGINX_PORT=19181; NGINX_LONG_PORT=19182
BARE_PORT=19183; VBARE_PORT=19184
MODEL=bench-model
LONG_MODEL=bench-long   # the mixed section's long prompts: another model on another engine, same proxy
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}   # the kvgate under test (the engine always runs from the build)
KVGATE_JAVA=${KVGATE_JAVA:-$JAVA}
KVGATE_JVM=${KVGATE_JVM:--Xmx2g}
WORK=$(mktemp -d /tmp/kvgate-overhead.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/canned.pid" ] && kill "$(cat "$WORK/canned.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  echo "installing wrk and nginx from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null
fi
[ -f gateway/target/kvgate.jar ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
if [ "$BARE" = yes ] && [ ! -f benchmarks/target/benchmarks.jar ]; then
  ./mvnw -q -B -ntp -pl benchmarks -am package -DskipTests
fi

case "$UPSTREAM" in sim|canned) ;; *) echo "--upstream is sim or canned" >&2; exit 2 ;; esac

# Pin the load generator to the last core, everything else to the others (when there are >= 2).
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && [ "$PIN" = yes ]; then
  LOADGEN=(taskset -c $((NCPU - 1)))
  SERVERS=(taskset -c 0-$((NCPU - 2)))
else
  LOADGEN=(); SERVERS=()
fi

wait_http() { # url
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}

if [ "$UPSTREAM" = sim ]; then
# The engine: fast enough that the proxies, not the engine, dominate short-request latency.
"${SERVERS[@]}" "$JAVA" -Xmx2g -jar gateway/target/kvgate.jar sim --replicas 1 --base-port $ENGINE_PORT \
  --model $MODEL --speed 1000 --capacity-blocks 200000 --max-model-len 200000 >"$WORK/engine.log" 2>&1 &
PIDS+=($!); DIRECT_PID=$!
wait_http http://127.0.0.1:$ENGINE_PORT/health

# A second engine serving another model takes the mixed section's long prompts, so that the short
# requests measured there share only the proxy with them, not the engine.
"${SERVERS[@]}" "$JAVA" -Xmx2g -jar gateway/target/kvgate.jar sim --replicas 1 --base-port $LONG_ENGINE_PORT \
  --model $LONG_MODEL --speed 1000 --capacity-blocks 200000 --max-model-len 200000 >"$WORK/engine-long.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:$LONG_ENGINE_PORT/health
else
# The canned upstream: its own nginx (one worker) on both engine ports. /health answers 200,
# /metrics an empty scrape; any other request gets a chat completion, or an SSE stream of 64
# chunks when the request carries x-bench-stream (the stream workload's wrk script sets it).
python3 - "$WORK" "$MODEL" "$ENGINE_PORT" "$LONG_ENGINE_PORT" <<'PY'
import json, sys
work, model, p1, p2 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
completion = json.dumps({"id": "chatcmpl-canned", "object": "chat.completion", "created": 1700000000,
    "model": model, "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Hello there, five words exactly."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22}}, separators=(",", ":"))
def chunk(delta, finish=None, usage=None):
    c = {"id": "chatcmpl-canned", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage: c["usage"] = usage
    return "data: " + json.dumps(c, separators=(",", ":")) + "\n\n"
events = [chunk({"role": "assistant", "content": ""})]
events += [chunk({"content": " tok"}) for _ in range(63)]
events += [chunk({}, "length", {"prompt_tokens": 14, "completion_tokens": 64, "total_tokens": 78})]
stream = "".join(events) + "data: [DONE]\n\n"
assert "'" not in completion and "$" not in completion
# Too long for one nginx string: served as a file (a POST to a file is 405 in nginx, which
# error_page turns into a GET of the same file).
import os
os.makedirs(f"{work}/canned", exist_ok=True)
open(f"{work}/canned/stream.sse", "w").write(stream)
servers = ""
for port in (p1, p2):
    servers += f"""
  server {{
    listen 127.0.0.1:{port};
    location = /health {{ return 200; }}
    location = /metrics {{ default_type text/plain; return 200 ""; }}
    location = /stream.sse {{ internal; root {work}/canned; default_type text/event-stream; error_page 405 =200 $uri; }}
    location = /canned-completion {{ internal; default_type application/json; return 200 '{completion}'; }}
    location / {{
      if ($http_x_bench_stream) {{ rewrite ^ /stream.sse last; }}
      rewrite ^ /canned-completion last;
    }}
  }}"""
open(f"{work}/canned.conf", "w").write(f"""worker_processes 1;
pid {work}/canned.pid;
error_log {work}/canned-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/canned-body;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;{servers}
}}
""")
PY
# nginx's workers run as nobody: they must read the stream file under the private work directory.
chmod 755 "$WORK" "$WORK/canned"; chmod 644 "$WORK/canned/stream.sse"
"${SERVERS[@]}" nginx -c "$WORK/canned.conf"
wait_http http://127.0.0.1:$ENGINE_PORT/health
wait_http http://127.0.0.1:$LONG_ENGINE_PORT/health
DIRECT_PID=$(cat "$WORK/canned.pid")
fi

cat >"$WORK/kvgate.yaml" <<YAML
listener: {host: 127.0.0.1, port: $KVGATE_PORT}
batch: {dataDir: "$WORK/batch-data"}
models:
  - {name: $MODEL, policy: cache-aware, endpoints: [{url: "http://127.0.0.1:$ENGINE_PORT"}]}
  - {name: $LONG_MODEL, policy: cache-aware, endpoints: [{url: "http://127.0.0.1:$LONG_ENGINE_PORT"}]}
YAML
# shellcheck disable=SC2086 # KVGATE_JVM is a list of flags
"${SERVERS[@]}" "$KVGATE_JAVA" $KVGATE_JVM -jar "$JAR" serve --config "$WORK/kvgate.yaml" >"$WORK/kvgate.log" 2>&1 &
PIDS+=($!); KVGATE_PID=$!
wait_http http://127.0.0.1:$KVGATE_PORT/ready

cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  upstream engine { server 127.0.0.1:$ENGINE_PORT; keepalive 256; }
  upstream engine_long { server 127.0.0.1:$LONG_ENGINE_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_LONG_PORT;
    location / {
      proxy_pass http://engine_long;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://engine;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
NGINX
"${SERVERS[@]}" nginx -c "$WORK/nginx.conf"
wait_http http://127.0.0.1:$NGINX_PORT/health
NGINX_PID=$(cat "$WORK/nginx.pid")

TARGETS=(direct kvgate nginx)
if [ "$BARE" = yes ]; then
  # Same JVM, flags and cores as kvgate, one event loop per core it may use (kvgate's default).
  # shellcheck disable=SC2086 # KVGATE_JVM is a list of flags
  "${SERVERS[@]}" "$KVGATE_JAVA" $KVGATE_JVM -cp benchmarks/target/benchmarks.jar io.kvgate.bench.BareRelay \
    $BARE_PORT $ENGINE_PORT >"$WORK/bare.log" 2>&1 &
  PIDS+=($!); BARE_PID=$!
  # shellcheck disable=SC2086
  "${SERVERS[@]}" "$KVGATE_JAVA" $KVGATE_JVM -cp benchmarks/target/benchmarks.jar io.kvgate.bench.VertxBareRelay \
    $VBARE_PORT $ENGINE_PORT >"$WORK/vbare.log" 2>&1 &
  PIDS+=($!); VBARE_PID=$!
  wait_http http://127.0.0.1:$BARE_PORT/health
  wait_http http://127.0.0.1:$VBARE_PORT/health
  TARGETS+=(bare vbare)
fi

# Request bodies. ~4 characters per token in the simulated tokenizer.
python3 - "$WORK" "$MODEL" "$LONG_MODEL" <<'PY'
import json, sys, random
work, model = sys.argv[1], sys.argv[2]
words = "replica prefill decode tensor cache block router latency token batch".split()
def text(n, seed):
    r = random.Random(seed); out = []; size = 0
    while size < n:
        w = r.choice(words); out.append(w); size += len(w) + 1
    return " ".join(out)[:n]
def chat(content, max_tokens, stream=False):
    b = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]}
    if stream: b["stream"] = True
    return json.dumps(b)
bodies = {
  "short": chat("Say hello in five words.", 8),
  "stream": chat("Tell a short story.", 64, stream=True),
  "long32k": chat(text(32_000 * 4, 1), 8),
  "long128k": chat(text(128_000 * 4, 2), 8),
}
# Distinct 128k-token prompts (a counter first, so no two share a block and nothing is cached
# anywhere: every request is parsed and hashed in full), for the mixed section's background load.
big = text(128_000 * 4, 3)
head = json.dumps({"model": sys.argv[3], "max_tokens": 8, "messages": [{"role": "user", "content": "@@"}]})
pre, post = head.split("@@")
open(f"{work}/long128k-unique.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    f'local pre = {json.dumps(pre)}\nlocal post = " " .. {json.dumps(big)} .. {json.dumps(post)}\n'
    'local n = 0\nrequest = function()\n  n = n + 1\n'
    '  return wrk.format(nil, nil, nil, pre .. tostring(n) .. "-" .. tostring(math.random(1e9)) .. post)\nend\n')
for name, body in bodies.items():
    open(f"{work}/{name}.json", "w").write(body)
    # x-bench-stream: the canned upstream answers this workload with an SSE stream
    extra = 'wrk.headers["x-bench-stream"] = "1"\n' if name == "stream" else ""
    open(f"{work}/{name}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n' + extra +
        f'local f = io.open("{work}/{name}.json", "r")\nwrk.body = f:read("*a")\nf:close()\n')
PY

declare -A URL=([direct]=http://127.0.0.1:$ENGINE_PORT [kvgate]=http://127.0.0.1:$KVGATE_PORT [nginx]=http://127.0.0.1:$NGINX_PORT [bare]=http://127.0.0.1:$BARE_PORT [vbare]=http://127.0.0.1:$VBARE_PORT)
declare -A PID=([direct]=$DIRECT_PID [kvgate]=$KVGATE_PID [nginx]=$NGINX_PID [bare]=${BARE_PID:-} [vbare]=${VBARE_PID:-})
declare -A LONG_URL=([direct]=http://127.0.0.1:$LONG_ENGINE_PORT [kvgate]=http://127.0.0.1:$KVGATE_PORT [nginx]=http://127.0.0.1:$NGINX_LONG_PORT)

# CPU time (user + system, clock ticks) used so far by a process and its children (nginx's
# workers), all threads included.
cpu_ticks() {
  local pids t=0
  pids="$1 $(pgrep -P "$1" | tr '\n' ' ')"
  for p in $pids; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
TICK=$(getconf CLK_TCK)

# run_wrk target workload connections -> prints "p50_ms p99_ms rps cpu_us_per_request non2xx":
# the target's own CPU time during the run (the proxy's process only, not the upstream behind it
# nor wrk) divided by the requests wrk completed.
run_wrk() {
  local log="$WORK/wrk-$1-$2-$3.txt" before after
  before=$(cpu_ticks "${PID[$1]}")
  "${LOADGEN[@]}" wrk -t1 -c"$3" -d"${DURATION}s" --timeout 30s --latency -s "$WORK/$2.lua" "${URL[$1]}/v1/chat/completions" >"$log" 2>&1
  after=$(cpu_ticks "${PID[$1]}")
  python3 - "$log" "$((after - before))" "$TICK" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
cpu_s = int(sys.argv[2]) / int(sys.argv[3])
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)", v); x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x * 60000 if m.group(2) == "m" else x
p = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", s, re.M))
rps = re.search(r"Requests/sec:\s+([\d.]+)", s).group(1)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", s)
err = re.search(r"Socket errors: (.*)", s)
n = int(re.search(r"(\d+) requests in", s).group(1))
cpu = 1e6 * cpu_s / n if n else 0.0
print(f"{ms(p['50']):.3f} {ms(p['99']):.3f} {float(rps):.1f} {cpu:.1f} {bad.group(1) if bad else 0}{' (' + err.group(1) + ')' if err else ''}")
PY
}

# Warm-up: JIT, pools, caches, so the first measured target is not penalised.
for t in "${TARGETS[@]}"; do
  for w in short stream long32k; do "${LOADGEN[@]}" wrk -t1 -c4 -d2s -s "$WORK/$w.lua" "${URL[$t]}/v1/chat/completions" >/dev/null 2>&1; done
done

section() { [[ ",$SECTIONS," == *",$1,"* ]]; }

mkdir -p "$(dirname "$OUT")"
{
  echo "# kvgate overhead benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/^Model name:\s*//p' | head -1)"
  echo "- kvgate: $JAR on $("$KVGATE_JAVA" -version 2>&1 | head -1) with \`$KVGATE_JVM\`"
  echo "- java: $("$JAVA" -version 2>&1 | head -1); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')"
  if [ ${#LOADGEN[@]} -gt 0 ]; then pinning="wrk pinned to core $((NCPU - 1)), servers to the rest"; else pinning="nothing pinned"; fi
  echo "- command: \`bench/overhead.sh --duration $DURATION --connections $CONNS --upstream $UPSTREAM$([ "$PIN" = no ] && echo ' --unpinned')$([ "$BARE" = yes ] && echo ' --bare')\`; upstream: $UPSTREAM; $pinning"
} >"$OUT"

declare -A P50 P99 RPS BAD CPU
BARE_LAT=""; BARE_TP=""
if section latency; then
{
  echo
  echo "Latency at 1 connection (closed loop), milliseconds; added = target minus direct in the same run."
  echo
  echo "| workload | direct p50 | direct p99 | kvgate p50 (+added) | kvgate p99 (+added) | nginx p50 (+added) | nginx p99 (+added) | non-2xx (k/n) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
} >>"$OUT"
for w in short stream long32k long128k; do
  for t in "${TARGETS[@]}"; do
    read -r a b _ _ d <<<"$(run_wrk $t $w 1)"
    P50[$t]=$a; P99[$t]=$b; BAD[$t]=$d
    echo "latency $w $t: p50=$a ms p99=$b ms non2xx=$d" >&2
  done
  python3 - "$w" "${P50[direct]}" "${P99[direct]}" "${P50[kvgate]}" "${P99[kvgate]}" "${P50[nginx]}" "${P99[nginx]}" "${BAD[kvgate]}/${BAD[nginx]}" >>"$OUT" <<'PY'
import sys
w, d50, d99, k50, k99, n50, n99, bad = sys.argv[1], *map(float, sys.argv[2:8]), sys.argv[8]
f = lambda x, base: f"{x:.2f} (+{x - base:.2f})"
print(f"| {w} | {d50:.2f} | {d99:.2f} | {f(k50, d50)} | {f(k99, d99)} | {f(n50, d50)} | {f(n99, d99)} | {bad} |")
PY
  if [ "$BARE" = yes ]; then
    for b in bare vbare; do
      BARE_LAT+="| $w | $b | $(python3 -c "import sys; d50,d99,b50,b99,k50,k99=map(float,sys.argv[1:7]); print(f'{b50:.2f} (+{b50-d50:.2f}) | {b99:.2f} (+{b99-d99:.2f}) | {k50-b50:+.2f} | {k99-b99:+.2f}')" \
        "${P50[direct]}" "${P99[direct]}" "${P50[$b]}" "${P99[$b]}" "${P50[kvgate]}" "${P99[kvgate]}") | ${BAD[$b]} |"$'\n'
    done
  fi
done
if [ "$BARE" = yes ]; then
  {
    echo
    echo "The bare relays at 1 connection (bare: plain Netty, io.kvgate.bench.BareRelay; vbare: Vert.x's"
    echo "HTTP server and client, io.kvgate.bench.VertxBareRelay), milliseconds: added = relay minus"
    echo "direct; kvgate's own = kvgate minus relay, in the same run."
    echo
    echo "| workload | relay | p50 (+added) | p99 (+added) | kvgate's own p50 | kvgate's own p99 | non-2xx |"
    echo "|---|---|---:|---:|---:|---:|---|"
    printf '%s' "$BARE_LAT"
  } >>"$OUT"
fi
fi

if section throughput; then
{
  echo
  echo "Max throughput at $CONNS connections (closed loop; long128k at a quarter of them), requests/s,"
  echo "and the ratio to direct; then each target's p99 latency under that load, milliseconds (added ="
  echo "target minus direct) and kvgate's added p99 over nginx's."
  echo
  echo "| workload | direct | kvgate (ratio) | nginx (ratio) | kvgate / nginx | direct p99 | kvgate p99 (+added) | nginx p99 (+added) | added p99 kvgate / nginx |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} >>"$OUT"
declare -A TP99
CPU_TP=""
for w in short stream long32k long128k; do
  c=$CONNS; [ "$w" = long128k ] && c=$((CONNS / 4 > 0 ? CONNS / 4 : 1))
  for t in "${TARGETS[@]}"; do
    read -r a b r cpu d <<<"$(run_wrk $t $w $c)"
    RPS[$t]=$r; CPU[$t]=$cpu
    TP99[$t]=$b
    echo "throughput $w $t (c=$c): $r req/s p99=$b ms cpu=$cpu us/request non2xx=$d" >&2
  done
  python3 - "$w" "${RPS[direct]}" "${RPS[kvgate]}" "${RPS[nginx]}" "${TP99[direct]}" "${TP99[kvgate]}" "${TP99[nginx]}" >>"$OUT" <<'PY'
import sys
w, d, k, n, pd, pk, pn = sys.argv[1], *map(float, sys.argv[2:8])
r = lambda x, y: f"{x / y:.2f}" if y else "n/a"
ak, an = pk - pd, pn - pd
print(f"| {w} | {d:.1f} | {k:.1f} ({r(k, d)}) | {n:.1f} ({r(n, d)}) | {r(k, n)} | {pd:.2f} | {pk:.2f} (+{ak:.2f}) "
      f"| {pn:.2f} (+{an:.2f}) | {r(ak, an) if an > 0 else 'n/a'} |")
PY
  CPU_TP+="| $w | ${CPU[direct]} | ${CPU[kvgate]} | ${CPU[nginx]} | $(python3 -c "import sys; k,n=map(float,sys.argv[1:3]); print(f'{k/n:.2f}' if n else 'n/a')" "${CPU[kvgate]}" "${CPU[nginx]}")"
  if [ "$BARE" = yes ]; then CPU_TP+=" | ${CPU[bare]} | ${CPU[vbare]}"; fi
  CPU_TP+=" |"$'\n'
  if [ "$BARE" = yes ]; then
    for b in bare vbare; do
      BARE_TP+="| $w | $b | $(python3 -c "import sys; d,b,n,k,pd,pb=map(float,sys.argv[1:7]); print(f'{b:.1f} ({b/d:.2f}) | {b/n:.2f} | {k/b:.2f} | {pb:.2f} (+{pb-pd:.2f})')" \
        "${RPS[direct]}" "${RPS[$b]}" "${RPS[nginx]}" "${RPS[kvgate]}" "${TP99[direct]}" "${TP99[$b]}") |"$'\n'
    done
  fi
done
if [ "$BARE" = yes ]; then
  {
    echo
    echo "The bare relays under the same load: requests/s (ratio to direct), against nginx, kvgate"
    echo "against each, and each relay's p99 (+added), milliseconds."
    echo
    echo "| workload | relay | req/s | relay / nginx | kvgate / relay | p99 (+added) |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s' "$BARE_TP"
  } >>"$OUT"
fi
{
  echo
  echo "CPU time per request under that load, microseconds: each target's own process (user + system,"
  echo "all threads; nginx with its workers) over the run, divided by the requests completed; direct is"
  echo "the upstream itself. Steadier than requests/s on a shared machine: it does not count the time a"
  echo "target waits for a core. A JVM's counts its JIT compiler's and collector's threads too, so read"
  echo "it after a warm-up (a run with the latency section first), not from a cold start."
  echo
  if [ "$BARE" = yes ]; then
    echo "| workload | direct | kvgate | nginx | kvgate / nginx | bare | vbare |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
  else
    echo "| workload | direct | kvgate | nginx | kvgate / nginx |"
    echo "|---|---:|---:|---:|---:|"
  fi
  printf '%s' "$CPU_TP"
} >>"$OUT"
fi

if section mixed; then
  BG=${BG_CONNECTIONS:-2}
  {
    echo
    echo "Short requests (1 connection, closed loop) alone and while $BG other connections send distinct"
    echo "128k-token prompts (closed loop, each parsed and hashed in full) for another model served by"
    echo "another engine through the same proxy, milliseconds; the long prompts' own rate is shown."
    echo "added = target minus direct under the same background."
    echo
    echo "| target | short p50 alone | short p99 alone | short p50 with 128k | short p99 with 128k | added p50 | added p99 | 128k req/s | non-2xx |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  } >>"$OUT"
  declare -A A50 A99 M50 M99 LR
  for t in direct kvgate nginx; do
    read -r a b _ _ d <<<"$(run_wrk $t short 1)"
    A50[$t]=$a; A99[$t]=$b
    bglog="$WORK/wrk-bg-$t.txt"
    "${LOADGEN[@]}" wrk -t1 -c"$BG" -d"$((DURATION + 2))s" --timeout 30s -s "$WORK/long128k-unique.lua" \
      "${LONG_URL[$t]}/v1/chat/completions" >"$bglog" 2>&1 &
    bg=$!
    sleep 1 # the background load is running before the foreground starts measuring (not a synchronization)
    read -r a b _ _ d2 <<<"$(run_wrk $t short 1)"
    wait $bg
    M50[$t]=$a; M99[$t]=$b
    LR[$t]=$(sed -n 's/^Requests\/sec:\s*//p' "$bglog")
    bgbad=$(sed -n 's/^\s*Non-2xx or 3xx responses: //p' "$bglog"); bgbad=${bgbad:-0}
    echo "mixed $t: short alone p50=${A50[$t]} p99=${A99[$t]}; with 128k p50=$a p99=$b; 128k ${LR[$t]} req/s non2xx=$d/$d2/$bgbad" >&2
    python3 - "$t" "${A50[$t]}" "${A99[$t]}" "$a" "$b" "${M50[direct]:-$a}" "${M99[direct]:-$b}" "${LR[$t]}" "$d/$d2/$bgbad" >>"$OUT" <<'PY'
import sys
t, a50, a99, m50, m99, d50, d99, lr, bad = sys.argv[1], *map(float, sys.argv[2:8]), sys.argv[8], sys.argv[9]
print(f"| {t} | {a50:.2f} | {a99:.2f} | {m50:.2f} | {m99:.2f} | {m50 - d50:+.2f} | {m99 - d99:+.2f} | {float(lr):.1f} | {bad} |")
PY
  done
fi
echo >&2
cat "$OUT"
