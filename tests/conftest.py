"""Shared helpers for the drxkmc test suite.

Every expected value in the tests is computed from theory inside the test (formula plus a
comment with its derivation); these helpers only build inputs and evaluate such formulas.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import settings

import drxkmc

# Hypothesis: locally the default profile (random examples; a failing one is replayed from
# .hypothesis/). In CI (CI set) the "ci" profile draws fresh examples every run with no example
# database and prints the reproduction blob of a failure; .ci/run picks and prints the seed.
# Loaded here, before the test modules build their own settings on top of it.
settings.register_profile("ci", derandomize=False, database=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)


def raises_field(
    fn: Callable[[], object],
    field: str,
    cls: type[drxkmc.DrxkmcError] = drxkmc.InvalidParameterError,
    match: str | None = None,
) -> drxkmc.DrxkmcError:
    """Call ``fn``; it must raise exactly ``cls`` (a DrxkmcError, hence a ValueError) whose
    ``.field`` is ``field`` and whose message names it (and matches the regex ``match``).
    Anything else, including a PanicException (a BaseException), fails the test."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - a panic must fail, not crash, the test
        assert type(exc) is cls, (
            f"expected {cls.__name__}, got {type(exc).__module__}.{type(exc).__name__}: {exc}"
        )
        assert isinstance(exc, drxkmc.DrxkmcError) and isinstance(exc, ValueError)
        assert getattr(exc, "field", None) == field, (
            f"field {getattr(exc, 'field', None)!r} != {field!r}"
        )
        assert field in str(exc), str(exc)
        if match is not None:
            assert re.search(match, str(exc)), f"{str(exc)!r} does not match {match!r}"
        return exc
    pytest.fail(f"no exception raised; expected {cls.__name__}(field={field!r})")


#: Boltzmann constant, eV/K (CODATA 2018, exact), typed in independently of the package.
K_B_EV = 8.617333262e-5
#: Å² → cm².
A2_TO_CM2 = 1e-16


def kT(temperature_K: float) -> float:
    """k_B·T in eV."""
    return K_B_EV * temperature_K


def path_rate(model: drxkmc.BarrierModel, barrier_eV: float, temperature_K: float) -> float:
    """Γ_t = ν·exp(−E/kT): the rate of one o-t-o path with barrier E (s⁻¹)."""
    return model.attempt_frequency_hz * math.exp(-barrier_eV / kT(temperature_K))


def single_particle_d0_cm2_s(
    model: drxkmc.BarrierModel, barrier_eV: float, temperature_K: float, lattice: drxkmc.Lattice
) -> float:
    """D0 = 4·Γ_t·a_nn² of one particle on an open FCC lattice, in cm²/s.

    Derivation: the particle makes Poisson hops at total rate 24·Γ_t (12 neighbours, two
    tetrahedra each); every hop has length a_nn and the hops are uncorrelated, so
    ⟨|R(t)|²⟩ = 24·Γ_t·t·a_nn² = 6·D0·t ⇒ D0 = 4·Γ_t·a_nn².
    """
    a_nn = lattice.a / math.sqrt(2)
    return 4 * path_rate(model, barrier_eV, temperature_K) * a_nn**2 * A2_TO_CM2


# The engine stores each escape rate as an f32 upper bound (rounded up), so its total rate lies
# in [exact, exact * (1 + F32_EPSILON)]; the hops themselves happen at the exact rates.
F32_EPSILON = 2.0**-23


def assert_total_rate_bounds(total: float, exact: float) -> None:
    """The engine's total rate is the exact sum rounded up by at most one f32 step per site."""
    assert exact * (1 - 1e-12) <= total <= exact * (1 + F32_EPSILON), (total, exact)


def lattice_gas(lattice: drxkmc.Lattice, n_li: int, seed: int, anions=None) -> drxkmc.Configuration:
    """``n_li`` Li on uniformly random cation sites, the rest vacant, no transition metals."""
    rng = np.random.default_rng(seed)
    cations = np.full(lattice.n_cations, "Va")
    cations[rng.choice(lattice.n_cations, n_li, replace=False)] = "Li"
    return drxkmc.Configuration.from_species(lattice, cations, anions)


def quarter_coords(lattice: drxkmc.Lattice, positions_A: np.ndarray) -> np.ndarray:
    """Integer coordinates in units of a/4, wrapped into the box (exact for lattice sites)."""
    q = np.rint(positions_A * 4 / lattice.a).astype(np.int64)
    assert np.allclose(q * lattice.a / 4, positions_A, atol=1e-9), "sites are not on the a/4 grid"
    return q % (4 * np.asarray(lattice.size))


def minimum_image(lattice: drxkmc.Lattice, diff_A: np.ndarray) -> np.ndarray:
    """Minimum-image convention for Cartesian differences (Å) in the periodic box."""
    box = lattice.a * np.asarray(lattice.size, dtype=float)
    return diff_A - box * np.round(diff_A / box)


def log_elementary_symmetric(classes: list[tuple[float, int]], kT_eV: float) -> np.ndarray:
    """log e_n, n = 0..Σm, of the site weights x = exp(−E/kT) over a multiset of site classes
    (energy E, multiplicity m), computed in log space by multiplying the generating polynomials
    Π_k (1 + x_k z)^{m_k} = Σ_n e_n z^n."""
    le = np.array([0.0])
    for energy, m in classes:
        j = np.arange(m + 1)
        log_binom = np.array(
            [math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) for k in j]
        )
        lc = log_binom - j * energy / kT_eV
        out = np.full((len(le) + m, m + 1), -np.inf)
        for k in range(m + 1):
            out[k : k + len(le), k] = le + lc[k]
        top = out.max(axis=1, keepdims=True)
        le = top[:, 0] + np.log(np.exp(out - top).sum(axis=1))
    return le


def canonical_occupancy(
    energies_eV: np.ndarray, multiplicities: np.ndarray, n_particles: int, kT_eV: float
) -> np.ndarray:
    """Exact occupancy of one site of each energy class for ``n_particles`` hard-core particles
    (no other interaction) in the canonical ensemble.

    Derivation: P(config) ∝ Π_i x_i^{n_i}, x_i = exp(−E_i/kT), with Σ n_i = N and n_i ∈ {0,1}.
    The partition function is the elementary symmetric polynomial e_N(x); the probability that
    site i is occupied is x_i·e_{N−1}(x without i)/e_N(x). For large N this tends to the
    Fermi–Dirac occupancy 1/(1 + exp((E−μ)/kT)) with Σ f = N (the grand-canonical limit); the
    canonical form is exact for the finite box the kMC simulates.
    """
    classes = list(zip(energies_eV, multiplicities))
    log_full = log_elementary_symmetric(classes, kT_eV)
    out = []
    for k, (e_k, _) in enumerate(classes):
        minus = [(e, m - (1 if i == k else 0)) for i, (e, m) in enumerate(classes)]
        log_minus = log_elementary_symmetric(minus, kT_eV)
        out.append(math.exp(-e_k / kT_eV + log_minus[n_particles - 1] - log_full[n_particles]))
    return np.array(out)


def fermi_dirac_mu(
    energies_eV: np.ndarray, multiplicities: np.ndarray, n: float, kT_eV: float
) -> float:
    """μ with Σ_k m_k / (1 + exp((E_k − μ)/kT)) = n, by bisection."""
    lo, hi = float(np.min(energies_eV)) - 50 * kT_eV, float(np.max(energies_eV)) + 50 * kT_eV

    def filled(mu: float) -> float:
        return float(np.sum(multiplicities / (1 + np.exp((energies_eV - mu) / kT_eV))))

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if filled(mid) < n else (lo, mid)
    return 0.5 * (lo + hi)


@pytest.fixture(scope="session")
def lmt() -> drxkmc.Material:
    return drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
