"""The barrier model: KRA barriers of o-t-o hops and Li site energies.

Every default, with its literature source, lives in the Rust core
(``rust/drxkmc-core/src/model.rs``); this dataclass takes its defaults from there so that there
is one place for each number.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from drxkmc import _core
from drxkmc.errors import invalid

_DEFAULTS = _core.default_barrier_model()


def _default(name: str):
    # Numbers and tuples (the core's per-channel and per-anion arrays): immutable defaults.
    return field(default=_DEFAULTS[name])


@dataclass(frozen=True)
class BarrierModel:
    """Parameters of E_a(t) = E_KRA(t) + (E_B − E_A)/2. Units: eV, Å, s⁻¹. Physics:
    docs/design.md#barriers-kra-and-detailed-balance; sources: the Rust struct's field docs.

    ``E_KRA = channel_barrier_ev[n_TM] + height_slope_ev_per_angstrom[n_TM]·(h − reference)
    + Σ_corners anion_corner_ev + n_Li·spectator_li_ev`` with the tetrahedron height
    ``h = a/√3 + Σ_corners anion_height_shift_angstrom``; per-anion tuples are ordered
    (O, F, Cl, O-vacancy). Li site energy: ``site_f_ev`` per F and ``site_cl_ev`` per Cl
    neighbour, ``site_tm_ev`` per TM neighbour, plus Gaussian disorder of width
    ``site_disorder_ev``. Invalid values raise :class:`drxkmc.InvalidParameterError` naming
    the field as soon as the model is made.
    """

    attempt_frequency_hz: float = _default("attempt_frequency_hz")
    channel_barrier_ev: tuple[float, float, float] = _default("channel_barrier_ev")
    height_slope_ev_per_angstrom: tuple[float, float, float] = _default(
        "height_slope_ev_per_angstrom"
    )
    reference_height_angstrom: float = _default("reference_height_angstrom")
    anion_height_shift_angstrom: tuple[float, float, float, float] = _default(
        "anion_height_shift_angstrom"
    )
    anion_corner_ev: tuple[float, float, float, float] = _default("anion_corner_ev")
    spectator_li_ev: float = _default("spectator_li_ev")
    site_f_ev: float = _default("site_f_ev")
    site_cl_ev: float = _default("site_cl_ev")
    site_tm_ev: float = _default("site_tm_ev")
    site_disorder_ev: float = _default("site_disorder_ev")
    site_energy_seed: int = _default("site_energy_seed")

    def __post_init__(self) -> None:
        _core.validate_barrier_model(self.as_dict())

    def __new__(cls, *args, **kwargs):
        # An unknown keyword would otherwise be a bare TypeError from the dataclass __init__.
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))
        if unknown:
            raise invalid(unknown[0], "is not a BarrierModel parameter")
        return super().__new__(cls)

    @classmethod
    def uniform(cls, barrier_ev: float) -> BarrierModel:
        """Hard-core lattice gas: every open path has ``barrier_ev``, no site energies."""
        return cls.from_dict(_core.uniform_barrier_model(float(barrier_ev)))

    @classmethod
    def from_dict(cls, d: dict) -> BarrierModel:
        """From a dict of fields (lists become tuples)."""
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)

    def replace(self, **changes) -> BarrierModel:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
