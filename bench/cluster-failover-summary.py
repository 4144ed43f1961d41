#!/usr/bin/env python3
"""Summarises bench/cluster-failover.sh results: one JSON per (mode, concurrency, seed), named
MODE-cCONC-sSEED.json in DIR. Prints a Markdown table per concurrency with the clustered runs'
windows (before the kill, kill to the restarted gateway's first /ready 200, after) against the
single gateway's whole run, with the spread over seeds as min-max.

Usage: bench/cluster-failover-summary.py DIR
"""
import glob
import json
import os
import re
import sys

d = sys.argv[1]
runs = {}
for f in sorted(glob.glob(os.path.join(d, "*-c*-s*.json"))):
    m = re.match(r"(cluster|independent|single)-c(\d+)-s(\d+)\.json", os.path.basename(f))
    if m and os.path.getsize(f) > 0:
        runs[(m.group(1), int(m.group(2)), int(m.group(3)))] = json.load(open(f))


def span(vals, fmt="{:.3f}"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if lo == hi else (fmt.format(lo) + "-" + fmt.format(hi))


for conc in sorted({k[1] for k in runs}):
    cl = [r for (m, c, s), r in sorted(runs.items()) if m == "cluster" and c == conc]
    si = [r for (m, c, s), r in sorted(runs.items()) if m == "single" and c == conc]
    ind = [r for (m, c, s), r in sorted(runs.items()) if m == "independent" and c == conc]
    print(f"\n### {conc} concurrent conversations ({len(cl)} clustered runs, {len(si)} single-gateway runs; min-max over seeds)\n")
    print("| | requests | failed | engine-counted hit rate | TTFT p50 ms | TTFT p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, rows in (("1 gateway, no cluster: 10 s to the kill time", [r["before_kill"] for r in si]),
                        ("1 gateway, no cluster: after the restart time + 5 s", [r["after_restart_ready"] for r in si]),
                        ("3 independent: before the kill", [r["before_kill"] for r in ind]),
                        ("3 independent: kill to restart ready (2 gateways)", [r["kill_to_restart_ready"] for r in ind]),
                        ("3 independent: after the restart", [r["after_restart_ready"] for r in ind]),
                        ("3 clustered: before the kill", [r["before_kill"] for r in cl]),
                        ("3 clustered: in flight at the kill", [r["in_flight_at_kill"] for r in cl]),
                        ("3 clustered: kill to restart ready (2 gateways)", [r["kill_to_restart_ready"] for r in cl]),
                        ("3 clustered: after the restart", [r["after_restart_ready"] for r in cl])):
        print(f"| {label} | {span([w['requests'] for w in rows], '{:d}')} | "
              f"{span([w['failed'] for w in rows], '{:d}')} | {span([w['hit_rate'] for w in rows])} | "
              f"{span([w['ttft_p50_ms'] for w in rows], '{:.1f}')} | {span([w['ttft_p99_ms'] for w in rows], '{:.1f}')} |")
    fails = {}
    for r in cl:
        for w in ("before_kill", "in_flight_at_kill", "kill_to_restart_ready", "after_restart_ready"):
            for k, v in r[w]["failures"].items():
                fails[f"{w}:{k}"] = fails.get(f"{w}:{k}", 0) + v
    print(f"\nfailures by window, gateway and kind (all runs): {json.dumps(fails) if fails else 'none'}")
    print(f"restart to /ready 200: {span([r['restart_ready_after_s'] for r in cl], '{:.1f}')} s; "
          f"catch-up: {', '.join(str(r.get('restarted_catch_up')) for r in cl)} in "
          f"{span([r.get('restarted_catch_up_ms') for r in cl], '{:d}')} ms "
          f"({span([r.get('restarted_deltas_replayed') for r in cl], '{:d}')} deltas replayed); "
          f"restarted index = gw-0's: {all(r['index_blocks_gw0'] == r['index_blocks_restarted_gw2'] for r in cl)}")
    print(f"propagation on gw-0 (histogram bucket bounds): p50 <= {span([r['propagation_gw0']['p50_ms_le'] for r in cl], '{:.1f}')} ms, "
          f"p99 <= {span([r['propagation_gw0']['p99_ms_le'] for r in cl], '{:.1f}')} ms; "
          f"cluster bytes sent per request by gw-0: {span([r['cluster_bytes_sent_per_request_gw0'] for r in cl], '{:.0f}')}")
