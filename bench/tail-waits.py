#!/usr/bin/env python3
"""Which requests set a replay's TTFT tail, and what they waited behind.

Usage: bench/tail-waits.py TRACE.jsonl REPLAY_DIR/requests-POLICY.csv [QUANTILE]

For each request at or above the quantile (default 0.99) of TTFT, prints its prompt and the
tokens the engine reported cached, then the prefill queued ahead of it on its engine when it was
sent (requests sent earlier to the same engine whose first token came later, counted by what the
engine actually prefilled), the shortest such queue on any engine at that moment, and what the
gateway predicted for the queue ahead (its x-kvgate-predicted-cached-tokens, the CSV's last
column; for policies that predict nothing, what a prefix index that never forgets would have
predicted). A large gap between "queued" and "predicted" means the gateway believed those prompts
cached and the engine had evicted them. Mooncake-form traces only (hash_ids); CSV rows are indexed
by trace line.
"""
import csv
import json
import sys


def main():
    trace = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    q = float(sys.argv[3]) if len(sys.argv) > 3 else 0.99
    reqs = []
    for r in csv.DictReader(open(sys.argv[2])):
        if float(r["ttft_ms"]) < 0 or float(r["e2e_ms"]) < 0 or int(r["prompt_tokens"]) < 0:
            continue  # failed, or no usage reported
        reqs.append(dict(i=int(r["index"]), sent=float(r["sent_ms"]), ttft=float(r["ttft_ms"]), ep=r["endpoint"],
                         prompt=int(r["prompt_tokens"]), cached=int(r["cached_tokens"]),
                         gateway=int(r.get("predicted_cached_tokens") or -1)))
    reqs.sort(key=lambda r: r["sent"])
    held, predicted = {}, {}
    for r in reqs:
        ids = trace[r["i"]]["hash_ids"]
        h = held.setdefault(r["ep"], set())
        k = 0
        while k < len(ids) and ids[k] in h:
            k += 1
        predicted[r["i"]] = r["gateway"] if r["gateway"] >= 0 else min(r["prompt"], k * 512)
        h.update(ids)
    endpoints = sorted(held)
    times = sorted(r["ttft"] for r in reqs)
    threshold = times[min(len(times) - 1, int(q * len(times)))]

    def ahead(ep, at):
        return [x for x in reqs if x["ep"] == ep and x["sent"] < at < x["sent"] + x["ttft"]]

    tail = [r for r in reqs if r["ttft"] >= threshold]
    print(f"TTFT p{q * 100:g} = {threshold:.0f} ms: {len(tail)} requests")
    print(f"{'ttft_ms':>8} {'prompt':>7} {'cached':>7} {'queued':>8} {'min_queued':>10} {'predicted':>9}  endpoint")
    behind = 0
    misled = 0
    for r in tail:
        mine = ahead(r["ep"], r["sent"])
        queued = sum(x["prompt"] - x["cached"] for x in mine)
        guess = sum(x["prompt"] - predicted[x["i"]] for x in mine)
        least = min(sum(x["prompt"] - x["cached"] for x in ahead(e, r["sent"])) for e in endpoints)
        behind += queued - least > 4000
        misled += queued - least > 4000 and queued - guess > 4000
        print(f"{r['ttft']:8.0f} {r['prompt']:7d} {r['cached']:7d} {queued:8d} {least:10d} {guess:9d}  {r['ep']}")
    print(f"{behind} of {len(tail)} waited more than 4,000 tokens of prefill longer than on the least-queued engine;"
          f" {misled} of them behind more than 4,000 tokens the gateway predicted cached")


if __name__ == "__main__":
    main()
