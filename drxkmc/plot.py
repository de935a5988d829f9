"""Matplotlib figures of run results (matplotlib is imported only when plotting)."""

from __future__ import annotations

import numpy as np

from drxkmc._core import ANION_NAMES

#: Anion code of an O vacancy (its index in the core's anion names).
ANION_VACANCY = ANION_NAMES.index("Va")


def axes_or_new(ax):
    """``ax``, or the axes of a new 5×3.5 in figure."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    return ax


def plot_msd(result, ax=None, *, loglog: bool = False, fit_from: float = 0.2):
    """Tracer and centre-of-mass MSD (Å²) against lag (s), with standard-error bands, the
    fitted window shaded and the run's verdict in the corner. ``loglog=True`` adds the
    slope-1 guide through the end of the tracer MSD: a curve flatter than it is still
    sub-diffusive (the run is too short)."""
    ax = axes_or_new(ax)
    m = result.msd
    t = m["lag_s"].to_numpy()
    for col, label in (("msd_A2", "tracer  Σ|Rᵢ|²/N"), ("com_msd_A2", "centre of mass  |ΣRᵢ|²/N")):
        y = m[col].to_numpy()
        e = np.nan_to_num(m[col.replace("_A2", "_err_A2")].to_numpy())
        ax.plot(t, y, label=label)
        ax.fill_between(t, y - e, y + e, alpha=0.3)
    if len(t):
        ax.axvspan(fit_from * t[-1], t[-1], color="0.9", zorder=0, label="fitted window")
        if loglog:
            y = m["msd_A2"].to_numpy()
            ax.plot(t, y[-1] * t / t[-1], "k:", label="slope 1 (diffusive)")
            ax.set_xscale("log")
            ax.set_yscale("log")
    row = result.diffusivity.row(0, named=True)
    verdict = "converged" if row["converged"] else "NOT converged"
    ax.text(
        0.02,
        0.98,
        f"{verdict}\nMSD exponent {row['msd_exponent']:.2f}",
        transform=ax.transAxes,
        va="top",
        fontsize="small",
    )
    if not loglog:
        ax.ticklabel_format(axis="both", style="sci", useOffset=False)  # no offset notation
    ax.set_xlabel("lag (s)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return ax


#: Readable labels of the diffusivity columns.
_D_LABELS = {"D_tracer_cm2_s": "D*", "D_jump_cm2_s": "D_J", "D_chem_cm2_s": "D_chem"}


def plot_arrhenius(result, ax=None):
    """D against 1000/T (log scale) with error bars; each fitted line is labelled with the
    quantity it fits and its E_a ± error. Unconverged points are drawn hollow."""
    from drxkmc._core import BOLTZMANN_EV_PER_K

    ax = axes_or_new(ax)
    tab = result.table
    inv_t = 1000.0 / tab["temperature_K"].to_numpy()
    converged = (
        tab["converged"].to_numpy() if "converged" in tab.columns else np.ones(len(tab), bool)
    )
    for q in ("D_tracer_cm2_s", "D_chem_cm2_s"):
        d = tab[q].to_numpy()
        e = tab[q.replace("_cm2_s", "_err_cm2_s")].to_numpy()
        (line,) = ax.plot([], [])
        color = line.get_color()
        fit = result.fit.filter(result.fit["quantity"] == q).row(0, named=True)
        label = _D_LABELS[q]
        if np.isfinite(fit["activation_energy_eV"]):
            label += f": E_a = {fit['activation_energy_eV']:.2f} ± {fit['activation_energy_err_eV']:.2f} eV"
            x = np.linspace(inv_t.min(), inv_t.max(), 50)
            ax.plot(
                x,
                fit["D0_cm2_s"]
                * np.exp(-fit["activation_energy_eV"] * x / (1000 * BOLTZMANN_EV_PER_K)),
                color=color,
            )
        ax.errorbar(
            inv_t[converged], d[converged], yerr=e[converged], fmt="o", color=color, label=label
        )
        if (~converged).any():
            ax.errorbar(
                inv_t[~converged],
                d[~converged],
                yerr=e[~converged],
                fmt="o",
                mfc="none",
                color=color,
            )
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_state_of_charge(frame, ax=None):
    """D*, D_J·Θ = D_chem (log scale, with error bars) against Li content, from
    :func:`drxkmc.state_of_charge_sweep`; unconverged points hollow. Returns the axes."""
    ax = axes_or_new(ax)
    x = frame["li_per_fu"].to_numpy()
    ok = frame["converged"].to_numpy()
    for q in ("D_tracer_cm2_s", "D_chem_cm2_s"):
        d = frame[q].to_numpy()
        e = frame[q.replace("_cm2_s", "_err_cm2_s")].to_numpy()
        (line,) = ax.plot(x, d, "-", alpha=0.5)
        ax.errorbar(x[ok], d[ok], yerr=e[ok], fmt="o", color=line.get_color(), label=_D_LABELS[q])
        if (~ok).any():
            ax.errorbar(x[~ok], d[~ok], yerr=e[~ok], fmt="o", mfc="none", color=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("Li per formula unit")
    ax.set_ylabel("D (cm²/s)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_percolation_curve(
    frame,
    x: str = "li_per_fu",
    y: str = "accessible_li_fraction",
    ax=None,
    label: str | None = None,
):
    """Mean ± standard deviation of ``y`` against ``x`` from
    :func:`drxkmc.percolation_sweep`."""
    ax = axes_or_new(ax)
    xs = frame[x].to_numpy()
    mean = frame[f"{y}_mean"].to_numpy()
    std = frame[f"{y}_std"].fill_null(0.0).to_numpy()
    ax.errorbar(xs, mean, yerr=std, fmt="o-", capsize=2, label=label)
    ax.set_xlabel({"li_per_fu": "Li per formula unit x", "li_content": "Li content"}.get(x, x))
    ax.set_ylabel(y.replace("_", " "))
    if y.endswith("fraction"):
        ax.set_ylim(-0.02, 1.02)
    if label is not None:
        ax.legend(frameon=False)
    return ax


def plot_cluster_slice(result, z: int = 0, ax=None):
    """One cation plane of a :class:`drxkmc.PercolationResult` coloured by cluster: grid
    plane ``z`` (units of a/2, from 0), the sites placed by their positions.

    Accessible clusters get a colour each (cycled), non-accessible Li and vacancies light grey,
    TM sites dark grey; anion positions are left blank.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from drxkmc import _validate as check

    lat = result.lattice
    dx, dy, dz = (2 * s for s in lat.size)
    z = check.integer("z", z, minimum=0, maximum=dz - 1)
    # Grid coordinates (units of a/2) of every cation site, from its position.
    grid = np.rint(lat.cation_positions() / (lat.a / 2)).astype(np.int64)
    in_plane = grid[:, 2] == z
    x, y = grid[in_plane, 0], grid[in_plane, 1]
    labels = result.labels[in_plane]
    accessible = result.clusters["accessible"].to_numpy()

    img = np.ones((dy, dx, 4))  # anion points: white
    tm = labels < 0
    acc = np.zeros(labels.shape, dtype=bool)
    acc[~tm] = accessible[labels[~tm]]
    cmap = plt.get_cmap("tab20")
    img[y[tm], x[tm]] = (0.25, 0.25, 0.25, 1.0)
    closed = ~tm & ~acc
    img[y[closed], x[closed]] = (0.8, 0.8, 0.8, 1.0)
    img[y[acc], x[acc]] = cmap(labels[acc] % 20)

    ax = axes_or_new(ax)
    ax.imshow(img, origin="lower", interpolation="nearest")
    ax.set_xlabel("x (a/2)")
    ax.set_ylabel("y (a/2)")
    ax.set_title(f"{result.rule} clusters, cation plane z = {z}")
    ax.legend(
        handles=[
            Patch(color=(0.25, 0.25, 0.25), label="TM"),
            Patch(color=(0.8, 0.8, 0.8), label="Li/vacancy, not accessible"),
            Patch(color=cmap(0), label="accessible (one colour per cluster)"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize="small",
    )
    return ax


def plot_capacity(results, ax=None):
    """Charge and discharge capacity (mAh/g) against cycle from :attr:`Cycling.results`, with
    the retention on a second axis. Returns the capacity axes."""
    ax = axes_or_new(ax)
    cycle = results["cycle"].to_numpy()
    ax.plot(cycle, results["charge_capacity_mAh_g"].to_numpy(), "o-", ms=3, label="charge")
    ax.plot(cycle, results["discharge_capacity_mAh_g"].to_numpy(), "s-", ms=3, label="discharge")
    ax.set_xlabel("cycle")
    ax.set_ylabel("capacity (mAh/g)")
    right = ax.twinx()
    right.plot(cycle, 100 * results["retention"].to_numpy(), "k:", label="retention")
    right.set_ylabel("retention (%)")
    lines = ax.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], frameon=False, fontsize="small")
    return ax


#: Readable labels of the depth-profile columns.
_PROFILE_LABELS = {
    "li_fraction": "Li per cation site",
    "tm_fraction": "TM per cation site",
    "o_vacancy_fraction": "O vacancies per anion site",
    "accessible_fraction": "accessible cation sites",
    "lost_site_fraction": "cation sites lost to densification",
}


def plot_depth_profiles(profiles, column: str = "tm_fraction", cycles=None, ax=None):
    """One depth profile per cycle (surface at 0 nm) of ``column`` from
    :attr:`Cycling.profiles`; ``cycles`` picks which (default: up to six, evenly spaced)."""
    if column not in _PROFILE_LABELS:
        from drxkmc.errors import invalid

        raise invalid("column", f"must be one of {sorted(_PROFILE_LABELS)}, got {column!r}")
    ax = axes_or_new(ax)
    available = sorted(set(profiles["cycle"].to_list()))
    if cycles is None:
        step = max(1, len(available) // 6)
        cycles = available[::step]
    import matplotlib as mpl

    colours = mpl.colormaps["viridis"](np.linspace(0, 1, max(len(cycles), 2)))
    for colour, c in zip(colours, cycles, strict=False):
        p = profiles.filter(profiles["cycle"] == c)
        ax.plot(
            p["depth_nm"].to_numpy(),
            p[column].to_numpy(),
            "o-",
            ms=2,
            color=colour,
            label=f"cycle {c}",
        )
    ax.set_xlabel("depth below the surface (nm)")
    ax.set_ylabel(_PROFILE_LABELS[column])
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_cross_section(config, y: int = 0, ax=None):
    """An x–z slice (grid plane ``y``, units of a/2) of a slab's cation sites coloured by
    species (vacancy, Li, each TM) and its O vacancies, surfaces at the top and bottom."""
    ax = axes_or_new(ax)
    lattice = config.lattice
    nx, ny, nz = (2 * s for s in lattice.size)
    if not 0 <= y < ny:
        from drxkmc.errors import invalid

        raise invalid("y", f"must be a grid plane 0..{ny - 1}, got {y}")
    cations = config._c.cations()
    anions = config._c.anions()
    half = lattice.a / 2
    names = ["vacancy", "Li", *config.tm_names]
    colours = ["0.85", "tab:green", "tab:purple", "tab:orange", "tab:blue", "tab:red", "tab:brown"]
    # Cation c and anion c share the grid pair (2c, 2c+1), x fastest: the cation is the
    # point with x+y+z even.
    g = 2 * np.arange(len(cations))
    x0, yy, z = g % nx, (g // nx) % ny, g // (nx * ny)
    even = (x0 + yy + z) % 2 == 0
    x = np.where(even, x0, x0 + 1)
    on = yy == y
    for code, name in enumerate(names):
        sel = on & (cations == code)
        if sel.any():
            ax.scatter(
                x[sel] * half, z[sel] * half, s=12, color=colours[code % len(colours)], label=name
            )
    ax_x = np.where(even, x0 + 1, x0)
    vac = on & (anions == ANION_VACANCY)
    if vac.any():
        ax.scatter(ax_x[vac] * half, z[vac] * half, s=12, marker="x", color="k", label="O vacancy")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("z (Å)")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize="x-small", loc="upper left", bbox_to_anchor=(1, 1))
    return ax
