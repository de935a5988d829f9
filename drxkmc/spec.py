"""A run as plain data: :class:`RunSpec`, readable from and writable to TOML and JSON.

A spec says everything a diffusivity run needs: the material, the lattice, how the
configuration is made (random, annealed for short-range order, or read from a structure
file), the barrier model (fields that differ from the cited defaults), the run settings and
how often to checkpoint. :func:`drxkmc.run_or_resume` runs it in a folder that survives the
job being killed; :func:`drxkmc.sweep` runs many. In a file the fields sit in sections::

    [material]
    formula = "Li1.2Mn0.4Ti0.4O2"

    [lattice]
    size = 4                      # conventional cells per side (or [L1, L2, L3])
    a = 4.15                      # Å

    [configuration]
    kind = "random"               # "random", "annealed" or "file"
    li_content = 0.6              # Li per formula unit (electrochemical delithiation)

    [model]                       # BarrierModel fields that differ from the defaults
    site_disorder_eV = 0.05

    [run]
    temperature_K = 600
    precision = 0.1               # or hops = ..., or time_s = ...
    seed = 1

    [output]
    checkpoint_minutes = 10

Every value is checked when the spec is made, before any work starts: a bad or unknown one
raises :class:`drxkmc.InvalidParameterError` whose ``.field`` is the key as written
(``"run.temperature_K"`` from a file or dict, ``"temperature_K"`` from keywords) and whose
message starts with the file it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drxkmc import _validate as check
from drxkmc._specfiles import SpecFile, flat_from_sections, key_name, plain, renamed
from drxkmc.errors import DrxkmcError, invalid
from drxkmc.lattice import DEFAULT_A_ANGSTROM, Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel

__all__ = ["RunSpec", "SECTIONS", "CONFIGURATION_KINDS"]

#: How the starting configuration is made.
CONFIGURATION_KINDS = ("random", "annealed", "file")
#: Default run length: until D* is known to 10 % (and converged).
DEFAULT_PRECISION = 0.1
#: Default cap on measured hops of a precision run (as the demo and sweeps).
DEFAULT_MAX_HOPS = 50_000_000
#: Default interval between checkpoints of :func:`drxkmc.run_or_resume`, minutes.
DEFAULT_CHECKPOINT_MINUTES = 10.0

#: Sections of a spec file, and the key of every flat field in them (``(section, key)``).
_KEYS: dict[str, tuple[str, str]] = {
    "formula": ("material", "formula"),
    "oxidation_states": ("material", "oxidation_states"),
    "size": ("lattice", "size"),
    "a": ("lattice", "a"),
    "geometry": ("lattice", "geometry"),
    "configuration": ("configuration", "kind"),
    "li_content": ("configuration", "li_content"),
    "delithiation": ("configuration", "delithiation"),
    "delithiation_temperature_K": ("configuration", "delithiation_temperature_K"),
    "structure_file": ("configuration", "file"),
    "anneal_temperature_K": ("configuration", "anneal_temperature_K"),
    "anneal_sweeps": ("configuration", "anneal_sweeps"),
    "config_seed": ("configuration", "seed"),
    "temperature_K": ("run", "temperature_K"),
    "hops": ("run", "hops"),
    "time_s": ("run", "time_s"),
    "precision": ("run", "precision"),
    "target": ("run", "target"),
    "max_hops": ("run", "max_hops"),
    "blocks": ("run", "blocks"),
    "samples_per_block": ("run", "samples_per_block"),
    "warmup_fraction": ("run", "warmup_fraction"),
    "warmup_hops": ("run", "warmup_hops"),
    "seed": ("run", "seed"),
    "equilibrate": ("run", "equilibrate"),
    "timescale_s": ("run", "timescale_s"),
    "acceleration": ("run", "acceleration"),
    "checkpoint_minutes": ("output", "checkpoint_minutes"),
}
#: Model fields under their current names (the deprecated ``_ev`` spellings are for keywords).
_MODEL_FIELDS = tuple(BarrierModel.__dataclass_fields__)
#: Section name → its keys, in file order (the ``model`` section takes BarrierModel fields).
SECTIONS: dict[str, tuple[str, ...]] = {
    section: tuple(k for s, k in _KEYS.values() if s == section)
    for section in ("material", "lattice", "configuration", "model", "run", "output")
}
SECTIONS["model"] = _MODEL_FIELDS
_MODEL_DEFAULTS = BarrierModel().as_dict()


@dataclass(frozen=True)
class RunSpec(SpecFile):
    """One diffusivity run as plain data (units in the names: K, Å, s, eV).

    Material: ``formula`` (e.g. ``"Li1.2Mn0.4Ti0.4O1.6F0.4"``), optional
    ``oxidation_states`` ({"Mn": 3}). Lattice: ``size`` (cells per side, or three), ``a`` (Å),
    ``geometry`` ("bulk" or "slab"). Configuration: ``configuration`` is ``"random"``
    (cation and anion disorder), ``"annealed"`` (random, then Metropolis annealing at
    ``anneal_temperature_K`` for ``anneal_sweeps`` sweeps: short-range order) or ``"file"``
    (``structure_file``, CIF or extended XYZ; its lattice replaces size/a/geometry). Then Li
    are removed to ``li_content`` per formula unit (default: fully lithiated), as an electrode
    does (``delithiation="electrochemical"``, in equilibrium at
    ``delithiation_temperature_K`` under this spec's model) or at random. ``config_seed``
    (default ``seed``) seeds the configuration. ``model``: the BarrierModel fields that differ
    from its cited defaults. Run: ``temperature_K``, exactly one of ``hops``, ``time_s`` or
    ``precision`` (default ``precision=0.1``) with ``target`` and ``max_hops``, the block
    settings, ``seed``, ``equilibrate``, ``timescale_s`` and ``acceleration`` as in
    :class:`drxkmc.Simulation` and :meth:`~drxkmc.Simulation.run`. Output:
    ``checkpoint_minutes`` between checkpoints of :func:`drxkmc.run_or_resume` (0: after
    every chunk of hops).
    """

    formula: str
    oxidation_states: Mapping[str, float] | None = None
    size: int | tuple[int, int, int] = 8
    a: float = DEFAULT_A_ANGSTROM
    geometry: str = "bulk"
    configuration: str = "random"
    li_content: float | None = None
    delithiation: str = "electrochemical"
    delithiation_temperature_K: float = 300.0
    structure_file: str | None = None
    anneal_temperature_K: float | None = None
    anneal_sweeps: int = 100
    config_seed: int | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    temperature_K: float = 300.0
    hops: int | None = None
    time_s: float | None = None
    precision: float | None = None
    target: str = "D_tracer"
    max_hops: int = DEFAULT_MAX_HOPS
    blocks: int = 10
    samples_per_block: int = 20
    warmup_fraction: float = 0.1
    warmup_hops: int = 0
    seed: int = 0
    equilibrate: bool = True
    timescale_s: float = 3600.0
    acceleration: float | None = None
    checkpoint_minutes: float = DEFAULT_CHECKPOINT_MINUTES

    def __post_init__(self) -> None:
        for name, value in _validated(self).items():
            object.__setattr__(self, name, value)

    # ----- conversions ---------------------------------------------------------------------

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> RunSpec:
        """From flat keywords, as a sweep point gives them: spec fields, plus BarrierModel
        fields (``site_disorder_eV=0.05``) or a ``model`` (a :class:`BarrierModel` or a dict
        of fields) for the model. Unknown names raise an error naming them."""
        if not isinstance(values, Mapping):
            raise invalid("spec", f"must be a mapping of spec fields, got {type(values).__name__}")
        flat: dict[str, Any] = {}
        # A whole model first; single model fields given beside it change it.
        model: dict[str, Any] = _model_overrides(values["model"]) if "model" in values else {}
        model_names = set(_MODEL_FIELDS)
        for name, value in values.items():
            if name == "model":
                continue
            elif name in model_names:
                model[name] = value
            elif isinstance(name, str) and name in _KEYS:
                flat[name] = value
            else:
                raise invalid(
                    key_name(name), "is neither a run-spec field nor a BarrierModel field"
                )
        if "formula" not in flat:
            raise invalid("formula", "is required (the material's chemical formula)")
        return cls(**flat, model=model)

    def flat(self) -> dict[str, Any]:
        """The fields as keywords of :meth:`from_flat` (model fields flattened in)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        model = out.pop("model")
        return {**out, **model}

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with some fields changed (spec or BarrierModel fields), validated."""
        current = self.flat()
        if "model" in changes:  # a whole new model replaces this one's fields
            current = {k: v for k, v in current.items() if k not in _MODEL_FIELDS}
        return RunSpec.from_flat({**current, **changes})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "spec") -> RunSpec:
        """From the nested form of a spec file (sections ``material``, ``lattice``,
        ``configuration``, ``model``, ``run``, ``output``). Errors name the key as
        ``section.key`` and start with ``source`` (the file name)."""
        try:
            return cls(**_flat_from_sections(data))
        except DrxkmcError as err:
            raise _located(err, source) from None

    def to_dict(self) -> dict[str, Any]:
        """The nested form (sections); values that are unset (None) are left out."""
        out: dict[str, dict[str, Any]] = {}
        for name, (section, key) in _KEYS.items():
            value = getattr(self, name)
            if value is not None:
                out.setdefault(section, {})[key] = plain(value)
        if self.model:
            out["model"] = {k: plain(v) for k, v in self.model.items()}
        return {s: out[s] for s in SECTIONS if s in out}

    # ----- what the spec builds -----------------------------------------------------------

    def material(self) -> Material:
        return Material.from_formula(self.formula, self.oxidation_states)

    def lattice(self) -> Lattice:
        return Lattice(self.size, a=self.a, geometry=self.geometry)

    def barrier_model(self) -> BarrierModel:
        return BarrierModel.from_dict(dict(self.model))

    def run_kwargs(self) -> dict[str, Any]:
        """The keywords of :meth:`drxkmc.Simulation.run` this spec asks for."""
        length: dict[str, Any] = (
            {"hops": self.hops}
            if self.hops is not None
            else {"time_s": self.time_s}
            if self.time_s is not None
            else {"precision": self.precision, "target": self.target, "max_hops": self.max_hops}
        )
        return {
            **length,
            "blocks": self.blocks,
            "samples_per_block": self.samples_per_block,
            "warmup_fraction": self.warmup_fraction,
            "warmup_hops": self.warmup_hops,
        }


# ----- validation -------------------------------------------------------------------------


def _validated(spec: RunSpec) -> dict[str, Any]:
    """Every field checked and in its canonical type (raises naming the field)."""
    out: dict[str, Any] = {}
    out["formula"] = check.text("formula", spec.formula, "a chemical formula")
    out["oxidation_states"] = (
        None
        if spec.oxidation_states is None
        else check.number_mapping("oxidation_states", spec.oxidation_states, "{'Mn': 3}")
    )
    material = Material.from_formula(out["formula"], out["oxidation_states"])
    out["size"] = _size(spec.size)
    out["a"] = check.number("a", spec.a, unit="Å")
    out["geometry"] = check.choice("geometry", spec.geometry, ("bulk", "slab"))
    Lattice(out["size"], a=out["a"], geometry=out["geometry"])  # its own range checks
    kind = out["configuration"] = check.choice(
        "configuration", spec.configuration, CONFIGURATION_KINDS
    )
    li_max = material.li + material.cation_vacancies
    out["li_content"] = (
        None
        if spec.li_content is None
        else check.number("li_content", spec.li_content, minimum=0.0, maximum=li_max)
    )
    out["delithiation"] = check.choice(
        "delithiation", spec.delithiation, ("electrochemical", "random")
    )
    if out["delithiation"] == "random" and kind != "random":
        raise invalid("delithiation", f"'random' is only for configuration 'random', not {kind!r}")
    out["delithiation_temperature_K"] = check.temperature(
        "delithiation_temperature_K", spec.delithiation_temperature_K
    )
    if kind == "file":
        if spec.structure_file is None:
            raise invalid("structure_file", "configuration 'file' needs the structure file")
        path = check.text("structure_file", spec.structure_file, "a file path")
        if not Path(path).is_file():
            raise invalid("structure_file", f"{path!r} is not an existing file")
        out["structure_file"] = path
    elif spec.structure_file is not None:
        raise invalid("structure_file", f"is used only with configuration 'file', not {kind!r}")
    else:
        out["structure_file"] = None
    if kind == "annealed":
        if spec.anneal_temperature_K is None:
            raise invalid("anneal_temperature_K", "configuration 'annealed' needs it (K)")
        out["anneal_temperature_K"] = check.temperature(
            "anneal_temperature_K", spec.anneal_temperature_K, allow_zero=True
        )
    elif spec.anneal_temperature_K is not None:
        raise invalid(
            "anneal_temperature_K", f"is used only with configuration 'annealed', not {kind!r}"
        )
    else:
        out["anneal_temperature_K"] = None
    out["anneal_sweeps"] = check.count("anneal_sweeps", spec.anneal_sweeps)
    out["config_seed"] = (
        None if spec.config_seed is None else check.seed(spec.config_seed, "config_seed")
    )
    out["model"] = _model_overrides(spec.model)
    out["temperature_K"] = check.temperature("temperature_K", spec.temperature_K)
    lengths = [n for n in ("hops", "time_s", "precision") if getattr(spec, n) is not None]
    if len(lengths) > 1:
        raise invalid(lengths[1], f"give one of hops, time_s or precision, not {lengths}")
    out["hops"] = None if spec.hops is None else check.count("hops", spec.hops)
    out["time_s"] = None if spec.time_s is None else check.duration("time_s", spec.time_s)
    out["precision"] = (
        check.fraction("precision", spec.precision)
        if spec.precision is not None
        else (DEFAULT_PRECISION if not lengths else None)
    )
    out["target"] = check.choice("target", spec.target, ("D_tracer", "D_jump", "D_chem"))
    out["max_hops"] = check.count("max_hops", spec.max_hops)
    out["blocks"] = check.count("blocks", spec.blocks, minimum=2)
    out["samples_per_block"] = check.count("samples_per_block", spec.samples_per_block, minimum=2)
    out["warmup_fraction"] = check.fraction(
        "warmup_fraction", spec.warmup_fraction, allow_zero=True
    )
    out["warmup_hops"] = check.count("warmup_hops", spec.warmup_hops, minimum=0)
    out["seed"] = check.seed(spec.seed)
    out["equilibrate"] = check.flag("equilibrate", spec.equilibrate)
    out["timescale_s"] = check.number("timescale_s", spec.timescale_s, unit="s", positive=True)
    out["acceleration"] = (
        None
        if spec.acceleration is None
        else check.number("acceleration", spec.acceleration, minimum=1.0)
    )
    out["checkpoint_minutes"] = check.number(
        "checkpoint_minutes", spec.checkpoint_minutes, unit="min", minimum=0.0
    )
    return out


def _size(value: Any) -> int | tuple[int, int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise invalid("size", f"must be an int or three ints, got {value!r}")
        return tuple(check.integer("size", v, minimum=1) for v in value)  # type: ignore[return-value]
    return check.integer("size", value, minimum=1)


def _model_overrides(value: Any) -> dict[str, Any]:
    """BarrierModel fields that differ from the defaults, each checked for its type here
    (so that no value reaches the core as a wrong type) and then by the model itself."""
    if isinstance(value, BarrierModel):
        return {k: v for k, v in value.as_dict().items() if v != _MODEL_DEFAULTS[k]}
    if not isinstance(value, Mapping):
        raise invalid("model", f"must be a table of BarrierModel fields, got {value!r}")
    out: dict[str, Any] = {}
    for name, v in value.items():
        if not isinstance(name, str) or name not in _MODEL_FIELDS:
            raise invalid(key_name(name), "is not a BarrierModel field")
        default = _MODEL_DEFAULTS[name]
        if isinstance(default, tuple):
            if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
                raise invalid(name, f"must be a list of {len(default)} numbers, got {v!r}")
            if len(v) != len(default):
                raise invalid(name, f"must have {len(default)} values, got {len(v)}")
            out[name] = tuple(float(x) for x in check.number_array(name, v))
        elif isinstance(default, bool) or not isinstance(default, float):
            out[name] = check.seed(v, name)
        else:
            out[name] = check.number(name, v)
    BarrierModel.from_dict(dict(out))  # the model's own range checks
    return out


# ----- reading and locating errors -----------------------------------------------------------


def _flat_from_sections(data: Any) -> dict[str, Any]:
    return flat_from_sections(
        data, _KEYS, tuple(SECTIONS), {"model": ("BarrierModel field", _MODEL_FIELDS)}
    )


def _located(err: DrxkmcError, source: str) -> DrxkmcError:
    """``err`` with its field spelt as the key in the file, and the file named first."""
    name = getattr(err, "field", "spec")
    if name in _KEYS:
        key = ".".join(_KEYS[name])
    elif name in _MODEL_FIELDS or name == "model":
        key = name if name == "model" else f"model.{name}"
    else:
        key = name
    return renamed(err, key, f"{source}: ")
