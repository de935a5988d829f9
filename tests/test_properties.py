"""Property-based invariants of the kMC (hypothesis; few examples on small lattices)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from conftest import assert_total_rate_bounds, minimum_image
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import drxkmc

FORMULAS = ["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.4Ti0.4O1.6F0.4", "Li1.211Mo0.467Cr0.3O2"]

#: Few examples (each runs a small kMC), new ones every CI run (see the profile in conftest).
FEW = settings(max_examples=15, deadline=None)
FEWER = settings(FEW, max_examples=8)


@st.composite
def simulations(draw):
    """A small random DRX configuration, partly delithiated, with the default barrier model
    (optionally with site disorder) at a random temperature and seed."""
    formula = draw(st.sampled_from(FORMULAS))
    mat = drxkmc.Material.from_formula(formula)
    size = draw(st.sampled_from([(2, 2, 2), (2, 3, 2), (3, 3, 3)]))
    lat = drxkmc.Lattice(size)
    li_max = mat.li + mat.cation_vacancies
    li = draw(st.floats(0.2 * li_max, 0.8 * li_max))
    cfg = drxkmc.Configuration.random(mat, lat, li_content=li, seed=draw(st.integers(0, 2**32)))
    disorder = draw(st.sampled_from([0.0, 0.05]))
    model = drxkmc.BarrierModel(site_disorder_eV=disorder)
    temperature = draw(st.floats(300.0, 1200.0))
    seed = draw(st.integers(0, 2**64 - 1))
    return cfg, model, temperature, seed


def _make(args):
    cfg, model, temperature, seed = args
    sim = drxkmc.Simulation(cfg, model, temperature_K=temperature, seed=seed)
    # A Li with no empty neighbour anywhere cannot run (tested in test_errors.py).
    assume(sim.total_rate_per_s > 0)
    return sim


@FEW
@given(simulations(), st.integers(1, 3000))
def test_li_conserved_and_tm_never_move(args, hops):
    cfg = args[0]
    sim = _make(args)
    before = sim.configuration()
    sim.advance(hops=hops)
    after = sim.configuration()
    assert sim.hops == hops
    assert after.n_li == before.n_li == cfg.n_li
    cat0, cat1 = before.cation_symbols(), after.cation_symbols()
    tm0 = ~np.isin(cat0, ["Li", "Va"])
    # TMs stay on their sites, and no Li or vacancy appears on a TM site.
    assert np.array_equal(cat0[tm0], cat1[tm0])
    assert np.array_equal(tm0, ~np.isin(cat1, ["Li", "Va"]))
    assert np.array_equal(before.anion_symbols(), after.anion_symbols())
    assert sim.li_occupancy().sum() == cfg.n_li


@FEW
@given(simulations(), st.lists(st.integers(1, 500), min_size=2, max_size=4))
def test_time_strictly_increases_over_successive_runs(args, lengths):
    sim = _make(args)
    times = [sim.time_s]
    hops = [sim.hops]
    for n in lengths:
        res = sim.run(hops=n, blocks=2, samples_per_block=2, progress=False)
        times.append(sim.time_s)
        hops.append(sim.hops)
        row = res.diffusivity.row(0, named=True)
        # The measuring part (after the rate calibration and warm-up) is what the row reports,
        # and it makes exactly the hops asked for.
        assert 0 < row["time_s"] <= times[-1] - times[-2]
        assert row["hops"] == n <= hops[-1] - hops[-2]
        assert sum(b.hops for b in res.blocks) <= n
        sim.advance(hops=n)
        times.append(sim.time_s)
        hops.append(sim.hops)
        assert hops[-1] - hops[-2] == n
        sim.advance(time_s=1e-12)
        times.append(sim.time_s)
        hops.append(sim.hops)
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert all(b >= a for a, b in zip(hops, hops[1:]))


def _run_all(sim):
    res = sim.run(hops=2000, blocks=4, samples_per_block=3, progress=False)
    sim.advance(hops=500)
    return res, sim.li_occupancy(), (sim.time_s, sim.hops)


@FEW
@given(simulations())
def test_same_seed_is_identical_different_seed_differs(args):
    r1, occ1, t1 = _run_all(_make(args))
    r2, occ2, t2 = _run_all(_make(args))
    assert r1.diffusivity.equals(r2.diffusivity)
    assert r1.msd.equals(r2.msd)
    assert np.array_equal(occ1, occ2) and t1 == t2
    cfg, model, temperature, seed = args
    r3, occ3, t3 = _run_all(_make((cfg, model, temperature, (seed + 1) % 2**64)))
    # run(hops=…) lasts a fixed simulated time, so the hop count (and the time after a fixed
    # number of hops) are what a different random stream changes.
    assert t3 != t1
    assert not r3.diffusivity.equals(r1.diffusivity)
    # A run whose every block the hop count cut short (a trapped 300 K cell whose rate
    # calibration overestimated the block length) has an empty MSD frame for any seed.
    assert not r3.msd.equals(r1.msd) or r1.msd.height == r3.msd.height == 0


@FEWER
@given(simulations())
def test_each_hop_moves_one_li_into_an_empty_neighbour(args):
    sim = _make(args)
    lat = sim.lattice
    pos = lat.cation_positions()
    a_nn = lat.a / math.sqrt(2)
    for _ in range(40):
        prev = sim.configuration().cation_symbols()
        prev_disp = sim.displacements_A()
        sim.advance(hops=1)
        now = sim.configuration().cation_symbols()
        changed = np.flatnonzero(prev != now)
        assert len(changed) == 2
        src = changed[prev[changed] == "Li"]
        dst = changed[prev[changed] == "Va"]
        assert len(src) == 1 and len(dst) == 1  # Li → empty site, never onto Li or TM
        src, dst = src[0], dst[0]
        assert now[src] == "Va" and now[dst] == "Li"
        hop = minimum_image(lat, pos[dst] - pos[src])
        assert abs(np.linalg.norm(hop) - a_nn) < 1e-9
        # The displacement travels with the Li and grows by the hop vector.
        disp = sim.displacements_A()
        np.testing.assert_allclose(disp[dst], prev_disp[src] + hop, atol=1e-9)
        assert np.all(disp[src] == 0)


@FEWER
@given(simulations(), st.integers(1, 2000), st.integers(1, 2000))
def test_checkpoint_resumes_bit_identically(args, first, second):
    sim = _make(args)
    sim.advance(hops=first)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.ckpt"
        sim.save_checkpoint(path)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["run.ckpt"]
        resumed = drxkmc.Simulation.load_checkpoint(path)
    assert resumed.time_s == sim.time_s and resumed.hops == sim.hops
    assert np.array_equal(resumed.li_occupancy(), sim.li_occupancy())
    assert np.array_equal(resumed.displacements_A(), sim.displacements_A())
    assert resumed.temperature_K == sim.temperature_K
    assert resumed.model == sim.model
    sim.advance(hops=second)
    resumed.advance(hops=second)
    assert resumed.time_s == sim.time_s
    assert np.array_equal(resumed.li_occupancy(), sim.li_occupancy())
    assert np.array_equal(resumed.displacements_A(), sim.displacements_A())
    a = sim.run(hops=second, blocks=2, samples_per_block=2, progress=False)
    b = resumed.run(hops=second, blocks=2, samples_per_block=2, progress=False)
    assert a.diffusivity.equals(b.diffusivity) and a.msd.equals(b.msd)


@FEWER
@given(simulations())
def test_events_are_li_to_vacancy_and_sum_to_total_rate(args):
    sim = _make(args)
    sim.advance(hops=100)
    ev = sim.events()
    assert_total_rate_bounds(sim.total_rate_per_s, ev["rate_per_s"].sum())
    li = sim.li_occupancy()
    assert ev["from_site"].is_in(np.flatnonzero(li).tolist()).all()
    assert not ev["to_site"].is_in(np.flatnonzero(li).tolist()).any()
    symbols = sim.configuration().cation_symbols()
    assert set(symbols[ev["to_site"].to_numpy()]) <= {"Va"}
    assert (ev["rate_per_s"] > 0).all() and ev["barrier_eV"].is_finite().all()
    # Each Li–vacancy pair appears with at most its two tetrahedra.
    assert ev.group_by(["from_site", "to_site"]).len()["len"].max() <= 2
    assert ev.select(pl.col("channel").is_in([0, 1, 2]).all()).item()
