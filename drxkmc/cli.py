"""Command line: ``drxkmc demo`` runs the built-in default example."""

from __future__ import annotations

import argparse
import sys
import time

import polars as pl

from drxkmc import __version__
from drxkmc import _validate as check
from drxkmc.configuration import Configuration
from drxkmc.errors import DrxkmcError
from drxkmc.lattice import Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.simulation import Simulation


def demo(args: argparse.Namespace) -> int:
    # The warm-up is a tenth of the run: check the run length first, so a bad --hops is
    # reported as such (not as a bad warm-up).
    hops = check.count("hops", args.hops)
    material = Material.from_formula(args.formula)
    lattice = Lattice(args.size)
    config = Configuration.random(material, lattice, li_content=args.li_content, seed=args.seed)
    sim = Simulation(config, BarrierModel(), temperature_K=args.temperature, seed=args.seed)
    sim._require_events()  # say why nothing can hop before announcing the run
    print(
        f"drxkmc demo: Li diffusion in {material.formula} at Li{args.li_content:g} per formula "
        f"unit, {args.temperature:g} K, {lattice.n_cations} cation sites (random cation "
        f"disorder, default barrier model)"
    )
    start = time.perf_counter()
    result = sim.run(hops=hops, warmup_hops=hops // 10, progress=None)
    wall = time.perf_counter() - start
    print(format_diffusivity(result.diffusivity.row(0, named=True)))
    print(f"{sim.hops:,} hops in {wall:.2f} s of wall time ({sim.hops / wall:,.0f} hops/s)")
    return 0


#: (column, its standard-error column, label, unit) of the demo table.
_DEMO_ROWS = [
    ("D_tracer_cm2_s", "D_tracer_err_cm2_s", "tracer diffusivity D*", "cm²/s"),
    ("D_jump_cm2_s", "D_jump_err_cm2_s", "jump diffusivity D_J", "cm²/s"),
    ("D_chem_cm2_s", "D_chem_err_cm2_s", "chemical diffusivity D_J·Θ (GITT)", "cm²/s"),
    ("thermodynamic_factor", "thermodynamic_factor_err", "thermodynamic factor Θ", ""),
    ("haven_ratio", "haven_ratio_err", "Haven ratio D*/D_J", ""),
    ("conductivity_mS_cm", "conductivity_err_mS_cm", "conductivity (Nernst–Einstein)", "mS/cm"),
]


def format_diffusivity(row: dict) -> str:
    """The diffusivity row as an aligned, human-readable table."""
    rows = [(label, f"{row[c]:.3e}", f"{row[e]:.1e}", unit) for c, e, label, unit in _DEMO_ROWS]
    rows += [
        ("mobile Li (moved > 1 hop in a block)", f"{row['mobile_fraction']:.1%}", "", ""),
        ("Li atoms", f"{row['n_li']:,}", "", ""),
        ("hops", f"{row['hops']:,}", "", ""),
        ("simulated time", f"{row['time_s']:.3e}", "", "s"),
    ]
    table = pl.DataFrame(rows, schema=["quantity", "value", "± std. error", "unit"], orient="row")
    with pl.Config(
        tbl_rows=20,
        fmt_str_lengths=60,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
        tbl_cell_alignment="LEFT",
    ):
        return str(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drxkmc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
