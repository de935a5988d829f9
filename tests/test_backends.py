"""Sweeps on real back-ends: a Dask ``distributed.LocalCluster`` and submitit's local
executor give the serial frame; seeds derived from a sweep seed repeat; a point that fails
on a worker comes back with its parameters and its real error (type, message, field)."""

from __future__ import annotations

import math
import warnings

import polars as pl
import pytest
from conftest import raises_field

import drxkmc
from drxkmc.spec import RunSpec
from drxkmc.sweep import SweepWarning, derived_seed, sweep

BASE = RunSpec("Li1.2Mn0.4Ti0.4O2", size=4, li_content=0.6, temperature_K=600.0, hops=30_000)
GRID = {"temperature_K": [600.0, 700.0], "site_disorder_eV": [0.0, 0.05]}


@pytest.fixture(scope="module")
def serial() -> pl.DataFrame:
    return sweep(GRID, base=BASE, sweep_seed=11)


def test_same_sweep_twice_gives_the_same_frame(serial):
    assert serial.height == 4 and serial["error"].null_count() == 4
    assert serial.columns[:3] == ["temperature_K", "site_disorder_eV", "seed"]
    assert serial["seed"].to_list() == [derived_seed(11, k) for k in range(4)]
    assert len(set(serial["seed"])) == 4  # independent streams
    assert sweep(GRID, base=BASE, sweep_seed=11).equals(serial)
    assert not sweep(GRID, base=BASE, sweep_seed=12).equals(serial)
    # A list of specs is the same sweep as the grid it spells out.
    specs = [
        BASE.replace(temperature_K=t, site_disorder_eV=s)
        for t in (600.0, 700.0)
        for s in (0.0, 0.05)
    ]
    from_specs = sweep(specs, sweep_seed=11)
    assert from_specs.select(pl.exclude("site_disorder_eV")).equals(
        serial.select(pl.exclude("site_disorder_eV"))
    )


def test_dask_local_cluster_gives_the_serial_frame(serial):
    distributed = pytest.importorskip("distributed", reason="in the test extra")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = sweep(GRID, base=BASE, sweep_seed=11, executor=client.get_executor())
        # A drxkmc error raised on a worker process reaches the caller whole.
        bad = [BASE.replace(li_content=1.2), BASE]  # no vacancy: fails when it runs
        with pytest.warns(SweepWarning, match="1 of 2"):
            mixed = sweep(bad, executor=client.get_executor())
        err = raises_field(
            lambda: sweep(bad, executor=client.get_executor(), errors="raise"), "config"
        )
    assert frame.equals(serial)
    assert "no empty cation site" in str(err)
    assert mixed["error"][0].startswith("InvalidParameterError: config: has no empty cation")
    assert mixed["li_content"].to_list() == [1.2, 0.6]  # the failed point's parameters
    assert math.isnan(mixed["D_tracer_cm2_s"][0] or math.nan)
    assert mixed["error"][1] is None and mixed["D_tracer_cm2_s"][1] > 0


def test_submitit_local_executor_gives_the_serial_frame(serial, tmp_path):
    submitit = pytest.importorskip("submitit", reason="in the test extra")
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs", cluster="local")
    executor.update_parameters(timeout_min=5)
    frame = sweep(GRID, base=BASE, sweep_seed=11, executor=executor)
    assert frame.equals(serial)
    with pytest.warns(SweepWarning):
        mixed = sweep([BASE.replace(li_content=1.2)], executor=executor)
    assert mixed["error"][0].startswith("InvalidParameterError: config:")


def test_points_are_all_checked_before_the_first_submission():
    class Refuse:
        def submit(self, fn, **kwargs):
            raise AssertionError("nothing may be submitted when a point is invalid")

    fixed = {"formula": "Li1.2Mn0.4Ti0.4O2", "size": 4, "li_content": 0.6}
    points = [{"seed": 0, "hops": 3_000_000}, {"seed": 1, "temperature_K": float("nan")}]
    err = raises_field(lambda: sweep(points, executor=Refuse(), **fixed), "temperature_K")
    assert "point 1" in str(err)
    raises_field(
        lambda: sweep([{"li_content": "0.6"}], executor=Refuse(), formula="Li1.2Mn0.4Ti0.4O2"),
        "li_content",
    )
    raises_field(lambda: sweep([BASE, {"sede": 1}], executor=Refuse()), "sede")
    raises_field(lambda: sweep(GRID, base=BASE, errors="ignore"), "errors")
    raises_field(lambda: sweep(GRID, base=BASE, sweep_seed=-1), "sweep_seed")


def test_points_in_folders_resume(tmp_path, serial):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing fails, nothing warns
        first = sweep(GRID, base=BASE, sweep_seed=11, workdir=tmp_path)
    assert first.equals(serial)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"point-{k:04d}" for k in range(4)]
    # Running the sweep again returns the stored points (same frame, nothing rerun).
    stamps = [p.stat().st_mtime_ns for p in sorted(tmp_path.glob("point-*/result.parquet"))]
    assert sweep(GRID, base=BASE, sweep_seed=11, workdir=tmp_path).equals(serial)
    again = [p.stat().st_mtime_ns for p in sorted(tmp_path.glob("point-*/result.parquet"))]
    assert again == stamps and len(stamps) == 4
    # Another grid in the same folders is refused before anything runs.
    raises_field(
        lambda: sweep(GRID, base=BASE, sweep_seed=12, workdir=tmp_path),
        "workdir",
        match="point-0000",
    )
    # A point's folder holds exactly what run_or_resume of its spec returns.
    point = drxkmc.RunSpec.read(tmp_path / "point-0003" / "spec.toml")
    alone = drxkmc.run_or_resume(point, tmp_path / "point-0003").diffusivity
    assert alone.equals(serial[3].select(alone.columns))
