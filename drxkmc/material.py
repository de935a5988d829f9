"""Compositions: formula, oxidation states, molar mass and theoretical capacities."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.errors import DrxkmcError, invalid


class Material:
    """A rocksalt composition such as ``Li1.2Mn0.4Ti0.4O1.6F0.4``.

    Oxidation states default to fixed values for fixed-valence ions (Li⁺, Ti⁴⁺, Nb⁵⁺, O²⁻, F⁻,
    Cl⁻, …); a single redox-active TM gets the state that balances charge. Several redox-active
    TMs start at the bottom of their ranges and are oxidised in the order their couples are
    charged (V, Mo, Mn, Fe, Ru, Cr, Co, Rh, Ni, Cu: lowest voltage first) until the charge
    balances, so ``Li1.2Mn0.2Ni0.2Ti0.4O2`` is Ni²⁺/Mn⁴⁺ (sources in
    ``rust/drxkmc-core/src/composition.rs``). Override any with ``oxidation_states={"Mn": 3}``.
    Parsing and charge balance are checked by the Rust core and raise
    :class:`drxkmc.CompositionError` naming the field.
    """

    def __init__(self, composition: _core.Composition, overrides: dict | None = None):
        self._c = composition
        self._overrides = dict(overrides or {})

    @classmethod
    def from_formula(
        cls, formula: str, oxidation_states: Mapping[str, float] | None = None
    ) -> Material:
        check.instance("formula", formula, str, "chemical formula such as 'Li1.2Mn0.4Ti0.4O2'")
        overrides = check.number_mapping("oxidation_states", oxidation_states, "{'Mn': 3}")
        return cls(_core.Composition(formula, list(overrides.items())), overrides)

    def __reduce__(self):
        return (Material.from_formula, (self.formula, self._overrides))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Material) and (self.formula, self.oxidation_states) == (
            other.formula,
            other.oxidation_states,
        )

    def __hash__(self) -> int:
        return hash(self.formula)

    @property
    def formula(self) -> str:
        return self._c.formula

    @property
    def li(self) -> float:
        """Li per formula unit."""
        return self._c.li

    @property
    def transition_metals(self) -> dict[str, float]:
        """Every non-Li cation per formula unit (all count as TM for o-t-o channels)."""
        return dict(self._c.transition_metals)

    @property
    def anions(self) -> dict[str, float]:
        """O, F and Cl per formula unit."""
        o, f, cl = self._c.anions
        return {"O": o, "F": f, "Cl": cl}

    @property
    def cation_sites(self) -> float:
        """Octahedral cation sites per formula unit (= anions per formula unit)."""
        return self._c.cation_sites

    @property
    def cation_vacancies(self) -> float:
        """Empty cation sites per formula unit in the as-made (fully lithiated) material."""
        return self._c.cation_vacancies

    @property
    def oxidation_states(self) -> dict[str, float]:
        return dict(self._c.oxidation_states)

    @property
    def molar_mass_g_mol(self) -> float:
        return self._c.molar_mass_g_mol

    @property
    def tm_redox_electrons(self) -> float:
        """Electrons per formula unit from TM oxidation to the highest state, capped at Li."""
        return self._c.tm_redox_electrons

    def capacities(self) -> pl.DataFrame:
        """Theoretical capacities (mAh/g): all Li, the TM-redox limit, one e⁻ per f.u."""
        return pl.DataFrame(
            {
                "limit": ["all_li", "tm_redox", "one_electron"],
                "electrons_per_fu": [self.li, self.tm_redox_electrons, 1.0],
                "capacity_mAh_g": [
                    self._c.capacity_all_li_mah_g,
                    self._c.capacity_tm_redox_mah_g,
                    self._c.capacity_per_electron_mah_g,
                ],
            }
        )

    def __repr__(self) -> str:
        return f"Material({self.formula!r})"


def as_material(value, field: str = "material") -> Material:
    """``value`` as a :class:`Material`: a Material, or a formula string parsed into one
    (a bad formula raises the same error class, about ``field``)."""
    if isinstance(value, Material):
        return value
    if isinstance(value, str):
        try:
            return Material.from_formula(value)
        except DrxkmcError as e:
            err = type(e)(f"{field}: {value!r} is not a valid formula ({e})")
            err.field = field
            raise err from None
    raise invalid(field, f"must be a drxkmc.Material or a formula, got {type(value).__name__}")
