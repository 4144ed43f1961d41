#!/usr/bin/env python3
"""Summarise bench/kv-events-replay.sh: precise against approximate routing, per workload, scenario and load.

Usage: bench/kv-events-summary.py OUT_DIR

Reads OUT_DIR/<workload>-<scenario>[-rr]-x<load>-s<seed>/report.json (one `kvgate replay` each;
cells are the index modes of cache-aware, or round-robin alone in the -rr replays) and prints per
workload, scenario, load and cell: the engine-counted hit rate (all traffic), TTFT p50/p99 of the
gateway-routed requests, the direct requests' TTFT p99, phantom hits (gateway-routed requests whose
predicted cached tokens exceeded the engine's count by a block or more, of those judged), the
gateway's index against the engines' own count at the end (largest gap on one engine), errors, and
for restart cells the requests routed to the restarted engine in the next minute, how many on a
phantom hit, the last one's time after the restart (simulated ms, and wall ms: the gateway's scrape
and event intervals are wall-clock), and its hit rate the minute before and after. Every number is a
min-max spread over the seeds. Writes OUT_DIR/summary.csv (one row per cell and seed) and
OUT_DIR/summary.md (the table).
"""
import csv
import json
import os
import re
import sys
from collections import defaultdict


def num(v):
    """A number from report.json, where Jackson writes NaN as the string "NaN"."""
    return float(v) if isinstance(v, str) else v


def fmt(v, digits=0):
    if v is None or v != v:
        return "-"
    return ("%." + str(digits) + "f") % v


def spread(values, digits=0):
    values = [num(v) for v in values]
    values = [v for v in values if v is not None and v == v]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    if fmt(lo, digits) == fmt(hi, digits):
        return fmt(lo, digits)
    return "%s-%s" % (fmt(lo, digits), fmt(hi, digits))


def main(out):
    rows = []
    for d in sorted(os.listdir(out)):
        m = re.fullmatch(r"(conv|mt)-(evict|calm|restart)(-rr)?-x([0-9.]+)-s(\d+)", d)
        path = os.path.join(out, d, "report.json")
        if not m or not os.path.exists(path):
            continue
        with open(path) as f:
            report = json.load(f)
        for r in report["results"]:
            view = r.get("indexView") or []
            x = r.get("restart")
            rows.append(
                {
                    "workload": m.group(1),
                    "scenario": m.group(2),
                    "load": float(m.group(4)),
                    "seed": int(m.group(5)),
                    "cell": "%s %s" % (r["policy"], r["indexMode"]),
                    "requests": r["requests"],
                    "errors": r["errors"],
                    "hit_rate": r["hitRate"],
                    "ttft_p50_ms": r["ttftP50Ms"],
                    "ttft_p99_ms": r["ttftP99Ms"],
                    "direct_requests": r["directRequests"],
                    "direct_ttft_p99_ms": r["directTtftP99Ms"],
                    "judged": r["judgedRequests"],
                    "phantom_hits": r["phantomHits"],
                    "index_blocks": sum(v["indexBlocks"] for v in view) if view else None,
                    "engine_blocks": sum(v["engineCachedBlocks"] for v in view) if view else None,
                    "index_max_diff": (
                        max(abs(v["indexBlocks"] - v["engineCachedBlocks"]) for v in view)
                        if view
                        else None
                    ),
                    "itl_bursts": r["itlBurstShare"],
                    "restart_routed": x["routedAfter"] if x else None,
                    "restart_phantom": x["phantomAfter"] if x else None,
                    "restart_last_phantom_ms": x["lastPhantomAfterMs"] if x else None,
                    "restart_last_phantom_wall_ms": x["lastPhantomAfterWallMs"] if x else None,
                    "restart_hit_before": x["hitRateBefore"] if x else None,
                    "restart_hit_after": x["hitRateAfter"] if x else None,
                }
            )
    if not rows:
        sys.exit("no <workload>-<scenario>-x<load>-s<seed>/report.json under " + out)
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    groups = defaultdict(list)
    for row in rows:
        groups[(row["workload"], row["scenario"], row["load"], row["cell"])].append(row)
    scenario_order = {"evict": 0, "calm": 1, "restart": 2}
    lines = [
        "| workload | scenario | load | cell | seeds | hit rate | TTFT p50 ms | TTFT p99 ms "
        "| direct TTFT p99 | phantom hits / judged | index - engine blocks (max per engine) "
        "| errors | restart: routed | on phantom | last phantom ms (wall) "
        "| hit before | hit after |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(groups, key=lambda k: (k[0], scenario_order[k[1]], k[2], k[3])):
        g = sorted(groups[key], key=lambda r: r["seed"])
        restart = g[0]["restart_routed"] is not None
        lines.append(
            "| %s | %s | x%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                key[0],
                key[1],
                fmt(key[2], 1).rstrip("0").rstrip("."),
                key[3],
                ",".join(str(r["seed"]) for r in g),
                spread([r["hit_rate"] for r in g], 3),
                spread([r["ttft_p50_ms"] for r in g]),
                spread([r["ttft_p99_ms"] for r in g]),
                spread([r["direct_ttft_p99_ms"] for r in g]),
                " ".join("%d/%d" % (r["phantom_hits"], r["judged"]) for r in g),
                spread([r["index_max_diff"] for r in g]),
                spread([r["errors"] for r in g]),
                spread([r["restart_routed"] for r in g]) if restart else "",
                spread([r["restart_phantom"] for r in g]) if restart else "",
                (
                    "%s (%s)"
                    % (
                        spread([r["restart_last_phantom_ms"] for r in g]),
                        spread([r["restart_last_phantom_wall_ms"] for r in g]),
                    )
                    if restart
                    else ""
                ),
                spread([r["restart_hit_before"] for r in g], 3) if restart else "",
                spread([r["restart_hit_after"] for r in g], 3) if restart else "",
            )
        )
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(table)
    print(table)
    print(
        "Spreads are min-max over the seeds (phantom hits per seed). Milliseconds are simulated "
        "unless marked wall. summary.csv has one row per cell and seed."
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
