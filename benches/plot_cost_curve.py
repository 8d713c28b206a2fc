#!/usr/bin/env python3
"""Plots the cost curve that `cargo bench --bench scale` writes to target/cost_curve.csv:
peak resident memory and p99 request -> final report latency against concurrent
conversations, both axes logarithmic. Writes docs/cost-curve.png.

Run from the workspace root: python3 benches/plot_cost_curve.py (needs matplotlib).
"""

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source = Path(sys.argv[1] if len(sys.argv) > 1 else "target/cost_curve.csv")
target = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/cost-curve.png")
rows = list(csv.DictReader(source.open()))
conversations = [int(r["conversations"]) for r in rows]
memory = [float(r["peak_rss_mib"]) for r in rows]
p99 = [float(r["p99_ms"]) for r in rows]
p50 = [float(r["p50_ms"]) for r in rows]

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.plot(conversations, memory, marker="o")
left.set_xscale("log")
left.set_xlabel("concurrent conversations")
left.set_ylabel("peak resident memory (MiB)")
left.set_title("memory")
left.grid(True, which="both", alpha=0.3)

right.plot(conversations, p99, marker="o", label="p99")
right.plot(conversations, p50, marker="s", label="p50")
right.set_xscale("log")
right.set_yscale("log")
right.set_xlabel("concurrent conversations")
right.set_ylabel("request -> final report (ms)")
right.set_title("latency (all requests at once)")
right.legend()
right.grid(True, which="both", alpha=0.3)

fig.suptitle("openmog cost curve: SQLite store, one request per conversation, all at once")
fig.tight_layout()
fig.savefig(target, dpi=110)
print(f"wrote {target}")
