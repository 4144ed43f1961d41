#!/usr/bin/env python3
"""Where a replay's lost cache hits went: placement or eviction.

Usage: bench/placement-loss.py [--list] TRACE.jsonl CAPACITY_TRACE_BLOCKS REPLAY_DIR/requests-A.csv [requests-B.csv ...]

Replays each run's placements (the CSV's endpoint per request, in send order) through one LRU
cache per replica, in the trace's 512-token blocks, with CAPACITY_TRACE_BLOCKS blocks each (600
or 3000 for bench/replay-mooncake.sh's two sizes). A request's new blocks are touched tail first,
as CacheBounds does for the pooled bound. For every request it compares three prefixes: what its
own replica held, what the best replica held, and what the fleet had ever seen. A hit lost
because another replica held more is a *placement* loss; a hit lost because no replica held it
any more is an *eviction* loss. Both are printed as shares of all prompt tokens, next to the
model's hit rate and the engines' (from the CSV), which agree to a few thousandths.

Then the engine-counted cached tokens by the time since the request's first block was last seen
(the reuse gap, in trace minutes), per run, and the spread of each replica's new blocks over
6-minute windows (coefficient of variation across replicas, averaged over the windows): a router
that spreads its misses evenly keeps every replica's LRU horizon alike. With --list, every request
that lost 2,048 or more tokens to placement, with the prefill queued ahead of it on the replica
that held its prefix and on the one it went to (requests sent there earlier whose first token
came later, counted by what the engine prefilled, as bench/tail-waits.py counts them). The horizon column is the
median time (trace minutes) since an evicted block was last touched. Mooncake-form traces only.
"""
import csv
import json
import statistics
import sys
from collections import OrderedDict, defaultdict

BLOCK = 512
GAP_BINS = [(1, "<1"), (3, "1-3"), (5, "3-5"), (7, "5-7"), (float("inf"), ">=7")]


def load(path):
    rows = []
    for r in csv.DictReader(open(path)):
        if float(r["ttft_ms"]) < 0 or int(r["prompt_tokens"]) < 0:
            continue  # failed, or no usage reported
        rows.append(dict(i=int(r["index"]), sent=float(r["sent_ms"]), ttft=float(r["ttft_ms"]), ep=r["endpoint"],
                         prompt=int(r["prompt_tokens"]), cached=int(r["cached_tokens"])))
    rows.sort(key=lambda r: r["sent"])
    return rows


def matched(cache, ids):
    k = 0
    while k < len(ids) and ids[k] in cache:
        k += 1
    return k


def queued(rows, ep, at):
    return sum(x["prompt"] - x["cached"] for x in rows if x["ep"] == ep and x["sent"] < at < x["sent"] + x["ttft"])


def analyse(trace, capacity, rows, listing=False):
    caches = defaultdict(OrderedDict)
    seen = set()
    hit = total = placement = eviction = engine = 0
    inserts = []  # (trace minutes, endpoint, new blocks)
    evicted_ages = []  # trace minutes since an evicted block was last touched: the LRU horizon
    for r in rows:
        now = r["sent"] / 60000
        rec = trace[r["i"]]
        ids, n = rec["hash_ids"], rec["input_length"]
        cap_tokens = lambda blocks: min(blocks * BLOCK, n - 1)
        own = matched(caches[r["ep"]], ids)
        holder, best = max(((e, matched(c, ids)) for e, c in caches.items()), key=lambda x: x[1], default=(None, 0))
        if best <= own:
            holder, best = r["ep"], own
        ever = 0
        while ever < len(ids) and ids[ever] in seen:
            ever += 1
        hit += cap_tokens(own)
        placement += cap_tokens(best) - cap_tokens(own)
        if listing and cap_tokens(best) - cap_tokens(own) >= 2048:
            print(f"  #{r['i']} prompt {n} | holder held {cap_tokens(best)}, queued {queued(rows, holder, r['sent'])}"
                  f" | sent where it held {cap_tokens(own)}, queued {queued(rows, r['ep'], r['sent'])}")
        eviction += max(0, cap_tokens(ever) - cap_tokens(best))
        total += n
        engine += r["cached"]
        cache, new = caches[r["ep"]], 0
        for h in reversed(ids):
            if h in cache:
                cache.move_to_end(h)
            else:
                new += 1
            cache[h] = now
            if len(cache) > capacity:
                evicted_ages.append(now - cache.popitem(last=False)[1])
        seen.update(ids)
        inserts.append((now, r["ep"], new))
    endpoints = sorted(caches)
    end = max(t for t, _, _ in inserts)
    cvs = []
    start = 2.0  # skip the first minutes, while the caches fill
    while start + 6 <= end:
        per = {e: 0 for e in endpoints}
        for t, e, new in inserts:
            if start <= t < start + 6:
                per[e] += new
        mean = statistics.mean(per.values())
        if mean > 0:
            cvs.append(statistics.pstdev(per.values()) / mean)
        start += 0.5
    return dict(model=hit / total, engine=engine / total, placement=placement / total,
                eviction=eviction / total, cv=statistics.mean(cvs) if cvs else float("nan"),
                horizon=statistics.median(evicted_ages) if evicted_ages else float("nan"))


def by_gap(trace, rows):
    last = {}
    gap = {}
    for i, rec in enumerate(trace):
        ids = rec["hash_ids"]
        t = rec["timestamp"] / 60000
        gap[i] = t - last[ids[0]] if ids and ids[0] in last else None
        if ids:
            last[ids[0]] = t
    bins = defaultdict(lambda: [0, 0])
    for r in rows:
        g = gap[r["i"]]
        label = "first" if g is None else next(name for bound, name in GAP_BINS if g < bound)
        bins[label][0] += 1
        bins[label][1] += r["cached"]
    return bins


def main():
    args = sys.argv[1:]
    listing = bool(args) and args[0] == "--list"
    if listing:
        args = args[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    trace = [json.loads(line) for line in open(args[0]) if line.strip()]
    capacity = int(args[1])
    runs = [(path, load(path)) for path in args[2:]]
    print(f"{'run':60s} {'model hit':>9s} {'engines':>8s} {'placement':>9s} {'eviction':>8s} {'inserts CV':>10s} "
          f"{'horizon min':>11s}")
    for path, rows in runs:
        a = analyse(trace, capacity, rows, listing)
        print(f"{path[-60:]:60s} {a['model']:9.4f} {a['engine']:8.4f} {a['placement']:9.4f} "
              f"{a['eviction']:8.4f} {a['cv']:10.3f} {a['horizon']:11.1f}")
    print("\nengine-cached tokens by reuse gap (trace minutes since the first block was last seen):")
    labels = ["first"] + [name for _, name in GAP_BINS]
    print(f"{'run':60s} " + " ".join(f"{l:>11s}" for l in labels))
    for path, rows in runs:
        bins = by_gap(trace, rows)
        print(f"{path[-60:]:60s} " + " ".join(f"{bins[l][1]:11d}" for l in labels))
    counts = by_gap(trace, runs[0][1])
    print(f"{'(requests per bin)':60s} " + " ".join(f"{counts[l][0]:11d}" for l in labels))


if __name__ == "__main__":
    main()
