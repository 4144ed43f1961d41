#!/usr/bin/env bash
# Soak: a long run of mixed traffic through one kvgate, its memory sampled, a flat plateau asserted.
# Two simulated engines (fast: the gateway, not the engines, is under test) behind `kvgate serve`
# (cache-aware, the default settings otherwise). Three wrk clients run for the whole soak:
#   short   1-line chats, 8 output tokens                       (CONNS_SHORT connections)
#   stream  the same, streamed, 64 output tokens                (CONNS_STREAM connections)
#   long    distinct prompts of 4k-32k tokens (a counter and a random number first, so no two
#           share a block: every one is parsed, hashed and written into the prefix index in
#           full, and the index fills and evicts)                (CONNS_LONG connections)
# Every SAMPLE seconds: the gateway's RSS (/proc/PID/status VmRSS) and its heap right after a
# full GC (jcmd GC.run; the size that cycle left, from the gateway's GC log), into
# OUT_DIR/samples.csv. At the end the plateau check
# (check() below): after the first WARMUP_FRACTION of the run (the index and the JIT fill up),
# neither the heap after GC nor the RSS may grow by more than TOLERANCE, judged by the mean of the
# checked part's last quarter against its first and by its least-squares trend. Exit 1 when either
# grows beyond it, or when any request failed.
#
# Usage: bench/soak.sh [OUT_DIR]
#        bench/soak.sh --check OUT_DIR     (the verdict again, on a finished run's samples)
#   env: DURATION 1800 (seconds), SAMPLE 30, CONNS_SHORT 8, CONNS_STREAM 4, CONNS_LONG 2,
#        HEAP -Xmx1g (the gateway's heap flags), WARMUP_FRACTION 0.33, TOLERANCE 0.10
# Installs wrk (Debian package) when missing; builds kvgate.jar when missing. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
# The verdict, from OUT_DIR/samples.csv and the wrk reports (also: bench/soak.sh --check OUT_DIR).
# A leak is a trend, not a high sample: heap after a full GC still holds the requests in flight
# at that instant (up to 14 here, long prompts among them), and RSS follows the heap the collector
# has committed (G1 grows and returns it with the allocation rate; ZGC keeps all of it). So, over
# the checked part: the mean of its last quarter against the mean of its first (growth), and the
# least-squares slope projected over its length (trend); both must stay within TOLERANCE. The
# range is reported.
check() {
python3 - "$1" "$WARMUP_FRACTION" "$TOLERANCE" <<'PY'
import csv, re, sys, pathlib
out, warm, tol = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rows = [r for r in csv.DictReader(open(out / "samples.csv"))]
t = [float(r["t_s"]) for r in rows]
duration = t[-1]
checked = [r for r in rows if float(r["t_s"]) >= warm * duration]
ok = True
lines = []
for key, label in (("rss_mib", "RSS"), ("heap_after_gc_mib", "heap after GC")):
    x = [float(r["t_s"]) for r in checked]
    v = [float(r[key]) for r in checked]
    q = max(1, len(v) // 4)
    base = sum(v[:q]) / q
    last = sum(v[-q:]) / q
    growth = (last - base) / base if base else 0
    mx, mv = sum(x) / len(x), sum(v) / len(v)
    sxx = sum((a - mx) ** 2 for a in x)
    slope = sum((a - mx) * (b - mv) for a, b in zip(x, v)) / sxx if sxx else 0
    trend = slope * (x[-1] - x[0]) / base if base else 0
    flat = growth <= tol and trend <= tol
    ok &= flat
    lines.append(f"{label}: {base:.0f} MiB over the first quarter of the checked part, {last:.0f} MiB "
                 f"over its last ({growth:+.1%}), trend {slope * 3600:+.1f} MiB/h ({trend:+.1%} over "
                 f"{x[-1] - x[0]:.0f} s), range {min(v):.0f}-{max(v):.0f} MiB "
                 f"({'flat' if flat else 'GROWS'}: tolerance {tol:.0%})")
failures = 0
summary = []
for kind in ("short", "stream", "long"):
    s = (out / f"wrk-{kind}.txt").read_text()
    n = re.search(r"(\d+) requests in", s)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", s)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", s)
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", s)
    f = (int(bad.group(1)) if bad else 0) + (sum(map(int, err.groups())) if err else 0)
    failures += f
    summary.append(f"{kind}: {n.group(1) if n else '?'} requests, {rps.group(1) if rps else '?'} req/s, {f} failed")
print(f"{len(rows)} samples over {duration:.0f} s; checked from {warm * duration:.0f} s")
for l in lines + summary: print(l)
if failures: ok = False
print("PASS: a flat plateau" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
}

OUT=${1:-bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
DURATION=${DURATION:-1800}; SAMPLE=${SAMPLE:-30}
CONNS_SHORT=${CONNS_SHORT:-8}; CONNS_STREAM=${CONNS_STREAM:-4}; CONNS_LONG=${CONNS_LONG:-2}
HEAP=${HEAP:--Xmx1g}; WARMUP_FRACTION=${WARMUP_FRACTION:-0.33}; TOLERANCE=${TOLERANCE:-0.10}
if [ "${1:-}" = "--check" ]; then
  check "${2:?usage: bench/soak.sh --check OUT_DIR}"
  exit
fi

JAVA=${JAVA:-java}; JCMD=${JCMD:-jcmd}; JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
ENGINE_PORT=19300; GW_PORT=19380; ADMIN_PORT=19381; MODEL=soak-model
WORK=$(mktemp -d /tmp/kvgate-soak.XXXXXX)
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
command -v wrk >/dev/null 2>&1 || {
  echo "installing wrk from Debian packages..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
[ -f "$JAR" ] || ./mvnw -q -B -ntp -pl gateway -am package -DskipTests
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }

"$JAVA" -Xmx2g -jar "$JAR" sim --replicas 2 --base-port $ENGINE_PORT --model $MODEL --speed 200 \
  --capacity-blocks 100000 --max-model-len 200000 >"$WORK/engines.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:$ENGINE_PORT/health
wait_http http://127.0.0.1:$((ENGINE_PORT + 1))/health

# shellcheck disable=SC2086 # HEAP is a list of flags
"$JAVA" $HEAP -Xlog:gc:file="$OUT/gc.log" -jar "$JAR" serve --model $MODEL \
  --endpoints http://127.0.0.1:$ENGINE_PORT,http://127.0.0.1:$((ENGINE_PORT + 1)) \
  --policy cache-aware --host 127.0.0.1 --port $GW_PORT --admin-port $ADMIN_PORT \
  --data-dir "$WORK/data" >"$WORK/kvgate.log" 2>&1 &
GW=$!
PIDS+=($GW)
wait_http http://127.0.0.1:$GW_PORT/ready

python3 - "$WORK" "$MODEL" <<'PY'
import json, sys
work, model = sys.argv[1], sys.argv[2]
def chat(content, max_tokens, stream=False):
    b = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]}
    if stream: b["stream"] = True
    return json.dumps(b)
for name, body in {"short": chat("Say hello in five words.", 8),
                   "stream": chat("Tell a short story.", 64, True)}.items():
    open(f"{work}/{name}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = {json.dumps(body)}\n')
words = "replica prefill decode tensor cache block router latency token batch".split()
text = " ".join(words[i % len(words)] for i in range(32000))  # ~8 chars per word: ~64k tokens
head = json.dumps({"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "@@"}]})
pre, post = head.split("@@")
open(f"{work}/long.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    f'local pre = {json.dumps(pre)}\nlocal text = {json.dumps(text)}\nlocal post = {json.dumps(post)}\n'
    'local n = 0\nrequest = function()\n  n = n + 1\n'
    '  local chars = math.random(16000, 128000)\n'
    '  return wrk.format(nil, nil, nil, pre .. tostring(n) .. "-" .. tostring(math.random(1e9)) .. " " .. text:sub(1, chars) .. post)\nend\n')
PY

URL=http://127.0.0.1:$GW_PORT/v1/chat/completions
for kind in short stream long; do
  case $kind in short) c=$CONNS_SHORT ;; stream) c=$CONNS_STREAM ;; long) c=$CONNS_LONG ;; esac
  wrk -t1 -c"$c" -d"${DURATION}s" --timeout 30s -s "$WORK/$kind.lua" "$URL" >"$OUT/wrk-$kind.txt" 2>&1 &
  PIDS+=($!)
done

echo "t_s,rss_mib,heap_after_gc_mib" >"$OUT/samples.csv"
start=$(date +%s)
while :; do
  now=$(date +%s); t=$((now - start))
  [ $t -gt "$DURATION" ] && break
  rss=$(awk '/^VmRSS:/{printf "%.1f", $2 / 1024}' /proc/$GW/status)
  # The heap the forced full collection left, as the GC log states it for that cycle (G1's
  # "Pause Full (Diagnostic Command) 120M->95M(1024M)", ZGC's "Major Collection (Diagnostic
  # Command) 464M(45%)->110M(11%)"): GC.heap_info, a second attach later, would also count what
  # the load allocated meanwhile (hundreds of MB under ZGC).
  "$JCMD" $GW GC.run >/dev/null
  heap=$(python3 - "$OUT/gc.log" <<'PY'
import re, sys
cycles = [l for l in open(sys.argv[1]) if "(Diagnostic Command)" in l and "->" in l]
m = re.search(r"->\s*(\d+)([KMG])", cycles[-1]) if cycles else None
scale = {"K": 1 / 1024, "M": 1, "G": 1024}
print(f"{int(m.group(1)) * scale[m.group(2)]:.1f}" if m else "nan")
PY
)
  echo "$t,$rss,$heap" >>"$OUT/samples.csv"
  echo "soak t=${t}s rss=${rss} MiB heap after GC=${heap} MiB" >&2
  # The next sample point, not a synchronization: samples are SAMPLE seconds apart.
  sleep "$SAMPLE"
done
for p in "${PIDS[@]:2}"; do wait "$p" 2>/dev/null || true; done

check "$OUT"
