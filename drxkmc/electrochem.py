"""Electrochemistry of the model: open-circuit voltage V(x), extractable capacity, and
diffusivities against state of charge.

Li interact only through site energies in the barrier model, so the equilibrium Li count of an
electrode at a Li chemical potential μ is exact: the Li fixed on clusters that no path connects
to the crystal's network, plus Σ f_i(μ) over the connected (accessible) sites, with Fermi–Dirac
occupancies f_i = 1/(1 + exp((E_i − μ)/kT)) (computed in the core,
``drxkmc_core::equilibrium``). The voltage is V = −(μ − μ_Li,metal)/e. The model's site
energies have no absolute reference, and the redox energy of the transition metals is not in
the model, so V(x) carries the configurational and site-energy part of the curve only; its
offset is ``reference_voltage_V``, the voltage at which a Li site of energy 0 is half full.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.configuration import DEFAULT_SWEEPS, DEFAULT_TIMESCALE_S, Configuration
from drxkmc.errors import invalid
from drxkmc.material import Material

#: Voltage (V vs Li/Li⁺) at which a Li site of energy 0 is half full. An assumption, not a
#: fitted value: 3.5 V is mid-range for Mn-based DRX cathodes (e.g. Lee et al., Nature 556,
#: 185 (2018), Li-Mn-Nb-O-F cycled 1.5–5.0 V). Only differences of V are predicted.
DEFAULT_REFERENCE_VOLTAGE_V = 3.5


def _check_config(config) -> Configuration:
    check.instance("config", config, Configuration, "drxkmc.Configuration")
    if config.material is None:
        raise invalid("config", "needs its material (formula units) for Li per formula unit")
    return config


def _material(config: Configuration) -> Material:
    """The material of a configuration that passed :func:`_check_config`."""
    assert config.material is not None
    return config.material


def _per_fu(config: Configuration) -> float:
    return config.lattice.n_cations / _material(config).cation_sites


def voltage_curve(
    config: Configuration,
    model=None,
    *,
    temperature_K: float = 300.0,
    timescale_s: float = DEFAULT_TIMESCALE_S,
    reference_voltage_V: float = DEFAULT_REFERENCE_VOLTAGE_V,
    n_points: int = 101,
) -> pl.DataFrame:
    """Equilibrium open-circuit voltage curve of an electrode made from ``config`` (taken as
    the as-made, usually fully lithiated state).

    Columns: ``voltage_V``, ``mu_eV`` (on the site-energy scale), ``li_per_fu``,
    ``capacity_mAh_g`` (charge passed from the as-made state). ``n_points`` potentials span the
    site energies ±12 kT, i.e. the whole curve. Exact (no sampling)."""
    config = _check_config(config)
    model = check.model(model)
    temperature_K = check.temperature("temperature_K", temperature_K)
    timescale_s = check.number("timescale_s", timescale_s, unit="s", positive=True)
    v0 = check.number("reference_voltage_V", reference_voltage_V, unit="V")
    n_points = check.count("n_points", n_points, minimum=2)
    energies = _core.site_energies(config._c, model._core_dict())
    kt = _core.BOLTZMANN_EV_PER_K * temperature_K
    mus = np.linspace(energies.min() - 12 * kt, energies.max() + 12 * kt, int(n_points))
    n = _core.li_at_potentials(config._c, model._core_dict(), temperature_K, timescale_s, mus)
    x = n / _per_fu(config)
    q = (config.n_li / _per_fu(config) - x) * _material(config)._c.capacity_per_electron_mah_g
    order = np.argsort(q, kind="stable")
    return pl.DataFrame(
        {
            "voltage_V": (v0 - mus)[order],
            "mu_eV": mus[order],
            "li_per_fu": x[order],
            "capacity_mAh_g": q[order],
        }
    )


def extractable_capacity(
    config: Configuration,
    cutoff_V: float,
    model=None,
    *,
    temperature_K: float = 300.0,
    timescale_s: float = DEFAULT_TIMESCALE_S,
    reference_voltage_V: float = DEFAULT_REFERENCE_VOLTAGE_V,
) -> float:
    """Capacity (mAh/g) charged from ``config`` up to the voltage ``cutoff_V`` in equilibrium:
    the mean number of accessible Li whose sites empty at μ = reference − e·cutoff."""
    config = _check_config(config)
    model = check.model(model)
    cut = check.number("cutoff_V", cutoff_V, unit="V")
    mu = check.number("reference_voltage_V", reference_voltage_V, unit="V") - cut
    n = _core.li_at_potentials(
        config._c,
        model._core_dict(),
        check.temperature("temperature_K", temperature_K),
        check.number("timescale_s", timescale_s, unit="s", positive=True),
        np.array([mu]),
    )[0]
    return float(
        (config.n_li - n) / _per_fu(config) * _material(config)._c.capacity_per_electron_mah_g
    )


def state_of_charge_sweep(
    config: Configuration,
    li_contents: Iterable[float],
    model=None,
    *,
    temperature_K: float = 300.0,
    timescale_s: float = DEFAULT_TIMESCALE_S,
    reference_voltage_V: float = DEFAULT_REFERENCE_VOLTAGE_V,
    precision: float = 0.1,
    max_hops: int = 50_000_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Diffusivities against Li content: the curves GITT/PITT measure.

    For each ``li_contents`` value (Li per formula unit) the electrode made from ``config`` is
    (de)lithiated electrochemically (:meth:`Configuration.with_li_content`), the voltage is the
    equilibrium one at that content, and a :class:`~drxkmc.Simulation` measures D*, D_J, Θ and
    D_chem to ``precision`` (relative error of D*), at most ``max_hops`` hops per point.
    Returns one row per content: ``li_per_fu``, ``voltage_V`` and the diffusivity columns."""
    from drxkmc.simulation import ConvergenceWarning, Simulation

    config = _check_config(config)
    model = check.model(model)
    seed = check.seed(seed)
    temperature_K = check.temperature("temperature_K", temperature_K)
    xs = check.number_array("li_contents", li_contents, min_len=1).tolist()
    v0 = check.number("reference_voltage_V", reference_voltage_V, unit="V")
    timescale_s = check.number("timescale_s", timescale_s, unit="s", positive=True)
    # Every state first: an unreachable Li content fails before any kMC has run.
    states = [
        config._equilibrium(
            model, temperature_K, timescale_s, int(round(x * _per_fu(config))), DEFAULT_SWEEPS, seed
        )
        for x in xs
    ]
    rows = []
    for x, (state, info) in zip(xs, states):
        sim = Simulation(
            state, model, temperature_K=temperature_K, seed=seed, timescale_s=timescale_s
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sim.run(precision=precision, max_hops=max_hops)
        if result.interrupted:
            raise KeyboardInterrupt  # Ctrl-C stops the whole sweep, not one point
        row = result.diffusivity.row(0, named=True)
        rows.append({"li_per_fu": x, "voltage_V": v0 - info["mu_ev"], **row})
    frame = pl.DataFrame(rows)
    bad = frame.filter(~pl.col("converged"))
    if bad.height:
        warnings.warn(
            f"{bad.height} of {frame.height} points did not converge within max_hops "
            f"(li_per_fu {bad['li_per_fu'].to_list()}); see the 'converged' column",
            ConvergenceWarning,
            stacklevel=2,
        )
    return frame
