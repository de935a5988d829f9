"""Hops per second and memory per site of the full DRX model against lattice size.

Single thread, Li1.2Mn0.4Ti0.4O1.6F0.4 with half of its Li removed (Li0.6), default barrier
model with 0.05 eV site disorder, 300 K, ≈1e4, 1e5, 1e6 and 1e7 cation sites. Reports wall
time and CPU time per hop (CPU time is not inflated when other processes share the cores, but
still sees their pressure on the shared L3 cache), the bytes per site the engine allocates for
its own buffers (``Kmc.memory_bytes``) and the resident-memory growth when the engine is built
(the engine writes its buffers at construction, so this counts real pages). Each size runs
--repeats measuring runs on one engine; the table gives the best and the median, since other
tenants of a shared machine only ever slow a run down. Next to each size: the machine's
latency for one dependent load over a buffer as large as the engine's
(``examples/memory_latency.rs``), the price of each cache miss a hop cannot overlap.
Writes benchmarks/results/throughput.{csv,md,png}.

    python benchmarks/bench_throughput.py            # 1e4 … 1e7 cation sites
    python benchmarks/bench_throughput.py --quick    # 1e4 … 1e6

The Rust-only equivalent (no Python in the loop) is
``cargo run --release --example profile_hops -- CELLS HOPS``.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
from _results import machine, save

import drxkmc


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def dependent_load_ns(nbytes: int) -> float:
    """ns per dependent load over nbytes (Rust pointer chase); nan without cargo."""
    if shutil.which("cargo") is None:
        return float("nan")
    out = subprocess.run(
        ["cargo", "run", "--release", "-q", "--example", "memory_latency", "--", str(nbytes)],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"([0-9.]+) ns per dependent load", out).group(1))


def measure(cells: int, hops: int, repeats: int, seed: int = 1) -> dict:
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lattice = drxkmc.Lattice(cells)
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=seed)
    model = drxkmc.BarrierModel(site_disorder_eV=0.05)
    gc.collect()
    before = rss_bytes()
    sim = drxkmc.Simulation(config, model, temperature_K=300, seed=seed)
    rss = rss_bytes() - before
    # Kmc.memory_bytes (the engine's own count); older bindings do not expose it.
    engine = getattr(sim._kmc, "memory_bytes", None)
    sim.advance(hops=min(hops, 500_000))  # warm caches and leave the initial transient
    walls, cpus = [], []
    for _ in range(repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        sim.advance(hops=hops)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    n = lattice.n_cations
    return {
        "cells": cells,
        "cation_sites": n,
        "hops": hops,
        "repeats": repeats,
        "hops_per_s": hops / min(walls),
        "median_hops_per_s": hops / statistics.median(walls),
        "ns_per_hop": min(walls) / hops * 1e9,
        "cpu_ns_per_hop": min(cpus) / hops * 1e9,
        "median_cpu_ns_per_hop": statistics.median(cpus) / hops * 1e9,
        "engine_bytes_per_site": engine / n if engine is not None else float("nan"),
        "rss_bytes_per_site": rss / n,
        "dependent_load_ns": dependent_load_ns(engine if engine is not None else 25 * n),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="stop at 1e6 sites")
    parser.add_argument("--repeats", type=int, default=3, help="measuring runs per size")
    args = parser.parse_args()
    sizes = [14, 29, 63] + ([] if args.quick else [136])  # ≈1e4, 1e5, 1e6, 1e7 cation sites
    rows = []
    for cells in sizes:
        row = measure(cells, hops=3_000_000 if cells < 100 else 5_000_000, repeats=args.repeats)
        rows.append(row)
        print(
            f"{row['cation_sites']:>10,} sites  {row['hops_per_s']:>11,.0f} hops/s  "
            f"(median {row['median_hops_per_s']:,.0f})  {row['cpu_ns_per_hop']:6.0f} ns/hop cpu  "
            f"{row['engine_bytes_per_site']:5.1f} B/site engine  {row['rss_bytes_per_site']:5.1f} B/site RSS  "
            f"{row['dependent_load_ns']:5.0f} ns/dependent load  (load {row['load_average']:.1f})",
            flush=True,
        )
    df = pl.DataFrame(rows)
    growth = df["cpu_ns_per_hop"][-1] / df["cpu_ns_per_hop"][0]
    header = (
        f"Machine: {machine()}, one thread. "
        f"Command: `python benchmarks/bench_throughput.py{' --quick' if args.quick else ''} "
        f"--repeats {args.repeats}`: best (and median) of {args.repeats} runs per size. "
        "Dependent load = ns per pointer-chasing load over a buffer as large as the engine's "
        "(`cargo run --release --example memory_latency -- BYTES`). "
        "Load average = other processes sharing the machine when the size ran.\n\n"
    )
    md = (
        "| cation sites | hops/s (median) | ns/hop (CPU, median) | bytes/site (engine) | "
        "bytes/site (RSS) | dependent load (ns) | load |\n|---:|---:|---:|---:|---:|---:|---:|\n"
        + "".join(
            f"| {r['cation_sites']:,} | {r['hops_per_s']:,.0f} ({r['median_hops_per_s']:,.0f}) | "
            f"{r['cpu_ns_per_hop']:.0f} ({r['median_cpu_ns_per_hop']:.0f}) | "
            f"{r['engine_bytes_per_site']:.1f} | {r['rss_bytes_per_site']:.1f} | "
            f"{r['dependent_load_ns']:.0f} | {r['load_average']:.1f} |\n"
            for r in rows
        )
        + f"\nCPU cost per hop grows {growth:.2f}x from {rows[0]['cation_sites']:,} to "
        f"{rows[-1]['cation_sites']:,} sites.\n"
    )
    if df["engine_bytes_per_site"].is_nan().any():
        md += (
            "\nbytes/site (engine) is nan: this build's Python binding does not expose "
            "`Kmc.memory_bytes`; `cargo run --release --example profile_hops -- CELLS HOPS` prints it.\n"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    ax.plot(df["cation_sites"], df["hops_per_s"], "o-", label="wall time")
    ax.plot(df["cation_sites"], 1e9 / df["cpu_ns_per_hop"], "s--", label="CPU time")
    ax.axhline(1e6, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="cation sites", ylabel="hops / s (one thread)", ylim=(0, None))
    ax.legend()
    bx.plot(df["cation_sites"], df["engine_bytes_per_site"], "o-", label="engine buffers")
    bx.plot(df["cation_sites"], df["rss_bytes_per_site"], "s--", label="resident growth")
    bx.axhline(32, color="grey", lw=0.8, ls=":")
    bx.set(xscale="log", xlabel="cation sites", ylabel="bytes / cation site", ylim=(0, None))
    bx.legend()
    fig.suptitle("drxkmc full DRX model")
    save("throughput", df, header + md, fig)
    assert np.isfinite(growth)


if __name__ == "__main__":
    main()
