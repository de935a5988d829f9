"""What Li ids, channel counts and trajectory writing cost: hops per second with each on and
off, on the full DRX model of ``bench_throughput.py`` (Li0.6Mn0.4Ti0.4O1.6F0.4, 0.05 eV site
disorder, 300 K), ≈1e4 and ≈2.6e5 cation sites, one thread, best and median of --repeats
interleaved runs (other tenants of a shared machine only ever slow a run down).

- ``off``: nothing tracked (the default);
- ``ids``: ``Simulation.li_positions_A()`` called once, so every hop also moves an id;
- ``ids+channels``: and ``count_channels()``;
- ``trajectory .traj`` / ``.extxyz``: and a ``TrajectoryWriter`` with one frame per hop per
  Li on average (every frame reads every site and writes every Li; ASE formats extended XYZ
  as text, about 100 times slower per Li than its binary ``.traj``).

With ``--baseline BIN`` it also runs the Rust driver ``profile_hops`` of another build (e.g.
the commit before Li ids existed) against this one's, tracking off, to show that the off
case costs what it did before:

    python benchmarks/bench_tracking.py --repeats 5
    python benchmarks/bench_tracking.py --baseline /path/to/old/target/release/examples/profile_hops

Writes benchmarks/results/tracking.{csv,md}.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from _results import machine, save

import drxkmc

MODES = ("off", "ids", "ids+channels", "trajectory .traj", "trajectory .extxyz")


def simulation(cells: int) -> drxkmc.Simulation:
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    config = drxkmc.Configuration.random(material, drxkmc.Lattice(cells), li_content=0.6, seed=1)
    model = drxkmc.BarrierModel(site_disorder_eV=0.05)
    return drxkmc.Simulation(config, model, temperature_K=300, seed=1)


def run_once(cells: int, mode: str, hops: int, folder: Path) -> float:
    """CPU seconds per hop of ``hops`` hops in ``mode`` (after a warm-up)."""
    sim = simulation(cells)
    sim.advance(hops=200_000)
    if mode != "off":
        sim.li_positions_A()
    if mode not in ("off", "ids"):
        sim.count_channels()
    writer = None
    if mode.startswith("trajectory"):
        n_li = int(np.count_nonzero(sim.li_occupancy()))
        every = n_li / sim.total_rate_per_s
        suffix = mode.split()[1]
        writer = sim.trajectory(folder / f"bench{suffix}", every_s=every, host=False)
    cpu0 = time.process_time()
    sim.advance(hops=hops)
    cpu = time.process_time() - cpu0
    if writer is not None:
        writer.close()
    return cpu / hops


def rust_ns_per_hop(binary: str, cells: int, hops: int) -> float:
    out = subprocess.run(
        [binary, str(cells), str(hops)], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"([0-9.]+) ns/hop cpu", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hops", type=int, default=2_000_000)
    parser.add_argument("--baseline", help="profile_hops binary of another build")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cells in (14, 40):
            times: dict[str, list[float]] = {m: [] for m in MODES}
            for _ in range(args.repeats):
                for mode in MODES:
                    times[mode].append(run_once(cells, mode, args.hops, Path(tmp)))
            for mode in MODES:
                rows.append(
                    {
                        "cation_sites": drxkmc.Lattice(cells).n_cations,
                        "build": "this",
                        "mode": mode,
                        "cpu_ns_per_hop": min(times[mode]) * 1e9,
                        "median_cpu_ns_per_hop": statistics.median(times[mode]) * 1e9,
                    }
                )
                print(rows[-1], flush=True)
    if args.baseline:
        here = Path(__file__).parent.parent
        subprocess.run(
            ["cargo", "build", "--release", "-q", "--example", "profile_hops"],
            cwd=here,
            check=True,
        )
        binaries = {
            "baseline": args.baseline,
            "this": str(here / "target" / "release" / "examples" / "profile_hops"),
        }
        for cells in (14, 40):
            got: dict[str, list[float]] = {b: [] for b in binaries}
            for _ in range(args.repeats):
                for build, binary in binaries.items():
                    got[build].append(rust_ns_per_hop(binary, cells, args.hops))
            for build in binaries:
                rows.append(
                    {
                        "cation_sites": drxkmc.Lattice(cells).n_cations,
                        "build": f"{build} (Rust driver)",
                        "mode": "off",
                        "cpu_ns_per_hop": min(got[build]),
                        "median_cpu_ns_per_hop": statistics.median(got[build]),
                    }
                )
                print(rows[-1], flush=True)
    df = pl.DataFrame(rows)
    header = (
        f"Machine: {machine()}, one thread. Command: `python benchmarks/bench_tracking.py "
        f"--repeats {args.repeats} --hops {args.hops}"
        f"{' --baseline BIN' if args.baseline else ''}`: best (median) CPU ns per hop of "
        f"{args.repeats} interleaved runs.\n\n"
    )
    md = "| cation sites | build | mode | CPU ns/hop (median) |\n|---:|---|---|---:|\n" + "".join(
        f"| {r['cation_sites']:,} | {r['build']} | {r['mode']} | "
        f"{r['cpu_ns_per_hop']:.0f} ({r['median_cpu_ns_per_hop']:.0f}) |\n"
        for r in rows
    )
    save("tracking", df, header + md)


if __name__ == "__main__":
    main()
