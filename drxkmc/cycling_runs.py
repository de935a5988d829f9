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
import json
import logging
import os
import signal
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
from drxkmc.degradation import Cycling, CyclingProtocol, DegradationModel
from drxkmc.errors import DrxkmcError, invalid
from drxkmc.lattice import DEFAULT_A_ANGSTROM
from drxkmc.model import BarrierModel
from drxkmc.runs import (
    CHECKPOINT_FILE,
    NEXT_CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    RunInterrupted,
    _save_checkpoint,
    _stop_between_chunks,
    _units,
    build_configuration,
)
from drxkmc.spec import RunSpec, _format_of, _name, _parse, _plain, _read_text

__all__ = ["CyclingSpec", "cycle_or_resume", "cycling_status", "load_cycling"]

log = logging.getLogger("drxkmc")

SPEC_FILE = "cycling.toml"
RESULTS_FILE = "cycles.parquet"
PROFILES_FILE = "profiles.parquet"
EVENTS_FILE = "events.parquet"

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
_TABLES = ("model", "degradation", "protocol")
SECTIONS = ("material", "lattice", "configuration", *_TABLES, "run", "output")
_FLAT = {v: k for k, v in _KEYS.items()}
_BARRIER_FIELDS = set(BarrierModel.__dataclass_fields__)


@dataclass(frozen=True)
class CyclingSpec:
    """One cycling run as plain data (units in the names).

    The slab: ``formula`` (and ``oxidation_states``), ``size`` (three cell counts, the third
    normal to the surfaces), ``a`` (Å); ``configuration`` ``"random"``, ``"annealed"`` (at
    ``anneal_temperature_K`` for ``anneal_sweeps`` sweeps: synthesis short-range order) or
    ``"file"`` (``structure_file``; its lattice must be a slab), seeded by ``config_seed``
    (default ``seed``), as made (fully lithiated). ``model``, ``degradation`` and
    ``protocol``: the fields of :class:`drxkmc.BarrierModel`, :class:`drxkmc.DegradationModel`
    and :class:`drxkmc.CyclingProtocol` that differ from their cited defaults. ``cycles`` to
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
    cycles: int = 100
    seed: int = 0
    checkpoint_minutes: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.size, (list, tuple)) and len(self.size) == 3:
            object.__setattr__(self, "size", tuple(self.size))
        elif not isinstance(self.size, int) or isinstance(self.size, bool):
            raise invalid("size", f"must be three cell counts [L1, L2, Lz], got {self.size!r}")
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
                raise _renamed(err, f"model.{err.field}") from None
            raise
        object.__setattr__(self, "_structure", run_spec)
        object.__setattr__(self, "anneal_temperature_K", anneal)
        for name in ("size", "a", "formula", "oxidation_states", "structure_file", "model"):
            object.__setattr__(self, name, getattr(run_spec, name))
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
        object.__setattr__(self, "cycles", check.count("cycles", self.cycles))
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
            raise _located(err, source) from None

    def to_dict(self) -> dict[str, Any]:
        """The nested form (sections); unset (None) values and empty tables are left out."""
        out: dict[str, dict[str, Any]] = {}
        for name, (section, key) in _KEYS.items():
            value = getattr(self, name)
            if value is not None:
                out.setdefault(section, {})[key] = _plain(value)
        for table in _TABLES:
            if getattr(self, table):
                out[table] = _plain(dict(getattr(self, table)))
        return {s: out[s] for s in SECTIONS if s in out}

    @classmethod
    def loads(cls, text: str, format: str = "toml", *, source: str = "spec") -> CyclingSpec:
        """From TOML or JSON text."""
        return cls.from_dict(_parse(text, format, source), source=source)

    def dumps(self, format: str = "toml") -> str:
        """As TOML or JSON text."""
        format = check.choice("format", format, ("toml", "json"))
        if format == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> CyclingSpec:
        """From a ``.toml`` or ``.json`` file (a relative ``configuration.file`` is taken
        relative to the spec file's folder)."""
        path = Path(path)
        data = _parse(_read_text(path), _format_of(path), str(path))
        conf = data.get("configuration") if isinstance(data, dict) else None
        if isinstance(conf, dict) and isinstance(conf.get("file"), str):
            conf["file"] = str(path.parent / conf["file"])
        return cls.from_dict(data, source=str(path))

    def write(self, path: str | os.PathLike) -> None:
        """To a ``.toml`` or ``.json`` file (atomically)."""
        path = Path(path)
        atomic_write(path, self.dumps(_format_of(path)).encode())

    def replace(self, **changes: Any) -> CyclingSpec:
        """A copy with some fields changed, validated."""
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
                    raise _renamed(err, f"{section}.{name}") from None
            raise


def _table(section: str, value: Any, cls: Any) -> dict[str, Any]:
    """The fields of a parameter table, checked by ``cls`` (errors named ``section.field``)."""
    if not isinstance(value, Mapping):
        raise invalid(section, f"must be a table of {cls.__name__} fields, got {value!r}")
    table = dict(value)
    try:
        defaults = cls().as_dict()
        cls.from_dict(table)
    except DrxkmcError as err:
        raise _renamed(err, f"{section}.{getattr(err, 'field', section)}") from None
    # Only what differs from the defaults: the same run is always the same spec.
    return {k: v for k, v in table.items() if v != defaults[k]}


def _renamed(err: DrxkmcError, field: str) -> DrxkmcError:
    """``err`` (same class) naming ``field`` instead of its own field."""
    name = getattr(err, "field", "")
    message = str(err)
    reason = message[len(name) + 2 :] if name and message.startswith(f"{name}: ") else message
    out = type(err)(f"{field}: {reason}")
    out.field = field  # type: ignore[attr-defined]
    return out


def _flat_from_sections(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise invalid("spec", f"must be a table of sections, got {type(data).__name__}")
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise invalid(_name(section), f"is not a spec section (use {', '.join(SECTIONS)})")
        if not isinstance(table, Mapping):
            raise invalid(section, f"must be a table, got {table!r}")
        if section in _TABLES:
            flat[section] = dict(table)
            continue
        for key, value in table.items():
            name = _FLAT.get((section, key)) if isinstance(key, str) else None
            if name is None:
                keys = [k for s, k in _KEYS.values() if s == section]
                raise invalid(
                    f"{section}.{_name(key)}",
                    f"is not a key of [{section}] (use {', '.join(keys)})",
                )
            flat[name] = value
    if "formula" not in flat:
        raise invalid("material.formula", "is required")
    return flat


def _located(err: DrxkmcError, source: str) -> DrxkmcError:
    """``err`` with its field spelt as the key in the file, and the file named first."""
    name = getattr(err, "field", "spec")
    located = _renamed(err, ".".join(_KEYS[name]) if name in _KEYS else name)
    out = type(err)(f"{source}: {located}")
    out.field = located.field  # type: ignore[attr-defined]
    return out


# ----- the folder --------------------------------------------------------------------------


def cycle_or_resume(
    spec: CyclingSpec, workdir: str | os.PathLike, *, progress: bool | None = None
) -> Cycling:
    """Run ``spec`` in the folder ``workdir`` (made if needed), or continue it there; returns
    the :class:`drxkmc.Cycling` with every cycle (``.results``, ``.profiles``).

    Idempotent: a finished run is loaded; a started one resumes from its latest checkpoint
    (the one before it if the latest is damaged); otherwise the slab is built and cycling
    starts. Checkpoints are written atomically between cycles, every
    ``spec.checkpoint_minutes`` (the previous one kept). A folder that holds another spec's
    run is refused (``.field == "workdir"``); raising ``cycles`` extends a run.

    Ctrl-C or SIGTERM (on the main thread) stops after the running cycle, saves a checkpoint
    and raises :class:`drxkmc.RunInterrupted`; a second one abandons the running cycle and
    saves the completed ones.
    """
    check.instance("spec", spec, CyclingSpec, "drxkmc.CyclingSpec")
    if spec.structure_file is not None:
        spec = spec.replace(structure_file=str(Path(spec.structure_file).resolve()))
    folder = _prepare_folder(spec, workdir)
    cycling = _latest_checkpoint(folder)
    if cycling is not None and cycling.cycle > spec.cycles:
        raise invalid(
            "cycles",
            f"the run in {str(folder)!r} has {cycling.cycle} cycles already, more than "
            f"{spec.cycles}",
        )
    if cycling is None:
        log.info("starting %s", folder)
        cycling = spec.build()
        _save_checkpoint(folder, cycling._run.checkpoint())
    else:
        log.info("resuming %s after cycle %d", folder, cycling.cycle)
    start = cycling.cycle
    if start < spec.cycles or not (folder / RESULTS_FILE).exists():
        _cycle(cycling, spec, folder, progress)
        _write_results(folder, spec, cycling)
        Cycling._warn_timescales(cycling.results.filter(pl.col("cycle") > start))
    return cycling


def _cycle(cycling: Cycling, spec: CyclingSpec, folder: Path, progress: bool | None) -> None:
    """Run the cycles left, checkpointing between them; stop cleanly on a signal."""
    for name in (RESULTS_FILE, PROFILES_FILE, EVENTS_FILE):  # a finished run being extended
        (folder / name).unlink(missing_ok=True)
    interval_s = 60.0 * spec.checkpoint_minutes
    last = time.monotonic()
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.cycles, initial=cycling.cycle, unit="cycle", desc="cycling")

    def save(why: str) -> None:
        _save_checkpoint(folder, cycling._run.checkpoint())
        log.info("%s: checkpoint after cycle %d (%s)", folder, cycling.cycle, why)

    try:
        with _stop_between_chunks() as stop:
            while cycling.cycle < spec.cycles:
                try:
                    cycling._run.run_cycle()
                except KeyboardInterrupt:  # a second Ctrl-C: the running cycle is rolled back
                    save("interrupted")
                    raise RunInterrupted(
                        f"interrupted; checkpoint saved in {folder} after cycle {cycling.cycle}",
                        folder / CHECKPOINT_FILE,
                        cycling.cycle,
                        signal.SIGINT,
                    ) from None
                if bar is not None:
                    bar.update(1)
                if stop.requested:
                    save("stopped")
                    raise RunInterrupted(
                        f"stopped; checkpoint saved in {folder} after cycle {cycling.cycle}",
                        folder / CHECKPOINT_FILE,
                        cycling.cycle,
                        stop.signum,
                    )
                if time.monotonic() - last >= interval_s:
                    save("periodic")
                    last = time.monotonic()
            save("done")
    finally:
        if bar is not None:
            bar.close()


def _prepare_folder(spec: CyclingSpec, workdir: str | os.PathLike) -> Path:
    try:
        folder = Path(workdir)
    except TypeError:
        raise invalid("workdir", f"must be a folder path, got {workdir!r}") from None
    if folder.exists() and not folder.is_dir():
        raise invalid("workdir", f"{str(folder)!r} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    spec_file = folder / SPEC_FILE
    if spec_file.exists():
        stored = CyclingSpec.read(spec_file)
        if _what_runs(stored) != _what_runs(spec):
            raise invalid(
                "workdir",
                f"{str(folder)!r} holds the run of another spec ({spec_file}); give each run "
                "its own folder",
            )
    spec.write(spec_file)  # the cycles asked for now (a run may be extended)
    return folder


def _what_runs(spec: CyclingSpec) -> dict:
    """What decides the numbers of each cycle: all but the cycle count and the output."""
    data = spec.to_dict()
    data.pop("output", None)
    data.get("run", {}).pop("cycles", None)
    return data


def _latest_checkpoint(folder: Path) -> Cycling | None:
    """The run in the latest checkpoint that loads, or None; a damaged latest one is reported
    and the previous one used."""
    found = _latest_checkpoint_file(folder)
    return None if found is None else found[0]


def _latest_checkpoint_file(folder: Path) -> tuple[Cycling, Path] | None:
    """``_latest_checkpoint`` with the file it came from."""
    from drxkmc.degradation import _from_checkpoint_bytes

    failures = []
    current = folder / CHECKPOINT_FILE
    first = CHECKPOINT_FILE if current.exists() else NEXT_CHECKPOINT_FILE
    for name in (first, PREVIOUS_CHECKPOINT_FILE):
        path = folder / name
        if not path.exists():
            continue
        try:
            return _from_checkpoint_bytes(path.read_bytes()), path
        except DrxkmcError as err:
            log.warning("%s: %s; trying the previous checkpoint", path, err)
            failures.append(f"{path}: {err}")
    if failures:
        raise invalid("checkpoint", "; ".join(failures) + "; no usable checkpoint is left")
    return None


def _write_results(folder: Path, spec: CyclingSpec, cycling: Cycling) -> None:
    from drxkmc import __version__

    # The per-cycle file is written last: its presence means the run is done.
    frames = (
        (PROFILES_FILE, cycling.profiles),
        (EVENTS_FILE, cycling.events),
        (RESULTS_FILE, cycling.results),
    )
    for name, frame in frames:
        metadata = {
            "drxkmc_spec": spec.dumps("json"),
            "drxkmc_units": json.dumps(_units(frame)),
            "drxkmc_version": __version__,
        }

        def write(tmp: str, frame: pl.DataFrame = frame, metadata: dict = metadata) -> None:
            frame.write_parquet(tmp, metadata=metadata)

        atomic_write(folder / name, write)


def load_cycling(workdir: str | os.PathLike) -> Cycling:
    """The run in ``workdir`` as far as its latest checkpoint (finished or not)."""
    folder = Path(workdir)
    if not (folder / SPEC_FILE).is_file():
        raise invalid("workdir", f"{str(folder)!r} holds no cycling run (no {SPEC_FILE})")
    cycling = _latest_checkpoint(folder)
    if cycling is None:
        raise invalid("workdir", f"{str(folder)!r} holds no checkpoint yet")
    return cycling


def cycling_status(workdir: str | os.PathLike) -> dict[str, Any]:
    """Where the cycling run in ``workdir`` is: ``state`` ("done", "started" or "not
    started"), ``cycles`` completed of ``cycles_wanted``, and the checkpoint's age."""
    folder = Path(workdir)
    if not (folder / SPEC_FILE).is_file():
        raise invalid("workdir", f"{str(folder)!r} holds no cycling run (no {SPEC_FILE})")
    spec = CyclingSpec.read(folder / SPEC_FILE)
    out: dict[str, Any] = {"workdir": str(folder), "spec": spec, "cycles_wanted": spec.cycles}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = _latest_checkpoint_file(folder)
        except DrxkmcError:
            found = None
    if found is None:
        return {**out, "state": "not started", "cycles": 0}
    cycling, path = found
    done = (folder / RESULTS_FILE).exists() and cycling.cycle >= spec.cycles
    age = time.time() - path.stat().st_mtime
    return {
        **out,
        "state": "done" if done else "started",
        "cycles": cycling.cycle,
        "checkpoint_age_s": age,
    }
