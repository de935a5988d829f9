"""Every diffusivity a user sees by default, against the same system run 10x longer.

For the demo, the README's Python example and examples/diffusivity.py: rebuild the exact
system, run it as shipped (``run(precision=...)``), then run it again from the same start with
another seed and 10x the measured hops (``run(hops=10 N)``), and report whether the two agree
within 3 combined standard errors. Writes benchmarks/results/defaults_check.{csv,md}.

    python benchmarks/check_defaults.py
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import polars as pl
from _results import machine, save

import drxkmc


def _systems():
    lmto = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    lmtof = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    model = drxkmc.BarrierModel()
    # (label, configuration, model, temperature K, precision, max_hops, seed) as shipped.
    yield (
        "drxkmc demo",
        drxkmc.Configuration.random(lmto, drxkmc.Lattice(8), li_content=0.6, seed=1),
        model,
        600.0,
        0.05,
        50_000_000,
        1,
    )
    electrode = drxkmc.Configuration.random(lmto, drxkmc.Lattice(6, a=4.15), seed=1)
    charged = electrode.with_li_content(0.6)
    yield ("README example", charged, model, 600.0, 0.05, 200_000_000, 1)
    # The README's arrhenius(): temperature i runs with seed 0 + i, precision 0.1.
    for i, t in enumerate((600.0, 700.0, 800.0)):
        yield (f"README arrhenius {t:g} K", charged, model, t, 0.1, 50_000_000, i)
    for name, mat in (("LMTO", lmto), ("LMTO-F", lmtof)):
        cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(6, a=4.15), li_content=0.6, seed=1)
        yield (f"examples/diffusivity.py {name}", cfg, model, 600.0, 0.05, 100_000_000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="check only systems whose label has this")
    args = parser.parse_args()
    rows = []
    for label, config, model, temperature, precision, max_hops, seed in _systems():
        if args.only not in label:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", drxkmc.ConvergenceWarning)
            start = time.perf_counter()
            sim = drxkmc.Simulation(config, model, temperature_K=temperature, seed=seed)
            shown = sim.run(precision=precision, max_hops=max_hops, progress=False)
            wall = time.perf_counter() - start
            s = shown.diffusivity.row(0, named=True)
            start = time.perf_counter()
            ref = drxkmc.Simulation(config, model, temperature_K=temperature, seed=seed + 100)
            long = ref.run(hops=10 * s["hops"], progress=False).diffusivity.row(0, named=True)
            wall_long = time.perf_counter() - start
        diff = abs(s["D_tracer_cm2_s"] - long["D_tracer_cm2_s"])
        sigma = math.hypot(s["D_tracer_err_cm2_s"], long["D_tracer_err_cm2_s"])
        rows.append(
            {
                "shown_by": label,
                "converged": s["converged"],
                "hops": s["hops"],
                "wall_s": round(wall, 1),
                "D_tracer_cm2_s": f"{s['D_tracer_cm2_s']:.3e} ± {s['D_tracer_err_cm2_s']:.1e}",
                "hops_10x": long["hops"],
                "wall_10x_s": round(wall_long, 1),
                "D_tracer_10x_cm2_s": (
                    f"{long['D_tracer_cm2_s']:.3e} ± {long['D_tracer_err_cm2_s']:.1e}"
                ),
                "difference_sigma": round(diff / sigma, 2),
                "agree_3_sigma": diff <= 3 * sigma,
            }
        )
        print(rows[-1], flush=True)
    frame = pl.DataFrame(rows)
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_cols=-1,
        tbl_width_chars=400,
        fmt_str_lengths=60,
    ):
        table = str(frame)
    md = (
        f"# Default numbers against runs 10x longer (one core of {machine()})\n\n"
        f"`python benchmarks/check_defaults.py{f' --only {args.only}' if args.only else ''}`"
        f"\n\n{table}\n"
    )
    save("defaults_check" + (f"_{args.only.split()[-1]}" if args.only else ""), frame, md)


if __name__ == "__main__":
    main()
