#!/usr/bin/env python3
"""Closed-loop multi-turn chat load for bench/cluster-failover.sh, sprayed over several gateways as a
VIP would: CONCURRENCY clients run conversations (a tenant's long system prompt, then turns that
extend the history), each request to the next ready gateway in round-robin order, so consecutive
turns of one conversation land on different gateways. A poller checks every gateway's /ready every
100 ms; a gateway whose /ready fails (or whose connection breaks) leaves the rotation until /ready
answers 200 again, as behind a load balancer's health check.

Optionally SIGKILLs a gateway at KILL_AT and runs RESTART_CMD at RESTART_AT. Prints one JSON summary:
per window (before the kill, kill to restart, after the restart is ready) the requests, failures by
kind and gateway, engine-counted hit rate (usage.prompt_tokens_details.cached_tokens over
prompt_tokens) and TTFT p50/p99; and the restart's time to /ready 200.
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time

p = argparse.ArgumentParser()
p.add_argument("--ports", required=True, help="comma list of gateway API ports")
p.add_argument("--ready-ports", required=True, help="comma list of the ports whose /ready is polled (same order)")
p.add_argument("--model", default="bench")
p.add_argument("--concurrency", type=int, default=16)
p.add_argument("--duration", type=float, default=60)
p.add_argument("--tenants", type=int, default=12)
p.add_argument("--system-words", type=int, default=1500)
p.add_argument("--max-turns", type=int, default=6)
p.add_argument("--max-tokens", type=int, default=24)
p.add_argument("--kill-at", type=float, default=-1)
p.add_argument("--kill-pid", type=int, default=0)
p.add_argument("--kill-index", type=int, default=-1, help="which gateway the killed pid is")
p.add_argument("--restart-at", type=float, default=-1)
p.add_argument("--restart-cmd", default="", help="shell command that starts the gateway again")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--windows", default="", help="A,B: window bounds in seconds when nothing is killed"
               " (a baseline run cut like a kill run: before A, A to B, after B)")
args = p.parse_args()

ports = [int(x) for x in args.ports.split(",")]
ready_ports = [int(x) for x in args.ready_ports.split(",")]
n = len(ports)
ready = [True] * n
gen = [0] * n  # bumped whenever a gateway leaves the rotation: clients drop their pooled connection
ready_lock = threading.Lock()
rr = [0]
results = []  # (start, end, gateway, ok, kind, prompt_tokens, cached_tokens, ttft)
lock = threading.Lock()
stop = threading.Event()
t0 = time.monotonic()
events = {}

rng0 = random.Random(args.seed)
WORDS = ["replica", "prefill", "decode", "tensor", "cache", "block", "router", "latency", "token",
         "batch", "gateway", "cluster", "region", "policy", "stream", "engine", "queue", "schema"]
systems = [f"You are the assistant of tenant {t}. " +
           " ".join(random.Random(1000 + t).choice(WORDS) for _ in range(args.system_words))
           for t in range(args.tenants)]


def pick():
    with ready_lock:
        for _ in range(n):
            g = rr[0] % n
            rr[0] += 1
            if ready[g]:
                return g
    return None


def poll_ready():
    while not stop.is_set():
        for g in range(n):
            ok = False
            try:
                c = http.client.HTTPConnection("127.0.0.1", ready_ports[g], timeout=1)
                c.request("GET", "/ready")
                ok = c.getresponse().status == 200
                c.close()
            except Exception:
                pass
            with ready_lock:
                if ready[g] and not ok:
                    gen[g] += 1
                if ready[g] != ok:
                    events.setdefault(f"gateway{g}_ready_changes", []).append(
                        [round(time.monotonic() - t0, 2), ok])
                ready[g] = ok
        time.sleep(0.1)


def client(k):
    rng = random.Random(args.seed * 1000 + k)
    conns = {}
    while not stop.is_set():
        tenant = rng.randrange(args.tenants) if rng.random() < 0.5 else rng.randrange(max(1, args.tenants // 3))
        messages = [{"role": "system", "content": systems[tenant]}]
        for turn in range(2 + rng.randrange(args.max_turns - 1)):
            if stop.is_set():
                break
            messages.append({"role": "user", "content": f"client {k} turn {turn}: " +
                             " ".join(rng.choice(WORDS) for _ in range(60))})
            g = pick()
            if g is None:
                time.sleep(0.05)
                continue
            body = json.dumps({"model": args.model, "stream": True, "max_tokens": args.max_tokens,
                               "stream_options": {"include_usage": True}, "messages": messages})
            start = time.monotonic()
            ok, kind, pt, ct, ttft, text = False, "ok", 0, 0, None, []
            try:
                c, cg = conns.get(g, (None, -1))
                if c is not None and cg != gen[g]:
                    c.close()  # opened before the gateway left the rotation
                    c = None
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", ports[g], timeout=60)
                    conns[g] = (c, gen[g])
                c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
                r = c.getresponse()
                if r.status != 200:
                    r.read()
                    kind = f"status_{r.status}"
                else:
                    done = False
                    while True:
                        line = r.readline()
                        if not line:
                            break
                        line = line.decode("utf-8", "replace").strip()
                        if not line.startswith("data: "):
                            continue
                        d = line[6:]
                        if d == "[DONE]":
                            done = True
                            break
                        ev = json.loads(d)
                        if "error" in ev:
                            kind = "error_event"
                            break
                        for ch in ev.get("choices") or []:
                            t = (ch.get("delta") or {}).get("content")
                            if t:
                                if ttft is None:
                                    ttft = time.monotonic() - start
                                text.append(t)
                        u = ev.get("usage")
                        if u:
                            pt = u.get("prompt_tokens", 0)
                            ct = ((u.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
                    r.read()  # the rest of the chunked body, so the connection can be reused
                    if kind == "ok":
                        if done:
                            ok = True
                        else:
                            kind = "truncated"
            except Exception as e:
                kind = "exception_" + type(e).__name__
                c, _ = conns.pop(g, (None, -1))
                if c is not None:
                    c.close()
                with ready_lock:
                    if ready[g]:
                        gen[g] += 1
                    ready[g] = False  # out of the rotation until /ready says otherwise
            end = time.monotonic()
            with lock:
                results.append((start - t0, end - t0, g, ok, kind, pt, ct, ttft))
            if not ok:
                break  # the conversation ends with a failure
            messages.append({"role": "assistant", "content": "".join(text)})


threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.concurrency)]
threads.append(threading.Thread(target=poll_ready, daemon=True))
for t in threads:
    t.start()
kill_time = restart_time = ready_after_restart = None
restarted = None
while time.monotonic() - t0 < args.duration:
    now = time.monotonic() - t0
    if args.kill_at >= 0 and kill_time is None and now >= args.kill_at:
        os.kill(args.kill_pid, signal.SIGKILL)
        kill_time = now
        with ready_lock:
            ready[args.kill_index] = False
            gen[args.kill_index] += 1
    if args.restart_at >= 0 and restart_time is None and now >= args.restart_at:
        restarted = subprocess.Popen(args.restart_cmd, shell=True)
        restart_time = now
    if restart_time is not None and ready_after_restart is None:
        with ready_lock:
            if ready[args.kill_index]:
                ready_after_restart = now
    time.sleep(0.01)
stop.set()
for t in threads:
    t.join(timeout=70)


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)


def window(sel):
    okr = [r for r in sel if r[3]]
    kinds = {}
    for r in sel:
        if not r[3]:
            key = f"gw{r[2]}:{r[4]}"
            kinds[key] = kinds.get(key, 0) + 1
    pt = sum(r[5] for r in okr)
    ct = sum(r[6] for r in okr)
    return {"requests": len(sel), "failed": len(sel) - len(okr), "failures": kinds,
            "hit_rate": round(ct / pt, 4) if pt else None,
            "ttft_p50_ms": pct([r[7] for r in okr if r[7] is not None], 0.5),
            "ttft_p99_ms": pct([r[7] for r in okr if r[7] is not None], 0.99),
            "per_gateway": [sum(1 for r in sel if r[2] == g) for g in range(n)]}


k = kill_time if kill_time is not None else float("inf")
ra = ready_after_restart if ready_after_restart is not None else float("inf")
if kill_time is None and args.windows:
    k, ra = (float(x) for x in args.windows.split(","))
out = {
    "warm_up_excluded_s": 10,
    "before_kill": window([r for r in results if 10 <= r[0] and r[1] < k]),
    "in_flight_at_kill": window([r for r in results if r[0] < k <= r[1]]),
    "kill_to_restart_ready": window([r for r in results if k <= r[0] < ra]),
    "after_restart_ready": window([r for r in results if r[0] >= ra]),
    "kill_at_s": kill_time,
    "restart_at_s": restart_time,
    "restart_ready_after_s": round(ready_after_restart - restart_time, 2) if ready_after_restart else None,
    "events": events,
}
print(json.dumps(out))
if restarted is not None:
    restarted.wait(timeout=1) if restarted.poll() is not None else None
