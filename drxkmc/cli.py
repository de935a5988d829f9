"""Command line: ``drxkmc demo`` runs the built-in example; ``run``, ``sweep``, ``cycle``,
``resume``, ``status`` and ``plot`` work on run, sweep and cycling specifications (TOML) and
the folders they run in.

Errors are one line (``--debug`` shows the traceback); Ctrl-C (or SIGTERM from a batch system)
stops a run after the current chunk of hops, saves a checkpoint, says where, and exits with
130 (143 for SIGTERM); ``drxkmc resume DIR`` continues it. Log lines (``-v``) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from drxkmc import __version__
from drxkmc import _validate as check
from drxkmc.configuration import Configuration
from drxkmc.errors import DrxkmcError, invalid
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
    # One hop count (the measured one, as in the table); the speed counts every hop made.
    print(f"{wall:.2f} s of wall time ({sim.hops / wall:,.0f} hops/s)")
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


def _print_result(folder: Path, result, precision: float | None) -> None:
    row = result.diffusivity.row(0, named=True)
    print(format_diffusivity(row))
    line = verdict(row, precision or 0.0)
    print(line.replace("--max-hops", "run.max_hops").replace("--temperature", "run.temperature_K"))
    print(f"results in {folder / 'result.parquet'} and {folder / 'msd.parquet'}")


def _run(spec, folder: Path) -> int:
    from drxkmc.runs import run_or_resume

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the verdict is printed
        result = run_or_resume(spec, folder)
    _print_result(folder, result, spec.precision)
    return 0


def run_command(args: argparse.Namespace) -> int:
    from drxkmc.spec import RunSpec

    spec_path = Path(args.spec)
    spec = RunSpec.read(spec_path)
    folder = Path(args.workdir) if args.workdir else spec_path.with_suffix("")
    print(f"drxkmc run: {spec.formula}, {spec.temperature_K:g} K, in {folder}", file=sys.stderr)
    return _run(spec, folder)


def cycle_command(args: argparse.Namespace) -> int:
    from drxkmc.cycling_runs import CyclingSpec

    spec_path = Path(args.spec)
    spec = CyclingSpec.read(spec_path)
    folder = Path(args.workdir) if args.workdir else spec_path.with_suffix("")
    print(f"drxkmc cycle: {spec.formula}, {spec.cycles} cycles, in {folder}", file=sys.stderr)
    return _cycle(spec, folder)


def _cycle(spec, folder: Path) -> int:
    from drxkmc.cycling_runs import RESULTS_FILE, cycle_or_resume

    cycling = cycle_or_resume(spec, folder)
    columns = [
        "cycle",
        "discharge_capacity_mAh_g",
        "retention",
        "mean_discharge_voltage_V",
        "o_lost_per_fu",
        "tm_migrated",
        "densified_depth_nm",
        "timescales_separated",
    ]
    results = cycling.results
    shown = pl.concat([results.gather_every(max(1, results.height // 10)), results.tail(1)])
    with pl.Config(tbl_rows=12, tbl_cols=len(columns), tbl_hide_dataframe_shape=True):
        print(shown.unique("cycle", maintain_order=True).select(columns))
    print(f"{results.height} cycles; every cycle in {folder / RESULTS_FILE}")
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    from drxkmc.sweep import SweepFile

    path = Path(args.sweep)
    sweep_file = SweepFile.read(path)
    folder = Path(args.workdir) if args.workdir else path.with_suffix("")
    return _sweep(sweep_file, folder, args.workers)


def _sweep(sweep_file, folder: Path, workers: int) -> int:
    from concurrent.futures import ProcessPoolExecutor

    workers = check.count("workers", workers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if workers == 1:
            frame = sweep_file.run(folder)
        else:
            with ProcessPoolExecutor(workers) as ex:
                frame = sweep_file.run(folder, executor=ex)
    with pl.Config(tbl_rows=50, tbl_cols=8, tbl_hide_dataframe_shape=True):
        print(frame)
    failed = frame["error"].is_not_null().sum()
    print(f"{frame.height} points, {failed} failed; frame in {folder / 'sweep.parquet'}")
    return 1 if failed else 0


def resume_command(args: argparse.Namespace) -> int:
    from drxkmc.cycling_runs import SPEC_FILE as CYCLING_FILE
    from drxkmc.cycling_runs import CyclingSpec
    from drxkmc.runs import SPEC_FILE
    from drxkmc.spec import RunSpec
    from drxkmc.sweep import SWEEP_FILE, SweepFile

    folder = Path(args.workdir)
    if (folder / SPEC_FILE).is_file():
        return _run(RunSpec.read(folder / SPEC_FILE), folder)
    if (folder / CYCLING_FILE).is_file():
        return _cycle(CyclingSpec.read(folder / CYCLING_FILE), folder)
    if (folder / SWEEP_FILE).is_file():
        return _sweep(SweepFile.read(folder / SWEEP_FILE), folder, args.workers)
    raise invalid("workdir", f"{str(folder)!r} holds no drxkmc run, cycling run or sweep")


def status_command(args: argparse.Namespace) -> int:
    from drxkmc.cycling_runs import SPEC_FILE as CYCLING_FILE
    from drxkmc.cycling_runs import cycling_status
    from drxkmc.runs import SPEC_FILE, run_status
    from drxkmc.sweep import SWEEP_FILE

    folder = Path(args.workdir)
    if (folder / SPEC_FILE).is_file():
        print(_status_line(run_status(folder)))
        return 0
    if (folder / CYCLING_FILE).is_file():
        s = cycling_status(folder)
        what = f"{s['workdir']}: cycling {s['spec'].formula}"
        if s["state"] == "not started":
            print(f"{what}: not started")
        elif s["state"] == "damaged":
            print(f"{what}: damaged: {s['error']}")
            return 1
        else:
            age = s["checkpoint_age_s"]
            print(
                f"{what}: {s['state']}, {s['cycles']} of {s['cycles_wanted']} cycles "
                f"(checkpoint {age:.0f} s ago)"
            )
        return 0
    if (folder / SWEEP_FILE).is_file():
        points = sorted(p for p in folder.glob("point-*") if (p / SPEC_FILE).is_file())
        states = [run_status(p) for p in points]
        for s in states:
            print(_status_line(s))
        done = sum(s["state"] == "done" for s in states)
        print(f"sweep {folder}: {done} of {len(states)} started points done")
        return 0
    raise invalid("workdir", f"{str(folder)!r} holds no drxkmc run, cycling run or sweep")


def _status_line(s: dict) -> str:
    spec = s["spec"]
    what = f"{s['workdir']}: {spec.formula} at {spec.temperature_K:g} K"
    if s["state"] == "done":
        verdict = "converged" if s["converged"] else "NOT converged"
        return f"{what}: done, {s['hops']:,} measured hops, {verdict}"
    if s["state"] == "started":
        age = s["checkpoint_age_s"]
        return f"{what}: started, checkpoint at {s['hops']:,} hops ({age:.0f} s ago)"
    return f"{what}: not started"


def plot_command(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from drxkmc.cycling_runs import SPEC_FILE as CYCLING_FILE
    from drxkmc.cycling_runs import load_cycling
    from drxkmc.runs import load_result
    from drxkmc.sweep import SWEEP_FILE

    folder = Path(args.workdir)
    if (folder / CYCLING_FILE).is_file():
        from drxkmc.plot import plot_capacity

        out = Path(args.output) if args.output else folder / "capacity.png"
        plot_capacity(load_cycling(folder)).figure.savefig(out, dpi=150)
        print(f"capacity plot written to {out}")
        return 0
    if (folder / SWEEP_FILE).is_file() and (folder / "sweep.parquet").is_file():
        out = Path(args.output) if args.output else folder / "sweep.png"
        _plot_sweep(pl.read_parquet(folder / "sweep.parquet")).figure.savefig(out, dpi=150)
        print(f"sweep plot written to {out}")
        return 0
    result = load_result(folder)
    out = Path(args.output) if args.output else folder / "msd.png"
    ax = result.plot_msd(loglog=args.loglog)
    ax.figure.savefig(out, dpi=150)
    print(f"MSD plot written to {out}")
    return 0


#: Sweep parameters a plot puts on its x axis, first varied one first.
_SWEEP_AXES = ("temperature_K", "li_content", "site_disorder_eV", "size", "seed")


def _plot_sweep(frame: pl.DataFrame):
    """D* (with its error) of every successful sweep point against the first swept
    parameter that varies (point number if none), log scale; unconverged points hollow."""
    from drxkmc.plot import axes_or_new

    ok = frame.filter(pl.col("error").is_null()) if "error" in frame.columns else frame
    x_name = next((c for c in _SWEEP_AXES if c in ok.columns and ok[c].n_unique() > 1), None)
    x = ok[x_name].to_numpy() if x_name else np.arange(ok.height)
    ax = axes_or_new(None)
    d, err = ok["D_tracer_cm2_s"].to_numpy(), ok["D_tracer_err_cm2_s"].to_numpy()
    conv = ok["converged"].to_numpy() if "converged" in ok.columns else np.ones(ok.height, bool)
    for mask, face, label in ((conv, None, "converged"), (~conv, "none", "not converged")):
        if mask.any():
            ax.errorbar(x[mask], d[mask], yerr=err[mask], fmt="o", mfc=face, label=label, capsize=2)
    ax.set_yscale("log")
    ax.set_xlabel(x_name or "sweep point")
    ax.set_ylabel("D* (cm²/s)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drxkmc",
        # The module docstring without its reST literal markup.
        description=__doc__.split("\n\n")[0].replace("``", ""),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress lines")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "demo",
        help="Li diffusivity of half-charged Li1.2Mn0.4Ti0.4O2, converged to 5%%",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.set_defaults(func=demo)
    p.add_argument("--formula", default="Li1.2Mn0.4Ti0.4O2")
    p.add_argument(
        "--li-content",
        type=float,
        default=0.6,
        help="Li per formula unit present (0.6: half of the Li removed, mid-charge)",
    )
    p.add_argument("--size", type=int, default=8, help="conventional cells per side")
    p.add_argument(
        "--temperature",
        type=float,
        default=600.0,
        help="K (600: converges in seconds; at 300 K Li in DRX stay sub-diffusive "
        "for 1e8-1e9 hops and the demo reports an upper bound)",
    )
    p.add_argument("--precision", type=float, default=0.05, help="relative error of D*")
    p.add_argument("--max-hops", type=int, default=50_000_000, help="cap on measured hops")
    p.add_argument("--seed", type=int, default=1, help="random seed (structure and run)")
    p = sub.add_parser("run", help="run a spec file (TOML or JSON), resumable, in a folder")
    p.set_defaults(func=run_command)
    p.add_argument("spec", help="run specification, e.g. examples/spec.toml")
    p.add_argument("--workdir", help="folder of the run (default: the spec path without .toml)")
    p = sub.add_parser("sweep", help="run a sweep file (a base spec and a [grid])")
    p.set_defaults(func=sweep_command)
    p.add_argument("sweep", help="sweep file, e.g. examples/sweep.toml")
    p.add_argument("--workdir", help="folder of the sweep (default: the path without .toml)")
    p.add_argument("--workers", type=int, default=1, help="processes (1: serial)")
    p = sub.add_parser(
        "cycle", help="run a cycling spec (degradation over cycles), resumable, in a folder"
    )
    p.set_defaults(func=cycle_command)
    p.add_argument("spec", help="cycling specification, e.g. examples/cycling.toml")
    p.add_argument("--workdir", help="folder of the run (default: the spec path without .toml)")
    p = sub.add_parser("resume", help="continue the run, cycling run or sweep in a folder")
    p.set_defaults(func=resume_command)
    p.add_argument("workdir", help="folder of a run or sweep (made by run or sweep)")
    p.add_argument("--workers", type=int, default=1, help="processes for a sweep")
    p = sub.add_parser("status", help="where the run, cycling run or sweep in a folder is")
    p.set_defaults(func=status_command)
    p.add_argument("workdir", help="folder of a run or sweep")
    p = sub.add_parser(
        "plot",
        help="MSD figure of a finished run (DIR/msd.png), D* of a sweep (DIR/sweep.png), or "
        "capacity and retention of a cycling run (DIR/capacity.png)",
    )
    p.set_defaults(func=plot_command)
    p.add_argument("workdir", help="folder of a finished run or sweep")
    p.add_argument(
        "--output",
        "-o",
        help="figure file (default DIR/msd.png for a run, DIR/sweep.png for a sweep)",
    )
    p.add_argument("--loglog", action="store_true", help="log-log axes with a slope-1 guide")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="drxkmc: %(message)s",
    )
    from drxkmc.runs import RunInterrupted

    try:
        return args.func(args)
    except RunInterrupted as stop:
        if args.debug:
            raise
        print(f"drxkmc: {stop}", file=sys.stderr)
        if stop.checkpoint is not None:
            print(f"drxkmc: continue with: drxkmc resume {stop.checkpoint.parent}", file=sys.stderr)
        return 128 + int(stop.signum)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("drxkmc: interrupted (Ctrl-C)", file=sys.stderr)
        return 128 + signal.SIGINT
    except (DrxkmcError, OSError, ImportError) as err:  # ImportError: a missing optional extra
        if args.debug:
            raise
        print(f"drxkmc: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
