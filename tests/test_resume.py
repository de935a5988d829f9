"""Resumable runs: a run killed with SIGKILL at random moments, or stopped with Ctrl-C or
SIGTERM, and resumed gives the frames of a run that never stopped, bit for bit; damaged
checkpoints are refused and the previous copy used; results carry their spec and units."""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import polars as pl
import pytest
from conftest import raises_field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc.simulation
from drxkmc import ConvergenceWarning
from drxkmc.runs import (
    CHECKPOINT_FILE,
    NEXT_CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    RESULT_FILE,
    _read_checkpoint,
    result_metadata,
    run_or_resume,
    run_spec,
    run_status,
)
from drxkmc.spec import RunSpec

# Long enough (about 1 s, dozens of chunks) to be killed mid-run; checkpoints after every
# chunk of hops, so that each kill leaves a recent one.
SPEC = RunSpec(
    "Li1.2Mn0.4Ti0.4O2",
    size=4,
    li_content=0.6,
    temperature_K=600.0,
    seed=3,
    precision=0.04,
    max_hops=8_000_000,
    checkpoint_minutes=0.0,
)
# A short one for the tests that need no kill.
SHORT = SPEC.replace(precision=None, hops=300_000)


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run, in memory (whether it converges does not matter here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return run_spec(SPEC, progress=False)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "drxkmc", *args]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() - start < timeout
        time.sleep(0.005)


def _wait_for_checkpoints(folder: Path, proc: subprocess.Popen, n: int) -> None:
    """Until ``n`` checkpoints were written after the first (the run is measuring), or the
    run ended. Counting checkpoints rather than seconds keeps the kill inside the run on a
    fast machine as on a slow one."""
    _wait_for(folder / CHECKPOINT_FILE, proc)
    seen: set[int] = set()
    start = time.monotonic()
    while len(seen) <= n and proc.poll() is None and time.monotonic() - start < 60:
        try:
            seen.add((folder / PREVIOUS_CHECKPOINT_FILE).stat().st_mtime_ns)
        except FileNotFoundError:
            pass
        time.sleep(0.002)


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, reference):
    spec_file = tmp_path / "spec.toml"
    SPEC.write(spec_file)
    folder = tmp_path / "run"
    rng = random.Random(20261127)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(_cli("run", str(spec_file), "--workdir", str(folder)))
        _wait_for_checkpoints(folder, proc, rng.randint(1, 6))
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        state = run_status(folder)["state"]
        if state == "done":
            break
    assert kills >= 1, "no kill landed mid-run; the run is too short for this test"
    out = subprocess.run(_cli("resume", str(folder)), capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    done = run_or_resume(SPEC, folder)  # idempotent: the stored result
    assert done.diffusivity.equals(reference.diffusivity)
    assert done.msd.equals(reference.msd)
    assert pl.read_parquet(folder / RESULT_FILE).equals(reference.diffusivity)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_save_a_checkpoint_and_say_so(tmp_path, reference, sig, code):
    spec_file = tmp_path / "spec.toml"
    SPEC.write(spec_file)
    folder = tmp_path / "run"
    proc = subprocess.Popen(
        _cli("run", str(spec_file), "--workdir", str(folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_checkpoints(folder, proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.fail("the run finished before the signal; make SPEC longer")
    assert proc.returncode == code, err
    assert "checkpoint saved" in err and "drxkmc resume" in err, err
    assert "Traceback" not in err
    assert run_status(folder)["state"] == "started"
    resumed = run_or_resume(SPEC, folder, progress=False)
    assert resumed.diffusivity.equals(reference.diffusivity)


def test_in_memory_and_folder_runs_agree_and_repeat_idempotently(tmp_path):
    memory = run_spec(SHORT, progress=False)
    first = run_or_resume(SHORT, tmp_path, progress=False)
    assert first.diffusivity.equals(memory.diffusivity) and first.msd.equals(memory.msd)
    stamp = (tmp_path / RESULT_FILE).stat().st_mtime_ns
    again = run_or_resume(SHORT, tmp_path)
    assert again.diffusivity.equals(memory.diffusivity)
    assert (tmp_path / RESULT_FILE).stat().st_mtime_ns == stamp  # returned, not rerun
    meta = result_metadata(tmp_path / RESULT_FILE)
    assert RunSpec.from_dict(meta["spec"]) == SHORT
    assert meta["units"]["D_tracer_cm2_s"] == "cm²/s" and meta["units"]["time_s"] == "s"
    assert run_status(tmp_path)["state"] == "done"
    # Another spec in the same folder is refused, not mixed in.
    raises_field(
        lambda: run_or_resume(SHORT.replace(seed=4), tmp_path), "workdir", match="another spec"
    )


def _interrupted_folder(tmp_path: Path) -> Path:
    """A folder whose run was killed after a few checkpoints (two copies on disk)."""
    folder = tmp_path / "run"
    spec_file = tmp_path / "spec.toml"
    SPEC.write(spec_file)
    proc = subprocess.Popen(_cli("run", str(spec_file), "--workdir", str(folder)))
    _wait_for_checkpoints(folder, proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run_status(folder)["state"] == "started"
    return folder


def _latest(folder: Path) -> Path:
    """The newest checkpoint: a save killed between its two renames leaves it as 'next'."""
    current = folder / CHECKPOINT_FILE
    return current if current.exists() else folder / NEXT_CHECKPOINT_FILE


def test_damaged_checkpoint_falls_back_to_the_previous_copy(tmp_path, reference, caplog):
    folder = _interrupted_folder(tmp_path)
    latest = _latest(folder)
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])  # truncated
    with caplog.at_level(logging.WARNING, logger="drxkmc"):
        resumed = run_or_resume(SPEC, folder, progress=False)
    assert "damaged" in caplog.text and "previous checkpoint" in caplog.text
    assert resumed.diffusivity.equals(reference.diffusivity)


def test_no_usable_checkpoint_is_a_clear_error(tmp_path):
    folder = _interrupted_folder(tmp_path)
    for path in (_latest(folder), folder / PREVIOUS_CHECKPOINT_FILE):
        data = bytearray(path.read_bytes())
        data[random.Random(len(data)).randrange(len(data))] ^= 0x01  # one bit, anywhere
        path.write_bytes(bytes(data))
    raises_field(lambda: run_or_resume(SPEC, folder), "checkpoint", match="no usable checkpoint")
    for name in (CHECKPOINT_FILE, NEXT_CHECKPOINT_FILE):
        (folder / name).unlink(missing_ok=True)
    (folder / PREVIOUS_CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    raises_field(lambda: run_or_resume(SPEC, folder), "checkpoint", match="damaged")


def test_a_save_killed_between_its_renames_resumes_from_the_new_copy(tmp_path, reference):
    folder = _interrupted_folder(tmp_path)
    latest = _latest(folder)
    if latest.name == CHECKPOINT_FILE:  # make the state of a save killed between its renames
        latest.rename(folder / NEXT_CHECKPOINT_FILE)
    hops = run_status(folder)["hops"]
    assert hops > 0
    assert run_or_resume(SPEC, folder, progress=False).diffusivity.equals(reference.diffusivity)


def test_the_checkpoint_interval_may_change_on_resuming(tmp_path, reference):
    folder = _interrupted_folder(tmp_path)
    resumed = run_or_resume(SPEC.replace(checkpoint_minutes=30.0), folder, progress=False)
    assert resumed.diffusivity.equals(reference.diffusivity)


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("short")
    run_or_resume(SHORT, folder, progress=False)
    return (folder / CHECKPOINT_FILE).read_bytes()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_flipped_bit_or_truncation_is_refused(tmp_path, checkpoint_bytes, data):
    damaged = bytearray(checkpoint_bytes)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(damaged) - 1), label="length")]
    else:
        at = data.draw(st.integers(0, len(damaged) - 1), label="byte")
        damaged[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path = tmp_path / "damaged.drxkmc"
    path.write_bytes(bytes(damaged))
    raises_field(lambda: _read_checkpoint(path, SHORT), "checkpoint")
    path.write_bytes(checkpoint_bytes)
    assert _read_checkpoint(path, SHORT)[0].hops > 0  # the undamaged file loads


def test_a_journal_that_another_version_would_not_replay_is_refused(tmp_path, monkeypatch):
    folder = _interrupted_folder(tmp_path)
    # As if a newer drxkmc measured the hop rate over other hops: the replayed run asks the
    # engine something the recorded one did not, so the checkpoint is not silently misused.
    monkeypatch.setattr(drxkmc.simulation, "_calibration_hops", lambda n, n_li: 12_345)
    raises_field(lambda: run_or_resume(SPEC, folder), "checkpoint", match="does not match")
