"""Which species sits on every cation and anion site of a supercell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc.errors import invalid
from drxkmc.lattice import Lattice
from drxkmc.material import Material

#: Symbol of an empty site (cation or anion vacancy).
VACANCY = "Va"
#: Anion symbols in the order of the core's anion codes.
ANION_SYMBOLS = ("O", "F", "Cl", VACANCY)
_LI_CODE = 1
_FIRST_TM_CODE = 2

#: Time scale (s) of the kinetic network that decides which sites exchange Li: a path counts
#: when it fires at least once in this time, E_KRA < kT·ln(ν·τ). Default one hour, the
#: duration of a C/1 charge (an assumption; GITT pulses and slower rates are longer). At 300 K
#: with the default barriers this opens 0-TM and 1-TM paths and keeps 2-TM paths closed.
DEFAULT_TIMESCALE_S = 3600.0
#: Metropolis sweeps (attempted Li–vacancy swaps per site) of the equilibrium sampling. Li
#: interact only through site energies, so a swap anywhere in a cluster is a valid move and a
#: few tens of sweeps decorrelate the arrangement; tests/test_equilibrium.py checks the result
#: against exact canonical and Fermi–Dirac occupancies.
DEFAULT_SWEEPS = 100


def _largest_remainder(amounts: Sequence[float], total: int) -> list[int]:
    """Integers proportional to ``amounts`` that add up exactly to ``total``."""
    s = float(sum(amounts))
    if s <= 0 or total == 0:
        return [0] * len(amounts)
    exact = [a / s * total for a in amounts]
    counts = [int(np.floor(e)) for e in exact]
    order = np.argsort([-(e - c) for e, c in zip(exact, counts)], kind="stable")
    for i in order[: total - sum(counts)]:
        counts[int(i)] += 1
    return counts


class Configuration:
    """Site occupancy of a :class:`Lattice` (cations: Li, TMs, vacancies; anions: O, F, Cl)."""

    #: Set only on the result of :func:`drxkmc.anneal`: one row per sweep (see there).
    anneal_trace: pl.DataFrame

    def __init__(self, inner: _core.Configuration, material: Material | None = None):
        self._c = inner
        self.material = material

    @classmethod
    def random(
        cls,
        material: Material,
        lattice: Lattice,
        *,
        li_content: float | None = None,
        seed: int = 0,
        delithiation: str = "electrochemical",
        model=None,
        temperature_K: float = 300.0,
    ) -> Configuration:
        """Random cation and anion disorder at the material's composition.

        ``li_content`` is the Li per formula unit present (default: the formula's, i.e. fully
        lithiated, as synthesised). Another value changes the Li count as an electrode would
        (``delithiation="electrochemical"``, see :meth:`with_li_content`, with ``model`` and
        ``temperature_K``): only Li that the kinetic network connects to the rest of the
        crystal leave, least-bound first, in equilibrium. ``delithiation="random"`` removes Li
        at random instead, including Li that no path connects: not what a cathode does, kept
        for comparisons. Counts are rounded so that the totals are exact (largest remainder).
        """
        if delithiation not in ("electrochemical", "random"):
            raise invalid(
                "delithiation", f"must be 'electrochemical' or 'random', got {delithiation!r}"
            )
        if not isinstance(material, Material):
            raise invalid("material", f"must be a drxkmc.Material, got {type(material).__name__}")
        if not isinstance(lattice, Lattice):
            raise invalid("lattice", f"must be a drxkmc.Lattice, got {type(lattice).__name__}")
        li = material.li if li_content is None else _as_float("li_content", li_content)
        li_max = material.li + material.cation_vacancies
        if not np.isfinite(li) or li < 0 or li > li_max + 1e-9:
            raise invalid(
                "li_content", f"must be between 0 and {li_max:g} Li per formula unit, got {li}"
            )
        seed = _check_seed(seed)
        n_fu = lattice.n_cations / material.cation_sites
        tms = material.transition_metals
        n_li = int(round(li * n_fu))
        n_tm_total = int(round(sum(tms.values()) * n_fu))
        tm_counts = _largest_remainder(list(tms.values()), n_tm_total)
        if n_li + n_tm_total > lattice.n_cations:
            n_li = lattice.n_cations - n_tm_total
        _, n_f, n_cl = _largest_remainder(list(material.anions.values()), lattice.n_anions)
        electrochemical = delithiation == "electrochemical" and li_content is not None
        if electrochemical:
            temperature_K = _as_float("temperature_K", temperature_K)
            model = _check_model(model)
        n_start = int(round(material.li * n_fu)) if electrochemical else n_li
        n_start = min(n_start, lattice.n_cations - n_tm_total)
        inner = _core.Configuration.random(
            lattice._l, n_start, tm_counts, list(tms), n_f, n_cl, seed
        )
        config = cls(inner, material)
        if electrochemical and n_start != n_li:
            config = config._equilibrium(
                model, temperature_K, DEFAULT_TIMESCALE_S, n_li, DEFAULT_SWEEPS, seed
            )[0]
        return config

    @classmethod
    def from_species(
        cls,
        lattice: Lattice,
        cations: Sequence[str] | np.ndarray,
        anions: Sequence[str] | np.ndarray | None = None,
        material: Material | None = None,
    ) -> Configuration:
        """Explicit species per site, in the order of ``lattice.cation_positions()`` and
        ``lattice.anion_positions()``: element symbols, ``"Va"`` for a vacancy. Anions default
        to all O."""
        cat = np.asarray(cations, dtype=str)
        if cat.shape != (lattice.n_cations,):
            raise invalid(
                "cations",
                f"needs {lattice.n_cations} symbols, one per cation site, got shape {cat.shape}",
            )
        an = np.full(lattice.n_anions, "O") if anions is None else np.asarray(anions, dtype=str)
        if an.shape != (lattice.n_anions,):
            raise invalid(
                "anions",
                f"needs {lattice.n_anions} symbols, one per anion site, got shape {an.shape}",
            )
        unknown_anions = sorted(set(np.unique(an)) - set(ANION_SYMBOLS))
        if unknown_anions:
            raise invalid("anions", f"unknown anion symbols {unknown_anions}; use O, F, Cl or Va")
        symbols = [s for s in np.unique(cat) if s not in ("Li", VACANCY)]
        if material is not None:
            symbols = [s for s in material.transition_metals if s in symbols] + [
                s for s in symbols if s not in material.transition_metals
            ]
        unknown = sorted(set(symbols) - set(_core.supported_cations()))
        if unknown:
            raise invalid(
                "cations", f"unknown cation symbols {unknown}; use Li, Va or a supported metal"
            )
        codes = {VACANCY: 0, "Li": _LI_CODE} | {
            s: _FIRST_TM_CODE + k for k, s in enumerate(symbols)
        }
        cat_codes = np.vectorize(codes.__getitem__, otypes=[np.uint8])(cat) if cat.size else cat
        an_codes = np.array([ANION_SYMBOLS.index(s) for s in an], dtype=np.uint8)
        inner = _core.Configuration.from_species(
            lattice._l, np.ascontiguousarray(cat_codes, dtype=np.uint8), an_codes, symbols
        )
        return cls(inner, material)

    @property
    def lattice(self) -> Lattice:
        return Lattice._wrap(self._c.lattice)

    def __reduce__(self):
        # Pickles as species-code arrays, so configurations travel to Dask/process workers.
        return (
            _from_codes,
            (self.lattice, self._c.cations(), self._c.anions(), self.tm_names, self.material),
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Configuration)
            and self.lattice == other.lattice
            and self.tm_names == other.tm_names
            and np.array_equal(self._c.cations(), other._c.cations())
            and np.array_equal(self._c.anions(), other._c.anions())
        )

    # Equal by value but not immutable, hence unhashable (the declaration typeshed uses).
    __hash__ = None  # type: ignore[assignment]

    @property
    def tm_names(self) -> list[str]:
        return self._c.tm_names

    def cation_symbols(self) -> np.ndarray:
        """Species symbol on every cation site (``"Va"`` = empty)."""
        table = np.array([VACANCY, "Li", *self.tm_names])
        return table[self._c.cations()]

    def anion_symbols(self) -> np.ndarray:
        return np.array(ANION_SYMBOLS)[self._c.anions()]

    @property
    def n_li(self) -> int:
        return int(np.count_nonzero(self._c.cations() == _LI_CODE))

    def counts(self) -> pl.DataFrame:
        """Number of each species on its sublattice."""
        cat, cc = np.unique(self.cation_symbols(), return_counts=True)
        an, ac = np.unique(self.anion_symbols(), return_counts=True)
        return pl.DataFrame(
            {
                "sublattice": ["cation"] * len(cat) + ["anion"] * len(an),
                "species": [*cat.tolist(), *an.tolist()],
                "count": [*cc.tolist(), *ac.tolist()],
            }
        )

    def li_pair_channel_counts(self) -> dict[str, int]:
        """Tetrahedra shared by nearest-neighbour Li pairs, by TM count of their spectators."""
        n0, n1, n2 = self._c.li_pair_channel_counts()
        return {"0-TM": n0, "1-TM": n1, "2-TM": n2}

    # ----- equilibrium and electrochemistry ---------------------------------------------------

    def equilibrated(
        self,
        model=None,
        *,
        temperature_K: float = 300.0,
        timescale_s: float = DEFAULT_TIMESCALE_S,
        seed: int = 0,
        sweeps: int = DEFAULT_SWEEPS,
    ) -> Configuration:
        """The Li arrangement drawn from the model's equilibrium at ``temperature_K``, with
        the same Li count in every cluster of the kinetic network (paths that fire within
        ``timescale_s``; clusters connected to the crystal's network exchange Li as one
        reservoir). Li interact only through site energies, so this is the canonical
        distribution of independent fermions, sampled by Metropolis swaps. A
        :class:`~drxkmc.Simulation` starts from this by default."""
        model = _check_model(model)
        return self._equilibrium(
            model,
            _as_float("temperature_K", temperature_K),
            _as_float("timescale_s", timescale_s),
            None,
            _check_sweeps(sweeps),
            _check_seed(seed),
        )[0]

    def with_li_content(
        self,
        li_content: float,
        model=None,
        *,
        temperature_K: float = 300.0,
        timescale_s: float = DEFAULT_TIMESCALE_S,
        seed: int = 0,
        sweeps: int = DEFAULT_SWEEPS,
    ) -> Configuration:
        """Electrochemical (de)lithiation to ``li_content`` Li per formula unit.

        Li leave or enter only through clusters of the kinetic network (paths that fire
        within ``timescale_s``) that wrap the periodic cell, or reach a surface of a slab;
        together those clusters are one reservoir in equilibrium at a Li chemical potential.
        Removal takes the least-bound Li first; the reservoir is then sampled from the
        canonical distribution at ``temperature_K``. Li on other clusters stay. A count that
        the accessible network cannot reach raises an error naming ``li_content`` with the
        reachable range."""
        if self.material is None:
            raise invalid("li_content", "needs the configuration's material (formula units)")
        li = _as_float("li_content", li_content)
        n_fu = self.lattice.n_cations / self.material.cation_sites
        if not np.isfinite(li) or li < 0:
            raise invalid("li_content", f"must be a finite number >= 0, got {li_content!r}")
        return self._equilibrium(
            _check_model(model),
            _as_float("temperature_K", temperature_K),
            _as_float("timescale_s", timescale_s),
            int(round(li * n_fu)),
            _check_sweeps(sweeps),
            _check_seed(seed),
        )[0]

    def _equilibrium(self, model, temperature_K, timescale_s, target_li, sweeps, seed):
        """(new configuration, core report dict) of the core's equilibrium sampling."""
        inner, info = _core.equilibrate(
            self._c, model.as_dict(), temperature_K, timescale_s, target_li, sweeps, seed
        )
        return Configuration(inner, self.material), info

    # ----- short-range order and structure I/O (implemented in drxkmc.sro / drxkmc.io) ----

    def anneal(self, **kwargs) -> Configuration:
        """Short-range order by Metropolis annealing; see :func:`drxkmc.sro.anneal`."""
        from drxkmc.sro import anneal

        return anneal(self, **kwargs)

    @classmethod
    def from_pymatgen(cls, structure, **kwargs) -> Configuration:
        """From a pymatgen ``Structure``; see :func:`drxkmc.io.from_pymatgen`."""
        from drxkmc.io import from_pymatgen

        return from_pymatgen(structure, **kwargs)

    def to_pymatgen(self, **kwargs):
        """To a pymatgen ``Structure``; see :func:`drxkmc.io.to_pymatgen`."""
        from drxkmc.io import to_pymatgen

        return to_pymatgen(self, **kwargs)

    @classmethod
    def from_ase(cls, atoms, **kwargs) -> Configuration:
        """From an ASE ``Atoms``; see :func:`drxkmc.io.from_ase`."""
        from drxkmc.io import from_ase

        return from_ase(atoms, **kwargs)

    def to_ase(self, **kwargs):
        """To an ASE ``Atoms``; see :func:`drxkmc.io.to_ase`."""
        from drxkmc.io import to_ase

        return to_ase(self, **kwargs)

    @classmethod
    def from_file(cls, path, **kwargs) -> Configuration:
        """From a CIF or extended-XYZ file; see :func:`drxkmc.io.from_file`."""
        from drxkmc.io import from_file

        return from_file(path, **kwargs)

    def to_file(self, path, **kwargs) -> None:
        """To a CIF or extended-XYZ file; see :func:`drxkmc.io.to_file`."""
        from drxkmc.io import to_file

        to_file(self, path, **kwargs)

    def __repr__(self) -> str:
        return f"Configuration({self.lattice!r}, n_li={self.n_li}, tm={self.tm_names})"


def _from_codes(lattice, cations, anions, tm_names, material) -> Configuration:
    inner = _core.Configuration.from_species(lattice._l, cations, anions, tm_names)
    return Configuration(inner, material)


def _as_float(field: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid(field, f"must be a number, got {value!r}") from None


def _check_model(model):
    from drxkmc.model import BarrierModel

    if model is None:
        return BarrierModel()
    if not isinstance(model, BarrierModel):
        raise invalid("model", f"must be a drxkmc.BarrierModel, got {type(model).__name__}")
    return model


def _check_sweeps(sweeps) -> int:
    if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) or sweeps < 1:
        raise invalid("sweeps", f"must be an integer >= 1, got {sweeps!r}")
    return int(sweeps)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise invalid("seed", f"must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)
