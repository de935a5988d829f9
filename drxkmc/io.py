"""Configurations from and to the structures users already have.

pymatgen ``Structure``, ASE ``Atoms``, and files: CIF (through pymatgen) and extended XYZ or any
other format ASE reads and writes. pymatgen and ASE are the optional extra ``structures``
(``pip install drxkmc[structures]``) and are imported only when used.

Mapping a structure onto the rocksalt lattice: the cell must be orthogonal and aligned with x, y
and z, with lengths that are integer multiples L1, L2, L3 (each ≥ 2) of one cubic lattice
parameter a. Each atom's fractional coordinate times 2L, after one rigid shift per axis (the
structure's origin may sit anywhere), must be within ``tolerance`` Å of an integer grid point;
cations must sit on points of one parity of x+y+z and O, F, Cl on the other (if the cations sit
on the odd points the whole structure is shifted by a/2 along x, which is the same periodic
crystal). Every site holds at most one atom; empty sites are vacancies. Anything else raises
:class:`drxkmc.InvalidParameterError` naming the argument. A configuration written and read back
has the same species on every site, lattice parameter and size.
"""

from __future__ import annotations

import importlib
import math
import os
import warnings
from pathlib import Path

import numpy as np

from drxkmc import _validate as check
from drxkmc._files import atomic_write
from drxkmc.configuration import VACANCY, Configuration
from drxkmc.errors import invalid
from drxkmc.lattice import A_RANGE_ANGSTROM, Lattice
from drxkmc.material import Material, as_material

__all__ = ["from_ase", "from_file", "from_pymatgen", "to_ase", "to_file", "to_pymatgen"]

#: Default largest distance (Å) of an atom from its ideal rocksalt site: room for the local
#: relaxations of a DFT-relaxed DRX supercell, well below a/4 ≈ 1 Å where sites become ambiguous.
DEFAULT_TOLERANCE_ANGSTROM = 0.5

_ANIONS = ("O", "F", "Cl")
#: Elements that are neither Li/TM cations nor the supported anions.
_NON_METALS = {"H", "He", "B", "C", "N", "Ne", "Si", "P", "S", "Ar", "Ge", "As", "Se", "Br"}
_NON_METALS |= {"Kr", "Te", "I", "Xe", "At", "Rn"}


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"this needs {package}, part of the optional extra 'structures': "
            "pip install 'drxkmc[structures]' (from a source folder: pip install '.[structures]')"
        ) from e


# ----- mapping onto the rocksalt grid ----------------------------------------------------------


def _grid_axis(frac: np.ndarray, length: float, tol: float) -> tuple[int, np.ndarray] | None:
    """Smallest cell count L along one axis for which every fractional coordinate × 2L lies
    within ``tol`` Å of an integer after one rigid shift; returns (L, integer coordinates)."""
    l_max = max(1, int(length / A_RANGE_ANGSTROM[0]) + 1)  # the smallest accepted a
    for cells in range(1, l_max + 1):
        g = frac * 2 * cells
        # Rigid shift: the circular mean of the positions modulo one grid spacing.
        angle = 2 * np.pi * g
        shift = math.atan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * np.pi)
        rounded = np.round(g - shift)
        spacing = length / (2 * cells)
        if np.max(np.abs(g - shift - rounded), initial=0.0) * spacing <= tol:
            return cells, rounded.astype(np.int64) % (2 * cells)
    return None


def _grid_failure(
    frac: np.ndarray, length: float, axis: int, symbols: list[str], tol: float
) -> str:
    """Why no grid fits along one axis: the best grid by median deviation and its worst atom."""
    best = None
    for cells in range(1, max(1, int(length / A_RANGE_ANGSTROM[0]) + 1) + 1):
        g = frac * 2 * cells
        dev = (g - np.round(g - np.median(g - np.round(g)))) - np.median(g - np.round(g))
        dist = np.abs(dev) * length / (2 * cells)
        score = float(np.median(dist))
        if best is None or score < best[0] - 1e-9:
            best = (score, cells, dist)
    assert best is not None  # the loop above runs at least once
    _, cells, dist = best
    worst = int(np.argmax(dist))
    return (
        f"is not a rocksalt supercell within tolerance={tol} Å: along {'xyz'[axis]} the best "
        f"grid (a = {length / cells:.4f} Å) leaves atom {worst} ({symbols[worst]}) "
        f"{dist[worst]:.3f} Å from its site"
    )


def _from_arrays(
    cell: np.ndarray,
    frac: np.ndarray,
    symbols: list[str],
    *,
    tolerance: float,
    material: Material | None,
    geometry: str,
    field: str,
) -> Configuration:
    """Map atoms (fractional coordinates in ``cell``, rows = lattice vectors, Å) onto a
    rocksalt supercell. ``field`` names the user's argument in errors."""
    tol = check.number("tolerance", tolerance, unit="Å", positive=True, maximum=1.5)
    geometry = check.choice("geometry", geometry, ("bulk", "slab"))
    if material is not None:
        material = as_material(material)
    cell = np.asarray(cell, dtype=float)
    if cell.shape != (3, 3) or not np.all(np.isfinite(cell)):
        raise invalid(field, "needs a 3x3 cell")
    lengths = np.diag(cell).copy()
    off = cell - np.diag(lengths)
    if np.any(np.abs(off) > tol) or np.any(lengths <= 0):
        raise invalid(
            field,
            "is not a rocksalt supercell: its cell must be orthogonal with the lattice vectors "
            f"along +x, +y, +z, got {np.round(cell, 4).tolist()}",
        )
    if len(symbols) == 0:
        raise invalid(field, "has no atoms")
    frac = np.asarray(frac, dtype=float) % 1.0
    bad = [s for s in set(symbols) if s in _NON_METALS]
    if bad:
        raise invalid(
            field, f"holds {sorted(bad)}: only O, F and Cl anions fit a DRX rocksalt lattice"
        )
    is_anion = np.array([s in _ANIONS for s in symbols])
    cells, ints = [], []
    for k in range(3):
        mapped = _grid_axis(frac[:, k], lengths[k], tol)
        if mapped is None:
            raise invalid(field, _grid_failure(frac[:, k], lengths[k], k, symbols, tol))
        cells.append(mapped[0])
        ints.append(mapped[1])
    size = (cells[0], cells[1], cells[2])
    a = float(lengths.sum() / sum(size))
    for k in range(3):
        if abs(lengths[k] - size[k] * a) > tol:
            per_axis = ", ".join(f"{lengths[j] / size[j]:.4f}" for j in range(3))
            raise invalid(
                field,
                f"is not cubic: the cell is {np.round(lengths, 4).tolist()} Å, i.e. {list(size)} "
                f"cells of a = {per_axis} Å along x, y, z",
            )
    if min(size) < 2:
        raise invalid(
            field,
            f"is {list(size)} conventional cells; drxkmc needs at least 2 along every axis "
            "(make a supercell first, e.g. structure * 2)",
        )
    pts = np.stack(ints, axis=1)
    dims = 2 * np.array(size)
    parity = pts.sum(axis=1) % 2
    cat_par = set(parity[~is_anion].tolist())
    an_par = set(parity[is_anion].tolist())
    if len(cat_par) > 1 or len(an_par) > 1 or (cat_par and cat_par == an_par):
        kind = "cations" if len(cat_par) > 1 else "anions" if len(an_par) > 1 else "atoms"
        raise invalid(
            field,
            f"is not a rocksalt supercell: its {kind} do not all sit on the cation (or all on the "
            "anion) sites of one rocksalt lattice",
        )
    if (cat_par and cat_par == {1}) or (not cat_par and an_par == {0}):
        pts[:, 0] = (pts[:, 0] - 1) % dims[0]
    linear = pts[:, 0] + dims[0] * (pts[:, 1] + dims[1] * pts[:, 2])
    order = np.argsort(linear, kind="stable")
    dup = np.nonzero(np.diff(linear[order]) == 0)[0]
    if dup.size:
        i, j = int(order[dup[0]]), int(order[dup[0] + 1])
        raise invalid(
            field,
            f"has two atoms on one rocksalt site: {symbols[i]} (atom {i}) and {symbols[j]} "
            f"(atom {j}) both map to the site at {np.round(pts[i] * a / 2, 3).tolist()} Å "
            f"(tolerance={tol} Å)",
        )
    a = round(a, 8)
    lo, hi = A_RANGE_ANGSTROM
    if not lo <= a <= hi:
        raise invalid(
            field,
            f"is not a rocksalt supercell: its atoms sit on a grid of a = {a:.4f} Å, outside "
            f"the {lo:g}-{hi:g} Å of rocksalt compounds",
        )
    lattice = Lattice(size, a, geometry)
    n_anions = int(is_anion.sum())
    if n_anions < lattice.n_anions / 2:
        raise invalid(
            field,
            f"is not a rocksalt supercell: only {n_anions} of its {lattice.n_anions} anion sites "
            "hold O, F or Cl (a DRX anion sublattice is at least half full)",
        )
    cations = np.full(lattice.n_cations, VACANCY, dtype=object)
    anions = np.full(lattice.n_anions, VACANCY, dtype=object)
    lookup = np.full(int(np.prod(dims)), -1, dtype=np.int64)
    for positions in (lattice.cation_positions(), lattice.anion_positions()):
        g = np.rint(positions / (a / 2)).astype(np.int64) % dims
        lookup[g[:, 0] + dims[0] * (g[:, 1] + dims[1] * g[:, 2])] = np.arange(len(g))
    index = lookup[linear]
    sym = np.array(symbols, dtype=object)
    cations[index[~is_anion]] = sym[~is_anion]
    anions[index[is_anion]] = sym[is_anion]
    return Configuration.from_species(
        lattice, cations.astype(str), anions.astype(str), material=material
    )


def _sites(config: Configuration) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(cell diagonal lengths, symbols, Cartesian positions) of the occupied sites; TMs on
    tetrahedral sites (after a cycling run) last, at their tetrahedron's centre."""
    if not isinstance(config, Configuration):
        raise invalid("config", f"must be a drxkmc.Configuration, got {type(config).__name__}")
    lat = config.lattice
    cs, an = config.cation_symbols(), config.anion_symbols()
    keep_c, keep_a = cs != VACANCY, an != VACANCY
    tets = config.tetrahedral_tms()
    nx, ny = (2 * s for s in lat.size[:2])
    t = tets["tetrahedron"].to_numpy().astype(np.int64)
    corner = np.stack([t % nx, (t // nx) % ny, t // (nx * ny)], axis=1).reshape(-1, 3)
    symbols = [*cs[keep_c].tolist(), *an[keep_a].tolist(), *tets["species"].to_list()]
    pos = np.concatenate(
        [
            lat.cation_positions()[keep_c],
            lat.anion_positions()[keep_a],
            (corner + 0.5) * lat.a / 2,
        ]
    )
    lengths = np.array(lat.size, dtype=float) * lat.a
    return lengths, symbols, pos


def _pbc(config: Configuration) -> tuple[bool, bool, bool]:
    return (True, True, config.lattice.geometry == "bulk")


def _geometry_from_pbc(pbc, geometry) -> str:
    if geometry is not None:
        return geometry
    pbc = tuple(bool(p) for p in np.broadcast_to(np.asarray(pbc), (3,)))
    return "slab" if pbc == (True, True, False) else "bulk"


# ----- pymatgen --------------------------------------------------------------------------------


def from_pymatgen(
    structure,
    tolerance: float = DEFAULT_TOLERANCE_ANGSTROM,
    material: Material | None = None,
    geometry: str | None = None,
) -> Configuration:
    """A :class:`Configuration` from an ordered pymatgen ``Structure`` (oxidation-state
    decorations are ignored; absent atoms are vacancies). ``tolerance``: largest distance (Å)
    of an atom from its rocksalt site. ``material`` (a :class:`Material` or a formula) must
    match the structure's species and counts; without it the material is inferred from them
    where they form a charge-balanced formula (see :meth:`Configuration.from_species`).
    ``geometry`` defaults to "slab" for a lattice periodic in x and y only, else "bulk"."""
    _require("pymatgen.core", "pymatgen")
    from pymatgen.core import Structure

    if not isinstance(structure, Structure):
        raise invalid("structure", f"must be a pymatgen Structure, got {type(structure).__name__}")
    if not structure.is_ordered:
        raise invalid(
            "structure",
            "has partial occupancies; give an ordered structure (one species per site), e.g. "
            "from a Monte Carlo snapshot or OrderDisorderedStructureTransformation",
        )
    from pymatgen.core.periodic_table import DummySpecies

    symbols = []
    for site in structure:
        specie = site.specie
        if isinstance(specie, DummySpecies):
            raise invalid("structure", f"has a dummy species {specie} that is not an element")
        symbols.append(getattr(specie, "element", specie).symbol)
    pbc = getattr(structure.lattice, "pbc", (True, True, True))
    return _from_arrays(
        structure.lattice.matrix,
        structure.frac_coords,
        symbols,
        tolerance=tolerance,
        material=material,
        geometry=_geometry_from_pbc(pbc, geometry),
        field="structure",
    )


def to_pymatgen(config: Configuration):
    """A pymatgen ``Structure`` of the occupied sites (cations in site order, then anions,
    then any TMs on tetrahedral sites at their tetrahedra's centres; vacancies omitted). A
    slab's lattice is periodic in x and y only. Reading such a structure back refuses the
    tetrahedral TMs (they sit on no rocksalt site)."""
    _require("pymatgen.core", "pymatgen")
    from pymatgen.core import Lattice as PmgLattice
    from pymatgen.core import Structure

    lengths, symbols, pos = _sites(config)
    lattice = PmgLattice(np.diag(lengths), pbc=_pbc(config))
    return Structure(lattice, symbols, pos, coords_are_cartesian=True)


# ----- ASE -------------------------------------------------------------------------------------


def from_ase(
    atoms,
    tolerance: float = DEFAULT_TOLERANCE_ANGSTROM,
    material: Material | None = None,
    geometry: str | None = None,
) -> Configuration:
    """A :class:`Configuration` from an ASE ``Atoms`` (see :func:`from_pymatgen`; ``geometry``
    defaults to "slab" when ``atoms.pbc`` is (True, True, False), else "bulk")."""
    ase = _require("ase", "ase")
    if not isinstance(atoms, ase.Atoms):
        raise invalid("atoms", f"must be an ase.Atoms, got {type(atoms).__name__}")
    cell = np.asarray(atoms.cell.array, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise invalid("atoms", "has no cell; a rocksalt supercell needs its cubic cell")
    frac = np.linalg.solve(cell.T, np.asarray(atoms.positions, dtype=float).T).T
    return _from_arrays(
        cell,
        frac,
        list(atoms.get_chemical_symbols()),
        tolerance=tolerance,
        material=material,
        geometry=_geometry_from_pbc(atoms.pbc, geometry),
        field="atoms",
    )


def to_ase(config: Configuration):
    """An ASE ``Atoms`` of the occupied sites (vacancies omitted), with the supercell as its
    cell; periodic along x, y and, for bulk, z."""
    ase = _require("ase", "ase")
    lengths, symbols, pos = _sites(config)
    return ase.Atoms(symbols=symbols, positions=pos, cell=np.diag(lengths), pbc=_pbc(config))


# ----- files -----------------------------------------------------------------------------------


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        if not isinstance(format, str) or not format:
            raise invalid("format", f"must be a file format name such as 'cif', got {format!r}")
        return format.lower()
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if not suffix:
        raise invalid(
            "path", f"{str(path)!r} has no extension; give format='cif', 'extxyz', or an ASE format"
        )
    return ""  # let ASE infer from the name


def from_file(
    path: str | os.PathLike,
    tolerance: float = DEFAULT_TOLERANCE_ANGSTROM,
    material: Material | None = None,
    geometry: str | None = None,
    format: str | None = None,
) -> Configuration:
    """Read a configuration from a CIF (pymatgen), extended XYZ or any file ASE reads
    (``format`` as ASE names it; default: from the extension)."""
    try:
        p = Path(path)
    except TypeError:
        raise invalid("path", f"must be a file path, got {path!r}") from None
    fmt = _format(p, format)
    if not p.is_file():
        raise invalid("path", f"{str(p)!r} is not an existing file")
    if fmt == "cif":
        _require("pymatgen.core", "pymatgen")
        from pymatgen.core import Structure

        try:
            with warnings.catch_warnings():
                # pymatgen snaps coordinates like 0.33333333 to 1/3; harmless here.
                warnings.filterwarnings("ignore", message=".*fractional coordinates rounded.*")
                structure = Structure.from_file(str(p))
        except Exception as e:  # pymatgen raises many kinds on bad input
            raise invalid("path", f"could not read {str(p)!r} as CIF: {e}") from None
        try:
            return from_pymatgen(structure, tolerance, material, geometry)
        except Exception as e:
            if getattr(e, "field", None) == "structure":
                raise invalid("path", f"{str(p)!r}: {str(e).split(': ', 1)[-1]}") from None
            raise
    ase_io = _require("ase.io", "ase")
    try:
        atoms = ase_io.read(str(p), format=fmt or None)
    except Exception as e:  # ASE raises many kinds on bad input
        raise invalid("path", f"could not read {str(p)!r} as {fmt or 'a structure'}: {e}") from None
    if isinstance(atoms, list):
        atoms = atoms[-1]
    try:
        return from_ase(atoms, tolerance, material, geometry)
    except Exception as e:
        if getattr(e, "field", None) == "atoms":
            raise invalid("path", f"{str(p)!r}: {str(e).split(': ', 1)[-1]}") from None
        raise


def to_file(config: Configuration, path: str | os.PathLike, format: str | None = None) -> None:
    """Write ``config`` to a CIF (pymatgen; P1, every site listed), extended XYZ or any format
    ASE writes (``format`` as ASE names it; default: from the extension). The file is written
    atomically with the user's umask (:func:`drxkmc._files.atomic_write`), so an interrupted or
    failed write never leaves a half-written file."""
    if not isinstance(config, Configuration):
        raise invalid("config", f"must be a drxkmc.Configuration, got {type(config).__name__}")
    try:
        p = Path(path)
    except TypeError:
        raise invalid("path", f"must be a file path, got {path!r}") from None
    fmt = _format(p, format)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise invalid("path", f"folder {str(folder)!r} does not exist")
    if p.is_dir():
        raise invalid("path", f"{str(p)!r} is a folder")
    if fmt == "cif":
        _require("pymatgen.io.cif", "pymatgen")
        from pymatgen.io.cif import CifWriter

        structure = to_pymatgen(config)

        def write(tmp: str) -> None:
            CifWriter(structure).write_file(tmp)
    else:
        ase_io = _require("ase.io", "ase")
        atoms = to_ase(config)

        def write(tmp: str) -> None:
            ase_io.write(tmp, atoms, format=fmt or None)

    try:
        # The temporary name keeps the extension, from which ASE infers the format.
        atomic_write(p, write, suffix=p.suffix)
    except Exception as e:
        if type(e).__name__ == "UnknownFileTypeError":  # ASE: no writer for this format
            field = "format" if format is not None else "path"
            raise invalid(field, f"ASE cannot write {fmt or p.suffix!r} files: {e}") from None
        raise
