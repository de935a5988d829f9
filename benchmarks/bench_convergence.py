"""Wall time to a trustworthy D*: the new defaults against plain kMC from a random start.

For each system:

- *defaults*: electrochemical delithiation, equilibrium start, ``run(precision=P)`` (which
  grows the blocks until the MSD is linear and checks that a 4x longer block length agrees);
- *reference*: the same system run 10x longer than the defaults needed (``run(hops=10 N)``);
- *plain*: what drxkmc did before: random Li removal, random (infinite-temperature) start,
  ``run(hops=N)`` with N doubled until D* is within ±5% of the reference.

Reports wall time, hops, D* ± error, MSD exponent and whether each converged; a system whose
defaults do not converge within ``--max-hops`` is reported as such (no reference is then
possible). Writes benchmarks/results/convergence.{csv,md}.

With ``--acceleration S`` each system instead runs the defaults with the opt-in flux cap
(``Simulation(acceleration=S)``, ``docs/design.md`` "Acceleration of rattling") and, when
that converged, the same capped system 10x longer; plain-kMC references come from
benchmarks/bench_hop_budget.py. Writes benchmarks/results/convergence_acceleration.{csv,md}.

    python benchmarks/bench_convergence.py [--precision 0.05] [--max-hops 300000000]
    python benchmarks/bench_convergence.py --acceleration 100 --systems 1
"""

from __future__ import annotations

import argparse
import time
import warnings

import polars as pl
from _results import machine, save

import drxkmc
from drxkmc.simulation import ConvergenceWarning

#: (label, formula, Li per f.u., temperature K, site disorder eV, cells per side)
SYSTEMS = [
    ("README system", "Li1.2Mn0.4Ti0.4O1.6F0.4", 0.6, 300.0, 0.05, 10),
    ("LMTO at Li1.1", "Li1.2Mn0.4Ti0.4O2", 1.1, 300.0, 0.0, 10),
    # A system that converges in well under a minute, so the comparison can be made.
    ("LMTO at Li0.6, 600 K", "Li1.2Mn0.4Ti0.4O2", 0.6, 600.0, 0.0, 8),
]


def _row(label: str, how: str, wall: float, d: dict) -> dict:
    return {
        "system": label,
        "method": how,
        "wall_s": round(wall, 2),
        "hops": d["hops"],
        "D_tracer_cm2_s": d["D_tracer_cm2_s"],
        "D_tracer_err_cm2_s": d["D_tracer_err_cm2_s"],
        "msd_exponent": round(d["msd_exponent"], 3),
        "converged": d["converged"],
    }


def run_system(label, formula, li, temperature, disorder, cells, args) -> list[dict]:
    material = drxkmc.Material.from_formula(formula)
    lattice = drxkmc.Lattice(cells)
    model = drxkmc.BarrierModel(site_disorder_eV=disorder)
    rows = []
    config = drxkmc.Configuration.random(material, lattice, li_content=li, seed=1)
    cap = args.acceleration
    how = f"defaults (precision {args.precision:g})"
    if cap is not None:
        how = f"defaults + flux cap S = {cap:g} (precision {args.precision:g})"
    start = time.perf_counter()
    sim = drxkmc.Simulation(config, model, temperature_K=temperature, seed=1, acceleration=cap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        d = sim.run(precision=args.precision, max_hops=args.max_hops, progress=False)
    d = d.diffusivity.row(0, named=True)
    rows.append(_row(label, how, time.perf_counter() - start, d))
    if not d["converged"]:
        print(f"{label}: the defaults did not converge within {args.max_hops:,} hops")
        return rows
    start = time.perf_counter()
    ref_sim = drxkmc.Simulation(config, model, temperature_K=temperature, seed=2, acceleration=cap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = ref_sim.run(hops=10 * d["hops"], progress=False).diffusivity.row(0, named=True)
    ref_how = "reference (10x the hops)" if cap is None else "reference (10x the hops, same cap)"
    rows.append(_row(label, ref_how, time.perf_counter() - start, ref))
    d_ref = ref["D_tracer_cm2_s"]
    rows[-2]["within_5pct_of_reference"] = abs(d["D_tracer_cm2_s"] / d_ref - 1) <= 0.05
    if cap is not None:
        return rows
    old = drxkmc.Configuration.random(
        material, lattice, li_content=li, seed=1, delithiation="random"
    )
    hops = 1_000_000
    while hops <= args.max_hops:
        start = time.perf_counter()
        plain = drxkmc.Simulation(old, model, temperature_K=temperature, seed=1, equilibrate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            p = plain.run(hops=hops, progress=False).diffusivity.row(0, named=True)
        wall = time.perf_counter() - start
        ok = abs(p["D_tracer_cm2_s"] / d_ref - 1) <= 0.05
        print(f"  plain {hops:>12,} hops: D* = {p['D_tracer_cm2_s']:.3e} ({wall:.1f} s)")
        if ok:
            rows.append(_row(label, "plain kMC, random start (first N within 5%)", wall, p))
            rows[-1]["within_5pct_of_reference"] = True
            break
        hops *= 2
    else:
        rows.append(_row(label, f"plain kMC, random start ({hops // 2:,} hops)", wall, p))
        rows[-1]["within_5pct_of_reference"] = False
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--precision", type=float, default=0.05)
    parser.add_argument("--max-hops", type=int, default=300_000_000)
    parser.add_argument(
        "--acceleration", type=float, help="run the defaults with this flux cap S instead"
    )
    parser.add_argument("--systems", type=int, nargs="*", help="indices into SYSTEMS")
    args = parser.parse_args()
    rows = []
    for i, system in enumerate(SYSTEMS):
        if args.systems and i not in args.systems:
            continue
        rows += run_system(*system, args)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    name = "convergence" if args.acceleration is None else "convergence_acceleration"
    save(name, frame, markdown(frame, args))


def markdown(frame: pl.DataFrame, args) -> str:
    """The results as a Markdown table (diffusivities in scientific notation)."""
    shown = frame.with_columns(
        pl.col(c).map_elements(lambda x: f"{x:.3e}", return_dtype=pl.String)
        for c in ("D_tracer_cm2_s", "D_tracer_err_cm2_s")
    )
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=50,
        tbl_cols=-1,
        tbl_width_chars=400,
        fmt_str_lengths=60,
    ):
        table = str(shown)
    cap = ""
    if args.acceleration is not None:
        cap = f" --acceleration {args.acceleration:g}"
        if args.systems:
            cap += " --systems " + " ".join(map(str, args.systems))
    return (
        f"# Wall time to D* (one core of {machine()})\n\n"
        f"`python benchmarks/bench_convergence.py --precision {args.precision} "
        f"--max-hops {args.max_hops}{cap}`\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
