"""A 16-point sweep on a 2-worker Dask ``LocalCluster`` against the serial sweep.

Wall time of the same sweep (same points and sweep seed, hence identical frames, checked)
run serially and on a Dask cluster of one single-threaded worker process per core; the
speed-up is the ratio (target on 2 cores: ≥ 1.8x). The per-point overhead of the Dask path is
measured with points of one hop each (what remains is submission, pickling and collection).
Writes benchmarks/results/sweep.{csv,md}.

    python benchmarks/bench_sweep.py [--cells 6] [--hops 2000000]
"""

from __future__ import annotations

import argparse
import os
import time

import polars as pl
from _results import machine, save
from distributed import Client, LocalCluster

import drxkmc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=6, help="conventional cells per side")
    parser.add_argument("--hops", type=int, default=2_000_000, help="measured hops per point")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    base = drxkmc.RunSpec(
        "Li1.2Mn0.4Ti0.4O1.6F0.4", size=args.cells, li_content=0.6, hops=args.hops
    )
    grid = {
        "temperature_K": [500.0, 600.0, 700.0, 800.0],
        "site_disorder_eV": [0.0, 0.025, 0.05, 0.1],
    }  # 16 points
    tiny = base.replace(size=4, hops=1, equilibrate=False)

    def timed(spec, executor) -> tuple[float, pl.DataFrame]:
        start = time.perf_counter()
        frame = drxkmc.sweep(grid, base=spec, sweep_seed=1, executor=executor)
        return time.perf_counter() - start, frame

    load = os.getloadavg()[0]  # other processes on the machine share its cores
    serial, serial_frame = timed(base, None)
    tiny_serial, _ = timed(tiny, None)
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        executor = client.get_executor()
        timed(tiny, executor)  # warm the workers up (imports)
        parallel, dask_frame = timed(base, executor)
        tiny_dask, _ = timed(tiny, executor)
    assert dask_frame.equals(serial_frame), "Dask and serial sweeps differ"
    n = 16
    overhead_ms = 1e3 * (tiny_dask - tiny_serial / workers) / n
    frame = pl.DataFrame(
        {
            "points": [n],
            "workers": [workers],
            "cation_sites": [4 * args.cells**3],
            "hops_per_point": [args.hops],
            "serial_s": [serial],
            "dask_s": [parallel],
            "speedup": [serial / parallel],
            "overhead_per_point_ms": [overhead_ms],
        }
    )
    markdown = (
        f"# 16-point sweep: serial vs Dask LocalCluster ({machine()})\n\n"
        f"`python benchmarks/bench_sweep.py --cells {args.cells} --hops {args.hops}`; "
        f"identical frames checked. Load average before the run: {load:.1f} on {workers} "
        "cores (a load near the core count leaves nothing for the second worker).\n\n"
        "| points | workers | cation sites | hops/point | serial (s) | Dask (s) | speed-up "
        "| overhead/point (ms) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {n} | {workers} | {4 * args.cells**3} | {args.hops:,} | {serial:.1f} | "
        f"{parallel:.1f} | {serial / parallel:.2f}x | {overhead_ms:.0f} |\n"
    )
    save("sweep", frame, markdown)


if __name__ == "__main__":
    main()
