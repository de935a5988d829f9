"""Speed-up of independent replicas run side by side (``drxkmc.replicas.run_replicas``).

The same replicas (same seeds, hence identical results) are run once on one thread and once
on one thread per core; the speed-up is the ratio of wall times. The core releases the GIL
while it hops, so the target on 2 cores is ≥ 1.8x. Writes benchmarks/results/replicas.{csv,md}.

    python benchmarks/bench_replicas.py [--cells 20] [--hops 3000000]
"""

from __future__ import annotations

import argparse
import os
import time

import polars as pl
from _results import machine, save
from polars.testing import assert_frame_equal

import drxkmc
from drxkmc.replicas import run_replicas


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=20, help="conventional cells per side")
    parser.add_argument("--hops", type=int, default=3_000_000, help="measured hops per replica")
    parser.add_argument("--repeats", type=int, default=3, help="timings per setting (best kept)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lattice = drxkmc.Lattice(args.cells)
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=1)
    model = drxkmc.BarrierModel(site_disorder_eV=0.05)
    seeds = list(range(1, cores + 1))
    run = {"hops": args.hops, "warmup_hops": 200_000, "blocks": 5}

    def timed(workers: int) -> tuple[float, pl.DataFrame]:
        best, frame = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            frame = run_replicas(
                config, model, temperature_K=300, seeds=seeds, workers=workers, **run
            )
            best = min(best, time.perf_counter() - start)
        return best, frame

    serial, f1 = timed(1)
    parallel, f2 = timed(cores)
    assert_frame_equal(f1, f2)  # threads change the speed, never the numbers
    hops = int(f1.filter(pl.col("replica") == "mean")["hops"][0])
    row = {
        "cation_sites": lattice.n_cations,
        "replicas": len(seeds),
        "cores": cores,
        "total_hops": hops,
        "serial_s": serial,
        "parallel_s": parallel,
        "speedup": serial / parallel,
        "efficiency": serial / parallel / len(seeds),
        "load_average": os.getloadavg()[0],
    }
    md = (
        f"Machine: {machine()}. Command: `python benchmarks/bench_replicas.py --cells {args.cells} --hops {args.hops}` "
        f"(best of {args.repeats}; load average {row['load_average']:.1f} at the end).\n\n"
        "| cation sites | replicas | cores | hops (all replicas) | 1 thread (s) | "
        f"{cores} threads (s) | speed-up | efficiency |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {row['cation_sites']:,} | {row['replicas']} | {cores} | {hops:,} | {serial:.2f} | "
        f"{parallel:.2f} | {row['speedup']:.2f}x | {row['efficiency']:.0%} |\n"
    )
    save("replicas", pl.DataFrame([row]), md)


if __name__ == "__main__":
    main()
