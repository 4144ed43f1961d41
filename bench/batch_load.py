#!/usr/bin/env python3
"""Load for bench/batch-lane.sh (issue 18): an interactive trace replayed open-loop through the
gateway, streamed, with client-side TTFT, next to a large batch submitted at its start. Python 3
standard library only.

Interactive: a stretch of the Mooncake conversation trace (seed k starts (k-1) x --seed-stride-s
into it), arrivals at trace time / --rate / --speed (wall seconds), each record a streamed
/v1/completions request whose prompt is its hash ids' texts (one id = 512 tokens of text a fixed
generator draws from the id, so shared ids are shared prefixes), max_tokens = the record's output
length capped at --max-output. TTFT = wall time from sending to the first chunk with text. New
requests stop at --window seconds; those sent before are awaited.

Batch (--mode lane|naive): --batch-lines chat-completion lines in groups of --group-size sharing a
--prefix-tokens system prompt, each with its own --unique-tokens user message, max_tokens
--batch-max-tokens, in a seeded shuffled order (groups interleaved, as lines collected over time).
  lane   the lines as one JSONL file: POST /v1/files (multipart, purpose=batch), POST /v1/batches,
         then GET /v1/batches/{id} every --poll-s; at the end the output file is read and checked.
  naive  the same bodies POSTed to /v1/chat/completions (not streamed) from t=0 by
         --naive-concurrency workers, in file order.
After the window the run goes on up to --tail seconds more for the batch to finish (no
interactive traffic then). Engine busy time (kvgate_sim_busy_seconds_total, simulated seconds)
is read from every engine at t=0 and at the window's end; gateway batch metrics at the window's
end and at the end. Prints one JSON object.
"""
import argparse
import http.client
import json
import os
import random
import re
import threading
import time
import urllib.request
import uuid

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True, help="gateway API port")
p.add_argument("--admin-port", type=int, required=True, help="gateway admin port (/metrics)")
p.add_argument("--engine-ports", required=True, help="comma list of the engines' ports")
p.add_argument("--model", default="bench")
p.add_argument("--mode", choices=["none", "lane", "naive"], required=True)
p.add_argument("--trace", required=True, help="Mooncake trace (JSON Lines)")
p.add_argument("--rate", type=float, default=0.5, help="multiplier of the trace's arrival rate")
p.add_argument("--speed", type=float, default=4, help="the engines' --speed (simulated / wall time)")
p.add_argument("--window", type=float, default=40, help="wall seconds of interactive arrivals")
p.add_argument("--tail", type=float, default=30, help="wall seconds more for the batch to finish")
p.add_argument("--seed", type=int, default=1)
p.add_argument("--seed-stride-s", type=float, default=900, help="trace seconds between seeds' starts")
p.add_argument("--max-output", type=int, default=64, help="cap on interactive max_tokens")
p.add_argument("--shape", default="synthetic", help="a name for the batch shape (reported)")
p.add_argument("--batch-lines", type=int, default=2000)
p.add_argument("--group-size", type=int, default=50)
p.add_argument("--prefix-tokens", type=int, default=1000)
p.add_argument("--unique-tokens", type=int, default=40)
p.add_argument("--batch-max-tokens", type=int, default=128)
p.add_argument("--naive-concurrency", type=int, default=32)
p.add_argument("--poll-s", type=float, default=0.5)
p.add_argument("--cpu-pids", default="", help="name:pid,...: processes whose CPU seconds are read")
args = p.parse_args()

GW = ("127.0.0.1", args.port)
ENGINES = [int(x) for x in args.engine_ports.split(",")]
WORDS = ["alpha", "bravo", "cargo", "delta", "ember", "fjord", "gamma", "harbor", "ivory", "jolt",
         "karma", "lumen", "mango", "nadir", "orbit", "pixel", "quartz", "radar", "sigma", "tundra"]
CHARS_PER_TOKEN = 4  # the simulated engine's tokenizer
TRACE_BLOCK = 512


def words(rng, chars):
    out, n = [], 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:chars]


# ---------------------------------------------------------------- interactive trace
_block_text = {}


def block(h):
    t = _block_text.get(h)
    if t is None:
        t = (f"[{h}] " + words(random.Random(h * 7919 + 17), TRACE_BLOCK * CHARS_PER_TOKEN))
        t = t[:TRACE_BLOCK * CHARS_PER_TOKEN]
        _block_text[h] = t
    return t


def load_trace():
    start_ms = (args.seed - 1) * args.seed_stride_s * 1000
    span_ms = args.window * args.speed * args.rate * 1000
    recs = []
    with open(args.trace) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            ts = r["timestamp"]
            if ts < start_ms:
                continue
            if ts >= start_ms + span_ms:
                break
            recs.append(r)
    out = []
    for r in recs:
        total = r["input_length"] * CHARS_PER_TOKEN
        prompt = "".join(block(h) for h in r["hash_ids"])[:total]
        at = (r["timestamp"] - start_ms) / 1000 / args.rate / args.speed  # wall seconds
        body = json.dumps({"model": args.model, "prompt": prompt, "stream": True,
                           "max_tokens": max(1, min(args.max_output, r["output_length"])),
                           "ignore_eos": True,
                           "stream_options": {"include_usage": True}}).encode()
        out.append((at, body, r["input_length"]))
    return out


interactive = load_trace()

# ---------------------------------------------------------------- batch lines
brng = random.Random(1000 + args.seed)
groups = (args.batch_lines + args.group_size - 1) // args.group_size
prefixes = [f"Task group {g} ({args.shape}). Read the shared material, then answer the request. " +
            words(random.Random(5000 + 131 * args.seed + g), args.prefix_tokens * CHARS_PER_TOKEN)
            for g in range(groups)]
lines = []
if args.mode != "none":
    for i in range(args.batch_lines):
        g = i // args.group_size
        user = f"Request {i}: " + words(brng, args.unique_tokens * CHARS_PER_TOKEN)
        body = {"model": args.model, "max_tokens": args.batch_max_tokens,
                "messages": [{"role": "system", "content": prefixes[g]},
                             {"role": "user", "content": user}]}
        lines.append({"custom_id": f"{args.shape}-{i}", "method": "POST",
                      "url": "/v1/chat/completions", "body": body})
    brng.shuffle(lines)

# ---------------------------------------------------------------- metrics


def get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def metric_sum(text, name, label=None):
    tot = 0.0
    found = False
    for m in re.finditer("^" + re.escape(name) + r"(\{[^}]*\})?\s+(\S+)", text, re.M):
        if label and label not in (m.group(1) or ""):
            continue
        tot += float(m.group(2))
        found = True
    return tot if found else None


def cpu_snapshot():
    """CPU seconds (user + system) of --cpu-pids and of this process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for item in filter(None, args.cpu_pids.split(",")):
        name, pid = item.split(":")
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            out[name] = round((int(f[11]) + int(f[12])) / tick, 2)
        except Exception:
            out[name] = None
    t = os.times()
    out["load_generator"] = round(t.user + t.system, 2)
    try:  # the whole machine: every core's non-idle time (other work on the machine shows here)
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        out["machine"] = round((sum(f) - f[3] - f[4]) / tick, 2)
    except Exception:
        out["machine"] = None
    return out


def engine_snapshot():
    out = []
    for port in ENGINES:
        try:
            _, b = get(port, "/metrics")
            t = b.decode()
            out.append({k: metric_sum(t, n) for k, n in [
                ("busy_s", "kvgate_sim_busy_seconds_total"),
                ("prompt_tokens", "vllm:prompt_tokens_total"),
                ("cached_tokens", "vllm:prefix_cache_hits_total"),
                ("requests_finished", "vllm:request_success_total"),
                ("prefill_computed", "kvgate_sim_prefill_tokens_computed_total")]})
        except Exception as e:
            out.append({"error": repr(e)})
    return out


def gateway_snapshot():
    try:
        _, b = get(args.admin_port, "/metrics")
    except Exception as e:
        return {"error": repr(e)}
    t = b.decode()
    s = {
        "batch_preemptions": metric_sum(t, "kvgate_batch_preemptions_total"),
        "batch_deferred": metric_sum(t, "kvgate_batch_deferred_total"),
        "batch_queued": metric_sum(t, "kvgate_batch_lines", 'state="queued"'),
        "batch_running": metric_sum(t, "kvgate_batch_lines", 'state="running"'),
        "batch_retries": metric_sum(t, "kvgate_batch_retries_total"),
    }
    for o in ["completed", "failed", "expired", "cancelled"]:
        s["batch_finished_" + o] = metric_sum(t, "kvgate_batch_lines_finished_total", f'outcome="{o}"')
    for br in ["true", "false"]:
        s[f"gw_interactive_ttft_count_batch_{br}"] = metric_sum(
            t, "kvgate_interactive_ttft_seconds_count", f'batch_running="{br}"')
        s[f"gw_interactive_ttft_sum_s_batch_{br}"] = metric_sum(
            t, "kvgate_interactive_ttft_seconds_sum", f'batch_running="{br}"')
    return s


# ---------------------------------------------------------------- interactive requests
results = []  # (index, send_t, ok, kind, ttft_s, prompt_tokens, cached_tokens)
rlock = threading.Lock()


def send_interactive(i, body, plen, t0):
    start = time.monotonic()
    ok, kind, ttft, cached = False, "ok", None, None
    try:
        c = http.client.HTTPConnection(*GW, timeout=300)
        c.request("POST", "/v1/completions", body, {"content-type": "application/json"})
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
                if not line.startswith(b"data: "):
                    continue
                d = line[6:].strip()
                if d == b"[DONE]":
                    done = True
                    break
                if ttft is None or b'"usage"' in d:
                    ev = json.loads(d)
                    if "error" in ev:
                        kind = "error_event"
                        break
                    if ttft is None and any(ch.get("text") for ch in ev.get("choices") or []):
                        ttft = time.monotonic() - start
                    u = ev.get("usage")
                    if u:
                        cached = ((u.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0
            ok = done and kind == "ok" and ttft is not None
            if not ok and kind == "ok":
                kind = "truncated"
        c.close()
    except Exception as e:
        kind = "exception_" + type(e).__name__
    with rlock:
        results.append((i, round(start - t0, 4), ok, kind, ttft, plen, cached))


# ---------------------------------------------------------------- batch submission
batch = {"shape": args.shape, "lines": len(lines), "group_size": args.group_size,
         "prefix_tokens": args.prefix_tokens, "unique_tokens": args.unique_tokens,
         "max_tokens": args.batch_max_tokens}
batch_done = threading.Event()
stop_batch = threading.Event()
progress = []  # (t, completed, failed, status)


def api(method, path, body=None, headers=None, timeout=120):
    req = urllib.request.Request(f"http://{GW[0]}:{GW[1]}{path}", data=body, method=method,
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def run_lane(t0, payload):
    try:
        boundary = "kvgate" + uuid.uuid4().hex
        mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
              f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{args.shape}.jsonl\"\r\n"
              f"Content-Type: application/jsonl\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        f = api("POST", "/v1/files", mp, {"content-type": f"multipart/form-data; boundary={boundary}"})
        batch["file_id"] = f.get("id")
        batch["file_bytes"] = f.get("bytes")
        batch["uploaded_s"] = round(time.monotonic() - t0, 3)
        b = api("POST", "/v1/batches", json.dumps({
            "input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h",
            "metadata": {"bench": "batch-lane"}}).encode(), {"content-type": "application/json"})
        batch["id"] = b["id"]
        batch["created_s"] = round(time.monotonic() - t0, 3)
        last = None
        while not stop_batch.is_set():
            b = api("GET", f"/v1/batches/{batch['id']}")
            now = time.monotonic() - t0
            rc = b.get("request_counts") or {}
            last = b
            progress.append((round(now, 3), rc.get("completed", 0), rc.get("failed", 0), b.get("status")))
            if b.get("status") == "in_progress" and "in_progress_s" not in batch:
                batch["in_progress_s"] = round(now, 3)
            if b.get("status") in ("completed", "failed", "expired", "cancelled"):
                batch["status"] = b["status"]
                if b["status"] == "completed":
                    batch["completed_s"] = round(now, 3)
                break
            stop_batch.wait(args.poll_s)
        if last is not None:
            batch["final"] = {k: last.get(k) for k in ["status", "request_counts", "output_file_id",
                                                       "error_file_id", "created_at", "in_progress_at",
                                                       "completed_at", "errors"]}
        if batch.get("status") == "completed" and last.get("output_file_id"):
            req = urllib.request.Request(
                f"http://{GW[0]}:{GW[1]}/v1/files/{last['output_file_id']}/content")
            with urllib.request.urlopen(req, timeout=120) as r:
                out = [json.loads(x) for x in r.read().splitlines() if x.strip()]
            ids = {o.get("custom_id") for o in out}
            ok200 = sum(1 for o in out if (o.get("response") or {}).get("status_code") == 200)
            batch["output_lines"] = len(out)
            batch["output_ok_200"] = ok200
            batch["output_all_ids"] = ids == {l["custom_id"] for l in lines}
    except Exception as e:
        batch["error"] = repr(e)
    finally:
        batch_done.set()


def run_naive(t0):
    it = iter(range(len(lines)))
    ilock = threading.Lock()
    counts = {"completed": 0, "failed": 0}
    kinds = {}

    def worker():
        c = None
        while not stop_batch.is_set():
            with ilock:
                i = next(it, None)
            if i is None:
                return
            body = json.dumps(lines[i]["body"]).encode()
            ok = False
            try:
                if c is None:
                    c = http.client.HTTPConnection(*GW, timeout=600)
                c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
                r = c.getresponse()
                r.read()
                ok = r.status == 200
                kind = f"status_{r.status}"
            except Exception as e:
                kind = "exception_" + type(e).__name__
                if c is not None:
                    c.close()
                c = None
            with ilock:
                counts["completed" if ok else "failed"] += 1
                if not ok:
                    kinds[kind] = kinds.get(kind, 0) + 1

    ws = [threading.Thread(target=worker, daemon=True) for _ in range(args.naive_concurrency)]
    for w in ws:
        w.start()

    def poller():
        while not batch_done.is_set():
            with ilock:
                progress.append((round(time.monotonic() - t0, 3), counts["completed"], counts["failed"], None))
            batch_done.wait(args.poll_s)

    threading.Thread(target=poller, daemon=True).start()
    for w in ws:
        w.join()
    now = time.monotonic() - t0
    with ilock:
        progress.append((round(now, 3), counts["completed"], counts["failed"], None))
        if counts["completed"] + counts["failed"] == len(lines):
            batch["status"] = "completed" if counts["failed"] == 0 else "completed_with_failures"
            batch["completed_s"] = round(now, 3)
        batch["naive_failures"] = kinds
        batch["final"] = {"request_counts": dict(counts, total=len(lines))}
    batch_done.set()


# ---------------------------------------------------------------- the run
payload = "".join(json.dumps(l) + "\n" for l in lines).encode() if args.mode == "lane" else b""
eng0 = engine_snapshot()
cpu0 = cpu_snapshot()
t0 = time.monotonic()
if args.mode == "lane":
    threading.Thread(target=run_lane, args=(t0, payload), daemon=True).start()
elif args.mode == "naive":
    threading.Thread(target=run_naive, args=(t0,), daemon=True).start()
else:
    batch_done.set()
threads = []
for i, (at, body, plen) in enumerate(interactive):
    d = t0 + at - time.monotonic()
    if d > 0:
        time.sleep(d)
    th = threading.Thread(target=send_interactive, args=(i, body, plen, t0), daemon=True)
    th.start()
    threads.append(th)
d = t0 + args.window - time.monotonic()
if d > 0:
    time.sleep(d)
t_window = time.monotonic() - t0
eng1 = engine_snapshot()
cpu1 = cpu_snapshot()
gw1 = gateway_snapshot()
done_at_window = progress[-1][1] if progress else 0
for th in threads:
    th.join(timeout=max(1.0, t0 + args.window + args.tail - time.monotonic()))
batch_done.wait(timeout=max(0.0, t0 + args.window + args.tail - time.monotonic()))
stop_batch.set()
batch_done.wait(timeout=60)
t_end = time.monotonic() - t0
eng2 = engine_snapshot()
gw2 = gateway_snapshot()

with rlock:
    res = sorted(results)
ttfts = sorted(r[4] for r in res if r[2])


def q(xs, p):
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(p * len(xs)))]


fails = {}
for r in res:
    if not r[2]:
        fails[r[3]] = fails.get(r[3], 0) + 1
if lines:
    batch["completed_by_window"] = done_at_window
    last = progress[-1] if progress else (t_end, 0, 0, None)
    batch["completed_by_end"] = last[1]
    batch["failed_by_end"] = last[2]
    # lines/s while the interactive trace ran, and over the whole run
    batch["lines_per_s_window"] = round(done_at_window / args.window, 2)
    span = batch.get("completed_s", t_end)
    batch["lines_per_s"] = round(last[1] / span, 2) if span else None
    batch["progress"] = progress[::max(1, len(progress) // 120)]
out = {
    "mode": args.mode, "shape": args.shape if args.mode != "none" else None, "rate": args.rate,
    "seed": args.seed, "speed": args.speed, "window_s": args.window, "tail_s": args.tail,
    "window_measured_s": round(t_window, 3), "end_s": round(t_end, 3),
    "interactive": {
        "sent": len(res), "planned": len(interactive), "ok": len(ttfts), "failures": fails,
        "ttft_p50_ms": round(q(ttfts, 0.5) * 1000, 1) if ttfts else None,
        "ttft_p90_ms": round(q(ttfts, 0.9) * 1000, 1) if ttfts else None,
        "ttft_p99_ms": round(q(ttfts, 0.99) * 1000, 1) if ttfts else None,
        "ttft_mean_ms": round(sum(ttfts) / len(ttfts) * 1000, 1) if ttfts else None,
        "mean_prompt_tokens": round(sum(r[5] for r in res) / len(res)) if res else None,
        # cached / prompt tokens of the interactive requests, as the engines reported them
        "hit_rate": round(sum(r[6] or 0 for r in res) / max(1, sum(r[5] for r in res if r[6] is not None)), 4),
        # per request: index, send time (s), ttft (ms) or null
        "requests": [[r[0], r[1], round(r[4] * 1000, 1) if r[2] else None] for r in res],
    },
    "batch": batch if lines else None,
    "engines_at_start": eng0, "engines_at_window": eng1, "engines_at_end": eng2,
    "gateway_at_window": gw1, "gateway_at_end": gw2,
    # CPU seconds used during the interactive window, per process (the machine's cores are shared)
    "cpu_s_window": {k: round(cpu1[k] - cpu0[k], 2) if cpu1.get(k) is not None and cpu0.get(k) is not None
                     else None for k in cpu0},
}
print(json.dumps(out))
