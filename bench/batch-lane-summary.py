#!/usr/bin/env python3
"""Tables of bench/batch-lane.sh's cells (one JSON per cell in DIR): per load and batch shape, the
interactive TTFT of each mode against the none cell of the same load and seed (ratios per seed,
min-max over seeds), the batch's progress and completion, and the share of the fleet's idle
capacity the batch used.

Share of idle capacity: engine busy time (kvgate_sim_busy_seconds_total, simulated seconds with at
least one request waiting or running) summed over the engines over the interactive window;
capacity = engines x window x speed; share = (busy_mode - busy_none) / (capacity - busy_none),
busy_none from the none cell of the same load and seed (the same interactive arrivals).

Usage: bench/batch-lane-summary.py DIR
"""
import glob
import json
import os
import sys

d = sys.argv[1]
cells = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "*.json")))]
if not cells:
    sys.exit(f"no cells in {d}")


def busy(c, at="engines_at_window"):
    s0 = sum(e.get("busy_s") or 0 for e in c["engines_at_start"])
    s1 = sum(e.get("busy_s") or 0 for e in c[at])
    return s1 - s0


def capacity(c):
    return len(c["engines_at_start"]) * c["window_s"] * c["speed"]


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None


def rng(vals, fmt="{:,.0f}", sep="–"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"
    lo, hi = min(vals), max(vals)
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else a + sep + b


def ratio(a, b):
    return a / b if a is not None and b else None


loads = []
for c in cells:
    if c["load"] not in [l for l, _ in loads]:
        loads.append((c["load"], c["rate"]))
loads.sort(key=lambda lr: lr[1])
none = {(c["load"], c["seed"]): c for c in cells if c["mode"] == "none"}
shapes = []
for c in cells:
    if c["shape"] and c["shape"] not in shapes:
        shapes.append(c["shape"])
seeds = sorted({c["seed"] for c in cells})
c0 = cells[0]
print(f"Cells: {len(cells)}; seeds {', '.join(map(str, seeds))}; speed {c0['speed']}, "
      f"window {c0['window_s']:g} s (wall), tail up to {c0['tail_s']:g} s.\n")

print("| load | mode, batch | interactive sent | TTFT p50 ms | p50 vs none | TTFT p99 ms | p99 vs none "
      "| p50 / p99 vs none while the batch ran | fleet busy in window | batch lines done in window "
      "| batch done at s | lines/s | idle capacity used | preemptions | deferrals | failed "
      "| CPU cores: gateway / engines / load / machine |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for load, rate in loads:
    rows = [("none", None), ("repeat", None)] + [(m, s) for s in shapes for m in ("lane", "naive")]
    for mode, shape in rows:
        cs = [c for c in cells if c["load"] == load and c["mode"] == mode and c["shape"] == shape]
        if not cs:
            continue
        p50, p99, r50, r99, rdur, rdur50, bf, share, done_w, done_at, lps, pre, dfr = ([] for _ in range(13))
        sent, failed = [], []
        lines_total = None
        for c in cs:
            i = c["interactive"]
            base = none.get((load, c["seed"]))
            p50.append(i["ttft_p50_ms"])
            p99.append(i["ttft_p99_ms"])
            sent.append(i["sent"])
            failed.append(sum(i["failures"].values()) + ((c["batch"] or {}).get("failed_by_end") or 0))
            bf.append(busy(c) / capacity(c))
            if base is not None and mode != "none":
                bi = base["interactive"]
                r50.append(ratio(i["ttft_p50_ms"], bi["ttft_p50_ms"]))
                r99.append(ratio(i["ttft_p99_ms"], bi["ttft_p99_ms"]))
                bn = busy(base)
                share.append((busy(c) - bn) / (capacity(base) - bn))
                # the requests sent while the batch ran, against the same requests without it
                end = (c["batch"] or {}).get("completed_s") or c["end_s"]
                mine = {r[0]: r[2] for r in i["requests"] if r[1] < end and r[2] is not None}
                theirs = {r[0]: r[2] for r in bi["requests"] if r[2] is not None}
                common = [k for k in mine if k in theirs]
                if common and end < c["window_s"]:
                    rdur50.append(ratio(q([mine[k] for k in common], 0.5), q([theirs[k] for k in common], 0.5)))
                    rdur.append(ratio(q([mine[k] for k in common], 0.99), q([theirs[k] for k in common], 0.99)))
                else:
                    rdur50.append(r50[-1])
                    rdur.append(r99[-1])
            b = c["batch"]
            if b:
                lines_total = b["lines"]
                done_w.append(b.get("completed_by_window"))
                done_at.append(b.get("completed_s"))
                lps.append(b.get("lines_per_s"))
                g = c.get("gateway_at_end") or {}
                if mode == "lane":
                    pre.append(g.get("batch_preemptions"))
                    dfr.append(g.get("batch_deferred"))
        label = {"none": "none (no batch)", "repeat": "none again (noise)"}.get(mode, f"{mode}, {shape}")
        cpu = lambda k: [(c.get("cpu_s_window") or {}).get(k) for c in cs]
        cores = [f"{rng([x / c['window_s'] if x is not None else None for x, c in zip(cpu(k), cs)], '{:.2f}')}"
                 for k in ("gateway", "engines", "load_generator", "machine")]
        not_done = sum(1 for x in done_at if x is None)
        if lines_total:
            done_cell = rng(done_at, "{:,.1f}")
            if not_done:
                ends = [c["batch"].get("completed_by_end") for c in cs if c["batch"].get("completed_s") is None]
                done_cell = (done_cell + "; " if not_done < len(cs) else "") + \
                    f"not done in {not_done} (done {rng(ends)} of {lines_total:,})"
            bcols = [f"{rng(done_w)} of {lines_total:,}", done_cell, rng(lps, "{:,.1f}"),
                     rng(share, "{:.2f}"), rng(pre) if pre else "", rng(dfr) if dfr else ""]
        else:
            bcols = ["", "", "", rng(share, "{:.2f}") if mode == "repeat" else "", "", ""]
        print(f"| {load} ({rate:g}×) | {label} | {rng(sent)} | {rng(p50)} | {rng(r50, '{:.2f}')} | {rng(p99)} "
              f"| {rng(r99, '{:.2f}')} | {rng(rdur50, '{:.2f}') + ' / ' + rng(rdur, '{:.2f}') if lines_total else ''} | {rng(bf, '{:.2f}')} | "
              + " | ".join(bcols) + f" | {rng(failed)} | {' / '.join(cores)} |")

print("\nPer cell (seed: p50 / p99 ms, ratio to none; batch done in window / completion s / lines/s; share):")
for c in cells:
    i = c["interactive"]
    base = none.get((c["load"], c["seed"]))
    s = f"- {c['load']} s{c['seed']} {c['mode']}{'-' + c['shape'] if c['shape'] else ''}: " \
        f"{i['ttft_p50_ms']} / {i['ttft_p99_ms']} ms (n={i['ok']}/{i['sent']})"
    if base and c["mode"] != "none":
        bi = base["interactive"]
        s += f", ×{ratio(i['ttft_p50_ms'], bi['ttft_p50_ms']):.3f} / ×{ratio(i['ttft_p99_ms'], bi['ttft_p99_ms']):.3f}"
        bn = busy(base)
        s += f"; share {(busy(c) - bn) / (capacity(base) - bn):.3f}"
    b = c["batch"]
    if b:
        g = c.get("gateway_at_end") or {}
        s += f"; batch {b.get('completed_by_window')} in window, done {b.get('completed_s')} s, " \
             f"{b.get('lines_per_s')} lines/s, end {b.get('completed_by_end')}/{b['lines']}"
        if c["mode"] == "lane":
            s += f", preempted {g.get('batch_preemptions')}, deferred {g.get('batch_deferred')}" \
                 f", uploaded {b.get('uploaded_s')} s, output ok {b.get('output_ok_200')}"
            if b.get("error"):
                s += f", error {b['error']}"
    s += f"; busy {busy(c) / capacity(c):.2f}"
    print(s)
