#!/usr/bin/env python3
"""Summarise bench/pd.sh: every cell against the aggregated baseline of the same replay.

Usage: bench/pd-summary.py OUT_DIR

Reads OUT_DIR/<workload>-x<load>-s<seed>/report.json (one `kvgate replay` each; its first cell, the
first --fleets layout, is the baseline) and prints, per workload, load and cell, each seed's TTFT
p50/p99, ITL p50/p99 (over all gaps between streamed tokens), the median per-request p99 gap, the
share of requests disaggregated, ITL bursts and errors, then the ratios of TTFT p99 and ITL p99 to
the baseline measured in the same replay and whether the target holds: ITL p99 <= 0.5 x and TTFT
p99 <= 1.2 x the baseline's. Writes OUT_DIR/summary.csv (one row per cell and seed) and
OUT_DIR/summary.md (the table below, seeds side by side as min-max spreads).
"""
import csv
import json
import os
import re
import sys
from collections import defaultdict

ITL_TARGET = 0.5
TTFT_TARGET = 1.2


def cell_name(r):
    if r["minUncachedTokens"] < 0:
        return r["fleet"]
    return "%s min=%d" % (r["fleet"], r["minUncachedTokens"])


def fmt(v, digits=0):
    if v is None or v != v:
        return "-"
    return ("%." + str(digits) + "f") % v


def spread(values, digits=0, suffix=""):
    values = [v for v in values if v is not None and v == v]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    if fmt(lo, digits) == fmt(hi, digits):
        return fmt(lo, digits) + suffix
    return "%s-%s%s" % (fmt(lo, digits), fmt(hi, digits), suffix)


def main(out):
    runs = []
    for d in sorted(os.listdir(out)):
        m = re.fullmatch(r"(.+)-x([0-9.]+)-s(\d+)", d)
        path = os.path.join(out, d, "report.json")
        if not m or not os.path.exists(path):
            continue
        with open(path) as f:
            report = json.load(f)
        runs.append((m.group(1), float(m.group(2)), int(m.group(3)), report))
    if not runs:
        sys.exit("no <workload>-x<load>-s<seed>/report.json under " + out)

    rows = []
    for workload, load, seed, report in runs:
        results = report["results"]
        base = results[0]
        for r in results:
            completed = r["requests"] - r["errors"]
            ttft_ratio = r["ttftP99Ms"] / base["ttftP99Ms"] if base["ttftP99Ms"] else None
            itl_ratio = r["itlP99Ms"] / base["itlP99Ms"] if base["itlP99Ms"] else None
            rows.append(
                {
                    "workload": workload,
                    "load": load,
                    "seed": seed,
                    "cell": cell_name(r),
                    "baseline": cell_name(base),
                    "requests": r["requests"],
                    "errors": r["errors"],
                    "disaggregated": (r["disaggregated"] / completed) if completed > 0 else None,
                    "hit_rate": r["hitRate"],
                    "ttft_p50_ms": r["ttftP50Ms"],
                    "ttft_p99_ms": r["ttftP99Ms"],
                    "itl_p50_ms": r["itlP50Ms"],
                    "itl_p99_ms": r["itlP99Ms"],
                    "itl_req_p99_median_ms": r["itlRequestP99MedianMs"],
                    "itl_bursts": r["itlBurstShare"],
                    "e2e_p50_ms": r["e2eP50Ms"],
                    "req_per_s": r["throughputRps"],
                    "ttft_p99_vs_base": ttft_ratio,
                    "itl_p99_vs_base": itl_ratio,
                    "target_holds": (
                        r is not base
                        and ttft_ratio is not None
                        and itl_ratio is not None
                        and itl_ratio <= ITL_TARGET
                        and ttft_ratio <= TTFT_TARGET
                        and r["errors"] == 0
                    ),
                }
            )
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    groups = defaultdict(list)
    order = []
    for row in rows:
        key = (row["workload"], row["load"], row["cell"])
        if key not in groups:
            order.append(key)
        groups[key].append(row)
    lines = [
        "| workload | load | cell | seeds | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms "
        "| ITL req-p99 ms | disaggregated | bursts | errors | TTFT p99 / agg | ITL p99 / agg "
        "| target (ITL <= %.1fx, TTFT <= %.1fx) |" % (ITL_TARGET, TTFT_TARGET),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in sorted(order, key=lambda k: (k[0], k[1], order.index(k))):
        g = sorted(groups[key], key=lambda r: r["seed"])
        first = g[0]
        is_base = first["cell"] == first["baseline"]
        held = sum(1 for r in g if r["target_holds"])
        lines.append(
            "| %s | x%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                key[0],
                fmt(key[1], 1).rstrip("0").rstrip("."),
                key[2],
                ",".join(str(r["seed"]) for r in g),
                spread([r["ttft_p50_ms"] for r in g]),
                spread([r["ttft_p99_ms"] for r in g]),
                spread([r["itl_p50_ms"] for r in g], 1),
                spread([r["itl_p99_ms"] for r in g], 1),
                spread([r["itl_req_p99_median_ms"] for r in g], 1),
                spread([r["disaggregated"] for r in g], 2),
                spread([r["itl_bursts"] for r in g], 3),
                spread([r["errors"] for r in g]),
                "1" if is_base else spread([r["ttft_p99_vs_base"] for r in g], 2, "x"),
                "1" if is_base else spread([r["itl_p99_vs_base"] for r in g], 2, "x"),
                "baseline" if is_base else "%d/%d seeds" % (held, len(g)),
            )
        )
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(table)
    print(table)
    print(
        "Spreads are min-max over the seeds; ratios against the aggregated baseline of the same "
        "replay (same seed). Milliseconds are simulated. summary.csv has one row per cell and seed."
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
