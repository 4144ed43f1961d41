#!/usr/bin/env python3
"""Slow clients against kvgate: slow-loris heads and slow bodies next to normal traffic.

For each jar (the one under test, and optionally a baseline jar in the same run):
  1. two simulated engines (`kvgate sim`) and `kvgate serve` with the listener's default timeouts;
  2. baseline: --clients closed-loop clients send short non-streaming chats for --phase-seconds;
  3. attack: --slow-heads connections send a partial request head and then one more header line
     every 5 s; --slow-bodies connections send a whole head (Content-Length 4096) and then one
     body byte every 5 s; the same normal traffic runs for --phase-seconds with every slow
     connection open, then the script waits (up to --max-wait seconds) for the gateway to close
     them;
  4. reports, per jar: when the slow connections were closed and what they were answered, the
     normal requests' p50/p99 and errors without and with the slow clients (and their ratio), and
     kvgate_listener_timeouts_total.

Usage: bench/slow-clients.py [--jar gateway/target/kvgate.jar] [--baseline-jar FILE]
                             [--slow-heads 500] [--slow-bodies 20] [--clients 8]
                             [--phase-seconds 20] [--max-wait 100] [--out FILE]
Only the Python standard library; build the jar first (./mvnw -o -B -ntp package -DskipTests).
"""

import argparse
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

MODEL = "bench-model"


def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_ports():
    """Free ports picked per run (other benchmarks may share the machine): two consecutive
    engine ports and a gateway port."""
    import random

    while True:
        base = random.randrange(21000, 29000, 4)
        if free(base) and free(base + 1) and free(base + 2) and free(base + 3):
            return base, base + 2


ENGINE_BASE_PORT, GATEWAY_PORT = pick_ports()
ADMIN = [False]  # whether the gateway under test has an admin listener


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("not up: " + url)


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class NormalTraffic:
    """Closed-loop clients, each on its own keep-alive connection."""

    def __init__(self, clients):
        self.clients = clients
        self.lat = []
        self.errors = 0
        self.lock = threading.Lock()

    def run(self, seconds):
        self.lat, self.errors = [], 0
        stop = time.time() + seconds
        body = json.dumps(
            {
                "model": MODEL,
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "hello, how are you today?"}],
            }
        )

        def client():
            conn = None
            while time.time() < stop:
                t0 = time.perf_counter()
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=30)
                    conn.request(
                        "POST",
                        "/v1/chat/completions",
                        body,
                        {"content-type": "application/json"},
                    )
                    r = conn.getresponse()
                    r.read()
                    ok = r.status == 200
                except Exception:
                    ok = False
                    if conn is not None:
                        conn.close()
                    conn = None
                dt = time.perf_counter() - t0
                with self.lock:
                    if ok:
                        self.lat.append(dt)
                    else:
                        self.errors += 1
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=client) for _ in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return list(self.lat), self.errors


class SlowClients:
    """Slow heads and slow bodies; a selector notes when and how each is closed."""

    def __init__(self, heads, bodies):
        self.socks = []
        self.kind = {}
        self.opened = {}
        self.closed = {}
        self.first = {}
        self.refused = 0
        for i in range(heads + bodies):
            kind = "head" if i < heads else "body"
            try:
                s = socket.create_connection(("127.0.0.1", GATEWAY_PORT), timeout=5)
            except OSError:
                self.refused += 1
                continue
            s.setblocking(False)
            if kind == "head":
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            else:
                s.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    b"content-type: application/json\r\ncontent-length: 4096\r\n\r\n{"
                )
            self.socks.append(s)
            self.kind[s] = kind
            self.opened[s] = time.time()
        self.stop = False
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        next_trickle = time.time() + 5
        while not self.stop and len(self.closed) < len(self.socks):
            for key, _ in sel.select(timeout=0.2):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, OSError):
                    data = b""
                if data and s not in self.first:
                    self.first[s] = data[:12].decode("latin-1")
                if not data:
                    self.closed[s] = time.time()
                    sel.unregister(s)
            if time.time() >= next_trickle:
                next_trickle += 5
                for s in self.socks:
                    if s in self.closed:
                        continue
                    try:
                        s.send(b"x-slow: 1\r\n" if self.kind[s] == "head" else b" ")
                    except OSError:
                        pass

    def open_count(self):
        return len(self.socks) - len(self.closed)

    def finish(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()

    def summary(self, kind):
        socks = [s for s in self.socks if self.kind[s] == kind]
        closed = [self.closed[s] - self.opened[s] for s in socks if s in self.closed]
        answered = {}
        for s in socks:
            status = self.first.get(s, "")[9:12] or "none"
            answered[status] = answered.get(status, 0) + 1
        return {
            "connections": len(socks),
            "closed": len(closed),
            "close_min_s": min(closed) if closed else None,
            "close_median_s": statistics.median(closed) if closed else None,
            "close_max_s": max(closed) if closed else None,
            "answered": answered,
        }


def metrics_lines(prefix):
    try:
        # An admin listener (GATEWAY_PORT + 1) where the jar has one, else the API port.
        port = GATEWAY_PORT + 1 if ADMIN[0] else GATEWAY_PORT
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except Exception as e:
        return [f"(no /metrics: {e})"]
    return [l for l in text.splitlines() if l.startswith(prefix)]


def run_jar(jar, args, work):
    global ENGINE_BASE_PORT, GATEWAY_PORT
    ENGINE_BASE_PORT, GATEWAY_PORT = pick_ports()
    procs = []
    log = open(os.path.join(work, os.path.basename(jar) + ".log"), "w")
    try:
        procs.append(
            subprocess.Popen(
                ["java", "-jar", jar, "sim", "--replicas", "2", "--base-port", str(ENGINE_BASE_PORT),
                 "--model", MODEL],
                stdout=log, stderr=subprocess.STDOUT,
            )
        )
        for i in range(2):
            wait_http(f"http://127.0.0.1:{ENGINE_BASE_PORT + i}/health")
        cfg = os.path.join(work, "gateway.yaml")
        # Builds with an admin listener serve /metrics there; older ones on the API port.
        ADMIN[0] = "--admin-port" in subprocess.run(
            ["java", "-jar", jar, "serve", "--help"], capture_output=True, text=True
        ).stdout
        with open(cfg, "w") as f:
            f.write(
                f"listener: {{host: 127.0.0.1, port: {GATEWAY_PORT}}}\n"
                + (f"admin: {{host: 127.0.0.1, port: {GATEWAY_PORT + 1}}}\n" if ADMIN[0] else "")
                + f"models:\n  - name: {MODEL}\n    policy: round-robin\n    endpoints:\n"
                + "".join(
                    f"      - url: http://127.0.0.1:{ENGINE_BASE_PORT + i}\n" for i in range(2)
                )
            )
        procs.append(
            subprocess.Popen(
                ["java", "-jar", jar, "serve", "--config", cfg], stdout=log, stderr=subprocess.STDOUT
            )
        )
        wait_http(f"http://127.0.0.1:{GATEWAY_PORT}/ready")
        traffic = NormalTraffic(args.clients)
        traffic.run(3)  # warm-up
        base_lat, base_err = traffic.run(args.phase_seconds)
        t0 = time.time()
        slow = SlowClients(args.slow_heads, args.slow_bodies)
        attack_lat, attack_err = traffic.run(args.phase_seconds)
        open_after_phase = slow.open_count()
        deadline = t0 + args.max_wait
        while slow.open_count() > 0 and time.time() < deadline:
            time.sleep(0.5)
        metrics = metrics_lines("kvgate_listener_timeouts_total") + metrics_lines(
            "kvgate_listener_connections{"
        )
        slow.finish()
        result = {
            "jar": jar,
            "baseline": {
                "requests": len(base_lat),
                "errors": base_err,
                "p50_ms": percentile(base_lat, 50) * 1000,
                "p99_ms": percentile(base_lat, 99) * 1000,
            },
            "with_slow_clients": {
                "requests": len(attack_lat),
                "errors": attack_err,
                "p50_ms": percentile(attack_lat, 50) * 1000,
                "p99_ms": percentile(attack_lat, 99) * 1000,
            },
            "slow_refused_at_connect": slow.refused,
            "slow_open_after_phase": open_after_phase,
            "slow_open_at_end": slow.open_count(),
            "waited_s": round(time.time() - t0, 1),
            "heads": slow.summary("head"),
            "bodies": slow.summary("body"),
            "metrics": metrics,
        }
        return result
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def report(results, args):
    lines = [
        f"slow heads: {args.slow_heads}, slow bodies: {args.slow_bodies}, normal clients: "
        f"{args.clients}, phase: {args.phase_seconds} s, max wait: {args.max_wait} s",
        "",
        "| jar | slow heads closed | head close time min / median / max (s) | heads answered |"
        " slow bodies closed | body close time min / median / max (s) | bodies answered |",
        "|---|---:|---|---|---:|---|---|",
    ]
    for r in results:
        h, b = r["heads"], r["bodies"]
        lines.append(
            f"| {r['jar']} | {h['closed']}/{h['connections']} | {fmt(h['close_min_s'])} / "
            f"{fmt(h['close_median_s'])} / {fmt(h['close_max_s'])} | {h['answered']} | "
            f"{b['closed']}/{b['connections']} | {fmt(b['close_min_s'])} / "
            f"{fmt(b['close_median_s'])} / {fmt(b['close_max_s'])} | {b['answered']} |"
        )
    lines += [
        "",
        "| jar | normal p50 / p99 alone (ms) | with slow clients (ms) | p99 ratio | requests alone / with |"
        " errors alone / with |",
        "|---|---|---|---:|---|---|",
    ]
    for r in results:
        a, w = r["baseline"], r["with_slow_clients"]
        lines.append(
            f"| {r['jar']} | {fmt(a['p50_ms'])} / {fmt(a['p99_ms'])} | {fmt(w['p50_ms'])} / "
            f"{fmt(w['p99_ms'])} | {w['p99_ms'] / a['p99_ms']:.2f}x | {a['requests']} / "
            f"{w['requests']} | {a['errors']} / {w['errors']} |"
        )
    lines.append("")
    for r in results:
        lines.append(f"{r['jar']}: open after the phase {r['slow_open_after_phase']}, at the end "
                     f"{r['slow_open_at_end']} (after {r['waited_s']} s); refused at connect "
                     f"{r['slow_refused_at_connect']}")
        for m in r["metrics"]:
            lines.append(f"    {m}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jar", default="gateway/target/kvgate.jar")
    p.add_argument("--baseline-jar")
    p.add_argument("--slow-heads", type=int, default=500)
    p.add_argument("--slow-bodies", type=int, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--phase-seconds", type=int, default=20)
    p.add_argument("--max-wait", type=int, default=100)
    p.add_argument("--out")
    args = p.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    work = tempfile.mkdtemp(prefix="kvgate-slow-clients.")
    results = []
    for jar in [args.baseline_jar, args.jar]:
        if jar:
            results.append(run_jar(jar, args, work))
    text = report(results, args)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    json.dump(results, open(os.path.join(work, "results.json"), "w"), indent=1, default=str)
    print(f"\n(raw results and logs in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
