"""Matplotlib figures of run results (matplotlib is imported only when plotting)."""

from __future__ import annotations

import numpy as np


def axes_or_new(ax):
    """``ax``, or the axes of a new 5×3.5 in figure."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    return ax


def plot_msd(result, ax=None):
    """Tracer and centre-of-mass MSD (Å²) against lag (s), with standard-error bands."""
    ax = axes_or_new(ax)
    m = result.msd
    t = m["lag_s"].to_numpy()
    for col, label in (("msd_A2", "tracer  Σ|Rᵢ|²/N"), ("com_msd_A2", "centre of mass  |ΣRᵢ|²/N")):
        y = m[col].to_numpy()
        e = np.nan_to_num(m[col.replace("_A2", "_err_A2")].to_numpy())
        ax.plot(t, y, label=label)
        ax.fill_between(t, y - e, y + e, alpha=0.3)
    ax.set_xlabel("lag (s)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(frameon=False)
    return ax


def plot_arrhenius(result, ax=None):
    """log10 D against 1000/T with error bars and the fitted lines."""
    from drxkmc._core import BOLTZMANN_EV_PER_K

    ax = axes_or_new(ax)
    tab = result.table
    inv_t = 1000.0 / tab["temperature_K"].to_numpy()
    for q in ("D_tracer_cm2_s", "D_chem_cm2_s"):
        d = tab[q].to_numpy()
        e = tab[q.replace("_cm2_s", "_err_cm2_s")].to_numpy()
        (line,) = ax.plot([], [])
        ax.errorbar(inv_t, d, yerr=e, fmt="o", color=line.get_color(), label=q)
        fit = result.fit.filter(result.fit["quantity"] == q).row(0, named=True)
        if np.isfinite(fit["activation_energy_eV"]):
            x = np.linspace(inv_t.min(), inv_t.max(), 50)
            ax.plot(
                x,
                fit["D0"] * np.exp(-fit["activation_energy_eV"] * x / (1000 * BOLTZMANN_EV_PER_K)),
                color=line.get_color(),
                label=f"E_a = {fit['activation_energy_eV']:.3f} ± "
                f"{fit['activation_energy_err_eV']:.3f} eV",
            )
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    ax.legend(frameon=False, fontsize="small")
    return ax
