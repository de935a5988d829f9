"""Attempted swaps per second of the SRO annealer, and the cost of the SRO measures.

Single thread (the annealer is serial), 10^5 cation sites (25 x 25 x 40 conventional cells),
Li1.2Mn0.4Ti0.4O1.6F0.4: cation and anion swaps, local-electroneutrality term (J = 0.01 eV/e²)
with and without pair terms, at a hot and a cold annealing temperature (the acceptance rate
changes the share of accepted moves, which cost more). Target: ≥ 10^6 attempted swaps/s.
Writes benchmarks/results/sro.{csv,md}.

    python benchmarks/bench_sro.py
    python benchmarks/bench_sro.py --sweeps 10     # shorter
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl
from _results import machine, save

import drxkmc
from drxkmc.sro import anneal, sro

SIZE = (25, 25, 40)  # 4·25·25·40 = 100,000 cation sites


def measure(config, label: str, sweeps: int, temperature_K: float, pair_terms) -> dict:
    n = config.lattice.n_cations
    anion_species = len(set(config.anion_symbols().tolist()))
    attempts_per_sweep = n + (n if anion_species > 1 else 0)
    anneal(config, temperature_K=temperature_K, sweeps=1, pair_terms=pair_terms, seed=0)  # warm
    start = time.perf_counter()
    out = anneal(config, temperature_K=temperature_K, sweeps=sweeps, pair_terms=pair_terms, seed=1)
    wall = time.perf_counter() - start
    trace = out.anneal_trace[1:]
    attempts = sweeps * attempts_per_sweep
    return {
        "case": label,
        "cation_sites": n,
        "temperature_K": temperature_K,
        "sweeps": sweeps,
        "attempts": attempts,
        "wall_s": wall,
        "attempts_per_s": attempts / wall,
        "ns_per_attempt": wall / attempts * 1e9,
        "cation_acceptance": float(trace["cation_acceptance"].mean()),
        "anion_acceptance": float(trace["anion_acceptance"].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweeps", type=int, default=30)
    args = parser.parse_args()
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    config = drxkmc.Configuration.random(material, drxkmc.Lattice(SIZE), seed=1)
    pairs = [("Li", "F", -0.05), ("Mn", "Mn", 0.03), ("Li", "Mn", -0.02)]
    rows = []
    for label, t, p in [
        ("electroneutrality", 1500.0, None),
        ("electroneutrality", 600.0, None),
        ("electroneutrality + 3 pair terms", 1500.0, pairs),
        ("electroneutrality + 3 pair terms", 600.0, pairs),
    ]:
        row = measure(config, label, args.sweeps, t, p)
        rows.append(row)
        print(
            f"{row['case']:<34} {row['temperature_K']:>6.0f} K  "
            f"{row['attempts_per_s']:>12,.0f} attempts/s  {row['ns_per_attempt']:6.0f} ns/attempt  "
            f"acceptance {row['cation_acceptance']:.3f} / {row['anion_acceptance']:.3f}",
            flush=True,
        )
    start = time.perf_counter()
    sro(config)
    measure_s = time.perf_counter() - start
    print(f"sro() measures of {config.lattice.n_cations:,} sites: {measure_s:.3f} s")
    df = pl.DataFrame(rows)
    header = (
        f"Machine: {machine()}, single thread. Command: `python benchmarks/bench_sro.py --sweeps {args.sweeps}`\n\n"
        f"Li1.2Mn0.4Ti0.4O1.6F0.4, {config.lattice.n_cations:,} cation sites, one sweep = one "
        "attempted cation swap per cation site + one attempted anion swap per anion site; "
        "the time includes the exact energy recomputed after every sweep.\n\n"
    )
    md = (
        "| case | T (K) | attempted swaps/s | ns/attempt | acceptance (cation / anion) |\n"
        "|---|---:|---:|---:|---:|\n"
        + "".join(
            f"| {r['case']} | {r['temperature_K']:.0f} | {r['attempts_per_s']:,.0f} | "
            f"{r['ns_per_attempt']:.0f} | {r['cation_acceptance']:.3f} / "
            f"{r['anion_acceptance']:.3f} |\n"
            for r in rows
        )
        + f"\n`sro()` (Warren–Cowley, tetrahedra, anion environments): {measure_s:.3f} s\n"
    )
    save("sro", df, header + md)
    assert np.all(np.isfinite(df["attempts_per_s"].to_numpy()))


if __name__ == "__main__":
    main()
