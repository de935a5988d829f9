"""Looking at a run: Li trajectories for OVITO, ASE and MDAnalysis, which channels carry the
hops, and an independent check of D* with kinisi.

**Trajectories.** :class:`TrajectoryWriter` (``Simulation.trajectory``) gives every Li an id
that moves with it and writes the *unwrapped* positions (Å) of all Li, in id order, at fixed
simulated times ``start, start + every_s, …`` while the simulation runs (``run`` and
``advance`` alike), in the style of a HOOMD writer or an OpenMM reporter. Formats, from the
extension: extended XYZ (``.xyz``, ``.extxyz``; per-atom ``id`` column, ``time_s`` and ``hops``
in each frame's comment line) and ASE's ``.traj`` (ids as ``tags``, ``time_s`` and ``hops``
in ``atoms.info``). Every frame holds the same Li in the same order, which OVITO, ASE,
MDAnalysis and kinisi expect. The host (transition metals and anions, which do not move in
the Li kMC) is written once, to a separate file ``<name>.host<ext>`` beside the trajectory.

The core takes the frames during the run without drawing a random number, so a run with a
writer makes exactly the hops of one without. Memory stays bounded (the core hands frames
over every 16 MiB) and the file is atomic: frames stream into a hidden temporary file beside
the target that is renamed over it when the writer closes, also after Ctrl-C or an error in
the run, so the file holds every complete frame taken; a process killed outright leaves only
the temporary file (removed by the next write of that target), never a half-written
trajectory.

**Channel usage.** :func:`channel_usage` counts hops by the activated tetrahedron's channel
(0-TM, 1-TM, 2-TM) and anion corners, counted in the core once ``Simulation.count_channels()``
is called.

**kinisi.** :func:`kinisi_check` hands a trajectory to kinisi (McCluskey et al., J. Chem.
Theory Comput. 2024, Bayesian regression of the MSD with its covariance; optional extra
``kinisi``) and returns its D* and 95 % credible interval next to drxkmc's own estimate.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from drxkmc import _validate as check
from drxkmc._files import AtomicFile, atomic_write
from drxkmc.errors import invalid

if TYPE_CHECKING:
    from drxkmc.simulation import RunResult, Simulation

__all__ = ["TrajectoryWriter", "channel_usage", "kinisi_check", "read_trajectory"]

#: Trajectory formats by extension, as ASE names them.
FORMATS = {".xyz": "extxyz", ".extxyz": "extxyz", ".traj": "traj"}

#: Channel names by TM count of the activated tetrahedron.
CHANNELS = ("0-TM", "1-TM", "2-TM")


def _require_ase():
    """The ase package, with ase.io loaded (the optional extra ``structures``)."""
    from drxkmc.io import _require

    _require("ase.io", "ase")
    return importlib.import_module("ase")


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block is done, then deliver it to the handler that
    was in place (Python's raises KeyboardInterrupt). Only the main thread receives signals;
    elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda sig, frame: pending.append(sig))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending and callable(previous):
            previous(signal.SIGINT, None)


def _trajectory_path(path) -> tuple[Path, str]:
    try:
        p = Path(path)
    except TypeError:
        raise invalid("path", f"must be a file path, got {path!r}") from None
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise invalid(
            "path",
            f"{str(p)!r}: trajectories are written as extended XYZ (.xyz, .extxyz) or ASE .traj",
        )
    return p, fmt


class TrajectoryWriter:
    """Writes the unwrapped Li positions of ``sim`` to ``path`` every ``every_s`` simulated
    seconds, from now until :meth:`close` (or the end of a ``with`` block)::

        with sim.trajectory("li.extxyz", every_s=1e-9):
            sim.run(precision=0.05)

    ``host=True`` writes the transition metals and anions once to ``<name>.host<ext>``
    (:attr:`host_path`); ``False`` skips it; a path writes it there. See the module
    documentation for formats and atomicity. One writer per simulation at a time. A writer
    that is never closed keeps recording while the simulation lives; its file is moved into
    place when both are collected or Python exits.
    """

    def __init__(self, sim: Simulation, path: str | os.PathLike, *, every_s: float, host=True):
        from drxkmc.simulation import Simulation

        check.instance("sim", sim, Simulation, "drxkmc.Simulation")
        self.path, self.format = _trajectory_path(path)
        self.every_s = check.number("every_s", every_s, unit="s", positive=True)
        folder = self.path.parent
        if not folder.is_dir():
            raise invalid("path", f"folder {str(folder)!r} does not exist")
        if self.path.is_dir():
            raise invalid("path", f"{str(self.path)!r} is a folder")
        if host is True:
            self.host_path: Path | None = self.path.with_name(
                f"{self.path.stem}.host{self.path.suffix}"
            )
        elif host is False or host is None:
            self.host_path = None
        else:
            self.host_path, _ = _trajectory_path(host)
        self._ase = _require_ase()
        self._sim = sim
        lat = sim.lattice
        self._cell = np.diag(np.array(lat.size, dtype=float) * lat.a)
        if self.host_path is not None:
            self._write_host(self.host_path)
        file = AtomicFile(self.path, suffix=self.path.suffix)
        self.frames_written = 0
        try:
            if self.format == "traj":
                self._out = self._ase.io.Trajectory(str(file.path), "w")
            else:
                self._out = open(file.path, "w", encoding="utf-8")  # noqa: SIM115
        except BaseException:
            file.discard()
            raise
        # Closing the file and moving it into place, once: at close(), or when the writer is
        # collected or Python exits without it.
        self._state = {"broken": False}
        self._finish = weakref.finalize(self, _finish, self._out, file, self._state)
        try:
            sim._kmc.set_frames(sim.time_s, self.every_s, self._frame)
        except BaseException:
            self._state["broken"] = True
            self._finish()
            raise

    def _write_host(self, path: Path) -> None:
        sim = self._sim
        config = sim.configuration()
        cations, anions = config.cation_symbols(), config.anion_symbols()
        keep_c = (cations != "Va") & (cations != "Li")
        keep_a = anions != "Va"
        lat = sim.lattice
        atoms = self._ase.Atoms(
            symbols=[*cations[keep_c].tolist(), *anions[keep_a].tolist()],
            positions=np.concatenate(
                [lat.cation_positions()[keep_c], lat.anion_positions()[keep_a]]
            ),
            cell=self._cell,
            pbc=True,
        )
        fmt = FORMATS[path.suffix.lower()]
        atomic_write(
            path, lambda tmp: self._ase.io.write(tmp, atoms, format=fmt), suffix=path.suffix
        )

    def _frame(self, time_s: float, count: int, hops: int, positions: np.ndarray) -> None:
        """Called by the core with ``count`` frames of one state from ``time_s`` on."""
        n = len(positions)
        atoms = self._ase.Atoms(symbols=["Li"] * n, positions=positions, cell=self._cell, pbc=True)
        ids = np.arange(n)
        if self.format == "traj":
            atoms.set_tags(ids)
        else:
            atoms.new_array("id", ids)
        try:
            for j in range(count):
                atoms.info = {"time_s": time_s + j * self.every_s, "hops": int(hops)}
                # Ctrl-C during a frame takes effect after it: the file never ends mid-frame.
                with _deferred_interrupt():
                    if self.format == "traj":
                        self._out.write(atoms)
                    else:
                        self._ase.io.write(self._out, atoms, format="extxyz")
                        self._out.flush()
                    self.frames_written += 1
        except KeyboardInterrupt:
            raise
        except BaseException:
            # Failed mid-frame (e.g. disk full): the file is not kept.
            self._state["broken"] = True
            raise

    def close(self) -> None:
        """Stop recording and move the file into place (all complete frames). Idempotent."""
        if not self._finish.alive:
            return
        try:
            self._sim._kmc.clear_frames()
        finally:
            self._finish()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._finish.alive else "closed"
        return (
            f"TrajectoryWriter({str(self.path)!r}, every_s={self.every_s:g}, "
            f"{self.frames_written} frames, {state})"
        )


def _finish(out, file: AtomicFile, state: dict) -> None:
    """Close a writer's output and move its file into place (or remove it after a failed
    write)."""
    try:
        out.close()
    finally:
        if state["broken"]:
            file.discard()
        else:
            file.commit()


def read_trajectory(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times s, ids, unwrapped positions Å of shape (frames, n_Li, 3)) of a trajectory
    written by :class:`TrajectoryWriter`, read with ASE."""
    p, fmt = _trajectory_path(path)
    if not p.is_file():
        raise invalid("path", f"{str(p)!r} is not an existing file")
    ase = _require_ase()
    try:
        frames = ase.io.read(str(p), index=":", format=fmt)
    except Exception as e:  # ASE raises many kinds on bad input
        raise invalid("path", f"could not read {str(p)!r} as a trajectory: {e}") from None
    if not frames:
        raise invalid("path", f"{str(p)!r} holds no frames")
    first = frames[0]
    ids = first.get_tags() if fmt == "traj" else first.arrays.get("id")
    if ids is None or any("time_s" not in f.info for f in frames):
        raise invalid("path", f"{str(p)!r} is not a drxkmc trajectory (no Li ids or times)")
    times = np.array([f.info["time_s"] for f in frames], dtype=float)
    positions = np.stack([f.get_positions() for f in frames])
    return times, np.asarray(ids, dtype=np.int64), positions


def _corner_class(n_f: int, n_cl: int, n_va: int) -> str:
    parts = [name for name, n in (("F", n_f), ("Cl", n_cl), ("O vacancy", n_va)) if n]
    return "+".join(parts) if parts else "O only"


def channel_usage(sim: Simulation, *, detail: bool = False) -> pl.DataFrame:
    """Hops since ``sim.count_channels()`` by channel (``"0-TM"``, ``"1-TM"``, ``"2-TM"``: the
    TM count of the activated tetrahedron) and anion corners of that tetrahedron
    (``"O only"``, or the other anions among its four corners: ``"F"``, ``"Cl"``, ``"F+Cl"``,
    ``"O vacancy"`` …): columns ``channel``, ``corners``, ``hops``, ``hop_fraction``.
    Only combinations that carried hops are listed. ``detail=True`` gives one row per
    tetrahedron class instead (all of them), with the corner counts
    ``n_O``, ``n_F``, ``n_Cl``, ``n_anion_vacancy``."""
    cols = sim._kmc.channel_hops()
    if cols is None:
        raise invalid(
            "sim",
            "does not count hops by channel: call sim.count_channels() before running",
        )
    frame = pl.DataFrame({k: cols[k] for k in cols}).with_columns(
        pl.col("hops").cast(pl.Int64),
        pl.col("channel").map_elements(lambda n: CHANNELS[n], return_dtype=pl.String),
    )
    total = frame["hops"].sum()
    frac = pl.col("hops") / total if total else pl.lit(float("nan"))
    if detail:
        return frame.with_columns(hop_fraction=frac)
    corners = [
        _corner_class(f, c, v)
        for f, c, v in zip(frame["n_F"], frame["n_Cl"], frame["n_anion_vacancy"])
    ]
    return (
        frame.with_columns(corners=pl.Series(corners, dtype=pl.String))
        .group_by("channel", "corners")
        .agg(pl.col("hops").sum())
        .filter(pl.col("hops") > 0)
        .with_columns(hop_fraction=frac)
        .sort("channel", "corners")
    )


def kinisi_check(
    path: str | os.PathLike,
    result: RunResult | None = None,
    *,
    fit_from: float = 0.2,
    seed: int = 0,
    samples: int = 1000,
    lags: int = 100,
    max_lag_s: float | None = None,
) -> pl.DataFrame:
    """D* from the trajectory at ``path`` by kinisi (optional extra ``kinisi``), next to
    drxkmc's own estimate from ``result`` (the :class:`RunResult` of the run the trajectory
    records), as one frame: ``method``, ``D_tracer_cm2_s``, ``D_tracer_err_cm2_s`` (kinisi:
    posterior standard deviation; drxkmc: standard error over blocks) and the 95 % interval
    ``D_low_cm2_s``, ``D_high_cm2_s`` (kinisi: credible interval; drxkmc: ±1.96 standard
    errors). kinisi fits the MSD from ``fit_from`` of the longest lag on, as drxkmc does;
    ``seed`` and ``samples`` set its sampler, ``lags`` the number of time intervals it uses,
    up to ``max_lag_s`` (default: the whole trajectory, as kinisi does; give drxkmc's block
    length, ``result.msd["lag_s"].max()``, to fit the same window).

    kinisi unwraps positions frame to frame by the minimum image; the trajectory's positions
    are unwrapped already, so kinisi is handed a cell (only its size matters, as D* does not
    depend on the volume) so large that nothing is wrapped again, and frames may be as far
    apart in time as the fit allows.
    """
    fit_from = check.fraction("fit_from", fit_from)
    seed = check.seed(seed)
    samples = check.count("samples", samples, minimum=10)
    lags = check.count("lags", lags, minimum=4)
    if max_lag_s is not None:
        max_lag_s = check.number("max_lag_s", max_lag_s, unit="s", positive=True)
    times, _, positions = read_trajectory(path)
    if len(times) < 4:
        raise invalid("path", f"needs at least 4 frames for a fit, has {len(times)}")
    steps = np.diff(times)
    every = float(np.median(steps))
    if not np.allclose(steps, every, rtol=1e-6):
        raise invalid("path", "frames are not equally spaced in time")
    ase = _require_ase()
    # Larger than twice any coordinate: kinisi's minimum-image unwrapping changes nothing.
    side = 4.0 * max(float(np.abs(positions).max()), 1.0)
    cell = np.eye(3) * side
    try:
        sc = importlib.import_module("scipp")
        DiffusionAnalyzer = importlib.import_module("kinisi.analyze").DiffusionAnalyzer
    except ImportError as e:
        raise ImportError(
            "kinisi_check needs kinisi, the optional extra 'kinisi': pip install drxkmc[kinisi]"
        ) from e
    frames = [
        ase.Atoms(["Li"] * positions.shape[1], positions=p, cell=cell, pbc=True) for p in positions
    ]
    # kinisi's times are in the unit of time_step; ps keeps its numbers near 1.
    unit_s = 1e-12
    # At most `lags` time intervals, equally spaced multiples of the frame spacing (kinisi's
    # cost grows with frames × intervals).
    longest = len(times) - 1
    if max_lag_s is not None:
        longest = min(longest, max(int(max_lag_s / every), 2))
    steps_used = np.unique(np.linspace(1, longest, min(lags, longest)).astype(int))
    analyzer = DiffusionAnalyzer.from_ase(
        frames,
        specie="Li",
        time_step=sc.scalar(every / unit_s, unit="ps"),
        step_skip=sc.scalar(1, unit=sc.units.dimensionless),
        dt=sc.array(dims=["time interval"], values=steps_used * (every / unit_s), unit="ps"),
        progress=False,
    )
    span = steps_used[-1] * every / unit_s
    analyzer.diffusion(
        sc.scalar(fit_from * span, unit="ps"),
        progress=False,
        n_samples=samples,
        random_state=np.random.RandomState(seed),
    )
    d = np.asarray(sc.to_unit(analyzer.D, "cm**2/s").values, dtype=float)
    low, high = np.percentile(d, [2.5, 97.5])
    rows = [
        {
            "method": "kinisi",
            "D_tracer_cm2_s": float(np.mean(d)),
            "D_tracer_err_cm2_s": float(np.std(d, ddof=1)),
            "D_low_cm2_s": float(low),
            "D_high_cm2_s": float(high),
        }
    ]
    if result is not None:
        row = result.diffusivity.row(0, named=True)
        value, err = row["D_tracer_cm2_s"], row["D_tracer_err_cm2_s"]
        rows.append(
            {
                "method": "drxkmc",
                "D_tracer_cm2_s": value,
                "D_tracer_err_cm2_s": err,
                "D_low_cm2_s": value - 1.96 * err,
                "D_high_cm2_s": value + 1.96 * err,
            }
        )
    return pl.DataFrame(rows)


def agree(frame: pl.DataFrame, sigmas: float = 3.0) -> bool:
    """Whether the estimates in a :func:`kinisi_check` frame agree within ``sigmas`` of their
    combined uncertainty (every pair)."""
    d = frame["D_tracer_cm2_s"].to_numpy()
    e = frame["D_tracer_err_cm2_s"].to_numpy()
    return all(
        abs(d[i] - d[j]) <= sigmas * math.hypot(e[i], e[j])
        for i in range(len(d))
        for j in range(i + 1, len(d))
    )
