#!/usr/bin/env python3
"""Summarises a playground CSV (--csv) as one Markdown table: time per operation relative to
glibc for every workload and allocator (median of paired runs; below 1 is faster).

Usage: python3 scripts/bench-summary.py docs/bench-quick.csv
"""
import csv
import sys

LOCAL = "allocgator local"  # allocgator::Arena / Pool / SyncPool share one column

rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    if r["allocator"].startswith("allocgator::"):
        r["allocator"] = LOCAL
workloads = list(dict.fromkeys(r["workload"] for r in rows))
allocs = list(dict.fromkeys(r["allocator"] for r in rows))
table = {(r["workload"], r["allocator"]): r for r in rows}

print("| workload | " + " | ".join(allocs) + " |")
print("| :--- | " + " | ".join("---:" for _ in allocs) + " |")
for w in workloads:
    cells = []
    for a in allocs:
        r = table.get((w, a))
        if r is None or r["status"] != "ok" or not r["vs_glibc"]:
            cells.append("–" if r is None else "n/a")
            continue
        v = float(r["vs_glibc"])
        best = min(
            float(table[(w, b)]["vs_glibc"])
            for b in allocs
            if (w, b) in table and table[(w, b)]["status"] == "ok" and table[(w, b)]["vs_glibc"]
        )
        cell = f"{v:.2f}"
        cells.append(f"**{cell}**" if v == best else cell)
    print(f"| {w} | " + " | ".join(cells) + " |")
