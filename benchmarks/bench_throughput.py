"""Hops per second and memory per site of the full DRX model against lattice size.

Single thread, Li1.2Mn0.4Ti0.4O1.6F0.4 with half of its Li removed (Li0.6), default barrier
model with 0.05 eV site disorder, 300 K, ≈1e4, 1e5, 1e6 and 1e7 cation sites. Reports wall
time and CPU time per hop (CPU time is not inflated when other processes share the cores, but
still sees their pressure on the shared L3 cache), the bytes per site the engine allocates for
its own buffers (``Kmc.memory_bytes``) and the resident-memory growth when the engine is built
(the engine writes its buffers at construction, so this counts real pages).
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
import platform
import time
from pathlib import Path

import numpy as np
import polars as pl

import drxkmc

OUT = Path(__file__).parent / "results"


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(cells: int, hops: int, seed: int = 1) -> dict:
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lattice = drxkmc.Lattice(cells)
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=seed)
    model = drxkmc.BarrierModel(site_disorder_ev=0.05)
    gc.collect()
    before = rss_bytes()
    sim = drxkmc.Simulation(config, model, temperature_K=300, seed=seed)
    rss = rss_bytes() - before
    # Kmc.memory_bytes (the engine's own count); older bindings do not expose it.
    engine = getattr(sim._kmc, "memory_bytes", None)
    sim.advance(hops=min(hops, 500_000))  # warm caches and leave the initial transient
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sim.advance(hops=hops)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = lattice.n_cations
    return {
        "cells": cells,
        "cation_sites": n,
        "hops": hops,
        "wall_s": wall,
        "hops_per_s": hops / wall,
        "ns_per_hop": wall / hops * 1e9,
        "cpu_ns_per_hop": cpu / hops * 1e9,
        "engine_bytes_per_site": engine / n if engine is not None else float("nan"),
        "rss_bytes_per_site": rss / n,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="stop at 1e6 sites")
    args = parser.parse_args()
    sizes = [14, 29, 63] + ([] if args.quick else [136])  # ≈1e4, 1e5, 1e6, 1e7 cation sites
    rows = []
    for cells in sizes:
        row = measure(cells, hops=3_000_000 if cells < 100 else 5_000_000)
        rows.append(row)
        print(
            f"{row['cation_sites']:>10,} sites  {row['hops_per_s']:>11,.0f} hops/s  "
            f"{row['ns_per_hop']:6.0f} ns/hop wall  {row['cpu_ns_per_hop']:6.0f} ns/hop cpu  "
            f"{row['engine_bytes_per_site']:5.1f} B/site engine  {row['rss_bytes_per_site']:5.1f} B/site RSS  "
            f"(load {row['load_average']:.1f})",
            flush=True,
        )
    df = pl.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    df.write_csv(OUT / "throughput.csv")
    growth = df["cpu_ns_per_hop"][-1] / df["cpu_ns_per_hop"][0]
    header = (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, one thread. "
        f"Command: `python benchmarks/bench_throughput.py{' --quick' if args.quick else ''}`. "
        "Load average = other processes sharing the machine when the size ran.\n\n"
    )
    md = (
        "| cation sites | hops/s | ns/hop (wall) | ns/hop (CPU) | bytes/site (engine) | "
        "bytes/site (RSS) | load |\n|---:|---:|---:|---:|---:|---:|---:|\n"
        + "".join(
            f"| {r['cation_sites']:,} | {r['hops_per_s']:,.0f} | {r['ns_per_hop']:.0f} | "
            f"{r['cpu_ns_per_hop']:.0f} | {r['engine_bytes_per_site']:.1f} | "
            f"{r['rss_bytes_per_site']:.1f} | {r['load_average']:.1f} |\n"
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
    (OUT / "throughput.md").write_text(header + md)
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
    fig.savefig(OUT / "throughput.png", dpi=120)
    print(md)
    assert np.isfinite(growth)


if __name__ == "__main__":
    main()
