"""The rocksalt supercell."""

from __future__ import annotations

import warnings

import numpy as np

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.errors import invalid

#: Default cubic lattice parameter, Å: Li1.2Mn0.4Ti0.4O2-like DRX, giving the ideal
#: tetrahedron height a/√3 = 2.40 Å used as the barrier model's reference
#: (docs/design.md#barriers-kra-and-detailed-balance).
DEFAULT_A_ANGSTROM = 4.15
#: Accepted lattice parameters, Å (from the core): every rocksalt compound, but not a length
#: in nm or bohr by mistake.
A_RANGE_ANGSTROM: tuple[float, float] = (
    float(_core.LATTICE_PARAMETER_RANGE_A[0]),
    float(_core.LATTICE_PARAMETER_RANGE_A[1]),
)


class Lattice:
    """An ``L1 × L2 × L3`` supercell of conventional rocksalt cells.

    It has ``4·L1·L2·L3`` cation (octahedral) sites, as many anion sites and twice as many
    tetrahedral sites. ``a`` is the cubic lattice parameter in Å, between 3 and 7 Å (every
    rocksalt compound). ``geometry`` is ``"bulk"`` (periodic) or ``"slab"`` (open along z).
    A lattice holds no per-site data; what is built on it (configuration, simulation,
    percolation, annealing) checks first that its memory is available and otherwise raises
    :class:`drxkmc.MemoryLimitError` naming ``size``.
    """

    def __init__(
        self,
        size: int | tuple[int, int, int] = 8,
        a: float = DEFAULT_A_ANGSTROM,
        geometry: str = "bulk",
    ):
        if isinstance(size, (bool, np.bool_, str, bytes)):
            raise invalid("size", f"must be an int or three ints, got {size!r}")
        if isinstance(size, (int, np.integer)):
            size = (int(size),) * 3
        try:
            dims = tuple(int(s) for s in size)
        except (TypeError, ValueError):
            raise invalid("size", f"must be an int or three ints, got {size!r}") from None
        if len(dims) != 3 or any(d != s for d, s in zip(dims, size)):
            raise invalid("size", f"must be an int or three ints, got {size!r}")
        if any(not 0 <= d < 2**40 for d in dims):
            raise invalid("size", f"{dims} is not a simulable supercell")
        a = check.number("a", a, unit="Å")
        geometry = check.choice("geometry", geometry, ("bulk", "slab"))
        self._l = _core.Lattice(dims, a, geometry)

    @classmethod
    def _wrap(cls, inner: _core.Lattice) -> Lattice:
        obj = cls.__new__(cls)
        obj._l = inner
        return obj

    @property
    def size(self) -> tuple[int, int, int]:
        return self._l.size

    @property
    def a(self) -> float:
        """Lattice parameter, Å."""
        return self._l.a

    @property
    def geometry(self) -> str:
        return self._l.geometry

    @property
    def n_cations(self) -> int:
        return self._l.n_cations

    @property
    def n_anions(self) -> int:
        return self._l.n_anions

    @property
    def n_tetrahedra(self) -> int:
        return self._l.n_tetrahedra

    @property
    def nn_distance_A(self) -> float:
        """Nearest-neighbour cation distance a/√2, Å."""
        return self._l.nn_distance

    @property
    def ideal_tetrahedron_height_A(self) -> float:
        """a/√3, Å."""
        return self._l.ideal_tetrahedron_height

    @property
    def nn_distance_angstrom(self) -> float:
        """Deprecated spelling of :attr:`nn_distance_A`."""
        warnings.warn("use Lattice.nn_distance_A", DeprecationWarning, stacklevel=2)
        return self.nn_distance_A

    @property
    def ideal_tetrahedron_height_angstrom(self) -> float:
        """Deprecated spelling of :attr:`ideal_tetrahedron_height_A`."""
        warnings.warn("use Lattice.ideal_tetrahedron_height_A", DeprecationWarning, stacklevel=2)
        return self.ideal_tetrahedron_height_A

    @property
    def volume_cm3(self) -> float:
        lx, ly, lz = self.size
        return lx * ly * lz * (self.a * 1e-8) ** 3

    def cation_positions(self) -> np.ndarray:
        """Cartesian positions of the cation sites (Å), shape (n_cations, 3)."""
        return self._l.cation_positions()

    def anion_positions(self) -> np.ndarray:
        """Cartesian positions of the anion sites (Å), shape (n_anions, 3)."""
        return self._l.anion_positions()

    def __reduce__(self):
        return (Lattice, (self.size, self.a, self.geometry))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lattice) and (self.size, self.a, self.geometry) == (
            other.size,
            other.a,
            other.geometry,
        )

    def __repr__(self) -> str:
        return f"Lattice(size={self.size}, a={self.a}, geometry={self.geometry!r})"
