"""Independent replicas of one simulation, run side by side on the cores of one machine.

Replicas differ only in their kMC seed. Each runs in its own thread: the Rust core releases
the GIL while it hops, so ``n`` replicas use ``n`` cores. Their spread gives an uncertainty
that, unlike block averaging within one run, needs no assumption about how fast blocks
decorrelate.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from drxkmc import _validate as check
from drxkmc.configuration import Configuration
from drxkmc.errors import invalid
from drxkmc.model import BarrierModel
from drxkmc.simulation import Simulation

#: Keyword arguments of :meth:`Simulation.run` that replicas pass through.
RUN_ARGUMENTS = ("blocks", "samples_per_block", "warmup_hops", "progress", "max_hops", "target")
#: Columns of the summary row that add up over replicas (the rest are averaged).
TOTALS = ("hops", "time_s", "blocks")


def run_replicas(
    config: Configuration,
    model: BarrierModel | None = None,
    *,
    temperature_K: float,
    seeds: Iterable[int],
    hops: int | None = None,
    precision: float | None = None,
    workers: int | None = None,
    **run_kwargs,
) -> pl.DataFrame:
    """Run one independent :class:`Simulation` per seed in a thread pool.

    Every replica starts from ``config`` and measures with ``Simulation.run(hops=hops,
    **run_kwargs)`` or ``Simulation.run(precision=precision, **run_kwargs)`` (give one;
    ``run_kwargs``: ``blocks``, ``samples_per_block``, ``warmup_hops``, ``max_hops``,
    ``target``; ``progress`` is off unless asked for). ``workers`` threads run at once (default: one per replica, at most one
    per core). Each replica gives the same row as running it alone, whatever ``workers``.

    Returns the diffusivity frame of every replica, in the order of ``seeds``, with columns
    ``replica`` (the seed as text) and ``seed`` first, followed by one summary row
    (``replica == "mean"``, ``seed`` null): every quantity that has an ``*_err`` column is the
    mean over replicas and its ``*_err`` the standard error of that mean across replicas
    (std/√n, n − 1 degrees of freedom; NaN for one replica); ``hops``, ``time_s`` and
    ``blocks`` are totals; ``converged`` and ``stationary`` hold when they hold for every
    replica; the other columns are means.

    Ctrl-C starts no further replicas and raises ``KeyboardInterrupt``; replicas already
    running finish in the background (threads cannot be interrupted).

    >>> frame = run_replicas(config, temperature_K=600, seeds=range(4), precision=0.1)
    >>> frame.filter(pl.col("replica") == "mean")["D_tracer_cm2_s"]
    """
    seeds = check.seeds(seeds)
    if (hops is None) == (precision is None):
        raise invalid("hops", "give exactly one of hops or precision")
    length: dict = (
        {"hops": check.count("hops", hops)}
        if hops is not None
        else {"precision": check.fraction("precision", precision)}
    )
    workers = (
        min(len(seeds), os.cpu_count() or 1) if workers is None else check.count("workers", workers)
    )
    for name in run_kwargs:
        if name not in RUN_ARGUMENTS:
            raise invalid(
                name, f"is not an argument of Simulation.run (use {', '.join(RUN_ARGUMENTS)})"
            )
    for name, minimum in (("blocks", 1), ("samples_per_block", 2), ("warmup_hops", 0)):
        if name in run_kwargs:
            run_kwargs[name] = check.count(name, run_kwargs[name], minimum=minimum)
    run_kwargs.setdefault("progress", False)
    # The first replica is built here, before any thread starts: it checks config, model and
    # temperature (and that some Li can hop) at once.
    first = Simulation(config, model, temperature_K=temperature_K, seed=seeds[0])
    first._require_events()

    def replica(k: int) -> pl.DataFrame:
        sim = (
            first
            if k == 0
            else Simulation(config, model, temperature_K=temperature_K, seed=seeds[k])
        )
        return sim.run(**length, **run_kwargs).diffusivity

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drxkmc-replica")
    try:
        frames = list(pool.map(replica, range(len(seeds))))
    except BaseException:
        # Ctrl-C (or a failed replica): start no further replicas; running ones end with
        # their current run, since a thread cannot be interrupted.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    rows = pl.concat(frames, how="vertical").with_columns(
        pl.Series("replica", [str(s) for s in seeds]), pl.Series("seed", seeds, dtype=pl.UInt64)
    )
    rows = rows.select("replica", "seed", *frames[0].columns)
    return pl.concat([rows, _summary(rows)], how="vertical")


def _summary(rows: pl.DataFrame) -> pl.DataFrame:
    """The summary row of :func:`run_replicas` (see there)."""
    n = rows.height
    out: dict[str, object] = {"replica": "mean", "seed": None}
    for col in rows.columns[2:]:
        if rows.schema[col] == pl.Boolean:
            # converged / stationary: the mean row is so only if every replica is.
            out[col] = bool(rows[col].all())
            continue
        values = rows[col].cast(pl.Float64).to_numpy()
        if col in TOTALS:
            out[col] = values.sum()
        elif "_err" in col and col.replace("_err", "", 1) in rows.columns:
            mean_of = rows[col.replace("_err", "", 1)].cast(pl.Float64).to_numpy()
            out[col] = float(np.std(mean_of, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        else:
            out[col] = float(np.mean(values))
    return pl.DataFrame([out], schema=rows.schema, strict=False)
