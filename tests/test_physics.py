"""Exact results the kMC must reproduce (docs/design.md: hop, barriers, diffusivities).

Statistical tests use fixed seeds and compare with exact theory within 4σ, where σ is the
run's own block standard error (hundreds to thousands of blocks) or the spread over ≥ 12
independent seeds (so that the estimated σ itself is reliable); run lengths are chosen so that
a wrong factor of 1.2 in a rate or a diffusivity is ≥ 5σ away.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import (
    assert_total_rate_bounds,
    canonical_occupancy,
    fermi_dirac_mu,
    kT,
    lattice_gas,
    minimum_image,
    path_rate,
    quarter_coords,
    single_particle_d0_cm2_s,
)

import drxkmc
from drxkmc import _core

Z = 4.0  # tolerance in standard errors


# ----- single particle -------------------------------------------------------------------


@pytest.mark.parametrize(("barrier", "temperature"), [(0.3, 300.0), (0.2, 550.0)])
def test_single_particle_diffusivity_is_four_gamma_a_nn_squared(barrier, temperature):
    # One Li, every other cation site empty: an uncorrelated random walk with Poisson hops at
    # rate 24·Γ_t, so ⟨|R(t)|²⟩ = 6·D0·t exactly at every t, D0 = 4·Γ_t·a_nn² (see conftest).
    # The block estimator (increment of the MSD between two lags) is therefore unbiased even
    # for short blocks; many short blocks give the precision (relative σ ≈ 1/√blocks).
    lat = drxkmc.Lattice(2, a=4.15)  # periodic: the unwrapped walk does not see the box
    cations = np.full(lat.n_cations, "Va")
    cations[5] = "Li"
    model = drxkmc.BarrierModel.uniform(barrier)
    sim = drxkmc.Simulation(
        drxkmc.Configuration.from_species(lat, cations), model, temperature_K=temperature, seed=7
    )
    blocks = 8000
    res = sim.run(hops=20 * blocks, blocks=blocks, samples_per_block=5, progress=False)
    row = res.diffusivity.row(0, named=True)
    d0 = single_particle_d0_cm2_s(model, barrier, temperature, lat)
    # run(hops=N) makes N hops to within one block, so about `blocks` blocks.
    assert row["n_li"] == 1 and abs(row["hops"] - 20 * blocks) <= 2 * 20
    err = row["D_tracer_err_cm2_s"]
    assert 0 < err < 2.0 * d0 / math.sqrt(row["blocks"])
    assert abs(row["D_tracer_cm2_s"] - d0) < Z * err
    # With one particle the centre of mass is the particle: D_J = D*, Haven ratio 1.
    assert row["D_jump_cm2_s"] == pytest.approx(row["D_tracer_cm2_s"], rel=1e-12)
    # The MSD frame: ⟨|R(τ)|²⟩ = 6·D0·τ at every lag (Å², s).
    msd = res.msd
    expect = 6 * d0 / 1e-16 * msd["lag_s"].to_numpy()
    got, sem = msd["msd_A2"].to_numpy(), msd["msd_err_A2"].to_numpy()
    assert np.all(sem > 0)
    assert np.all(np.abs(got - expect) < Z * sem), (got / expect, sem / expect)


# ----- one vacancy in a full lattice: the FCC correlation factor ---------------------------

#: Tracer correlation factor of the vacancy mechanism on the FCC lattice
#: (Compaan & Haven, Trans. Faraday Soc. 52, 786 (1956); 0.781451 in later tables).
F_FCC = 0.78145


def test_single_vacancy_gives_compaan_haven_correlation_factor():
    # Every cation site holds Li except one vacancy. Each hop moves one Li by a_nn, so
    # Σ_i|R_i|² = n_hops·a_nn² for uncorrelated hops; the vacancy mechanism correlates
    # successive hops of a Li and Σ_i|R_i|² → f·n_hops·a_nn². Independent runs of n hops on a
    # large box (4000 sites, n ≪ box, so each Li hops a few times and finite-size effects are
    # O(1/N)); the truncation of the correlation tail at the end of a run is O(1/n) ≈ 1e-4.
    lat = drxkmc.Lattice(10, a=4.15)
    model = drxkmc.BarrierModel.uniform(0.3)
    a_nn2 = (lat.a / math.sqrt(2)) ** 2
    hops, runs = 5000, 80
    estimates = []
    for seed in range(runs):
        cations = np.full(lat.n_cations, "Li")
        cations[(seed * 1009) % lat.n_cations] = "Va"
        sim = drxkmc.Simulation(
            drxkmc.Configuration.from_species(lat, cations), model, temperature_K=300, seed=seed
        )
        sim.advance(hops=hops)
        r = sim.displacements_A()
        assert sim.hops == hops
        # Only Li carry displacements; exactly one Li moved per hop.
        assert np.count_nonzero(np.any(r != 0, axis=1)) <= hops
        estimates.append(np.sum(r**2) / (sim.hops * a_nn2))
    estimates = np.array(estimates)
    f, sem = estimates.mean(), estimates.std(ddof=1) / np.sqrt(runs)
    assert 0 < sem < 0.005
    assert abs(f - F_FCC) < Z * sem, (f, sem)


# ----- hard-core lattice gas ---------------------------------------------------------------


@pytest.mark.parametrize("c", [0.3, 0.7])
def test_hard_core_lattice_gas_jump_diffusivity_and_thermodynamic_factor(c):
    # Uniform barrier, no TM, N Li on M sites (c = N/M).
    # D_J: Σ_i R_i changes by the hop vector at every hop, and its drift vanishes in every
    # configuration: Σ_i Σ_d n_i(1−n_{i+d})·d = −Σ_d d·Σ_i n_i n_{i+d} = 0 because the terms
    # of d and −d are equal on a periodic lattice. So Σ R_i is a martingale and
    # ⟨|Σ R_i|²⟩ = a_nn²·⟨hops⟩. At equilibrium
    # (uniform random placement) the hop rate is 2Γ_t·12·N·(M−N)/(M−1) (a given neighbour of
    # a Li is empty with probability (M−N)/(M−1)), hence
    #   D_J = ⟨|ΣR|²⟩/(6·N·t) = D0·(M−N)/(M−1)  → D0·(1−c) for a large box.
    # Θ: octant counts are hypergeometric, Var = m·c·(1−c)·(M−m)/(M−1) with m = M/8; the
    # code's closed-box estimate ⟨N_oct⟩·(1−1/8)/Var then equals (M−1)/(M−N) → 1/(1−c).
    # So D_chem = D_J·Θ = D0 exactly.
    lat = drxkmc.Lattice(6, a=4.15)
    m_sites = lat.n_cations
    n = round(c * m_sites)
    barrier, temperature = 0.3, 300.0
    model = drxkmc.BarrierModel.uniform(barrier)
    sim = drxkmc.Simulation(
        lattice_gas(lat, n, seed=5), model, temperature_K=temperature, seed=int(10 * c)
    )
    blocks = 2000
    row = sim.run(hops=500 * blocks, blocks=blocks, samples_per_block=20, progress=False)
    row = row.diffusivity.row(0, named=True)
    d0 = single_particle_d0_cm2_s(model, barrier, temperature, lat)
    d_j = d0 * (m_sites - n) / (m_sites - 1)
    theta = (m_sites - 1) / (m_sites - n)
    assert row["n_li"] == n
    assert 0 < row["D_jump_err_cm2_s"] < 0.05 * d_j
    assert abs(row["D_jump_cm2_s"] - d_j) < Z * row["D_jump_err_cm2_s"]
    assert 0 < row["thermodynamic_factor_err"] < 0.05 * theta
    assert abs(row["thermodynamic_factor"] - theta) < Z * row["thermodynamic_factor_err"]
    assert 0 < row["D_chem_err_cm2_s"] < 0.07 * d0
    assert abs(row["D_chem_cm2_s"] - d0) < Z * row["D_chem_err_cm2_s"]
    # Tracer: correlations only slow it below the uncorrelated value D0·(1−c).
    assert 0 < row["D_tracer_cm2_s"] < d0 * (1 - n / m_sites)


def test_lattice_gas_total_rate_counts_li_vacancy_pairs():
    # Uniform model: every Li–vacancy NN pair contributes two paths of rate Γ_t each, so the
    # total rate is 2·Γ_t·#(Li, empty NN) and equals the sum of the listed events.
    lat = drxkmc.Lattice(3, a=4.15)
    cfg = lattice_gas(lat, 40, seed=2)
    model = drxkmc.BarrierModel.uniform(0.25)
    sim = drxkmc.Simulation(cfg, model, temperature_K=400, seed=0, equilibrate=False)
    pos = lat.cation_positions()
    dist = np.linalg.norm(minimum_image(lat, pos[:, None] - pos[None]), axis=-1)
    nn = np.isclose(dist, lat.a / math.sqrt(2))
    li = cfg.cation_symbols() == "Li"
    pairs = int(np.sum(nn[li][:, ~li]))
    gamma_t = path_rate(model, 0.25, 400)
    assert_total_rate_bounds(sim.total_rate_per_s, 2 * gamma_t * pairs)
    assert sim.events()["rate_per_s"].sum() == pytest.approx(2 * gamma_t * pairs, rel=1e-12)
    assert sim.events().height == 2 * pairs


# ----- barrier model and detailed balance ------------------------------------------------


def _drx_sim(seed=4, disorder=0.05, temperature=450.0, size=3):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lat = drxkmc.Lattice(size, a=4.15)
    cfg = drxkmc.Configuration.random(mat, lat, li_content=0.7, seed=seed)
    # Put some Cl on the anion sites too, so every anion kind enters the barriers (no longer
    # the material's composition, so none is given).
    an = cfg.anion_symbols()
    an[np.flatnonzero(an == "O")[::9]] = "Cl"
    # Put some Cl on the anion sites too, so every anion kind enters the barriers (no longer
    # the material's composition, so none is given).
    an = cfg.anion_symbols()
    an[np.flatnonzero(an == "O")[::9]] = "Cl"
    cfg = drxkmc.Configuration.from_species(lat, cfg.cation_symbols(), an)
    model = drxkmc.BarrierModel(site_disorder_eV=disorder, site_energy_seed=3)
    # Plain kMC: these tests check the model's own barriers and site energies, which the
    # rattling cap would change on purpose.
    return (
        drxkmc.Simulation(
            cfg, model, temperature_K=temperature, seed=1, equilibrate=False, acceleration=None
        ),
        cfg,
        model,
    )


def _neighbour_counts(lat, cfg):
    """Per cation site: number of F, Cl anion neighbours (a/2) and TM cation neighbours (a/√2)."""
    cpos, apos = lat.cation_positions(), lat.anion_positions()
    d_ca = np.linalg.norm(minimum_image(lat, cpos[:, None] - apos[None]), axis=-1)
    d_cc = np.linalg.norm(minimum_image(lat, cpos[:, None] - cpos[None]), axis=-1)
    oct_an = np.isclose(d_ca, lat.a / 2)
    nn = np.isclose(d_cc, lat.a / math.sqrt(2))
    assert np.all(oct_an.sum(axis=1) == 6) and np.all(nn.sum(axis=1) == 12)
    an = cfg.anion_symbols()
    tm = ~np.isin(cfg.cation_symbols(), ["Li", "Va"])
    return (oct_an & (an == "F")).sum(1), (oct_an & (an == "Cl")).sum(1), (nn & tm).sum(1)


def test_site_energies_follow_the_model():
    # E_A = n_F·ε_F + n_Cl·ε_Cl + n_TM·ε_TM (+ σ·ξ_A) (docs/design.md#site-energies), counted
    # here from positions.
    sim, cfg, model = _drx_sim(disorder=0.0)
    n_f, n_cl, n_tm = _neighbour_counts(cfg.lattice, cfg)
    expect = n_f * model.site_f_eV + n_cl * model.site_cl_eV + n_tm * model.site_tm_eV
    # The engine may store Boltzmann weights in single precision: allow 1 µeV.
    np.testing.assert_allclose(sim.site_energies_eV(), expect, rtol=0, atol=1e-6)
    # Gaussian disorder of width σ on top: standardised residuals are N(0, 1), the pattern is
    # fixed by site_energy_seed, not by the kMC seed.
    sigma = 0.05
    sim2, cfg2, model2 = _drx_sim(disorder=sigma, size=5)
    n_f, n_cl, n_tm = _neighbour_counts(cfg2.lattice, cfg2)
    det = n_f * model2.site_f_eV + n_cl * model2.site_cl_eV + n_tm * model2.site_tm_eV
    xi = (sim2.site_energies_eV() - det) / sigma
    n = len(xi)
    assert abs(xi.mean()) < Z / math.sqrt(n)
    assert abs(xi.std() - 1) < Z / math.sqrt(2 * n)
    again = drxkmc.Simulation(cfg2, model2, temperature_K=300, seed=99).site_energies_eV()
    np.testing.assert_allclose(again, sim2.site_energies_eV(), rtol=0, atol=1e-6)
    other = drxkmc.Simulation(cfg2, model2.replace(site_energy_seed=4), temperature_K=450, seed=1)
    assert not np.allclose(other.site_energies_eV(), sim2.site_energies_eV())


def test_event_barriers_follow_the_kra_model():
    # For every event, rebuild E_a = E_KRA + (E_B − E_A)/2 from the geometry: tetrahedron centre
    # T = A + path centre (a/4 units); its vertices T + (±¼,±¼,±¼)a are 4 cations (A, B and
    # the spectators) and 4 anions (the corners).
    # E_KRA = max(0, E_ch[n_TM] + s_h[n_TM]·(h − h_ref) + Σ δ_anion + n_Li·δ_Li),
    # h = a/√3 + Σ Δh_anion.
    sim, cfg, model = _drx_sim()
    lat = cfg.lattice
    n = 4 * np.asarray(lat.size)
    cq = quarter_coords(lat, lat.cation_positions())
    aq = quarter_coords(lat, lat.anion_positions())
    cidx = {tuple(p): i for i, p in enumerate(cq)}
    aidx = {tuple(p): i for i, p in enumerate(aq)}
    csym, asym = cfg.cation_symbols(), cfg.anion_symbols()
    anion_kind = {"O": 0, "F": 1, "Cl": 2, "Va": 3}
    centres = _core.path_centres()
    energy = sim.site_energies_eV()
    t = kT(sim.temperature_K)
    ev = sim.events()
    assert ev.height > 50
    channels_seen = set()
    for row in ev.iter_rows(named=True):
        a, b = row["from_site"], row["to_site"]
        centre = cq[a] + centres[row["path"]]
        corners = [tuple((centre + np.array(o)) % n) for o in itertools.product((-1, 1), repeat=3)]
        cats = [cidx[c] for c in corners if c in cidx]
        ans = [aidx[c] for c in corners if c in aidx]
        assert len(cats) == 4 and len(ans) == 4 and a in cats and b in cats
        spect = [s for s in cats if s not in (a, b)]
        n_tm = sum(csym[s] not in ("Li", "Va") for s in spect)
        n_li = sum(csym[s] == "Li" for s in spect)
        kinds = [anion_kind[asym[x]] for x in ans]
        h = lat.a / math.sqrt(3) + sum(model.anion_height_shift_A[k] for k in kinds)
        e_kra = (
            model.channel_barrier_eV[n_tm]
            + model.height_slope_eV_per_A[n_tm] * (h - model.reference_height_A)
            + sum(model.anion_corner_eV[k] for k in kinds)
            + n_li * model.spectator_li_eV
        )
        e_a = max(e_kra, 0.0) + 0.5 * (energy[b] - energy[a])
        assert row["channel"] == n_tm
        assert row["barrier_eV"] == pytest.approx(e_a, abs=1e-9)
        assert row["rate_per_s"] == pytest.approx(
            model.attempt_frequency_hz * math.exp(-e_a / t), rel=1e-9
        )
        channels_seen.add(n_tm)
    assert channels_seen == {0, 1, 2}


def test_detailed_balance_of_every_event_and_its_reverse():
    # For each event A→B through tetrahedron t, move the Li by hand and find the reverse B→A
    # through the same t: seen from B its centre is (centre from A) − 2·d (a/4 units, d the
    # hop in a/2 units). KRA barriers are symmetric, so Γ(A→B)/Γ(B→A) = exp(−(E_B − E_A)/kT).
    sim, cfg, model = _drx_sim(disorder=0.1)
    lat = cfg.lattice
    energy = sim.site_energies_eV()
    t = kT(sim.temperature_K)
    centres = _core.path_centres()
    dirs = _core.nn_directions()
    ev = sim.events()
    cat = cfg.cation_symbols()
    rng = np.random.default_rng(0)
    checked = 0
    for i in rng.choice(ev.height, size=min(60, ev.height), replace=False):
        row = ev.row(int(i), named=True)
        a, b, p = row["from_site"], row["to_site"], row["path"]
        moved = cat.copy()
        moved[a], moved[b] = "Va", "Li"
        back = drxkmc.Simulation(
            drxkmc.Configuration.from_species(lat, moved, cfg.anion_symbols()),
            model,
            temperature_K=sim.temperature_K,
            seed=0,
            equilibrate=False,
        )
        # Site energies do not depend on where the Li are.
        np.testing.assert_allclose(back.site_energies_eV(), energy, atol=1e-12)
        rev = back.events()
        rev = rev.filter((rev["from_site"] == b) & (rev["to_site"] == a))
        assert rev.height == 2  # B→A has its own two tetrahedra, the same two as A→B
        want = centres[p] - 2 * dirs[row["direction"]]
        assert {tuple(centres[q] + 2 * dirs[row["direction"]]) for q in rev["path"]} == {
            tuple(centres[q])
            for q in ev.filter((ev["from_site"] == a) & (ev["to_site"] == b))["path"]
        }
        rev = rev.filter([bool(np.array_equal(centres[q], want)) for q in rev["path"]])
        assert rev.height == 1
        ratio = row["rate_per_s"] / rev["rate_per_s"][0]
        assert ratio == pytest.approx(math.exp(-(energy[b] - energy[a]) / t), rel=1e-9)
        assert row["channel"] == rev["channel"][0]
        checked += 1
    assert checked == 60


def _f_lattice_gas(size, n_li, seed):
    lat = drxkmc.Lattice(size, a=4.15)
    rng = np.random.default_rng(seed)
    an = np.full(lat.n_anions, "O")
    an[rng.choice(lat.n_anions, round(0.3 * lat.n_anions), replace=False)] = "F"
    cfg = lattice_gas(lat, n_li, seed=seed + 1, anions=an)
    # Uniform barriers except: F lowers the Li site energy (so sites differ by n_F·ε_F) and
    # spectator Li raise the KRA barrier; neither the KRA term nor its value changes the
    # equilibrium distribution (detailed balance with respect to site energies only).
    model = drxkmc.BarrierModel.uniform(0.3).replace(site_f_eV=-0.1, spectator_li_eV=0.1)
    return cfg, model


def _sample_class_occupancy(cfg, model, temperature, seeds, samples, hops_between, warmup):
    """Mean occupancy of each site-energy class, one row per independent kMC seed."""
    out = []
    for s in seeds:
        # From the given (random) start: the kMC itself must relax to Fermi–Dirac.
        sim = drxkmc.Simulation(cfg, model, temperature_K=temperature, seed=s, equilibrate=False)
        e = np.round(sim.site_energies_eV(), 9)
        classes, inverse, mult = np.unique(e, return_inverse=True, return_counts=True)
        sim.advance(hops=warmup)
        acc = np.zeros(len(classes))
        n_li = sim.li_occupancy().sum()
        for _ in range(samples):
            sim.advance(time_s=hops_between / sim.total_rate_per_s)
            occ = sim.li_occupancy()
            assert occ.sum() == n_li
            acc += np.bincount(inverse, weights=occ, minlength=len(classes)) / mult
        out.append(acc / samples)
    return classes, mult, np.array(out)


def test_li_over_site_energies_reaches_fermi_dirac_occupancy():
    temperature = 600.0
    cfg, model = _f_lattice_gas(4, n_li=128, seed=3)
    classes, mult, occ = _sample_class_occupancy(
        cfg, model, temperature, seeds=range(16), samples=100, hops_between=100, warmup=5000
    )
    t = kT(temperature)
    exact = canonical_occupancy(classes, mult, 128, t)
    assert np.sum(mult * exact) == pytest.approx(128, rel=1e-9)
    # The canonical result is within O(1/N) of Fermi–Dirac with Σ f = N.
    mu = fermi_dirac_mu(classes, mult, 128, t)
    fd = 1 / (1 + np.exp((classes - mu) / t))
    assert np.max(np.abs(fd - exact)) < 0.01
    mean = occ.mean(axis=0)
    sem = occ.std(axis=0, ddof=1) / np.sqrt(len(occ))
    big = mult >= 10  # classes with enough sites for a per-class standard error
    assert big.sum() >= 4
    assert np.all(sem[big] > 0)
    assert np.all(np.abs(mean[big] - exact[big]) < Z * sem[big]), (mean, exact, sem)
    # Energy order: deeper (more F) sites are fuller.
    assert np.all(np.diff(mean[big]) < 0)


def test_single_li_samples_boltzmann_distribution_over_sites():
    # One Li: P(class k) = m_k·exp(−E_k/kT) / Σ_j m_j·exp(−E_j/kT) (time fraction).
    temperature = 900.0
    cfg, model = _f_lattice_gas(3, n_li=1, seed=8)
    classes, mult, occ = _sample_class_occupancy(
        cfg, model, temperature, seeds=range(12), samples=750, hops_between=40, warmup=2000
    )
    w = mult * np.exp(-(classes - classes.min()) / kT(temperature))
    expect = w / w.sum()
    got = occ * mult  # per-site occupancy × sites in class = probability of the class
    assert np.allclose(got.sum(axis=1), 1.0)
    mean = got.mean(axis=0)
    sem = got.std(axis=0, ddof=1) / np.sqrt(len(got))
    keep = expect > 0.01
    assert keep.sum() >= 3 and np.all(sem[keep] > 0)
    assert np.all(np.abs(mean[keep] - expect[keep]) < Z * sem[keep]), (mean, expect, sem)
