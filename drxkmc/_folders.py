"""What a run folder needs, whatever runs in it (a diffusivity run, :mod:`drxkmc.runs`; a
cycling run, :mod:`drxkmc.cycling_runs`): checkpoints written atomically with the previous copy
kept, the latest loadable one found again, result frames written as Parquet with their spec
and units, clean stops on Ctrl-C or SIGTERM, and one process per folder at a time."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from drxkmc._files import atomic_write
from drxkmc.errors import DrxkmcError, invalid

log = logging.getLogger("drxkmc")

CHECKPOINT_FILE = "checkpoint.drxkmc"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.drxkmc"
NEXT_CHECKPOINT_FILE = "checkpoint.next.drxkmc"
LOCK_FILE = ".drxkmc.lock"

#: Units of result columns, from the suffix of their names.
UNIT_SUFFIXES = {
    "_cm2_s": "cm²/s",
    "_mS_cm": "mS/cm",
    "_mAh_g": "mAh/g",
    "_Wh_kg": "Wh/kg",
    "_A2": "Å²",
    "_nm": "nm",
    "_K": "K",
    "_eV": "eV",
    "_V": "V",
    "_s": "s",
}

T = TypeVar("T")


def save_checkpoint(folder: Path, data: bytes) -> None:
    """Write the checkpoint atomically, keeping the one before it as a separate file.

    The new one is written whole (``checkpoint.next.drxkmc``) before the current one becomes
    the previous one; a kill between the two renames leaves the new one under its ``next``
    name, which :func:`latest_checkpoint` reads first then."""
    current = folder / CHECKPOINT_FILE
    upcoming = folder / NEXT_CHECKPOINT_FILE
    atomic_write(upcoming, data)
    if current.exists():
        os.replace(current, folder / PREVIOUS_CHECKPOINT_FILE)
    os.replace(upcoming, current)
    log.debug("checkpoint written to %s", current)


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoint files of ``folder``, newest first (those that exist)."""
    current = folder / CHECKPOINT_FILE
    # The 'next' file is the newest only when a save was killed between its two renames.
    first = CHECKPOINT_FILE if current.exists() else NEXT_CHECKPOINT_FILE
    return [folder / n for n in (first, PREVIOUS_CHECKPOINT_FILE) if (folder / n).exists()]


def latest_checkpoint(
    folder: Path,
    load: Callable[[Path], T],
    fatal: Callable[[DrxkmcError], bool] = lambda err: False,
) -> tuple[T, Path] | None:
    """The latest checkpoint that ``load`` accepts, with its file, or None when there is none;
    a damaged latest one is reported and the previous one used. Errors ``fatal`` says are
    not damage (a checkpoint of another run) are raised at once."""
    failures = []
    for path in checkpoint_files(folder):
        try:
            return load(path), path
        except DrxkmcError as err:
            if fatal(err):
                raise
            log.warning("%s; trying the previous checkpoint", err)
            failures.append(str(err))
    if failures:
        raise invalid("checkpoint", "; ".join(failures) + "; no usable checkpoint is left")
    return None


def units(frame: pl.DataFrame) -> dict[str, str]:
    """The unit of each column whose name ends in one."""
    out = {}
    for col in frame.columns:
        for suffix, unit in UNIT_SUFFIXES.items():
            if col.endswith(suffix):
                out[col] = unit
                break
    return out


def write_frames(folder: Path, frames: list[tuple[str, pl.DataFrame]], spec_json: str) -> None:
    """Write each (file name, frame) as Parquet, atomically and in order (the last one's
    presence then means all are there), with the spec, units and drxkmc version in the
    metadata of each."""
    from drxkmc import __version__

    for name, frame in frames:
        metadata = {
            "drxkmc_spec": spec_json,
            "drxkmc_units": json.dumps(units(frame)),
            "drxkmc_version": __version__,
        }

        def write(tmp: str, frame: pl.DataFrame = frame, metadata: dict = metadata) -> None:
            frame.write_parquet(tmp, metadata=metadata)

        atomic_write(folder / name, write)


# ----- stopping on Ctrl-C ----------------------------------------------------------------------


class StopRequest:
    """Whether a stop was asked for (and by which signal); ``saving`` while a checkpoint is
    written, which a second signal must not interrupt."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int = signal.SIGINT
        self.saving = False
        self.abandonable = False

    @contextmanager
    def abandoning(self) -> Iterator[None]:
        """Within it, the first signal interrupts at once (KeyboardInterrupt): work that a
        resumed run redoes (a measurement after a saved cycle) is not waited for."""
        self.abandonable = True
        try:
            yield
        finally:
            self.abandonable = False

    @contextmanager
    def saving_checkpoint(self) -> Iterator[None]:
        self.saving = True
        try:
            yield
        finally:
            self.saving = False


#: Signals that stop a run cleanly: Ctrl-C, and SIGTERM, which batch systems (SLURM) send
#: before killing a job at its time limit.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_between_steps(step: str) -> Iterator[StopRequest]:
    """On the main thread, the first Ctrl-C or SIGTERM asks the run to stop after the current
    ``step`` (e.g. "chunk of hops"), when a checkpoint can be written; a second one
    interrupts at once (KeyboardInterrupt), except while a checkpoint is being written."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        first = not stop.requested
        if first:
            stop.requested, stop.signum = True, signum
        if (stop.abandonable or not first) and not stop.saving:
            raise KeyboardInterrupt
        if first:
            log.warning("stopping after the current %s to save a checkpoint", step)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ----- one process per folder ------------------------------------------------------------------


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock while a run works in it: a second process (a requeued batch job
    overlapping the old one) is refused naming ``workdir`` instead of racing it for the
    checkpoints. Advisory (``flock``), released when the process ends however it ends."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise invalid(
                "workdir",
                f"{str(folder)!r} is in use by another drxkmc process (wait for it to end)",
            ) from None
        yield
    finally:
        os.close(fd)


#: The spec file each kind of run keeps in its folder.
FOLDER_KINDS = {
    "spec.toml": "a diffusivity run",
    "sweep.toml": "a sweep",
    "cycling.toml": "a cycling run",
}


def claim_folder(folder: Path, own_file: str) -> None:
    """Refuse (naming ``workdir``) a folder that holds another kind of run than the one whose
    spec file is ``own_file``: a diffusivity run, a sweep and a cycling run each need their
    own folder."""
    for name, what in FOLDER_KINDS.items():
        if name != own_file and (folder / name).exists():
            raise invalid(
                "workdir",
                f"{str(folder)!r} holds {what} ({name}); give each run its own folder",
            )


def spec_folder(workdir: Any) -> Path:
    """``workdir`` as a folder path (made if needed); errors name ``workdir``."""
    try:
        folder = Path(workdir)
    except TypeError:
        raise invalid("workdir", f"must be a folder path, got {workdir!r}") from None
    if folder.exists() and not folder.is_dir():
        raise invalid("workdir", f"{str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise invalid("workdir", f"cannot make the folder {str(folder)!r} ({e})") from None
    return folder
