"""Command line: ``drxkmc demo`` runs the built-in default example."""

from __future__ import annotations

import argparse
import sys
import time

import polars as pl

from drxkmc.configuration import Configuration
from drxkmc.errors import DrxkmcError
from drxkmc.lattice import Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.simulation import Simulation


def demo(args: argparse.Namespace) -> int:
    material = Material.from_formula(args.formula)
    lattice = Lattice(args.size)
    config = Configuration.random(material, lattice, li_content=args.li_content, seed=args.seed)
    sim = Simulation(config, BarrierModel(), temperature_K=args.temperature, seed=args.seed)
    print(
        f"drxkmc demo: Li diffusion in {material.formula} at Li{args.li_content:g} per formula "
        f"unit, {args.temperature:g} K, {lattice.n_cations} cation sites (random cation "
        f"disorder, default barrier model)"
    )
    start = time.perf_counter()
    result = sim.run(hops=args.hops, warmup_hops=args.hops // 10, progress=None)
    wall = time.perf_counter() - start
    d = result.diffusivity
    with pl.Config(tbl_rows=40, fmt_float="mixed", tbl_hide_dataframe_shape=True):
        print(d.transpose(include_header=True, header_name="quantity", column_names=["value"]))
    print(f"{sim.hops:,} hops in {wall:.2f} s of wall time ({sim.hops / wall:,.0f} hops/s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drxkmc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="Li diffusivity of Li1.2Mn0.4Ti0.4O2 at 300 K")
    p.add_argument("--formula", default="Li1.2Mn0.4Ti0.4O2")
    p.add_argument(
        "--li-content",
        type=float,
        default=0.6,
        help="Li per formula unit present (default 0.6: half of the Li removed, mid-charge)",
    )
    p.add_argument("--size", type=int, default=10, help="conventional cells per side")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--hops", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        return demo(args)
    except DrxkmcError as err:
        print(f"drxkmc: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
