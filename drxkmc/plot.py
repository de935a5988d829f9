"""Matplotlib figures of run results (matplotlib is imported only when plotting).

Every function draws into the axes it is given (``ax=``) or a new figure, and returns the
axes. Axes carry SI units without offset notation. For a paper, draw inside
:func:`single_column`: figures one journal column (3.3 in) wide with fonts that read there.
"""

from __future__ import annotations

import contextlib

import numpy as np

from drxkmc._core import ANION_NAMES

#: Anion code of an O vacancy (its index in the core's anion names).
ANION_VACANCY = ANION_NAMES.index("Va")
#: Size of a new figure, in: screen size, or one journal column inside :func:`single_column`.
_FIGSIZE = [(5.0, 3.5)]

#: Matplotlib settings of :func:`single_column`: 3.3 in wide, 8 pt text, 7 pt legends and
#: ticks, thinner lines, 300 dpi when saved.
SINGLE_COLUMN_RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "errorbar.capsize": 1.5,
    "axes.linewidth": 0.6,
    "savefig.dpi": 300,
}
SINGLE_COLUMN_SIZE_IN = (3.3, 2.5)


@contextlib.contextmanager
def single_column():
    """Figures drawn inside this block are one journal column (3.3 in) wide, with fonts and
    lines sized to read there::

        with drxkmc.plot.single_column():
            result.plot_msd().figure.savefig("msd.pdf")
    """
    import matplotlib as mpl

    with mpl.rc_context(SINGLE_COLUMN_RC):
        _FIGSIZE.append(SINGLE_COLUMN_SIZE_IN)
        try:
            yield
        finally:
            _FIGSIZE.pop()


def axes_or_new(ax):
    """``ax``, or the axes of a new figure (5×3.5 in, or 3.3 in wide in :func:`single_column`)."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=_FIGSIZE[-1], constrained_layout=True)
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


def plot_voltage_curve(frame, ax=None, *, x: str = "capacity_mAh_g"):
    """Equilibrium voltage (V) against capacity (mAh/g, or ``x="li_per_fu"``: Li per formula
    unit) from :func:`drxkmc.voltage_curve`. Returns the axes."""
    ax = axes_or_new(ax)
    ax.plot(frame[x].to_numpy(), frame["voltage_V"].to_numpy())
    ax.set_xlabel({"capacity_mAh_g": "capacity (mAh/g)", "li_per_fu": "Li per formula unit"}[x])
    ax.set_ylabel("V vs Li/Li⁺ (V)")
    ax.ticklabel_format(axis="y", useOffset=False)
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


def _cycling_frame(frame, field: str):
    """`frame` as a polars DataFrame: a Cycling gives its results (or profiles)."""
    import polars as pl

    from drxkmc.degradation import Cycling
    from drxkmc.errors import invalid

    if isinstance(frame, Cycling):
        return frame.results if field == "results" else frame.profiles
    if not isinstance(frame, pl.DataFrame):
        raise invalid(
            field, f"must be Cycling.{field} (a polars DataFrame), got {type(frame).__name__}"
        )
    return frame


def plot_capacity(results, ax=None):
    """Charge and discharge capacity (mAh/g) against cycle from :attr:`Cycling.results`, with
    the retention on a second axis (a :class:`drxkmc.Cycling` is taken as its results).
    Returns the capacity axes."""
    results = _cycling_frame(results, "results")
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
    :attr:`Cycling.profiles` (a :class:`drxkmc.Cycling` is taken as its profiles); ``cycles``
    picks which (default: up to six, evenly spaced)."""
    profiles = _cycling_frame(profiles, "profiles")
    if column not in _PROFILE_LABELS:
        from drxkmc.errors import invalid

        raise invalid("column", f"must be one of {sorted(_PROFILE_LABELS)}, got {column!r}")
    available = sorted(set(profiles["cycle"].to_list()))
    if cycles is None:
        step = max(1, len(available) // 6)
        cycles = available[::step]
    missing = sorted(set(cycles) - set(available))
    if missing or not cycles:
        from drxkmc.errors import invalid

        raise invalid(
            "cycles", f"cycles {missing} have no profile (completed: 1..{len(available)})"
        )
    ax = axes_or_new(ax)
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
    species (vacancy, Li, each TM) and its O vacancies, surfaces at the top and bottom. TMs
    on tetrahedral sites whose tetrahedron spans the plane are drawn as triangles at its
    centre (x + a/4, z + a/4)."""
    from drxkmc import _validate as check

    lattice = config.lattice
    nx, ny, nz = (2 * s for s in lattice.size)
    y = check.integer("y", y, minimum=0, maximum=ny - 1)
    ax = axes_or_new(ax)
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
    tets = np.array([(r[0], r[1]) for r in config._c.tetrahedral()], dtype=np.int64).reshape(-1, 2)
    t, t_code = tets[:, 0], tets[:, 1]
    tx, ty, tz = t % nx, (t // nx) % ny, t // (nx * ny)
    spans = (ty == y) | ((ty + 1) % ny == y)
    for code in np.unique(t_code[spans]):
        sel = spans & (t_code == code)
        ax.scatter(
            (tx[sel] + 0.5) * half,
            (tz[sel] + 0.5) * half,
            s=18,
            marker="^",
            color=colours[code % len(colours)],
            edgecolors="k",
            linewidths=0.5,
            label=f"{names[code]} (tetrahedral)",
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


def plot_channel_usage(frame, ax=None):
    """Share of hops by channel (TM count of the activated tetrahedron), stacked by the anion
    corners of that tetrahedron, from :meth:`drxkmc.Simulation.channel_usage`; each bar is
    labelled with its share (2-TM hops are often too rare to see). Returns the axes."""
    import polars as pl

    from drxkmc.trajectory import CHANNELS

    ax = axes_or_new(ax)
    corners = sorted(set(frame["corners"].to_list()), key=lambda c: (c != "O only", c))
    bottom = np.zeros(len(CHANNELS))
    x = np.arange(len(CHANNELS))
    for c in corners:
        sub = frame.filter(pl.col("corners") == c)
        share = np.array(
            [sub.filter(pl.col("channel") == ch)["hop_fraction"].sum() for ch in CHANNELS]
        )
        ax.bar(x, share, bottom=bottom, label=c, width=0.6)
        bottom += share
    for k, total in enumerate(bottom):
        ax.annotate(
            f"{total:.2%}" if total >= 1e-4 else f"{total:.1e}",
            (x[k], total),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    ax.set_xticks(x, list(CHANNELS))
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("channel (TM in the activated tetrahedron)")
    ax.set_ylabel("share of hops")
    ax.legend(title="anion corners", frameon=False, fontsize="small", title_fontsize="small")
    return ax


def plot_bond_flux(sim, z: int = 0, *, top: int = 60, ax=None):
    """The ``top`` bonds with the most net Li flux (:meth:`drxkmc.Simulation.bond_flux`) that
    start in cation plane ``z`` (grid units of a/2, from 0), drawn as arrows in x–y (bonds
    leaving the plane are projected), width by net hops; transition metals of the plane dark
    grey, Li light. Returns the axes."""
    import polars as pl

    from drxkmc import _validate as check

    lat = sim.lattice
    z = check.integer("z", z, minimum=0, maximum=2 * lat.size[2] - 1)
    top = check.count("top", top)
    flux = sim.bond_flux()
    half = lat.a / 2
    pos = lat.cation_positions()
    grid = np.rint(pos / half).astype(np.int64)
    box = np.asarray(lat.size, dtype=float) * lat.a
    ax = axes_or_new(ax)
    in_plane = grid[:, 2] == z
    symbols = sim.configuration().cation_symbols()
    tm = in_plane & (symbols != "Li") & (symbols != "Va")
    li = in_plane & (symbols == "Li")
    ax.scatter(pos[tm, 0], pos[tm, 1], s=12, color="0.25", label="TM", zorder=1)
    ax.scatter(pos[li, 0], pos[li, 1], s=6, color="0.75", label="Li", zorder=1)
    start = flux["from_site"].to_numpy().astype(np.int64)
    chosen = flux.filter(pl.Series(grid[start, 2] == z)).head(top)
    if chosen.height:
        a = chosen["from_site"].to_numpy().astype(np.int64)
        b = chosen["to_site"].to_numpy().astype(np.int64)
        net = chosen["net_hops"].to_numpy().astype(float)
        d = pos[b] - pos[a]
        d -= box * np.round(d / box)  # minimum image: the bond, not its wrap
        d *= np.sign(net)[:, None]
        tail = np.where((net > 0)[:, None], pos[a], pos[a] - d)
        width = 0.5 + 2.5 * np.abs(net) / np.abs(net).max()
        for t, v, w in zip(tail, d, width):
            ax.annotate(
                "",
                xy=(t[0] + v[0], t[1] + v[1]),
                xytext=(t[0], t[1]),
                arrowprops={"arrowstyle": "->", "lw": w, "color": "C3"},
            )
        ax.plot([], [], color="C3", label=f"net flux (top {chosen.height})")
    ax.set_xlim(-half, box[0])
    ax.set_ylim(-half, box[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.set_title(f"cation plane z = {z * half:.2f} Å")
    ax.legend(
        frameon=False, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3
    )
    return ax
