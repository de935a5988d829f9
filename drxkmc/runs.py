"""Runs that survive being killed: :func:`run_or_resume` of a :class:`~drxkmc.spec.RunSpec`
in a folder.

The folder holds the spec (``spec.toml``), the latest checkpoint and the one before it
(``checkpoint.drxkmc``, ``checkpoint.prev.drxkmc``) and, once the run is done, its result
(``result.parquet``, one row of diffusivities, and ``msd.parquet``; the spec, units and
drxkmc version are in their Parquet metadata). :func:`run_or_resume` returns the stored
result if there is one, resumes from the latest undamaged checkpoint if there is one, and
otherwise starts; a run killed at any moment (SIGKILL included) and resumed gives the same
numbers, bit for bit, as one that never stopped.

How a measuring run is resumed exactly: :meth:`Simulation.run` decides what to do next (block
lengths, re-planning, when the precision is reached) only from what the engine reports. While
it runs, every call into the engine that advances or reports its state is recorded with its
answer (a journal: per chunk of hops the observations and the clock, hop count and total
rate). A checkpoint is the engine's exact checkpoint (state and generator, taken between two
chunks) plus that journal. Resuming replays the same Python code against the journal, which
answers every call as the engine did, without running a hop; when the journal ends, the
engine restored from the checkpoint is exactly where the recorded run was, and the run goes
on live. So the measurement's whole state (blocks so far, planned lengths, the precision
loop) is rebuilt by the code that made it, with nothing to keep in step by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from drxkmc import _validate as check
from drxkmc._folders import (
    CHECKPOINT_FILE,
    NEXT_CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    StopRequest,
    claim_folder,
    folder_lock,
    latest_checkpoint,
    save_checkpoint,
    spec_folder,
    stop_between_steps,
    write_frames,
)
from drxkmc.configuration import Configuration
from drxkmc.errors import DrxkmcError, invalid
from drxkmc.simulation import RunResult, Simulation
from drxkmc.spec import RunSpec

__all__ = [
    "RunInterrupted",
    "build_configuration",
    "build_simulation",
    "load_result",
    "run_or_resume",
    "run_spec",
    "run_status",
]

log = logging.getLogger("drxkmc")

SPEC_FILE = "spec.toml"
RESULT_FILE = "result.parquet"
MSD_FILE = "msd.parquet"
#: Identifies a run checkpoint (a zip of NumPy arrays: the engine checkpoint and the journal).
CHECKPOINT_FORMAT = "drxkmc-run-checkpoint"
CHECKPOINT_VERSION = 1
#: A run checkpoint file is this magic, the SHA-256 of the rest, then the zip: the zip's own
#: CRC-32s leave its headers unchecked, and a file must load whole or not at all.
_MAGIC = b"DRXKRUN1"
_DIGEST_BYTES = 32
#: Engine calls whose answers depend on the engine's state (the rest are constants of a run).
_RECORDED = ("run", "cations", "reset_displacements")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped :func:`run_or_resume`; ``checkpoint`` is the file it
    saved (None when it stopped before saving one, e.g. on a second Ctrl-C), ``hops`` the hops
    it holds and ``signum`` the signal. ``run_or_resume`` on the same folder continues from
    the latest checkpoint."""

    def __init__(
        self,
        message: str,
        checkpoint: Path | None = None,
        hops: int = 0,
        signum: int = signal.SIGINT,
    ):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.hops = hops
        self.signum = signum


# ----- building what a spec describes --------------------------------------------------------


def build_configuration(spec: RunSpec) -> Configuration:
    """The starting configuration of ``spec`` (before the simulation's equilibrium start)."""
    check.instance("spec", spec, RunSpec, "drxkmc.RunSpec")
    material, model = spec.material(), spec.barrier_model()
    seed = spec.seed if spec.config_seed is None else spec.config_seed
    if spec.configuration == "random":
        return Configuration.random(
            material,
            spec.lattice(),
            li_content=spec.li_content,
            seed=seed,
            delithiation=spec.delithiation,
            model=model,
            temperature_K=spec.delithiation_temperature_K,
        )
    if spec.configuration == "annealed":
        assert spec.anneal_temperature_K is not None  # the spec checked it
        config = Configuration.random(material, spec.lattice(), seed=seed).anneal(
            temperature_K=spec.anneal_temperature_K,
            sweeps=spec.anneal_sweeps,
            seed=seed,
            progress=False,
        )
    else:
        config = Configuration.from_file(spec.structure_file, material=material)
    if spec.li_content is None:
        return config
    return config.with_li_content(
        spec.li_content, model, temperature_K=spec.delithiation_temperature_K, seed=seed
    )


def build_simulation(spec: RunSpec) -> Simulation:
    """The :class:`Simulation` of ``spec``, ready to run."""
    return Simulation(
        build_configuration(spec),
        spec.barrier_model(),
        temperature_K=spec.temperature_K,
        seed=spec.seed,
        equilibrate=spec.equilibrate,
        timescale_s=spec.timescale_s,
        acceleration=spec.acceleration,
    )


def run_spec(spec: RunSpec, *, progress: bool | None = None) -> RunResult:
    """Run ``spec`` in memory (no files); the numbers are those of :func:`run_or_resume`."""
    sim = build_simulation(spec)
    return sim.run(**spec.run_kwargs(), progress=progress)


# ----- the journal ---------------------------------------------------------------------------


class _JournaledEngine:
    """Stands in for a simulation's engine (``Simulation._kmc``) during a resumable run.

    Calls in ``_RECORDED`` are answered from the journal while it lasts (replay), then passed
    to the engine and recorded (live); the clock, hop count and total rate are those after the
    last answered call. Everything else is a constant of the run and goes to the engine.
    ``after_chunk`` is called after each live chunk of hops, when the engine and the journal
    agree, which is when a checkpoint may be taken."""

    def __init__(
        self,
        engine: Any,
        entries: list[tuple[str, Any]],
        states: list[tuple[float, int, float]],
        after_chunk: Callable[[], None],
    ):
        self._engine = engine
        self.entries = entries
        #: (time_s, hops, total_rate) at the start and after every entry.
        self.states = states
        self.position = 0
        self.replay_length = len(entries)
        self.after_chunk = after_chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _state(self, k: int) -> Any:
        if self.position < self.replay_length:
            return self.states[self.position][k]
        return None

    @property
    def time_s(self) -> float:
        s = self._state(0)
        return self._engine.time_s if s is None else s

    @property
    def hops(self) -> int:
        s = self._state(1)
        return self._engine.hops if s is None else s

    @property
    def total_rate(self) -> float:
        s = self._state(2)
        return self._engine.total_rate if s is None else s

    def _call(self, request: str, live: Callable[[], Any]) -> Any:
        """``request`` names the call and its arguments exactly: a replayed run must ask
        what the recorded one asked, or it is another run."""
        if self.position < self.replay_length:
            recorded, answer = self.entries[self.position]
            if recorded != request:
                raise invalid(
                    "checkpoint",
                    f"does not match this run (call {self.position} was {recorded!r}, now "
                    f"{request!r}); was it written by another drxkmc version?",
                )
            self.position += 1
            return answer
        answer = live()
        e = self._engine
        self.entries.append((request, answer))
        self.states.append((e.time_s, e.hops, e.total_rate))
        self.position += 1
        if _kind(request) == "run":
            self.after_chunk()
        return answer

    def run(self, t_end_s: float, max_hops: int, sample_times_s: np.ndarray) -> Any:
        times = np.ascontiguousarray(sample_times_s, dtype=np.float64)
        digest = hashlib.sha256(times.tobytes()).hexdigest()[:16]
        request = f"run {float(t_end_s).hex()} {int(max_hops)} {len(times)} {digest}"
        return self._call(request, lambda: self._engine.run(t_end_s, max_hops, sample_times_s))

    def cations(self) -> np.ndarray:
        return self._call("cations", self._engine.cations)

    def reset_displacements(self) -> None:
        return self._call("reset_displacements", self._engine.reset_displacements)


def _kind(request: str) -> str:
    return request.split(" ", 1)[0]


def _checkpoint_bytes(spec: RunSpec, sim: Simulation, journal: _JournaledEngine) -> bytes:
    engine = journal._engine
    material = None if sim.material is None else sim.material._c
    requests = [r for r, _ in journal.entries]
    runs = [a for r, a in journal.entries if _kind(r) == "run"]
    cations = [a for r, a in journal.entries if _kind(r) == "cations"]
    arrays: dict[str, np.ndarray] = {
        "engine": np.frombuffer(engine.checkpoint(material), dtype=np.uint8),
        "state_time_s": np.array([s[0] for s in journal.states], dtype=np.float64),
        "state_hops": np.array([s[1] for s in journal.states], dtype=np.uint64),
        "state_rate": np.array([s[2] for s in journal.states], dtype=np.float64),
        "run_samples": np.array([len(obs["time_s"]) for _, obs in runs], dtype=np.int64),
        "cations": np.concatenate(cations) if cations else np.empty(0, np.uint8),
        "cations_sites": np.array([len(c) for c in cations], dtype=np.int64),
    }
    keys = sorted(runs[0][1]) if runs else []
    for key in keys:
        arrays[f"obs_{key}"] = np.concatenate([obs[key] for _, obs in runs])
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "spec": spec.to_dict(),
        "requests": requests,
        "run_reasons": [reason for reason, _ in runs],
        "observation_keys": keys,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    savez: Any = np.savez  # (NumPy's stub takes the arrays' names for its own keywords)
    savez(buffer, **arrays)
    body = buffer.getvalue()
    return _MAGIC + hashlib.sha256(body).digest() + body


def _open_checkpoint(path: Path) -> Any:
    """The arrays of a run checkpoint file, after checking its magic and digest."""
    data = path.read_bytes()
    head = len(_MAGIC) + _DIGEST_BYTES
    if data[: len(_MAGIC)] != _MAGIC:
        raise ValueError("not a drxkmc run checkpoint")
    if hashlib.sha256(data[head:]).digest() != data[len(_MAGIC) : head]:
        raise ValueError("checksum mismatch: the file is truncated or damaged")
    return np.load(io.BytesIO(data[head:]), allow_pickle=False)


def _read_checkpoint(path: Path, spec: RunSpec) -> tuple[Simulation, list, list]:
    """(simulation restored from the engine checkpoint, journal entries, states); raises
    InvalidParameterError(field "checkpoint") for anything but a complete, matching file."""
    try:
        with _open_checkpoint(path) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(bytes(data["meta"]).decode())
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != CHECKPOINT_VERSION:
            raise ValueError("not a drxkmc run checkpoint of this format version")
        runs_left = iter(range(len(data["run_samples"])))
        offsets = np.concatenate([[0], np.cumsum(data["run_samples"])])
        sites = np.concatenate([[0], np.cumsum(data["cations_sites"])])
        reasons = meta["run_reasons"]
        keys = meta["observation_keys"]
        entries: list[tuple[str, Any]] = []
        n_cations = 0
        for request in meta["requests"]:
            kind = _kind(request)
            if kind == "run":
                i = next(runs_left)
                lo, hi = offsets[i], offsets[i + 1]
                obs = {k: data[f"obs_{k}"][lo:hi] for k in keys}
                entries.append((request, (reasons[i], obs)))
            elif kind == "cations":
                lo, hi = sites[n_cations], sites[n_cations + 1]
                entries.append((request, data["cations"][lo:hi]))
                n_cations += 1
            elif kind == "reset_displacements":
                entries.append((request, None))
            else:
                raise ValueError(f"unknown journal entry {request!r}")
        states = [
            (float(t), int(h), float(r))
            for t, h, r in zip(data["state_time_s"], data["state_hops"], data["state_rate"])
        ]
        if len(states) != len(entries) + 1:
            raise ValueError("journal and states disagree in length")
        saved_spec = meta["spec"]
        engine = bytes(data["engine"])
    except DrxkmcError:
        raise
    except Exception as e:  # zipfile, NumPy and JSON raise many kinds on damaged files
        raise invalid(
            "checkpoint", f"{str(path)!r} is damaged or not a run checkpoint ({e})"
        ) from None
    if _what_runs(saved_spec) != _what_runs(json.loads(json.dumps(spec.to_dict()))):
        raise invalid("checkpoint", f"{str(path)!r} is a checkpoint of another spec")
    sim = Simulation._from_checkpoint_bytes(engine)  # validates the engine part (CRC-32)
    sim.timescale_s = spec.timescale_s
    if sim.hops != states[-1][1] or sim.time_s != states[-1][0]:
        raise invalid("checkpoint", f"{str(path)!r}: its engine state and journal disagree")
    return sim, entries, states


# ----- the folder --------------------------------------------------------------------------


def run_or_resume(
    spec: RunSpec, workdir: str | os.PathLike, *, progress: bool | None = None
) -> RunResult:
    """Run ``spec`` in the folder ``workdir`` (made if needed), or continue it there.

    Idempotent: returns the stored result if the run is done; resumes from the latest
    checkpoint if there is one (the one before it if the latest is damaged); otherwise
    builds the configuration and starts. Checkpoints are written atomically every
    ``spec.checkpoint_minutes`` (the previous one is kept) and hold the engine and the whole
    measuring run, so the result is bit-identical to that of a run that never stopped.
    A folder that holds another spec's run is refused (``.field == "workdir"``).

    Ctrl-C (on the main thread) stops after the current chunk of hops, saves a checkpoint
    and raises :class:`RunInterrupted` (a ``KeyboardInterrupt``).
    """
    check.instance("spec", spec, RunSpec, "drxkmc.RunSpec")
    if spec.structure_file is not None:
        spec = spec.replace(structure_file=str(Path(spec.structure_file).resolve()))
    folder = _prepare_folder(spec, workdir)
    with folder_lock(folder):
        return _run_in(spec, folder, progress)


def _run_in(spec: RunSpec, folder: Path, progress: bool | None) -> RunResult:
    if (folder / RESULT_FILE).exists():
        return load_result(folder)
    found = latest_checkpoint(
        folder, lambda path: _read_checkpoint(path, spec), lambda e: "another spec" in str(e)
    )
    restored = None if found is None else found[0]
    if restored is None:
        log.info("starting %s", folder)
        sim = build_simulation(spec)
        entries: list = []
        states = [(sim._kmc.time_s, sim._kmc.hops, sim._kmc.total_rate)]
    else:
        sim, entries, states = restored
        log.info("resuming %s at %d hops", folder, states[-1][1])
    stop = StopRequest()
    interval_s = 60.0 * spec.checkpoint_minutes
    last = [time.monotonic()]
    stopped: list[RunInterrupted] = []

    def save() -> None:
        with stop.saving_checkpoint():  # a second Ctrl-C waits for the file to be whole
            save_checkpoint(folder, _checkpoint_bytes(spec, sim, journal))
        last[0] = time.monotonic()
        # One line per checkpoint: the progress a batch job's log shows (drxkmc -v).
        log.info(
            "%s: checkpoint at %s hops, %.4g s simulated",
            folder,
            f"{journal.hops:,}",
            journal.time_s,
        )

    def after_chunk() -> None:
        if stop.requested or time.monotonic() - last[0] >= interval_s:
            save()
        if stop.requested:
            stopped.append(
                RunInterrupted(
                    f"interrupted; checkpoint saved in {folder} at {journal.hops:,} hops",
                    folder / CHECKPOINT_FILE,
                    journal.hops,
                    stop.signum,
                )
            )
            raise stopped[-1]

    journal = _JournaledEngine(sim._kmc, entries, states, after_chunk)
    if restored is None:
        save()  # the configuration and equilibrium start are not made again
    sim._kmc = journal  # type: ignore[assignment]  # it answers as the engine does
    try:
        with stop_between_steps("chunk of hops") as stop:
            result = sim.run(**spec.run_kwargs(), progress=progress)
    finally:
        sim._kmc = journal._engine
    if result.interrupted:
        if stopped:
            raise stopped[-1]
        raise RunInterrupted(f"interrupted; the last checkpoint in {folder} continues the run")
    # The diffusivity file is written last: its presence means the run is done.
    write_frames(
        folder, [(MSD_FILE, result.msd), (RESULT_FILE, result.diffusivity)], spec.dumps("json")
    )
    return result


def _prepare_folder(spec: RunSpec, workdir: str | os.PathLike) -> Path:
    folder = spec_folder(workdir)
    claim_folder(folder, SPEC_FILE)
    spec_file = folder / SPEC_FILE
    if spec_file.exists():
        check_folder(spec, folder)
    else:
        spec.write(spec_file)
    return folder


def check_folder(spec: RunSpec, workdir: str | os.PathLike) -> None:
    """Raise (``.field == "workdir"``) if ``workdir`` holds the run of another spec (its
    ``[output]`` section aside); a missing or empty folder is fine."""
    spec_file = Path(workdir) / SPEC_FILE
    if not spec_file.exists():
        return
    stored = RunSpec.read(spec_file)
    if _what_runs(stored.to_dict()) != _what_runs(spec.to_dict()):
        raise invalid(
            "workdir",
            f"{str(workdir)!r} holds the run of another spec ({spec_file}); give each run "
            "its own folder",
        )


def _what_runs(spec_dict: dict) -> dict:
    """A spec's sections that decide the numbers: all but ``output`` (how often to
    checkpoint may change between a run and its resumption)."""
    return {k: v for k, v in spec_dict.items() if k != "output"}


# ----- results -----------------------------------------------------------------------------


def load_result(workdir: str | os.PathLike) -> RunResult:
    """The stored result of a finished run (``blocks`` are not stored: empty)."""
    folder = Path(workdir)
    try:
        diffusivity = pl.read_parquet(folder / RESULT_FILE)
        msd = pl.read_parquet(folder / MSD_FILE)
    except FileNotFoundError:
        raise invalid("workdir", f"{str(folder)!r} holds no finished run") from None
    except Exception as e:  # polars raises several kinds on damaged files
        raise invalid("workdir", f"{str(folder)!r}: damaged result file ({e})") from None
    return RunResult(diffusivity, msd, [], False)


def result_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The spec (dict), units ({column: unit}) and drxkmc version stored in a result file."""
    meta = pl.read_parquet_metadata(Path(path))
    return {
        "spec": json.loads(meta["drxkmc_spec"]),
        "units": json.loads(meta["drxkmc_units"]),
        "drxkmc_version": meta["drxkmc_version"],
    }


def run_status(workdir: str | os.PathLike) -> dict[str, Any]:
    """Where the run in ``workdir`` is: ``state`` ("done", "started" or "not started"),
    ``hops`` and ``time_s`` of the result or latest checkpoint, and the checkpoint's age."""
    folder = Path(workdir)
    if not (folder / SPEC_FILE).is_file():
        raise invalid("workdir", f"{str(folder)!r} holds no drxkmc run (no {SPEC_FILE})")
    spec = RunSpec.read(folder / SPEC_FILE)
    out: dict[str, Any] = {"workdir": str(folder), "spec": spec}
    if (folder / RESULT_FILE).exists():
        row = load_result(folder).diffusivity.row(0, named=True)
        return {**out, "state": "done", "hops": row["hops"], "converged": row["converged"]}
    for name in (CHECKPOINT_FILE, NEXT_CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = folder / name
        try:
            with _open_checkpoint(path) as z:
                hops, t = int(z["state_hops"][-1]), float(z["state_time_s"][-1])
        except Exception:  # missing or damaged: try the previous one
            continue
        age = time.time() - path.stat().st_mtime
        return {**out, "state": "started", "hops": hops, "time_s": t, "checkpoint_age_s": age}
    return {**out, "state": "not started"}
