"""Diffusivities from block observations of a kMC run.

A measuring run is split into ``B`` blocks of equal simulated time. At the start of a block
every Li displacement is zeroed; during the block the core reports, on a regular grid of lags
τ, Σ|R_i|² (tracer), |Σ R_i|² (centre of mass) and the Li count of each octant of the box.
Each block gives one independent estimate of every quantity; the value reported is the mean
over blocks and its uncertainty the standard error of that mean.

In a slab (periodic in x and y, open along z) Li cannot travel along z, so every MSD and
diffusivity is in-plane: MSDs are of the x, y components and D = MSD/(4t) (2-D) instead of
MSD/(6t); a block says which through ``dimensions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: Elementary charge (C) and Boltzmann constant (J/K), SI 2019 exact values.
ELEMENTARY_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23
ANGSTROM2_TO_CM2 = 1e-16
#: Fraction of the box in one octant, for the canonical-ensemble correction of Θ.
OCTANT_FRACTION = 1.0 / 8.0


@dataclass
class Block:
    """Observations of one measuring block (arrays over the lag grid)."""

    lag_s: np.ndarray
    msd_A2: np.ndarray  # Σ|R_i|² / N, Å²
    com_msd_A2: np.ndarray  # |Σ R_i|² / N, Å²
    n_li: int
    moved_fraction: float  # Li displaced by more than one hop at the block's end
    octant_li: np.ndarray  # (lags, 8)
    li_energy_ev: float  # mean site energy per Li over the block's samples, eV
    hops: int = 0  # hops made in the block
    dimensions: int = 3  # axes the MSDs cover: 3 (bulk), 2 (slab: x and y)


def block_from_observations(
    obs: dict, t0: float, half_a: float, hops: int = 0, *, in_plane: bool = False
) -> Block:
    """Turn the core's raw observation columns (displacements in a/2) into a :class:`Block`;
    ``in_plane`` (slabs) keeps the x and y components of every displacement only."""
    n_li = int(obs["n_li"][0]) if len(obs["n_li"]) else 0
    scale = half_a**2 / max(n_li, 1)
    com2 = obs["sum_rx"] ** 2 + obs["sum_ry"] ** 2
    r2 = obs["sum_r2"] - obs["sum_rz2"]
    if not in_plane:
        com2 = com2 + obs["sum_rz"] ** 2
        r2 = obs["sum_r2"]
    beyond = obs["n_beyond_one_hop"]
    return Block(
        lag_s=obs["time_s"] - t0,
        msd_A2=r2 * scale,
        com_msd_A2=com2 * scale,
        n_li=n_li,
        moved_fraction=float(beyond[-1]) / n_li if n_li and len(beyond) else 0.0,
        octant_li=np.asarray(obs["octant_li"], dtype=float),
        li_energy_ev=float(np.mean(obs["li_energy_ev"])) / max(n_li, 1)
        if len(obs["li_energy_ev"])
        else float("nan"),
        hops=hops,
        dimensions=2 if in_plane else 3,
    )


def _slope(lag: np.ndarray, y: np.ndarray, fit_from: float) -> float:
    """(y(τ_max) − y(τ_f)) / (τ_max − τ_f) with τ_f the first lag ≥ fit_from·τ_max.

    Taking the increment, not y/τ, removes the constant offset that short-time correlations
    (e.g. the vacancy's immediate return) add to the MSD.
    """
    k = int(np.searchsorted(lag, fit_from * lag[-1]))
    k = min(k, len(lag) - 2)
    if k < 0:
        return float("nan")
    return float((y[-1] - y[k]) / (lag[-1] - lag[k]))


def _mean_sem(x: list[float] | np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), float("nan")
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def _ratio_err(a: float, ea: float, b: float, eb: float) -> tuple[float, float]:
    if b == 0:
        return float("nan"), float("nan")
    r = a / b
    if a == 0:
        return r, float("nan")
    return r, abs(r) * float(np.hypot(ea / a, eb / b))


def thermodynamic_factor(blocks: list[Block]) -> tuple[float, float]:
    """Θ = ∂ln a/∂ln c from Li-number fluctuations in the eight octants.

    Θ = ⟨N⟩ / ⟨δN²⟩ in the grand-canonical limit. Each octant's own time average is removed
    (so a quenched, uneven host does not count as fluctuation) and the finite box is corrected
    for: in a closed box an octant's variance is the grand-canonical one times (1 − f), f = 1/8.
    For the ideal lattice gas this gives exactly Θ = 1/(1 − c).
    """
    usable = [b for b in blocks if len(b.lag_s) >= 2]
    if not usable:
        return float("nan"), float("nan")
    allc = np.concatenate([b.octant_li for b in usable])
    mean_per_octant = allc.mean(axis=0)

    def theta(counts: np.ndarray) -> float:
        var = ((counts - mean_per_octant) ** 2).mean()
        return float(counts.mean() * (1 - OCTANT_FRACTION) / var) if var > 0 else float("nan")

    value = theta(allc)
    per_block = [theta(b.octant_li) for b in usable]
    per_block = [t for t in per_block if np.isfinite(t)]
    _, err = _mean_sem(per_block)
    return value, err


#: The MSD exponent α (MSD ∝ τ^α over the fitted window) must be this close to 1 for a
#: diffusivity to count as converged: below it the run has not left the sub-diffusive,
#: trapping-dominated regime (Anand, Chen, Ceder 2023 discuss it for DRX).
EXPONENT_TOLERANCE = 0.1
#: A first-half / second-half difference (of D* or of the mean Li energy) larger than this many
#: combined standard errors marks a run as not stationary.
DRIFT_SIGMAS = 4.0


def msd_exponent(blocks: list[Block], *, collective: bool = False, fit_from: float = 0.2) -> float:
    """Local exponent α of the MSD growth over the fitted window, MSD − const ∝ τ^α: from the
    block-averaged slopes s₁, s₂ of the tracer (or centre-of-mass) MSD over the two halves of
    the window [f·τ, τ] (f = ``fit_from``), α = 1 + ln(s₂/s₁)/ln(m₂/m₁) with m the midpoints of
    the halves. A constant offset, such as the plateau of Li rattling in pockets, cancels; α is
    1 in the linear (diffusive) regime and < 1 while Li are still trapped on the time scale of
    the block (sub-diffusion)."""
    usable = [b for b in blocks if len(b.lag_s) >= 3 and b.n_li > 0]
    if not usable:
        return float("nan")
    n = min(len(b.lag_s) for b in usable)
    lag = usable[0].lag_s[:n]
    y = np.mean([(b.com_msd_A2 if collective else b.msd_A2)[:n] for b in usable], axis=0)
    # Window ends: the first lag at or after f·τ, the middle, and the last lag.
    i0 = min(int(np.searchsorted(lag, fit_from * lag[-1])), n - 3)
    i1 = min(max(int(np.searchsorted(lag, 0.5 * (lag[i0] + lag[-1]))), i0 + 1), n - 2)
    i2 = n - 1
    s1 = (y[i1] - y[i0]) / (lag[i1] - lag[i0])
    s2 = (y[i2] - y[i1]) / (lag[i2] - lag[i1])
    m1, m2 = 0.5 * (lag[i0] + lag[i1]), 0.5 * (lag[i1] + lag[i2])
    if not (s1 > 0 and s2 > 0 and m2 > m1 > 0):
        return float("nan")
    return float(1 + np.log(s2 / s1) / np.log(m2 / m1))


def _halves_agree(x: list[float]) -> bool:
    """Whether the first and second half of a sequence of block values agree within
    ``DRIFT_SIGMAS`` combined standard errors (True with fewer than 4 blocks: not testable)."""
    x = [v for v in x if np.isfinite(v)]
    if len(x) < 4:
        return True
    h = len(x) // 2
    m1, e1 = _mean_sem(x[:h])
    m2, e2 = _mean_sem(x[-h:])
    err = float(np.hypot(e1, e2))
    if err == 0:
        return m1 == m2
    return abs(m1 - m2) <= DRIFT_SIGMAS * err


def diffusivity_row(
    blocks: list[Block],
    *,
    temperature_K: float,
    volume_cm3: float,
    hops: int,
    time_s: float,
    fit_from: float = 0.2,
    percolating_li_fraction: float = float("nan"),
) -> dict:
    """One row of the ``diffusivity`` frame from the blocks of a run.

    ``msd_exponent`` is α of the tracer MSD over the fitted window; ``stationary`` says that
    D* and the mean Li site energy of the first and second half of the blocks agree;
    ``converged`` is both (|α − 1| ≤ ``EXPONENT_TOLERANCE`` and stationary) with at least
    two blocks. ``mobile_fraction`` is the fraction of Li on clusters of the kinetic network
    that span the cell (does not depend on the run length); ``moved_fraction`` the fraction
    displaced by more than one hop within a block (depends on the block length).
    """
    usable = [b for b in blocks if len(b.lag_s) >= 2 and b.n_li > 0]
    # MSD = 2·d·D·t over the d axes a block covers (in-plane only in a slab).
    d_t = [
        _slope(b.lag_s, b.msd_A2, fit_from) / (2 * b.dimensions) * ANGSTROM2_TO_CM2 for b in usable
    ]
    d_j = [
        _slope(b.lag_s, b.com_msd_A2, fit_from) / (2 * b.dimensions) * ANGSTROM2_TO_CM2
        for b in usable
    ]
    dt, dt_err = _mean_sem(d_t)
    dj, dj_err = _mean_sem(d_j)
    haven, haven_err = _ratio_err(dt, dt_err, dj, dj_err)
    theta, theta_err = thermodynamic_factor(usable)
    d_chem = dj * theta
    d_chem_err = (
        abs(d_chem) * float(np.hypot(dj_err / dj, theta_err / theta))
        if dj and theta
        else float("nan")
    )
    n_li = usable[0].n_li if usable else 0
    # Nernst–Einstein: σ = n e² D_J / kT, n the Li number density.
    ne = n_li / volume_cm3 * ELEMENTARY_CHARGE_C**2 / (BOLTZMANN_J_PER_K * temperature_K) * 1e3
    moved, _ = _mean_sem([b.moved_fraction for b in usable])
    alpha = msd_exponent(usable, fit_from=fit_from)
    stationary = _halves_agree(d_t) and _halves_agree([b.li_energy_ev for b in usable])
    converged = bool(
        len(usable) >= 2 and abs(alpha - 1.0) <= EXPONENT_TOLERANCE and stationary and dt > 0
    )
    return {
        "temperature_K": float(temperature_K),
        "n_li": n_li,
        "D_tracer_cm2_s": dt,
        "D_tracer_err_cm2_s": dt_err,
        "D_jump_cm2_s": dj,
        "D_jump_err_cm2_s": dj_err,
        "haven_ratio": haven,
        "haven_ratio_err": haven_err,
        "conductivity_mS_cm": ne * dj,
        "conductivity_err_mS_cm": ne * dj_err,
        "thermodynamic_factor": theta,
        "thermodynamic_factor_err": theta_err,
        "D_chem_cm2_s": d_chem,
        "D_chem_err_cm2_s": d_chem_err,
        "mobile_fraction": float(percolating_li_fraction),
        "moved_fraction": moved,
        "msd_exponent": alpha,
        "stationary": bool(stationary),
        "converged": converged,
        "hops": int(hops),
        "time_s": float(time_s),
        "blocks": len(usable),
    }


def msd_frame(blocks: list[Block]) -> pl.DataFrame:
    """MSD and centre-of-mass MSD against lag, mean and standard error over blocks (in-plane,
    x and y only, for a slab's blocks)."""
    usable = [b for b in blocks if len(b.lag_s) >= 1]
    if not usable:
        return pl.DataFrame(
            schema={
                "lag_s": pl.Float64,
                "msd_A2": pl.Float64,
                "msd_err_A2": pl.Float64,
                "com_msd_A2": pl.Float64,
                "com_msd_err_A2": pl.Float64,
            }
        )
    n = min(len(b.lag_s) for b in usable)
    msd = np.stack([b.msd_A2[:n] for b in usable])
    com = np.stack([b.com_msd_A2[:n] for b in usable])
    nb = len(usable)
    sem = (
        (lambda x: x.std(axis=0, ddof=1) / np.sqrt(nb))
        if nb > 1
        else (lambda x: np.full(n, np.nan))
    )
    return pl.DataFrame(
        {
            "lag_s": usable[0].lag_s[:n],
            "msd_A2": msd.mean(axis=0),
            "msd_err_A2": sem(msd),
            "com_msd_A2": com.mean(axis=0),
            "com_msd_err_A2": sem(com),
        }
    )


def arrhenius_fit(temperature_K: np.ndarray, d: np.ndarray, d_err: np.ndarray) -> dict:
    """Weighted fit of ln D = ln D0 − E_a/(k_B T): E_a ± σ (eV) and D0 (cm²/s, as D)."""
    from drxkmc._core import BOLTZMANN_EV_PER_K

    t = np.asarray(temperature_K, dtype=float)
    d = np.asarray(d, dtype=float)
    ok = (d > 0) & np.isfinite(d)
    if ok.sum() < 2:
        return {
            "activation_energy_eV": np.nan,
            "activation_energy_err_eV": np.nan,
            "D0_cm2_s": np.nan,
        }
    x = 1.0 / (BOLTZMANN_EV_PER_K * t[ok])
    y = np.log(d[ok])
    rel = np.asarray(d_err, dtype=float)[ok] / d[ok]
    w = np.where(np.isfinite(rel) & (rel > 0), 1.0 / np.maximum(rel, 1e-12) ** 2, 1.0)
    coeffs, cov = np.polyfit(x, y, 1, w=np.sqrt(w), cov="unscaled" if ok.sum() == 2 else True)
    slope, intercept = coeffs
    return {
        "activation_energy_eV": float(-slope),
        "activation_energy_err_eV": float(np.sqrt(cov[0, 0])),
        "D0_cm2_s": float(np.exp(intercept)),
    }
