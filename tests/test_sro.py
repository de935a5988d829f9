"""Short-range order: Metropolis annealing (drxkmc.sro.anneal) and SRO measures (drxkmc.sro.sro).

Expected values are derived in the tests from the random-alloy limit (multinomial statistics)
or from exact relations; detailed balance against exact enumeration lives in the Rust unit
tests of rust/drxkmc-core/src/sro.rs.
"""

from __future__ import annotations

import math
import sys
from collections import Counter

import numpy as np
import polars as pl
import pytest
from conftest import raises_field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.sro import SROResult, anneal, energy, sro

LNM = "Li1.25Nb0.25Mn0.5O2"  # Mn is solved to 3+: 1.25 + 1.25 + 1.5 = 4 = 2·2


def wc_sigma(result: SROResult, config: drxkmc.Configuration) -> pl.DataFrame:
    """Warren–Cowley rows with their random-alloy standard deviation.

    For a random arrangement P(j|i) is a mean of n_i·z Bernoulli(c_j) draws, so
    σ(α) = σ(P)/c_j = sqrt((1 − c_j)/(c_j·n_i·z)); every bond is counted from both ends, which
    at most doubles the variance, hence the factor √2.
    """
    n = config.lattice.n_cations
    counts = Counter(config.cation_symbols().tolist())
    rows = result.warren_cowley.filter(pl.col("sublattice") == "cation")
    z = np.where(rows["shell"].to_numpy() == 1, 12.0, 6.0)
    ni = np.array([counts[s] for s in rows["species_i"]], dtype=float)
    cj = np.array([counts[s] / n for s in rows["species_j"]])
    sigma = np.sqrt((1 - cj) / (cj * ni * z)) * math.sqrt(2)
    return rows.with_columns(sigma=sigma)


def channel_fractions(config: drxkmc.Configuration) -> np.ndarray:
    c = config.li_pair_channel_counts()
    n = np.array([c["0-TM"], c["1-TM"], c["2-TM"]], dtype=float)
    return n / n.sum()


# ----- zero interaction: annealing randomises ---------------------------------------------------


def test_zero_strength_randomises_an_ordered_start(lmt):
    lattice = drxkmc.Lattice(10)
    start = drxkmc.Configuration.random(lmt, lattice, seed=1)
    # A strongly ordered start, so that the test sees the annealer undo order.
    ordered = anneal(start, temperature_K=300, sweeps=30, strength_eV=0.05, seed=2)
    ordered_wc = wc_sigma(sro(ordered), ordered)
    assert (ordered_wc["alpha"].abs() > 5 * ordered_wc["sigma"]).any()

    relaxed = anneal(ordered, temperature_K=1000, sweeps=30, strength_eV=0.0, seed=3)
    wc = wc_sigma(sro(relaxed), relaxed)
    worst = (
        wc.with_columns(z=(pl.col("alpha") / pl.col("sigma")).abs()).sort("z").row(-1, named=True)
    )
    assert worst["z"] < 5, worst

    # Channel statistics of Li pairs: each spectator is a TM with probability
    # p = n_TM/(N − 2) (two of the N sites are the Li pair), independently up to O(1/N):
    # 0-TM (1 − p)², 1-TM 2p(1 − p), 2-TM p².
    symbols = relaxed.cation_symbols()
    n_tm = int(np.count_nonzero(~np.isin(symbols, ["Li", "Va"])))
    p = n_tm / (lattice.n_cations - 2)
    expected = np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
    got = channel_fractions(relaxed)
    n_tet = sum(relaxed.li_pair_channel_counts().values())
    # Binomial error of each fraction, doubled for the correlation of tetrahedra sharing sites.
    sigma = 2 * np.sqrt(expected * (1 - expected) / n_tet)
    assert np.all(np.abs(got - expected) < 5 * sigma), (got, expected)
    # The ordered start was far from it (so the comparison has power).
    assert np.any(np.abs(channel_fractions(ordered) - expected) > 5 * sigma)


# ----- electroneutrality ---------------------------------------------------------------------


def multinomial_environment(x: dict[str, float], counts: dict[str, int]) -> float:
    """Probability that six independent random cations have the given species counts."""
    coeff = math.factorial(6)
    prob = 1.0
    for s, k in counts.items():
        coeff //= math.factorial(k)
        prob *= x[s] ** k
    return coeff * prob


def test_electroneutrality_favours_charge_balanced_oxygen():
    material = drxkmc.Material.from_formula(LNM)
    assert material.oxidation_states["Mn"] == pytest.approx(3.0)
    lattice = drxkmc.Lattice(8)
    random = drxkmc.Configuration.random(material, lattice, seed=4)
    annealed = anneal(random, temperature_K=700, sweeps=60, strength_eV=0.02, seed=5)
    # Cation site fractions: Li 1.25/2, Nb 0.25/2, Mn 0.5/2 (two cation sites per f.u.).
    x = {"Li": 1.25 / 2, "Nb": 0.25 / 2, "Mn": 0.5 / 2}
    n_o = lattice.n_anions
    for env, counts in [
        ("O:Li3Mn3", {"Li": 3, "Mn": 3}),
        ("O:Li4Mn1Nb1", {"Li": 4, "Mn": 1, "Nb": 1}),
    ]:
        p_random = multinomial_environment(x, counts)
        sigma = 2 * math.sqrt(p_random * (1 - p_random) / n_o)
        # The measure reproduces random statistics on the random arrangement ...
        assert abs(sro(random).environment_fraction(env) - p_random) < 5 * sigma
        # ... and electroneutrality makes these 12+ environments more common.
        assert sro(annealed).environment_fraction(env) > p_random + 5 * sigma, env
    env = sro(annealed).anion_environments
    charge = (env["cation_charge_e"] * env["count"]).sum() / env["count"].sum()
    # The mean charge around O is fixed by composition: 6 × (average cation charge) = 6·4/2.
    assert charge == pytest.approx(12.0)


def test_cooling_lowers_the_electroneutrality_energy_monotonically():
    material = drxkmc.Material.from_formula(LNM)
    config = drxkmc.Configuration.random(material, drxkmc.Lattice(6), seed=6)
    temperatures = [4000, 2500, 1600, 1000, 600]
    sweeps = 25
    out = anneal(config, schedule=[(t, sweeps) for t in temperatures], seed=7)
    trace = out.anneal_trace
    assert trace.height == 1 + sweeps * len(temperatures)
    assert trace["sweep"].to_list() == list(range(trace.height))
    # Equilibrium energy falls with T (dU/dT = C_V/… > 0): compare the mean of the last 10
    # sweeps of each stage, and the start (random = infinite temperature).
    stage_means = [
        trace.filter(pl.col("temperature_K") == t)["electroneutrality_eV"][-10:].mean()
        for t in temperatures
    ]
    start = trace["electroneutrality_eV"][0]
    assert all(a > b for a, b in zip([start, *stage_means], stage_means)), stage_means
    # The energy the trace reports is the energy of the returned configuration.
    assert energy(out)["electroneutrality_eV"] == pytest.approx(trace["electroneutrality_eV"][-1])
    # Acceptance falls with temperature.
    acc = [
        trace.filter(pl.col("temperature_K") == t)["cation_acceptance"].mean() for t in temperatures
    ]
    assert all(a > b for a, b in zip(acc, acc[1:])), acc


# ----- SRO and transport ---------------------------------------------------------------------


def test_li_tm_mixing_closes_0tm_channels_and_slows_diffusion(lmt):
    lattice = drxkmc.Lattice(6)
    random = drxkmc.Configuration.random(lmt, lattice, li_content=1.0, seed=1)
    mixed = anneal(
        random,
        temperature_K=800,
        sweeps=40,
        strength_eV=0.0,
        pair_terms=[("Li", "Mn", -0.1), ("Li", "Ti", -0.1)],
        seed=1,
    )
    assert mixed.counts().equals(random.counts())
    r_mixed = sro(mixed)
    sig = wc_sigma(r_mixed, mixed).filter(
        (pl.col("shell") == 1) & (pl.col("species_i") == "Li") & (pl.col("species_j") == "Mn")
    )
    assert r_mixed.alpha("Li", "Mn") < -5 * sig["sigma"][0]
    assert r_mixed.alpha("Li", "Ti") < -5 * sig["sigma"][0]
    # Fewer Li pairs joined by 0-TM tetrahedra.
    f0_random, f0_mixed = channel_fractions(random)[0], channel_fractions(mixed)[0]
    assert f0_mixed < 0.5 * f0_random
    # And slower long-range diffusion, compared over the same simulated time (long enough for
    # the Li rattling in closed pockets to stop contributing: a hop-count-based length would
    # give the mixed structure a much shorter time window).
    d = {}
    for name, config in [("random", random), ("mixed", mixed)]:
        sim = drxkmc.Simulation(config, drxkmc.BarrierModel(), temperature_K=600, seed=2)
        row = sim.run(time_s=1e-6, blocks=8).diffusivity.row(0, named=True)
        d[name] = (row["D_tracer_cm2_s"], row["D_tracer_err_cm2_s"])
    (dr, er), (dm, em) = d["random"], d["mixed"]
    assert dm + 5 * em < dr - 5 * er, d


def test_li_f_attraction_puts_li_around_f():
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    random = drxkmc.Configuration.random(material, drxkmc.Lattice(6), seed=8)
    attracted = anneal(
        random,
        temperature_K=1000,
        sweeps=40,
        strength_eV=0.0,
        pair_terms=[("Li", "F", -0.1)],
        seed=9,
    )
    n_li = random.n_li
    n = random.lattice.n_cations
    n_f = int(np.count_nonzero(random.anion_symbols() == "F"))
    # Random: 6·c_Li Li around each anion; the mean over n_F anions has σ ≈ sqrt(6·c(1−c)/n_F).
    mean_random = 6 * n_li / n
    sigma = math.sqrt(6 * (n_li / n) * (1 - n_li / n) / n_f) * 2
    assert abs(sro(random).mean_neighbours("F", "Li") - mean_random) < 5 * sigma
    assert sro(attracted).mean_neighbours("F", "Li") > mean_random + 5 * sigma
    # F moved (anion swaps) or Li moved; either way F count is conserved.
    assert np.count_nonzero(attracted.anion_symbols() == "F") == n_f


# ----- properties ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**64 - 1),
    temperature=st.floats(0, 5000),
    strength=st.floats(0, 0.2),
    pair=st.floats(-0.2, 0.2),
    anions=st.booleans(),
    li_content=st.floats(0.6, 1.2),
)
def test_annealing_conserves_composition(seed, temperature, strength, pair, anions, li_content):
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    config = drxkmc.Configuration.random(
        material, drxkmc.Lattice((2, 3, 2)), li_content=li_content, seed=seed % 1000
    )
    out = anneal(
        config,
        temperature_K=temperature,
        sweeps=3,
        strength_eV=strength,
        pair_terms=[("Li", "F", pair), ("Mn", "Ti", -pair), ("Va", "O", pair)],
        anions=anions,
        seed=seed,
    )
    assert sorted(out.cation_symbols()) == sorted(config.cation_symbols())
    assert sorted(out.anion_symbols()) == sorted(config.anion_symbols())
    if not anions:
        assert (out.anion_symbols() == config.anion_symbols()).all()
    assert out.material is material
    trace = out.anneal_trace
    assert trace.height == 4
    assert trace["cation_acceptance"][1:].is_between(0, 1).all()


def test_same_seed_same_result_whatever_the_chunking(lmt, monkeypatch):
    config = drxkmc.Configuration.random(lmt, drxkmc.Lattice(4), seed=3)
    kw = dict(strength_eV=0.02, pair_terms={("Li", "Mn"): -0.02}, seed=11)
    one = anneal(config, temperature_K=900, sweeps=12, **kw)
    staged = anneal(config, schedule=[(900, 5), (900, 7)], **kw)
    # drxkmc.sro is also the name of the function; patch the module itself.
    monkeypatch.setattr(sys.modules["drxkmc.sro"], "_ATTEMPTS_PER_CHUNK", 1)
    chunked = anneal(config, temperature_K=900, sweeps=12, **kw)
    assert one == staged == chunked
    assert one.anneal_trace.equals(chunked.anneal_trace)
    other = anneal(config, temperature_K=900, sweeps=12, **{**kw, "seed": 12})
    assert other != one
    # Configuration.anneal delegates here and returns a Configuration with the trace.
    via_method = config.anneal(temperature_K=900, sweeps=12, **kw)
    assert isinstance(via_method, drxkmc.Configuration) and via_method == one
    assert via_method.anneal_trace.columns == [
        "sweep",
        "temperature_K",
        "energy_eV",
        "electroneutrality_eV",
        "pair_eV",
        "charge_deviation_rms_e",
        "cation_acceptance",
        "anion_acceptance",
    ]
    # No F or Cl: the anion sublattice has one species, so no anion swaps are attempted.
    assert (
        via_method.anneal_trace["anion_acceptance"].null_count() == via_method.anneal_trace.height
    )


def test_zero_kelvin_quench_never_raises_the_energy(lmt):
    config = drxkmc.Configuration.random(lmt, drxkmc.Lattice(4), seed=5)
    trace = anneal(config, temperature_K=0, sweeps=15, seed=1).anneal_trace
    e = trace["energy_eV"].to_numpy()
    assert np.all(np.diff(e) <= 1e-9)
    assert e[-1] < e[0]


def test_oxidation_states_without_a_material_come_from_the_composition():
    material = drxkmc.Material.from_formula(LNM)
    lattice = drxkmc.Lattice(4)
    with_material = drxkmc.Configuration.random(material, lattice, seed=2)
    bare = drxkmc.Configuration.from_species(
        lattice, with_material.cation_symbols(), with_material.anion_symbols()
    )
    # The material inferred from the species counts has the formula's oxidation states.
    inferred = bare.material.oxidation_states
    assert inferred == pytest.approx(material.oxidation_states, abs=1e-6)
    bare.material = None
    # The inferred charges (Mn³⁺ from charge balance, Nb⁵⁺) give the energy the Material's do.
    assert energy(bare) == pytest.approx(energy(with_material))
    b = anneal(bare, temperature_K=1000, sweeps=5, seed=3)
    c = anneal(bare, temperature_K=1000, sweeps=5, seed=3, oxidation_states={"Mn": 3, "Nb": 5})
    assert b == c
    # A different charge changes the energy and the result.
    d = anneal(bare, temperature_K=1000, sweeps=5, seed=3, oxidation_states={"Mn": 2, "Nb": 5})
    assert d != c
    assert energy(bare, oxidation_states={"Mn": 2}) != pytest.approx(energy(bare))


# ----- measures ------------------------------------------------------------------------------


def test_measures_are_consistent_frames(lmt):
    config = drxkmc.Configuration.random(
        drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4"),
        drxkmc.Lattice((3, 4, 5), geometry="slab"),
        li_content=1.0,
        seed=2,
    )
    r = sro(config)
    wc = r.warren_cowley
    assert set(wc.columns) >= {"shell", "species_i", "species_j", "alpha"}
    assert set(wc["sublattice"]) == {"cation", "anion"}
    # Σ_j c_j (1 − α_ij) = Σ_j P(j|i) = 1 for every i and shell.
    n = config.lattice.n_cations
    c = Counter(config.cation_symbols().tolist())
    cat = wc.filter(pl.col("sublattice") == "cation").with_columns(
        cj=pl.col("species_j").replace_strict({k: v / n for k, v in c.items()})
    )
    sums = cat.group_by("shell", "species_i").agg(
        ((1 - pl.col("alpha")) * pl.col("cj")).sum().alias("s")
    )
    assert np.allclose(sums["s"].to_numpy(), 1.0)
    # Symmetry: n_i·P(j|i) = n_j·P(i|j), i.e. α_ij = α_ji.
    piv = cat.select("shell", "species_i", "species_j", "alpha")
    joined = piv.join(
        piv,
        left_on=["shell", "species_i", "species_j"],
        right_on=["shell", "species_j", "species_i"],
    )
    assert np.allclose(joined["alpha"], joined["alpha_right"])
    # Tetrahedra: 15 classes, every tetrahedron counted once, 8 per cation site.
    tet = r.tetrahedra
    assert tet.height == 15 and tet["count"].sum() == config.lattice.n_tetrahedra
    assert (tet["n_Li"].cast(int) * tet["count"]).sum() == 8 * config.n_li
    assert tet["fraction"].sum() == pytest.approx(1.0)
    assert "Li2TM2" in tet["content"].to_list()
    # Anion environments: fractions per anion species, six cations each.
    env = r.anion_environments
    assert env.group_by("anion").agg(pl.col("fraction").sum())[
        "fraction"
    ].to_numpy() == pytest.approx(1.0)
    assert ((env["n_Li"].cast(int) + env["n_TM"].cast(int) + env["n_Va"].cast(int)) == 6).all()
    assert (env["n_Li"].cast(int) * env["count"]).sum() == 6 * config.n_li
    assert all(e.split(":")[0] in ("O", "F") for e in env["environment"])
    assert r.mean_neighbours("O", "TM") > 0


# ----- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(temperature_K=-1), "temperature_K"),
        (dict(temperature_K=float("nan")), "temperature_K"),
        (dict(), "temperature_K"),
        (dict(temperature_K=1000, sweeps=-1), "sweeps"),
        (dict(temperature_K=1000, sweeps=2.5), "sweeps"),
        (dict(schedule=[]), "schedule"),
        (dict(schedule=[(1000, 5), (-10, 5)]), "schedule"),
        (dict(schedule=[(1000,)]), "schedule"),
        (dict(temperature_K=1000, schedule=[(1000, 5)]), "schedule"),
        (dict(temperature_K=1000, strength_eV=-0.1), "strength_eV"),
        (dict(temperature_K=1000, strength_eV="strong"), "strength_eV"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Nb", -0.1)]), "pair_terms"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Xx", -0.1)]), "pair_terms"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Mn")]), "pair_terms"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Mn", "big")]), "pair_terms"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Mn", float("inf"))]), "pair_terms"),
        (dict(temperature_K=1000, pair_terms=[("Li", "Mn", 0.1), ("Mn", "Li", 0.1)]), "pair_terms"),
        (dict(temperature_K=1000, oxidation_states={"Nb": 5}), "oxidation_states"),
        (dict(temperature_K=1000, oxidation_states={"Mn": float("nan")}), "oxidation_states"),
        (dict(temperature_K=1000, seed=-1), "seed"),
        (dict(temperature_K=1000, anions="yes"), "anions"),
    ],
)
def test_bad_input_names_the_field(lmt, kwargs, field):
    config = drxkmc.Configuration.random(lmt, drxkmc.Lattice(2), seed=0)
    raises_field(lambda: anneal(config, **kwargs), field)


def test_bad_config_is_rejected():
    raises_field(lambda: sro("LiMnO2"), "config")
    raises_field(lambda: anneal(None, temperature_K=300), "config")


def test_result_helpers_reject_unknown_species(lmt):
    r = sro(drxkmc.Configuration.random(lmt, drxkmc.Lattice(2), seed=0))
    with pytest.raises(drxkmc.InvalidParameterError):
        r.alpha("Li", "Nb")
    raises_field(lambda: r.mean_neighbours("F"), "anion")
    assert r.environment_fraction("O:Li6") >= 0
