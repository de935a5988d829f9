"""Trustworthy answers: exact run lengths, equilibrium starts, electrochemical delithiation and
voltage, convergence diagnostics, and the rattling acceleration against plain kMC.

Every expected value is computed here from theory (canonical/Fermi–Dirac statistics, the
Nernst form of the ideal lattice gas) or from an independent plain-kMC run, never from numbers
the code produced before.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import K_B_EV, canonical_occupancy, kT
from hypothesis import given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.electrochem import (
    DEFAULT_REFERENCE_VOLTAGE_V,
    extractable_capacity,
    state_of_charge_sweep,
    voltage_curve,
)
from drxkmc.simulation import ConvergenceWarning


def _quiet_run(sim, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sim.run(progress=False, **kwargs)


def _within(a: float, ea: float, b: float, eb: float, z: float = 3.0) -> bool:
    return abs(a - b) <= z * math.hypot(ea, eb)


# ----- exact run lengths ---------------------------------------------------------------------


@settings(max_examples=6, deadline=None)
@given(
    disorder=st.floats(0.0, 0.12),
    temperature=st.floats(250.0, 700.0),
    hops=st.integers(2_000, 60_000),
    seed=st.integers(0, 2**16),
)
def test_run_hops_makes_the_hops_asked_for_in_a_relaxing_system(disorder, temperature, hops, seed):
    # A random (infinite-temperature) start relaxes: the hop rate falls as Li settle into
    # low-energy sites. The measured part must still make exactly `hops` hops.
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    cfg = drxkmc.Configuration.random(
        mat, drxkmc.Lattice(5), li_content=0.7, seed=seed, delithiation="random"
    )
    model = drxkmc.BarrierModel(site_disorder_eV=disorder, site_energy_seed=seed)
    sim = drxkmc.Simulation(
        cfg, model, temperature_K=temperature, seed=seed, equilibrate=False, acceleration=None
    )
    res = _quiet_run(sim, hops=hops)
    row = res.diffusivity.row(0, named=True)
    assert row["hops"] == hops
    # Complete blocks are the estimates; a last block cut short at the count is not one.
    assert len(res.blocks) >= 2 and sum(b.hops for b in res.blocks) <= hops


# ----- equilibrium starts --------------------------------------------------------------------


def test_equilibrium_start_has_the_exact_canonical_occupancy():
    # Li on a TM-free host with F anions: a Li site's energy is ε_F times its F neighbours, so
    # the sites fall into classes. Li interact only through site energies, so the exact
    # occupancy of each class is the canonical one of independent fermions (conftest).
    lat = drxkmc.Lattice(4)
    rng = np.random.default_rng(5)
    anions = np.where(rng.random(lat.n_anions) < 0.3, "F", "O")
    n_li = lat.n_cations // 2
    cations = np.array(["Li"] * n_li + ["Va"] * (lat.n_cations - n_li))
    cfg = drxkmc.Configuration.from_species(lat, cations, anions)
    model = drxkmc.BarrierModel.uniform(0.3).replace(site_f_eV=-0.04)
    temperature = 300.0
    energies = drxkmc._core.site_energies(cfg._c, model._core_dict())
    classes, inverse, mult = np.unique(
        np.round(energies, 9), return_inverse=True, return_counts=True
    )
    exact = canonical_occupancy(classes, mult, n_li, kT(temperature))
    samples = 300
    occ = np.zeros(len(classes))
    for s in range(samples):
        li = cfg.equilibrated(model, temperature_K=temperature, seed=s).cation_symbols() == "Li"
        occ += np.bincount(inverse, weights=li, minlength=len(classes)) / mult
    occ /= samples
    # Binomial-like standard error per class (sites are nearly independent).
    se = np.sqrt(exact * (1 - exact) / (mult * samples))
    assert np.all(np.abs(occ - exact) <= 4 * se + 1e-3), (occ, exact)
    # The classes really differ (the test is not trivially uniform).
    assert exact.max() - exact.min() > 0.2


def test_simulation_starts_from_equilibrium_unless_told_not_to():
    # Li put on the least favourable sites (no F neighbours, site energy 0; F sites are −0.04
    # eV per F) are far from equilibrium. A default Simulation must start from the exact
    # canonical occupancy instead; equilibrate=False keeps the given arrangement.
    lat = drxkmc.Lattice(4)
    rng = np.random.default_rng(7)
    anions = np.where(rng.random(lat.n_anions) < 0.3, "F", "O")
    model = drxkmc.BarrierModel.uniform(0.3).replace(site_f_eV=-0.04)
    start = drxkmc.Configuration.from_species(lat, np.full(lat.n_cations, "Va"), anions)
    energies = drxkmc._core.site_energies(start._c, model._core_dict())
    n_li = lat.n_cations // 4
    cations = np.full(lat.n_cations, "Va")
    cations[np.argsort(-energies, kind="stable")[:n_li]] = "Li"
    cfg = drxkmc.Configuration.from_species(lat, cations, anions)
    classes, inverse, mult = np.unique(
        np.round(energies, 9), return_inverse=True, return_counts=True
    )
    exact = canonical_occupancy(classes, mult, n_li, kT(300.0))
    samples = 200
    occ = np.zeros(len(classes))
    for s in range(samples):
        li = drxkmc.Simulation(cfg, model, temperature_K=300.0, seed=s).li_occupancy()
        occ += np.bincount(inverse, weights=li, minlength=len(classes)) / mult
    occ /= samples
    se = np.sqrt(exact * (1 - exact) / (mult * samples))
    assert np.all(np.abs(occ - exact) <= 4 * se + 1e-3), (occ, exact)
    given = drxkmc.Simulation(cfg, model, temperature_K=300.0, seed=0, equilibrate=False)
    assert np.array_equal(given.li_occupancy(), cations == "Li")
    assert not np.allclose(exact, np.bincount(inverse, weights=cations == "Li") / mult, atol=0.05)


def test_equilibrium_start_has_the_grand_canonical_thermodynamic_factor():
    # Uniform barriers, Gaussian site disorder of width σ, c = ½. In the grand-canonical
    # ensemble Θ = ⟨N⟩/⟨δN²⟩ = c / ∫ f(1−f) φ_σ(E) dE with μ = 0 by symmetry. An octant of a
    # closed box fluctuates as the grand-canonical value times (1 − 1/8).
    sigma, temperature = 0.05, 300.0
    kt = kT(temperature)
    e = np.linspace(-8 * sigma, 8 * sigma, 40001)
    phi = np.exp(-0.5 * (e / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    f = 1 / (1 + np.exp(e / kt))
    theta_exact = 0.5 / np.trapezoid(f * (1 - f) * phi, e)
    lat = drxkmc.Lattice(8)
    n_li = lat.n_cations // 2
    cations = np.array(["Li"] * n_li + ["Va"] * (lat.n_cations - n_li))
    cfg = drxkmc.Configuration.from_species(lat, cations)
    model = drxkmc.BarrierModel.uniform(0.3).replace(site_disorder_eV=sigma, site_energy_seed=2)
    pos = lat.cation_positions()
    box = lat.a * np.asarray(lat.size)
    octant = ((pos >= box / 2) * [1, 2, 4]).sum(axis=1)
    counts = []
    for s in range(300):
        li = cfg.equilibrated(model, temperature_K=temperature, seed=s, sweeps=30).cation_symbols()
        counts.append(np.bincount(octant, weights=li == "Li", minlength=8))
    counts = np.array(counts)
    var = ((counts - counts.mean(axis=0)) ** 2).mean()
    theta = counts.mean() * (1 - 1 / 8) / var
    # Relative standard error of a variance from 300 × 8 samples: √(2/2400) ≈ 3%; the quenched
    # disorder of one 2048-site realisation adds about as much.
    assert theta == pytest.approx(theta_exact, rel=0.15), (theta, theta_exact)
    assert theta_exact > 2.5  # disorder makes Θ larger than the ideal 1/(1−c) = 2


# ----- electrochemistry ----------------------------------------------------------------------


def test_ideal_lattice_gas_voltage_is_nernstian():
    # Rocksalt LiF with no site energies: an ideal lattice gas, μ = kT ln(c/(1−c)) exactly,
    # so V = V₀ − kT/e · ln(x/(1−x)) with x the Li per formula unit (one cation site each).
    mat = drxkmc.Material.from_formula("LiF")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(4), seed=0)
    model = drxkmc.BarrierModel.uniform(0.1)
    curve = voltage_curve(cfg, model, temperature_K=300.0, n_points=31)
    x = curve["li_per_fu"].to_numpy()
    inside = (x > 1e-6) & (x < 1 - 1e-6)
    expect = DEFAULT_REFERENCE_VOLTAGE_V - kT(300.0) * np.log(x[inside] / (1 - x[inside]))
    np.testing.assert_allclose(curve["voltage_V"].to_numpy()[inside], expect, atol=1e-9)
    # Charge passed grows with voltage.
    assert np.all(np.diff(curve["capacity_mAh_g"].to_numpy()) >= 0)
    assert np.all(np.diff(curve["voltage_V"].to_numpy()) > 0)


def _accessible_mask(cfg, model, temperature_K):
    cut = drxkmc._core.kinetic_cutoff_ev(model._core_dict(), temperature_K, 3600.0)
    p = drxkmc.percolation(cfg, barrier_cutoff_eV=cut, model=model)
    return p.accessible_sites()


@pytest.mark.parametrize("seed", [0, 1])
def test_delithiation_never_removes_li_without_a_path_out(seed):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    full = drxkmc.Configuration.random(mat, drxkmc.Lattice(6), seed=seed)
    model = drxkmc.BarrierModel()
    # A hot enough temperature that some Li is isolated and some accessible either way.
    accessible = _accessible_mask(full, model, 300.0)
    li_before = full.cation_symbols() == "Li"
    assert (li_before & ~accessible).any(), "the test needs isolated Li"
    charged = full.with_li_content(0.7, model, temperature_K=300.0, seed=seed)
    li_after = charged.cation_symbols() == "Li"
    n_fu = full.lattice.n_cations / mat.cation_sites
    assert li_after.sum() == round(0.7 * n_fu)
    # Isolated Li all stay; only accessible sites changed.
    assert np.array_equal(li_after[~accessible], li_before[~accessible])
    # Asking for less Li than the isolated Li is refused, naming li_content.
    with pytest.raises(drxkmc.InvalidParameterError) as err:
        full.with_li_content(0.0, model, temperature_K=300.0)
    assert err.value.field == "li_content"


def test_extractable_capacity_counts_the_li_above_the_cutoff_site_energy():
    # At low temperature the Fermi function is a step: charging to a cut-off V empties every
    # accessible site with E > μ = V₀ − V and no other. Open host (no TM), small barrier so
    # every path is open at 20 K, Gaussian site energies.
    mat = drxkmc.Material.from_formula("LiF")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(6), seed=3)
    model = drxkmc.BarrierModel.uniform(0.02).replace(site_disorder_eV=0.05)
    energies = drxkmc._core.site_energies(cfg._c, model._core_dict())
    temperature = 20.0
    per_e = mat._c.capacity_per_electron_mah_g
    n_fu = cfg.lattice.n_cations / mat.cation_sites
    for cutoff in (3.45, 3.5, 3.56):
        mu = DEFAULT_REFERENCE_VOLTAGE_V - cutoff
        count = int((energies > mu).sum())
        near = int((np.abs(energies - mu) < 10 * kT(temperature)).sum())
        cap = extractable_capacity(cfg, cutoff, model, temperature_K=temperature)
        assert abs(cap / per_e * n_fu - count) <= near + 1e-9, (cutoff, cap, count, near)


def test_state_of_charge_sweep_gives_voltages_from_the_exact_curve():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(4), seed=1)
    model = drxkmc.BarrierModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = state_of_charge_sweep(
            cfg, [1.0, 0.6], model, temperature_K=600.0, precision=0.3, max_hops=200_000
        )
    assert frame["li_per_fu"].to_list() == [1.0, 0.6]
    # The equilibrium voltage rises as Li leave, and matches the exact curve at that content.
    v = frame["voltage_V"].to_numpy()
    assert v[1] > v[0]
    curve = voltage_curve(cfg, model, temperature_K=600.0, n_points=801)
    for x, vx in zip(frame["li_per_fu"], v):
        expect = np.interp(-x, -curve["li_per_fu"].to_numpy(), curve["voltage_V"].to_numpy())
        assert vx == pytest.approx(expect, abs=0.02)
    assert (frame["D_tracer_cm2_s"] > 0).all()
    # The plot shows both diffusivities against Li content, with readable labels.
    import matplotlib

    matplotlib.use("Agg")
    from drxkmc.plot import plot_state_of_charge

    ax = plot_state_of_charge(frame)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["D*", "D_chem"]
    assert ax.get_xlabel() == "Li per formula unit" and ax.get_yscale() == "log"


# ----- convergence ---------------------------------------------------------------------------


def test_unconverged_runs_warn_and_say_so():
    # Deep F traps at room temperature and a very short run: sub-diffusive.
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(6), li_content=0.6, seed=1)
    sim = drxkmc.Simulation(cfg, drxkmc.BarrierModel(site_disorder_eV=0.05), seed=1)
    with pytest.warns(ConvergenceWarning, match="not converged"):
        res = sim.run(hops=20_000, progress=False)
    row = res.diffusivity.row(0, named=True)
    assert row["converged"] is False and row["msd_exponent"] < 0.9
    # The MSD figure says so too, and on log-log axes shows the slope-1 guide it falls short of.
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot_msd(loglog=True)
    assert "NOT converged" in ax.texts[0].get_text()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "slope 1 (diffusive)" in labels and "fitted window" in labels


def test_converged_run_agrees_with_a_ten_times_longer_run():
    # Moderate disorder at high temperature converges quickly; a run declared converged at 8%
    # must agree, within 3 stated σ, with the same system run ten times longer.
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(5), li_content=0.9, seed=4)
    model = drxkmc.BarrierModel(site_disorder_eV=0.03)
    sim = drxkmc.Simulation(cfg, model, temperature_K=700.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        short = sim.run(precision=0.08, max_hops=20_000_000, progress=False)
    s = short.diffusivity.row(0, named=True)
    assert s["converged"] and s["D_tracer_err_cm2_s"] <= 0.08 * s["D_tracer_cm2_s"]
    long = drxkmc.Simulation(cfg, model, temperature_K=700.0, seed=2)
    res = _quiet_run(long, hops=10 * s["hops"])
    g = res.diffusivity.row(0, named=True)
    assert _within(
        s["D_tracer_cm2_s"], s["D_tracer_err_cm2_s"], g["D_tracer_cm2_s"], g["D_tracer_err_cm2_s"]
    ), (s, g)


# ----- acceleration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, li, disorder, temperature, time_s, seeds",
    [
        # Li in a TM host with pockets and random site energies.
        ("Li1.2Mn0.4Ti0.4O2", 0.8, 0.06, 450.0, 4e-6, (3,)),
        # DRX oxyfluoride with F traps and disorder, over a window long enough for the MSD to
        # be linear (exponent ≈ 1; at 4e-6 s it is 0.7 and the cap biases D* by ~8%).
        ("Li1.2Mn0.4Ti0.4O1.6F0.4", 0.7, 0.05, 500.0, 4e-5, (3, 4)),
    ],
)
def test_accelerated_kmc_matches_plain_kmc_over_the_same_time(
    formula, li, disorder, temperature, time_s, seeds
):
    # The cap slows only hops whose equilibrium flux exceeds S times the critical one: in the
    # diffusive regime D* and D_J must be those of plain kMC (mean over the seeds).
    mat = drxkmc.Material.from_formula(formula)
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(6), li_content=li, seed=2)
    model = drxkmc.BarrierModel(site_disorder_eV=disorder)
    rows: dict = {None: [], 100.0: []}
    for acc in rows:
        for seed in seeds:
            sim = drxkmc.Simulation(
                cfg, model, temperature_K=temperature, seed=seed, acceleration=acc
            )
            if acc is not None:
                assert math.isfinite(sim.flux_cap_per_s)
            rows[acc].append(
                _quiet_run(sim, time_s=time_s, blocks=12).diffusivity.row(0, named=True)
            )

    def mean(rs, q):
        v = np.mean([r[f"{q}_cm2_s"] for r in rs])
        e = math.sqrt(sum(r[f"{q}_err_cm2_s"] ** 2 for r in rs)) / len(rs)
        return v, e

    for q in ("D_tracer", "D_jump"):
        assert _within(*mean(rows[None], q), *mean(rows[100.0], q)), (q, rows)
    # And it spent fewer hops on the same simulated time.
    assert sum(r["hops"] for r in rows[100.0]) < sum(r["hops"] for r in rows[None])


def test_acceleration_keeps_detailed_balance_of_every_event():
    # A strong cap (S = 2) changes many rates; every hop A→B and its reverse from the state
    # with the Li on B must still have the ratio exp(−(E_B − E_A)/kT).
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(4), li_content=0.7, seed=5)
    model = drxkmc.BarrierModel(site_disorder_eV=0.05)
    sim = drxkmc.Simulation(cfg, model, temperature_K=300.0, seed=1, acceleration=2.0)
    plain = drxkmc.Simulation(
        sim.configuration(), model, temperature_K=300.0, equilibrate=False, acceleration=None
    )
    ev, ev_plain = sim.events(), plain.events()
    assert (ev["rate_per_s"] < ev_plain["rate_per_s"]).any(), "the cap changed nothing"
    e = sim.site_energies_eV()
    kt = K_B_EV * 300.0
    anions = sim.configuration().anion_symbols()
    pairs = ev.select("from_site", "to_site").unique().head(25).iter_rows()
    for a, b in pairs:
        cat = sim.configuration().cation_symbols()
        cat[a], cat[b] = "Va", "Li"
        moved = drxkmc.Configuration.from_species(sim.lattice, cat, anions, mat)
        back = drxkmc.Simulation(
            moved, model, temperature_K=300.0, equilibrate=False, acceleration=None
        )
        back._kmc.set_rate_cap(*sim._kmc.rate_cap)
        rev = back.events()
        fwd = ev.filter((ev["from_site"] == a) & (ev["to_site"] == b))["rate_per_s"].sum()
        bwd = rev.filter((rev["from_site"] == b) & (rev["to_site"] == a))["rate_per_s"].sum()
        assert fwd / bwd == pytest.approx(math.exp(-(e[b] - e[a]) / kt), rel=1e-9)


# ----- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"precision": 0.0}, "precision"),
        ({"precision": "5%"}, "precision"),
        ({"precision": float("nan")}, "precision"),
        ({"precision": 0.05, "target": "D_foo"}, "target"),
        ({"hops": 1000, "precision": 0.05}, "hops"),
        ({"time_s": 1e-6, "warmup_fraction": -0.1}, "warmup_fraction"),
        ({"precision": 0.05, "max_hops": 0}, "max_hops"),
    ],
)
def test_bad_run_arguments_name_their_field(kwargs, field):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=0)
    sim = drxkmc.Simulation(cfg, seed=0)
    hops0 = sim.hops
    with pytest.raises(drxkmc.InvalidParameterError) as err:
        sim.run(**kwargs)
    assert err.value.field == field
    assert sim.hops == hops0  # nothing ran


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"acceleration": 0.5}, "acceleration"),
        ({"acceleration": "fast"}, "acceleration"),
        ({"equilibrate": "yes"}, "equilibrate"),
        ({"timescale_s": float("nan")}, "timescale_s"),
        ({"timescale_s": -1.0}, "timescale_s"),
    ],
)
def test_bad_simulation_arguments_name_their_field(kwargs, field):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=0)
    with pytest.raises(drxkmc.InvalidParameterError) as err:
        drxkmc.Simulation(cfg, seed=0, **kwargs)
    assert err.value.field == field


def test_bad_electrochemistry_arguments_name_their_field():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    lat = drxkmc.Lattice(3)
    cfg = drxkmc.Configuration.random(mat, lat, seed=0)
    cases = [
        (
            lambda: drxkmc.Configuration.random(mat, lat, li_content=0.6, delithiation="x"),
            "delithiation",
        ),
        (lambda: cfg.with_li_content(-0.1), "li_content"),
        (lambda: cfg.with_li_content("0.6x"), "li_content"),
        (lambda: cfg.equilibrated(sweeps=0), "sweeps"),
        (lambda: cfg.equilibrated(model="default"), "model"),
        (lambda: voltage_curve(cfg, n_points=1), "n_points"),
        (lambda: voltage_curve("cfg"), "config"),
        (lambda: extractable_capacity(cfg, float("inf")), "cutoff_V"),
        (lambda: state_of_charge_sweep(cfg, "0.6"), "li_contents"),
    ]
    for call, field in cases:
        with pytest.raises(drxkmc.InvalidParameterError) as err:
            call()
        assert err.value.field == field, (field, err.value)


def test_new_user_slips_get_clear_answers(tmp_path, capsys):
    # `drxkmc --help` must print help (a bare '%' in a help text used to crash argparse).
    from drxkmc.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "demo" in capsys.readouterr().out
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    sim = drxkmc.Simulation(
        drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=0), seed=0
    )
    for call in (
        lambda: drxkmc.Simulation.load_checkpoint(tmp_path / "missing.ckpt"),
        lambda: drxkmc.Simulation.load_checkpoint(tmp_path),
        lambda: sim.save_checkpoint(tmp_path / "no" / "such" / "x.ckpt"),
        lambda: sim.save_checkpoint(tmp_path),
        lambda: sim.run(hops=10**30),
    ):
        with pytest.raises(drxkmc.InvalidParameterError) as err:
            call()
        assert err.value.field in ("path", "hops")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
