"""Sweeps: grid expansion, executor independence, validation before any work."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import polars as pl
import pytest
from conftest import raises_field

from drxkmc import CompositionError, InvalidParameterError
from drxkmc.sweep import grid_points, sweep

FIXED = {"formula": "Li1.2Mn0.4Ti0.4O2", "li_content": 0.6, "size": 4, "hops": 20_000}


def test_grid_is_the_cartesian_product():
    pts = grid_points({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(pts) == 6
    assert {(p["a"], p["b"]) for p in pts} == {(a, b) for a in (1, 2, 3) for b in "xy"}
    assert grid_points([{"a": 1}, {"a": 5}]) == [{"a": 1}, {"a": 5}]


def test_serial_threads_and_processes_give_identical_frames():
    grid = {"temperature_K": [400.0, 500.0], "seed": [1, 2]}
    serial = sweep(grid, **FIXED)
    assert serial.height == 4
    assert serial.columns[:2] == ["temperature_K", "seed"]
    with ThreadPoolExecutor(2) as ex:
        threaded = sweep(grid, executor=ex, **FIXED)
    with ProcessPoolExecutor(2) as ex:
        processes = sweep(grid, executor=ex, **FIXED)
    # Each point is seeded, so where it runs cannot change its numbers.
    assert serial.equals(threaded)
    assert serial.equals(processes)
    # Different seeds at the same temperature are different runs.
    hot = serial.filter(pl.col("temperature_K") == 500.0)
    assert hot["D_tracer_cm2_s"][0] != hot["D_tracer_cm2_s"][1]


def test_model_fields_can_be_swept():
    out = sweep({"site_disorder_eV": [0.0, 0.1]}, seed=3, temperature_K=450.0, **FIXED)
    assert out["site_disorder_eV"].to_list() == [0.0, 0.1]
    assert out["D_tracer_cm2_s"][0] != out["D_tracer_cm2_s"][1]


class _CountingExecutor:
    def __init__(self):
        self.submitted = 0

    def submit(self, fn, **kw):
        self.submitted += 1
        raise AssertionError("nothing may be submitted when a point is invalid")


@pytest.mark.parametrize(
    ("grid", "field", "cls"),
    [
        ({"temperature_K": [300.0], "li_content": [0.6, 5.0]}, "li_content", InvalidParameterError),
        (
            {"temperature_K": [300.0], "site_disorder_eV": [0.1, -1.0]},
            "site_disorder_eV",
            InvalidParameterError,
        ),
        ({"formula": ["Li1.2Mn0.4Ti0.4O2", "Li1.2Xx0.4O2"]}, "formula", CompositionError),
        ({"temperature_K": []}, "grid", InvalidParameterError),
    ],
)
def test_bad_points_fail_before_anything_is_submitted(grid, field, cls):
    ex = _CountingExecutor()
    fixed = {k: v for k, v in FIXED.items() if k not in grid}
    raises_field(lambda: sweep(grid, executor=ex, **fixed), field, cls)
    assert ex.submitted == 0
