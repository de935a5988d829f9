"""Hops per second and memory per site of the full DRX model against lattice size.

Single thread, Li1.2Mn0.4Ti0.4O1.6F0.4 with half of its Li removed (Li0.6), default barrier
model with 0.05 eV site disorder, 300 K. Writes benchmarks/results/throughput.{csv,md,png}.

    python benchmarks/bench_throughput.py            # 1e4 … 1e7 cation sites
    python benchmarks/bench_throughput.py --quick    # 1e4 … 1e6
"""

from __future__ import annotations

import argparse
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


def measure(cells: int, hops: int, seed: int = 1) -> dict:
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lattice = drxkmc.Lattice(cells)
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=seed)
    model = drxkmc.BarrierModel(site_disorder_ev=0.05)
    before = rss_bytes()
    sim = drxkmc.Simulation(config, model, temperature_K=300, seed=seed)
    engine_bytes = rss_bytes() - before
    sim.advance(hops=min(hops, 200_000))  # warm caches and leave the initial transient
    start = time.perf_counter()
    sim.advance(hops=hops)
    wall = time.perf_counter() - start
    return {
        "cation_sites": lattice.n_cations,
        "hops": hops,
        "wall_s": wall,
        "hops_per_s": hops / wall,
        "ns_per_hop": wall / hops * 1e9,
        "bytes_per_site": engine_bytes / lattice.n_cations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [14, 29, 63] + ([] if args.quick else [136])  # ≈1e4, 1e5, 1e6, 1e7 cation sites
    rows = []
    for cells in sizes:
        hops = 3_000_000 if cells < 100 else 5_000_000
        row = measure(cells, hops)
        rows.append(row)
        print(
            f"{row['cation_sites']:>10,} sites  {row['hops_per_s']:>12,.0f} hops/s  "
            f"{row['ns_per_hop']:7.0f} ns/hop  {row['bytes_per_site']:6.1f} B/site",
            flush=True,
        )
    df = pl.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    df.write_csv(OUT / "throughput.csv")
    header = f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, single thread\n\n"
    md = "| cation sites | hops/s | ns/hop | bytes/site |\n|---:|---:|---:|---:|\n" + "".join(
        f"| {r['cation_sites']:,} | {r['hops_per_s']:,.0f} | {r['ns_per_hop']:.0f} | "
        f"{r['bytes_per_site']:.1f} |\n"
        for r in rows
    )
    (OUT / "throughput.md").write_text(header + md)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    ax.plot(df["cation_sites"], df["hops_per_s"], "o-")
    ax.set_xscale("log")
    ax.set_xlabel("cation sites")
    ax.set_ylabel("hops / s (one thread)")
    ax.set_ylim(0, None)
    ax.set_title("drxkmc full DRX model throughput")
    fig.savefig(OUT / "throughput.png", dpi=120)
    growth = df["ns_per_hop"][-1] / df["ns_per_hop"][0]
    print(f"cost per hop grows {growth:.2f}x from {rows[0]['cation_sites']:,} to "
          f"{rows[-1]['cation_sites']:,} sites")
    print(md)
    assert np.isfinite(growth)


if __name__ == "__main__":
    main()
