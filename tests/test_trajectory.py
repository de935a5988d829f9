"""Li ids and trajectories, channel usage, the kinisi cross-check and paper figures
(drxkmc.trajectory, drxkmc.plot).

Exact checks: ids are a permutation that moves with the Li, an id's unwrapped position changes
exactly as the engine's displacement bookkeeping says, frames hold the engine's state after the
number of hops they record, and writing a trajectory changes no hop. Statistical checks: kinisi's
D* agrees with the exact single-particle D0 = 4·Γ_t·a_nn² and with drxkmc's block estimate on
a DRX cell within their combined uncertainty.
"""

from __future__ import annotations

import gc
import math
import os
import pickle
import signal

import ase.io
import matplotlib
import matplotlib.pyplot
import numpy as np
import polars as pl
import pytest
from conftest import lattice_gas, raises_field, single_particle_d0_cm2_s
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import plot
from drxkmc.trajectory import (
    TrajectoryWriter,
    agree,
    channel_usage,
    kinisi_check,
    read_trajectory,
)

matplotlib.use("Agg")

Z = 4.0  # tolerance in standard errors for statistical comparisons

# Short runs whose diffusivity is not the point (ids, files, hop counts) warn that it has not
# converged.
pytestmark = pytest.mark.filterwarnings("ignore::drxkmc.ConvergenceWarning")


def _drx_sim(size=3, temperature=900.0, seed=1, li_content=0.6):
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    lat = drxkmc.Lattice(size, a=4.15)
    cfg = drxkmc.Configuration.random(mat, lat, seed=seed).with_li_content(li_content)
    return drxkmc.Simulation(cfg, temperature_K=temperature, seed=seed)


def _half_a_units(sim, positions_A):
    """Positions in units of a/2 as exact integers."""
    q = np.rint(positions_A / (sim.lattice.a / 2)).astype(np.int64)
    assert np.allclose(q * sim.lattice.a / 2, positions_A, atol=1e-9)
    return q


def _wrapped(sim, positions_A):
    """Grid coordinates (a/2) wrapped into the box, exact."""
    return _half_a_units(sim, positions_A) % (2 * np.asarray(sim.lattice.size))


# ----- ids and unwrapped positions ---------------------------------------------------------


def test_li_ids_are_conserved_and_follow_the_displacement_bookkeeping_exactly():
    sim = _drx_sim()
    kmc = sim._kmc
    ids, p0 = sim.li_positions_A()
    n_li = int(np.count_nonzero(sim.li_occupancy()))
    assert np.array_equal(ids, np.arange(n_li))
    site_ids = kmc.li_ids()
    assert np.array_equal(site_ids != drxkmc._core.NO_LI, sim.li_occupancy())
    # At the start every Li is at its site.
    li_sites = np.flatnonzero(sim.li_occupancy())
    assert np.allclose(p0[site_ids[li_sites]], sim.lattice.cation_positions()[li_sites])
    start_site = np.empty(n_li, dtype=np.int64)
    start_site[site_ids[li_sites]] = li_sites
    d0 = _half_a_units(sim, sim.displacements_A())[start_site]
    sim.advance(hops=30_000)
    _, p1 = sim.li_positions_A()
    site_ids = kmc.li_ids()
    li_sites = np.flatnonzero(sim.li_occupancy())
    # Ids stay a permutation of 0..n_Li on exactly the Li sites.
    assert np.array_equal(np.sort(site_ids[li_sites]), np.arange(n_li))
    assert np.all(site_ids[~sim.li_occupancy()] == drxkmc._core.NO_LI)
    end_site = np.empty(n_li, dtype=np.int64)
    end_site[site_ids[li_sites]] = li_sites
    d1 = _half_a_units(sim, sim.displacements_A())[end_site]
    moved = _half_a_units(sim, p1) - _half_a_units(sim, p0)
    assert np.array_equal(moved, d1 - d0)
    assert np.count_nonzero(moved) > 0
    # The unwrapped position wraps onto the Li's current site.
    assert np.array_equal(
        _wrapped(sim, p1), _wrapped(sim, sim.lattice.cation_positions()[end_site])
    )
    # Measuring blocks zero the displacements; unwrapped positions run on unchanged.
    sim.run(hops=20_000, blocks=4, progress=False)
    _, p2 = sim.li_positions_A()
    assert np.abs(p2 - p1).max() > 0
    site_ids = kmc.li_ids()
    li_sites = np.flatnonzero(sim.li_occupancy())
    now_site = np.empty(n_li, dtype=np.int64)
    now_site[site_ids[li_sites]] = li_sites
    assert np.array_equal(
        _wrapped(sim, p2), _wrapped(sim, sim.lattice.cation_positions()[now_site])
    )


def test_checkpoints_and_pickles_keep_ids_and_channel_counts(tmp_path):
    sim = _drx_sim()
    sim.count_channels()
    sim.li_positions_A()
    sim.advance(hops=5_000)
    sim.save_checkpoint(tmp_path / "run.ckpt")
    assert (tmp_path / "run.ckpt").read_bytes()[8] == 2  # format 2: tracking kept
    for again in (
        drxkmc.Simulation.load_checkpoint(tmp_path / "run.ckpt"),
        pickle.loads(pickle.dumps(sim)),
    ):
        assert np.array_equal(again._kmc.li_ids(), sim._kmc.li_ids())
        assert np.array_equal(again.li_positions_A()[1], sim.li_positions_A()[1])
        assert again.channel_usage().equals(sim.channel_usage())
    # Without ids the file keeps format 1, which earlier drxkmc versions read.
    plain = _drx_sim()
    plain.save_checkpoint(tmp_path / "plain.ckpt")
    assert (tmp_path / "plain.ckpt").read_bytes()[8] == 1
    assert drxkmc.Simulation.load_checkpoint(tmp_path / "plain.ckpt")._kmc.li_ids() is None


# ----- trajectory files --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".extxyz", ".traj"])
def test_frames_read_back_with_ase_hold_the_engine_state_after_their_hops(tmp_path, suffix):
    sim = _drx_sim()
    twin = _drx_sim()  # same seed, no writer: the same hops
    twin.li_positions_A()
    every = 3 * np.count_nonzero(sim.li_occupancy()) / sim.total_rate_per_s
    path = tmp_path / f"li{suffix}"
    with sim.trajectory(path, every_s=every) as writer:
        sim.advance(hops=20_000)
    assert writer.frames_written > 50
    times, ids, positions = read_trajectory(path)
    assert len(times) == writer.frames_written
    assert np.allclose(np.diff(times), every, rtol=1e-9)
    assert np.array_equal(ids, np.arange(positions.shape[1]))
    frames = ase.io.read(path, index=":")
    hops = np.array([f.info["hops"] for f in frames])
    assert np.all(np.diff(hops) >= 0) and hops[-1] <= 20_000
    assert all(set(f.get_chemical_symbols()) == {"Li"} for f in frames)
    # Frame k holds the state after hops[k] hops: the twin, advanced by exactly that many
    # hops (which draws the same random numbers), has the same unwrapped positions.
    for k in np.unique(np.linspace(0, len(frames) - 1, 12).astype(int)):
        if hops[k] > twin.hops:
            twin.advance(hops=int(hops[k]) - twin.hops)
        assert np.allclose(twin.li_positions_A()[1], positions[k], atol=1e-9), k
    # The host: every TM and anion once, at its site.
    host = ase.io.read(writer.host_path)
    cfg = sim.configuration()
    expected = [s for s in cfg.cation_symbols() if s not in ("Li", "Va")]
    expected += [s for s in cfg.anion_symbols() if s != "Va"]
    assert sorted(host.get_chemical_symbols()) == sorted(expected)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "temporary files left"


def test_writing_a_trajectory_changes_no_hop(tmp_path):
    plain, traced = _drx_sim(seed=3), _drx_sim(seed=3)
    a = plain.run(hops=30_000, progress=False)
    every = 5 * np.count_nonzero(traced.li_occupancy()) / traced.total_rate_per_s
    with traced.trajectory(tmp_path / "li.xyz", every_s=every, host=False) as w:
        b = traced.run(hops=30_000, progress=False)
    assert w.frames_written > 100 and w.host_path is None
    assert plain.time_s == traced.time_s and plain.hops == traced.hops
    assert a.diffusivity.equals(b.diffusivity)
    assert np.array_equal(plain.displacements_A(), traced.displacements_A())


def test_ctrl_c_leaves_a_complete_trajectory_of_every_frame_written(tmp_path):
    sim = _drx_sim()
    path = tmp_path / "li.extxyz"
    writer = sim.trajectory(path, every_s=1e-13)
    calls = []
    frame = writer._frame

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 20:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the frame is being written
        frame(*args)

    writer._frame = interrupted
    sim._kmc.set_frames(sim.time_s, writer.every_s, interrupted)
    with writer:
        result = sim.run(hops=50_000, progress=False)
    assert result.interrupted
    assert writer.frames_written >= 20
    times, _, positions = read_trajectory(path)
    assert len(times) == writer.frames_written
    assert np.all(np.isfinite(positions))
    assert sorted(os.listdir(tmp_path)) == ["li.extxyz", "li.host.extxyz"]


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path):
    sim = _drx_sim()
    path = tmp_path / "li.extxyz"
    writer = sim.trajectory(path, every_s=1e-13, host=False)

    class FullDisk:
        # The open file, except that writing fails as on a full disk.
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    writer._out = FullDisk(writer._out)
    with pytest.raises(OSError, match="No space"), writer:
        sim.advance(hops=1_000)
    assert os.listdir(tmp_path) == []


def test_a_writer_never_closed_still_leaves_its_file(tmp_path):
    sim = _drx_sim()
    writer = sim.trajectory(tmp_path / "li.traj", every_s=1e-13, host=False)
    sim.advance(hops=2_000)
    written = writer.frames_written
    del sim, writer  # a cycle: the engine holds the writer's frame sink
    gc.collect()
    assert os.listdir(tmp_path) == ["li.traj"]
    assert len(read_trajectory(tmp_path / "li.traj")[0]) == written > 0


def test_bad_trajectory_arguments_name_their_field(tmp_path):
    sim = _drx_sim()
    raises_field(lambda: sim.trajectory(tmp_path / "li.xyz", every_s=-1.0), "every_s")
    raises_field(lambda: sim.trajectory(tmp_path / "li.xyz", every_s=float("nan")), "every_s")
    raises_field(lambda: sim.trajectory(tmp_path / "li.pdb", every_s=1e-12), "path")
    raises_field(lambda: sim.trajectory(tmp_path / "no" / "li.xyz", every_s=1e-12), "path")
    raises_field(lambda: TrajectoryWriter(object(), "x.xyz", every_s=1), "sim")
    raises_field(lambda: read_trajectory(tmp_path / "missing.traj"), "path")
    raises_field(lambda: sim.channel_usage(), "sim")
    # A structure file that is not a drxkmc trajectory.
    ase.io.write(tmp_path / "plain.xyz", ase.Atoms("Li2", positions=[[0, 0, 0], [1, 1, 1]]))
    raises_field(lambda: read_trajectory(tmp_path / "plain.xyz"), "path")
    with sim.trajectory(tmp_path / "short.traj", every_s=1e-12):
        sim.advance(hops=10)
    raises_field(lambda: kinisi_check(tmp_path / "short.traj", lags=2), "lags")
    raises_field(lambda: kinisi_check(tmp_path / "short.traj", max_lag_s=0.0), "max_lag_s")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".xyz", ".extxyz", ".traj"]))
def test_reading_arbitrary_bytes_raises_a_field_error_or_succeeds(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        read_trajectory(path)
    except drxkmc.InvalidParameterError as e:
        assert e.field == "path"


# ----- channel usage -----------------------------------------------------------------------


def test_channel_usage_counts_every_hop_once_by_its_tetrahedron():
    sim = _drx_sim()
    sim.advance(hops=1_000)
    sim.count_channels()
    h0 = sim.hops
    sim.advance(hops=20_000)
    usage = sim.channel_usage()
    assert usage.columns == ["channel", "corners", "hops", "hop_fraction"]
    assert usage["hops"].sum() == sim.hops - h0
    assert usage["hop_fraction"].sum() == pytest.approx(1.0)
    # No F or Cl in Li1.2Mn0.4Ti0.4O2: every tetrahedron has four O corners.
    assert set(usage["corners"]) == {"O only"}
    # 0-TM channels carry most hops at this Li content (the defaults' lowest barrier).
    by = dict(zip(usage["channel"], usage["hops"]))
    assert by["0-TM"] > by.get("1-TM", 0) > by.get("2-TM", 0)
    detail = sim.channel_usage(detail=True)
    assert detail["hops"].sum() == sim.hops - h0
    assert set(detail.columns) >= {"n_O", "n_F", "n_Cl", "n_anion_vacancy"}
    corners = detail["n_O"] + detail["n_F"] + detail["n_Cl"] + detail["n_anion_vacancy"]
    assert (corners == 4).all()


def test_channel_usage_sees_fluorine_corners_and_a_lattice_gas_uses_only_0tm():
    lat = drxkmc.Lattice(3, a=4.15)
    anions = np.full(lat.n_anions, "O")
    anions[::3] = "F"
    sim = drxkmc.Simulation(
        lattice_gas(lat, lat.n_cations // 3, seed=2, anions=anions),
        drxkmc.BarrierModel.uniform(0.3),
        temperature_K=400,
        seed=1,
        equilibrate=False,
    )
    sim.count_channels()
    sim.advance(hops=5_000)
    usage = channel_usage(sim)
    assert set(usage["channel"]) == {"0-TM"}
    assert usage["hops"].sum() == 5_000
    # With every third anion F, tetrahedra with and without F corners both carry hops.
    assert {"O only", "F"} <= set(usage["corners"])
    ax = plot.plot_channel_usage(usage)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0-TM", "1-TM", "2-TM"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == set(usage["corners"])


def test_net_bond_fluxes_add_up_to_the_li_displacements():
    # Σ over bonds of net hops × bond vector = Σ over Li of their displacements (exact).
    sim = _drx_sim(seed=2)
    sim.count_channels(bonds=True)
    _, p0 = sim.li_positions_A()
    sim.advance(hops=20_000)
    _, p1 = sim.li_positions_A()
    flux = sim.bond_flux()
    assert flux.columns == ["from_site", "to_site", "net_hops"]
    net = flux["net_hops"].to_numpy()
    assert np.all(np.abs(net[:-1]) >= np.abs(net[1:]))  # largest first
    assert 0 < np.abs(net).sum() <= sim.hops
    pos = sim.lattice.cation_positions()
    box = np.asarray(sim.lattice.size) * sim.lattice.a
    d = pos[flux["to_site"].to_numpy()] - pos[flux["from_site"].to_numpy()]
    d -= box * np.round(d / box)
    assert np.allclose(np.linalg.norm(d, axis=1), sim.lattice.a / np.sqrt(2))  # Li–Li bonds
    carried = (net[:, None] * d).sum(axis=0)
    assert np.allclose(carried, (p1 - p0).sum(axis=0), atol=1e-6)
    assert np.abs(carried).max() > 0
    ax = plot.plot_bond_flux(sim, z=0, top=20)
    assert 0 < len(ax.texts) <= 20 and ax.get_xlabel() == "x (Å)"
    _, given = matplotlib.pyplot.subplots()
    assert plot.plot_bond_flux(sim, z=1, ax=given) is given
    raises_field(lambda: _drx_sim().bond_flux(), "bonds")
    raises_field(lambda: plot.plot_bond_flux(sim, z=99), "z")
    matplotlib.pyplot.close("all")


# ----- kinisi ------------------------------------------------------------------------------


def test_kinisi_agrees_with_the_exact_dilute_lattice_gas_diffusivity(tmp_path):
    # 16 Li on 2048 sites (c = 0.8 %): each Li walks as a single particle, D* = D0 =
    # 4·Γ_t·a_nn² (conftest) up to blocking corrections of order c (≈ 1 %, far below the
    # errors). One Li alone is not enough for kinisi: its covariance model needs many
    # particles (with one, its interval misses D0).
    lat = drxkmc.Lattice(8, a=4.15)
    barrier, temperature, n_li = 0.3, 400.0, 16
    model = drxkmc.BarrierModel.uniform(barrier)
    sim = drxkmc.Simulation(
        lattice_gas(lat, n_li, seed=5), model, temperature_K=temperature, seed=5
    )
    rate = sim.total_rate_per_s
    with sim.trajectory(tmp_path / "dilute.traj", every_s=2 * n_li / rate, host=False):
        result = sim.run(time_s=2_000 * n_li / rate, blocks=40, progress=False)
    d0 = single_particle_d0_cm2_s(model, barrier, temperature, lat)
    frame = kinisi_check(tmp_path / "dilute.traj", result, samples=500)
    assert frame["method"].to_list() == ["kinisi", "drxkmc"]
    k = frame.row(0, named=True)
    assert k["D_low_cm2_s"] < k["D_tracer_cm2_s"] < k["D_high_cm2_s"]
    for row in frame.iter_rows(named=True):
        assert 0 < row["D_tracer_err_cm2_s"] < 0.25 * d0
        assert abs(row["D_tracer_cm2_s"] - d0) < Z * row["D_tracer_err_cm2_s"], row
    assert agree(frame, Z)
    # The same window as drxkmc's blocks (max_lag_s) gives a consistent answer too.
    window = kinisi_check(
        tmp_path / "dilute.traj", samples=300, max_lag_s=result.msd["lag_s"].max()
    )
    assert window.height == 1
    assert abs(window["D_tracer_cm2_s"][0] - d0) < Z * window["D_tracer_err_cm2_s"][0]


def test_kinisi_agrees_with_drxkmc_on_the_hard_core_lattice_gas(tmp_path):
    # Half-filled FCC lattice gas: tracer correlations lower D* to about 0.46·D0 (no closed
    # form); kinisi and drxkmc must agree within their combined uncertainty and both lie
    # between the fully correlated and uncorrelated bounds 0 < D* < D0·(1 − c).
    lat = drxkmc.Lattice(4, a=4.15)
    barrier, temperature = 0.3, 400.0
    model = drxkmc.BarrierModel.uniform(barrier)
    sim = drxkmc.Simulation(
        lattice_gas(lat, lat.n_cations // 2, seed=4), model, temperature_K=temperature, seed=4
    )
    every = 2 * (lat.n_cations // 2) / sim.total_rate_per_s
    with sim.trajectory(tmp_path / "gas.traj", every_s=every, host=False):
        result = sim.run(hops=60_000, progress=False)
    frame = kinisi_check(tmp_path / "gas.traj", result, samples=500)
    d0 = single_particle_d0_cm2_s(model, barrier, temperature, lat)
    assert agree(frame, 3.0), frame
    for row in frame.iter_rows(named=True):
        assert 0.3 * d0 < row["D_tracer_cm2_s"] < 0.5 * d0, (row, d0)


def test_kinisi_agrees_with_drxkmc_on_a_drx_cell(tmp_path):
    # A converged DRX run (MSD linear): kinisi's Bayesian fit of the whole trajectory and
    # drxkmc's block estimate agree within their combined uncertainty.
    sim = _drx_sim(size=5, temperature=1000.0, seed=1)
    # Frames several hops per Li apart: positions are unwrapped, so kinisi needs no fine
    # frames to follow the Li.
    every = 3 * np.count_nonzero(sim.li_occupancy()) / sim.total_rate_per_s
    with sim.trajectory(tmp_path / "drx.traj", every_s=every, host=False):
        result = sim.run(hops=60_000, progress=False)
    assert result.diffusivity["converged"][0]
    frame = kinisi_check(tmp_path / "drx.traj", result, samples=500)
    d = frame["D_tracer_cm2_s"].to_numpy()
    e = frame["D_tracer_err_cm2_s"].to_numpy()
    assert np.all(e < 0.15 * d)
    assert abs(d[0] - d[1]) < 3 * math.hypot(e[0], e[1]), frame


# ----- figures -----------------------------------------------------------------------------


def test_plots_return_their_axes_and_fit_a_journal_column():
    import matplotlib.pyplot as plt

    sim = _drx_sim()
    sim.count_channels()
    result = sim.run(hops=20_000, progress=False)
    with plot.single_column():
        ax = result.plot_msd()
        assert ax.figure.get_size_inches()[0] == pytest.approx(3.3)
        assert plt.rcParams["font.size"] == 8
        ax2 = plot.plot_channel_usage(sim.channel_usage())
        assert ax2.figure.get_size_inches()[0] == pytest.approx(3.3)
    assert plt.rcParams["font.size"] != 8 or matplotlib.rcParamsDefault["font.size"] == 8
    _, given_ax = plt.subplots()
    assert result.plot_msd(ax=given_ax) is given_ax
    assert plot.plot_channel_usage(sim.channel_usage(), ax=given_ax) is given_ax
    curve = drxkmc.voltage_curve(sim.configuration(), sim.model, n_points=20)
    with plot.single_column():
        ax4 = plot.plot_voltage_curve(curve)
    assert ax4.get_xlabel() == "capacity (mAh/g)" and ax4.get_ylabel().startswith("V")
    assert ax4.figure.get_size_inches()[0] == pytest.approx(3.3)
    assert plot.plot_voltage_curve(curve, ax=given_ax, x="li_per_fu") is given_ax
    frame = pl.DataFrame(
        {"channel": ["0-TM"], "corners": ["O only"], "hops": [3], "hop_fraction": [1.0]}
    )
    ax3 = plot.plot_channel_usage(frame)
    assert ax3.get_ylabel() == "share of hops"
    plt.close("all")
