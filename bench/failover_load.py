#!/usr/bin/env python3
"""Closed-loop load for bench/failover.sh: CONCURRENCY clients each send streamed chat requests
back to back for DURATION seconds through kvgate, optionally SIGKILL a process at KILL_AT seconds,
and poll kvgate's /metrics to time an endpoint's ejection. Prints one JSON summary.

A request fails when its status is not 200, its connection breaks, or its stream carries an error
event (kvgate ends a broken stream with `data: {"error": ...}`).
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import threading
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--model", default="bench")
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--duration", type=float, default=40)
p.add_argument("--max-tokens", type=int, default=16)
p.add_argument("--kill-at", type=float, default=-1, help="seconds after start; -1 = never")
p.add_argument("--kill-pid", type=int, default=0)
p.add_argument("--watch", default="", help="endpoint id whose kvgate_endpoint_healthy is polled")
p.add_argument("--metrics-url", default="")
p.add_argument("--steady-from", type=float, default=5, help="warm-up excluded from steady stats")
p.add_argument("--recovery", type=float, default=5, help="seconds after the kill counted as recovery")
args = p.parse_args()
metrics_url = args.metrics_url or f"http://127.0.0.1:{args.port}/metrics"

results = []  # (start, end, ok, kind)
lock = threading.Lock()
stop = threading.Event()
t0 = time.monotonic()


def body(i):
    # Distinct prompts: a 200-word "conversation" with a per-request suffix.
    words = " ".join(random.choice(["alpha", "beta", "gamma", "delta", "kv", "cache"]) for _ in range(200))
    return json.dumps({
        "model": args.model,
        "stream": True,
        "max_tokens": args.max_tokens,
        "messages": [{"role": "user", "content": f"{words} #{i}"}],
    })


def client(n):
    conn = None
    i = 0
    while not stop.is_set():
        i += 1
        start = time.monotonic()
        ok, kind = False, "ok"
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
            conn.request("POST", "/v1/chat/completions", body(n * 1_000_000 + i),
                         {"content-type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode("utf-8", "replace")
            if r.status != 200:
                kind = f"status_{r.status}"
            elif '"error"' in data:
                kind = "error_event"
            elif "[DONE]" not in data:
                kind = "truncated"
            else:
                ok = True
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:  # connection reset, timeout
            kind = "exception_" + type(e).__name__
            if conn is not None:
                conn.close()
            conn = None
        end = time.monotonic()
        with lock:
            results.append((start - t0, end - t0, ok, kind))


HEALTHY = None
ejected_at = []  # (seconds since start, healthy value) transitions


def poll():
    pat = re.compile(r'^kvgate_endpoint_healthy\{[^}]*endpoint="' + re.escape(args.watch) + r'"[^}]*\}\s+(\S+)', re.M)
    last = None
    while not stop.is_set():
        try:
            text = urllib.request.urlopen(metrics_url, timeout=2).read().decode()
            m = pat.search(text)
            if m:
                v = float(m.group(1))
                if v != last:
                    ejected_at.append((time.monotonic() - t0, v))
                    last = v
        except Exception:
            pass
        time.sleep(0.02)


threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.concurrency)]
if args.watch:
    threads.append(threading.Thread(target=poll, daemon=True))
for t in threads:
    t.start()
kill_time = None
while time.monotonic() - t0 < args.duration:
    now = time.monotonic() - t0
    if args.kill_at >= 0 and kill_time is None and now >= args.kill_at:
        os.kill(args.kill_pid, signal.SIGKILL)
        kill_time = time.monotonic() - t0
    time.sleep(0.005)
stop.set()
for t in threads:
    t.join(timeout=70)


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)


def stats(sel):
    lat = [e - s for s, e, ok, _ in sel if ok]
    return {"requests": len(sel), "failed": sum(1 for r in sel if not r[2]),
            "p50_ms": pct(lat, 0.50), "p99_ms": pct(lat, 0.99)}


# Without a kill, "steady" is the whole run after the warm-up.
split = kill_time if kill_time is not None else float("inf")
steady = [r for r in results if args.steady_from <= r[0] < split and r[1] < split]
recovery = [r for r in results if split <= r[0] < split + args.recovery or r[0] < split <= r[1]]
after = [r for r in results if r[0] >= split + args.recovery]
kinds = {}
for r in results:
    if not r[2]:
        kinds[r[3]] = kinds.get(r[3], 0) + 1
out = {
    "total": stats(results),
    "failures_by_kind": kinds,
    "steady": stats(steady),
    "recovery": stats(recovery),
    "after": stats(after),
    "kill_at_s": kill_time,
    "health_transitions": ejected_at,
}
if kill_time is not None:
    out_after_kill = [t for t, v in ejected_at if t >= kill_time and v == 0]
    out["ejected_after_kill_ms"] = round((out_after_kill[0] - kill_time) * 1000, 1) if out_after_kill else None
print(json.dumps(out))
