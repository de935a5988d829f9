"""Cost of cycling with degradation: cycles per minute, and how it grows with slab size and
cycle count.

Li1.2Mn0.4Ti0.4O2 slabs (random cation order, default DegradationModel and CyclingProtocol:
every event on) of increasing size run a fixed number of cycles; the largest (~10⁵ cation
sites) runs ``--cycles`` cycles and reports the time per cycle over the run (does it stay
flat as the structure degrades?) and the projected time for 1,000 cycles. One process, one
core. Writes benchmarks/results/degradation.{csv,md}.

    python benchmarks/bench_degradation.py [--cycles 100] [--sizes 8,16,24]
"""

from __future__ import annotations

import argparse
import resource
import time

import polars as pl
from _results import machine, save

import drxkmc


def slab(cells_xy: int, cells_z: int, seed: int = 1) -> drxkmc.Configuration:
    m = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    return drxkmc.Configuration.random(
        m, drxkmc.Lattice((cells_xy, cells_xy, cells_z), geometry="slab"), seed=seed
    )


def run(cells_xy: int, cells_z: int, cycles: int) -> tuple[dict, pl.DataFrame, list[float]]:
    cfg = slab(cells_xy, cells_z)
    t0 = time.perf_counter()
    c = drxkmc.Cycling(cfg, seed=1)
    setup = time.perf_counter() - t0
    per_cycle = []
    for _ in range(cycles):
        t = time.perf_counter()
        c.run(1, progress=False)
        per_cycle.append(time.perf_counter() - t)
    res = c.results
    events = int(res["tm_hops_cycle"].sum() + res["o_lost_cycle"].sum())
    total = sum(per_cycle)
    row = {
        "cells": f"{cells_xy}x{cells_xy}x{cells_z}",
        "cation_sites": cfg.lattice.n_cations,
        "cycles": cycles,
        "setup_s": round(setup, 3),
        "s_per_cycle": round(total / cycles, 4),
        "cycles_per_min": round(60 * cycles / total, 1),
        "events_per_s": round(events / total),
        "projected_1000_cycles_min": round(1000 * total / cycles / 60, 1),
        "retention_last": round(float(res["retention"][-1]), 4),
        "o_lost_per_fu_last": round(float(res["o_lost_per_fu"][-1]), 4),
    }
    return row, res, per_cycle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=100, help="cycles of the largest slab")
    ap.add_argument("--sizes", default="8,16,24", help="cells along x and y (z: 1.6x that)")
    ap.add_argument("--scaling-cycles", type=int, default=10)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for k, n in enumerate(sizes):
        cycles = args.cycles if k == len(sizes) - 1 else args.scaling_cycles
        row, res, per_cycle = run(n, round(1.6 * n), cycles)
        if cycles >= 10:
            tenth = max(1, cycles // 10)
            row["s_per_cycle_first_tenth"] = round(sum(per_cycle[:tenth]) / tenth, 4)
            row["s_per_cycle_last_tenth"] = round(sum(per_cycle[-tenth:]) / tenth, 4)
        rows.append(row)
        print(row, flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame = pl.DataFrame(rows)
    md = [
        "# Degradation benchmark",
        "",
        f"Machine: {machine()}; one process. Command: "
        f"`python benchmarks/bench_degradation.py --cycles {args.cycles} --sizes {args.sizes}`.",
        f"Peak resident memory of the whole benchmark: {peak_mb:.0f} MB.",
        "",
        "Li1.2Mn0.4Ti0.4O2 slabs, default DegradationModel and CyclingProtocol (1 h at the",
        "charged and 1 h at the discharged state per cycle, 300 K, all events on).",
        "",
        "| " + " | ".join(frame.columns) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    for r in frame.iter_rows():
        md.append("| " + " | ".join(str(v) for v in r) + " |")
    save("degradation", frame, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
