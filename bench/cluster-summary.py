#!/usr/bin/env python3
"""Summarise bench/cluster-replay.sh: one gateway, several independent gateways and a cluster of
gateways over the same fleet, per workload and load.

Usage: bench/cluster-summary.py OUT_DIR

Reads OUT_DIR/<workload>[-rr]-x<load>-s<seed>/report.json (one `kvgate replay` each; its cells are
the --gateways values of one policy, or round-robin behind one gateway alone in the -rr replays) and
prints per workload and load the cells next to each other: the engine-counted hit rate, TTFT p50/p99
(simulated ms), the prefill imbalance (max / mean of the prompt tokens the engines computed), errors,
the ratios to the one-gateway cell of the same replay (per seed) for the hit rate and the TTFT p99,
and for clustered cells the cluster's propagation delay p50/p99 (wall ms, every gateway's histogram
merged) and the cluster bytes sent per gateway-routed request. Every number is a min-max spread over the seeds; a cell whose cluster
lost a member before the end is marked with '!'. Writes OUT_DIR/summary.csv (one row per cell and
seed) and OUT_DIR/summary.md (the table).
"""
import csv
import json
import os
import re
import sys
from collections import defaultdict


def num(v):
    """A number from report.json, where Jackson writes NaN as the string "NaN"."""
    if v is None:
        return None
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


def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or a != a or b != b or b == 0:
        return None
    return a / b


def gateway_order(g):
    """1 first, then independent gateways, then clusters, each by size: 1, 3, 3c."""
    clustered = g.endswith("c")
    return (clustered, int(g.rstrip("c")))


def main(out):
    rows = []
    for d in sorted(os.listdir(out)):
        m = re.fullmatch(r"(conv|mt)(-rr)?-x([0-9.]+)-s(\d+)", d)
        path = os.path.join(out, d, "report.json")
        if not m or not os.path.exists(path):
            continue
        with open(path) as f:
            report = json.load(f)
        for r in report["results"]:
            c = r.get("cluster")
            g = r.get("gateways", "1")
            rows.append(
                {
                    "workload": m.group(1),
                    "load": float(m.group(3)),
                    "seed": int(m.group(4)),
                    "policy": r["policy"],
                    "gateways": g,
                    "cell": "%s %s" % (r["policy"], g),
                    "requests": r["requests"],
                    "errors": r["errors"],
                    "hit_rate": num(r["hitRate"]),
                    "ttft_p50_ms": num(r["ttftP50Ms"]),
                    "ttft_p99_ms": num(r["ttftP99Ms"]),
                    "prefill_imbalance": num(r["prefillImbalance"]),
                    "cluster_members_at_end": c["membersAtEnd"] if c else None,
                    "cluster_propagations": c["propagations"] if c else None,
                    "propagation_p50_wall_ms": num(c["propagationP50WallMs"]) if c else None,
                    "propagation_p99_wall_ms": num(c["propagationP99WallMs"]) if c else None,
                    "cluster_bytes_per_request": num(c["sentBytesPerRequest"]) if c else None,
                    "split": bool(c) and c["membersAtEnd"] < c["gateways"],
                }
            )
    if not rows:
        sys.exit("no <workload>[-rr]-x<load>-s<seed>/report.json under " + out)

    # ratios to the one-gateway cell of the same policy, workload, load and seed
    one = {
        (r["workload"], r["load"], r["seed"], r["policy"]): r for r in rows if r["gateways"] == "1"
    }
    for r in rows:
        base = one.get((r["workload"], r["load"], r["seed"], r["policy"]))
        r["hit_rate_vs_1"] = ratio(r["hit_rate"], base["hit_rate"]) if base else None
        r["ttft_p99_vs_1"] = ratio(r["ttft_p99_ms"], base["ttft_p99_ms"]) if base else None

    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    groups = defaultdict(list)
    for row in rows:
        groups[(row["workload"], row["load"], row["policy"], row["gateways"])].append(row)
    # the policy under study first (it has several gateway cells), the round-robin baseline last
    policy_rank = defaultdict(int)
    for (_, _, p, g) in groups:
        if g != "1":
            policy_rank[p] = -1
    lines = [
        "| workload | load | cell | seeds | hit rate | hit rate vs 1 | TTFT p50 ms | TTFT p99 ms "
        "| TTFT p99 vs 1 | prefill imbalance | errors | propagation p50 / p99 wall ms "
        "| cluster bytes / request |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(
        groups,
        key=lambda k: (k[0], k[1], policy_rank[k[2]], k[2], gateway_order(k[3])),
    ):
        g = sorted(groups[key], key=lambda r: r["seed"])
        clustered = key[3].endswith("c")
        single = key[3] == "1"
        lines.append(
            "| %s | x%s | %s %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                key[0],
                fmt(key[1], 1).rstrip("0").rstrip("."),
                key[2],
                key[3],
                " !" if any(r["split"] for r in g) else "",
                ",".join(str(r["seed"]) for r in g),
                spread([r["hit_rate"] for r in g], 3),
                "" if single else spread([r["hit_rate_vs_1"] for r in g], 3),
                spread([r["ttft_p50_ms"] for r in g]),
                spread([r["ttft_p99_ms"] for r in g]),
                "" if single else spread([r["ttft_p99_vs_1"] for r in g], 2),
                spread([r["prefill_imbalance"] for r in g], 2),
                spread([r["errors"] for r in g]),
                (
                    "%s / %s"
                    % (
                        spread([r["propagation_p50_wall_ms"] for r in g], 1),
                        spread([r["propagation_p99_wall_ms"] for r in g], 1),
                    )
                    if clustered
                    else ""
                ),
                spread([r["cluster_bytes_per_request"] for r in g]) if clustered else "",
            )
        )
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(table)
    print(table)
    print(
        "Cells: POLICY N = N gateways over the same engines (1: one; N: independent; Nc: one "
        "cluster), request i sent to gateway i mod N. 'vs 1' = the cell's value over the same "
        "seed's one-gateway cell. Spreads are min-max over the seeds. TTFT in simulated ms; "
        "propagation (an index write on one gateway to its application on a peer) in wall ms. "
        "'!' = a gateway saw fewer members than the cell's gateways at the end. summary.csv has "
        "one row per cell and seed."
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
