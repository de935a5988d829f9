"""Configurations from and to pymatgen, ASE, CIF and extended XYZ (drxkmc.io).

pymatgen and ASE are the optional extra ``structures``; .ci/run installs it
(``pip install -e ".[test,structures]"``), so these tests run in CI.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import raises_field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import io

pymatgen_core = pytest.importorskip(
    "pymatgen.core", reason="pymatgen is the optional extra 'structures' (installed by .ci/run)"
)
ase = pytest.importorskip(
    "ase", reason="ase is the optional extra 'structures' (installed by .ci/run)"
)

FORMULAS = ["Li1.2Mn0.4Ti0.4O1.6F0.4", "Li1.2Mn0.4Ti0.4O1.8Cl0.2", "Li1.25Nb0.25Mn0.5O2"]


def same_sites(a: drxkmc.Configuration, b: drxkmc.Configuration) -> bool:
    return (
        a.lattice == b.lattice
        and np.array_equal(a.cation_symbols(), b.cation_symbols())
        and np.array_equal(a.anion_symbols(), b.anion_symbols())
    )


def random_config(formula: str, size, a: float, li_content: float, seed: int, geometry="bulk"):
    material = drxkmc.Material.from_formula(formula)
    lattice = drxkmc.Lattice(size, a=a, geometry=geometry)
    li = min(li_content, material.li - 0.1)  # always some vacancies
    # Random removal: these tests are about file formats, not electrochemistry.
    return drxkmc.Configuration.random(
        material, lattice, li_content=li, seed=seed, delithiation="random"
    )


configs = st.builds(
    random_config,
    formula=st.sampled_from(FORMULAS),
    size=st.tuples(st.integers(2, 4), st.integers(2, 4), st.integers(2, 4)),
    a=st.sampled_from([4.15, 4.2, 4.0512345, 3.9]),
    li_content=st.floats(0.3, 1.25),
    seed=st.integers(0, 10_000),
)


# ----- round trips ---------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs)
def test_round_trips_through_pymatgen_and_ase_are_exact(config):
    # Vacancies from delithiation are absent atoms; F/Cl sit on anion sites.
    assert "Va" in config.cation_symbols()
    s = io.to_pymatgen(config)
    assert len(s) == np.count_nonzero(config.cation_symbols() != "Va") + config.lattice.n_anions
    back = io.from_pymatgen(s, material=config.material)
    assert same_sites(back, config)
    assert back.material is config.material and back.tm_names == config.tm_names
    atoms = io.to_ase(config)
    assert same_sites(io.from_ase(atoms), config)
    # Through the methods on Configuration.
    assert same_sites(drxkmc.Configuration.from_pymatgen(config.to_pymatgen()), config)
    assert same_sites(drxkmc.Configuration.from_ase(config.to_ase()), config)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, ext=st.sampled_from(["cif", "xyz", "extxyz"]))
def test_round_trips_through_files_are_exact(tmp_path_factory, config, ext):
    folder = tmp_path_factory.mktemp("files")
    path = folder / f"config.{ext}"
    config.to_file(path)
    back = drxkmc.Configuration.from_file(path, material=config.material)
    assert same_sites(back, config)
    assert os.listdir(folder) == [path.name]  # no temporary left behind


def test_slab_geometry_survives_ase_and_extxyz(tmp_path):
    config = random_config(FORMULAS[0], (2, 3, 4), 4.15, 1.0, 3, geometry="slab")
    atoms = io.to_ase(config)
    assert tuple(atoms.pbc) == (True, True, False)
    assert io.from_ase(atoms).lattice.geometry == "slab"
    config.to_file(tmp_path / "slab.xyz")
    assert same_sites(io.from_file(tmp_path / "slab.xyz"), config)
    # geometry can be forced.
    assert io.from_ase(atoms, geometry="bulk").lattice.geometry == "bulk"


def test_structures_from_elsewhere_map_onto_the_lattice():
    # Rocksalt LiF built by pymatgen from its space group, origin at the anion, 3x2x2 cells,
    # small random displacements (a relaxed structure), rigidly shifted.
    a = 4.03
    unit = pymatgen_core.Structure.from_spacegroup(
        "Fm-3m", pymatgen_core.Lattice.cubic(a), ["F", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    s = unit * (3, 2, 2)
    rng = np.random.default_rng(0)
    s.translate_sites(range(len(s)), [0.7, -0.3, 0.2], frac_coords=False)
    for i in range(len(s)):
        s.translate_sites([i], rng.uniform(-0.15, 0.15, 3), frac_coords=False, to_unit_cell=True)
    c = io.from_pymatgen(s, tolerance=0.4)
    assert c.lattice.size == (3, 2, 2) and c.lattice.a == pytest.approx(a)
    assert set(c.cation_symbols()) == {"Li"} and set(c.anion_symbols()) == {"F"}
    # Oxidation-state decorated species map to their elements.
    s.add_oxidation_state_by_element({"Li": 1, "F": -1})
    assert same_sites(io.from_pymatgen(s, tolerance=0.4), c)
    # A structure translated by exactly a/2 (cations on the odd sites) is the same crystal.
    shifted = io.to_pymatgen(c)
    shifted.translate_sites(range(len(shifted)), [a / 2, 0, 0], frac_coords=False)
    assert same_sites(io.from_pymatgen(shifted), c)


def test_small_displacements_within_tolerance_map_back_exactly():
    config = random_config(FORMULAS[0], (3, 3, 2), 4.15, 1.0, 1)
    atoms = io.to_ase(config)
    rng = np.random.default_rng(1)
    atoms.positions += rng.uniform(-0.2, 0.2, atoms.positions.shape)
    assert same_sites(io.from_ase(atoms, tolerance=0.4), config)


# ----- what is not a rocksalt supercell -------------------------------------------------------


def test_non_rocksalt_structures_are_rejected():
    # Zincblende (anions on tetrahedral sites, a/4 off the rocksalt grid).
    zb = pymatgen_core.Structure.from_spacegroup(
        "F-43m", pymatgen_core.Lattice.cubic(4.6), ["Li", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    ) * (2, 2, 2)
    raises_field(lambda: io.from_pymatgen(zb), "structure", match="not a rocksalt")
    # A hexagonal (layered) cell.
    hexagonal = pymatgen_core.Structure(
        pymatgen_core.Lattice.hexagonal(2.8, 14.0), ["Li", "O"], [[0, 0, 0], [1 / 3, 2 / 3, 0.25]]
    )
    raises_field(lambda: io.from_pymatgen(hexagonal), "structure", match="orthogonal")
    # CsCl-type: cubic, on the grid, but 3/4 of the anion sites empty.
    cscl = pymatgen_core.Structure(
        pymatgen_core.Lattice.cubic(4.1), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ) * (2, 2, 2)
    raises_field(lambda: io.from_pymatgen(cscl), "structure", match="anion sites")
    # O on a cation site.
    config = random_config(FORMULAS[2], (2, 2, 2), 4.15, 1.25, 2)
    s = io.to_pymatgen(config)
    s.replace(0, "O")
    raises_field(lambda: io.from_pymatgen(s), "structure", match="rocksalt")
    # Unsupported anions.
    s = io.to_pymatgen(config)
    s.replace(len(s) - 1, "S")
    raises_field(lambda: io.from_pymatgen(s), "structure", match="O, F and Cl")


def test_displaced_atom_beyond_tolerance_is_rejected():
    config = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 4)
    atoms = io.to_ase(config)
    atoms.positions[5] += [0.8, 0.0, 0.0]
    err = raises_field(lambda: io.from_ase(atoms, tolerance=0.5), "atoms")
    assert "atom 5" in str(err)
    assert same_sites(io.from_ase(atoms, tolerance=0.9), config)


def test_two_atoms_on_one_site_are_rejected():
    config = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 5)
    atoms = io.to_ase(config)
    extra = atoms[[0]]
    extra.positions += 0.1
    raises_field(
        lambda: io.from_ase(atoms + extra), "atoms", match="two atoms on one rocksalt site"
    )


def test_non_cubic_cells_are_rejected():
    config = random_config(FORMULAS[0], (2, 2, 3), 4.15, 1.0, 6)
    atoms = io.to_ase(config)
    tetragonal = atoms.copy()
    tetragonal.set_cell(atoms.cell.array * [1, 1, 1.08], scale_atoms=True)
    raises_field(lambda: io.from_ase(tetragonal), "atoms", match="not cubic")
    sheared = atoms.copy()
    cell = atoms.cell.array.copy()
    cell[2, 0] = 1.5
    sheared.set_cell(cell, scale_atoms=True)
    raises_field(lambda: io.from_ase(sheared), "atoms", match="orthogonal")
    one_cell = pymatgen_core.Structure.from_spacegroup(
        "Fm-3m", pymatgen_core.Lattice.cubic(4.15), ["Li", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    raises_field(lambda: io.from_pymatgen(one_cell), "structure", match="at least 2")


def test_partial_occupancy_is_rejected():
    s = pymatgen_core.Structure(
        pymatgen_core.Lattice.cubic(4.15),
        [{"Li": 0.5, "Mn": 0.5}, "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    raises_field(lambda: io.from_pymatgen(s), "structure", match="partial")


def test_bad_arguments_name_their_field(tmp_path):
    config = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 7)
    s = io.to_pymatgen(config)
    raises_field(lambda: io.from_pymatgen(s, tolerance=-1), "tolerance")
    raises_field(lambda: io.from_pymatgen(s, tolerance=float("nan")), "tolerance")
    raises_field(lambda: io.from_pymatgen(s, geometry="wire"), "geometry")
    raises_field(lambda: io.from_pymatgen(s, material="LiMnO2"), "material")
    raises_field(lambda: io.from_pymatgen(io.to_ase(config)), "structure")
    raises_field(lambda: io.from_ase(s), "atoms")
    raises_field(lambda: io.to_pymatgen(s), "config")
    raises_field(lambda: io.from_file(tmp_path / "missing.cif"), "path")
    raises_field(lambda: io.from_file(tmp_path / "noextension"), "path")
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a CIF\n")
    raises_field(lambda: io.from_file(garbage), "path")
    garbage_xyz = tmp_path / "garbage.xyz"
    garbage_xyz.write_text("3\nnot extxyz\nLi 0 0\n")
    raises_field(lambda: io.from_file(garbage_xyz), "path")
    raises_field(lambda: io.to_file(config, tmp_path / "no" / "such" / "folder.cif"), "path")
    raises_field(lambda: io.to_file(config, tmp_path / "config.unknownext"), "path")
    raises_field(lambda: io.to_file(config, tmp_path / "config.cif", format="nonsense"), "format")
    assert sorted(os.listdir(tmp_path)) == ["garbage.cif", "garbage.xyz"]  # nothing written
    raises_field(lambda: io.to_file("LiMnO2", tmp_path / "x.cif"), "config")
    # A file that is a structure but not a rocksalt supercell names the path.
    hexagonal = pymatgen_core.Structure(
        pymatgen_core.Lattice.hexagonal(2.8, 14.0), ["Li", "O"], [[0, 0, 0], [1 / 3, 2 / 3, 0.25]]
    )
    hexagonal.to(filename=str(tmp_path / "layered.cif"))
    raises_field(lambda: io.from_file(tmp_path / "layered.cif"), "path", match="orthogonal")


# ----- nothing half-written --------------------------------------------------------------------


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    config = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 8)
    target = tmp_path / "out.cif"

    def half_then_fail(self, filename, *args, **kwargs):
        with open(filename, "w") as f:
            f.write("data_half\n")
        raise OSError("disk full")

    from pymatgen.io.cif import CifWriter

    monkeypatch.setattr(CifWriter, "write_file", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        io.to_file(config, target)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()

    io.to_file(config, target)
    before = target.read_bytes()
    monkeypatch.setattr(CifWriter, "write_file", half_then_fail)
    other = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 9)
    with pytest.raises(OSError):
        io.to_file(other, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == [target.name]


# ----- missing optional dependency -----------------------------------------------------------


@pytest.mark.parametrize(
    "module, call",
    [
        ("pymatgen.core", lambda c: io.to_pymatgen(c)),
        ("ase", lambda c: io.to_ase(c)),
    ],
)
def test_missing_extra_gives_a_clear_import_error(monkeypatch, module, call):
    config = random_config(FORMULAS[0], (2, 2, 2), 4.15, 1.0, 10)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'drxkmc\[structures\]'"):
        call(config)
