"""Running the kMC: :class:`Simulation` and its :class:`RunResult`."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc._validate import count as _check_count
from drxkmc._validate import duration as _check_time
from drxkmc.analysis import Block, block_from_observations, diffusivity_row, msd_frame
from drxkmc.configuration import Configuration, check_material
from drxkmc.errors import invalid
from drxkmc.lattice import Lattice
from drxkmc.material import as_material
from drxkmc.model import BarrierModel

#: Hops per call into the core: between calls Python shows progress and sees Ctrl-C.
HOPS_PER_CHUNK = 2_000_000
_U64_MAX = 2**64 - 1


@dataclass
class RunResult:
    """What a measuring run returns. Frames carry units in their column names."""

    diffusivity: pl.DataFrame
    msd: pl.DataFrame
    blocks: list[Block] = field(repr=False)
    interrupted: bool = False

    def plot_msd(self, ax=None):
        """MSD (tracer and centre of mass) against lag, with standard errors."""
        from drxkmc.plot import plot_msd

        return plot_msd(self, ax=ax)


class Simulation:
    """Kinetic Monte Carlo of Li o-t-o hops in a configuration at one temperature.

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
    ):
        check.instance("config", config, Configuration, "drxkmc.Configuration")
        model = BarrierModel() if model is None else model
        check.instance("model", model, BarrierModel, "drxkmc.BarrierModel")
        self.material = config.material
        temperature_K = check.temperature("temperature_K", temperature_K)
        self._kmc = _core.Kmc(config._c, model._core_dict(), temperature_K, check.seed(seed))

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
        return self._kmc.cations() == 1

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
        blocks: int = 10,
        samples_per_block: int = 20,
        warmup_hops: int = 0,
        progress: bool | None = None,
    ) -> RunResult:
        """Measure diffusivities.

        Give the length as ``time_s`` (simulated seconds) or as ``hops``: the run then lasts
        ``hops / rate`` seconds, with the hop rate measured over the warm-up (or the current
        total rate without one), so it makes about ``hops`` hops; the ``hops`` column says how
        many it made. The
        run is split into ``blocks`` blocks, each observed at ``samples_per_block`` regular
        lags; each block gives one estimate, and uncertainties are standard errors over blocks.
        ``warmup_hops`` hops are run first without measuring. Ctrl-C stops after the current
        chunk and returns what the completed blocks measured (``interrupted=True``).
        """
        blocks = _check_count("blocks", blocks, minimum=1)
        samples_per_block = _check_count("samples_per_block", samples_per_block, minimum=2)
        warmup_hops = _check_count("warmup_hops", warmup_hops, minimum=0)
        if (hops is None) == (time_s is None):
            raise invalid("hops", "give exactly one of hops or time_s")
        if hops is not None:
            _check_count("hops", hops)
        else:
            _check_time("time_s", time_s)
        self._require_events()
        rate = self.total_rate_per_s
        if warmup_hops:
            h0, t0 = self.hops, self.time_s
            self.advance(hops=warmup_hops)
            if self.time_s > t0:
                # The hop rate the run will see: measured over the warm-up, since relaxation
                # (e.g. Li settling into F traps) lowers it below the initial total rate.
                rate = (self.hops - h0) / (self.time_s - t0)
        total = float(time_s) if time_s is not None else hops / rate
        block_time = total / blocks
        if progress is None:
            progress = sys.stderr.isatty()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=blocks, unit="block", desc="kMC", leave=False)
        half_a = self.lattice.a / 2
        measured: list[Block] = []
        hops0, t_start = self.hops, self.time_s
        interrupted = False
        try:
            for _ in range(blocks):
                self._kmc.reset_displacements()
                t0 = self.time_s
                lags = block_time * np.arange(1, samples_per_block + 1) / samples_per_block
                obs = self._run_until(t0 + block_time, t0 + lags)
                measured.append(block_from_observations(obs, t0, half_a))
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
        row = diffusivity_row(
            measured,
            temperature_K=self.temperature_K,
            volume_cm3=self.lattice.volume_cm3,
            hops=self.hops - hops0,
            time_s=self.time_s - t_start,
        )
        return RunResult(pl.DataFrame([row]), msd_frame(measured), measured, interrupted)

    def _require_events(self) -> None:
        if self.total_rate_per_s > 0:
            return
        cations = self._kmc.cations()
        n_li = int(np.count_nonzero(cations == 1))
        if n_li == 0:
            raise invalid("config", "holds no Li, so nothing can hop; raise li_content")
        if not np.any(cations == 0):
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

    def _run_until(self, t_end: float, sample_times: np.ndarray) -> dict:
        """Advance to ``t_end`` in chunks of about HOPS_PER_CHUNK hops, observing at
        ``sample_times``; the GIL is released inside each chunk."""
        parts: list[dict] = []
        while self.time_s < t_end:
            rate = self.total_rate_per_s
            chunk_end = t_end if rate <= 0 else min(t_end, self.time_s + HOPS_PER_CHUNK / rate)
            lo = np.searchsorted(sample_times, self.time_s, side="right")
            hi = np.searchsorted(sample_times, chunk_end, side="right")
            _, obs = self._kmc.run(chunk_end, _U64_MAX, np.ascontiguousarray(sample_times[lo:hi]))
            parts.append(obs)
        if not parts:
            _, obs = self._kmc.run(t_end, 0, np.empty(0))
            parts.append(obs)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    # ----- checkpoints -------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the exact state (generator included) to ``path``, atomically."""
        path = Path(path)
        data = self._kmc.checkpoint()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load_checkpoint(cls, path: str | os.PathLike, material=None) -> Simulation:
        """Resume a run saved by :meth:`save_checkpoint`; it continues bit-identically."""
        return cls._from_checkpoint_bytes(Path(path).read_bytes(), material)

    @classmethod
    def _from_checkpoint_bytes(cls, data: bytes, material=None) -> Simulation:
        sim = cls.__new__(cls)
        sim._kmc = _core.Kmc.from_checkpoint(data)
        sim.material = None
        if material is not None:
            sim.material = check_material(sim.configuration(), as_material(material))
        return sim

    def __reduce__(self):
        # Pickling is an exact checkpoint: a simulation sent to a worker continues identically.
        return (Simulation._from_checkpoint_bytes, (self._kmc.checkpoint(), self.material))
