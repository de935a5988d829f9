"""The user-facing API: frames and their units, Arrhenius fits, the CLI, Material arithmetic."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import K_B_EV, lattice_gas

import drxkmc

DIFFUSIVITY_COLUMNS = [
    "temperature_K",
    "n_li",
    "D_tracer_cm2_s",
    "D_tracer_err_cm2_s",
    "D_jump_cm2_s",
    "D_jump_err_cm2_s",
    "haven_ratio",
    "haven_ratio_err",
    "conductivity_mS_cm",
    "conductivity_err_mS_cm",
    "thermodynamic_factor",
    "thermodynamic_factor_err",
    "D_chem_cm2_s",
    "D_chem_err_cm2_s",
    "mobile_fraction",
    "moved_fraction",
    "msd_exponent",
    "stationary",
    "converged",
    "hops",
    "time_s",
    "blocks",
]
MSD_COLUMNS = ["lag_s", "msd_A2", "msd_err_A2", "com_msd_A2", "com_msd_err_A2"]
EVENT_COLUMNS = ["from_site", "to_site", "path", "direction", "channel", "barrier_eV", "rate_per_s"]


def test_public_names():
    for name in (
        "Material",
        "Lattice",
        "Configuration",
        "BarrierModel",
        "Simulation",
        "RunResult",
        "arrhenius",
        "ArrheniusResult",
        "DrxkmcError",
        "InvalidParameterError",
        "CompositionError",
        "BOLTZMANN_EV_PER_K",
    ):
        assert name in drxkmc.__all__ and hasattr(drxkmc, name)
    assert drxkmc.BOLTZMANN_EV_PER_K == K_B_EV  # CODATA 2018 exact value


@pytest.fixture(scope="module")
def drx_run():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lat = drxkmc.Lattice(4)
    cfg = drxkmc.Configuration.random(mat, lat, li_content=0.7, seed=2)
    sim = drxkmc.Simulation(cfg, drxkmc.BarrierModel(), temperature_K=600.0, seed=3)
    res = sim.run(hops=60_000, blocks=6, samples_per_block=8, warmup_hops=2000, progress=False)
    return sim, cfg, res


def test_result_frames_have_documented_columns_with_units(drx_run):
    sim, cfg, res = drx_run
    d = res.diffusivity
    assert isinstance(d, pl.DataFrame) and d.height == 1
    assert d.columns == DIFFUSIVITY_COLUMNS
    for c in DIFFUSIVITY_COLUMNS:
        expected = (
            pl.Int64
            if c in ("n_li", "hops", "blocks")
            else pl.Boolean
            if c in ("stationary", "converged")
            else pl.Float64
        )
        assert d.schema[c] == expected, c
    assert res.msd.columns == MSD_COLUMNS
    assert res.msd.height == 8 and all(res.msd.schema[c] == pl.Float64 for c in MSD_COLUMNS)
    assert sim.events().columns == EVENT_COLUMNS
    # hops=60_000 in blocks of ~10,000: as many blocks as that takes (at least 6 - 1).
    assert len(res.blocks) >= 5 and res.interrupted is False
    row = d.row(0, named=True)
    assert row["temperature_K"] == 600.0 and row["blocks"] == len(res.blocks)
    assert row["n_li"] == cfg.n_li
    assert row["hops"] > 0 and row["time_s"] > 0
    assert 0 <= row["mobile_fraction"] <= 1
    # The lag grid is regular within a block: lag_k = k·τ_block / samples.
    lags = res.msd["lag_s"].to_numpy()
    np.testing.assert_allclose(lags, lags[0] * np.arange(1, 9), rtol=1e-9)
    # Complete blocks, plus a last one cut short where the hop count was reached.
    assert len(res.blocks) * lags[-1] <= row["time_s"] * (1 + 1e-12)
    assert row["time_s"] < (len(res.blocks) + 1) * lags[-1]
    assert row["hops"] == 60_000


def test_derived_columns_follow_their_definitions(drx_run):
    sim, cfg, res = drx_run
    row = res.diffusivity.row(0, named=True)
    # Haven ratio H = D*/D_J; D_chem = D_J·Θ.
    assert row["haven_ratio"] == pytest.approx(
        row["D_tracer_cm2_s"] / row["D_jump_cm2_s"], rel=1e-12
    )
    assert row["D_chem_cm2_s"] == pytest.approx(
        row["D_jump_cm2_s"] * row["thermodynamic_factor"], rel=1e-12
    )
    # Nernst–Einstein: σ = n·e²·D_J/(k_B·T), n = N_Li/V. With n in cm⁻³, D in cm²/s,
    # e in C and k_B·T in J, σ is in S/cm; ×1000 for mS/cm.
    e = 1.602176634e-19
    k_b = 1.380649e-23
    volume_cm3 = math.prod(cfg.lattice.size) * (cfg.lattice.a * 1e-8) ** 3
    assert sim.lattice.volume_cm3 == pytest.approx(volume_cm3, rel=1e-12)
    sigma = row["n_li"] / volume_cm3 * e**2 * row["D_jump_cm2_s"] / (k_b * 600.0) * 1e3
    assert row["conductivity_mS_cm"] == pytest.approx(sigma, rel=1e-9)
    # Tracer D from the MSD frame: D* = slope/6 (Å² → cm²) of the block-averaged MSD between
    # the first lag ≥ 0.2·τ and τ (the documented estimator) equals the mean over blocks.
    lag, msd = res.msd["lag_s"].to_numpy(), res.msd["msd_A2"].to_numpy()
    k = int(np.searchsorted(lag, 0.2 * lag[-1]))
    slope = (msd[-1] - msd[k]) / (lag[-1] - lag[k])
    assert row["D_tracer_cm2_s"] == pytest.approx(slope / 6 * 1e-16, rel=1e-9)


def test_simulation_state_accessors(drx_run):
    sim, cfg, res = drx_run
    assert sim.temperature_K == 600.0
    assert sim.model == drxkmc.BarrierModel()
    assert sim.lattice == cfg.lattice
    now = sim.configuration()
    assert now.n_li == cfg.n_li and now.material is cfg.material
    assert np.array_equal(now.anion_symbols(), cfg.anion_symbols())
    assert sim.li_occupancy().dtype == bool and sim.li_occupancy().sum() == cfg.n_li
    assert sim.displacements_A().shape == (cfg.lattice.n_cations, 3)
    assert sim.site_energies_eV().shape == (cfg.lattice.n_cations,)


def test_barrier_model_api():
    m = drxkmc.BarrierModel()
    # Trends of docs/design.md#barriers-kra-and-detailed-balance: 0-TM < 1-TM < 2-TM, 2-TM
    # effectively closed, ν = 1e13 s⁻¹, reference height a/√3 for a = 4.15 Å, taller
    # tetrahedra lower the barrier.
    e0, e1, e2 = m.channel_barrier_eV
    assert e0 < e1 < e2 and e2 >= 1.0
    assert m.attempt_frequency_hz == 1e13
    assert m.reference_height_A == pytest.approx(4.15 / math.sqrt(3), abs=0.01)
    assert all(s < 0 for s in m.height_slope_eV_per_A)
    u = drxkmc.BarrierModel.uniform(0.42)
    assert u.channel_barrier_eV == (0.42, 0.42, 0.42)
    assert u.spectator_li_eV == 0 and u.site_f_eV == 0 and u.site_tm_eV == 0
    assert set(u.height_slope_eV_per_A) == {0.0}
    r = m.replace(site_f_eV=-0.2)
    assert r.site_f_eV == -0.2 and m.site_f_eV != -0.2
    assert set(m.as_dict()) == {f for f in m.__dataclass_fields__}
    with pytest.raises(AttributeError):
        m.site_f_eV = 0.0  # frozen


def test_barrier_model_crosses_the_boundary_whole():
    # Every field, changed from its default (a seed beyond 2⁶³ too), goes into the engine and
    # comes back equal; the dict the core builds has exactly the dataclass's fields, in order.
    defaults = drxkmc.BarrierModel()
    changed = {
        name: tuple(1.25 * v + 0.01 for v in value)
        if isinstance(value, tuple)
        else 1.25 * value + 0.01
        for name, value in defaults.as_dict().items()
        if name != "site_energy_seed"
    }
    model = drxkmc.BarrierModel(**changed, site_energy_seed=2**64 - 1)
    assert all(getattr(model, k) != getattr(defaults, k) for k in defaults.as_dict())
    cfg = lattice_gas(drxkmc.Lattice(2), 10, seed=0)
    sim = drxkmc.Simulation(cfg, model, temperature_K=300.0, seed=1)
    assert sim.model == model
    # The core's dict has one key per dataclass field, in order (the core spells units in
    # lower case; the Python names end in _eV / _A).
    core_keys = [drxkmc.model._FROM_CORE[k] for k in sim._kmc.model()]
    assert core_keys == [f.name for f in dataclasses.fields(drxkmc.BarrierModel)]
    # Per-channel and per-anion fields take any iterable of numbers, e.g. a numpy array.
    as_array = drxkmc.Simulation(
        cfg,
        model.replace(channel_barrier_eV=np.array(model.channel_barrier_eV)),
        temperature_K=300.0,
        seed=1,
    )
    assert as_array.model == model


def _weighted_slope_sigma(x, d, d_err):
    """σ of the slope of a weighted straight-line fit of ln D against x, with var(ln D_i) =
    (σ_i/D_i)² known: σ_slope = 1/√(Σ w_i (x_i − x̄_w)²), w_i = (D_i/σ_i)²."""
    w = (np.asarray(d) / np.asarray(d_err)) ** 2
    xbar = np.sum(w * x) / np.sum(w)
    return 1 / math.sqrt(np.sum(w * (x - xbar) ** 2))


def test_arrhenius_recovers_the_barrier_of_a_hard_core_gas():
    # Uniform barrier E, no TM: every rate is ν·exp(−E/kT), so the hop sequence is independent
    # of T and only the clock scales: D*(T) = D*(∞)·exp(−E/kT) exactly (with a T-independent
    # correlation factor f(c)). The fitted activation energy must be E.
    barrier = 0.35
    lat = drxkmc.Lattice(4)
    cfg = lattice_gas(lat, lat.n_cations // 2, seed=1)
    temps = [300.0, 400.0, 500.0, 650.0]
    result = drxkmc.arrhenius(
        cfg,
        drxkmc.BarrierModel.uniform(barrier),
        temperatures_K=temps,
        hops=150_000,
        blocks=20,
        seed=4,
    )
    assert isinstance(result, drxkmc.ArrheniusResult)
    table = result.table
    assert table["temperature_K"].to_list() == temps
    assert table.columns == DIFFUSIVITY_COLUMNS
    assert result.fit.columns == [
        "quantity",
        "activation_energy_eV",
        "activation_energy_err_eV",
        "D0_cm2_s",
        "points",
        "all_converged",
    ]
    assert result.fit["quantity"].to_list() == ["D_tracer_cm2_s", "D_jump_cm2_s", "D_chem_cm2_s"]
    # The plot labels each fitted line with its quantity and E_a, not with column names.
    import matplotlib

    matplotlib.use("Agg")
    labels = [t.get_text() for t in result.plot().get_legend().get_texts()]
    assert [lab.split(":")[0] for lab in labels] == ["D*", "D_chem"]
    assert all("E_a = " in lab and "eV" in lab for lab in labels)
    x = 1 / (K_B_EV * np.array(temps))
    # σ of the fitted E from the block standard errors (the tracer is the precise one; the
    # centre-of-mass D_J is noisier). A wrong barrier by a factor 1.2 (0.07 eV) is > 50σ off
    # for D* and > 4σ for D_J.
    for q, max_sigma in (("D_tracer_cm2_s", 0.005), ("D_jump_cm2_s", 0.03)):
        fit = result.fit.filter(pl.col("quantity") == q).row(0, named=True)
        err_col = q.replace("_cm2_s", "_err_cm2_s")
        sigma = _weighted_slope_sigma(x, table[q].to_numpy(), table[err_col].to_numpy())
        assert 0 < sigma < max_sigma
        assert (
            math.isfinite(fit["activation_energy_err_eV"]) and fit["activation_energy_err_eV"] > 0
        )
        assert abs(fit["activation_energy_eV"] - barrier) < 4 * sigma, (q, fit, sigma)
    assert result.activation_energy_eV == result.fit["activation_energy_eV"][0]
    # D_J prefactor: D_J(T) = 4ν·a_nn²·(M−N)/(M−1)·exp(−E/kT) (see test_physics), in cm²/s.
    m, n = lat.n_cations, lat.n_cations // 2
    d0_j = 4 * 1e13 * (lat.a**2 / 2) * (m - n) / (m - 1) * 1e-16
    fit_j = result.fit.filter(pl.col("quantity") == "D_jump_cm2_s").row(0, named=True)
    # ln D0 error of the same weighted fit at x = 0: σ_lnD0 = σ_slope·√(x̄_w² + 1/(Σw·σ_slope²)).
    dj, dj_err = table["D_jump_cm2_s"].to_numpy(), table["D_jump_err_cm2_s"].to_numpy()
    w = (dj / dj_err) ** 2
    xbar = np.sum(w * x) / np.sum(w)
    s_slope = _weighted_slope_sigma(x, dj, dj_err)
    s_ln_d0 = math.sqrt(1 / np.sum(w) + xbar**2 * s_slope**2)
    assert abs(math.log(fit_j["D0_cm2_s"] / d0_j)) < 4 * s_ln_d0


def _cli():
    exe = Path(sys.executable).parent / "drxkmc"
    found = str(exe) if exe.exists() else shutil.which("drxkmc")
    assert found, "the drxkmc console script is not installed (pyproject [project.scripts])"
    return [found]


def test_cli_demo_prints_tracer_diffusivity():
    proc = subprocess.run(
        [*_cli(), "demo", "--size", "3", "--max-hops", "20000", "--temperature", "600"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # The tracer diffusivity row, whatever the table layout: its label mentions "tracer" and
    # its first number is the value.
    lines = [ln for ln in proc.stdout.splitlines() if "tracer" in ln.lower()]
    assert lines, proc.stdout
    number = re.search(r"(?<![\w.])(\d+\.?\d*(?:[eE][-+]?\d+)?)", lines[0].split("D", 1)[-1])
    assert number, lines[0]
    assert 0 < float(number.group(1)) < 1  # cm²/s
    assert "Li1.2Mn0.4Ti0.4O2" in proc.stdout
    # With so few hops the verdict line must say it has not converged.
    assert "NOT CONVERGED" in proc.stdout


def test_cli_module_entry_and_bad_input():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "drxkmc.cli",
            "demo",
            "--formula",
            "Li1.2Xx0.4Ti0.4O2",
            "--size",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "formula" in proc.stderr and "Traceback" not in proc.stderr


def test_material_capacities_by_hand():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    # IUPAC 2021 standard atomic weights (conventional values for Li and O).
    li, mn, ti, o, f = 6.94, 54.938043, 47.867, 15.999, 18.998403162
    molar = 1.2 * li + 0.4 * mn + 0.4 * ti + 2 * o
    faraday = 96485.33212  # C/mol
    assert mat.molar_mass_g_mol == pytest.approx(molar, rel=1e-12)
    # Charge balance: 1.2·(+1) + 0.4·x + 0.4·(+4) = 2·2 ⇒ Mn³⁺; TM redox to Mn⁴⁺ gives 0.4 e⁻.
    assert mat.oxidation_states["Mn"] == pytest.approx(3.0)
    assert mat.li == 1.2 and mat.transition_metals == {"Mn": 0.4, "Ti": 0.4}
    assert mat.cation_sites == 2.0 and mat.cation_vacancies == pytest.approx(0.0, abs=1e-12)
    # Capacity of n e⁻ per formula unit: n·F/(3.6·M) mAh/g (1 mAh = 3.6 C).
    cap = {r["limit"]: r for r in mat.capacities().iter_rows(named=True)}
    assert cap["all_li"]["capacity_mAh_g"] == pytest.approx(
        1.2 * faraday / (3.6 * molar), rel=1e-12
    )
    assert cap["tm_redox"]["electrons_per_fu"] == pytest.approx(0.4)
    assert cap["tm_redox"]["capacity_mAh_g"] == pytest.approx(
        0.4 * faraday / (3.6 * molar), rel=1e-12
    )
    assert cap["one_electron"]["capacity_mAh_g"] == pytest.approx(
        faraday / (3.6 * molar), rel=1e-12
    )
    # Oxyfluoride: 1.2 + 0.4·x + 1.6 = 1.6·2 + 0.4 ⇒ Mn²⁺, so Mn²⁺→Mn⁴⁺ gives 0.8 e⁻.
    oxf = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    molar_f = 1.2 * li + 0.4 * mn + 0.4 * ti + 1.6 * o + 0.4 * f
    assert oxf.molar_mass_g_mol == pytest.approx(molar_f, rel=1e-12)
    assert oxf.oxidation_states["Mn"] == pytest.approx(2.0)
    assert oxf.tm_redox_electrons == pytest.approx(0.8)
    assert oxf.anions == pytest.approx({"O": 1.6, "F": 0.4, "Cl": 0.0})
    cap_f = {r["limit"]: r["capacity_mAh_g"] for r in oxf.capacities().iter_rows(named=True)}
    assert cap_f["tm_redox"] == pytest.approx(0.8 * faraday / (3.6 * molar_f), rel=1e-12)
    # A Li-deficient formula has cation vacancies: sites = anions = 2, cations 1.9.
    vac = drxkmc.Material.from_formula("Li1.1Mn0.4Ti0.4O2")
    assert vac.cation_vacancies == pytest.approx(0.1)


def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    from packaging.version import Version

    assert drxkmc.__version__ == version("drxkmc")
    # The compiled core is from the same build (Cargo's version, as PEP 440 normalises it).
    assert Version(drxkmc.__version__) == Version(drxkmc._core.__version__)


@pytest.mark.parametrize("entry", [["-m", "drxkmc"], ["-m", "drxkmc.cli"], None])
def test_version_option_and_module_entry(entry):
    cmd = _cli() if entry is None else [sys.executable, *entry]
    proc = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"drxkmc {drxkmc.__version__}"


def test_python_m_drxkmc_runs_the_command_line():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "drxkmc",
            "demo",
            "--size",
            "2",
            "--max-hops",
            "2000",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tracer diffusivity" in proc.stdout and "Li1.2Mn0.4Ti0.4O2" in proc.stdout
    usage = subprocess.run([sys.executable, "-m", "drxkmc"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: drxkmc" in usage.stderr


def test_progress_bars_cover_the_warm_up_too(capsys):
    """With progress on, the warm-up shows its own bar before the measuring blocks."""
    m = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    c = drxkmc.Configuration.random(m, drxkmc.Lattice(3), li_content=0.6, seed=1)
    sim = drxkmc.Simulation(c, temperature_K=700, seed=1, equilibrate=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.ConvergenceWarning)
        sim.run(hops=20_000, progress=True)
    err = capsys.readouterr().err
    assert "warm-up" in err and "kMC" in err
