"""A material is tied to its structure: a given one must match the species and counts of the
structure (every reader and checkpoints), and one is inferred from them when none is given."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.io import from_ase, from_file, from_pymatgen

pytest.importorskip("pymatgen.core")
pytest.importorskip("ase")

FORMULAS = [
    "Li1.2Mn0.4Ti0.4O2",
    "Li1.2Mn0.4Ti0.4O1.6F0.4",
    "Li1.25Nb0.25Mn0.5O2",
    "Li1.2Mn0.6Ti0.2O2",  # same elements as the first, other counts
]


def config_of(formula: str, li_content=None, seed=1, size=3) -> drxkmc.Configuration:
    m = drxkmc.Material.from_formula(formula)
    # Random delithiation: any Li count, quickly (the structure is what matters here).
    lattice = drxkmc.Lattice(size)
    return drxkmc.Configuration.random(
        m, lattice, li_content=li_content, seed=seed, delithiation="random"
    )


def read_back(config, reader: str, tmp_path, **kwargs):
    """``config`` through one of the structure readers."""
    if reader == "pymatgen":
        return from_pymatgen(config.to_pymatgen(), **kwargs)
    if reader == "ase":
        return from_ase(config.to_ase(), **kwargs)
    if reader == "species":
        return drxkmc.Configuration.from_species(
            config.lattice, config.cation_symbols(), config.anion_symbols(), **kwargs
        )
    path = tmp_path / f"c.{reader}"
    config.to_file(path)
    return from_file(path, **kwargs)


READERS = ["pymatgen", "ase", "species", "cif", "xyz"]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "wrong",
    [
        "LiCoO2",  # other elements
        "Li1.2Mn0.6Ti0.2O2",  # same elements, other counts
        "Li1.2Mn0.4Ti0.4O1.6F0.4",  # F the structure does not have
        "banana",  # not a formula
        3.0,  # not a material
    ],
)
def test_every_reader_rejects_a_material_that_does_not_match(reader, wrong, tmp_path):
    config = config_of("Li1.2Mn0.4Ti0.4O2", li_content=0.9)
    with pytest.raises(drxkmc.DrxkmcError) as e:
        read_back(config, reader, tmp_path, material=wrong)
    assert e.value.field == "material", e.value


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_accepts_the_right_material_at_any_state_of_charge(reader, tmp_path):
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    for li in (None, 0.5, 0.0):
        config = config_of(material.formula, li_content=li)
        back = read_back(config, reader, tmp_path, material=material)
        assert back.material is material
        back = read_back(config, reader, tmp_path, material=material.formula)
        assert back.material == material


@pytest.mark.parametrize("reader", READERS)
def test_the_material_is_inferred_from_a_charge_balanced_structure(reader, tmp_path):
    original = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    config = config_of(original.formula)
    back = read_back(config, reader, tmp_path)
    assert back.material is not None
    # The formula of the species counts: 108 cation sites, 54 formula units of two anions.
    cations, anions = drxkmc.configuration.species_counts(config)
    n_fu = config.lattice.n_anions / 2
    assert back.material.li == pytest.approx(cations["Li"] / n_fu)
    assert back.material.anions["F"] == pytest.approx(anions["F"] / n_fu)
    assert back.material.oxidation_states["Mn"] == pytest.approx(
        original.oxidation_states["Mn"], abs=0.05
    )
    # So per-formula-unit results are numbers, not NaN.
    r = drxkmc.percolation(back)
    assert math.isfinite(r.capacity_mAh_g) and math.isfinite(r.accessible_li_per_fu)


def test_a_delithiated_structure_has_no_inferable_material(tmp_path):
    # Li0.6Mn0.4Ti0.4O2 would need Mn5.5+: not charge balanced, so its as-made formula is
    # unknown; the capacity then stays NaN unless the user gives the material.
    config = config_of("Li1.2Mn0.4Ti0.4O2", li_content=0.6)
    back = from_pymatgen(config.to_pymatgen())
    assert back.material is None
    assert math.isnan(drxkmc.percolation(back).capacity_mAh_g)
    given_back = drxkmc.percolation(back, material="Li1.2Mn0.4Ti0.4O2")
    assert math.isfinite(given_back.capacity_mAh_g)


def test_load_checkpoint_checks_a_given_material(tmp_path):
    oxyfluoride = config_of("Li1.2Mn0.4Ti0.4O1.6F0.4", li_content=0.8)
    sim = drxkmc.Simulation(oxyfluoride, seed=1)
    path = tmp_path / "run.ckpt"
    sim.save_checkpoint(path)
    for wrong in ("Li1.2Mn0.4Ti0.4O2", drxkmc.Material.from_formula("LiCoO2"), "banana", 7):
        with pytest.raises(drxkmc.DrxkmcError) as e:
            drxkmc.Simulation.load_checkpoint(path, material=wrong)
        assert e.value.field == "material", wrong
    right = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    assert drxkmc.Simulation.load_checkpoint(path, material=right).material is right


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    formula=st.sampled_from(FORMULAS),
    other=st.sampled_from(FORMULAS),
    li=st.just(0.0) | st.floats(0.05, 1.0),
    seed=st.integers(0, 1000),
    size=st.integers(3, 5),
)
def test_own_material_always_matches_another_never(formula, other, li, seed, size):
    config = config_of(formula, li_content=li, seed=seed, size=size)
    cat, an = config.cation_symbols(), config.anion_symbols()
    own = drxkmc.Configuration.from_species(config.lattice, cat, an, material=formula)
    assert own == config and own.material.formula == formula
    if other != formula:
        with pytest.raises(drxkmc.InvalidParameterError) as e:
            drxkmc.Configuration.from_species(config.lattice, cat, an, material=other)
        assert e.value.field == "material"
