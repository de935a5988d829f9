"""Cycling runs as plain data, in folders that survive being killed: :class:`CyclingSpec` and
:func:`cycle_or_resume` (``drxkmc cycle SPEC.toml`` on the command line).

A spec says everything a degradation run needs, in sections::

    [material]
    formula = "Li1.2Mn0.4Ti0.4O2"

    [lattice]
    size = [8, 8, 12]             # conventional cells; a slab, its surfaces normal to z
    a = 4.15                      # Å

    [configuration]
    kind = "annealed"             # "random", "annealed" or "file"
    anneal_temperature_K = 1300

    [model]                       # BarrierModel fields that differ from the defaults
    [degradation]                 # DegradationModel fields that differ from the defaults
    o_loss_barrier_eV = 1.0
    [protocol]                    # CyclingProtocol fields that differ from the defaults
    charge_cutoff_V = 4.6

    [run]
    cycles = 1000
    seed = 1

    [output]
    checkpoint_minutes = 10

The folder holds the spec (``cycling.toml``), the latest checkpoint and the one before it
(taken between cycles; a cycling checkpoint is the whole run: structure, generator, every
cycle's record) and, once the run is done, ``cycles.parquet`` (one row per cycle, the
columns of :attr:`drxkmc.Cycling.results`), ``profiles.parquet`` (per cycle and depth) and
``events.parquet`` (the event log per cycle, kind and species), with the spec, units and drxkmc version in their Parquet metadata. A run killed at any moment
(SIGKILL included) and resumed gives the same frames, bit for bit, as one that never stopped.
``run.cycles`` may be raised between a run and its resumption, to extend a finished run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from drxkmc import _validate as check
from drxkmc._files import atomic_write
from drxkmc._folders import (
    CHECKPOINT_FILE,
    LOCK_FILE,
    checkpoint_files,
    claim_folder,
    folder_lock,
    latest_checkpoint,
    save_checkpoint,
    spec_folder,
    stop_between_steps,
    write_frames,
)
from drxkmc._specfiles import SpecFile, dumps, flat_from_sections, key_name, plain, renamed
from drxkmc.configuration import Configuration
from drxkmc.degradation import (
    Cycling,
    CyclingProtocol,
    DegradationModel,
    DiffusivityProbe,
    _from_checkpoint_bytes,
)
from drxkmc.errors import DrxkmcError, invalid
from drxkmc.lattice import DEFAULT_A_ANGSTROM
from drxkmc.model import BarrierModel
from drxkmc.runs import RunInterrupted, build_configuration
from drxkmc.simulation import ConvergenceWarning
from drxkmc.spec import SECTIONS as RUN_SPEC_SECTIONS
from drxkmc.spec import RunSpec

__all__ = ["CyclingSpec", "cycle_or_resume", "cycling_status", "load_cycling"]

log = logging.getLogger("drxkmc")

SPEC_FILE = "cycling.toml"
RESULTS_FILE = "cycles.parquet"
PROFILES_FILE = "profiles.parquet"
EVENTS_FILE = "events.parquet"
#: Most cycles a run may ask for.
MAX_CYCLES = 2**32 - 1

#: File sections and the field each key sets (``model``, ``degradation`` and ``protocol``
#: take the fields of BarrierModel, DegradationModel and CyclingProtocol).
_KEYS: dict[str, tuple[str, str]] = {
    "formula": ("material", "formula"),
    "oxidation_states": ("material", "oxidation_states"),
    "size": ("lattice", "size"),
    "a": ("lattice", "a"),
    "configuration": ("configuration", "kind"),
    "structure_file": ("configuration", "file"),
    "anneal_temperature_K": ("configuration", "anneal_temperature_K"),
    "anneal_sweeps": ("configuration", "anneal_sweeps"),
    "config_seed": ("configuration", "seed"),
    "cycles": ("run", "cycles"),
    "seed": ("run", "seed"),
    "checkpoint_minutes": ("output", "checkpoint_minutes"),
}
_TABLES = ("model", "degradation", "protocol", "diffusivity")
SECTIONS = ("material", "lattice", "configuration", *_TABLES, "run", "output")
_BARRIER_FIELDS = set(BarrierModel.__dataclass_fields__)


@dataclass(frozen=True)
class CyclingSpec(SpecFile):
    """One cycling run as plain data (units in the names).

    The slab: ``formula`` (and ``oxidation_states``), ``size`` (three cell counts, the third
    normal to the surfaces), ``a`` (Å); ``configuration`` ``"random"``, ``"annealed"`` (at
    ``anneal_temperature_K`` for ``anneal_sweeps`` sweeps: synthesis short-range order) or
    ``"file"`` (``structure_file``; its lattice must be a slab), seeded by ``config_seed``
    (default ``seed``), as made (fully lithiated). ``model``, ``degradation`` and
    ``protocol``: the fields of :class:`drxkmc.BarrierModel`, :class:`drxkmc.DegradationModel`
    and :class:`drxkmc.CyclingProtocol` that differ from their cited defaults;
    ``diffusivity`` (optional): the fields of a :class:`drxkmc.DiffusivityProbe`, whose
    measurements join the per-cycle results. ``cycles`` to
    run, ``seed`` of the run, ``checkpoint_minutes`` between checkpoints (0: after every
    cycle). Every value is checked here; a bad one raises
    :class:`drxkmc.InvalidParameterError` naming it (``section.key`` when read from a file).
    """

    formula: str
    oxidation_states: Mapping[str, float] | None = None
    size: tuple[int, int, int] = (8, 8, 12)
    a: float = DEFAULT_A_ANGSTROM
    configuration: str = "annealed"
    structure_file: str | None = None
    anneal_temperature_K: float | None = 1300.0
    anneal_sweeps: int = 100
    config_seed: int | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    degradation: Mapping[str, Any] = field(default_factory=dict)
    protocol: Mapping[str, Any] = field(default_factory=dict)
    diffusivity: Mapping[str, Any] = field(default_factory=dict)
    cycles: int = 100
    seed: int = 0
    checkpoint_minutes: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.size, (list, tuple)) and len(self.size) == 3:
            object.__setattr__(self, "size", tuple(self.size))
        elif not isinstance(self.size, int) or isinstance(self.size, bool):
            raise invalid("size", f"must be three cell counts [L1, L2, Lz], got {self.size!r}")
        if not isinstance(self.model, Mapping):
            raise invalid("model", f"must be a table of BarrierModel fields, got {self.model!r}")
        for key in self.model:
            if key not in _BARRIER_FIELDS:
                raise invalid(f"model.{key_name(key)}", "is not a BarrierModel field")
        # The slab is what a RunSpec of a slab builds: its checks, named as here.
        anneal = self.anneal_temperature_K if self.configuration == "annealed" else None
        try:
            run_spec = RunSpec(
                formula=self.formula,
                oxidation_states=self.oxidation_states,
                size=self.size,
                a=self.a,
                geometry="slab",
                configuration=self.configuration,
                structure_file=self.structure_file,
                anneal_temperature_K=anneal,
                anneal_sweeps=self.anneal_sweeps,
                config_seed=self.config_seed,
                model=self.model,
                seed=self.seed,
            )
        except DrxkmcError as err:
            if getattr(err, "field", "") in _BARRIER_FIELDS:
                raise renamed(err, f"model.{err.field}") from None
            raise
        for name in ("formula", "oxidation_states", "structure_file", "model"):
            object.__setattr__(self, name, getattr(run_spec, name))
        object.__setattr__(self, "anneal_temperature_K", anneal)
        size, a = run_spec.size, run_spec.a
        if isinstance(size, int):  # cells per side
            size = (size, size, size)
        if run_spec.configuration == "file":  # the file's slab replaces size and a
            lattice = _file_lattice(run_spec)
            size, a = tuple(lattice.size), lattice.a
            run_spec = run_spec.replace(size=size, a=a)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "_structure", run_spec)
        object.__setattr__(
            self, "degradation", _table("degradation", self.degradation, DegradationModel)
        )
        metals = run_spec.material().transition_metals
        for name in self.degradation.get("redox_order", ()):
            if name not in metals:
                raise invalid(
                    "degradation.redox_order",
                    f"{name!r} is not a transition metal of {self.formula} ({', '.join(metals)})",
                )
        object.__setattr__(self, "protocol", _table("protocol", self.protocol, CyclingProtocol))
        if not isinstance(self.diffusivity, Mapping):
            raise invalid(
                "diffusivity",
                f"must be a table of DiffusivityProbe fields, got {self.diffusivity!r}",
            )
        if self.diffusivity:
            try:
                DiffusivityProbe(**self.diffusivity)._check_material(run_spec.material())
            except DrxkmcError as err:
                raise renamed(err, f"diffusivity.{getattr(err, 'field', 'diffusivity')}") from None
            except TypeError:  # a missing required field
                raise invalid(
                    "diffusivity.li_content", "is required (Li per formula unit)"
                ) from None
        object.__setattr__(self, "diffusivity", dict(self.diffusivity))
        cycles = check.count("cycles", self.cycles)
        if cycles > MAX_CYCLES:  # the per-cycle records count cycles in 32 bits
            raise invalid("cycles", f"must be at most {MAX_CYCLES:,}, got {cycles:,}")
        object.__setattr__(self, "cycles", cycles)
        thickness_nm = self.size[2] * self.a / 10.0
        depth_nm = DegradationModel.from_dict(dict(self.degradation)).o_loss_depth_nm
        if depth_nm > thickness_nm:
            # Name what the user set: the depth if they chose it, else the lattice.
            chosen = "o_loss_depth_nm" in self.degradation
            raise invalid(
                "degradation.o_loss_depth_nm" if chosen else "size",
                f"{depth_nm} nm is deeper than the slab ({thickness_nm:.2f} nm thick, size "
                f"{list(self.size)}): give a thicker lattice or a smaller o_loss_depth_nm",
            )
        object.__setattr__(self, "seed", check.seed(self.seed))
        object.__setattr__(
            self,
            "checkpoint_minutes",
            check.number("checkpoint_minutes", self.checkpoint_minutes, unit="min", minimum=0.0),
        )

    # ----- conversions ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "spec") -> CyclingSpec:
        """From the nested form of a spec file (the sections above). Errors name the key as
        ``section.key`` and start with ``source`` (the file name)."""
        try:
            return cls(**_flat_from_sections(data))
        except DrxkmcError as err:
            name = getattr(err, "field", "spec")
            key = ".".join(_KEYS[name]) if name in _KEYS else name
            raise renamed(err, key, f"{source}: ") from None

    def to_dict(self) -> dict[str, Any]:
        """The nested form (sections); unset (None) values and empty tables are left out, and
        so are the lattice of a structure file (the file's) and annealing settings of a slab
        that is not annealed."""
        skip = set()
        if self.configuration == "file":
            skip |= {"size", "a"}
        if self.configuration != "annealed":
            skip |= {"anneal_temperature_K", "anneal_sweeps"}
        out: dict[str, dict[str, Any]] = {}
        for name, (section, key) in _KEYS.items():
            value = getattr(self, name)
            if value is not None and name not in skip:
                out.setdefault(section, {})[key] = plain(value)
        for table in _TABLES:
            if getattr(self, table):
                out[table] = plain(dict(getattr(self, table)))
        return {s: out[s] for s in SECTIONS if s in out}

    def replace(self, **changes: Any) -> CyclingSpec:
        """A copy with some fields changed, validated. A table (``model``, ``degradation``,
        ``protocol``, ``diffusivity``) replaces the whole table: to change one field, give
        ``protocol={**spec.protocol, "charge_cutoff_V": 4.6}``."""
        return dataclasses.replace(self, **changes)

    # ----- what the spec builds -----------------------------------------------------------

    def build(self) -> Cycling:
        """The cycling run of this spec, before its first cycle."""
        structure: RunSpec = self._structure  # type: ignore[attr-defined]
        config = build_configuration(structure)
        try:
            return Cycling(
                config,
                structure.barrier_model(),
                DegradationModel.from_dict(dict(self.degradation)),
                CyclingProtocol.from_dict(dict(self.protocol)),
                seed=self.seed,
            )
        except DrxkmcError as err:  # a check that needs the slab (e.g. a d⁰ metal in redox_order)
            name = getattr(err, "field", "")
            for section, cls in (("degradation", DegradationModel), ("protocol", CyclingProtocol)):
                if name in cls.__dataclass_fields__:
                    raise renamed(err, f"{section}.{name}") from None
            raise


def _file_lattice(spec: RunSpec):
    """The lattice of a spec's structure file, which must be a slab."""
    assert spec.structure_file is not None  # the spec checked it
    lattice = Configuration.from_file(spec.structure_file, material=spec.material()).lattice
    if lattice.geometry != "slab":
        raise invalid(
            "structure_file",
            f"{spec.structure_file!r} holds a {lattice.geometry} cell; cycling needs a slab "
            "(surfaces normal to its third axis)",
        )
    return lattice


def _table(section: str, value: Any, cls: Any) -> dict[str, Any]:
    """The fields of a parameter table that differ from the defaults, checked by ``cls``
    (errors named ``section.field``)."""
    if not isinstance(value, Mapping):
        raise invalid(section, f"must be a table of {cls.__name__} fields, got {value!r}")
    table = dict(value)
    try:
        defaults = cls().as_dict()
        cls.from_dict(table)
    except DrxkmcError as err:
        raise renamed(err, f"{section}.{getattr(err, 'field', section)}") from None
    # Only what differs from the defaults: the same run is always the same spec.
    return {k: v for k, v in table.items() if v != defaults[k]}


def _flat_from_sections(data: Any) -> dict[str, Any]:
    tables = {
        "model": ("BarrierModel field", _BARRIER_FIELDS),
        # Checked, and named, by their classes.
        "degradation": ("DegradationModel field", None),
        "protocol": ("CyclingProtocol field", None),
        "diffusivity": ("DiffusivityProbe field", None),
    }

    def hint(section: str, key: Any) -> str:
        if key in RUN_SPEC_SECTIONS.get(section, ()):
            return " (a diffusivity run spec? run it with `drxkmc run`)"
        return ""

    return flat_from_sections(data, _KEYS, SECTIONS, tables, hint)


# ----- the folder --------------------------------------------------------------------------


def cycle_or_resume(
    spec: CyclingSpec, workdir: str | os.PathLike, *, progress: bool | None = None
) -> Cycling:
    """Run ``spec`` in the folder ``workdir`` (made if needed), or continue it there; returns
    the :class:`drxkmc.Cycling` with every cycle (``.results``, ``.profiles``, ``.events``).

    Idempotent: a finished run is loaded; a started one resumes from its latest checkpoint
    (the one before it if the latest is damaged); otherwise the slab is built and cycling
    starts. Checkpoints are written atomically between cycles, every
    ``spec.checkpoint_minutes`` (the previous one kept). A folder that holds another spec's
    run is refused (``.field == "workdir"``), and so is a second process working in the same
    folder; raising ``cycles`` extends a run. A structure file is copied into the folder, so
    the folder holds all the run needs. Nothing is written before the spec has passed every
    check, including those that need the slab.

    Ctrl-C or SIGTERM (on the main thread) stops after the running cycle, saves a checkpoint
    and raises :class:`drxkmc.RunInterrupted`; a second one abandons the running cycle and
    saves the completed ones.
    """
    check.instance("spec", spec, CyclingSpec, "drxkmc.CyclingSpec")
    new = not Path(workdir).exists() if isinstance(workdir, (str, os.PathLike)) else False
    folder = spec_folder(workdir)
    try:
        with folder_lock(folder):
            cycling = _prepare(spec, folder)
            start = cycling.cycle
            if start < spec.cycles or not _results_intact(folder):
                _cycle(cycling, spec, folder, progress)
                _write_results(folder, spec, cycling)
    except BaseException:
        if new and not any(p.name != LOCK_FILE for p in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)  # refused before anything was written
        raise
    Cycling._warn_timescales(cycling.results.filter(cycling.results["cycle"] > start))
    return cycling


def _results_intact(folder: Path) -> bool:
    """Whether the result files of a finished run are all there and readable."""
    try:
        for name in (PROFILES_FILE, EVENTS_FILE, RESULTS_FILE):
            pl.read_parquet_metadata(folder / name)
    except Exception:  # missing, truncated or damaged: written again from the checkpoint
        return False
    return True


def _prepare(spec: CyclingSpec, folder: Path) -> Cycling:
    """The run of ``spec`` in ``folder``: resumed, or built and saved with its spec."""
    claim_folder(folder, SPEC_FILE)
    spec_file = folder / SPEC_FILE
    if spec_file.exists() and checkpoint_files(folder):
        stored = CyclingSpec.read(spec_file)
        if _what_runs(stored, folder) != _what_runs(spec, folder):
            raise invalid(
                "workdir",
                f"{str(folder)!r} holds the run of another spec ({spec_file}); give each run "
                "its own folder",
            )
    found = latest_checkpoint(
        folder, lambda path: _load_matching(path, spec), lambda err: "another run" in str(err)
    )
    if found is not None:
        cycling = found[0]
        if cycling.cycle > spec.cycles:
            raise invalid(
                "cycles",
                f"the run in {str(folder)!r} has {cycling.cycle} cycles already, more than "
                f"{spec.cycles}",
            )
        log.info("resuming %s after cycle %d", folder, cycling.cycle)
    else:
        log.info("starting %s", folder)
        cycling = spec.build()  # before anything is written: it may refuse the spec
    _write_spec(spec, folder)  # the cycles asked for now (a run may be extended)
    if found is None:
        save_checkpoint(folder, cycling._run.checkpoint())
    return cycling


def _load(path: Path) -> Cycling:
    try:
        return _from_checkpoint_bytes(path.read_bytes())
    except DrxkmcError as err:
        raise renamed(err, getattr(err, "field", "checkpoint"), f"{path}: ") from None


def _load_matching(path: Path, spec: CyclingSpec) -> Cycling:
    """The run in a checkpoint, refused (naming ``workdir``) unless it is a run of ``spec``:
    same material, lattice, seed and models (a spec file edited after the run started, or a
    checkpoint copied from another folder, is not resumed as if it were)."""
    cycling = _load(path)
    structure: RunSpec = spec._structure  # type: ignore[attr-defined]
    lattice = cycling.configuration().lattice
    differs = [
        name
        for name, ran, wanted in (
            ("material", cycling.material.formula, structure.material().formula),
            ("lattice", (tuple(lattice.size), lattice.a), (tuple(spec.size), spec.a)),
            ("seed", cycling._run.seed, spec.seed),
            ("model", cycling._run.barrier_model(), structure.barrier_model()._core_dict()),
            (
                "degradation",
                cycling._run.degradation_model(),
                DegradationModel.from_dict(dict(spec.degradation)).as_dict(),
            ),
            (
                "protocol",
                cycling._run.protocol(),
                CyclingProtocol.from_dict(dict(spec.protocol)).as_dict(),
            ),
        )
        if ran != wanted
    ]
    if differs:
        raise invalid(
            "workdir",
            f"{path} is a checkpoint of another run than its folder's spec (its "
            f"{', '.join(differs)} differ); the spec was edited after the run started, or the "
            "checkpoint comes from another folder: give each run its own folder",
        )
    return cycling


def _structure_copy(spec: CyclingSpec) -> str:
    """The name of the structure file's copy in a run folder."""
    assert spec.structure_file is not None
    return "structure" + "".join(Path(spec.structure_file).suffixes)


def _write_spec(spec: CyclingSpec, folder: Path) -> None:
    """The folder's spec, with a structure file copied beside it (and named relative to it)."""
    data = spec.to_dict()
    if spec.structure_file is not None:
        copy = folder / _structure_copy(spec)
        source = Path(spec.structure_file)
        if source.resolve() != copy.resolve():
            atomic_write(copy, source.read_bytes())
        data["configuration"]["file"] = copy.name
    atomic_write(folder / SPEC_FILE, dumps(data, "toml").encode())


def _what_runs(spec: CyclingSpec, folder: Path) -> dict:
    """What decides the numbers of each cycle: all but the cycle count and the output, a
    structure file by its content."""
    data = spec.to_dict()
    data.pop("output", None)
    data.get("run", {}).pop("cycles", None)
    if spec.structure_file is not None:
        digest = hashlib.sha256(Path(spec.structure_file).read_bytes()).hexdigest()
        data["configuration"]["file"] = f"sha256:{digest}"
    return data


def _cycle(cycling: Cycling, spec: CyclingSpec, folder: Path, progress: bool | None) -> None:
    """Run the cycles left, checkpointing between them; stop cleanly on a signal."""
    for name in (RESULTS_FILE, PROFILES_FILE, EVENTS_FILE):  # a finished run being extended
        (folder / name).unlink(missing_ok=True)
    interval_s = 60.0 * spec.checkpoint_minutes
    last = time.monotonic()
    probe = DiffusivityProbe(**spec.diffusivity) if spec.diffusivity else None
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.cycles, initial=cycling.cycle, unit="cycle", desc="cycling")
    try:
        with stop_between_steps("cycle") as stop:

            def save(why: str) -> None:
                with stop.saving_checkpoint():  # a second Ctrl-C waits for the file to be whole
                    save_checkpoint(folder, cycling._run.checkpoint())
                log.info("%s: checkpoint after cycle %d (%s)", folder, cycling.cycle, why)

            def stopped(message: str, signum: int) -> RunInterrupted:
                return RunInterrupted(
                    f"{message}; checkpoint saved in {folder} after cycle {cycling.cycle}",
                    folder / CHECKPOINT_FILE,
                    cycling.cycle,
                    signum,
                )

            try:
                with stop.abandoning():  # a run stopped during its last probe measures it now
                    _probe_if_due(cycling, probe)
                while cycling.cycle < spec.cycles:
                    cycling._run.run_cycle()  # a second Ctrl-C rolls the running cycle back
                    with stop.abandoning():  # a resumed run measures it again
                        _probe_if_due(cycling, probe)
                    if bar is not None:
                        bar.update(1)
                    if stop.requested and cycling.cycle < spec.cycles:
                        save("stopped")
                        raise stopped("stopped", stop.signum)
                    if time.monotonic() - last >= interval_s:
                        save("periodic")
                        last = time.monotonic()
                save("done")
            except RunInterrupted:
                raise
            except KeyboardInterrupt:  # wherever it landed: keep the completed cycles
                save("interrupted")
                raise stopped("interrupted", stop.signum) from None
    finally:
        if bar is not None:
            bar.close()


def _probe_if_due(cycling: Cycling, probe: DiffusivityProbe | None) -> None:
    """Measure the diffusivity after the latest cycle if the probe names it and it has not
    been measured (by Cycling.run's rule: cycles ``every``, ``2·every``, …)."""
    if probe is None or cycling.cycle == 0 or cycling.cycle % probe.every:
        return
    # The probe records alone (not the whole results frame, rebuilt for every due cycle).
    if any(r["cycle"] == cycling.cycle for r in cycling._run.diffusivity_records()):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in the results
        cycling._record_probe(probe)


def _write_results(folder: Path, spec: CyclingSpec, cycling: Cycling) -> None:
    # The per-cycle file is written last: its presence means the run is done.
    frames = [
        (PROFILES_FILE, cycling.profiles),
        (EVENTS_FILE, cycling.events),
        (RESULTS_FILE, cycling.results),
    ]
    write_frames(folder, frames, spec.dumps("json"))


def load_cycling(workdir: str | os.PathLike) -> Cycling:
    """The run in ``workdir`` as far as its latest checkpoint (finished or not)."""
    folder = Path(workdir)
    if not (folder / SPEC_FILE).is_file():
        raise invalid("workdir", f"{str(folder)!r} holds no cycling run (no {SPEC_FILE})")
    found = latest_checkpoint(folder, _load)
    if found is None:
        raise invalid("workdir", f"{str(folder)!r} holds no checkpoint yet")
    return found[0]


def cycling_status(workdir: str | os.PathLike) -> dict[str, Any]:
    """Where the cycling run in ``workdir`` is: ``state`` ("done", "started", "not started"
    or "damaged": no checkpoint loads), ``cycles`` completed of ``cycles_wanted``, and the
    checkpoint's age."""
    folder = Path(workdir)
    if not (folder / SPEC_FILE).is_file():
        raise invalid("workdir", f"{str(folder)!r} holds no cycling run (no {SPEC_FILE})")
    spec = CyclingSpec.read(folder / SPEC_FILE)
    out: dict[str, Any] = {"workdir": str(folder), "spec": spec, "cycles_wanted": spec.cycles}
    try:
        found = latest_checkpoint(folder, _load)
    except DrxkmcError as err:
        return {**out, "state": "damaged", "cycles": 0, "error": str(err)}
    if found is None:
        return {**out, "state": "not started", "cycles": 0}
    cycling, path = found
    done = (folder / RESULTS_FILE).exists() and cycling.cycle >= spec.cycles
    return {
        **out,
        "state": "done" if done else "started",
        "cycles": cycling.cycle,
        "checkpoint_age_s": time.time() - path.stat().st_mtime,
    }
