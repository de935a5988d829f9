"""Li kMC on slabs: periodic in x and y, open surfaces normal to z (docs/design.md).

A slab has no site, hop or tetrahedron beyond its first and last cation planes (the rule
percolation uses), so Li never leave it and every diffusivity is in-plane (MSD of the x, y
components over 4t). Exact results checked: the in-plane single-particle D of an open slab,
Boltzmann occupancy with site energies, and equilibrium starts whose accessible Li are those
that reach a surface.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from conftest import kT, single_particle_d0_cm2_s
from hypothesis import given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import _core

Z = 4.0  # tolerance in standard errors


def _open_slab(size, li_sites, a=4.15):
    lat = drxkmc.Lattice(size, a=a, geometry="slab")
    cations = np.full(lat.n_cations, "Va")
    cations[list(li_sites)] = "Li"
    return lat, drxkmc.Configuration.from_species(lat, cations)


def _plane(lat: drxkmc.Lattice, positions_A: np.ndarray) -> np.ndarray:
    """Grid plane (units of a/2) of positions inside the box along z."""
    return np.rint(positions_A[:, 2] / (lat.a / 2)).astype(int)


def test_single_li_in_an_open_slab_has_the_exact_in_plane_diffusivity():
    # One Li on an open slab of n_z cation planes. Its hops are symmetric, so it spends equal
    # time on every site; each hop's in-plane step has zero mean (the slab keeps the x → −x
    # and y → −y mirrors), so ⟨|R_xy(t)|²⟩ = t·Σ_z M(z)/n_z with M the rate-weighted in-plane
    # square step: 32·Γ_t·(a/2)² inside (as in bulk, where ⟨|R_xy|²⟩ = 4·D0·t) and 16·Γ_t·(a/2)²
    # on a surface plane (its 4 in-plane neighbours keep one tetrahedron each, the 4 beyond
    # it are gone). Hence D_xy = ⟨|R_xy|²⟩/(4t) = D0·(1 − 1/n_z), D0 = 4·Γ_t·a_nn² the bulk
    # value.
    barrier, temperature = 0.3, 300.0
    lat, cfg = _open_slab((2, 2, 2), [3])
    n_z = 2 * lat.size[2]
    model = drxkmc.BarrierModel.uniform(barrier)
    sim = drxkmc.Simulation(cfg, model, temperature_K=temperature, seed=3)
    blocks = 8000
    res = sim.run(hops=20 * blocks, blocks=blocks, samples_per_block=5, progress=False)
    row = res.diffusivity.row(0, named=True)
    exact = single_particle_d0_cm2_s(model, barrier, temperature, lat) * (1 - 1 / n_z)
    err = row["D_tracer_err_cm2_s"]
    assert 0 < err < 0.03 * exact
    assert abs(row["D_tracer_cm2_s"] - exact) < Z * err, (row["D_tracer_cm2_s"] / exact, err)
    # The bulk value (no surface) and a 3-D MSD/(6t) (which would count the z steps but
    # divide by 6) are both many standard errors away.
    assert abs(row["D_tracer_cm2_s"] - exact / (1 - 1 / n_z)) > 5 * err
    assert row["D_jump_cm2_s"] == pytest.approx(row["D_tracer_cm2_s"], rel=1e-12)
    assert all(b.dimensions == 2 for b in res.blocks)


def test_li_never_leave_a_drx_slab():
    # A DRX slab electrode: after many hops every Li started inside the slab (its plane now
    # minus its z displacement), and the state is a valid configuration with the same counts.
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    lat = drxkmc.Lattice((4, 4, 3), geometry="slab")
    cfg = drxkmc.Configuration.random(material, lat, li_content=1.0, seed=2)
    sim = drxkmc.Simulation(cfg, temperature_K=900, seed=5)
    n_z = 2 * lat.size[2]
    planes = _plane(lat, lat.cation_positions())
    moved_z = 0
    for _ in range(10):
        sim._kmc.reset_displacements()
        sim.advance(hops=5000)
        li = sim.li_occupancy()
        dz = np.rint(sim.displacements_A()[li, 2] / (lat.a / 2)).astype(int)
        start = planes[li] - dz
        assert np.all((start >= 0) & (start < n_z)), "a Li crossed a surface"
        moved_z += int(np.count_nonzero(dz))
        # No possible hop leaves the slab either.
        ev = sim.events()
        frm = planes[ev["from_site"].to_numpy()]
        to = planes[ev["to_site"].to_numpy()]
        assert np.all(np.abs(frm - to) <= 1)
    assert moved_z > 0
    assert sim.configuration().n_li == cfg.n_li
    assert sim.configuration().counts().equals(cfg.counts())
    # A slab run checkpoints and resumes bit-identically.
    again = pickle.loads(pickle.dumps(sim))
    assert again.lattice.geometry == "slab"
    sim.advance(hops=2000)
    again.advance(hops=2000)
    assert again.time_s == sim.time_s
    assert np.array_equal(again.displacements_A(), sim.displacements_A())


def test_single_li_in_a_slab_samples_the_boltzmann_distribution():
    # Detailed balance on a slab with site disorder: the time fraction of one Li on each site
    # is exp(−E_i/kT)/Z (chi-square over widely spaced samples).
    lat, cfg = _open_slab((3, 3, 2), [0])
    model = drxkmc.BarrierModel.uniform(0.2).replace(site_disorder_eV=0.03)
    temperature = 300.0
    sim = drxkmc.Simulation(cfg, model, temperature_K=temperature, seed=9, equilibrate=False)
    w = np.exp(-(sim.site_energies_eV() - sim.site_energies_eV().min()) / kT(temperature))
    expect = w / w.sum()
    samples = 6000
    counts = np.zeros(lat.n_cations)
    for _ in range(samples):
        sim.advance(time_s=40.0 / sim.total_rate_per_s)
        counts[np.flatnonzero(sim.li_occupancy())[0]] += 1
    e = samples * expect
    chi2 = float(np.sum((counts - e) ** 2 / e))
    dof = lat.n_cations - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)
    # Surface sites have different energies only through the disorder (no TM, no F): the
    # engine's site energies are the model's.
    assert np.allclose(
        sim.site_energies_eV(), _core.site_energies(cfg._c, model._core_dict()), atol=1e-6
    )


def test_equilibrium_start_on_a_slab_reaches_through_the_surfaces():
    # Charging a slab electrode removes Li only from clusters of the kinetic network that
    # reach a surface; the Simulation starts from the equilibrium of that state.
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    lat = drxkmc.Lattice((4, 4, 3), geometry="slab")
    electrode = drxkmc.Configuration.random(material, lat, seed=4)
    charged = electrode.with_li_content(0.8, temperature_K=600)
    assert charged.n_li < electrode.n_li
    net = drxkmc.percolation(
        electrode,
        barrier_cutoff_eV=_core.kinetic_cutoff_ev(
            drxkmc.BarrierModel()._core_dict(), 600.0, 3600.0
        ),
    )
    assert net.criterion == "surface"
    # Li on clusters that reach no surface are where the electrode left them.
    closed = net.labels >= 0
    closed[closed] = ~np.asarray(net.clusters["accessible"])[net.labels[closed]]
    li_before = electrode.cation_symbols() == "Li"
    li_after = charged.cation_symbols() == "Li"
    assert np.array_equal(li_before[closed], li_after[closed])
    sim = drxkmc.Simulation(charged, temperature_K=600, seed=1)
    assert sim.configuration().n_li == charged.n_li
    res = sim.run(hops=100_000, blocks=4, progress=False)
    row = res.diffusivity.row(0, named=True)
    assert row["D_tracer_cm2_s"] > 0 and row["n_li"] == charged.n_li


def test_acceleration_runs_on_a_slab():
    # The critical flux of a slab spans it in-plane; an open lattice-gas slab has the bulk
    # pair flux 2Γ_t·c(1 − c) (interior pairs keep both tetrahedra).
    lat = drxkmc.Lattice((4, 4, 3), geometry="slab")
    rng = np.random.default_rng(0)
    cations = np.full(lat.n_cations, "Va")
    cations[rng.choice(lat.n_cations, 96, replace=False)] = "Li"
    cfg = drxkmc.Configuration.from_species(lat, cations)
    model = drxkmc.BarrierModel.uniform(0.3)
    flux, _ = _core.critical_flux(cfg._c, model._core_dict(), 300.0)
    c = 96 / lat.n_cations
    gamma_t = model.attempt_frequency_hz * math.exp(-0.3 / kT(300.0))
    assert flux == pytest.approx(2 * gamma_t * c * (1 - c), rel=1e-9)
    sim = drxkmc.Simulation(cfg, model, temperature_K=300, seed=2, acceleration=100)
    assert math.isfinite(sim.flux_cap_per_s)
    sim.advance(hops=10_000)
    assert sim.configuration().n_li == 96


@settings(max_examples=20, deadline=None)
@given(
    size=st.tuples(st.integers(2, 3), st.integers(2, 3), st.integers(2, 3)),
    li=st.floats(0.05, 0.95),
    tm=st.floats(0.0, 0.4),
    fluorine=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_slab_keeps_its_li_inside(size, li, tm, fluorine, seed):
    # Random slabs (Li, vacancies, Mn; O and F with the default barriers and site energies):
    # whatever the state, a run conserves the Li and no Li ever starts outside the slab.
    lat = drxkmc.Lattice(size, geometry="slab")
    rng = np.random.default_rng(seed)
    u = rng.random(lat.n_cations)
    cations = np.where(u < li, "Li", "Va")
    cations[u > 1 - tm] = "Mn"
    anions = np.where(rng.random(lat.n_anions) < fluorine, "F", "O")
    cfg = drxkmc.Configuration.from_species(lat, cations, anions)
    sim = drxkmc.Simulation(cfg, temperature_K=800, seed=seed % 1000, equilibrate=False)
    if sim.total_rate_per_s > 0:  # else no Li has an open path: nothing can move
        sim.advance(hops=2000)
        assert sim.hops == 2000
    li_now = sim.li_occupancy()
    assert li_now.sum() == cfg.n_li
    dz = np.rint(sim.displacements_A()[li_now, 2] / (lat.a / 2)).astype(int)
    start = _plane(lat, lat.cation_positions())[li_now] - dz
    assert np.all((start >= 0) & (start < 2 * lat.size[2]))
