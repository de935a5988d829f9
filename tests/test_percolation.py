"""Percolation of the k-TM / barrier network, accessible Li and capacities
(docs/design.md#percolation-and-accessible-capacity).

Reference values come from the literature or from hand arithmetic, never from the code:
FCC site percolation p_c = 0.19923617 (Lorenz & Ziff, J. Phys. A 31, 8147 (1998)); 0-TM
percolation of random Li_x TM_(2-x) O2 at x ≈ 1.09 (Lee et al., Science 343, 519 (2014);
Urban, Lee, Ceder, Adv. Energy Mater. 4, 1400478 (2014)); IUPAC 2021 atomic weights and the
exact Faraday constant.
"""

from __future__ import annotations

import math
from collections import deque
from functools import partial

import numpy as np
import polars as pl
import pytest
from conftest import raises_field
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import _core
from drxkmc.percolation import plot_cluster_slice, plot_percolation_curve

FCC_SITE_PC = 0.19923617  # Lorenz & Ziff 1998
FARADAY = 96485.33212  # C/mol, exact (2019 SI)
# IUPAC 2021 standard atomic weights (conventional values for Li, O, Cl), typed by hand.
W = {"Li": 6.94, "Mn": 54.938043, "Ti": 47.867, "O": 15.999, "F": 18.998403162, "Cl": 35.45}


# ----- helpers -------------------------------------------------------------------------------


def open_fraction_config(size: int, p_open: float, seed: int, geometry="bulk"):
    """Plain site-percolation configuration: a fraction p_open of the cation sites are Li,
    the rest TM (no vacancies, all O)."""
    lat = drxkmc.Lattice(size, geometry=geometry)
    n = lat.n_cations
    n_open = int(round(p_open * n))
    inner = _core.Configuration.random(lat._l, n_open, [n - n_open], ["Ti"], 0, 0, seed)
    return drxkmc.Configuration(inner)


def grid_coords(lattice: drxkmc.Lattice) -> np.ndarray:
    """Integer grid coordinates (units of a/2) of the cation sites, in cation-index order."""
    return np.rint(lattice.cation_positions() / (lattice.a / 2)).astype(int)


def from_grid(size, sites: dict, geometry="bulk", fill="Mn", anions=None, material=None):
    """A configuration with ``fill`` on every cation site except ``sites`` {(x,y,z): symbol}."""
    lat = drxkmc.Lattice(size, geometry=geometry)
    coords = grid_coords(lat)
    index = {tuple(c): i for i, c in enumerate(coords)}
    cat = np.full(lat.n_cations, fill, dtype=object)
    for p, sym in sites.items():
        cat[index[tuple(p)]] = sym
    return drxkmc.Configuration.from_species(
        lat, cat.astype(str), anions=anions, material=material
    ), index


def chain(dims, start, d, length):
    return [tuple((start[k] + t * d[k]) % dims[k] for k in range(3)) for t in range(length)]


def reference_clusters(config: drxkmc.Configuration, max_tm: int):
    """Independent reference: BFS over the network with unwrapped coordinates.

    Returns sorted (size, n_li, wrap bits, surface bits) per cluster. Geometry written out
    from docs/design.md#the-o-t-o-hop-and-its-channel, not from the core: the hop
    A -> B = A + d (d a NN vector) has two tetrahedra, one on each side e = ±1 of the A-B edge
    along the axis k where d is zero; its spectators are A + d_i e_i + e e_k and
    A + d_j e_j + e e_k.
    """
    lat = config.lattice
    dims = np.array([2 * s for s in lat.size])
    slab = lat.geometry == "slab"
    coords = grid_coords(lat)
    sym = config.cation_symbols()
    tm = ~np.isin(sym, ["Li", "Va"])
    index = {tuple(c): i for i, c in enumerate(coords)}
    nn = [
        np.array(v)
        for v in [(a, b, 0) for a in (1, -1) for b in (1, -1)]
        + [(a, 0, b) for a in (1, -1) for b in (1, -1)]
        + [(0, a, b) for a in (1, -1) for b in (1, -1)]
    ]

    def site(p):
        return index[tuple(np.mod(p, dims))]

    def inside(z):
        return 0 <= z < dims[2]

    def open_bond(a, d):
        b = a + d
        if slab and not inside(b[2]):
            return False
        if tm[site(b)]:
            return False
        k = int(np.flatnonzero(d == 0)[0])
        i, j = [m for m in range(3) if m != k]
        for e in (1, -1):
            c1 = a.copy()
            c1[i] += d[i]
            c1[k] += e
            c2 = a.copy()
            c2[j] += d[j]
            c2[k] += e
            if slab and not (inside(c1[2]) and inside(c2[2])):
                continue
            if int(tm[site(c1)]) + int(tm[site(c2)]) <= max_tm:
                return True
        return False

    seen = {}
    out = []
    for s0 in range(lat.n_cations):
        if tm[s0] or s0 in seen:
            continue
        seen[s0] = coords[s0].copy()
        queue = deque([s0])
        size = n_li = wraps = surf = 0
        while queue:
            s = queue.popleft()
            size += 1
            n_li += sym[s] == "Li"
            if slab:
                surf |= (coords[s][2] == 0) * 1 | (coords[s][2] == dims[2] - 1) * 2
            u = seen[s]
            for d in nn:
                if not open_bond(coords[s], d):
                    continue
                ub = u + d
                t = site(coords[s] + d)
                if t not in seen:
                    seen[t] = ub
                    queue.append(t)
                else:
                    for ax in range(3):
                        if seen[t][ax] != ub[ax]:
                            wraps |= 1 << ax
        out.append((size, n_li, wraps, surf))
    return sorted(out)


def clusters_of(result):
    c = result.clusters
    wraps = (
        c["wraps_x"].cast(int) + 2 * c["wraps_y"].cast(int) + 4 * c["wraps_z"].cast(int)
    ).to_list()
    surf = (c["touches_bottom"].cast(int) + 2 * c["touches_top"].cast(int)).to_list()
    return sorted(zip(c["n_sites"].to_list(), c["n_li"].to_list(), wraps, surf))


# ----- FCC site percolation ------------------------------------------------------------------


def wrapping_probability(size, p, seeds):
    hits = 0
    for s in range(seeds):
        r = drxkmc.percolation(open_fraction_config(size, p, seed=1000 * s + 7), max_tm=2)
        hits += r.percolates
    return hits / seeds


def test_fcc_site_percolation_threshold():
    """k = 2 joins every NN pair of non-TM sites: plain FCC site percolation.

    L = 16 cells is 16384 sites, ≈25 sites per side. The crossing p_1/2(L) of the wrapping
    probability deviates from p_c by at most the order of the critical window,
    ~ L_side^(-1/ν) = 25^(-1/0.876) ≈ 0.025 (ν = 0.876, 3D percolation); we allow half of it,
    ±0.0125. The statistical error of p_1/2 with 80 seeds per point (σ_R ≈ 0.056 at R = 1/2,
    slope dR/dp ≈ 50) is ≈ 0.001. A wrong neighbour set (simple cubic p_c = 0.3116, bcc
    0.2460) or a one-tetrahedron rule would move the crossing far outside the window.
    """
    size, seeds = 16, 80
    assert wrapping_probability(size, 0.15, 40) <= 0.05
    assert wrapping_probability(size, 0.25, 40) >= 0.95
    ps = np.array([0.185, 0.19, 0.195, 0.2, 0.205, 0.21, 0.215])
    rs = np.array([wrapping_probability(size, p, seeds) for p in ps])
    assert rs[0] < 0.5 < rs[-1]
    # First crossing of 1/2, by linear interpolation.
    i = int(np.flatnonzero(rs >= 0.5)[0])
    p_half = ps[i - 1] + (0.5 - rs[i - 1]) * (ps[i] - ps[i - 1]) / (rs[i] - rs[i - 1])
    assert abs(p_half - FCC_SITE_PC) < 0.0125, (p_half, rs)


# ----- random DRX: the 0-TM and 1-TM thresholds ----------------------------------------------


def test_random_drx_zero_tm_threshold_and_one_tm_channels():
    lat = drxkmc.Lattice(10)
    seeds = range(3)
    below = drxkmc.percolation_sweep("Li0.95Mn1.05O2", lat, seeds=seeds)
    above = drxkmc.percolation_sweep("Li1.9Mn0.1O0.2F1.8", lat, seeds=seeds)
    # Far below x ≈ 1.09 essentially no Li is on a percolating 0-TM network...
    assert below["accessible_li_fraction_mean"][0] < 0.02
    assert below["percolation_probability"][0] == 0.0
    # ...near x = 2 essentially all Li is.
    assert above["accessible_li_fraction_mean"][0] > 0.98
    assert above["percolation_probability"][0] == 1.0
    # 1-TM channels move the threshold far lower: x = 0.9 percolates with k = 1.
    k1 = drxkmc.percolation_sweep("Li0.9Mn1.1O2", lat, max_tm=1, seeds=seeds)
    assert k1["percolation_probability"][0] == 1.0
    assert k1["accessible_li_fraction_mean"][0] > 0.8


def test_sweep_curve_rises_through_the_threshold():
    formulas = ["Li0.95Mn1.05O2", "Li1.1Mn0.9O2", "Li1.3Mn0.7O2", "Li1.6Mn0.4O0.8F1.2"]
    df = drxkmc.percolation_sweep(formulas, drxkmc.Lattice(8), seeds=range(3))
    assert df["formula"].to_list() == formulas
    assert df["li_per_fu"].to_list() == pytest.approx([0.95, 1.1, 1.3, 1.6])
    assert df["tm_per_site"].to_list() == pytest.approx([1.05 / 2, 0.9 / 2, 0.7 / 2, 0.4 / 2])
    assert (df["n_seeds"] == 3).all()
    frac = df["accessible_li_fraction_mean"].to_numpy()
    assert frac[0] < 0.05 and frac[-1] > 0.95
    assert np.all(np.diff(frac) > -0.05)
    # The aggregate is the mean and sample std of the per-seed rows.
    raw = drxkmc.percolation_sweep(formulas, drxkmc.Lattice(8), seeds=range(3), per_seed=True)
    assert raw.height == 12
    for f, mean, std in df.select(
        "formula", "accessible_li_fraction_mean", "accessible_li_fraction_std"
    ).iter_rows():
        v = raw.filter(pl.col("formula") == f)["accessible_li_fraction"].to_numpy()
        assert mean == pytest.approx(v.mean())
        assert std == pytest.approx(v.std(ddof=1))


def test_sweep_over_li_content_scales_per_fu_amounts():
    m = drxkmc.Material.from_formula("Li1.3Mn0.7O2")
    df = drxkmc.percolation_sweep(
        m, drxkmc.Lattice(10), li_contents=[1.3, 0.65], seeds=range(4), delithiation="random"
    )
    assert df["li_content"].to_list() == [1.3, 0.65]
    # Random Li removal keeps the accessible fraction but halves the accessible Li per f.u.
    f = df["accessible_li_fraction_mean"].to_numpy()
    per_fu = df["accessible_li_per_fu_mean"].to_numpy()
    assert abs(f[0] - f[1]) < 0.1
    assert per_fu[1] / per_fu[0] == pytest.approx(0.5 * f[1] / f[0], rel=0.02)


# ----- hand-built wrapping and surface cases -------------------------------------------------


def test_straight_chain_wraps_and_ring_does_not():
    size, dims = (3, 2, 2), (6, 4, 4)
    # Along (1,1,0) in a 6 x 4 cross-section: closes after lcm(6, 4) = 12 sites, winding
    # twice along x and three times along y.
    sites = chain(dims, (0, 0, 0), (1, 1, 0), 12)
    cfg, _ = from_grid(size, dict.fromkeys(sites, "Li"))
    r = drxkmc.percolation(cfg, max_tm=2)
    assert r.percolates and r.accessible_li_fraction == 1.0
    assert r.wraps == (True, True, False)
    assert r.clusters["n_sites"].to_list() == [12]
    # Every bond of the bare chain has two TM spectators: no 0-TM or 1-TM bond.
    for k in (0, 1):
        r = drxkmc.percolation(cfg, max_tm=k)
        assert r.n_bonds == 0 and not r.percolates and r.accessible_li_fraction == 0.0
    # In an 8^3 grid the chain closes after 8 sites; one short, it spans the box but does
    # not wrap (a size or extent test would call it percolating).
    sites = chain((8, 8, 8), (0, 0, 0), (1, 1, 0), 8)
    for n, wraps in ((8, True), (7, False)):
        cfg, _ = from_grid((4, 4, 4), dict.fromkeys(sites[:n], "Li"))
        r = drxkmc.percolation(cfg, max_tm=2)
        assert r.clusters["n_sites"].to_list() == [n]
        assert r.percolates == wraps and r.wraps == (wraps, wraps, False)
    # A closed ring (a cycle of winding zero) does not wrap.
    ring = [(2, 2, 0), (3, 3, 0), (4, 2, 0), (3, 1, 0)]
    cfg, _ = from_grid((4, 4, 4), dict.fromkeys(ring, "Li"))
    r = drxkmc.percolation(cfg, max_tm=2)
    assert r.n_bonds == 4 and r.n_clusters == 1 and not r.percolates


def test_slab_surface_access():
    size, dims = (3, 3, 3), (6, 6, 6)
    sites = chain(dims, (0, 0, 0), (1, 0, 1), 6)  # z = 0 … 5: bottom to top
    slab, _ = from_grid(size, dict.fromkeys(sites, "Li"), geometry="slab")
    r = drxkmc.percolation(slab, max_tm=2)
    assert r.criterion == "surface"
    assert r.accessible_li_fraction == 1.0
    assert r.clusters.select("touches_bottom", "touches_top").row(0) == (True, True)
    # No bond across the open z boundary: the same chain wraps x and z in bulk only.
    bulk, _ = from_grid(size, dict.fromkeys(sites, "Li"))
    assert drxkmc.percolation(bulk, max_tm=2).wraps == (True, False, True)
    assert drxkmc.percolation(slab, max_tm=2).wraps == (False, False, False)
    assert drxkmc.percolation(slab, max_tm=2, criterion="wrap").accessible_li_fraction == 0.0
    # Buried: without its end sites the chain reaches no surface.
    inner, _ = from_grid(size, dict.fromkeys(sites[1:5], "Li"), geometry="slab")
    r = drxkmc.percolation(inner, max_tm=2)
    assert r.accessible_li_fraction == 0.0 and not r.percolates
    # Li on a surface plane plus a buried vacancy-only cluster: fractions count correctly.
    mixed = {**dict.fromkeys(sites[:2], "Li"), **dict.fromkeys(sites[3:5], "Va")}
    cfg, _ = from_grid(size, mixed, geometry="slab")
    r = drxkmc.percolation(cfg, max_tm=2)
    assert (r.n_li, r.n_accessible_li) == (2, 2)
    assert r.accessible_site_fraction == 0.5


def test_accessible_mask_and_labels_are_consistent():
    cfg = open_fraction_config(6, 0.3, seed=3)
    r = drxkmc.percolation(cfg, max_tm=2)
    sym = cfg.cation_symbols()
    assert r.labels.dtype == np.int32 and r.labels.shape == (cfg.lattice.n_cations,)
    assert np.array_equal(r.labels < 0, ~np.isin(sym, ["Li", "Va"]))
    # Label 0 is the largest cluster; sizes and Li counts match the labels.
    sizes = np.bincount(r.labels[r.labels >= 0])
    assert sizes.tolist() == r.clusters["n_sites"].to_list()
    assert np.all(np.diff(sizes) <= 0)
    li = np.bincount(r.labels[sym == "Li"], minlength=len(sizes))
    assert li.tolist() == r.clusters["n_li"].to_list()
    mask = r.accessible_sites()
    assert mask.sum() == r.n_accessible_sites
    assert (mask & (sym == "Li")).sum() == r.n_accessible_li


# ----- barrier rule --------------------------------------------------------------------------


def test_barrier_rule_reproduces_channel_rules_and_sees_cl():
    model = drxkmc.BarrierModel()
    e0, e1, e2 = model.channel_barrier_eV  # at the reference height, all-O, a = 4.15 Å
    cfg = drxkmc.Configuration.random(
        drxkmc.Material.from_formula("Li1.1Mn0.9O2"), drxkmc.Lattice(6), seed=4
    )
    for k, cut in ((0, (e0 + e1) / 2), (1, (e1 + e2) / 2)):
        a = drxkmc.percolation(cfg, max_tm=k)
        b = drxkmc.percolation(cfg, barrier_cutoff_eV=cut)
        assert np.array_equal(a.labels, b.labels)
        assert a.accessible_li_fraction == b.accessible_li_fraction
    # Anion corners change the height h = a/√3 + Σ Δh and so E_KRA (floored at 0;
    # docs/design.md#barriers-kra-and-detailed-balance). With uniform anions every tetrahedron
    # of a given TM count has the same barrier, so the barrier network equals the k-TM network
    # with k the largest open TM count.
    lat = drxkmc.Lattice(6)
    cat = drxkmc.Configuration.random(
        drxkmc.Material.from_formula("Li1.0Mn1.0O2"), lat, seed=5
    ).cation_symbols()

    def e_kra(n_tm, anion):
        i = ("O", "F", "Cl").index(anion)
        h = lat.a / math.sqrt(3) + 4 * model.anion_height_shift_A[i]
        e = (
            model.channel_barrier_eV[n_tm]
            + model.height_slope_eV_per_A[n_tm] * (h - model.reference_height_A)
            + 4 * model.anion_corner_eV[i]
        )
        return max(e, 0.0)

    seen_k = set()
    for anion, cut in (("O", 0.4), ("F", 0.4), ("Cl", 0.4), ("Cl", 0.1), ("O", 0.1)):
        cfg = drxkmc.Configuration.from_species(lat, cat, anions=np.full(lat.n_anions, anion))
        r = drxkmc.percolation(cfg, barrier_cutoff_eV=cut)
        open_tm = [n for n in range(3) if e_kra(n, anion) < cut]
        if not open_tm:
            assert r.n_bonds == 0 and not r.percolates
            seen_k.add(None)
            continue
        k = max(open_tm)
        assert open_tm == list(range(k + 1))
        assert np.array_equal(r.labels, drxkmc.percolation(cfg, max_tm=k).labels)
        seen_k.add(k)
    # The cases exercise every outcome: Cl opens 1-TM and 2-TM channels that O keeps shut.
    assert seen_k == {None, 0, 1, 2}


def test_cutoff_rate_reports_the_slowest_open_hop():
    cfg = open_fraction_config(4, 0.5, seed=1)
    m = drxkmc.BarrierModel()
    r = drxkmc.percolation(cfg, barrier_cutoff_eV=0.4, temperature_K=300.0, model=m)
    kt = drxkmc.BOLTZMANN_EV_PER_K * 300.0
    assert r.cutoff_rate_per_s == pytest.approx(m.attempt_frequency_hz * math.exp(-0.4 / kt))
    assert r.summary["cutoff_rate_per_s"][0] == r.cutoff_rate_per_s
    assert r.rule.startswith("E_KRA <")


# ----- capacities ----------------------------------------------------------------------------


def mass(amounts: dict) -> float:
    return sum(n * W[el] for el, n in amounts.items())


CAPACITY_CASES = [
    # formula, amounts by hand, TM-redox electrons by hand
    # Li1.225Ti0.45Mn0.325O1.9Cl0.1: Mn from 1.225 + 1.8 + 0.325q = 3.9 -> 0.325(4-q) = 0.425
    (
        "Li1.225Ti0.45Mn0.325O1.9Cl0.1",
        {"Li": 1.225, "Ti": 0.45, "Mn": 0.325, "O": 1.9, "Cl": 0.1},
        0.425,
    ),
    # Li1.2Mn0.4Ti0.4O2: Mn3+ -> Mn4+, 0.4 e-
    ("Li1.2Mn0.4Ti0.4O2", {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, 0.4),
    # Li1.2Mn0.4Ti0.4O1.6F0.4: Mn2+ -> Mn4+, 0.8 e-
    (
        "Li1.2Mn0.4Ti0.4O1.6F0.4",
        {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 1.6, "F": 0.4},
        0.8,
    ),
]


@pytest.mark.parametrize("formula,amounts,tm_electrons", CAPACITY_CASES)
def test_capacities_match_hand_arithmetic(formula, amounts, tm_electrons):
    one_electron = FARADAY / (3.6 * mass(amounts))
    material = drxkmc.Material.from_formula(formula)
    cfg = drxkmc.Configuration.random(material, drxkmc.Lattice(6), seed=2)
    for k in (0, 2):
        r = drxkmc.percolation(cfg, max_tm=k)
        sites_per_fu = sum(v for el, v in amounts.items() if el in ("O", "F", "Cl"))
        n_fu = r.n_sites / sites_per_fu
        assert r.accessible_li_per_fu == pytest.approx(r.n_accessible_li / n_fu, rel=1e-12)
        assert r.capacity_mAh_g == pytest.approx(r.accessible_li_per_fu * one_electron, rel=1e-9)
        assert r.capacity_all_li_mAh_g == pytest.approx(amounts["Li"] * one_electron, rel=1e-9)
        assert r.capacity_tm_redox_mAh_g == pytest.approx(tm_electrons * one_electron, rel=1e-6)
    # With k = 2 in these Li-rich cells every Li is reachable: the percolation-limited
    # capacity is the all-Li capacity of the Li actually placed.
    r = drxkmc.percolation(cfg, max_tm=2)
    assert r.n_accessible_li == r.n_li == cfg.n_li
    placed_li_per_fu = cfg.n_li / (r.n_sites / material.cation_sites)
    assert r.capacity_mAh_g == pytest.approx(placed_li_per_fu * one_electron, rel=1e-9)


def test_without_material_per_fu_values_are_nan():
    r = drxkmc.percolation(open_fraction_config(4, 0.5, seed=1))
    assert math.isnan(r.accessible_li_per_fu) and math.isnan(r.capacity_mAh_g)
    assert r.summary["formula"][0] is None
    # Half Li, half Ti, no vacancies: LiTiO2 with Ti3+.
    m = drxkmc.Material.from_formula("Li1.0Ti1.0O2", {"Ti": 3})
    r = drxkmc.percolation(open_fraction_config(4, 0.5, seed=1), material=m)
    assert math.isfinite(r.capacity_mAh_g)


# ----- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"max_tm": 3}, "max_tm"),
        ({"max_tm": -1}, "max_tm"),
        ({"max_tm": True}, "max_tm"),
        ({"max_tm": 1.0}, "max_tm"),
        ({"barrier_cutoff_eV": float("nan")}, "barrier_cutoff_eV"),
        ({"barrier_cutoff_eV": -0.2}, "barrier_cutoff_eV"),
        ({"barrier_cutoff_eV": 0.0}, "barrier_cutoff_eV"),
        ({"barrier_cutoff_eV": float("inf")}, "barrier_cutoff_eV"),
        ({"barrier_cutoff_eV": "0.3"}, "barrier_cutoff_eV"),
        ({"barrier_cutoff_eV": 0.3, "max_tm": 1}, "max_tm"),
        ({"model": drxkmc.BarrierModel()}, "model"),
        ({"barrier_cutoff_eV": 0.3, "model": {"site_f_eV": 0.0}}, "model"),
        ({"temperature_K": 300.0}, "temperature_K"),
        ({"barrier_cutoff_eV": 0.3, "temperature_K": -5.0}, "temperature_K"),
        ({"barrier_cutoff_eV": 0.3, "temperature_K": float("nan")}, "temperature_K"),
        ({"criterion": "surface"}, "criterion"),  # a bulk cell has no surfaces
        ({"criterion": "percolates"}, "criterion"),
        ({"material": "Li1.2Mn0.4Ti0.4O2"}, "material"),
    ],
)
def test_bad_input_names_the_field_before_work(monkeypatch, kwargs, field):
    cfg = open_fraction_config(3, 0.5, seed=0)

    def must_not_run(*args, **kw):
        raise AssertionError("analysis started despite bad input")

    monkeypatch.setattr(_core, "percolation_analysis", must_not_run)
    raises_field(lambda: drxkmc.percolation(cfg, **kwargs), field)


def test_core_checks_its_own_input():
    cfg = open_fraction_config(3, 0.5, seed=0)._c
    for args, kw, field in [
        ((cfg, 3), {}, "max_tm"),
        ((cfg, -1), {}, "max_tm"),
        ((cfg,), {"barrier_cutoff_ev": float("nan")}, "barrier_cutoff_eV"),
        ((cfg,), {"barrier_cutoff_ev": -1.0}, "barrier_cutoff_eV"),
        ((cfg,), {"criterion": "surface"}, "criterion"),
        ((cfg,), {"criterion": "nope"}, "criterion"),
        ((cfg,), {"model": {"site_f_ev": 0.0}}, "model"),
        (
            (cfg,),
            {"barrier_cutoff_ev": 0.3, "model": {"channel_barrier_ev": [0.1, -1, 1]}},
            "channel_barrier_ev",
        ),
    ]:
        raises_field(partial(_core.percolation_analysis, *args, **kw), field)


def test_slab_allows_surface_and_in_plane_wrap():
    cfg = open_fraction_config(3, 0.5, seed=0, geometry="slab")
    assert drxkmc.percolation(cfg, criterion="surface").criterion == "surface"
    assert drxkmc.percolation(cfg, criterion="wrap").criterion == "wrap"
    assert drxkmc.percolation(cfg).criterion == "surface"


def test_sweep_bad_input_is_caught_before_any_configuration(monkeypatch):
    lat = drxkmc.Lattice(4)

    def must_not_run(*args, **kw):
        raise AssertionError("configuration built despite bad input")

    monkeypatch.setattr(drxkmc.Configuration, "random", must_not_run)
    cases = [
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "max_tm": 5}, "max_tm"),
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "seeds": []}, "seeds"),
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "seeds": [-1]}, "seeds"),
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "li_contents": [2.5]}, "li_contents"),
        ({"material": [], "lattice": lat}, "material"),
        ({"material": [3.0], "lattice": lat}, "material"),
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": "big"}, "lattice"),
        (
            {"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "barrier_cutoff_eV": -1.0},
            "barrier_cutoff_eV",
        ),
        ({"material": "Li1.2Mn0.4Ti0.4O2", "lattice": lat, "criterion": "surface"}, "criterion"),
    ]
    for kw, field in cases:
        material = kw.pop("material")
        lattice = kw.pop("lattice")
        raises_field(partial(drxkmc.percolation_sweep, material, lattice, **kw), field)
    with pytest.raises(drxkmc.CompositionError):
        drxkmc.percolation_sweep("Li1.2Xx0.8O2", lat)


# ----- properties ----------------------------------------------------------------------------

config_params = st.tuples(
    st.tuples(*[st.integers(2, 4)] * 3),  # size
    st.floats(0.05, 0.6),  # TM fraction
    st.floats(0.0, 1.0),  # Li fraction of the non-TM sites
    st.integers(0, 2**32),  # seed
    st.sampled_from(["bulk", "slab"]),
)


def make_config(params):
    size, tm_frac, li_frac, seed, geometry = params
    lat = drxkmc.Lattice(size, geometry=geometry)
    n = lat.n_cations
    n_tm = int(round(tm_frac * n))
    n_li = int(round(li_frac * (n - n_tm)))
    inner = _core.Configuration.random(lat._l, n_li, [n_tm], ["Mn"], 0, 0, seed)
    return drxkmc.Configuration(inner)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_params, st.integers(0, 2))
def test_matches_independent_reference(params, k):
    cfg = make_config(params)
    assert clusters_of(drxkmc.percolation(cfg, max_tm=k)) == reference_clusters(cfg, k)


@settings(max_examples=30, deadline=None)
@given(config_params, st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 7)))
def test_invariant_under_lattice_translation(params, shift):
    """Translating a bulk configuration by a lattice vector changes no cluster (the box
    faces, where periodic wrapping is handled, move through the clusters)."""
    params = (*params[:4], "bulk")
    cfg = make_config(params)
    lat = cfg.lattice
    dims = np.array([2 * s for s in lat.size])
    shift = np.array(shift)
    shift[2] += shift.sum() % 2  # keep cations on cations
    coords = grid_coords(lat)
    index = {tuple(c): i for i, c in enumerate(coords)}
    perm = np.array([index[tuple(np.mod(c + shift, dims))] for c in coords])
    cat = np.empty(lat.n_cations, dtype=object)
    cat[perm] = cfg.cation_symbols()
    moved = drxkmc.Configuration.from_species(lat, cat.astype(str))
    for k in (0, 1):
        a, b = drxkmc.percolation(cfg, max_tm=k), drxkmc.percolation(moved, max_tm=k)
        assert clusters_of(a) == clusters_of(b)
        assert (a.n_accessible_li, a.n_bonds) == (b.n_accessible_li, b.n_bonds)


@settings(max_examples=30, deadline=None)
@given(config_params)
def test_more_open_channels_never_reduce_access(params):
    cfg = make_config(params)
    acc = [drxkmc.percolation(cfg, max_tm=k).n_accessible_sites for k in (0, 1, 2)]
    assert acc[0] <= acc[1] <= acc[2]
    cuts = [0.3, 0.5, 0.8, 1.5]
    acc = [drxkmc.percolation(cfg, barrier_cutoff_eV=c).n_accessible_sites for c in cuts]
    assert acc == sorted(acc)
    r = drxkmc.percolation(cfg, max_tm=1)
    for v in (r.accessible_li_fraction, r.accessible_site_fraction):
        assert math.isnan(v) or 0.0 <= v <= 1.0


# ----- plots ---------------------------------------------------------------------------------


def test_plots_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = drxkmc.percolation_sweep(["Li1.0Mn1.0O2", "Li1.3Mn0.7O2"], drxkmc.Lattice(4), seeds=[0, 1])
    ax = plot_percolation_curve(df, label="0-TM")
    (line,) = [c for c in ax.containers]  # one errorbar container
    assert np.allclose(line.lines[0].get_xdata(), [1.0, 1.3])
    cfg = drxkmc.Configuration.random(
        drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2"), drxkmc.Lattice((3, 4, 2)), seed=0
    )
    r = drxkmc.percolation(cfg)
    ax = r.plot_slice(z=1)
    img = ax.images[0].get_array()
    assert img.shape == (8, 6, 4)  # (y, x, RGBA) grid points of one plane
    coords = grid_coords(cfg.lattice)
    plane = coords[:, 2] == 1
    tm = plane & (r.labels < 0)
    x, y = coords[tm, 0], coords[tm, 1]
    assert np.allclose(img[y, x, :3], 0.25)  # TM drawn dark grey
    anion = (np.arange(6)[None, :] + np.arange(8)[:, None] + 1) % 2 == 1
    assert np.all(img[anion] == 1.0)  # anion positions blank
    ax.figure.savefig(tmp_path / "slice.png")
    with pytest.raises(drxkmc.InvalidParameterError):
        plot_cluster_slice(r, z=4)
    plt.close("all")
