"""Parameter sweeps on any ``concurrent.futures``-style executor.

drxkmc does not ship its own scheduler. A sweep runs serially by default, or on whatever
executor you pass: ``concurrent.futures.ProcessPoolExecutor`` on a workstation, a Dask
cluster through ``distributed.Client(...).get_executor()``, SLURM through dask-jobqueue's
``SLURMCluster``, or MPI through ``mpi4py.futures.MPIPoolExecutor``. Every point is checked
before anything is submitted, so a typo fails at once instead of hours into a cluster job.
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from drxkmc import _validate as check
from drxkmc.configuration import Configuration
from drxkmc.errors import invalid
from drxkmc.lattice import Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.simulation import ConvergenceWarning, Simulation


def grid_points(grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]]) -> list[dict]:
    """The points of a sweep: the Cartesian product of a dict of value lists, or an explicit
    list of dicts (each one point)."""
    if isinstance(grid, Mapping):
        if not grid:
            raise invalid("grid", "needs at least one parameter")
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise invalid("grid", f"{name!r} must be a non-empty list of values")
        names = list(grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
    points = [dict(p) for p in grid]
    if not points:
        raise invalid("grid", "has no points")
    return points


def diffusivity_point(
    formula: str,
    *,
    temperature_K: float = 300.0,
    li_content: float | None = None,
    size: int = 8,
    a: float = 4.15,
    precision: float | None = 0.1,
    max_hops: int = 50_000_000,
    hops: int | None = None,
    warmup_hops: int = 0,
    seed: int = 0,
    model: BarrierModel | None = None,
    **model_fields: Any,
) -> pl.DataFrame:
    """One sweep point: random configuration of ``formula`` → diffusivity frame.

    Extra keyword arguments are barrier-model fields (e.g. ``site_disorder_eV=0.05``), so they
    can be swept like any other parameter. The run goes to ``precision`` (at most ``max_hops``
    hops), or a fixed ``hops`` if given; the frame's ``converged`` column says whether it
    converged.
    """
    check.text("formula", formula, "a chemical formula")
    model = (model or BarrierModel()).replace(**model_fields) if model_fields else model
    config = Configuration.random(
        Material.from_formula(formula), Lattice(size, a=a), li_content=li_content, seed=seed
    )
    sim = Simulation(config, model, temperature_K=temperature_K, seed=seed)
    length = {"hops": hops} if hops is not None else {"precision": precision, "max_hops": max_hops}
    with warnings.catch_warnings():
        # One warning per point would flood a sweep; the frame's 'converged' column says it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = sim.run(**length, warmup_hops=warmup_hops, progress=False)
    if result.interrupted:
        raise KeyboardInterrupt  # Ctrl-C stops the sweep, not one point
    return result.diffusivity


def _check_point(point: dict) -> None:
    """Validate a diffusivity point cheaply (no kMC): check what it would build."""
    known = set(inspect.signature(diffusivity_point).parameters) - {"model_fields"}
    for name in point:
        if name not in known and name not in BarrierModel.field_names():
            raise invalid(name, "is neither an argument of a diffusivity point nor a model field")
    model_fields = {k: v for k, v in point.items() if k in BarrierModel.field_names()}
    base = point.get("model") or BarrierModel()
    check.instance("model", base, BarrierModel, "drxkmc.BarrierModel")
    base.replace(**model_fields)
    material = Material.from_formula(point["formula"])
    lattice = Lattice(point.get("size", 8), a=point.get("a", 4.15))
    li = point.get("li_content")
    li_max = material.li + material.cation_vacancies
    if li is not None:
        check.number("li_content", li, minimum=0.0, maximum=li_max)
    check.temperature("temperature_K", point.get("temperature_K", 300.0))
    if point.get("hops") is not None:
        check.count("hops", point["hops"])
    else:
        check.fraction("precision", point.get("precision", 0.1))
    check.count("max_hops", point.get("max_hops", 1))
    check.count("warmup_hops", point.get("warmup_hops", 0), minimum=0)
    check.seed(point.get("seed", 0))
    if lattice.n_cations > 10**8:
        raise invalid("size", "too large for a sweep point")


def sweep(
    grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]],
    task: Callable[..., pl.DataFrame] = diffusivity_point,
    *,
    executor=None,
    **fixed: Any,
) -> pl.DataFrame:
    """Run ``task(**fixed, **point)`` for every point of ``grid`` and stack the frames, with
    the swept parameters as leading columns.

    >>> sweep({"temperature_K": [500, 600], "seed": [0, 1, 2]},
    ...       formula="Li1.2Mn0.4Ti0.4O2", li_content=0.6, precision=0.1)  # doctest: +SKIP

    ``executor``: anything with ``submit(fn, **kwargs) -> future`` (``concurrent.futures``,
    Dask's ``client.get_executor()``, ``mpi4py.futures``); ``None`` runs serially. Results come
    back in grid order whatever order the workers finish in.
    """
    swept = grid_points(grid)
    points = [{**fixed, **p} for p in swept]
    if task is diffusivity_point:
        for p in points:
            if "formula" not in p:
                raise invalid("grid", "every point of a diffusivity sweep needs a 'formula'")
            _check_point(p)
    if executor is None:
        frames = [task(**p) for p in points]
    else:
        futures = [executor.submit(task, **p) for p in points]
        frames = [f.result() for f in futures]
    out = []
    for p, frame in zip(swept, frames):
        # Swept parameters lead; a value the task already reports (e.g. temperature_K) is kept.
        labels = {k: v for k, v in p.items() if _is_scalar(v)}
        added = {k: pl.lit(v) for k, v in labels.items() if k not in frame.columns}
        frame = frame.with_columns(**added)
        out.append(frame.select(list(labels) + [c for c in frame.columns if c not in labels]))
    return pl.concat(out, how="diagonal_relaxed")


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None
