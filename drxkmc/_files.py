"""Writing files so that readers only ever see a complete file: every file drxkmc writes
(checkpoints, structures, benchmark results) goes through :func:`atomic_write`.

The content goes to a temporary file beside the target, named ``.<name>.<random>.tmp<suffix>``
(hidden, and recognisable as drxkmc's), created with the permissions of any new file of the
user (``0o666`` less the umask, so collaborators on a shared cluster can read it where the
umask allows), flushed to disk with ``fsync`` and then renamed over the target, which is
atomic on POSIX file systems. On any error, ``KeyboardInterrupt`` included, the temporary file
is removed and the target is left as it was.

A process killed with SIGKILL during a write cannot remove its temporary file; the next
successful write of the same target removes such leftovers (temporary files of that target
last modified before this write's own temporary file was created, by the file system's clock,
so that clock skew on network file systems does not matter). Two processes writing the same
target at the same time are not supported: one of them may fail, and the file holds one
complete version.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["AtomicFile", "atomic_write", "is_temporary_of"]

#: Random bytes in a temporary name (written as twice as many hex digits).
_TOKEN_BYTES = 6


def _temporary_name(name: str, token: str, suffix: str) -> str:
    return f".{name}.{token}.tmp{suffix}"


def is_temporary_of(path: str | os.PathLike, target: str | os.PathLike, suffix: str = "") -> bool:
    """Whether ``path`` is named as a temporary file of :func:`atomic_write` for ``target``
    (exactly: never one of another target whose name starts with this one's)."""
    token = f"[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
    pattern = re.escape(f".{Path(target).name}.") + token + re.escape(f".tmp{suffix}")
    return re.fullmatch(pattern, Path(path).name) is not None


def atomic_write(
    target: str | os.PathLike,
    content: bytes | Callable[[str], None],
    *,
    suffix: str = "",
) -> None:
    """Write ``content`` to ``target`` atomically.

    ``content`` is the bytes to write, or a function that writes the file at the path it is
    given (for writers that open the file themselves, such as pymatgen's and ASE's); the path
    then ends in ``suffix`` (e.g. the target's extension, from which ASE infers the format).
    Raises :class:`OSError` (e.g. ``IsADirectoryError``, ``FileNotFoundError`` for a missing
    folder) or whatever ``content`` raises; nothing is left behind then.
    """
    target = Path(target)
    folder = target.parent
    tmp, fd = _create_temporary(folder, target.name, suffix)
    try:
        started = os.fstat(fd).st_mtime_ns
        if callable(content):
            os.close(fd)
            fd = -1  # closed
            content(str(tmp))
            # The writer closed the file; reopen it to flush its data to disk (for writing:
            # Windows cannot fsync a read-only descriptor).
            fd = os.open(tmp, os.O_RDWR)
        else:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1  # closed
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, target.name, suffix, before=started)


class AtomicFile:
    """A file written in pieces (a streamed trajectory) that appears at ``target`` only when
    :meth:`commit` is called: the pieces go to the temporary file :attr:`path` (named,
    created, synced and cleaned up as for :func:`atomic_write`). :meth:`discard` removes it.
    """

    def __init__(self, target: str | os.PathLike, *, suffix: str = ""):
        self.target = Path(target)
        self._suffix = suffix
        tmp, fd = _create_temporary(self.target.parent, self.target.name, suffix)
        try:
            self._started = os.fstat(fd).st_mtime_ns
        finally:
            os.close(fd)
        #: Where the pieces are written until :meth:`commit`.
        self.path = tmp

    def commit(self) -> None:
        """Sync the temporary file to disk and rename it over the target."""
        fd = os.open(self.path, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, self.target)
        _fsync_folder(self.target.parent)
        _remove_stale_temporaries(
            self.target.parent, self.target.name, self._suffix, before=self._started
        )

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        self.path.unlink(missing_ok=True)


def _create_temporary(folder: Path, name: str, suffix: str) -> tuple[Path, int]:
    """A new, empty temporary file for target ``name`` in ``folder`` and a descriptor open
    for writing. Mode 0o666 lets the umask decide, as for any file the user creates."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / _temporary_name(name, secrets.token_hex(_TOKEN_BYTES), suffix)
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(folder / name)!r}")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temporaries(folder: Path, name: str, suffix: str, *, before: int) -> None:
    """Remove temporary files of target ``name`` left by writes that were killed (last
    modified before this write started). Best effort: errors are ignored."""
    candidates = folder.glob(_temporary_name(glob.escape(name), "*", glob.escape(suffix)))
    for leftover in candidates:
        try:
            if is_temporary_of(leftover, name, suffix) and leftover.stat().st_mtime_ns < before:
                leftover.unlink()
        except OSError:
            pass


def _checkpoint_path(path) -> Path:
    """A user's checkpoint path as a Path (anything else names ``path``)."""
    from drxkmc.errors import invalid

    if not isinstance(path, (str, os.PathLike)):
        raise invalid("path", f"must be a file path (str or os.PathLike), got {path!r}")
    return Path(path)


def write_checkpoint(path: str | os.PathLike, data: bytes) -> None:
    """Write checkpoint bytes atomically to a file path the user gave (errors name ``path``)."""
    from drxkmc.errors import invalid

    path = _checkpoint_path(path)
    if not path.parent.is_dir():
        raise invalid("path", f"the folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise invalid("path", f"{str(path)!r} is a folder; give a file name")
    atomic_write(path, data)


def read_checkpoint(path: str | os.PathLike) -> bytes:
    """The bytes of a checkpoint file the user named (a missing file or a folder names ``path``)."""
    from drxkmc.errors import invalid

    try:
        return _checkpoint_path(path).read_bytes()
    except FileNotFoundError:
        raise invalid("path", f"no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise invalid("path", f"{str(path)!r} is a folder, not a checkpoint file") from None
