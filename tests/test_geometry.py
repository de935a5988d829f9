"""Rocksalt geometry and the o-t-o hop (docs/design.md#lattice and the section after it) and
random configurations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from conftest import assert_total_rate_bounds, minimum_image, path_rate, quarter_coords

import drxkmc
from drxkmc import _core

SIZES = [(2, 2, 2), (2, 3, 4), (3, 3, 3), (4, 2, 3)]


@pytest.mark.parametrize("size", SIZES)
def test_site_counts(size):
    # An L1×L2×L3 supercell of the conventional rocksalt cell: 4 cations, 4 anions and
    # 8 tetrahedral interstices per cell.
    lat = drxkmc.Lattice(size, a=4.15)
    cells = size[0] * size[1] * size[2]
    assert lat.size == size
    assert lat.n_cations == 4 * cells
    assert lat.n_anions == 4 * cells
    assert lat.n_tetrahedra == 8 * cells
    assert lat.cation_positions().shape == (4 * cells, 3)
    assert lat.anion_positions().shape == (4 * cells, 3)


@pytest.mark.parametrize("size", SIZES)
def test_sites_are_distinct_and_on_the_rocksalt_sublattices(size):
    lat = drxkmc.Lattice(size, a=4.0)
    cat = quarter_coords(lat, lat.cation_positions())
    an = quarter_coords(lat, lat.anion_positions())
    # Cations: FCC = points of the a/2 grid with even coordinate sum; anions: odd sum
    # (cation + (½,0,0)a). In a/4 units both are multiples of 2.
    assert np.all(cat % 2 == 0) and np.all(an % 2 == 0)
    assert np.all((cat // 2).sum(axis=1) % 2 == 0)
    assert np.all((an // 2).sum(axis=1) % 2 == 1)
    all_sites = {tuple(p) for p in cat} | {tuple(p) for p in an}
    assert len(all_sites) == 2 * lat.n_cations  # no duplicates, and the two sets are disjoint


@pytest.mark.parametrize("size", [(2, 2, 2), (2, 3, 4), (3, 3, 3)])
def test_every_cation_has_twelve_nearest_neighbours_at_a_over_sqrt2(size):
    lat = drxkmc.Lattice(size, a=4.15)
    pos = lat.cation_positions()
    diff = minimum_image(lat, pos[:, None, :] - pos[None, :, :])
    dist = np.linalg.norm(diff, axis=-1)
    a_nn = lat.a / math.sqrt(2)
    np.fill_diagonal(dist, np.inf)
    # FCC: the nearest cation–cation distance is a/√2, with coordination number 12.
    assert dist.min() == pytest.approx(a_nn, rel=1e-12)
    assert np.all(np.sum(np.isclose(dist, a_nn, rtol=1e-9), axis=1) == 12)
    assert lat.nn_distance_A == pytest.approx(a_nn, rel=1e-14)


def _tetrahedra(lat: drxkmc.Lattice):
    """Tetrahedral sites (a/4 units, wrapped) at cation + (±¼,±¼,±¼)a and, for each, the
    indices of its four cation vertices (the cations at distance √3·a/4)."""
    cat = quarter_coords(lat, lat.cation_positions())
    n = 4 * np.asarray(lat.size)
    index = {tuple(p): i for i, p in enumerate(cat)}
    corners = np.array(list(itertools.product((-1, 1), repeat=3)))
    tets = {tuple(t) for p in cat for t in (p + corners) % n}
    vertices = {}
    for t in tets:
        around = [tuple(v) for v in (np.array(t) + corners) % n]
        vertices[t] = sorted(index[v] for v in around if v in index)
    return cat, index, vertices


@pytest.mark.parametrize("size", [(2, 2, 2), (2, 3, 4)])
def test_tetrahedra_count_and_each_nn_pair_shares_exactly_two(size):
    lat = drxkmc.Lattice(size, a=4.15)
    cat, index, vertices = _tetrahedra(lat)
    assert len(vertices) == lat.n_tetrahedra
    # Each tetrahedral site is face-sharing with exactly 4 cation octahedra.
    assert all(len(v) == 4 for v in vertices.values())
    shared: dict[tuple[int, int], int] = {}
    for v in vertices.values():
        for i, j in itertools.combinations(v, 2):
            shared[(i, j)] = shared.get((i, j), 0) + 1
    # Every unordered NN pair (12·N/2 of them) shares exactly two tetrahedra, and every pair of
    # vertices of a tetrahedron is a NN pair.
    assert len(shared) == lat.n_cations * 12 // 2
    assert set(shared.values()) == {2}
    pos = lat.cation_positions()
    for i, j in shared:
        d = np.linalg.norm(minimum_image(lat, pos[i] - pos[j]))
        assert d == pytest.approx(lat.a / math.sqrt(2), rel=1e-12)


def test_engine_paths_are_the_two_shared_tetrahedra_of_each_pair():
    # The core's 24 paths (direction d in a/2 units, tetrahedron centre in a/4 units) must be,
    # for each of the 12 directions, exactly the two tetrahedra shared by A and A + d.
    lat = drxkmc.Lattice((3, 3, 3), a=4.15)
    cat, index, vertices = _tetrahedra(lat)
    n = 4 * np.asarray(lat.size)
    dirs = _core.nn_directions()
    centres = _core.path_centres()
    assert dirs.shape == (12, 3) and centres.shape == (24, 3)
    assert len({tuple(d) for d in dirs}) == 12
    assert np.all(np.sum(dirs**2, axis=1) == 2)  # |d| = a/√2 in (a/2)² units
    for a_site in (0, 17, 50):
        a = cat[a_site]
        for k, d in enumerate(dirs):
            b = index[tuple((a + 2 * d) % n)]
            expected = {t for t, v in vertices.items() if a_site in v and b in v}
            got = {tuple((a + centres[2 * k + side]) % n) for side in (0, 1)}
            assert got == expected


def test_ideal_tetrahedron_height_is_a_over_sqrt3():
    lat = drxkmc.Lattice(3, a=4.15)
    cat, _, vertices = _tetrahedra(lat)
    # Height of the regular tetrahedron of edge a/√2: edge·√(2/3) = a/√3.
    expected = lat.a / math.sqrt(3)
    assert lat.ideal_tetrahedron_height_A == pytest.approx(expected, rel=1e-14)
    # And from real vertex positions: distance of one vertex from the plane of the others.
    t, v = next(iter(vertices.items()))
    p = cat[v] * lat.a / 4
    p = p[0] + minimum_image(lat, p - p[0])
    normal = np.cross(p[2] - p[1], p[3] - p[1])
    height = abs(np.dot(p[0] - p[1], normal)) / np.linalg.norm(normal)
    assert height == pytest.approx(expected, rel=1e-12)
    # Default a = 4.15 Å gives the ≈2.40 Å reference height
    # (docs/design.md#barriers-kra-and-detailed-balance).
    default = drxkmc.Lattice(2)
    assert default.ideal_tetrahedron_height_A == pytest.approx(default.a / math.sqrt(3))
    assert abs(default.ideal_tetrahedron_height_A - 2.40) < 0.01


def _single_li_sim(lat, site=0, barrier=0.3, temperature=300.0, tm_sites=(), anions=None):
    cations = np.full(lat.n_cations, "Va")
    cations[site] = "Li"
    for s in tm_sites:
        cations[s] = "Mn"
    cfg = drxkmc.Configuration.from_species(lat, cations, anions)
    model = drxkmc.BarrierModel.uniform(barrier)
    return drxkmc.Simulation(
        cfg, model, temperature_K=temperature, seed=0, equilibrate=False
    ), model


def test_single_li_in_empty_lattice_has_24_paths():
    lat = drxkmc.Lattice(3, a=4.15)
    start = 13
    sim, model = _single_li_sim(lat, site=start, barrier=0.3, temperature=300.0)
    ev = sim.events()
    assert ev.height == 24  # 12 neighbours × 2 tetrahedra
    assert set(ev["from_site"].to_list()) == {start}
    counts = ev.group_by("to_site").len()
    assert counts.height == 12 and set(counts["len"].to_list()) == {2}
    pos = lat.cation_positions()
    d = np.linalg.norm(minimum_image(lat, pos[ev["to_site"].to_numpy()] - pos[start]), axis=1)
    np.testing.assert_allclose(d, lat.a / math.sqrt(2), rtol=1e-12)
    assert sorted(ev["path"].to_list()) == list(range(24))
    # Uniform model, no site energies: every path has barrier E and rate Γ_t = ν·exp(−E/kT).
    gamma_t = path_rate(model, 0.3, 300.0)
    np.testing.assert_allclose(ev["barrier_eV"].to_numpy(), 0.3, rtol=1e-12)
    np.testing.assert_allclose(ev["rate_per_s"].to_numpy(), gamma_t, rtol=1e-12)
    assert set(ev["channel"].to_list()) == {0}
    assert_total_rate_bounds(sim.total_rate_per_s, 24 * gamma_t)


def test_channel_counts_transition_metals_on_the_two_spectators():
    # Example of docs/design.md#the-o-t-o-hop-and-its-channel: A = (0,0,0), B = (½,½,0)a;
    # the tetrahedra at (¼,¼,±¼)a have spectators (½,0,±½)a and (0,½,±½)a. A TM on (½,0,½)a
    # makes the upper path 1-TM, a second TM on (0,½,½)a makes it 2-TM; the lower path stays
    # 0-TM.
    lat = drxkmc.Lattice(3, a=4.0)
    q = quarter_coords(lat, lat.cation_positions())
    index = {tuple(p): i for i, p in enumerate(q)}
    a_site, b_site = index[(0, 0, 0)], index[(2, 2, 0)]
    c1, c2 = index[(2, 0, 2)], index[(0, 2, 2)]
    centres = _core.path_centres()
    for tms, upper_channel in (((), 0), ((c1,), 1), ((c1, c2), 2)):
        sim, _ = _single_li_sim(lat, site=a_site, tm_sites=tms)
        ev = sim.events().filter(pl.col("to_site") == b_site)
        assert ev.height == 2
        by_centre = {tuple(centres[p]): ch for p, ch in zip(ev["path"], ev["channel"])}
        assert by_centre == {(1, 1, 1): upper_channel, (1, 1, -1): 0}


def test_hop_into_a_transition_metal_site_is_not_an_event():
    # A Li hops only into an empty octahedral site: a TM on a neighbour removes that target.
    lat = drxkmc.Lattice(3, a=4.0)
    q = quarter_coords(lat, lat.cation_positions())
    index = {tuple(p): i for i, p in enumerate(q)}
    sim, _ = _single_li_sim(lat, site=index[(0, 0, 0)], tm_sites=(index[(2, 2, 0)],))
    ev = sim.events()
    assert ev.height == 22
    assert index[(2, 2, 0)] not in set(ev["to_site"].to_list())


# ----- random configurations -------------------------------------------------------------


def test_random_configuration_has_exact_formula_counts(lmt):
    lat = drxkmc.Lattice(10)
    cfg = drxkmc.Configuration.random(lmt, lat, seed=3)
    # Li1.2Mn0.4Ti0.4O2: 2 anions = 2 cation sites per formula unit, so 4000 cation sites
    # hold 2000 formula units: Li 2400, Mn 800, Ti 800, no vacancy; 4000 O.
    fu = lat.n_cations / lmt.cation_sites
    assert fu == 2000
    counts = {
        (r["sublattice"], r["species"]): r["count"] for r in cfg.counts().iter_rows(named=True)
    }
    assert counts == {
        ("cation", "Li"): round(1.2 * fu),
        ("cation", "Mn"): round(0.4 * fu),
        ("cation", "Ti"): round(0.4 * fu),
        ("anion", "O"): round(2 * fu),
    }
    assert cfg.n_li == round(1.2 * fu)


def test_random_oxyfluoride_counts_and_partial_delithiation():
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    lat = drxkmc.Lattice(5)  # 500 cation sites = 250 formula units
    cfg = drxkmc.Configuration.random(mat, lat, li_content=0.6, seed=1)
    cat = cfg.cation_symbols()
    an = cfg.anion_symbols()
    fu = 250
    assert np.sum(cat == "Li") == round(0.6 * fu)
    assert np.sum(cat == "Va") == round((1.2 - 0.6) * fu)
    assert np.sum(cat == "Mn") == round(0.4 * fu) and np.sum(cat == "Ti") == round(0.4 * fu)
    assert np.sum(an == "F") == round(0.4 * fu) and np.sum(an == "O") == round(1.6 * fu)


def test_random_configurations_differ_by_seed_and_repeat_with_seed(lmt):
    lat = drxkmc.Lattice(4)
    a = drxkmc.Configuration.random(lmt, lat, seed=5).cation_symbols()
    b = drxkmc.Configuration.random(lmt, lat, seed=5).cation_symbols()
    c = drxkmc.Configuration.random(lmt, lat, seed=6).cation_symbols()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_li_pair_channel_statistics_of_random_disorder(lmt):
    lat = drxkmc.Lattice(10)
    n_sites = lat.n_cations
    fractions = []
    for seed in range(20):
        cfg = drxkmc.Configuration.random(lmt, lat, seed=seed)
        c = cfg.li_pair_channel_counts()
        v = np.array([c["0-TM"], c["1-TM"], c["2-TM"]], dtype=float)
        fractions.append(v / v.sum())
    fractions = np.array(fractions)
    n_tm = round(0.8 * n_sites / 2)
    # Cations are placed by a random permutation. Given that A and B hold Li, the two
    # spectators are drawn without replacement from the other N−2 sites, n_TM of which are TM
    # (hypergeometric): P(2) = n(n−1)/((N−2)(N−3)), P(1) = 2n(N−2−n)/((N−2)(N−3)),
    # P(0) = (N−2−n)(N−3−n)/((N−2)(N−3)) ≈ (1−p)², 2p(1−p), p² with p = n/(N−2).
    m = n_sites - 2
    expected = np.array([(m - n_tm) * (m - 1 - n_tm), 2 * n_tm * (m - n_tm), n_tm * (n_tm - 1)]) / (
        m * (m - 1)
    )
    mean = fractions.mean(axis=0)
    sem = fractions.std(axis=0, ddof=1) / np.sqrt(len(fractions))
    assert np.all(sem > 0) and np.all(sem < 0.01)
    # 4σ with σ from the spread over 20 independent configurations.
    assert np.all(np.abs(mean - expected) < 4 * sem), (mean, expected, sem)


def test_li_pair_channel_counts_by_hand_on_small_config(lmt):
    # Direct count from positions: for every Li–Li NN pair, its two shared tetrahedra and the
    # number of TM among the other two vertices of each.
    lat = drxkmc.Lattice((2, 3, 2))
    cfg = drxkmc.Configuration.random(lmt, lat, li_content=1.0, seed=11)
    sym = cfg.cation_symbols()
    _, _, vertices = _tetrahedra(lat)
    counts = [0, 0, 0]
    for v in vertices.values():
        for i, j in itertools.combinations(v, 2):
            if sym[i] == "Li" and sym[j] == "Li":
                spect = [k for k in v if k not in (i, j)]
                counts[sum(sym[k] not in ("Li", "Va") for k in spect)] += 1
    got = cfg.li_pair_channel_counts()
    assert [got["0-TM"], got["1-TM"], got["2-TM"]] == counts
    assert sum(counts) > 0
