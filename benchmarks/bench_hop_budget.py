"""Where do plain-kMC hops go at room temperature, and how much could an exact scheme save?

For each system (equilibrium start, plain kMC, no flux cap):

1. *Hop budget.* After a warm-up, the instantaneous rate of every possible hop is read at
   ``--snapshots`` times evenly spaced in simulated time; their mean is the equilibrium flux
   of each directed hop, so the hop count a run spends on any group of hops is exact in
   expectation. Reported: the share of hops made by Li on clusters of the kinetic network that
   do not span the cell (paths firing within tau, for several tau: the run's own time scales
   and the default 1 h), and on truly closed pockets (no path of non-zero rate out: clusters of
   the 2-TM network that do not span the cell); the distribution of the equilibrium pair flux
   g relative to the critical flux g* (critical-path analysis, ``docs/design.md``); and what
   that distribution allows: the hop saving of the flux cap at S (sum g / sum min(g, S g*)) and
   the upper bound for any superbasin or mean-rate scheme that treats every pair with
   g >= S g* as internal to a basin (sum g / sum of g over the pairs below S g*: only basin
   exits remain events).
2. *Time to linear MSD.* One long run from the equilibrium start (its simulated length set per
   system, about 1.2e9 and 4e8 plain hops); the unwrapped Li positions are read on regular
   time grids and the MSD at every lag is averaged over all time origins. The local MSD
   exponent alpha over the window [0.2t, t] is computed as ``run()`` does (slopes of the MSD
   over the window's two halves; a constant plateau cancels). Reported: the lag (hops, wall
   time) at which alpha first reaches 0.9, and D* over the longest window (half the run) with
   an error from 8 disjoint groups of Li. Where the flux cap could help (LMTO), the same run
   is repeated with ``Simulation(acceleration=S)`` for each ``--accelerations`` S: hops per
   simulated second and D* against plain kMC.

Writes benchmarks/results/hop_budget.{csv,md} (one row per system, method and quantity) and
hop_budget_msd.csv (the MSD curves). About 25 min on one loaded core.

    python benchmarks/bench_hop_budget.py [--snapshots 40] [--accelerations 100 1000]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import polars as pl
from _results import OUT, machine, save
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import drxkmc
from drxkmc import _core

#: (label, formula, Li per f.u., temperature K, site disorder eV, cells per side, simulated
#: length of the long run s (about 1.2e9 and 4e8 plain hops), also run with the flux cap)
SYSTEMS = [
    ("README system", "Li1.2Mn0.4Ti0.4O1.6F0.4", 0.6, 300.0, 0.05, 10, 0.02, False),
    ("LMTO at Li1.1", "Li1.2Mn0.4Ti0.4O2", 1.1, 300.0, 0.0, 10, 3.0, True),
]
#: Separations S at which the flux cap and the superbasin bound are evaluated.
SEPARATIONS = (1.0, 10.0, 100.0, 1e3, 1e4)
#: Hop counts whose simulated duration sets the kinetic-network time scales tau.
TAU_HOPS = (1e6, 1e8, 1e10)


def simulation(
    formula, li, temperature, disorder, cells, seed=1, acceleration=None
) -> drxkmc.Simulation:
    material = drxkmc.Material.from_formula(formula)
    model = drxkmc.BarrierModel(site_disorder_eV=disorder)
    config = drxkmc.Configuration.random(material, drxkmc.Lattice(cells), li_content=li, seed=seed)
    return drxkmc.Simulation(
        config, model, temperature_K=temperature, seed=seed, acceleration=acceleration
    )


def mean_fluxes(sim: drxkmc.Simulation, snapshots: int, spacing_hops: int) -> pl.DataFrame:
    """Mean rate of every directed hop (summed over its paths) over snapshots evenly spaced
    in simulated time, about ``spacing_hops`` hops apart."""
    dt = spacing_hops / sim.total_rate_per_s
    parts = []
    for _ in range(snapshots):
        sim.advance(time_s=dt)
        ev = sim.events().group_by("from_site", "to_site").agg(pl.col("rate_per_s").sum())
        parts.append(ev)
    return (
        pl.concat(parts)
        .group_by("from_site", "to_site")
        .agg((pl.col("rate_per_s").sum() / snapshots).alias("flux"))
    )


def pocket_sites(sim: drxkmc.Simulation, cutoff_ev: float | None) -> np.ndarray:
    """Mask of cation sites on clusters that do not wrap the cell: of the kinetic network
    with barrier cut-off ``cutoff_ev``, or (None) of the 2-TM network (every non-zero-rate
    pair)."""
    cfg = sim.configuration()._c
    if cutoff_ev is None:
        raw = _core.percolation_analysis(cfg, 2, None, None, "wrap")
    else:
        raw = _core.percolation_analysis(cfg, 0, cutoff_ev, sim.model._core_dict(), "wrap")
    labels = raw["labels"]
    open_site = labels >= 0
    spanning = np.zeros(labels.size, dtype=bool)
    spanning[open_site] = raw["cluster_accessible"][labels[open_site]]
    return open_site & ~spanning


def largest_basin(pairs: pl.DataFrame, fast: np.ndarray, occ: np.ndarray, s: float):
    """(quantity, sites, note) of the largest group joined by the pairs marked ``fast``: its
    Li now and log10 of its multi-Li states C(sites, Li), what an exact mean-rate treatment
    of the group would have to enumerate."""
    a, b = pairs["a"].to_numpy()[fast], pairs["b"].to_numpy()[fast]
    n = occ.size
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    big = int(np.argmax(sizes))
    sites = int(sizes[big])
    li = int(occ[labels == big].sum())
    states = (
        math.lgamma(sites + 1) - math.lgamma(li + 1) - math.lgamma(sites - li + 1)
    ) / math.log(10)
    in_groups = sizes[labels] > 1
    return (
        f"largest group joined by pairs with g >= {s:g} g* (sites)",
        sites,
        f"{li} Li, log10 C(sites, Li) = {states:.1f}; sites in groups of >= 2: "
        f"{in_groups.mean():.2f}, mean group size (per site in one) "
        f"{sizes[labels][in_groups].mean() if in_groups.any() else 0:.1f}",
    )


def hop_budget(label: str, sim: drxkmc.Simulation, args) -> list[dict]:
    rows = []
    model = sim.model._core_dict()
    temperature = sim.temperature_K
    g_star, _mu = _core.critical_flux(sim.configuration()._c, model, temperature)
    sim.advance(hops=args.warmup_hops)
    hop_rate = sim.total_rate_per_s
    fluxes = mean_fluxes(sim, args.snapshots, args.spacing_hops)
    total = fluxes["flux"].sum()
    from_site = fluxes["from_site"].to_numpy()
    flux = fluxes["flux"].to_numpy()
    n_li = int(sim.li_occupancy().sum())

    def row(quantity: str, value: float, note: str = "") -> None:
        rows.append(
            {
                "system": label,
                "method": "plain kMC",
                "quantity": quantity,
                "value": value,
                "note": note,
            }
        )

    row("Li", n_li)
    row("hop rate (s^-1)", total, "mean over snapshots")
    row("critical flux g* (s^-1)", g_star)
    row("hops per Li per g*^-1", total / n_li / g_star, "hops each Li makes while g* fires once")
    occ = sim.li_occupancy()
    for tau_hops in TAU_HOPS:
        tau = tau_hops / hop_rate
        cut = _core.kinetic_cutoff_ev(model, temperature, tau)
        pocket = pocket_sites(sim, cut)
        share = flux[pocket[from_site]].sum() / total
        row(
            f"hops by Li on non-spanning kinetic clusters, tau = {tau_hops:.0e} hops",
            share,
            f"tau = {tau:.2e} s, E_cut = {cut:.3f} eV; Li there now: "
            f"{(occ & pocket).sum() / n_li:.3f}",
        )
    tau = 3600.0
    cut = _core.kinetic_cutoff_ev(model, temperature, tau)
    pocket = pocket_sites(sim, cut)
    row(
        "hops by Li on non-spanning kinetic clusters, tau = 1 h",
        flux[pocket[from_site]].sum() / total,
        f"E_cut = {cut:.3f} eV; Li there now: {(occ & pocket).sum() / n_li:.3f}",
    )
    closed = pocket_sites(sim, None)
    row(
        "hops by Li on truly closed pockets (no non-zero-rate path out)",
        flux[closed[from_site]].sum() / total,
        f"Li there now: {(occ & closed).sum() / n_li:.4f}",
    )
    # Undirected pair flux g_AB: in equilibrium each direction is crossed at g_AB.
    pairs = (
        fluxes.with_columns(
            pl.min_horizontal("from_site", "to_site").alias("a"),
            pl.max_horizontal("from_site", "to_site").alias("b"),
        )
        .group_by("a", "b")
        .agg((pl.col("flux").sum() / 2).alias("g"))
    )
    g = pairs["g"].to_numpy() / g_star
    both = 2 * g  # hops per unit time on the pair, in units of g*
    for s in SEPARATIONS:
        above = g >= s
        row(f"share of hops on pairs with g >= {s:g} g*", both[above].sum() / both.sum())
        row(
            f"flux-cap hop saving at S = {s:g}",
            both.sum() / np.minimum(both, 2 * s).sum(),
            "sum g / sum min(g, S g*)",
        )
        row(
            *largest_basin(pairs, above, occ, s),
        )
        below = both[~above].sum()
        row(
            f"superbasin upper bound at S = {s:g}",
            both.sum() / below if below > 0 else math.inf,
            "sum g / sum of g below S g* (only basin exits remain)",
        )
    return rows


def lag_msd(x: np.ndarray, max_lag: int) -> np.ndarray:
    """MSD (Å²) at lags 0..max_lag snapshots, averaged over Li and every time origin."""
    return np.array(
        [0.0] + [float(((x[k:] - x[:-k]) ** 2).sum(axis=2).mean()) for k in range(1, max_lag + 1)]
    )


def time_to_linear(
    label: str, sim: drxkmc.Simulation, duration_s: float, method: str
) -> tuple[list[dict], pl.DataFrame]:
    """One run of ``duration_s`` simulated seconds; unwrapped Li positions on a coarse grid
    (320 steps over the run) and a fine one (50x finer over its first 320 steps); the MSD at
    each lag is averaged over every time origin of its grid, and the window exponent alpha(t)
    over [0.2t, t] is computed as run() does, at t = 5n grid steps. D at the longest window
    (t = run/2) gets an error from 8 disjoint groups of Li."""
    coarse = duration_s / 320
    fine = coarse / 50
    grids = {"fine": fine * np.arange(321), "coarse": coarse * np.arange(321)}
    times = np.unique(np.concatenate(list(grids.values())))
    t0, h0 = sim.time_s, sim.hops
    positions, hops, walls = [], [], []
    wall0 = time.perf_counter()
    for t in times:
        if t > 0:
            sim.advance(time_s=t0 + t - sim.time_s)
        positions.append(sim.li_positions_A()[1])
        hops.append(sim.hops - h0)
        walls.append(time.perf_counter() - wall0)
    x = np.array(positions)
    hops_per_s = hops[-1] / times[-1]
    wall_per_hop = walls[-1] / hops[-1]
    curve = []
    for name, grid in grids.items():
        step = grid[1]
        m = lag_msd(x[np.searchsorted(times, grid)], 160)
        for n in range(1, 33):
            m1, m2, m3 = m[n], m[3 * n], m[5 * n]
            t = 5 * n * step
            s1, s2 = (m2 - m1) / (0.4 * t), (m3 - m2) / (0.4 * t)
            alpha = 1 + math.log(s2 / s1) / math.log(2) if s1 > 0 and s2 > 0 else math.nan
            curve.append(
                {
                    "system": label,
                    "method": method,
                    "grid": name,
                    "window_steps": 5 * n,
                    "time_s": t,
                    "hops": t * hops_per_s,
                    "wall_s": round(t * hops_per_s * wall_per_hop, 2),
                    "msd_A2": m3,
                    "alpha": alpha,
                    "D_apparent_cm2_s": s2 * 1e-16 / 6,
                }
            )
    frame = pl.DataFrame(curve).sort("time_s").unique("time_s", keep="last", maintain_order=True)
    # D over the longest window [0.6t, t] (t = 160 coarse steps) in 8 disjoint groups of Li.
    xc = x[np.searchsorted(times, grids["coarse"])]
    groups = np.random.default_rng(0).permutation(xc.shape[1]) % 8
    d_groups = []
    for g in range(8):
        xg = xc[:, groups == g]
        m = lag_msd(xg, 160)
        d_groups.append((m[160] - m[96]) / (0.4 * 160 * coarse) * 1e-16 / 6)
    d, d_err = float(np.mean(d_groups)), float(np.std(d_groups, ddof=1) / math.sqrt(8))
    reached = frame.filter(pl.col("alpha") >= 0.9)
    last = frame.row(-1, named=True)
    first = reached.row(0, named=True) if reached.height else None
    row = {"system": label, "method": method}
    rows = [
        row
        | {
            "quantity": "run: hops (wall s per hop, hops per simulated s)",
            "value": hops[-1],
            "note": f"{wall_per_hop:.3g} s/hop, {hops_per_s:.3g} hops/s simulated; "
            f"{times[-1]:.3g} s simulated",
        },
        row
        | {
            "quantity": "D* over the longest window (cm^2/s), error from 8 Li groups",
            "value": d,
            "note": f"+- {d_err:.2e}; window [{0.6 * last['hops']:.3g}, {last['hops']:.3g}] "
            f"hops, alpha {last['alpha']:.3f}",
        },
        row
        | {
            "quantity": "hops until alpha >= 0.9",
            "value": first["hops"] if first else math.nan,
            "note": (
                f"lag {first['time_s']:.3g} s, {first['wall_s']} s wall"
                if first
                else f"not reached at lags up to {last['hops']:.3g} hops"
            ),
        },
    ]
    return rows, frame


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshots", type=int, default=40)
    parser.add_argument("--spacing-hops", type=int, default=250_000)
    parser.add_argument("--warmup-hops", type=int, default=2_000_000)
    parser.add_argument(
        "--accelerations",
        type=float,
        nargs="*",
        default=[100.0, 1000.0],
        help="flux caps S also run for the systems that allow them",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies every long run's length (tests)"
    )
    parser.add_argument("--systems", type=int, nargs="*", help="indices into SYSTEMS")
    args = parser.parse_args()
    rows, curves = [], []
    for i, (label, *system, duration, capped) in enumerate(SYSTEMS):
        if args.systems and i not in args.systems:
            continue
        rows += hop_budget(label, simulation(*system), args)
        for s in [None] + (args.accelerations if capped else []):
            method = "plain kMC" if s is None else f"flux cap S = {s:g}"
            r, c = time_to_linear(
                label, simulation(*system, acceleration=s), args.scale * duration, method
            )
            rows += r
            curves.append(c)
    frame = pl.DataFrame(rows)
    msd = pl.concat(curves)
    msd.write_csv(OUT / "hop_budget_msd.csv")
    save("hop_budget", frame, markdown(frame, msd, args))


def markdown(frame: pl.DataFrame, msd: pl.DataFrame, args) -> str:
    shown = frame.with_columns(
        pl.col("value").map_elements(lambda x: f"{x:.4g}", return_dtype=pl.String)
    )
    curve = msd.filter(pl.col("window_steps").is_in([5, 10, 20, 40, 80, 160])).select(
        "system",
        "method",
        "grid",
        pl.col("hops").map_elements(lambda x: f"{x:.3g}", return_dtype=pl.String),
        pl.col("time_s").map_elements(lambda x: f"{x:.3g}", return_dtype=pl.String),
        "wall_s",
        pl.col("alpha").round(3),
        pl.col("D_apparent_cm2_s").map_elements(lambda x: f"{x:.3e}", return_dtype=pl.String),
    )
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=200,
        tbl_cols=-1,
        tbl_width_chars=400,
        fmt_str_lengths=120,
    ):
        table, curve_table = str(shown), str(curve)
    return (
        f"# Where plain-kMC hops go at room temperature (one core of {machine()})\n\n"
        f"`python benchmarks/bench_hop_budget.py --snapshots {args.snapshots} "
        f"--accelerations {' '.join(f'{s:g}' for s in args.accelerations)}`\n\n{table}\n\n"
        f"## Local MSD exponent over [0.2t, t] from the equilibrium start\n\n{curve_table}\n"
    )


if __name__ == "__main__":
    main()
