"""Every public function refuses a wrong-type or absurd argument with a drxkmc error naming it.

One table: (call, field). Each call passes one bad argument (wrong type, or a physically
absurd value) and otherwise valid input; the error must be a DrxkmcError (a ValueError)
whose ``.field`` is the argument, raised before any work starts. Also: deprecated unit
spellings, the redox order and the messages that used to mislead.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import DrxkmcError
from drxkmc.electrochem import extractable_capacity, state_of_charge_sweep, voltage_curve
from drxkmc.io import from_ase, from_file, from_pymatgen, to_file
from drxkmc.plot import plot_cluster_slice
from drxkmc.sro import energy
from drxkmc.sweep import sweep

LMT = "Li1.2Mn0.4Ti0.4O2"


@pytest.fixture(scope="module")
def cfg() -> drxkmc.Configuration:
    return drxkmc.Configuration.random(
        drxkmc.Material.from_formula(LMT), drxkmc.Lattice(3), li_content=0.8, seed=1
    )


@pytest.fixture(scope="module")
def sim(cfg) -> drxkmc.Simulation:
    return drxkmc.Simulation(cfg, temperature_K=400, seed=1)


def lattice():
    return drxkmc.Lattice(3)


def material():
    return drxkmc.Material.from_formula(LMT)


# (id, call taking (cfg, sim, tmp_path), field). Each call has exactly one bad argument.
CASES = [
    # Material
    ("formula None", lambda c, s, t: drxkmc.Material.from_formula(None), "formula"),
    ("formula number", lambda c, s, t: drxkmc.Material.from_formula(1.2), "formula"),
    (
        "oxidation value text",
        lambda c, s, t: drxkmc.Material.from_formula(LMT, {"Mn": "x"}),
        "oxidation_states",
    ),
    (
        "oxidation list",
        lambda c, s, t: drxkmc.Material.from_formula(LMT, [("Mn", 3)]),
        "oxidation_states",
    ),
    (
        "oxidation NaN",
        lambda c, s, t: drxkmc.Material.from_formula(LMT, {"Mn": math.nan}),
        "oxidation_states",
    ),
    # Lattice
    ("size text", lambda c, s, t: drxkmc.Lattice("4"), "size"),
    ("size bool", lambda c, s, t: drxkmc.Lattice(True), "size"),
    ("size None", lambda c, s, t: drxkmc.Lattice(None), "size"),
    ("a text", lambda c, s, t: drxkmc.Lattice(4, a="4.15"), "a"),
    ("a None", lambda c, s, t: drxkmc.Lattice(4, a=None), "a"),
    ("a absurdly small", lambda c, s, t: drxkmc.Lattice(4, a=0.001), "a"),
    ("a absurdly large", lambda c, s, t: drxkmc.Lattice(4, a=99), "a"),
    ("a in nm", lambda c, s, t: drxkmc.Lattice(4, a=0.415), "a"),
    ("geometry None", lambda c, s, t: drxkmc.Lattice(4, geometry=None), "geometry"),
    ("geometry number", lambda c, s, t: drxkmc.Lattice(4, geometry=1), "geometry"),
    # BarrierModel
    ("uniform text", lambda c, s, t: drxkmc.BarrierModel.uniform("x"), "barrier_eV"),
    ("uniform None", lambda c, s, t: drxkmc.BarrierModel.uniform(None), "barrier_eV"),
    (
        "attempt frequency absurd",
        lambda c, s, t: drxkmc.BarrierModel(attempt_frequency_hz=1e300),
        "attempt_frequency_hz",
    ),
    (
        "attempt frequency too low",
        lambda c, s, t: drxkmc.BarrierModel(attempt_frequency_hz=1.0),
        "attempt_frequency_hz",
    ),
    ("field text", lambda c, s, t: drxkmc.BarrierModel(site_f_eV="lots"), "site_f_eV"),
    (
        "tuple field scalar",
        lambda c, s, t: drxkmc.BarrierModel(channel_barrier_eV=0.3),
        "channel_barrier_eV",
    ),
    ("from_dict list", lambda c, s, t: drxkmc.BarrierModel.from_dict([1, 2]), "model"),
    ("replace unknown", lambda c, s, t: drxkmc.BarrierModel().replace(barrier=1), "barrier"),
    # Configuration.random
    (
        "random material text",
        lambda c, s, t: drxkmc.Configuration.random("banana", lattice()),
        "material",
    ),
    (
        "random material number",
        lambda c, s, t: drxkmc.Configuration.random(3, lattice()),
        "material",
    ),
    ("random lattice int", lambda c, s, t: drxkmc.Configuration.random(material(), 4), "lattice"),
    (
        "random li_content text",
        lambda c, s, t: drxkmc.Configuration.random(material(), lattice(), li_content="0.6"),
        "li_content",
    ),
    (
        "random li_content gives no Li",
        lambda c, s, t: drxkmc.Configuration.random(material(), lattice(), li_content=1e-5),
        "li_content",
    ),
    (
        "random seed float",
        lambda c, s, t: drxkmc.Configuration.random(material(), lattice(), seed=1.5),
        "seed",
    ),
    # Configuration.from_species and the structure readers
    (
        "from_species lattice",
        lambda c, s, t: drxkmc.Configuration.from_species(3, ["Li"]),
        "lattice",
    ),
    (
        "from_species cations text",
        lambda c, s, t: drxkmc.Configuration.from_species(c.lattice, "Li" * c.lattice.n_cations),
        "cations",
    ),
    (
        "from_species banana",
        lambda c, s, t: drxkmc.Configuration.from_species(
            c.lattice, c.cation_symbols(), c.anion_symbols(), material="banana"
        ),
        "material",
    ),
    (
        "from_species wrong material",
        lambda c, s, t: drxkmc.Configuration.from_species(
            c.lattice, c.cation_symbols(), c.anion_symbols(), material="LiCoO2"
        ),
        "material",
    ),
    (
        "from_pymatgen tolerance text",
        lambda c, s, t: from_pymatgen(c.to_pymatgen(), tolerance="0.5"),
        "tolerance",
    ),
    (
        "from_pymatgen material",
        lambda c, s, t: from_pymatgen(c.to_pymatgen(), material=2),
        "material",
    ),
    (
        "from_pymatgen geometry",
        lambda c, s, t: from_pymatgen(c.to_pymatgen(), geometry=3),
        "geometry",
    ),
    ("from_pymatgen structure", lambda c, s, t: from_pymatgen("structure"), "structure"),
    ("from_ase atoms", lambda c, s, t: from_ase(None), "atoms"),
    ("from_ase tolerance", lambda c, s, t: from_ase(c.to_ase(), tolerance=None), "tolerance"),
    ("from_file path", lambda c, s, t: from_file(None), "path"),
    ("from_file format", lambda c, s, t: from_file(t / "x.cif", format=3), "format"),
    ("to_file config", lambda c, s, t: to_file("config", t / "x.cif"), "config"),
    ("to_file path", lambda c, s, t: to_file(c, None), "path"),
    # Simulation
    ("Simulation config", lambda c, s, t: drxkmc.Simulation("config"), "config"),
    ("Simulation model dict", lambda c, s, t: drxkmc.Simulation(c, {"site_f_eV": 0}), "model"),
    (
        "Simulation temperature text",
        lambda c, s, t: drxkmc.Simulation(c, temperature_K="300"),
        "temperature_K",
    ),
    (
        "Simulation temperature list",
        lambda c, s, t: drxkmc.Simulation(c, temperature_K=[300]),
        "temperature_K",
    ),
    ("Simulation seed text", lambda c, s, t: drxkmc.Simulation(c, seed="1"), "seed"),
    ("run hops text", lambda c, s, t: s.run(hops="100"), "hops"),
    ("run time text", lambda c, s, t: s.run(time_s="1e-9"), "time_s"),
    ("run blocks float", lambda c, s, t: s.run(hops=100, blocks=2.5), "blocks"),
    ("run warmup negative", lambda c, s, t: s.run(hops=100, warmup_hops=-1), "warmup_hops"),
    ("advance hops None", lambda c, s, t: s.advance(hops=None), "hops"),
    ("advance time negative", lambda c, s, t: s.advance(time_s=-1.0), "time_s"),
    (
        "Simulation equilibrate",
        lambda c, s, t: drxkmc.Simulation(c, equilibrate="yes"),
        "equilibrate",
    ),
    (
        "Simulation timescale text",
        lambda c, s, t: drxkmc.Simulation(c, timescale_s="1h"),
        "timescale_s",
    ),
    (
        "Simulation acceleration < 1",
        lambda c, s, t: drxkmc.Simulation(c, acceleration=0.5),
        "acceleration",
    ),
    (
        "Simulation acceleration text",
        lambda c, s, t: drxkmc.Simulation(c, acceleration="x"),
        "acceleration",
    ),
    ("run precision text", lambda c, s, t: s.run(precision="0.1"), "precision"),
    ("run target", lambda c, s, t: s.run(precision=0.1, target=3), "target"),
    ("run max_hops text", lambda c, s, t: s.run(hops=100, max_hops="x"), "max_hops"),
    ("run warmup_fraction", lambda c, s, t: s.run(hops=100, warmup_fraction=2), "warmup_fraction"),
    # electrochemistry
    (
        "random delithiation",
        lambda c, s, t: drxkmc.Configuration.random(material(), lattice(), delithiation="chemical"),
        "delithiation",
    ),
    (
        "equilibrated temperature",
        lambda c, s, t: c.equilibrated(temperature_K="300"),
        "temperature_K",
    ),
    ("equilibrated sweeps", lambda c, s, t: c.equilibrated(sweeps=0), "sweeps"),
    ("equilibrated timescale", lambda c, s, t: c.equilibrated(timescale_s=-1.0), "timescale_s"),
    ("equilibrated model", lambda c, s, t: c.equilibrated("model"), "model"),
    ("with_li_content text", lambda c, s, t: c.with_li_content("0.5"), "li_content"),
    ("voltage_curve n_points", lambda c, s, t: voltage_curve(c, n_points=1.5), "n_points"),
    (
        "voltage_curve reference",
        lambda c, s, t: voltage_curve(c, reference_voltage_V="3.5"),
        "reference_voltage_V",
    ),
    (
        "extractable_capacity cutoff",
        lambda c, s, t: extractable_capacity(c, cutoff_V="4.5"),
        "cutoff_V",
    ),
    (
        "soc sweep li_contents",
        lambda c, s, t: state_of_charge_sweep(c, li_contents="0.5"),
        "li_contents",
    ),
    ("soc sweep seed", lambda c, s, t: state_of_charge_sweep(c, [0.5], seed=-1), "seed"),
    # arrhenius
    (
        "arrhenius temperatures text",
        lambda c, s, t: drxkmc.arrhenius(c, temperatures_K="300,400"),
        "temperatures_K",
    ),
    (
        "arrhenius temperatures entries text",
        lambda c, s, t: drxkmc.arrhenius(c, temperatures_K=["300", "400"]),
        "temperatures_K",
    ),
    (
        "arrhenius hops text",
        lambda c, s, t: drxkmc.arrhenius(c, temperatures_K=[300, 400], hops="10"),
        "hops",
    ),
    (
        "arrhenius seed",
        lambda c, s, t: drxkmc.arrhenius(c, temperatures_K=[300, 400], seed=-1),
        "seed",
    ),
    (
        "arrhenius model",
        lambda c, s, t: drxkmc.arrhenius(c, "model", temperatures_K=[300, 400]),
        "model",
    ),
    # percolation
    ("percolation config", lambda c, s, t: drxkmc.percolation(None), "config"),
    ("percolation max_tm text", lambda c, s, t: drxkmc.percolation(c, "0"), "max_tm"),
    (
        "percolation cutoff text",
        lambda c, s, t: drxkmc.percolation(c, barrier_cutoff_eV="0.3"),
        "barrier_cutoff_eV",
    ),
    ("percolation criterion", lambda c, s, t: drxkmc.percolation(c, criterion=None), "criterion"),
    (
        "percolation material banana",
        lambda c, s, t: drxkmc.percolation(c, material="banana"),
        "material",
    ),
    (
        "percolation material wrong",
        lambda c, s, t: drxkmc.percolation(c, material="LiCoO2"),
        "material",
    ),
    ("sweep material number", lambda c, s, t: drxkmc.percolation_sweep(3, lattice()), "material"),
    (
        "sweep li_contents text",
        lambda c, s, t: drxkmc.percolation_sweep(LMT, lattice(), li_contents="0.6"),
        "li_contents",
    ),
    (
        "sweep li_contents entry text",
        lambda c, s, t: drxkmc.percolation_sweep(LMT, lattice(), li_contents=["0.6"]),
        "li_contents",
    ),
    ("sweep seeds int", lambda c, s, t: drxkmc.percolation_sweep(LMT, lattice(), seeds=5), "seeds"),
    (
        "sweep per_seed text",
        lambda c, s, t: drxkmc.percolation_sweep(LMT, lattice(), per_seed="yes"),
        "per_seed",
    ),
    # annealing and SRO
    ("anneal config", lambda c, s, t: drxkmc.anneal("config", temperature_K=1000), "config"),
    (
        "anneal temperature text",
        lambda c, s, t: drxkmc.anneal(c, temperature_K="1000"),
        "temperature_K",
    ),
    (
        "anneal sweeps float",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, sweeps=1.5),
        "sweeps",
    ),
    (
        "anneal strength text",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, strength_eV="x"),
        "strength_eV",
    ),
    (
        "anneal anions text",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, anions="no"),
        "anions",
    ),
    ("anneal seed", lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, seed=None), "seed"),
    (
        "anneal progress",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, progress="no"),
        "progress",
    ),
    (
        "anneal oxidation text",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, oxidation_states={"Mn": "x"}),
        "oxidation_states",
    ),
    ("anneal schedule text", lambda c, s, t: drxkmc.anneal(c, schedule="1000:5"), "schedule"),
    (
        "anneal pair terms",
        lambda c, s, t: drxkmc.anneal(c, temperature_K=1000, pair_terms=[("Li", "Mn", "x")]),
        "pair_terms",
    ),
    ("energy strength", lambda c, s, t: energy(c, strength_eV=None), "strength_eV"),
    ("sro config", lambda c, s, t: drxkmc.sro(3), "config"),
    ("sro oxidation", lambda c, s, t: drxkmc.sro(c, oxidation_states=3), "oxidation_states"),
    # replicas and sweeps
    (
        "replicas seeds text",
        lambda c, s, t: drxkmc.run_replicas(c, temperature_K=300, seeds="01", hops=10),
        "seeds",
    ),
    (
        "replicas hops text",
        lambda c, s, t: drxkmc.run_replicas(c, temperature_K=300, seeds=[0], hops="10"),
        "hops",
    ),
    (
        "replicas workers",
        lambda c, s, t: drxkmc.run_replicas(c, temperature_K=300, seeds=[0], hops=10, workers=0.5),
        "workers",
    ),
    ("sweep grid", lambda c, s, t: sweep({"seed": 3}, formula=LMT), "grid"),
    (
        "sweep li_content text",
        lambda c, s, t: sweep({"li_content": ["0.6"]}, formula=LMT),
        "li_content",
    ),
    ("sweep formula", lambda c, s, t: sweep({"seed": [1]}, formula=None), "formula"),
    ("sweep unknown", lambda c, s, t: sweep({"sede": [1]}, formula=LMT), "sede"),
    (
        "sweep temperature",
        lambda c, s, t: sweep({"temperature_K": ["hot"]}, formula=LMT),
        "temperature_K",
    ),
    # plots
    (
        "cluster slice z text",
        lambda c, s, t: plot_cluster_slice(drxkmc.percolation(c), z="0"),
        "z",
    ),
]


@pytest.mark.parametrize("call, field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_input_names_the_field(cfg, sim, tmp_path, call, field):
    hops_before = sim.hops
    try:
        call(cfg, sim, tmp_path)
    except BaseException as exc:  # noqa: BLE001 - a panic or a bare TypeError must fail
        assert isinstance(exc, DrxkmcError) and isinstance(exc, ValueError), (
            f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        )
        assert exc.field == field, f"field {exc.field!r} != {field!r}: {exc}"
        assert field in str(exc)
    else:
        pytest.fail(f"no error; expected one about {field!r}")
    assert sim.hops == hops_before  # refused before any work


# ----- deprecated spellings --------------------------------------------------------------------


def test_old_unit_spellings_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="site_disorder_eV"):
        old = drxkmc.BarrierModel(site_disorder_ev=0.05)
    assert old == drxkmc.BarrierModel(site_disorder_eV=0.05)
    with pytest.warns(DeprecationWarning):
        assert old.site_disorder_ev == 0.05
    with pytest.warns(DeprecationWarning):
        assert old.replace(channel_barrier_ev=(0.2, 0.5, 1.0)).channel_barrier_eV == (0.2, 0.5, 1.0)
    with pytest.warns(DeprecationWarning):
        assert drxkmc.BarrierModel.uniform(barrier_ev=0.3) == drxkmc.BarrierModel.uniform(0.3)
    with pytest.warns(DeprecationWarning):
        assert drxkmc.BarrierModel.from_dict({"spectator_li_ev": 0.2}).spectator_li_eV == 0.2
    lat = drxkmc.Lattice(3)
    with pytest.warns(DeprecationWarning):
        assert lat.nn_distance_angstrom == lat.nn_distance_A
    with pytest.warns(DeprecationWarning):
        assert lat.ideal_tetrahedron_height_angstrom == lat.ideal_tetrahedron_height_A
    # Both spellings of one field at once is ambiguous.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(drxkmc.InvalidParameterError) as e:
            drxkmc.BarrierModel(site_f_ev=-0.1, site_f_eV=-0.2)
    assert e.value.field == "site_f_eV"


def test_every_model_name_spells_its_unit_eV_or_A():
    for name in drxkmc.BarrierModel.__dataclass_fields__:
        assert "_ev" not in name and "angstrom" not in name, name
    # The core's errors name the Python field.
    with pytest.raises(drxkmc.InvalidParameterError) as e:
        drxkmc.BarrierModel(height_slope_eV_per_A=(math.nan, 0.0, 0.0))
    assert e.value.field == "height_slope_eV_per_A"


# ----- physically absurd values and messages that used to mislead -------------------------------


def test_lattice_parameter_range_is_the_documented_one():
    lo, hi = drxkmc.lattice.A_RANGE_ANGSTROM
    assert (lo, hi) == (3.0, 7.0)
    assert drxkmc.Lattice(2, a=lo).a == lo and drxkmc.Lattice(2, a=hi).a == hi
    for a in (np.nextafter(lo, 0), np.nextafter(hi, 10)):
        with pytest.raises(drxkmc.InvalidParameterError) as e:
            drxkmc.Lattice(2, a=float(a))
        assert e.value.field == "a"


def test_smallest_li_content_that_places_one_li():
    m = drxkmc.Material.from_formula(LMT)
    lat = drxkmc.Lattice(3)
    n_fu = lat.n_cations / m.cation_sites
    # 0.5 Li on the lattice rounds to one Li (round half to even gives 0 exactly at 0.5).
    ok = drxkmc.Configuration.random(m, lat, li_content=0.51 / n_fu)
    assert ok.n_li == 1
    with pytest.raises(drxkmc.InvalidParameterError, match="no Li at all") as e:
        drxkmc.Configuration.random(m, lat, li_content=0.49 / n_fu)
    assert e.value.field == "li_content"
    # Exactly zero is a valid (fully charged) configuration.
    assert drxkmc.Configuration.random(m, lat, li_content=0).n_li == 0


def test_run_says_why_nothing_can_hop(cfg):
    m = drxkmc.Material.from_formula(LMT)
    lat = cfg.lattice
    empty = drxkmc.Configuration.random(m, lat, li_content=0)
    with pytest.raises(drxkmc.InvalidParameterError, match="no Li.*raise li_content"):
        drxkmc.Simulation(empty).run(hops=10)
    full = drxkmc.Configuration.random(m, lat)  # Li1.2Mn0.4Ti0.4O2 has no cation vacancies
    with pytest.raises(
        drxkmc.InvalidParameterError, match="no empty cation site.*lower li_content"
    ):
        drxkmc.Simulation(full).run(hops=10)
    closed = drxkmc.BarrierModel(channel_barrier_eV=(1e6,) * 3)
    with pytest.raises(drxkmc.InvalidParameterError, match="zero rate.*too high") as e:
        drxkmc.Simulation(cfg, closed).run(hops=10)
    assert e.value.field == "model"


def test_demo_complains_about_the_argument_given(capsys):
    from drxkmc.cli import main

    assert main(["demo", "--max-hops", "-10"]) == 2
    err = capsys.readouterr().err
    assert "max_hops: must be an integer >= 1, got -10" in err and "warmup" not in err
    assert main(["demo", "--precision", "0"]) == 2
    assert "precision" in capsys.readouterr().err
    assert main(["demo", "--li-content", "0", "--size", "2"]) == 2
    err = capsys.readouterr().err
    assert "raise li_content" in err and "lower li_content" not in err


def test_two_redox_active_metals_follow_the_redox_order():
    # Li1.2Mn0.2Ni0.2Ti0.4O2: Li⁺ 1.2 + Ti⁴⁺ 1.6 = 2.8 of the 4 needed; Mn is oxidised before
    # Ni on charge, so in the discharged material Ni holds the electrons: Ni²⁺ (0.4) and Mn
    # takes the remaining 0.8 e over 0.2 Mn: Mn⁴⁺.
    ox = drxkmc.Material.from_formula("Li1.2Mn0.2Ni0.2Ti0.4O2").oxidation_states
    assert ox["Ni"] == pytest.approx(2.0, abs=1e-12)
    assert ox["Mn"] == pytest.approx(4.0, abs=1e-9)
    # An override still wins.
    ox = drxkmc.Material.from_formula("Li1.2Mn0.2Ni0.2Ti0.4O2", {"Mn": 3}).oxidation_states
    assert ox["Ni"] == pytest.approx(3.0, abs=1e-9)


# ----- fuzz: any value either works or raises a drxkmc error -----------------------------------

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=3),
    st.lists(st.floats(-10, 10), max_size=4),
    st.tuples(st.integers(-3, 6), st.integers(-3, 6), st.integers(-3, 6)),
    st.dictionaries(st.text(max_size=3), st.floats(), max_size=2),
)


def _small_config() -> drxkmc.Configuration:
    return drxkmc.Configuration.random(material(), drxkmc.Lattice(2), li_content=0.6, seed=0)


# Each takes one arbitrary value in one argument; everything else is valid and cheap.
FUZZ_TARGETS = {
    "Lattice size": lambda v: drxkmc.Lattice(v),
    "Lattice a": lambda v: drxkmc.Lattice(2, a=v),
    "Lattice geometry": lambda v: drxkmc.Lattice(2, geometry=v),
    "formula": lambda v: drxkmc.Material.from_formula(v),
    "oxidation_states": lambda v: drxkmc.Material.from_formula(LMT, v),
    "model scalar": lambda v: drxkmc.BarrierModel(site_f_eV=v),
    "model tuple": lambda v: drxkmc.BarrierModel(channel_barrier_eV=v),
    "model frequency": lambda v: drxkmc.BarrierModel(attempt_frequency_hz=v),
    "uniform": lambda v: drxkmc.BarrierModel.uniform(v),
    "li_content": lambda v: drxkmc.Configuration.random(
        material(), drxkmc.Lattice(2), li_content=v
    ),
    "seed": lambda v: drxkmc.Configuration.random(material(), drxkmc.Lattice(2), seed=v),
    "temperature_K": lambda v: drxkmc.Simulation(_small_config(), temperature_K=v),
    "max_tm": lambda v: drxkmc.percolation(_small_config(), v),
    "criterion": lambda v: drxkmc.percolation(_small_config(), criterion=v),
    "anneal temperature": lambda v: drxkmc.anneal(_small_config(), temperature_K=v, sweeps=0),
    "strength_eV": lambda v: drxkmc.anneal(
        _small_config(), temperature_K=0, sweeps=0, strength_eV=v
    ),
    "material": lambda v: drxkmc.percolation(_small_config(), material=v),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(sorted(FUZZ_TARGETS)), value=ANY_VALUE)
def test_any_value_either_works_or_raises_a_drxkmc_error(target, value):
    try:
        FUZZ_TARGETS[target](value)
    except DrxkmcError as e:
        assert e.field and e.field in str(e)
    # Anything else (TypeError, OverflowError, a PanicException) fails the test.
