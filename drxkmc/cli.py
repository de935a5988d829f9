"""Command line: ``drxkmc demo`` runs the built-in default example."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import polars as pl

from drxkmc import __version__
from drxkmc import _validate as check
from drxkmc.configuration import Configuration
from drxkmc.errors import DrxkmcError
from drxkmc.lattice import Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.simulation import ConvergenceWarning, Simulation


def demo(args: argparse.Namespace) -> int:
    precision = check.fraction("precision", args.precision)
    max_hops = check.count("max_hops", args.max_hops)
    material = Material.from_formula(args.formula)
    lattice = Lattice(args.size)
    # As an electrode: made fully lithiated, then charged electrochemically to the Li content.
    config = Configuration.random(
        material,
        lattice,
        li_content=args.li_content,
        seed=args.seed,
        temperature_K=args.temperature,
    )
    sim = Simulation(config, BarrierModel(), temperature_K=args.temperature, seed=args.seed)
    sim._require_events()  # say why nothing can hop before announcing the run
    print(
        f"drxkmc demo: Li diffusion in {material.formula} charged to Li{args.li_content:g} per "
        f"formula unit, {args.temperature:g} K, {lattice.n_cations} cation sites (random cation "
        f"disorder, default barrier model, equilibrium start), run until D* is known to "
        f"{precision:.0%} (at most {max_hops:,} hops)"
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the verdict is printed below
        result = sim.run(precision=precision, max_hops=max_hops, progress=None)
    wall = time.perf_counter() - start
    row = result.diffusivity.row(0, named=True)
    print(format_diffusivity(row))
    print(
        f"{sim.hops:,} hops in all (the {row['hops']:,} measured above, plus rate calibration, "
        f"warm-up and shorter block lengths) in {wall:.2f} s of wall time "
        f"({sim.hops / wall:,.0f} hops/s)"
    )
    if result.interrupted:
        print("INTERRUPTED (Ctrl-C): the table holds the blocks completed so far.")
        return 130
    print(verdict(row, precision))
    return 0


def verdict(row: dict, precision: float) -> str:
    """One line that says whether the diffusivities can be trusted."""
    alpha = row["msd_exponent"]
    if row["converged"]:
        return (
            f"converged: MSD linear (exponent {alpha:.2f}), stationary, D* to "
            f"{row['D_tracer_err_cm2_s'] / row['D_tracer_cm2_s']:.1%}, and a 4x longer block "
            f"length agrees."
        )
    if alpha < 0.9:
        why = (
            f"MSD exponent {alpha:.2f} (1 when diffusive): Li are still sub-diffusive on this "
            "time scale, so D* above is an upper bound"
        )
    elif not row["stationary"]:
        why = "the run is not stationary (first and second half disagree)"
    else:
        why = (
            f"the MSD is linear (exponent {alpha:.2f}) but {precision:.0%} with a confirming 4x "
            "longer block length was not reached"
        )
    return f"NOT CONVERGED within --max-hops: {why}. Raise --max-hops or --temperature."


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
        ("Li on the percolating network", f"{row['mobile_fraction']:.1%}", "", ""),
        ("MSD exponent (1 = diffusive)", f"{row['msd_exponent']:.2f}", "", ""),
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
    p = sub.add_parser(
        "demo", help="Li diffusivity of half-charged Li1.2Mn0.4Ti0.4O2, converged to 5%%"
    )
    p.add_argument("--formula", default="Li1.2Mn0.4Ti0.4O2")
    p.add_argument(
        "--li-content",
        type=float,
        default=0.6,
        help="Li per formula unit present (default 0.6: half of the Li removed, mid-charge)",
    )
    p.add_argument("--size", type=int, default=8, help="conventional cells per side")
    p.add_argument(
        "--temperature",
        type=float,
        default=600.0,
        help="K (default 600: converges in seconds; at 300 K Li in DRX stay sub-diffusive "
        "for 1e8-1e9 hops and the demo reports an upper bound)",
    )
    p.add_argument("--precision", type=float, default=0.05, help="relative error of D*")
    p.add_argument("--max-hops", type=int, default=50_000_000, help="cap on measured hops")
    p.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        return demo(args)
    except DrxkmcError as err:
        print(f"drxkmc: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
