"""Files drxkmc writes: atomic, durable, readable as the user's umask allows, and no
temporary files left behind (:mod:`drxkmc._files`)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import drxkmc
from drxkmc import _files, io
from drxkmc._files import atomic_write, is_temporary_of


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one after it."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> int:
        os.umask(mask)
        return mask

    yield set_mask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def sim():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=1)
    s = drxkmc.Simulation(cfg, seed=2)
    s.advance(hops=100)
    return s


MASKS = [0o022, 0o027, 0o077, 0o002]


@pytest.mark.parametrize("mask", MASKS, ids=oct)
def test_new_files_get_the_umask_mode(tmp_path, umask, mask, sim):
    umask(mask)
    atomic_write(tmp_path / "bytes.bin", b"data")
    atomic_write(tmp_path / "called.txt", lambda p: Path(p).write_text("x"), suffix=".txt")
    sim.save_checkpoint(tmp_path / "run.ckpt")
    names = ["bytes.bin", "called.txt", "run.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    for name in names:
        assert mode(tmp_path / name) == 0o666 & ~mask, (name, oct(mode(tmp_path / name)))


@pytest.mark.parametrize("mask", MASKS, ids=oct)
def test_structure_files_get_the_umask_mode(tmp_path, umask, mask, sim):
    pytest.importorskip(
        "pymatgen.core", reason="pymatgen is the optional extra 'structures' (installed by .ci/run)"
    )
    pytest.importorskip(
        "ase", reason="ase is the optional extra 'structures' (installed by .ci/run)"
    )
    umask(mask)
    names = ["cfg.cif", "cfg.xyz"]
    for name in names:
        io.to_file(sim.configuration(), tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        assert mode(tmp_path / name) == 0o666 & ~mask, (name, oct(mode(tmp_path / name)))


def test_content_is_written_whole_and_replaces_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    data = os.urandom(3_000_000)
    atomic_write(target, data)
    assert target.read_bytes() == data
    atomic_write(target, memoryview(b"new"))
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("error", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old")
    seen = []

    def write(path: str) -> None:
        seen.append(path)
        Path(path).write_text("half")
        raise error

    with pytest.raises(type(error)):
        atomic_write(target, write, suffix=".txt")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    # The writer saw a recognisable temporary name that keeps the extension.
    assert is_temporary_of(seen[0], target, ".txt") and seen[0].endswith(".txt")


def test_writing_to_a_folder_or_a_missing_folder_leaves_nothing(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "dir", b"x")
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "x.bin", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list((tmp_path / "dir").iterdir()) == []


def test_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.realpath(src)))
        real_replace(src, dst)

    monkeypatch.setattr(_files.os, "fsync", fsync)
    monkeypatch.setattr(_files.os, "replace", replace)
    for content in (b"bytes", lambda p: Path(p).write_bytes(b"called")):
        events.clear()
        atomic_write(tmp_path / "out.bin", content)
        kinds = [k for k, _ in events]
        assert kinds[:2] == ["fsync", "replace"], events
        # The file synced is the temporary file that is then renamed; then the folder.
        assert events[0][1] == events[1][1]
        assert kinds[2:] == ["fsync"] and events[2][1] == os.path.realpath(tmp_path)


def test_stale_temporaries_of_the_target_are_removed(tmp_path):
    target = tmp_path / "run.ckpt"
    old = time.time() - 3600
    stale = tmp_path / ".run.ckpt.0123456789ab.tmp"
    others = [
        tmp_path / ".run.ckpt.x.0123456789ab.tmp",  # of the target "run.ckpt.x"
        tmp_path / ".run.ckpt.0123456789ab.tmp.xyz",  # of "run.ckpt" written with a suffix
        tmp_path / ".other.ckpt.0123456789ab.tmp",
        tmp_path / "run.ckpt.0123456789ab.tmp",  # not hidden: not ours
    ]
    for p in [stale, *others]:
        p.write_bytes(b"partial")
        os.utime(p, (old, old))
    atomic_write(target, b"done")
    assert target.read_bytes() == b"done"
    assert not stale.exists()
    assert all(p.exists() for p in others)


def test_a_temporary_newer_than_the_write_is_kept(tmp_path):
    # A temporary file modified after this write started may belong to a write in progress.
    target = tmp_path / "run.ckpt"
    fresh = tmp_path / ".run.ckpt.abcdefabcdef.tmp"
    fresh.write_bytes(b"in progress")
    future = time.time() + 3600
    os.utime(fresh, (future, future))
    atomic_write(target, b"done")
    assert fresh.exists()


def test_names_with_glob_characters(tmp_path):
    target = tmp_path / "run[1]*.ckpt"
    stale = tmp_path / ".run[1]*.ckpt.0123456789ab.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    atomic_write(target, b"ok")
    assert target.read_bytes() == b"ok" and not stale.exists()


def test_a_killed_save_is_cleaned_by_the_next_one(tmp_path):
    # SIGKILL a process in the middle of writing a checkpoint: its temporary file stays, the
    # target is untouched; the next save of the same target removes the leftover.
    target = tmp_path / "run.ckpt"
    script = textwrap.dedent(
        f"""
        import os, signal
        from drxkmc import _files

        def write(path):
            with open(path, "wb") as fh:
                fh.write(b"partial")
                fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        _files.atomic_write({str(target)!r}, write)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    leftovers = [p for p in tmp_path.iterdir() if is_temporary_of(p, target)]
    assert len(leftovers) == 1 and not target.exists()
    time.sleep(0.05)  # the next write starts strictly after the leftover was last modified
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(2), li_content=0.8, seed=1)
    drxkmc.Simulation(cfg, seed=1).save_checkpoint(target)
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
