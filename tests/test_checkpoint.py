"""Checkpoint files cannot load wrong: every damaged or forged file is refused with a drxkmc
error naming ``checkpoint``, or loads to exactly the saved state; never a panic.

The frame is parsed here independently of the package (magic, version, length, MessagePack
payload, CRC-32), so that forged files with a valid checksum test the field validation.
"""

from __future__ import annotations

import contextlib
import functools
import math
import pickle
import struct
import threading
import time
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.errors import DrxkmcError, SimulationBusyError

MAGIC = b"\x89DRXKMC\n"
HEADER = struct.Struct("<8sIQ")
CRC = struct.Struct("<I")

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def original() -> tuple[bytes, drxkmc.Material]:
    """A checkpoint of an oxyfluoride run (with an oxidation-state override) mid-way."""
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4", oxidation_states={"Ti": 4})
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=2)
    sim = drxkmc.Simulation(cfg, drxkmc.BarrierModel(site_disorder_eV=0.02), seed=5)
    sim.advance(hops=400)
    return sim._checkpoint_bytes(), mat


def load(data: bytes) -> drxkmc.Simulation | None:
    """The simulation in ``data``, or None when it is refused with a drxkmc error naming
    ``checkpoint``; anything else (a panic included) fails the test."""
    try:
        return drxkmc.Simulation._from_checkpoint_bytes(data)
    except BaseException as exc:  # noqa: BLE001 - a panic must fail, not crash, the test
        assert isinstance(exc, DrxkmcError), f"{type(exc).__name__}: {exc}"
        assert exc.field == "checkpoint", exc
        assert str(exc).startswith("checkpoint: ")
        return None


def assert_same_state(a: drxkmc.Simulation, b: drxkmc.Simulation) -> None:
    """Equal observable state, and equal futures (same generator)."""
    assert (a.hops, a.time_s.hex(), a.temperature_K) == (b.hops, b.time_s.hex(), b.temperature_K)
    assert a.model == b.model and a.lattice == b.lattice and a.material == b.material
    assert np.array_equal(a._kmc.cations(), b._kmc.cations())
    assert np.array_equal(a._kmc.anions(), b._kmc.anions())
    assert np.array_equal(a.displacements_A(), b.displacements_A())
    a.advance(hops=30)
    b.advance(hops=30)
    assert a.time_s.hex() == b.time_s.hex()
    assert np.array_equal(a._kmc.cations(), b._kmc.cations())


def assert_loads_equal_or_is_refused(data: bytes) -> bool:
    """True if refused; otherwise the loaded state must be the original's."""
    good, _ = original()
    sim = load(data)
    if sim is None:
        return True
    assert_same_state(sim, load(good))
    return False


def unframe(data: bytes) -> dict:
    magic, version, length = HEADER.unpack_from(data)
    assert (magic, version, len(data)) == (MAGIC, 1, HEADER.size + length + CRC.size)
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    assert crc == zlib.crc32(data[: -CRC.size])
    return msgpack.unpackb(data[HEADER.size : -CRC.size], strict_map_key=False)


def frame(payload: dict) -> bytes:
    body = msgpack.packb(payload)
    head = HEADER.pack(MAGIC, 1, len(body)) + body
    return head + CRC.pack(zlib.crc32(head))


# ----- round trips -------------------------------------------------------------------------


def test_round_trip_restores_state_and_material(tmp_path):
    good, mat = original()
    sim = load(good)
    assert sim.material == mat and sim.material.oxidation_states["Ti"] == 4
    assert sim.material.capacities().equals(mat.capacities())
    path = tmp_path / "run.ckpt"
    sim.save_checkpoint(path)
    back = drxkmc.Simulation.load_checkpoint(path)
    assert path.read_bytes() == good
    assert_same_state(back, load(good))
    # Pickling is the same checkpoint.
    assert_same_state(pickle.loads(pickle.dumps(load(good))), load(good))


def test_a_simulation_without_material_round_trips_without_one():
    lat = drxkmc.Lattice(2)
    cfg = drxkmc.Configuration.from_species(lat, ["Li", "Va"] * (lat.n_cations // 2))
    sim = drxkmc.Simulation(cfg, seed=1)
    sim.advance(hops=10)
    back = pickle.loads(pickle.dumps(sim))
    assert back.material is None
    assert_same_state(back, sim)
    assert unframe(sim._checkpoint_bytes())["material"] is None


def test_the_frame_is_as_documented():
    good, mat = original()
    payload = unframe(good)
    assert set(payload) == {"run", "material"}
    assert payload["material"] == {"formula": mat.formula, "oxidation_overrides": [["Ti", 4.0]]}
    # Re-framing the decoded payload gives the same file: the format has no hidden parts.
    assert frame(payload) == good


# ----- damaged files -----------------------------------------------------------------------


@FUZZ
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=8))
def test_bit_flips_are_refused(positions):
    good, _ = original()
    data = bytearray(good)
    for p in positions:
        data[(p // 8) % len(data)] ^= 1 << (p % 8)
    if bytes(data) != good:  # flips can cancel out
        assert assert_loads_equal_or_is_refused(bytes(data))


@FUZZ
@given(st.integers(0, 10**9), st.binary(min_size=1, max_size=64))
def test_overwritten_bytes_are_refused_or_harmless(at, junk):
    good, _ = original()
    at %= len(good)
    data = good[:at] + junk + good[at + len(junk) :]
    if data != good:
        assert assert_loads_equal_or_is_refused(data)


@FUZZ
@given(st.integers(0, 10**9))
def test_truncated_files_are_refused(cut):
    good, _ = original()
    assert load(good[: cut % len(good)]) is None


@FUZZ
@given(st.binary(min_size=1, max_size=256))
def test_appended_junk_is_refused(junk):
    good, _ = original()
    assert load(good + junk) is None
    assert load(good + good) is None


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_are_refused(data):
    assert load(data) is None
    assert load(MAGIC + data) is None


def test_messages_say_what_is_wrong():
    good, _ = original()
    cases = {
        b"": "not a drxkmc checkpoint",
        b"not a checkpoint at all": "not a drxkmc checkpoint",
        good[:-1]: "truncated",
        good + b"\0": "after its end",
        good[:8] + b"\x07" + good[9:]: "format version 7",
        good[:100] + bytes([good[100] ^ 4]) + good[101:]: "checksum",
    }
    for data, words in cases.items():
        with pytest.raises(DrxkmcError, match=words) as info:
            drxkmc.Simulation._from_checkpoint_bytes(data)
        assert info.value.field == "checkpoint"


# ----- well-framed but impossible payloads -------------------------------------------------


def _cation_grid_indices(run: dict) -> list[int]:
    lx, ly, lz = (2 * n for n in run["config"]["lattice"]["size"])
    if lx * ly * lz != len(run["config"]["grid"]):
        # An earlier edit changed the lattice size (e.g. to 2**40 cells): listing its sites
        # here would take the test itself to tens of GB. The edit is then a no-op.
        raise LookupError("the lattice size was edited")
    return [
        x + lx * (y + ly * z)
        for z in range(lz)
        for y in range(ly)
        for x in range(lx)
        if (x + y + z) % 2 == 0
    ]


def _li_sites(run: dict) -> list[int]:
    grid = run["config"]["grid"]
    return [c for c, g in enumerate(_cation_grid_indices(run)) if grid[g] == 1]


def _set(path: tuple, value):
    def edit(payload):
        node = payload
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _edits() -> st.SearchStrategy:
    """Edits of the decoded payload that make the state invalid (or, for the odd no-op, leave
    it as it was)."""
    bad_float = st.sampled_from([math.nan, math.inf, -math.inf, -1.0])

    def species(draw_site, code):
        def edit(p):
            run = p["run"]
            cations = _cation_grid_indices(run)
            run["config"]["grid"][cations[draw_site % len(cations)]] = code

        return edit

    def anion(draw_site, code):
        def edit(p):
            grid = p["run"]["config"]["grid"]
            anions = sorted(set(range(len(grid))) - set(_cation_grid_indices(p["run"])))
            grid[anions[draw_site % len(anions)]] = code

        return edit

    def displacement(draw_site, delta):
        def edit(p):
            run = p["run"]
            li = _li_sites(run)
            run["disp"][li[draw_site % len(li)]] = delta

        return edit

    def tree(level, node, value):
        def edit(p):
            levels = p["run"]["tree_inner"]
            lv = levels[level % len(levels)]
            lv[node % len(lv)] = value

        return edit

    return st.one_of(
        # Species codes beyond the two TMs (Mn, Ti: codes 2, 3), and anion codes beyond Va.
        st.builds(species, st.integers(0, 10**6), st.integers(4, 255)),
        st.builds(anion, st.integers(0, 10**6), st.integers(4, 255)),
        st.builds(_set, st.just(("run", "time_s")), bad_float),
        st.builds(
            _set, st.just(("run", "temperature_k")), st.sampled_from([math.nan, 0.0, -300.0])
        ),
        st.builds(_set, st.just(("run", "model", "attempt_frequency_hz")), bad_float),
        st.builds(_set, st.just(("run", "model", "site_disorder_ev")), bad_float),
        st.builds(_set, st.just(("run", "rate_unit")), st.sampled_from([3.0, 0.0, -1.0, math.nan])),
        st.builds(_set, st.just(("run", "tree_rebuilt_total")), bad_float),
        st.builds(
            tree, st.integers(0, 9), st.integers(0, 10**6), st.sampled_from([math.nan, -1.0, 1e300])
        ),
        st.builds(_set, st.just(("run", "hops")), st.just(0)),
        st.builds(_set, st.just(("run", "rng", "s")), st.just([0, 0, 0, 0])),
        st.builds(
            displacement,
            st.integers(0, 10**6),
            st.sampled_from([[1, 0, 0], [1, 1, 1], [2**20, 0, 0], [0, 0, -(2**21)]]),
        ),
        st.builds(_set, st.just(("run", "disp")), st.just([])),
        st.builds(
            _set,
            st.just(("run", "config", "tm_names")),
            st.sampled_from([[], ["Mn"], ["Mn", "Mn"], ["Mn", "Banana"], ["Li", "Ti"]]),
        ),
        st.builds(
            _set,
            st.just(("run", "config", "lattice", "size")),
            st.sampled_from([[3, 3, 4], [1, 3, 3], [0, 0, 0], [2**40, 1, 1]]),
        ),
        st.builds(_set, st.just(("run", "config", "lattice", "a")), bad_float),
        st.builds(
            _set,
            st.just(("run", "config", "lattice", "geometry")),
            st.sampled_from(["Slab", "Other"]),
        ),
        st.builds(_set, st.just(("run", "config", "grid")), st.just([])),
        st.builds(
            _set, st.just(("material", "formula")), st.sampled_from(["Li2Ti1O2", "banana", ""])
        ),
        st.builds(_set, st.just(("extra",)), st.just(1)),
    )


@FUZZ
@given(st.lists(_edits(), min_size=1, max_size=3))
def test_forged_payloads_with_valid_checksums_are_refused(edits):
    good, _ = original()
    payload = unframe(good)
    for edit in edits:
        # An earlier edit may have removed what a later one changes (e.g. emptied the grid).
        with contextlib.suppress(LookupError, ZeroDivisionError):
            edit(payload)
    assert assert_loads_equal_or_is_refused(frame(payload))


@st.composite
def random_payloads(draw) -> dict:
    """Payloads of the right shape with arbitrary values (any size, code, float, length)."""
    size = draw(st.lists(st.integers(0, 4), min_size=3, max_size=3))
    n_grid = 8 * size[0] * size[1] * size[2]
    length = draw(st.sampled_from([n_grid, max(n_grid - 1, 0), n_grid + 1]))
    grid = draw(st.lists(st.integers(0, 5), min_size=length, max_size=length))
    n_cat = n_grid // 2
    step = st.lists(st.integers(-3, 3), min_size=3, max_size=3)
    floats = st.floats(allow_nan=True, allow_infinity=True)
    model = unframe(original()[0])["run"]["model"]
    return {
        "run": {
            "config": {
                "lattice": {
                    "size": size,
                    "a": draw(st.one_of(st.just(4.15), floats)),
                    "geometry": draw(st.sampled_from(["Bulk", "Slab"])),
                },
                "grid": grid,
                "tm_names": draw(st.lists(st.sampled_from(["Mn", "Ti", "Li", "Xx"]), max_size=3)),
            },
            "model": model | {"site_disorder_ev": draw(st.one_of(st.just(0.0), floats))},
            "temperature_k": draw(st.one_of(st.just(300.0), floats)),
            "disp": draw(st.lists(step, min_size=n_cat, max_size=n_cat)),
            "rng": {"s": draw(st.lists(st.integers(0, 2**64 - 1), min_size=4, max_size=4))},
            "time_s": draw(floats),
            "hops": draw(st.integers(0, 2**64 - 1)),
            "tree_inner": draw(st.lists(st.lists(floats, max_size=4), max_size=3)),
            "rate_unit": draw(st.one_of(st.sampled_from([2.0**-40, 1.0]), floats)),
            "tree_rebuilt_total": draw(floats),
        },
        "material": draw(
            st.sampled_from([None, {"formula": "Li1.2Mn0.4Ti0.4O2", "oxidation_overrides": []}])
        ),
    }


@FUZZ
@given(random_payloads())
def test_random_payloads_never_panic_and_load_only_what_they_say(payload):
    sim = load(frame(payload))
    if sim is not None:
        # A state that passes every check is exactly the file's: saving it gives it back.
        assert unframe(sim._checkpoint_bytes()) == payload


def test_an_unknown_species_code_is_refused_not_a_panic():
    # Once: PanicException (index out of bounds in the model) for a species code of 9.
    good, _ = original()
    payload = unframe(good)
    run = payload["run"]
    run["config"]["grid"][_cation_grid_indices(run)[0]] = 9
    with pytest.raises(DrxkmcError, match="species code 9") as info:
        drxkmc.Simulation._from_checkpoint_bytes(frame(payload))
    assert info.value.field == "checkpoint"


# ----- busy simulations --------------------------------------------------------------------


def test_a_running_simulation_says_it_is_busy(tmp_path):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(4), li_content=0.8, seed=1)
    sim = drxkmc.Simulation(cfg, seed=2)
    start = time.perf_counter()
    sim.advance(hops=50_000)
    per_hop = (time.perf_counter() - start) / 50_000
    # One call into the core of about two seconds on this machine: it holds the engine.
    hops = int(2.0 / per_hop)
    worker = threading.Thread(target=sim._kmc.run, args=(math.inf, hops, np.empty(0)))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sim.hops  # noqa: B018 - the read is the test
            except SimulationBusyError:
                break
            assert time.monotonic() < deadline, "the run never started"
        path = tmp_path / "run.ckpt"
        calls = {
            "time_s": lambda: sim.time_s,
            "hops": lambda: sim.hops,
            "configuration": sim.configuration,
            "save_checkpoint": lambda: sim.save_checkpoint(path),
            "pickle": lambda: pickle.dumps(sim),
            "advance": lambda: sim.advance(hops=10),
        }
        for name, call in calls.items():
            with pytest.raises(SimulationBusyError, match="busy") as info:
                call()
            assert info.value.field == "simulation", name
            assert isinstance(info.value, DrxkmcError)
        assert worker.is_alive(), "the run ended before every call was tried; make it longer"
    finally:
        worker.join()
    assert list(tmp_path.iterdir()) == []
    # Once the run is over, everything works again.
    assert sim.hops == 50_000 + hops
    sim.save_checkpoint(tmp_path / "run.ckpt")
    assert drxkmc.Simulation.load_checkpoint(tmp_path / "run.ckpt").hops == sim.hops
