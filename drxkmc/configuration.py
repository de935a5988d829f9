"""Which species sits on every cation and anion site of a supercell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.errors import CompositionError, InvalidParameterError, invalid
from drxkmc.lattice import Lattice
from drxkmc.material import Material, as_material

#: Symbol of an empty site (cation or anion vacancy).
VACANCY = "Va"
#: Anion symbols in the order of the core's anion codes.
ANION_SYMBOLS = tuple(_core.ANION_NAMES)
# Cation species codes of the core's occupancy arrays.
_VACANCY_CODE = _core.SPECIES_VACANCY
_LI_CODE = _core.SPECIES_LI
_FIRST_TM_CODE = _core.SPECIES_FIRST_TM
#: A structure matches a material when each species count is within this many sites of the
#: formula's, plus this fraction of it: room for the rounding of a formula to a finite cell
#: (and of a published formula to a few digits), but not for another composition.
COUNT_TOLERANCE_SITES = 1.0
COUNT_TOLERANCE_FRACTION = 0.02

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

    #: The material of the configuration (formula, oxidation states, capacities): given, or
    #: inferred from the species counts when they form a charge-balanced formula; None if
    #: neither.
    material: Material | None
    #: Set by :func:`drxkmc.anneal` on the configuration it returns: one row per sweep.
    anneal_trace: pl.DataFrame | None

    def __init__(self, inner: _core.Configuration, material: Material | None = None):
        self._c = inner
        self.material = material
        self.anneal_trace = None

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

        ``material`` is a :class:`Material` or a formula. ``li_content`` is the Li per formula
        unit present (default: the formula's, i.e. fully lithiated, as synthesised), between 0
        and the formula's Li plus its cation vacancies; a value above 0 that rounds to no Li at
        all on this lattice is an error. Another value than the formula's changes the Li count
        as an electrode would (``delithiation="electrochemical"``, see :meth:`with_li_content`,
        with ``model`` and ``temperature_K``): only Li that the kinetic network connects to the
        rest of the crystal leave, least-bound first, in equilibrium.
        ``delithiation="random"`` removes Li at random instead, including Li that no path
        connects: not what a cathode does, kept for comparisons. Counts are rounded so that the
        totals are exact (largest remainder).
        """
        check.choice("delithiation", delithiation, ("electrochemical", "random"))
        material = as_material(material)
        check.instance("lattice", lattice, Lattice, "drxkmc.Lattice")
        li_max = material.li + material.cation_vacancies
        li = material.li if li_content is None else check.number("li_content", li_content)
        if li < 0 or li > li_max + 1e-9:
            raise invalid(
                "li_content", f"must be between 0 and {li_max:g} Li per formula unit, got {li}"
            )
        seed = check.seed(seed)
        n_fu = lattice.n_cations / material.cation_sites
        tms = material.transition_metals
        n_li = int(round(li * n_fu))
        if li > 0 and n_li == 0:
            raise invalid(
                "li_content",
                f"{li:g} Li per formula unit is {li * n_fu:.3g} Li on this lattice of "
                f"{n_fu:g} formula units, which rounds to no Li at all; use at least "
                f"{0.5 / n_fu:.3g}, or a larger lattice",
            )
        n_tm_total = int(round(sum(tms.values()) * n_fu))
        tm_counts = _largest_remainder(list(tms.values()), n_tm_total)
        if n_li + n_tm_total > lattice.n_cations:
            n_li = lattice.n_cations - n_tm_total
        _, n_f, n_cl = _largest_remainder(list(material.anions.values()), lattice.n_anions)
        electrochemical = delithiation == "electrochemical" and li_content is not None
        if electrochemical:
            temperature_K = check.temperature("temperature_K", temperature_K)
            model = check.model(model)
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
        to all O.

        ``material`` (a :class:`Material` or a formula) must match the species: the same
        metals, and every metal, F and Cl (O and O vacancies together) within
        ``COUNT_TOLERANCE_SITES`` sites + ``COUNT_TOLERANCE_FRACTION`` of the formula's count;
        Li may be anything up to the free cation sites (any state of charge). Without one, the
        material is inferred from the species counts when they form a charge-balanced formula
        (:func:`infer_material`)."""
        check.instance("lattice", lattice, Lattice, "drxkmc.Lattice")
        if material is not None:
            material = as_material(material)
        if isinstance(cations, (str, bytes)):
            raise invalid("cations", f"must be a sequence of element symbols, got {cations!r}")
        if isinstance(anions, (str, bytes)):
            raise invalid("anions", f"must be a sequence of element symbols, got {anions!r}")
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
        codes = {VACANCY: _VACANCY_CODE, "Li": _LI_CODE} | {
            s: _FIRST_TM_CODE + k for k, s in enumerate(symbols)
        }
        cat_codes = np.vectorize(codes.__getitem__, otypes=[np.uint8])(cat) if cat.size else cat
        an_codes = np.array([ANION_SYMBOLS.index(s) for s in an], dtype=np.uint8)
        inner = _core.Configuration.from_species(
            lattice._l, np.ascontiguousarray(cat_codes, dtype=np.uint8), an_codes, symbols
        )
        config = cls(inner)
        config.material = (
            infer_material(config) if material is None else check_material(config, material)
        )
        return config

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
        table = np.empty(_FIRST_TM_CODE + len(self.tm_names), dtype=object)
        table[_VACANCY_CODE], table[_LI_CODE] = VACANCY, "Li"
        table[_FIRST_TM_CODE:] = self.tm_names
        return table.astype(str)[self._c.cations()]

    def anion_symbols(self) -> np.ndarray:
        return np.array(ANION_SYMBOLS)[self._c.anions()]

    @property
    def n_li(self) -> int:
        return int(np.count_nonzero(self._c.cations() == _LI_CODE))

    def counts(self) -> pl.DataFrame:
        """Number of each species on its sublattice (``cation``: the octahedral sites,
        ``anion``, and ``tetrahedral`` for TMs on tetrahedral sites, if any)."""
        cat, cc = np.unique(self.cation_symbols(), return_counts=True)
        an, ac = np.unique(self.anion_symbols(), return_counts=True)
        tet, tc = np.unique(self.tetrahedral_tms()["species"].to_numpy(), return_counts=True)
        return pl.DataFrame(
            {
                "sublattice": ["cation"] * len(cat)
                + ["anion"] * len(an)
                + ["tetrahedral"] * len(tet),
                "species": [*cat.tolist(), *an.tolist(), *tet.tolist()],
                "count": [*cc.tolist(), *ac.tolist(), *tc.tolist()],
            }
        )

    def valences(self) -> np.ndarray | None:
        """Oxidation state of the TM on each cation site (cation order, 0 elsewhere), once a
        cycling run has resolved them per site; None before (every TM of a kind then has the
        material's average state)."""
        return self._c.valences()

    def tetrahedral_tms(self) -> pl.DataFrame:
        """TMs on tetrahedral sites: ``tetrahedron`` (grid index of its cube's lowest
        corner, units of a/2, x fastest), ``species``, ``valence``. Empty for a rocksalt with
        every TM octahedral; the Li kMC and percolation refuse configurations that have any."""
        rows = self._c.tetrahedral()
        names = ["Va", "Li", *self.tm_names]
        return pl.DataFrame(
            {
                "tetrahedron": [r[0] for r in rows],
                "species": [names[r[1]] for r in rows],
                "valence": [r[2] for r in rows],
            },
            schema={"tetrahedron": pl.UInt32, "species": pl.String, "valence": pl.Int8},
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
        model = check.model(model)
        return self._equilibrium(
            model,
            check.temperature("temperature_K", temperature_K),
            check.number("timescale_s", timescale_s, unit="s", positive=True),
            None,
            check.count("sweeps", sweeps),
            check.seed(seed),
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
        li = check.number("li_content", li_content)
        n_fu = self.lattice.n_cations / self.material.cation_sites
        if not np.isfinite(li) or li < 0:
            raise invalid("li_content", f"must be a finite number >= 0, got {li_content!r}")
        return self._equilibrium(
            check.model(model),
            check.temperature("temperature_K", temperature_K),
            check.number("timescale_s", timescale_s, unit="s", positive=True),
            int(round(li * n_fu)),
            check.count("sweeps", sweeps),
            check.seed(seed),
        )[0]

    def _equilibrium(self, model, temperature_K, timescale_s, target_li, sweeps, seed):
        """(new configuration, core report dict) of the core's equilibrium sampling."""
        try:
            inner, info = _core.equilibrate(
                self._c, model._core_dict(), temperature_K, timescale_s, target_li, sweeps, seed
            )
        except InvalidParameterError as err:
            if err.field == "li_content" and self.material is not None:
                raise self._unreachable(model, temperature_K, timescale_s, target_li) from None
            raise
        return Configuration(inner, self.material), info

    def _unreachable(self, model, temperature_K, timescale_s, target_li) -> InvalidParameterError:
        """The error for a Li count the electrode cannot reach, in Li per formula unit."""
        cut = _core.kinetic_cutoff_ev(model._core_dict(), temperature_K, timescale_s)
        p = _core.percolation_analysis(self._c, barrier_cutoff_ev=cut, model=model._core_dict())
        assert self.material is not None  # checked by the caller
        n_fu = self.lattice.n_cations / self.material.cation_sites
        fixed = p["n_li"] - p["n_accessible_li"]
        lo, hi = fixed / n_fu, (fixed + p["n_accessible_sites"]) / n_fu
        return invalid(
            "li_content",
            f"{target_li / n_fu:.4g} Li per formula unit cannot be reached by (de)lithiating "
            f"this electrode: Li can only leave or enter through sites connected to its network "
            f"(paths that fire within {timescale_s:g} s at {temperature_K:g} K), so its Li "
            f"content stays between {lo:.4g} and {hi:.4g} Li per formula unit",
        )

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


# ----- the material of a structure ---------------------------------------------------------


def species_counts(config: Configuration) -> tuple[dict[str, int], dict[str, int]]:
    """(cation counts: Li and each TM; anion counts: O, F, Cl, Va) of ``config``."""
    cat = np.bincount(config._c.cations(), minlength=_FIRST_TM_CODE + len(config.tm_names))
    an = np.bincount(config._c.anions(), minlength=len(ANION_SYMBOLS))
    cations = {"Li": int(cat[_LI_CODE])}
    cations |= {name: int(cat[_FIRST_TM_CODE + k]) for k, name in enumerate(config.tm_names)}
    return cations, {s: int(n) for s, n in zip(ANION_SYMBOLS, an)}


def composition_formula(config: Configuration) -> str:
    """The formula of ``config``'s species, two anion sites per formula unit (as ``…O2``)."""
    cations, anions = species_counts(config)
    scale = 2.0 / config.lattice.n_anions
    parts = [*cations.items(), *((s, anions[s]) for s in ("O", "F", "Cl"))]
    return "".join(f"{s}{n * scale:.8g}" for s, n in parts if n > 0)


def infer_material(config: Configuration) -> Material | None:
    """The material whose formula is ``config``'s own composition, when that formula is a
    charge-balanced rocksalt (a delithiated structure is not: its as-made Li content is
    unknown) and has no O vacancies; otherwise None."""
    _, anions = species_counts(config)
    if anions[VACANCY]:
        return None
    try:
        return Material.from_formula(composition_formula(config))
    except CompositionError:
        return None


def check_material(config: Configuration, material: Material, field: str = "material"):
    """``material`` if ``config``'s species match it (see :meth:`Configuration.from_species`),
    else an error about ``field`` that says what differs."""
    cations, anions = species_counts(config)
    n_fu = config.lattice.n_cations / material.cation_sites
    tms = material.transition_metals
    present = [s for s in config.tm_names if cations[s] > 0]
    foreign = [s for s in present if s not in tms]
    if foreign:
        raise invalid(
            field,
            f"{material.formula} has no {', '.join(foreign)}, which the structure holds "
            f"(its metals: {', '.join(present) or 'none'})",
        )
    expected = {s: a * n_fu for s, a in tms.items()}
    actual = {s: cations.get(s, 0) for s in tms}
    for s in ("F", "Cl"):
        expected[s] = material.anions[s] * n_fu
        actual[s] = anions[s]
    expected["O"] = material.anions["O"] * n_fu
    actual["O"] = anions["O"] + anions[VACANCY]  # O lost from the structure leaves vacancies
    for s, want in expected.items():
        if abs(actual[s] - want) > COUNT_TOLERANCE_SITES + COUNT_TOLERANCE_FRACTION * want:
            raise invalid(
                field,
                f"{material.formula} does not match the structure: it needs {want:.4g} {s} on "
                f"the {config.lattice.n_cations} cation sites ({n_fu:g} formula units), the "
                f"structure has {actual[s]}",
            )
    return material
