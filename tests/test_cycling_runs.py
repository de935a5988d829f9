"""Cycling runs from spec files in folders: the same frames as in memory, resumed bit for bit
after SIGKILL at random moments or Ctrl-C/SIGTERM, extended by raising ``cycles``, damaged
checkpoints replaced by the previous copy, bad spec keys named with their section."""

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

from drxkmc.cli import main
from drxkmc.cycling_runs import (
    EVENTS_FILE,
    PROFILES_FILE,
    RESULTS_FILE,
    CyclingSpec,
    cycle_or_resume,
    cycling_status,
)
from drxkmc.errors import DrxkmcError
from drxkmc.runs import CHECKPOINT_FILE, NEXT_CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, run_status

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Small and quick: a 4×4×6 slab (~0.05 s per cycle); checkpoints after every cycle so that
# a kill leaves a recent one.
SPEC = CyclingSpec("Li1.2Mn0.4Ti0.4O2", size=(4, 4, 6), cycles=40, seed=3, checkpoint_minutes=0.0)


@pytest.fixture(scope="module")
def reference():
    """The same run in memory, through the Cycling API, never stopped."""
    cycling = SPEC.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cycling.run(SPEC.cycles, progress=False)
    return cycling


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "drxkmc", *args]


def _wait_for_cycles(folder: Path, proc: subprocess.Popen, n: int) -> None:
    """Until ``n`` checkpoints followed the first (cycles are running), or the run ended."""
    start = time.monotonic()
    seen: set[int] = set()
    while len(seen) <= n and proc.poll() is None and time.monotonic() - start < 120:
        try:
            seen.add((folder / PREVIOUS_CHECKPOINT_FILE).stat().st_mtime_ns)
        except FileNotFoundError:
            pass
        time.sleep(0.002)


def test_the_folder_run_equals_the_in_memory_run_and_repeats_idempotently(tmp_path, reference):
    run = cycle_or_resume(SPEC, tmp_path, progress=False)
    assert run.results.equals(reference.results)
    assert run.profiles.equals(reference.profiles)
    stored = pl.read_parquet(tmp_path / RESULTS_FILE)
    assert stored.equals(reference.results)
    assert pl.read_parquet(tmp_path / PROFILES_FILE).equals(reference.profiles)
    assert pl.read_parquet(tmp_path / EVENTS_FILE).equals(reference.events)
    meta = pl.read_parquet_metadata(tmp_path / RESULTS_FILE)
    assert CyclingSpec.loads(meta["drxkmc_spec"], "json") == SPEC
    assert '"time_s": "s"' in meta["drxkmc_units"]
    stamp = (tmp_path / RESULTS_FILE).stat().st_mtime_ns
    again = cycle_or_resume(SPEC, tmp_path)
    assert again.results.equals(reference.results)
    assert (tmp_path / RESULTS_FILE).stat().st_mtime_ns == stamp  # loaded, not rerun
    assert cycling_status(tmp_path)["state"] == "done"
    raises_field(
        lambda: cycle_or_resume(SPEC.replace(seed=4), tmp_path), "workdir", match="another spec"
    )
    raises_field(lambda: cycle_or_resume(SPEC.replace(cycles=5), tmp_path), "cycles")


def test_raising_cycles_extends_a_finished_run_exactly(tmp_path, reference):
    short = SPEC.replace(cycles=15)
    assert cycle_or_resume(short, tmp_path, progress=False).cycle == 15
    assert cycling_status(tmp_path)["state"] == "done"
    extended = cycle_or_resume(SPEC, tmp_path, progress=False)
    assert extended.results.equals(reference.results)
    assert pl.read_parquet(tmp_path / RESULTS_FILE).equals(reference.results)


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, reference):
    spec_file = tmp_path / "cycling.toml"
    SPEC.write(spec_file)
    folder = tmp_path / "run"
    rng = random.Random(20261127)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(_cli("cycle", str(spec_file), "--workdir", str(folder)))
        _wait_for_cycles(folder, proc, rng.randint(1, 8))
        time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if cycling_status(folder)["state"] == "done":
            break
    assert kills >= 1, "no kill landed mid-run; the run is too short for this test"
    out = subprocess.run(_cli("resume", str(folder)), capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert pl.read_parquet(folder / RESULTS_FILE).equals(reference.results)
    assert pl.read_parquet(folder / PROFILES_FILE).equals(reference.profiles)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_after_the_cycle_and_save(tmp_path, reference, sig, code):
    spec_file = tmp_path / "cycling.toml"
    SPEC.write(spec_file)
    folder = tmp_path / "run"
    proc = subprocess.Popen(
        _cli("cycle", str(spec_file), "--workdir", str(folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_cycles(folder, proc, 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail("the run finished before the signal; make SPEC longer")
    assert proc.returncode == code, err
    assert "checkpoint saved" in err and "drxkmc resume" in err and "Traceback" not in err, err
    status = cycling_status(folder)
    assert status["state"] == "started" and 0 < status["cycles"] < SPEC.cycles
    resumed = cycle_or_resume(SPEC, folder, progress=False)
    assert resumed.results.equals(reference.results)


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_copy(tmp_path, reference, caplog):
    cycle_or_resume(SPEC.replace(cycles=6), tmp_path, progress=False)
    (tmp_path / RESULTS_FILE).unlink()  # as if killed after the last checkpoint
    latest = tmp_path / CHECKPOINT_FILE
    latest.write_bytes(latest.read_bytes()[:-100])  # truncated
    with caplog.at_level(logging.WARNING, logger="drxkmc"):
        resumed = cycle_or_resume(SPEC, tmp_path, progress=False)
    assert "previous checkpoint" in caplog.text
    assert resumed.results.equals(reference.results)
    # Nothing usable left: a clear error naming the checkpoint.
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        (tmp_path / name).write_bytes(b"not a checkpoint")
    (tmp_path / NEXT_CHECKPOINT_FILE).unlink(missing_ok=True)
    raises_field(lambda: cycle_or_resume(SPEC, tmp_path), "checkpoint", match="no usable")


def test_cli_verbs_on_the_example_cycling_spec(tmp_path, capsys):
    spec = CyclingSpec.read(EXAMPLES / "cycling.toml")
    assert spec.size[2] >= 12 and spec.cycles >= 100  # what a new user runs first
    short = tmp_path / "short.toml"
    spec.replace(cycles=3).write(short)
    folder = tmp_path / "run"
    assert main(["cycle", str(short), "--workdir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 cycles" in out and str(folder / RESULTS_FILE) in out
    assert main(["status", str(folder)]) == 0
    assert "done, 3 of 3 cycles" in capsys.readouterr().out
    assert main(["plot", str(folder)]) == 0
    assert (folder / "capacity.png").stat().st_size > 0
    assert main(["resume", str(folder)]) == 0
    raises_field(lambda: run_status(folder), "workdir")  # not a diffusivity run


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[lattice]\nsize = [4, 4]\n", "lattice.size"),
        ("[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[run]\ncycles = 0\n", "run.cycles"),
        (
            "[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[protocol]\ncharge_time_s = -1\n",
            "protocol.charge_time_s",
        ),
        (
            "[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[degradation]\nredox_order = ['Xx']\n",
            "degradation.redox_order",
        ),
        (
            "[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[model]\nsite_disorder_eV = -1\n",
            "model.site_disorder_eV",
        ),
        ("[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[run]\ncylces = 3\n", "run.cylces"),
        ("[material]\nformula = 'Li1.2Mn0.4Ti0.4O2'\n[cycling]\n", "cycling"),
        ("[lattice]\nsize = 4\n", "material.formula"),
    ],
)
def test_bad_keys_are_named_with_file_and_section(tmp_path, capsys, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    raises_field(lambda: CyclingSpec.read(path), key, match=str(path))
    assert main(["cycle", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and err.count("\n") == 1


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(-2, 20), max_size=4),
    st.dictionaries(st.text(max_size=6), st.floats(-2, 8), max_size=2),
)
_SECTIONS = {
    "lattice": ["size", "a", "b"],
    "configuration": ["kind", "anneal_temperature_K", "anneal_sweeps", "seed", "file"],
    "degradation": ["o_loss_barrier_eV", "redox_order", "min_timescale_ratio", "x"],
    "protocol": ["charge_cutoff_V", "current_mA_g", "temperature_K", "y"],
    "model": ["site_disorder_eV", "channel_barrier_eV"],
    "run": ["cycles", "seed"],
    "output": ["checkpoint_minutes"],
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(sorted(_SECTIONS)), unique=True, max_size=3).flatmap(
        lambda sections: st.fixed_dictionaries(
            {
                s: st.dictionaries(st.sampled_from(_SECTIONS[s]), _VALUES, max_size=2)
                for s in sections
            }
        )
    )
)
def test_fuzzed_specs_are_accepted_or_refused_by_name(sections):
    data = {"material": {"formula": "Li1.2Mn0.4Ti0.4O2"}, **sections}
    try:
        spec = CyclingSpec.from_dict(data, source="fuzz.toml")
    except DrxkmcError as err:
        assert str(err).startswith("fuzz.toml: ") and err.field
        section = err.field.split(".")[0]
        assert section in data or err.field == "spec", err
        return
    assert CyclingSpec.loads(spec.dumps()) == spec  # what is accepted round-trips
