"""Degradation over cycling: TM migration, O loss, densification and capacity fade.

A slab (``Lattice(..., geometry="slab")``: periodic in x and y, surfaces normal to z) is
charged and discharged through its surfaces. Each cycle:

1. **Charge** to ``charge_cutoff_V``: Li leave from the sites the Li network connects to a
   surface (least bound first), each with one electron from the lowest redox level left — a
   TM level (``redox_potential_V``, spread over sites by ``redox_width_V``) or an O level
   (labile O, from ``o_redox_voltage_V`` over ``o_redox_width_V``) — until the next level
   lies above the cut-off, or no reachable Li or no level is left.
2. **Hold** ``charge_time_s`` at the charged state: structural events by kinetic Monte Carlo —
   TMs hop octahedral → tetrahedral → octahedral into empty octahedra (barrier by species
   and oxidation state, raised by Li on the tetrahedron's spectators, closed by TM
   spectators, driven by the local electroneutrality of the anions in the KRA form, so
   detailed balance holds); oxidised surface O leaves (faster with fewer TM neighbours,
   from the surface inward through its own vacancies) and its two electrons reduce the TMs
   around the vacancy, which makes them mobile.
3. **Discharge** to ``discharge_cutoff_V`` and hold ``discharge_time_s``.

Li hop in nanoseconds and TMs in milliseconds to years, so the Li are taken as equilibrated
between structural events (quasi-equilibrium / multi-timescale kMC): the event rates use the
exact equilibrium Li occupancies of the barrier model (Li interact only through site
energies). A TM path faster than ``equilibrated_hops`` per hold is equilibrated within it (its
barrier raised, detailed balance kept); each cycle reports how many hops ran so
(``tm_hops_equilibrated_cycle``) and the Li/TM rate ratio (``li_tm_rate_ratio``, ≫ 1 when the
time scales separate). A TM path within ``min_timescale_ratio`` of the Li hop rate falls back
to being equilibrated with the Li (raised until it runs that many times slower than the Li);
a hold too short for that is flagged (``timescales_separated``, :class:`TimescaleWarning`).
Nothing scripts a fade: capacity changes only through the events, and TM
migration may open 0-TM channels as well as close them.

Diffusivities of the cycled slab (D*, D_J, D_chem at a reference Li content and temperature)
are measured by the Li kMC after chosen cycles: :meth:`Cycling.diffusivity` once, or
``Cycling.run(cycles, diffusivity=DiffusivityProbe(...))`` as columns of the results.

Every default cites its source (or says it is an assumption) in
``rust/drxkmc-core/src/degradation/model.rs``. Physics: ``docs/design.md#degradation``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc._files import read_checkpoint, write_checkpoint
from drxkmc.configuration import Configuration
from drxkmc.errors import InvalidParameterError, invalid
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.simulation import DEFAULT_MAX_HOPS, TARGETS, ConvergenceWarning, Simulation

__all__ = ["CyclingProtocol", "Cycling", "DegradationModel", "DiffusivityProbe", "TimescaleWarning"]


class TimescaleWarning(UserWarning):
    """In some cycles a TM path as fast as the Li was neither separated from them nor
    equilibrated within a hold (``timescales_separated`` is false): the hold was shorter than
    ``equilibrated_hops × min_timescale_ratio`` Li hop times."""


_MODEL_DEFAULTS = _core.default_degradation_model()
_PROTOCOL_DEFAULTS = _core.default_cycling_protocol()


def _default(defaults: dict, name: str):
    value = defaults[name]
    if isinstance(value, (dict, list)):
        return field(default_factory=lambda: type(value)(value))
    return field(default=value)


def _is_str_list(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


class _Parameters:
    """Shared behaviour of the parameter dataclasses: validation by the core, dict views."""

    _validate_core: Any

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, bool) or (f.name == "redox_order" and not _is_str_list(value)):
                what = "a list of TM symbols" if f.name == "redox_order" else "a number"
                raise invalid(f.name, f"must be {what}, got {value!r}")
            if isinstance(value, dict) and any(isinstance(v, bool) for v in value.values()):
                raise invalid(f.name, f"values must be numbers, got {value!r}")
        type(self)._validate_core(self.as_dict())

    def __new__(cls, *args, **kwargs):
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))  # type: ignore[attr-defined]
        if unknown:
            raise invalid(unknown[0], f"is not a {cls.__name__} parameter")
        return super().__new__(cls)

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        if "redox_order" in out:
            out["redox_order"] = list(out["redox_order"])
        return out

    def replace(self, **changes):
        """A copy with some fields changed (validated)."""
        unknown = sorted(set(changes) - set(self.__dataclass_fields__))  # type: ignore[attr-defined]
        if unknown:
            raise invalid(unknown[0], f"is not a {type(self).__name__} parameter")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def from_dict(cls, d: dict):
        check.instance(cls.__name__, d, dict, f"dict of {cls.__name__} fields")
        return cls(**d)


@dataclass(frozen=True)
class DegradationModel(_Parameters):
    """Parameters of TM migration, O loss, redox levels and dissolution (eV, s⁻¹, nm, V);
    defaults and their sources in ``rust/drxkmc-core/src/degradation/model.rs``.

    ``migration_barrier_eV`` maps ``"Mn2+"``-style keys to KRA barriers; other species and
    states take ``default_migration_barrier_eV``. ``tetrahedral_energy_eV`` (default empty:
    off) maps ``"Mn2+"``-style keys to the energy of that TM on a tetrahedral site relative
    to the octahedral one, before the electroneutrality terms (a tetrahedral cation bonds
    its four anions with strength v/4): a listed state can rest in a tetrahedron, entering
    and leaving it as events of their own (KRA barrier ``migration_barrier_eV``, detailed
    balance kept; the tetrahedron's four face-sharing octahedra then hold no Li and block
    Li and TM paths); other states keep the tetrahedron as their transition state.
    ``spectator_li_eV`` is added per Li on a
    spectator of the TM's tetrahedron; ``electroneutrality_eV`` is J of
    E = J·Σ_anions (Q − 6|q|)². O leaves with barrier ``o_loss_barrier_eV`` +
    ``o_loss_tm_neighbour_eV`` per TM neighbour, from at most ``o_loss_depth_nm`` below a
    surface. An O with at most ``labile_o_max_tm`` TM neighbours is labile: it can give one
    electron (O redox) at a level between ``o_redox_voltage_V`` and that plus
    ``o_redox_width_V`` (so a lower charge cut-off oxidises and loses no O), and only labile,
    oxidised O can leave; an O hole is refilled ``o_redox_hysteresis_V`` lower on discharge
    (the O-redox voltage hysteresis). ``redox_potential_V`` maps ``"Mn3+"``-style keys to the mean
    voltage at which that state is oxidised (Mn³⁺ → Mn⁴⁺), others take
    ``default_redox_potential_V``; each site's level is spread uniformly over
    ``redox_width_V``. ``redox_order``, if given, makes the listed TMs give their electrons
    first, in that order and before any O level, whatever their levels. With
    ``dissolution_barrier_eV`` set (default None: off), a TM in state 2+ with at most
    ``dissolution_max_anions`` anion neighbours (a reduced surface Mn²⁺) dissolves with one
    O neighbour (an MO unit; its cation site leaves with it). A TM path faster than
    ``equilibrated_hops`` per hold is equilibrated within it, and one within
    ``min_timescale_ratio`` of the Li 0-TM hop rate (where Li fluctuate) is raised until it is
    that much slower than the Li (0: no such fall-back); both keep detailed balance. Bad
    values raise :class:`drxkmc.InvalidParameterError` naming the field."""

    attempt_frequency_hz: float = _default(_MODEL_DEFAULTS, "attempt_frequency_hz")
    migration_barrier_eV: dict = _default(_MODEL_DEFAULTS, "migration_barrier_eV")
    default_migration_barrier_eV: float = _default(_MODEL_DEFAULTS, "default_migration_barrier_eV")
    tetrahedral_energy_eV: dict = _default(_MODEL_DEFAULTS, "tetrahedral_energy_eV")
    spectator_li_eV: float = _default(_MODEL_DEFAULTS, "spectator_li_eV")
    electroneutrality_eV: float = _default(_MODEL_DEFAULTS, "electroneutrality_eV")
    o_loss_barrier_eV: float = _default(_MODEL_DEFAULTS, "o_loss_barrier_eV")
    o_loss_tm_neighbour_eV: float = _default(_MODEL_DEFAULTS, "o_loss_tm_neighbour_eV")
    o_loss_depth_nm: float = _default(_MODEL_DEFAULTS, "o_loss_depth_nm")
    labile_o_max_tm: int = _default(_MODEL_DEFAULTS, "labile_o_max_tm")
    o_redox_voltage_V: float = _default(_MODEL_DEFAULTS, "o_redox_voltage_V")
    o_redox_width_V: float = _default(_MODEL_DEFAULTS, "o_redox_width_V")
    o_redox_hysteresis_V: float = _default(_MODEL_DEFAULTS, "o_redox_hysteresis_V")
    redox_potential_V: dict = _default(_MODEL_DEFAULTS, "redox_potential_V")
    default_redox_potential_V: float = _default(_MODEL_DEFAULTS, "default_redox_potential_V")
    redox_width_V: float = _default(_MODEL_DEFAULTS, "redox_width_V")
    redox_order: list = _default(_MODEL_DEFAULTS, "redox_order")
    dissolution_barrier_eV: float | None = _default(_MODEL_DEFAULTS, "dissolution_barrier_eV")
    dissolution_max_anions: int = _default(_MODEL_DEFAULTS, "dissolution_max_anions")
    equilibrated_hops: float = _default(_MODEL_DEFAULTS, "equilibrated_hops")
    min_timescale_ratio: float = _default(_MODEL_DEFAULTS, "min_timescale_ratio")

    _validate_core = staticmethod(_core.validate_degradation_model)

    @classmethod
    def inert(cls) -> DegradationModel:
        """Every event off (barriers of 100 eV): the no-degradation reference."""
        return cls(
            migration_barrier_eV={}, default_migration_barrier_eV=100.0, o_loss_barrier_eV=100.0
        )


@dataclass(frozen=True)
class CyclingProtocol(_Parameters):
    """One cycle: charge to ``charge_cutoff_V`` or, if given, ``charge_capacity_limit_mAh_g``,
    whichever is reached first, hold ``charge_time_s``, discharge to
    ``discharge_cutoff_V``, hold ``discharge_time_s``, at ``temperature_K``. With
    ``current_mA_g`` the charge and discharge run at that current in 5 mAh/g increments, the
    structural events running at every intermediate state (so a slow current spends longer
    at high voltage); without it (default) each step is an equilibrium reached at once. Voltages are
    V vs Li/Li⁺, on the scale of the redox levels of :class:`DegradationModel`;
    ``li_timescale_s`` sets which Li paths carry Li during a step. Defaults and sources in
    the core."""

    charge_cutoff_V: float = _default(_PROTOCOL_DEFAULTS, "charge_cutoff_V")
    discharge_cutoff_V: float = _default(_PROTOCOL_DEFAULTS, "discharge_cutoff_V")
    charge_time_s: float = _default(_PROTOCOL_DEFAULTS, "charge_time_s")
    discharge_time_s: float = _default(_PROTOCOL_DEFAULTS, "discharge_time_s")
    charge_capacity_limit_mAh_g: float | None = _default(
        _PROTOCOL_DEFAULTS, "charge_capacity_limit_mAh_g"
    )
    current_mA_g: float | None = _default(_PROTOCOL_DEFAULTS, "current_mA_g")
    temperature_K: float = _default(_PROTOCOL_DEFAULTS, "temperature_K")
    li_timescale_s: float = _default(_PROTOCOL_DEFAULTS, "li_timescale_s")

    _validate_core = staticmethod(_core.validate_cycling_protocol)

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except InvalidParameterError as e:
            # The cut-offs are checked against each other; name the one the user changed.
            default = _PROTOCOL_DEFAULTS["discharge_cutoff_V"]
            if e.field == "discharge_cutoff_V" and self.discharge_cutoff_V == default:
                raise invalid(
                    "charge_cutoff_V",
                    f"must be above discharge_cutoff_V ({default} V), got {self.charge_cutoff_V} V",
                ) from None
            raise


#: Default relative error of a probe's target diffusivity (its hop budget is that of
#: ``Simulation.run``, ``DEFAULT_MAX_HOPS``: costs measured in docs/design.md#degradation).
PROBE_PRECISION = 0.1


@dataclass(frozen=True)
class DiffusivityProbe:
    """Measure the Li diffusivities of the cycled slab after every ``every``-th cycle
    (cycles ``every``, ``2·every``, …, counted from the start of the run, so a resumed run
    measures the same cycles): pass it to :meth:`Cycling.run` as ``diffusivity=``.

    The slab as it is at the end of the cycle is (de)lithiated electrochemically to
    ``li_content`` Li per formula unit of the as-made material
    (:meth:`Configuration.with_li_content`, on the run's Li network and time scale
    ``CyclingProtocol.li_timescale_s``) and a :class:`~drxkmc.Simulation` at ``temperature_K``
    (default: the protocol's) measures D*, D_J, the thermodynamic factor and D_chem to
    ``precision`` (relative standard error of ``target``: ``"D_tracer"``, ``"D_jump"`` or
    ``"D_chem"``; default ``PROBE_PRECISION``) within ``max_hops`` measured hops, or for a fixed
    ``hops``. ``seed`` seeds the sampling and the kMC (the run's own random stream is never
    used). Bad values raise :class:`drxkmc.InvalidParameterError` naming the field.

    Cost: a converged probe of the 8×8×12 slab of ``examples/degradation.py`` takes 20–25 s
    on one core at 600 K (a cycle of it ~0.02 s); at 300 K its MSD is still sub-linear when
    ``max_hops`` runs out (after 1–1.5 min), and ``diffusivity_converged`` says so. Choose
    ``every`` accordingly."""

    li_content: float
    temperature_K: float | None = None
    every: int = 1
    precision: float | None = None
    hops: int | None = None
    max_hops: int = DEFAULT_MAX_HOPS
    target: str = "D_tracer"
    seed: int = 0

    def __new__(cls, *args, **kwargs):
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))  # type: ignore[attr-defined]
        if unknown:
            raise invalid(unknown[0], f"is not a {cls.__name__} parameter")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        canonical = {
            "li_content": check.number("li_content", self.li_content, positive=True),
            "temperature_K": None
            if self.temperature_K is None
            else check.temperature("temperature_K", self.temperature_K),
            "every": check.count("every", self.every),
            "precision": None
            if self.precision is None
            else check.fraction("precision", self.precision),
            "hops": None if self.hops is None else check.count("hops", self.hops),
            "max_hops": check.count("max_hops", self.max_hops),
            "target": check.choice("target", self.target, TARGETS),
            "seed": check.seed(self.seed),
        }
        if self.precision is not None and self.hops is not None:
            raise invalid("hops", "give precision or hops, not both")
        for name, value in canonical.items():
            object.__setattr__(self, name, value)

    def _check_material(self, material: Material) -> None:
        """The Li content must be one the material can hold (its Li plus cation vacancies)."""
        li_max = material.li + material.cation_vacancies
        if self.li_content > li_max + 1e-9:
            raise invalid(
                "li_content",
                f"must be between 0 and {li_max:g} Li per formula unit of "
                f"{material.formula}, got {self.li_content}",
            )


class Cycling:
    """A cycling run of a slab ``config`` (with its material, as made or partly charged).

    ``run(cycles)`` runs more cycles and returns the frame of every cycle so far
    (:attr:`results`); :attr:`profiles` holds the depth profiles at the end of each cycle.
    Ctrl-C during a cycle abandons that cycle only: the completed ones stay in
    :attr:`results` and the run can continue or be saved with :meth:`save_checkpoint`
    (resumed runs are bit-identical to uninterrupted ones; a Cycling also pickles).

    ``barrier_model`` (default ``BarrierModel()``) sets the Li barriers and site energies that
    decide which Li the surfaces reach; ``degradation_model`` and ``protocol`` default to
    ``DegradationModel()`` and ``CyclingProtocol()``; ``seed`` fixes the random stream.

    Its capacity is limited by the redox levels (TM and labile O) below the cut-off as well
    as by the Li the surfaces reach; :func:`drxkmc.extractable_capacity` counts reachable Li
    only, so it is the upper bound of the first charge here."""

    def __init__(
        self,
        config: Configuration,
        barrier_model=None,
        degradation_model: DegradationModel | None = None,
        protocol: CyclingProtocol | None = None,
        seed: int = 0,
    ):
        check.instance("config", config, Configuration, "drxkmc.Configuration")
        if config.material is None:
            raise invalid("config", "needs its material (its redox ranges and mass)")
        if config.lattice.geometry != "slab":
            raise invalid(
                "config",
                "cycling needs a slab (Lattice(..., geometry='slab')): Li and O leave "
                "through its surfaces",
            )
        barrier_model = check.model(barrier_model, "barrier_model")
        degradation_model = DegradationModel() if degradation_model is None else degradation_model
        check.instance("degradation_model", degradation_model, DegradationModel)
        protocol = CyclingProtocol() if protocol is None else protocol
        check.instance("protocol", protocol, CyclingProtocol)
        seed = check.seed(seed)
        self._run = _core.Cycling(
            config._c,
            config.material._c,
            barrier_model._core_dict(),
            degradation_model.as_dict(),
            protocol.as_dict(),
            seed,
        )
        self.material = config.material

    @property
    def cycle(self) -> int:
        """Cycles completed."""
        return self._run.cycle

    @property
    def time_s(self) -> float:
        """Simulated time, s."""
        return self._run.time_s

    def configuration(self) -> Configuration:
        """The slab now (TM valences site-resolved: ``configuration().valences()``). Sites
        lost to densification (:meth:`lost_sites`) show as empty cation sites here; use
        :meth:`diffusion_configuration` for Li transport."""
        return Configuration(self._run.configuration(), self.material)

    def lost_sites(self) -> np.ndarray:
        """Boolean mask (cation order) of the cation sites lost to densification: each O
        released removes one cation site, the rocksalt keeping one cation site per anion."""
        return self._run.lost_sites()

    def diffusion_configuration(self) -> Configuration:
        """The slab now as the run's own Li network sees it, for the Li kMC
        (:class:`~drxkmc.Simulation`, percolation): every lost site (:meth:`lost_sites`)
        carries the code of the first TM (``tm_names[0]``), so no Li is ever put on it and it
        closes each tetrahedron it is a vertex of exactly as a TM does (a 0-TM channel next to
        it becomes 1-TM). A TM resting on a tetrahedral site is replaced the same way by its
        four face-sharing octahedra (empty by construction), which the Li engine, modelling
        octahedral occupancy only, could not take otherwise. As a TM a marked site also adds
        ``site_tm_eV`` to the Li site energy of its twelve neighbours, which the cycling
        run's own Li equilibrium does not (there a lost site is empty): Li next to the
        densified layer are slightly less bound in a probe. Species counts of this
        configuration count marked sites as that TM; TM valences are not carried."""
        return Configuration(self._run.network_configuration(), self.material)

    def diffusivity(
        self,
        li_content: float,
        *,
        temperature_K: float | None = None,
        precision: float | None = None,
        hops: int | None = None,
        max_hops: int = DEFAULT_MAX_HOPS,
        target: str = "D_tracer",
        seed: int = 0,
    ) -> pl.DataFrame:
        """D*, D_J, Θ and D_chem of the slab as it is now (after :attr:`cycle` cycles), at
        ``li_content`` Li per formula unit and ``temperature_K`` (default: the protocol's):
        one row, the columns of ``Simulation.run(...).diffusivity`` plus ``cycle`` and
        ``li_per_fu`` (the Li content reached: ``li_content`` rounded to whole Li). Arguments
        as for :class:`DiffusivityProbe`. The slab has surfaces normal to z, so the
        diffusivities are in-plane (x, y: MSD/(4t)) averages over the whole slab, densified
        surface layers and bulk alike. The run itself is not changed. An unconverged result
        warns (:class:`~drxkmc.ConvergenceWarning`, column ``converged``); a Li content the
        cycled electrode cannot reach raises naming ``li_content``."""
        probe = DiffusivityProbe(
            li_content,
            temperature_K=temperature_K,
            precision=precision,
            hops=hops,
            max_hops=max_hops,
            target=target,
            seed=seed,
        )
        probe._check_material(self.material)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result, state = self._probe(probe)
        for w in caught:  # shown at the caller's line, not inside the probe
            warnings.warn(w.message, w.category, stacklevel=2)
        n_fu = state.lattice.n_cations / self.material.cation_sites
        front = {"cycle": self.cycle, "li_per_fu": state.n_li / n_fu}
        frame = pl.DataFrame([front | result.diffusivity.row(0, named=True)])
        return frame.with_columns(pl.col("cycle").cast(pl.UInt32))

    def _probe(self, probe: DiffusivityProbe):
        """(RunResult, start configuration) of one probe on the slab now."""
        model = BarrierModel._from_core(self._run.barrier_model())
        protocol = self._run.protocol()
        temperature_K = (
            protocol["temperature_K"] if probe.temperature_K is None else probe.temperature_K
        )
        timescale_s = protocol["li_timescale_s"]
        state = self.diffusion_configuration().with_li_content(
            probe.li_content,
            model,
            temperature_K=temperature_K,
            timescale_s=timescale_s,
            seed=probe.seed,
        )
        sim = Simulation(
            state, model, temperature_K=temperature_K, seed=probe.seed, timescale_s=timescale_s
        )
        if probe.hops is not None:
            result = sim.run(hops=probe.hops, progress=False)
        else:
            precision = PROBE_PRECISION if probe.precision is None else probe.precision
            result = sim.run(
                precision=precision, max_hops=probe.max_hops, target=probe.target, progress=False
            )
        if result.interrupted:
            raise KeyboardInterrupt
        return result, state

    def _record_probe(self, probe: DiffusivityProbe) -> bool:
        """Measure after the latest cycle and keep the result in the run; whether it
        converged (False also when the electrode cannot reach the Li content: NaN values)."""
        row: dict[str, Any] = {}
        li_per_fu = probe.li_content
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                result, state = self._probe(probe)
        except InvalidParameterError as e:
            # The cycled electrode cannot reach the Li content, or holds no Li or no empty
            # site to hop into there: nothing to measure at this cycle.
            if e.field not in ("li_content", "config"):
                raise
        else:
            row = result.diffusivity.row(0, named=True)
            li_per_fu = state.n_li / (state.lattice.n_cations / self.material.cation_sites)
        converged = bool(row.get("converged", False))
        if row and probe.hops is None:
            column = TARGETS[probe.target]
            precision = PROBE_PRECISION if probe.precision is None else probe.precision
            err = row[column.replace("_cm2_s", "_err_cm2_s")]
            converged = converged and bool(row[column]) and abs(err / row[column]) <= precision
        nan = float("nan")
        record = {
            "cycle": self.cycle,
            "diffusivity_li_per_fu": li_per_fu,
            "diffusivity_temperature_K": row.get(
                "temperature_K",
                self._run.protocol()["temperature_K"]
                if probe.temperature_K is None
                else probe.temperature_K,
            ),
            **{c: float(row.get(c, nan)) for c in _PROBE_VALUE_COLUMNS},
            "thermodynamic_factor": float(row.get("thermodynamic_factor", nan)),
            "diffusivity_mobile_fraction": float(row.get("mobile_fraction", nan)),
            "diffusivity_hops": int(row.get("hops", 0)),
            "diffusivity_converged": converged,
        }
        self._run.add_diffusivity(record)
        return converged

    def run(
        self,
        cycles: int,
        *,
        progress: bool | None = None,
        diffusivity: DiffusivityProbe | None = None,
    ) -> pl.DataFrame:
        """Run ``cycles`` more cycles; returns :attr:`results` (every cycle so far).

        A progress bar (one step per cycle) shows on a terminal unless ``progress=False``.
        ``diffusivity`` (a :class:`DiffusivityProbe`) measures the slab's diffusivities after
        the cycles it names and adds them to :attr:`results`; without it no kMC runs and the
        run is exactly as before. A probe does not change the run (its state or random
        stream): later cycles are the same with or without it. Ctrl-C during a probe keeps
        its cycle, unmeasured."""
        cycles = check.count("cycles", cycles)
        progress = check.flag("progress", progress) if progress is not None else sys.stderr.isatty()
        if diffusivity is not None:
            check.instance("diffusivity", diffusivity, DiffusivityProbe, "drxkmc.DiffusivityProbe")
            diffusivity._check_material(self.material)
        unconverged: list[int] = []
        start = self.cycle
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cycles, unit="cycle", desc="cycling", leave=False)
        try:
            for _ in range(cycles):
                self._run.run_cycle()
                if diffusivity is not None and self.cycle % diffusivity.every == 0:
                    if not self._record_probe(diffusivity):
                        unconverged.append(self.cycle)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        results = self.results
        self._warn_timescales(results.filter(results["cycle"] > start))
        if unconverged:
            warnings.warn(
                f"the diffusivity of cycle(s) {', '.join(map(str, unconverged))} did not "
                "converge (or the electrode could not reach its Li content: NaN); see "
                "'diffusivity_converged'",
                ConvergenceWarning,
                stacklevel=2,
            )
        return results

    @staticmethod
    def _warn_timescales(new: pl.DataFrame) -> None:
        slow = new.filter(~new["timescales_separated"])
        if slow.height:
            cycles = slow["cycle"].to_list()
            shown = ", ".join(map(str, cycles[:10])) + (" …" if len(cycles) > 10 else "")
            ratio = float(slow["li_tm_rate_ratio"].min())  # type: ignore[arg-type]
            warnings.warn(
                f"in cycle(s) {shown} a TM path ran within a factor {ratio:.3g} of the Li "
                "hop rate ('li_tm_rate_ratio') in a hold too short to equilibrate it "
                "('timescales_separated' is false): neither the Li-equilibrated rates nor the "
                "fall-back hold there. Lengthen the holds (charge_time_s, discharge_time_s) "
                "or lower current_mA_g to beyond equilibrated_hops × min_timescale_ratio Li "
                "hop times.",
                TimescaleWarning,
                stacklevel=3,
            )

    @property
    def results(self) -> pl.DataFrame:
        """One row per completed cycle; units in the column names.

        - ``time_s``: simulated time at the end of the cycle: the two holds, plus charge and
          discharge when they run at ``current_mA_g`` (otherwise they are instant equilibria).
        - ``charge_capacity_mAh_g``, ``discharge_capacity_mAh_g``: per gram of the as-made
          material; ``coulombic_efficiency`` = discharge/charge of the cycle, ``retention`` =
          discharge over that of cycle 1.
        - ``li_per_fu_charged``/``_discharged``, ``end_of_charge_V``/``end_of_discharge_V``
          and ``charge_limited_by``/``discharge_limited_by``: where each step stopped and why
          — "voltage" (the next redox level lies beyond the cut-off), "redox" (no level
          left), "li" (no reachable Li left to remove, or no reachable empty site to fill) or
          "capacity" (``charge_capacity_limit_mAh_g``).
        - ``mean_charge_voltage_V``/``mean_discharge_voltage_V``: mean level of the electrons
          moved (its fall over cycles is voltage fade); ``discharge_energy_Wh_kg`` = discharge
          capacity × mean discharge voltage.
        - ``accessible_li_fraction``: Li on the network that reaches a surface (on the Li
          time scale) over all Li; ``zero_tm_li_fraction``: the same on the 0-TM network.
          Both at the discharged state.
        - ``o_lost_per_fu``, ``cation_sites_lost_per_fu``: cumulative, per formula unit;
          ``o_lost_cycle``, ``tm_hops_cycle`` (and ``tm_hops_equilibrated_cycle``, those on a
          raised barrier), ``tm_migrated`` (TMs off their as-made site; it grows with
          ``DegradationModel.equilibrated_hops``, so compare it at equal settings): atoms in
          the slab;
          ``tm_dissolved_per_fu`` (cumulative) and ``tm_dissolved_cycle``: TMs dissolved.
        - ``mean_tm_valence_charged``/``_discharged``: redox-active TMs; ``o_holes_per_fu_charged``.
        - ``densified_depth_nm``: from each surface down to the deepest plane that lost at
          least 1/6 of its cation sites to densification (so ≥ 1.2× the as-made TM per site),
          mean of the two surfaces; lost sites stay lost, so it never shrinks.
        - ``tm_tetrahedral``: TMs on tetrahedral sites at the end of the cycle (0 unless
          ``DegradationModel.tetrahedral_energy_eV`` lists a state, or the run started with
          some); they count in ``tm_migrated`` and, in the depth profiles' ``tm_fraction``,
          in the shallower of the two planes their tetrahedron spans.
        - ``li_tm_rate_ratio``: Li 0-TM hop rate over the fastest TM path at its own
          (unraised) barrier where Li fluctuate (∞: none): how far apart the physical time
          scales are. Paths within ``DegradationModel.min_timescale_ratio`` of the Li ran
          raised — by the hold's floor (``equilibrated_hops``) in holds of seconds and more,
          else by the time-scale fall-back — with detailed balance kept.
          ``timescales_separated``: false when the fall-back raised a path in a hold too short
          to equilibrate it (:class:`TimescaleWarning`).
        - Only once a :class:`DiffusivityProbe` has measured (null on cycles not measured):
          ``diffusivity_li_per_fu`` and ``diffusivity_temperature_K`` of the measurement,
          in-plane ``D_tracer_cm2_s``, ``D_jump_cm2_s``, ``D_chem_cm2_s`` with their
          ``_err_cm2_s`` standard errors, ``thermodynamic_factor``,
          ``diffusivity_mobile_fraction`` (Li on clusters spanning the slab in-plane),
          ``diffusivity_hops`` and ``diffusivity_converged`` (MSD linear, stationary and, in
          precision mode, the precision reached; False with NaN values when the cycled
          electrode could not reach the Li content, or had no Li or no empty site to hop
          into there).
        """
        records = self._run.records()
        if records:
            frame = pl.DataFrame(records, schema_overrides=_RESULT_SCHEMA, strict=False)
        else:
            frame = pl.DataFrame(schema=_RESULT_SCHEMA)
        first = frame["discharge_capacity_mAh_g"].first() if records else None
        frame = frame.with_columns(
            coulombic_efficiency=pl.col("discharge_capacity_mAh_g")
            / pl.col("charge_capacity_mAh_g"),
            retention=pl.col("discharge_capacity_mAh_g") / pl.lit(first, dtype=pl.Float64),
        )
        order = [c for c in _COLUMN_ORDER if c in frame.columns]
        frame = frame.select(order + [c for c in frame.columns if c not in order])
        probes = self._run.diffusivity_records()
        if probes:
            measured = pl.DataFrame(probes, schema=_PROBE_SCHEMA)
            frame = frame.join(measured, on="cycle", how="left")
        return frame

    @property
    def profiles(self) -> pl.DataFrame:
        """Per cycle and depth (surface = 0 nm, both surfaces averaged): Li, TM, O-vacancy,
        accessible-site and lost-site fractions at the end of the cycle."""
        frames = [
            pl.DataFrame(p).with_columns(cycle=pl.lit(k + 1, dtype=pl.UInt32))
            for k, p in enumerate(self._run.profiles())
        ]
        if not frames:
            return pl.DataFrame(schema=_PROFILE_SCHEMA)
        return pl.concat(frames).select(list(_PROFILE_SCHEMA))

    @property
    def events(self) -> pl.DataFrame:
        """The event log, summed per cycle: ``event`` ("tm_hop", "o_loss" or
        "dissolution") of ``species`` (a TM in its state before the event, e.g. "Mn2+"; "O"),
        ``count`` events, ``equilibrated`` of them on a raised barrier (TM hops only). Which
        TMs move, and when, says why a run fades: e.g.
        ``c.events.group_by("event", "species").agg(pl.col("count").sum())``."""
        rows = self._run.events()
        if not rows:
            return pl.DataFrame(schema=_EVENT_SCHEMA)
        return pl.DataFrame(rows, schema_overrides=_EVENT_SCHEMA).select(list(_EVENT_SCHEMA))

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the run (state, generator, history and material) to ``path`` atomically;
        :meth:`load_checkpoint` continues it bit-identically."""
        write_checkpoint(path, self._run.checkpoint())

    @classmethod
    def load_checkpoint(cls, path: str | os.PathLike) -> Cycling:
        """Resume a run saved by :meth:`save_checkpoint`. A file that is not a complete,
        undamaged cycling checkpoint raises :class:`drxkmc.InvalidParameterError` with
        ``.field == "checkpoint"``."""
        data = read_checkpoint(path)
        return _from_checkpoint_bytes(data)

    def __reduce__(self):
        # Pickles (for process pools and Dask) as its checkpoint: bit-identical on arrival.
        return (_from_checkpoint_bytes, (self._run.checkpoint(),))

    def __repr__(self) -> str:
        return f"Cycling({self.material.formula}, {self.cycle} cycles, {self.time_s:.3g} s)"


def _from_checkpoint_bytes(data: bytes) -> Cycling:
    self = Cycling.__new__(Cycling)
    self._run = _core.Cycling.from_checkpoint(bytes(data))
    composition = self._run.material()
    self.material = Material(composition, dict(composition.oxidation_overrides))
    return self


_RESULT_SCHEMA = {
    "cycle": pl.UInt32,
    "time_s": pl.Float64,
    "charge_capacity_mAh_g": pl.Float64,
    "discharge_capacity_mAh_g": pl.Float64,
    "li_per_fu_charged": pl.Float64,
    "li_per_fu_discharged": pl.Float64,
    "end_of_charge_V": pl.Float64,
    "end_of_discharge_V": pl.Float64,
    "charge_limited_by": pl.String,
    "discharge_limited_by": pl.String,
    "mean_charge_voltage_V": pl.Float64,
    "mean_discharge_voltage_V": pl.Float64,
    "discharge_energy_Wh_kg": pl.Float64,
    "accessible_li_fraction": pl.Float64,
    "zero_tm_li_fraction": pl.Float64,
    "o_lost_per_fu": pl.Float64,
    "o_lost_cycle": pl.UInt64,
    "tm_hops_cycle": pl.UInt64,
    "tm_hops_equilibrated_cycle": pl.UInt64,
    "tm_migrated": pl.UInt64,
    "cation_sites_lost_per_fu": pl.Float64,
    "tm_dissolved_per_fu": pl.Float64,
    "tm_dissolved_cycle": pl.UInt64,
    "tm_tetrahedral": pl.UInt64,
    "mean_tm_valence_charged": pl.Float64,
    "mean_tm_valence_discharged": pl.Float64,
    "o_holes_per_fu_charged": pl.Float64,
    "densified_depth_nm": pl.Float64,
    "li_tm_rate_ratio": pl.Float64,
    "timescales_separated": pl.Boolean,
}
_COLUMN_ORDER = [
    "cycle",
    "time_s",
    "charge_capacity_mAh_g",
    "discharge_capacity_mAh_g",
    "coulombic_efficiency",
    "retention",
]
_PROBE_VALUE_COLUMNS = [
    "D_tracer_cm2_s",
    "D_tracer_err_cm2_s",
    "D_jump_cm2_s",
    "D_jump_err_cm2_s",
    "D_chem_cm2_s",
    "D_chem_err_cm2_s",
]
_PROBE_SCHEMA = {
    "cycle": pl.UInt32,
    "diffusivity_li_per_fu": pl.Float64,
    "diffusivity_temperature_K": pl.Float64,
    **{c: pl.Float64 for c in _PROBE_VALUE_COLUMNS},
    "thermodynamic_factor": pl.Float64,
    "diffusivity_mobile_fraction": pl.Float64,
    "diffusivity_hops": pl.UInt64,
    "diffusivity_converged": pl.Boolean,
}
_EVENT_SCHEMA = {
    "cycle": pl.UInt32,
    "event": pl.String,
    "species": pl.String,
    "count": pl.UInt64,
    "equilibrated": pl.UInt64,
}
_PROFILE_SCHEMA = {
    "cycle": pl.UInt32,
    "depth_nm": pl.Float64,
    "li_fraction": pl.Float64,
    "tm_fraction": pl.Float64,
    "o_vacancy_fraction": pl.Float64,
    "accessible_fraction": pl.Float64,
    "lost_site_fraction": pl.Float64,
}
