"""The barrier model: KRA barriers of o-t-o hops and Li site energies.

Every default, with its literature source, lives in the Rust core
(``rust/drxkmc-core/src/model.rs``); this dataclass takes its defaults from there so that there
is one place for each number.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.errors import DrxkmcError, invalid

_CORE_DEFAULTS = _core.default_barrier_model()
#: Field names as the core spells them → as Python spells them (units ``_eV`` and ``_A``, as
#: every other drxkmc name; the identity once the core spells them so too). The old spellings
#: stay accepted, with a DeprecationWarning.
_FROM_CORE = {k: k.replace("_ev", "_eV").replace("angstrom", "A") for k in _CORE_DEFAULTS}
_TO_CORE = {v: k for k, v in _FROM_CORE.items()}
_DEPRECATED = {k: v for k, v in _FROM_CORE.items() if k != v}
_DEFAULTS = {_FROM_CORE[k]: v for k, v in _CORE_DEFAULTS.items()}


def _default(name: str):
    # Numbers and tuples (the core's per-channel and per-anion arrays): immutable defaults.
    return field(default=_DEFAULTS[name])


@dataclass(frozen=True)
class BarrierModel:
    """Parameters of E_a(t) = E_KRA(t) + (E_B − E_A)/2, the kinetically resolved activation
    form (Van der Ven, Ceder, Asta, Tepesch, Phys. Rev. B 64, 184307 (2001)). Units: eV, Å, s⁻¹.
    Physics: docs/design.md#barriers-kra-and-detailed-balance; sources: the Rust struct's docs.

    ``E_KRA = channel_barrier_eV[n_TM] + height_slope_eV_per_A[n_TM]·(h − reference)
    + Σ_corners anion_corner_eV + n_Li·spectator_li_eV`` with the tetrahedron height
    ``h = a/√3 + Σ_corners anion_height_shift_A``; per-anion tuples are ordered
    (O, F, Cl, O-vacancy). Li site energy: ``site_f_eV`` per F and ``site_cl_eV`` per Cl
    neighbour, ``site_tm_eV`` per TM neighbour, plus Gaussian disorder of width
    ``site_disorder_eV``. ``attempt_frequency_hz`` must lie in 1e9–1e16 s⁻¹ (phonons are
    1e12–1e14 Hz). Invalid values raise :class:`drxkmc.InvalidParameterError` naming the field
    as soon as the model is made. The former spellings ``*_ev`` and ``*_angstrom`` are
    accepted as keywords and attributes with a DeprecationWarning.
    """

    attempt_frequency_hz: float = _default("attempt_frequency_hz")
    channel_barrier_eV: tuple[float, float, float] = _default("channel_barrier_eV")
    height_slope_eV_per_A: tuple[float, float, float] = _default("height_slope_eV_per_A")
    reference_height_A: float = _default("reference_height_A")
    anion_height_shift_A: tuple[float, float, float, float] = _default("anion_height_shift_A")
    anion_corner_eV: tuple[float, float, float, float] = _default("anion_corner_eV")
    spectator_li_eV: float = _default("spectator_li_eV")
    site_f_eV: float = _default("site_f_eV")
    site_cl_eV: float = _default("site_cl_eV")
    site_tm_eV: float = _default("site_tm_eV")
    site_disorder_eV: float = _default("site_disorder_eV")
    site_energy_seed: int = _default("site_energy_seed")

    def __post_init__(self) -> None:
        try:
            _core.validate_barrier_model(self._core_dict())
        except DrxkmcError as e:
            raise _renamed(e) from None

    def __new__(cls, *args, **kwargs):
        # An unknown keyword would otherwise be a bare TypeError from the dataclass __init__.
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__) - set(_DEPRECATED))
        if unknown:
            raise invalid(unknown[0], "is not a BarrierModel parameter")
        return super().__new__(cls)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every parameter name, and the deprecated spellings still accepted."""
        return (*cls.__dataclass_fields__, *_DEPRECATED)

    @classmethod
    def uniform(cls, barrier_eV: float | None = None, *, barrier_ev: float | None = None):
        """Hard-core lattice gas: every open path has ``barrier_eV``, no site energies."""
        if barrier_ev is not None:
            kw = check.renamed_keywords(
                {
                    "barrier_ev": barrier_ev,
                    **({} if barrier_eV is None else {"barrier_eV": barrier_eV}),
                },
                {"barrier_ev": "barrier_eV"},
                "BarrierModel.uniform",
            )
            barrier_eV = kw["barrier_eV"]
        if barrier_eV is None:
            raise invalid("barrier_eV", "give the barrier of every open path, eV")
        barrier = check.number("barrier_eV", barrier_eV, unit="eV")
        return cls._from_core(_core.uniform_barrier_model(barrier))

    @classmethod
    def from_dict(cls, d: dict) -> BarrierModel:
        """From a dict of fields (lists become tuples)."""
        check.instance("model", d, dict, "dict of BarrierModel fields")
        d = check.renamed_keywords(d, _DEPRECATED, "BarrierModel")
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)

    @classmethod
    def _from_core(cls, d: dict) -> BarrierModel:
        """From a dict with the core's field names."""
        fields: dict[str, Any] = {
            _FROM_CORE[k]: tuple(v) if isinstance(v, list) else v for k, v in d.items()
        }
        return cls(**fields)

    def replace(self, **changes) -> BarrierModel:
        """A copy with some fields changed (validated)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise invalid(unknown[0], "is not a BarrierModel parameter")
        return dataclasses.replace(self, **check.renamed_keywords(changes, _DEPRECATED, "replace"))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _core_dict(self) -> dict:
        """The fields under the core's names, for the Rust engine."""
        return {_TO_CORE[k]: v for k, v in self.as_dict().items()}


def _renamed(e: DrxkmcError) -> DrxkmcError:
    """A core error about a model field, with the field under its Python name."""
    field = _FROM_CORE.get(getattr(e, "field", ""), None)
    if field is None:
        return e
    out = type(e)(str(e).replace(e.field, field, 1))
    out.field = field
    return out


_dataclass_init = BarrierModel.__init__


def _init(self, *args, **kwargs) -> None:
    _dataclass_init(self, *args, **check.renamed_keywords(kwargs, _DEPRECATED, "BarrierModel"))


_init.__doc__ = _dataclass_init.__doc__
_init.__signature__ = inspect.signature(_dataclass_init)  # type: ignore[attr-defined]
BarrierModel.__init__ = _init  # type: ignore[method-assign]


def _deprecated_attribute(old: str, new: str) -> property:
    def get(self):
        warnings.warn(
            f"BarrierModel.{old} is deprecated, use .{new}", DeprecationWarning, stacklevel=2
        )
        return getattr(self, new)

    return property(get, doc=f"Deprecated spelling of :attr:`{new}`.")


for _old, _new in _DEPRECATED.items():
    setattr(BarrierModel, _old, _deprecated_attribute(_old, _new))
