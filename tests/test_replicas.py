"""run_replicas: independent seeds in a thread pool give exactly the rows of running each seed
alone, and a summary row whose error is the standard error across replicas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from conftest import raises_field
from polars.testing import assert_frame_equal

import drxkmc
from drxkmc.replicas import run_replicas

SEEDS = [11, 12, 13]
RUN = {"hops": 20_000, "warmup_hops": 2_000, "blocks": 4, "samples_per_block": 5}


@pytest.fixture(scope="module")
def config(lmt):
    return drxkmc.Configuration.random(lmt, drxkmc.Lattice(4), li_content=0.8, seed=3)


@pytest.fixture(scope="module")
def model():
    return drxkmc.BarrierModel(site_disorder_eV=0.02)


@pytest.fixture(scope="module")
def frame(config, model):
    return run_replicas(config, model, temperature_K=600, seeds=SEEDS, workers=2, **RUN)


def one_by_one(config, model, seed):
    sim = drxkmc.Simulation(config, model, temperature_K=600, seed=seed)
    return sim.run(progress=False, **RUN).diffusivity


def test_rows_equal_running_each_seed_alone(frame, config, model):
    assert frame["replica"].to_list() == [*map(str, SEEDS), "mean"]
    assert frame["seed"].to_list() == [*SEEDS, None]
    for k, seed in enumerate(SEEDS):
        alone = one_by_one(config, model, seed)
        assert_frame_equal(frame.slice(k, 1).drop("replica", "seed"), alone)


def test_thread_count_does_not_change_results(frame, config, model):
    serial = run_replicas(config, model, temperature_K=600, seeds=SEEDS, workers=1, **RUN)
    assert_frame_equal(serial, frame)


def test_summary_is_mean_and_standard_error_across_replicas(frame):
    rows, summary = frame.head(len(SEEDS)), frame.tail(1)
    d = rows["D_tracer_cm2_s"].to_numpy()
    assert summary["D_tracer_cm2_s"][0] == pytest.approx(d.mean(), rel=1e-12)
    # Standard error of the mean over n replicas: s/√n with n − 1 degrees of freedom.
    assert summary["D_tracer_err_cm2_s"][0] == pytest.approx(
        d.std(ddof=1) / math.sqrt(len(d)), rel=1e-12
    )
    assert summary["hops"][0] == rows["hops"].sum()
    assert summary["blocks"][0] == rows["blocks"].sum()
    assert summary["temperature_K"][0] == 600


def test_distinct_seeds_give_distinct_trajectories(frame):
    assert frame.head(len(SEEDS))["D_tracer_cm2_s"].n_unique() == len(SEEDS)


def test_single_replica_has_nan_spread(config, model):
    f = run_replicas(config, model, temperature_K=600, seeds=np.array([5]), **RUN)
    assert f.height == 2 and math.isnan(f["D_jump_err_cm2_s"][1])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seeds": []}, "seeds"),
        ({"seeds": "123"}, "seeds"),
        ({"seeds": [1, -2]}, "seeds"),
        ({"seeds": [1, 2.5]}, "seeds"),
        ({"hops": 0}, "hops"),
        ({"workers": 0}, "workers"),
        ({"temperature_K": -5.0}, "temperature_K"),
        ({"temperature_K": "hot"}, "temperature_K"),
        ({"blocks": 0}, "blocks"),
        ({"samples_per_block": 1}, "samples_per_block"),
        ({"time_s": 1e-9}, "time_s"),
        ({"model": "default"}, "model"),
    ],
)
def test_bad_input_names_the_field(config, kwargs, field):
    args = {"temperature_K": 600, "seeds": SEEDS, "hops": 1000} | kwargs
    model = args.pop("model", None)
    raises_field(lambda: run_replicas(config, model, **args), field)


def test_bad_config_names_the_field():
    raises_field(lambda: run_replicas("Li2O", temperature_K=300, seeds=[1], hops=10), "config")


def test_frame_columns_match_the_simulation_frame(frame, config, model):
    assert frame.columns == ["replica", "seed", *one_by_one(config, model, 1).columns]
    assert frame.schema["seed"] == pl.UInt64
