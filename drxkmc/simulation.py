"""Running the kMC: :class:`Simulation` and its :class:`RunResult`."""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc._files import read_checkpoint, write_checkpoint
from drxkmc._validate import count as _check_count
from drxkmc._validate import duration as _check_time
from drxkmc._validate import fraction as _check_fraction
from drxkmc.analysis import (
    EXPONENT_TOLERANCE,
    Block,
    block_from_observations,
    diffusivity_row,
    msd_frame,
)
from drxkmc.configuration import (
    _LI_CODE as LI_CODE,
)
from drxkmc.configuration import (
    _VACANCY_CODE as VACANCY_CODE,
)
from drxkmc.configuration import (
    DEFAULT_SWEEPS,
    DEFAULT_TIMESCALE_S,
    Configuration,
    check_material,
)
from drxkmc.errors import invalid
from drxkmc.lattice import Lattice
from drxkmc.material import Material, as_material
from drxkmc.model import BarrierModel

#: Hops per call into the core: between calls Python shows progress and sees Ctrl-C.
HOPS_PER_CHUNK = 2_000_000
_U64_MAX = 2**64 - 1
#: Measured hops of the first try of ``run(precision=...)`` per Li, and at least this many.
INITIAL_HOPS_PER_LI = 50
INITIAL_HOPS = 200_000
#: Default cap on the measured hops of ``run(precision=...)``.
DEFAULT_MAX_HOPS = 200_000_000
#: Blocks of ``run(precision=...)`` grow this much each time the MSD is still sub-linear, and
#: for the check that a longer block length gives the same answer.
BLOCK_GROWTH = 4.0
#: Two block lengths agree when their results differ by at most this many combined errors.
LENGTH_CHECK_SIGMAS = 2.0
#: Default of ``Simulation(acceleration=...)``: plain kMC. The rattling acceleration (a number
#: S ≥ 1, e.g. 100) agrees with plain kMC in the diffusive regime (tests/test_equilibrium.py)
#: but saved only 1.5–2x hops on the DRX systems measured, and biases D by up to ~10% in
#: sub-diffusive windows, so it is opt-in.
DEFAULT_ACCELERATION = None
#: Quantities ``run(precision=...)`` can target, with their frame column.
TARGETS = {"D_tracer": "D_tracer_cm2_s", "D_jump": "D_jump_cm2_s", "D_chem": "D_chem_cm2_s"}


@dataclass
class RunResult:
    """What a measuring run returns. Frames carry units in their column names."""

    diffusivity: pl.DataFrame
    msd: pl.DataFrame
    blocks: list[Block] = field(repr=False)
    interrupted: bool = False

    def plot_msd(self, ax=None, *, loglog: bool = False):
        """MSD (tracer and centre of mass) against lag with standard errors, the fitted window
        and the convergence verdict; ``loglog`` adds the slope-1 guide."""
        from drxkmc.plot import plot_msd

        return plot_msd(self, ax=ax, loglog=loglog)


class Simulation:
    """Kinetic Monte Carlo of Li o-t-o hops in a configuration at one temperature.

    On a slab lattice (``geometry="slab"``) no hop or tetrahedron crosses a surface, and the
    diffusivities are in-plane: MSDs of the x, y components, D = MSD/(4t).

    >>> sim = Simulation(config, BarrierModel(), temperature_K=300, seed=1)
    >>> result = sim.run(hops=1_000_000)
    >>> result.diffusivity
    """

    def __init__(
        self,
        config: Configuration,
        model: BarrierModel | None = None,
        *,
        temperature_K: float = 300.0,
        seed: int = 0,
        equilibrate: bool = True,
        timescale_s: float = DEFAULT_TIMESCALE_S,
        acceleration: float | None = DEFAULT_ACCELERATION,
    ):
        """``equilibrate`` (default) first draws the Li arrangement from the model's own
        equilibrium at ``temperature_K`` (:meth:`Configuration.equilibrated`, clusters of the
        kinetic network on ``timescale_s``), so that the run starts stationary; False starts
        from ``config`` as given.

        ``acceleration`` = S caps the equilibrium flux of every hop path at S times the
        structure's critical flux g* (critical-path analysis; see ``docs/design.md``): hops
        that only rattle inside quasi-equilibrated groups are slowed, paths that carry
        transport are untouched, detailed balance holds, and long-time diffusivities are those
        of plain kMC up to corrections that vanish as S grows (tested against plain kMC).
        ``None`` runs plain kMC. The cap is set for the starting Li count and stays fixed."""
        check.instance("config", config, Configuration, "drxkmc.Configuration")
        model = check.model(model)
        equilibrate = check.flag("equilibrate", equilibrate)
        self.material = config.material
        temperature_K = check.temperature("temperature_K", temperature_K)
        timescale_s = check.number("timescale_s", timescale_s, unit="s", positive=True)
        seed = check.seed(seed)
        if acceleration is not None:
            acceleration = check.number("acceleration", acceleration, minimum=1.0)
        # One engine only (a second would double the peak memory of a large lattice); the
        # equilibrium sampling checks the model and temperature before it samples.
        start = config
        if equilibrate:
            start = config._equilibrium(
                model, temperature_K, timescale_s, None, DEFAULT_SWEEPS, seed
            )[0]
        self._kmc = _core.Kmc(start._c, model._core_dict(), temperature_K, seed)
        self.timescale_s = timescale_s
        if acceleration is not None:
            critical = _core.critical_flux(start._c, model._core_dict(), temperature_K)
            if critical is not None:
                flux, mu = critical
                self._kmc.set_rate_cap(acceleration * flux, mu)

    @property
    def flux_cap_per_s(self) -> float:
        """The cap on the equilibrium flux of every path (``acceleration`` × g*), s⁻¹; inf when
        the run is plain kMC."""
        return self._kmc.rate_cap[0]

    @property
    def percolating_li_fraction(self) -> float:
        """Li on clusters of the kinetic network (paths firing within ``timescale_s``) that
        span the cell (wrap it; in a slab along x or y, the directions a slab's D is measured
        along), over all Li: the Li that can carry long-range transport. It does not depend on
        how long a run is."""
        k = self._kmc
        cut = _core.kinetic_cutoff_ev(k.model(), k.temperature_k, self.timescale_s)
        cfg = _core.Configuration.from_species(k.lattice, k.cations(), k.anions(), k.tm_names)
        p = _core.percolation_analysis(
            cfg, barrier_cutoff_ev=cut, model=k.model(), criterion="wrap"
        )
        return p["n_accessible_li"] / p["n_li"] if p["n_li"] else float("nan")

    @property
    def model(self) -> BarrierModel:
        return BarrierModel._from_core(self._kmc.model())

    @property
    def temperature_K(self) -> float:
        return self._kmc.temperature_k

    @property
    def lattice(self) -> Lattice:
        return Lattice._wrap(self._kmc.lattice)

    # ----- state -------------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        """Simulated time, s."""
        return self._kmc.time_s

    @property
    def hops(self) -> int:
        return self._kmc.hops

    @property
    def memory_bytes(self) -> int:
        """Bytes allocated by the engine's per-site buffers."""
        return self._kmc.memory_bytes

    @property
    def total_rate_per_s(self) -> float:
        """Sum of the rates of every possible hop now, s⁻¹ (the engine stores each Li's escape
        rate rounded up to f32, so this is at most 2⁻²³ above the exact sum; hops happen at
        the exact rates)."""
        return self._kmc.total_rate

    def configuration(self) -> Configuration:
        """The current occupancy as a new :class:`Configuration`."""
        inner = _core.Configuration.from_species(
            self._kmc.lattice, self._kmc.cations(), self._kmc.anions(), self._kmc.tm_names
        )
        return Configuration(inner, self.material)

    def li_occupancy(self) -> np.ndarray:
        """Boolean mask of the cation sites holding Li now."""
        return self._kmc.cations() == LI_CODE

    def site_energies_eV(self) -> np.ndarray:
        """Site energy of a Li on every cation site, eV."""
        return self._kmc.site_energies()

    def displacements_A(self) -> np.ndarray:
        """Displacement (Å) of the Li on each cation site since the current block started."""
        return self._kmc.displacements()

    def events(self) -> pl.DataFrame:
        """Every hop possible now: sites, path (tetrahedron), channel, barrier and rate."""
        cols = self._kmc.events()
        return pl.DataFrame(
            {
                k: cols[k]
                for k in (
                    "from_site",
                    "to_site",
                    "path",
                    "direction",
                    "channel",
                    "barrier_eV",
                    "rate_per_s",
                )
            }
        )

    # ----- looking at the run (drxkmc.trajectory) ----------------------------------------

    def trajectory(self, path: str | os.PathLike, *, every_s: float, host=True):
        """A :class:`drxkmc.trajectory.TrajectoryWriter` that writes the unwrapped Li
        positions to ``path`` (``.extxyz``/``.xyz`` or ASE ``.traj``) every ``every_s``
        simulated seconds while this simulation runs, until closed::

            with sim.trajectory("li.extxyz", every_s=1e-9):
                sim.run(precision=0.05)
        """
        from drxkmc.trajectory import TrajectoryWriter

        return TrajectoryWriter(self, path, every_s=every_s, host=host)

    def li_positions_A(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, unwrapped positions Å of shape (n_Li, 3)) of every Li in id order. Ids are
        given (0, 1, … in cation-site order) at the first call and then move with their Li;
        an id's position changes exactly as its Li's displacement does."""
        self._kmc.enable_li_ids()
        state = self._kmc.li_positions()
        assert state is not None  # ids were just enabled
        return state

    def count_channels(self, *, bonds: bool = False) -> None:
        """Count hops by channel and anion corners from now on
        (:func:`drxkmc.trajectory.channel_usage`, :meth:`channel_usage`); ``bonds=True`` also
        counts the net hops across every Li–Li bond (:meth:`bond_flux`, 24 bytes per site)."""
        bonds = check.flag("bonds", bonds)
        self._kmc.enable_channel_counts()
        if bonds:
            self._kmc.enable_bond_flux()

    def bond_flux(self) -> pl.DataFrame:
        """Net hops across every nearest-neighbour bond that carried any since
        ``count_channels(bonds=True)``: ``from_site``, ``to_site`` (cation indices),
        ``net_hops`` (from → to minus to → from), largest first. The paths carrying the most
        net flux are the ones that conduct; ``drxkmc.plot.plot_bond_flux`` draws a slice."""
        cols = self._kmc.bond_flux()
        if cols is None:
            raise invalid("bonds", "are not counted: call sim.count_channels(bonds=True) first")
        frame = pl.DataFrame({k: cols[k] for k in ("from_site", "to_site", "net_hops")})
        return frame.sort(pl.col("net_hops").abs(), descending=True, maintain_order=True)

    def channel_usage(self, *, detail: bool = False) -> pl.DataFrame:
        """Hops by channel (0-TM, 1-TM, 2-TM) and anion corners since :meth:`count_channels`
        (:func:`drxkmc.trajectory.channel_usage`)."""
        from drxkmc.trajectory import channel_usage

        return channel_usage(self, detail=detail)

    # ----- dynamics ----------------------------------------------------------------------

    def advance(self, *, hops: int | None = None, time_s: float | None = None) -> None:
        """Run without measuring (equilibration): ``hops`` hops or ``time_s`` seconds."""
        if (hops is None) == (time_s is None):
            raise invalid("hops", "give exactly one of hops or time_s")
        if hops is not None:
            n = _check_count("hops", hops)
            self._require_events()
            while n > 0:
                step = min(n, HOPS_PER_CHUNK)
                self._kmc.run(math.inf, step, np.empty(0))
                n -= step
        else:
            t = _check_time("time_s", time_s)
            self._run_until(self.time_s + t, np.empty(0))

    def run(
        self,
        *,
        hops: int | None = None,
        time_s: float | None = None,
        precision: float | None = None,
        target: str = "D_tracer",
        max_hops: int = DEFAULT_MAX_HOPS,
        blocks: int = 10,
        samples_per_block: int = 20,
        warmup_fraction: float = 0.1,
        warmup_hops: int | None = None,
        progress: bool | None = None,
    ) -> RunResult:
        """Measure diffusivities. Give exactly one of:

        - ``hops``: the measuring part makes ``hops`` hops (to within one block), whatever
          the rates do. The hop rate is measured first, then blocks of fixed simulated length
          run until the count is reached;
        - ``time_s``: the measuring part lasts ``time_s`` simulated seconds;
        - ``precision``: run until the relative standard error of ``target`` (``"D_tracer"``,
          ``"D_jump"`` or ``"D_chem"``) is at most ``precision`` *and* the run is converged
          (MSD exponent within ±0.1 of 1 over the fitted window, stationary); the blocks
          grow longer while the MSD is sub-linear and more are added while the error is too
          large, up to ``max_hops`` hops in all, after which the result is returned with a
          :class:`ConvergenceWarning`.

        Each block gives one estimate; uncertainties are standard errors over blocks. Before
        measuring, a warm-up of ``warmup_fraction`` of the measuring time (at least the hops
        needed to measure the rate) is run (``warmup_hops`` adds a fixed number of hops before
        it). The diffusivity frame says whether the result converged (``converged``,
        ``msd_exponent``, ``stationary``); an unconverged result warns. Ctrl-C stops after the
        current chunk and returns what the completed blocks measured (``interrupted=True``).
        """
        blocks = _check_count("blocks", blocks, minimum=2)
        samples_per_block = _check_count("samples_per_block", samples_per_block, minimum=2)
        max_hops = _check_count("max_hops", max_hops)
        warmup_fraction = _check_fraction("warmup_fraction", warmup_fraction, allow_zero=True)
        if warmup_hops is not None:
            warmup_hops = _check_count("warmup_hops", warmup_hops, minimum=0)
        given = [
            name
            for name, v in (("hops", hops), ("time_s", time_s), ("precision", precision))
            if v is not None
        ]
        if len(given) != 1:
            raise invalid("hops", "give exactly one of hops, time_s or precision")
        if hops is not None:
            hops = _check_count("hops", hops)
        elif time_s is not None:
            time_s = _check_time("time_s", time_s)
        else:
            precision = _check_fraction("precision", precision)
            if target not in TARGETS:
                raise invalid("target", f"must be one of {', '.join(TARGETS)}, got {target!r}")
        self._require_events()
        if progress is None:
            progress = sys.stderr.isatty()
        run = _Measurement(self, blocks, samples_per_block, progress)
        try:
            if warmup_hops:
                self.advance(hops=warmup_hops)
            # Warm-up: a fraction of the measuring time, at most one block (the start is in
            # equilibrium by default; this guards against what remains of a relaxation).
            if time_s is not None:
                self._warm_up(
                    self.time_s + min(warmup_fraction * time_s, time_s / blocks), progress
                )
                run.measure(time_s / blocks, blocks=blocks)
            else:
                n_plan = hops if hops is not None else _initial_hops(self._n_li())
                rate = self._hop_rate(_calibration_hops(n_plan, self._n_li()))
                planned = n_plan / rate
                self._warm_up(
                    self.time_s + min(warmup_fraction * planned, planned / blocks), progress
                )
                if hops is not None:
                    run.measure(planned / blocks, hops=hops)
                else:
                    assert precision is not None  # the argument check asked for one of three
                    run.to_precision(planned / blocks, precision, TARGETS[target], max_hops)
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            run.close()
        result = run.result()
        row = result.diffusivity.row(0, named=True)
        if not run.interrupted and not row["converged"]:
            warnings.warn(
                _unconverged_reason(row, precision, max_hops), ConvergenceWarning, stacklevel=2
            )
        elif precision is not None and not run.interrupted:
            rel = _relative_error(row, TARGETS[target])
            if not rel <= precision:
                warnings.warn(
                    f"max_hops={max_hops} reached with a relative error of {rel:.1%} on "
                    f"{target} (asked {precision:.1%})",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        return result

    def _n_li(self) -> int:
        return int(np.count_nonzero(self._kmc.cations() == LI_CODE))

    def _hop_rate(self, n: int) -> float:
        """Hops per simulated second over the next ``n`` hops (which are run)."""
        h0, t0 = self.hops, self.time_s
        self.advance(hops=n)
        dt = self.time_s - t0
        return (self.hops - h0) / dt if dt > 0 else self.total_rate_per_s

    def _require_events(self) -> None:
        if self.total_rate_per_s > 0:
            return
        cations = self._kmc.cations()
        n_li = int(np.count_nonzero(cations == LI_CODE))
        if n_li == 0:
            raise invalid("config", "holds no Li, so nothing can hop; raise li_content")
        if not np.any(cations == VACANCY_CODE):
            raise invalid(
                "config",
                "has no empty cation site for Li to hop into; lower li_content to make vacancies",
            )
        if len(self.events()) == 0:
            raise invalid(
                "config",
                "no Li has an empty neighbour to hop into (every vacancy is surrounded by "
                "transition metals); lower li_content or use another configuration",
            )
        raise invalid(
            "model",
            f"every possible hop has a zero rate at {self.temperature_K:g} K: the barriers are "
            f"too high for this temperature (channel_barrier_eV = "
            f"{self.model.channel_barrier_eV}); lower them or raise temperature_K",
        )

    def _warm_up(self, t_end: float, progress: bool) -> None:
        """Run to ``t_end`` without measuring, with a progress bar (simulated time) if asked."""
        if not progress:
            self._run_until(t_end, np.empty(0))
            return
        from tqdm.auto import tqdm

        t0 = self.time_s
        with tqdm(
            total=1.0, desc="warm-up", leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|"
        ) as bar:

            def advanced(t: float) -> None:
                bar.n = min(1.0, (t - t0) / (t_end - t0)) if t_end > t0 else 1.0
                bar.refresh()

            self._run_until(t_end, np.empty(0), on_chunk=advanced)

    def _run_until(
        self,
        t_end: float,
        sample_times: np.ndarray,
        max_hops: int | None = None,
        on_chunk=None,
    ) -> dict:
        """Advance to ``t_end`` (or until ``max_hops`` hops are done) in chunks of about
        HOPS_PER_CHUNK hops, observing at ``sample_times``; the GIL is released inside each
        chunk. ``on_chunk(time_s)`` is called after each chunk."""
        parts: list[dict] = []
        h0 = self.hops
        while self.time_s < t_end:
            left = _U64_MAX if max_hops is None else max_hops - (self.hops - h0)
            if left <= 0:
                break
            rate = self.total_rate_per_s
            chunk_end = t_end if rate <= 0 else min(t_end, self.time_s + HOPS_PER_CHUNK / rate)
            lo = np.searchsorted(sample_times, self.time_s, side="right")
            hi = np.searchsorted(sample_times, chunk_end, side="right")
            _, obs = self._kmc.run(chunk_end, left, np.ascontiguousarray(sample_times[lo:hi]))
            parts.append(obs)
            if on_chunk is not None:
                on_chunk(self.time_s)
        if not parts:
            _, obs = self._kmc.run(t_end, 0, np.empty(0))
            parts.append(obs)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    # ----- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the exact state (generator included) and the material to ``path``.

        The file has a header, a format version and a checksum, so a damaged file is refused
        on loading; it is written atomically with the user's umask
        (:func:`drxkmc._files.atomic_write`). Raises
        :class:`~drxkmc.errors.SimulationBusyError` while another thread runs the simulation.
        """
        write_checkpoint(path, self._checkpoint_bytes())

    @classmethod
    def load_checkpoint(cls, path: str | os.PathLike, material=None) -> Simulation:
        """Resume a run saved by :meth:`save_checkpoint`; it continues bit-identically.

        ``material`` defaults to the one saved with the run. A file that is not a complete,
        undamaged drxkmc checkpoint raises :class:`drxkmc.InvalidParameterError` with
        ``.field == "checkpoint"``.
        """
        data = read_checkpoint(path)
        return cls._from_checkpoint_bytes(data, material)

    def _checkpoint_bytes(self) -> bytes:
        composition = None if self.material is None else self.material._c
        return self._kmc.checkpoint(composition)

    @classmethod
    def _from_checkpoint_bytes(cls, data: bytes, material=None) -> Simulation:
        sim = cls.__new__(cls)
        sim._kmc, saved = _core.Kmc.from_checkpoint(bytes(data))
        sim.material = None
        if material is not None:
            material = check_material(sim.configuration(), as_material(material))
        elif saved is not None:
            material = Material(saved, dict(saved.oxidation_overrides))
        sim.material = material
        sim.timescale_s = DEFAULT_TIMESCALE_S
        return sim

    def __reduce__(self):
        # Pickling is an exact checkpoint: a simulation sent to a worker continues identically.
        return (Simulation._from_checkpoint_bytes, (self._checkpoint_bytes(),))


class ConvergenceWarning(UserWarning):
    """A diffusivity was returned that has not converged (see the frame's ``converged``)."""


def _unconverged_reason(row: dict, precision: float | None, max_hops: int) -> str:
    """Why a diffusivity row has not converged, and what to do."""
    alpha = row["msd_exponent"]
    where = f"({row['blocks']} blocks, {row['hops']:,} hops)"
    if not abs(alpha - 1) <= EXPONENT_TOLERANCE:
        why = (
            f"the MSD is not linear (exponent {alpha:.2f}, 1 when diffusive) {where}: Li are "
            "still sub-diffusive on this time scale, so D* is an upper bound"
        )
    elif not row["stationary"]:
        why = f"the run is not stationary {where}"
    else:
        why = (
            f"max_hops={max_hops:,} ran out before a 4x longer block length confirmed the result "
            f"{where}"
            if precision is not None
            else f"too few blocks {where}"
        )
    return f"the diffusivity has not converged: {why}; run longer, e.g. run(precision=0.05)"


def _initial_hops(n_li: int) -> int:
    return max(INITIAL_HOPS, INITIAL_HOPS_PER_LI * n_li)


def _calibration_hops(n: int, n_li: int) -> int:
    """Hops used to measure the hop rate before a run of ``n`` hops (also warm-up)."""
    return int(min(max(n // 100, 10 * n_li, 10_000), 200_000))


def _relative_error(row: dict, column: str) -> float:
    err = row[column.replace("_cm2_s", "_err_cm2_s")]
    value = row[column]
    return abs(err / value) if value else float("inf")


class _Measurement:
    """The measuring part of :meth:`Simulation.run`: blocks of equal simulated length."""

    def __init__(self, sim: Simulation, blocks: int, samples: int, progress: bool):
        self.sim = sim
        self.min_blocks = blocks
        self.samples = samples
        self.blocks: list[Block] = []
        self.block_hops: list[int] = []
        self.interrupted = False
        self.partial_hops, self.partial_time = 0, 0.0
        #: Precision mode: whether two successive block lengths agreed (None: not checked).
        self.length_checked: bool | None = None
        self.percolating: float | None = None
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(unit="block", desc="kMC", leave=False)

    def restart(self) -> None:
        """Discard the blocks so far (they become warm-up)."""
        self.blocks, self.block_hops = [], []
        self.partial_hops, self.partial_time = 0, 0.0

    def block(self, block_time: float, max_hops: int | None = None) -> None:
        """One block; with ``max_hops``, a block that reaches that many hops first ends there
        and only counts towards the run's hops and time (a truncated block is not an
        estimate)."""
        sim = self.sim
        sim._kmc.reset_displacements()
        t0, h0 = sim.time_s, sim.hops
        lags = block_time * np.arange(1, self.samples + 1) / self.samples
        obs = sim._run_until(t0 + block_time, t0 + lags, max_hops)
        if sim.time_s < t0 + block_time:
            self.partial_hops += sim.hops - h0
            self.partial_time += sim.time_s - t0
            return
        self.blocks.append(
            block_from_observations(
                obs, t0, sim.lattice.a / 2, sim.hops - h0, in_plane=sim.lattice.geometry == "slab"
            )
        )
        self.block_hops.append(sim.hops - h0)
        if self.bar is not None:
            self.bar.update(1)

    def measure(self, block_time: float, *, blocks: int | None = None, hops: int | None = None):
        """``blocks`` blocks, or blocks until exactly ``hops`` hops are done (the last block
        ends at the count; if that cuts it short it is not used as an estimate). When the
        first blocks' hop rate is off by more than 2x from the plan (the rate changed since
        it was measured), the block length is re-planned from it and those blocks become
        warm-up."""
        self.restart()
        if blocks is not None:
            for _ in range(blocks):
                self.block(block_time)
            return
        assert hops is not None
        planned = hops / self.min_blocks
        # Judge the rate over enough blocks to hold ~1000 hops, so Poisson noise cannot
        # trigger a re-plan.
        probe = int(min(self.min_blocks, max(1, np.ceil(1000 / max(planned, 1)))))
        for attempt in range(3):
            for _ in range(probe):
                self.block(block_time, hops - self._hops_done())
            got = self._hops_done() / probe
            if 0.5 * planned <= got <= 2 * planned or got == 0 or attempt == 2:
                break
            block_time *= planned / got
            self.restart()
        while self._hops_done() < hops and self.partial_hops == 0:
            self.block(block_time, hops - self._hops_done())
            if self.block_hops and self.block_hops[-1] == 0 and self.sim.total_rate_per_s <= 0:
                break  # jammed: no Li can hop any more

    def _hops_done(self) -> int:
        return sum(self.block_hops) + self.partial_hops

    def to_precision(self, block_time: float, precision: float, column: str, max_hops: int):
        """Blocks until ``column``'s relative error is at most ``precision`` with the MSD
        linear and the run stationary; then the same again with blocks ``BLOCK_GROWTH`` times
        longer, until two successive block lengths agree within ``LENGTH_CHECK_SIGMAS``
        combined errors (the MSD exponent alone misses slow drifts: α = 0.97 still lowers D
        by 13% over two decades of time). The last measurement is the result; at most
        ``max_hops`` measuring hops in all."""
        start = self.sim.hops
        err_column = column.replace("_cm2_s", "_err_cm2_s")
        previous = None
        self.length_checked = False
        while True:
            complete = (self.blocks, self.block_hops)
            verdict = self._measure_to_precision(block_time, precision, column, start + max_hops)
            if verdict == "budget" and len(self.blocks) < self.min_blocks and complete[0]:
                # The budget ran out early in a longer block length: report the last complete
                # measurement instead of a handful of blocks.
                self.blocks, self.block_hops = complete
            row = self.row()
            value, err = row[column], row[err_column]
            if verdict == "sublinear":
                # Still a measurement at this block length: the next, longer one is compared
                # with it.
                previous = (value, err)
                block_time *= BLOCK_GROWTH
                continue
            if verdict != "done":
                return
            if previous is not None and abs(
                value - previous[0]
            ) <= LENGTH_CHECK_SIGMAS * math.hypot(err, previous[1]):
                self.length_checked = True
                return
            previous = (value, err)
            block_time *= BLOCK_GROWTH

    def _measure_to_precision(
        self, block_time: float, precision: float, column: str, hop_limit: int
    ) -> str:
        """One block length: 'done' (precise, linear, stationary), 'sublinear' (blocks too
        short: the MSD exponent is below 1 − tolerance) or 'budget' (``hop_limit`` reached)."""
        self.restart()
        while True:
            if self.sim.hops >= hop_limit:
                return "budget"
            self.block(block_time)
            n = len(self.blocks)
            if n < self.min_blocks:
                continue
            row = self.row()
            if row["msd_exponent"] < 1 - EXPONENT_TOLERANCE:
                return "sublinear"
            rel = _relative_error(row, column)
            if (
                rel <= precision
                and row["stationary"]
                and abs(row["msd_exponent"] - 1) <= EXPONENT_TOLERANCE
            ):
                return "done"
            # Standard errors fall as 1/√blocks: run the blocks that should reach the target
            # (20% margin), within the budget, before looking again.
            if np.isfinite(rel) and rel > precision:
                per_block = max(float(np.mean(self.block_hops)), 1.0)
                want = int(np.ceil(n * min((1.2 * rel / precision) ** 2, 4.0)))
                extra = min(want - n, int((hop_limit - self.sim.hops) / per_block)) - 1
                for _ in range(max(extra, 0)):
                    self.block(block_time)

    def row(self) -> dict:
        sim = self.sim
        if self.percolating is None:
            self.percolating = sim.percolating_li_fraction
        row = diffusivity_row(
            self.blocks,
            temperature_K=sim.temperature_K,
            volume_cm3=sim.lattice.volume_cm3,
            hops=sum(self.block_hops) + self.partial_hops,
            time_s=sum(float(b.lag_s[-1]) for b in self.blocks if len(b.lag_s)) + self.partial_time,
            percolating_li_fraction=self.percolating,
        )
        if self.length_checked is False:
            row["converged"] = False
        return row

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def result(self) -> RunResult:
        return RunResult(
            pl.DataFrame([self.row()]), msd_frame(self.blocks), self.blocks, self.interrupted
        )
