"""Parameter sweeps on any ``concurrent.futures``-style executor.

drxkmc does not ship its own scheduler. A sweep runs serially by default, or on whatever
executor you pass: ``concurrent.futures.ProcessPoolExecutor`` on a workstation, a Dask
cluster through ``distributed.Client(...).get_executor()`` (on SLURM through dask-jobqueue's
``SLURMCluster``), submitit's ``AutoExecutor`` (local or SLURM), or MPI through
``mpi4py.futures.MPIPoolExecutor``; ``docs/cluster.md`` has recipes.

Every point of a diffusivity sweep becomes a :class:`~drxkmc.spec.RunSpec` and is checked
before anything is submitted, so a typo, a NaN or a string where a number belongs fails at
once (naming the point and the field) instead of hours into a cluster job. A point that
fails while it runs does not lose the others: its row carries its parameters and the error
(column ``error``, null for points that ran), and a warning says how many failed.
"""

from __future__ import annotations

import itertools
import os
import pickle
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from drxkmc import _validate as check
from drxkmc._files import atomic_write
from drxkmc.errors import DrxkmcError, invalid
from drxkmc.model import BarrierModel
from drxkmc.simulation import ConvergenceWarning
from drxkmc.spec import RunSpec

__all__ = ["sweep", "grid_points", "diffusivity_point", "derived_seed", "SweepWarning"]


class SweepWarning(UserWarning):
    """Some points of a sweep failed; their rows carry the error."""


def grid_points(
    grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any] | RunSpec],
) -> list[dict]:
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
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Iterable):
        raise invalid("grid", f"must be a dict of value lists or a list of points, got {grid!r}")
    points = []
    for i, p in enumerate(grid):
        if isinstance(p, RunSpec):
            points.append(p.flat())
        elif isinstance(p, Mapping):
            points.append(dict(p))
        else:
            raise invalid("grid", f"point {i} must be a dict or a RunSpec, got {p!r}")
    if not points:
        raise invalid("grid", "has no points")
    return points


def derived_seed(sweep_seed: int, index: int) -> int:
    """The seed of point ``index`` of a sweep seeded with ``sweep_seed``: independent
    streams from NumPy's ``SeedSequence(sweep_seed, spawn_key=(index,))``, so that the same
    sweep always gives the same frame and no two points share a stream. 63 bits, so that a
    seed column is a plain Int64 in Polars, Parquet and pandas."""
    state = np.random.SeedSequence(sweep_seed, spawn_key=(index,)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def diffusivity_point(
    formula: str,
    *,
    temperature_K: float = 300.0,
    li_content: float | None = None,
    size: int = 8,
    a: float = 4.15,
    precision: float | None = None,
    max_hops: int = 50_000_000,
    hops: int | None = None,
    warmup_hops: int = 0,
    seed: int = 0,
    model: BarrierModel | None = None,
    **model_fields: Any,
) -> pl.DataFrame:
    """One sweep point: random configuration of ``formula`` → diffusivity frame.

    Extra keyword arguments are barrier-model fields (e.g. ``site_disorder_eV=0.05``), so they
    can be swept like any other parameter. The run goes to ``precision`` (default 0.1, at
    most ``max_hops`` hops), or a fixed ``hops`` if given; the frame's ``converged`` column
    says whether it converged. Any other :class:`~drxkmc.spec.RunSpec` field may be given
    too (``configuration``, ``anneal_temperature_K``, ``time_s``, …)."""
    values = {
        "formula": formula,
        "temperature_K": temperature_K,
        "li_content": li_content,
        "size": size,
        "a": a,
        "precision": precision,
        "max_hops": max_hops,
        "hops": hops,
        "warmup_hops": warmup_hops,
        "seed": seed,
        **({} if model is None else {"model": model}),
        **model_fields,
    }
    return _run(RunSpec.from_flat(values), None).diffusivity


def sweep(
    grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any] | RunSpec],
    task: Callable[..., pl.DataFrame] = diffusivity_point,
    *,
    executor=None,
    base: RunSpec | None = None,
    sweep_seed: int | None = None,
    workdir: str | os.PathLike | None = None,
    errors: str = "collect",
    **fixed: Any,
) -> pl.DataFrame:
    """Run every point of ``grid`` and stack the frames, with the swept parameters as
    leading columns.

    >>> sweep({"temperature_K": [500, 600], "seed": [0, 1, 2]},
    ...       formula="Li1.2Mn0.4Ti0.4O2", li_content=0.6, precision=0.1)  # doctest: +SKIP

    ``grid``: a dict of value lists (their Cartesian product), a list of dicts, or a list of
    :class:`~drxkmc.spec.RunSpec`. Diffusivity points are ``{**fixed, **point}`` on top of
    ``base`` (a RunSpec; without it ``formula`` is needed): any RunSpec field or BarrierModel
    field. All are validated before the first submission.

    ``sweep_seed``: point ``k`` that sets no ``seed`` of its own (``seed`` neither in the
    point nor in ``fixed``) gets :func:`derived_seed` ``(sweep_seed, k)``, shown in the
    ``seed`` column; RunSpec points get it in place of theirs.

    ``workdir``: each diffusivity point runs with :func:`drxkmc.run_or_resume` in
    ``workdir/point-0000`` etc., so a sweep that is killed (e.g. at a job's time limit) and run
    again continues where its points stopped and returns the points already done at once.

    ``executor``: anything with ``submit(fn, **kwargs) -> future`` (``concurrent.futures``,
    Dask's ``client.get_executor()``, submitit executors, ``mpi4py.futures``); ``None`` runs
    serially. Results come back in grid order whatever order the workers finish in, and are
    the same on every executor.

    ``errors``: ``"collect"`` (default) keeps going when a point fails while running: its row
    has its parameters, null results and the error (``"InvalidParameterError: li_content:
    ..."``) in the ``error`` column, which is null for the points that ran, and a
    :class:`SweepWarning` says how many failed. ``"raise"`` re-raises the first failure (by
    grid order) with its original type, message and ``.field``, after every point finished.
    """
    check.choice("errors", errors, ("collect", "raise"))
    if sweep_seed is not None:
        sweep_seed = check.seed(sweep_seed, "sweep_seed")
    if base is not None:
        check.instance("base", base, RunSpec, "drxkmc.RunSpec")
    spec_points = (
        not isinstance(grid, Mapping)
        and isinstance(grid, Sequence)
        and any(isinstance(p, RunSpec) for p in grid)
    )
    swept = grid_points(grid)
    if task is diffusivity_point:
        specs = _specs(swept, fixed, base, sweep_seed, reseed=spec_points)
        labels = _labels(swept, specs, spec_points, seeded=sweep_seed is not None)
        folder = None if workdir is None else Path(workdir)
        if folder is not None:
            from drxkmc.runs import check_folder

            for k, s in enumerate(specs):  # a changed grid fails here, before any submission
                check_folder(s, folder / f"point-{k:04d}")
        calls: list[dict[str, Any]] = [
            {"spec": s, "workdir": None if folder is None else str(folder / f"point-{k:04d}")}
            for k, s in enumerate(specs)
        ]
        fn: Callable[..., Any] = _run_point
    else:
        if base is not None or workdir is not None or sweep_seed is not None:
            raise invalid("task", "base, workdir and sweep_seed are for diffusivity sweeps")
        calls = [{"task": task, "kwargs": {**fixed, **p}} for p in swept]
        labels = [{k: v for k, v in p.items() if _is_scalar(v)} for p in swept]
        fn = _run_task
    if executor is None:
        outcomes = [fn(**c) for c in calls]
    else:
        futures = [executor.submit(fn, **c) for c in calls]
        outcomes = [_outcome(f) for f in futures]
    failures = [o for o in outcomes if isinstance(o, _Failure)]
    if failures and errors == "raise":
        raise failures[0].exception()
    if failures:
        warnings.warn(
            f"{len(failures)} of {len(outcomes)} sweep points failed; see the 'error' column "
            f"(first: {failures[0].message})",
            SweepWarning,
            stacklevel=2,
        )
    out = []
    for label, outcome in zip(labels, outcomes):
        if isinstance(outcome, _Failure):
            frame = pl.DataFrame({"error": [outcome.message]})
        else:
            frame = outcome.with_columns(error=pl.lit(None, dtype=pl.String))
        # Swept parameters lead; a value the task already reports (e.g. temperature_K) is kept.
        added = {k: pl.lit(v) for k, v in label.items() if k not in frame.columns}
        frame = frame.with_columns(**added)
        out.append(frame.select(list(label) + [c for c in frame.columns if c not in label]))
    return pl.concat(out, how="diagonal_relaxed")


# ----- points ------------------------------------------------------------------------------


def _specs(
    points: list[dict],
    fixed: dict,
    base: RunSpec | None,
    sweep_seed: int | None,
    *,
    reseed: bool,
) -> list[RunSpec]:
    """Every point as a validated RunSpec (an error names the point and the field); with
    ``sweep_seed``, the points without a seed of their own (all if ``reseed``) get one."""
    specs = []
    for k, point in enumerate(points):
        values = {**fixed, **point}
        if sweep_seed is not None and (reseed or "seed" not in values):
            values["seed"] = derived_seed(sweep_seed, k)
        try:
            if base is not None:
                specs.append(base.replace(**values))
            else:
                specs.append(RunSpec.from_flat(values))
        except DrxkmcError as err:
            if len(points) > 1:
                where = type(err)(f"point {k} {_describe(point)}: {err}")
                where.field = getattr(err, "field", "grid")
                raise where from None
            raise
    return specs


def _labels(
    points: list[dict], specs: list[RunSpec], spec_points: bool, *, seeded: bool
) -> list[dict]:
    """The leading columns of each point: what the grid sets (for a list of RunSpecs, the
    fields that differ between them), and the seed when the sweep derived it."""
    if spec_points:
        flats = [s.flat() for s in specs]
        varying = [k for k in flats[0] if any(f.get(k) != flats[0].get(k) for f in flats)]
        labels = [{k: f.get(k) for k in varying if _is_scalar(f.get(k))} for f in flats]
    else:
        labels = [{k: v for k, v in p.items() if _is_scalar(v)} for p in points]
    if seeded:
        for label, spec in zip(labels, specs):
            label["seed"] = spec.seed
    return labels


def _describe(point: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in point.items() if _is_scalar(v))
    return f"({shown})" if shown else ""


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None


# ----- running a point (on a worker) -------------------------------------------------------------


@dataclass
class _Failure:
    """A point that raised: its message, and the exception itself when it pickles (it is
    sent back from workers)."""

    message: str
    error: BaseException | None

    def exception(self) -> BaseException:
        return self.error if self.error is not None else RuntimeError(self.message)


def _failure(err: Exception) -> _Failure:
    try:
        pickle.loads(pickle.dumps(err))
        kept: BaseException | None = err
    except Exception:  # an exception type that cannot travel between processes
        kept = None
    return _Failure(f"{type(err).__name__}: {err}", kept)


def _outcome(future: Any) -> Any:
    """A future's result; a job the back-end lost (a worker or batch job killed, a time limit)
    is a failed point like any other."""
    try:
        return future.result()
    except Exception as err:
        return _failure(err)


def _run(spec: RunSpec, workdir: str | None):
    from drxkmc.runs import run_or_resume, run_spec

    with warnings.catch_warnings():
        # One warning per point would flood a sweep; the frame's 'converged' column says it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if workdir is None:
            result = run_spec(spec, progress=False)
        else:
            result = run_or_resume(spec, workdir, progress=False)
    if result.interrupted:
        raise KeyboardInterrupt  # Ctrl-C stops the sweep, not one point
    return result


class _PointRunner:
    """Runs one diffusivity point; a failure comes back as a value, so that every executor
    (submitit wraps raised errors in its own) reports it the same way.

    ``checkpoint`` makes it requeue on submitit: at a SLURM job's time limit submitit calls it
    and resubmits the same call, which :func:`drxkmc.run_or_resume` continues from the
    point's latest checkpoint (when the sweep has a ``workdir``)."""

    def __call__(self, spec: RunSpec, workdir: str | None) -> pl.DataFrame | _Failure:
        try:
            return _run(spec, workdir).diffusivity
        except Exception as err:
            return _failure(err)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


_run_point = _PointRunner()


def _run_task(task: Callable[..., pl.DataFrame], kwargs: dict) -> pl.DataFrame | _Failure:
    try:
        return task(**kwargs)
    except Exception as err:
        return _failure(err)


# ----- sweep files ---------------------------------------------------------------------------

#: Sections of a sweep file besides those of a run spec (which give the base spec).
SWEEP_SECTIONS = ("grid", "points", "sweep")
SWEEP_FILE = "sweep.toml"
SWEEP_RESULT_FILE = "sweep.parquet"


@dataclass
class SweepFile:
    """A sweep read from a TOML file: the base spec (the run-spec sections), the points
    (``[grid]``: value lists, their Cartesian product; or ``[[points]]`` tables) and the
    sweep seed (``[sweep] seed``)."""

    base: RunSpec
    grid: dict[str, list] | list[dict]
    sweep_seed: int | None
    text: str

    @classmethod
    def read(cls, path: str | os.PathLike) -> SweepFile:
        from drxkmc._specfiles import parse, read_text

        path = Path(path)
        if path.suffix.lower() != ".toml":
            raise invalid("path", f"{str(path)!r}: a sweep file is a .toml file")
        text = read_text(path)
        data = parse(text, "toml", str(path))
        grid, points = data.pop("grid", None), data.pop("points", None)
        options = data.pop("sweep", {})
        if (grid is None) == (points is None):
            raise invalid("grid", f"{path}: give either a [grid] table or [[points]] tables")
        if not isinstance(options, Mapping) or set(options) - {"seed"}:
            raise invalid("sweep", f"{path}: [sweep] takes only 'seed'")
        conf = data.get("configuration")
        if isinstance(conf, dict) and isinstance(conf.get("file"), str):
            conf["file"] = str(path.parent / conf["file"])
        base = RunSpec.from_dict(data, source=str(path))
        seed = options.get("seed")
        if seed is not None:
            try:
                seed = check.seed(seed, "sweep.seed")
            except DrxkmcError as err:
                raise type(err)(f"{path}: {err}") from None
        out = cls(base, grid if grid is not None else points, seed, text)
        try:  # every point, before anything runs
            _specs(grid_points(out.grid), {}, base, seed, reseed=False)
        except DrxkmcError as err:
            located = type(err)(f"{path}: {err}")
            located.field = getattr(err, "field", "grid")
            raise located from None
        return out

    def run(self, workdir: str | os.PathLike | None = None, executor=None) -> pl.DataFrame:
        """Run the sweep (each point in ``workdir/point-NNNN`` when given, so that running it
        again resumes) and, with ``workdir``, write the frame to ``workdir/sweep.parquet``."""
        if workdir is not None:
            from drxkmc._folders import claim_folder, spec_folder

            folder = spec_folder(workdir)
            claim_folder(folder, SWEEP_FILE)
            stored = folder / SWEEP_FILE
            if stored.exists() and stored.read_text(encoding="utf-8") != self.text:
                raise invalid("workdir", f"{str(folder)!r} holds another sweep ({stored})")
            atomic_write(stored, self.text.encode())
        frame = sweep(
            self.grid,
            executor=executor,
            base=self.base,
            sweep_seed=self.sweep_seed,
            workdir=workdir,
        )
        if workdir is not None:
            meta = {"drxkmc_sweep": self.text}
            atomic_write(
                Path(workdir) / SWEEP_RESULT_FILE,
                lambda tmp: frame.write_parquet(tmp, metadata=meta),
            )
        return frame
