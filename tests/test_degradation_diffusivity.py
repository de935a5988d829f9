"""Diffusivities of a cycled slab (``Cycling.diffusivity``, ``run(diffusivity=...)``).

Held to exact results: a probe is the Li kMC run by hand on the slab with its lost sites
blocked (bit for bit), it sees the run's own Li network, and it never changes the run. The
constructed case of a plane of lost sites cutting the Li network is tested in the core
(``rust/drxkmc-core/src/degradation/probe.rs``), where lost sites can be placed by hand."""

from __future__ import annotations

import _thread
import math
import pickle
import threading
import warnings

import numpy as np
import polars as pl
import pytest
from conftest import raises_field
from hypothesis import given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import Cycling, DegradationModel, DiffusivityProbe

LMTO = "Li1.2Mn0.4Ti0.4O2"
#: Hot enough for a fixed-length probe to be diffusive on these small slabs in a fraction of
#: a second; the probe's physics does not depend on it.
HOT_K = 600.0
HOPS = 100_000
PROBE_COLUMNS = [
    "diffusivity_li_per_fu",
    "diffusivity_temperature_K",
    "D_tracer_cm2_s",
    "D_tracer_err_cm2_s",
    "D_jump_cm2_s",
    "D_jump_err_cm2_s",
    "D_chem_cm2_s",
    "D_chem_err_cm2_s",
    "thermodynamic_factor",
    "diffusivity_mobile_fraction",
    "diffusivity_hops",
    "diffusivity_converged",
]


def slab(size=(4, 4, 6), seed: int = 1) -> drxkmc.Configuration:
    m = drxkmc.Material.from_formula(LMTO)
    return drxkmc.Configuration.random(m, drxkmc.Lattice(size, geometry="slab"), seed=seed)


def lossy_model() -> DegradationModel:
    """O loss (hence lost cation sites) within a few small cycles."""
    barriers = {**DegradationModel().migration_barrier_eV, "Mn4+": 0.9}
    return DegradationModel(migration_barrier_eV=barriers, o_loss_barrier_eV=0.85)


def cycled(model: DegradationModel, cycles: int, seed: int = 2, **run) -> Cycling:
    c = Cycling(slab(size=(4, 4, 8)), degradation_model=model, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
        c.run(cycles, progress=False, **run)
    return c


def blocked_by_hand(c: Cycling) -> drxkmc.Configuration:
    """The slab with every lost site given the first TM's symbol, built from the plain
    configuration and the lost-site mask (not from the run's own network configuration)."""
    plain = c.configuration()
    symbols = plain.cation_symbols()
    lost = c.lost_sites()
    assert np.all(symbols[lost] == "Va"), "a lost site holds nothing"
    symbols[lost] = plain.tm_names[0]
    # Not checked against the material: lost sites now count as that TM.
    config = drxkmc.Configuration.from_species(plain.lattice, symbols, plain.anion_symbols())
    config.material = plain.material
    return config


def by_hand(config: drxkmc.Configuration, li: float, seed: int, **run) -> pl.DataFrame:
    """What a user would run: delithiate electrochemically, then the Li kMC."""
    model = drxkmc.BarrierModel()
    state = config.with_li_content(li, model, temperature_K=HOT_K, seed=seed)
    sim = drxkmc.Simulation(state, model, temperature_K=HOT_K, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.ConvergenceWarning)
        return sim.run(progress=False, **run).diffusivity


@pytest.fixture(scope="module")
def lossy() -> Cycling:
    c = cycled(lossy_model(), 3)
    assert c.lost_sites().any(), "the test needs sites lost to densification"
    return c


def test_inert_probe_is_the_li_kmc_run_by_hand_bit_for_bit():
    probe = DiffusivityProbe(1.0, temperature_K=HOT_K, every=2, hops=HOPS, seed=7)
    c = cycled(DegradationModel.inert(), 2, diffusivity=probe)
    row = c.results.filter(pl.col("cycle") == 2).row(0, named=True)
    assert c.results.filter(pl.col("cycle") == 1)["D_tracer_cm2_s"].is_null().all()
    hand = by_hand(c.configuration(), 1.0, seed=7, hops=HOPS).row(0, named=True)
    for column in ("D_tracer_cm2_s", "D_jump_err_cm2_s", "D_chem_cm2_s", "thermodynamic_factor"):
        assert row[column] == hand[column], column
    assert row["diffusivity_hops"] == hand["hops"]
    assert row["diffusivity_mobile_fraction"] == hand["mobile_fraction"]
    assert row["diffusivity_temperature_K"] == HOT_K
    # li_content is reached as whole Li: the nearest count on the slab's formula units.
    n_fu = c.configuration().lattice.n_cations / c.material.cation_sites
    assert row["diffusivity_li_per_fu"] == round(1.0 * n_fu) / n_fu


def test_probe_of_a_densified_slab_blocks_lost_sites_like_tms(lossy):
    mine = lossy.diffusion_configuration()
    hand = blocked_by_hand(lossy)
    assert np.array_equal(mine._c.cations(), hand._c.cations())
    assert np.array_equal(mine._c.anions(), hand._c.anions())
    lost = lossy.lost_sites()
    # The run's own 0-TM Li network (the record's zero_tm_li_fraction, at the end of the
    # cycle) is the percolation analysis of this configuration, and not of the plain one.
    zero_tm = lossy.results["zero_tm_li_fraction"][-1]
    blocked = drxkmc.percolation(mine, max_tm=0, criterion="surface")
    assert blocked.accessible_li_fraction == zero_tm
    assert np.all(blocked.labels[lost] == -1), "a lost site is no node of the Li network"
    # The probe equals the kMC run by hand on the hand-blocked slab, bit for bit.
    got = lossy.diffusivity(1.0, temperature_K=HOT_K, hops=HOPS, seed=3)
    ref = by_hand(hand, 1.0, seed=3, hops=HOPS)
    for column in ("D_tracer_cm2_s", "D_jump_cm2_s", "D_chem_cm2_s", "hops", "n_li"):
        assert got[column][0] == ref[column][0], column
    assert got["cycle"][0] == lossy.cycle
    # Li never sit on lost sites, however long the kMC runs: a Li engine on the probe's start.
    state = mine.with_li_content(1.0, temperature_K=HOT_K, seed=3)
    sim = drxkmc.Simulation(state, temperature_K=HOT_K, seed=3)
    sim.advance(hops=50_000)
    assert not np.any(sim.li_occupancy()[lost])
    events = sim.events()
    assert not np.isin(events["to_site"].to_numpy(), np.flatnonzero(lost)).any()


def test_tetrahedral_tms_block_their_four_octahedra_in_a_probe():
    """A TM resting on a tetrahedral site (opt-in) empties its four face-sharing octahedra:
    the probe marks them like a TM (the Li kMC models octahedral occupancy only)."""
    model = lossy_model().replace(tetrahedral_energy_eV={"Mn2+": -1.0, "Mn3+": -1.0, "Mn4+": -1.0})
    c = cycled(model, 2, seed=7)
    tets = c.configuration().tetrahedral_tms()
    assert tets.height > 0, "the test needs tetrahedral TMs"
    blocked = c.diffusion_configuration()
    assert blocked.tetrahedral_tms().height == 0
    # A tetrahedron is the grid cube at its index (x fastest, units of a/2); its four cation
    # vertices are the corners with an even coordinate sum, found among cation_positions().
    lattice = blocked.lattice
    dims = 2 * np.array(lattice.size)
    index = {
        tuple(p): k
        for k, p in enumerate(np.rint(lattice.cation_positions() / (lattice.a / 2)).astype(int))
    }
    vertices = []
    for t in tets["tetrahedron"]:
        corner = np.array([t % dims[0], t // dims[0] % dims[1], t // (dims[0] * dims[1])])
        for dx, dy, dz in np.ndindex(2, 2, 2):
            q = (corner + (dx, dy, dz)) % dims
            if q.sum() % 2 == 0:
                vertices.append(index[tuple(q)])
    assert len(vertices) == 4 * tets.height
    codes = blocked._c.cations()
    assert np.all(codes[vertices] == drxkmc._core.SPECIES_FIRST_TM)
    plain = c.configuration()._c.cations()
    assert np.all(plain[vertices] == drxkmc._core.SPECIES_VACANCY)
    # The Li kMC runs on it (no refusal of tetrahedral TMs), at a content this much-degraded
    # slab still reaches.
    row = c.diffusivity(0.2, temperature_K=HOT_K, hops=HOPS).row(0, named=True)
    assert row["hops"] >= HOPS and row["n_li"] > 0


def test_a_probe_changes_nothing_in_the_run(lossy):
    before = lossy._run.checkpoint()
    lossy.diffusivity(1.0, temperature_K=HOT_K, hops=20_000)
    assert lossy._run.checkpoint() == before
    probe = DiffusivityProbe(1.0, temperature_K=HOT_K, every=2, hops=20_000)
    with_probe = cycled(lossy_model(), 4, diffusivity=probe)
    plain = cycled(lossy_model(), 4)
    measured = with_probe.results
    assert measured.select(plain.results.columns).equals(plain.results)
    assert measured["D_tracer_cm2_s"].is_not_null().to_list() == [False, True, False, True]
    assert with_probe.profiles.equals(plain.profiles)
    # The random stream too: the next cycles are the same.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
        a, b = with_probe.run(2, progress=False), plain.run(2, progress=False)
    assert a.select(b.columns).equals(b)
    # A run that never measured writes no probe field: its checkpoint is as before probes.
    assert b"diffusivity" not in plain._run.checkpoint()
    assert b"diffusivity" in with_probe._run.checkpoint()


def test_checkpoints_pickles_and_resumes_keep_the_measured_columns(tmp_path):
    probe = DiffusivityProbe(1.0, temperature_K=HOT_K, every=1, hops=20_000, seed=4)
    whole = cycled(DegradationModel.inert(), 3, diffusivity=probe)
    half = cycled(DegradationModel.inert(), 2, diffusivity=probe)
    half.save_checkpoint(tmp_path / "run.ckpt")
    resumed = Cycling.load_checkpoint(tmp_path / "run.ckpt")
    assert resumed.results.equals(half.results)
    assert pickle.loads(pickle.dumps(half)).results.equals(half.results)
    resumed.run(1, progress=False, diffusivity=probe)
    assert resumed.results.equals(whole.results)
    assert set(PROBE_COLUMNS) <= set(whole.results.columns)
    assert whole.results.schema["diffusivity_converged"] == pl.Boolean


def test_an_unreachable_li_content_is_recorded_as_not_measured(lossy):
    # Lost sites leave fewer cation sites than the as-made Li1.2 needs: the full formula Li
    # content is out of the cycled electrode's reach.
    with pytest.warns(drxkmc.ConvergenceWarning, match="diffusivity"):
        lossy.run(1, progress=False, diffusivity=DiffusivityProbe(1.2, hops=10_000))
    row = lossy.results.row(-1, named=True)
    assert row["diffusivity_converged"] is False and math.isnan(row["D_tracer_cm2_s"])
    raises_field(lambda: lossy.diffusivity(1.2, hops=10_000), "li_content")


def test_ctrl_c_during_a_probe_keeps_its_cycle_unmeasured():
    c = Cycling(slab(), degradation_model=DegradationModel.inert(), seed=1)
    # At 300 K and 0.1 % precision the probe runs far longer than the test waits.
    endless = DiffusivityProbe(1.0, temperature_K=300.0, precision=0.001, max_hops=10**12)
    done_event = threading.Event()

    def press_ctrl_c():
        wait = 0.5  # the cycle of this slab takes milliseconds: this lands in the probe
        while not done_event.wait(wait):
            _thread.interrupt_main()
            wait = 2.0

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            c.run(1, progress=False, diffusivity=endless)
    finally:
        done_event.set()
        presser.join()
    assert c.cycle == 1 and c._run.diffusivity_records() == []
    assert "D_tracer_cm2_s" not in c.results.columns
    c.run(1, progress=False)  # and it goes on
    assert c.cycle == 2


def test_converged_means_the_precision_was_reached():
    probe = DiffusivityProbe(1.0, temperature_K=900.0, precision=0.2, max_hops=10_000_000)
    c = cycled(DegradationModel.inert(), 1, diffusivity=probe)
    row = c.results.row(0, named=True)
    assert row["diffusivity_converged"] is True, "hot and small: must converge within budget"
    assert row["D_tracer_err_cm2_s"] <= 0.2 * row["D_tracer_cm2_s"]
    again = c.diffusivity(1.0, temperature_K=900.0, precision=0.2, max_hops=10_000_000)
    assert again["D_tracer_cm2_s"][0] == row["D_tracer_cm2_s"]


def test_bad_probes_name_their_field_before_any_cycle():
    for kwargs, field in [
        ({"li_content": float("nan")}, "li_content"),
        ({"li_content": -0.1}, "li_content"),
        ({"li_content": 0}, "li_content"),
        ({"li_content": "1"}, "li_content"),
        ({"li_content": 1.0, "every": 0}, "every"),
        ({"li_content": 1.0, "every": 1.5}, "every"),
        ({"li_content": 1.0, "temperature_K": float("nan")}, "temperature_K"),
        ({"li_content": 1.0, "temperature_K": -5}, "temperature_K"),
        ({"li_content": 1.0, "precision": 0}, "precision"),
        ({"li_content": 1.0, "precision": 0.1, "hops": 10}, "hops"),
        ({"li_content": 1.0, "hops": 0}, "hops"),
        ({"li_content": 1.0, "max_hops": True}, "max_hops"),
        ({"li_content": 1.0, "target": "D_star"}, "target"),
        ({"li_content": 1.0, "seed": -1}, "seed"),
        ({"li_content": 1.0, "temperature": 300}, "temperature"),
    ]:
        raises_field(lambda kw=kwargs: DiffusivityProbe(**kw), field)
    c = Cycling(slab(), degradation_model=DegradationModel.inert(), seed=1)
    raises_field(lambda: c.run(1, diffusivity=DiffusivityProbe(1.3)), "li_content")
    raises_field(lambda: c.run(1, diffusivity={"li_content": 1.0}), "diffusivity")
    raises_field(lambda: c.diffusivity(2.0), "li_content")
    assert c.cycle == 0, "nothing ran"


def _arguments():
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**65), 2**65),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=3),
    )
    return st.fixed_dictionaries(
        {"li_content": st.one_of(st.floats(-1, 2), junk)},
        optional={
            name: junk
            for name in ("temperature_K", "every", "precision", "hops", "max_hops", "target")
        }
        | {"seed": st.one_of(st.integers(-5, 2**64 + 5), junk)},
    )


@settings(max_examples=80, deadline=None)
@given(_arguments())
def test_probe_argument_fuzz_never_crashes(kwargs):
    try:
        probe = DiffusivityProbe(**kwargs)
    except drxkmc.InvalidParameterError as e:
        assert e.field in kwargs, e
        return
    assert probe.li_content > 0 and probe.every >= 1 and probe.max_hops >= 1
    assert probe.temperature_K is None or probe.temperature_K > 0
    c = Cycling.__new__(Cycling)
    c.material = drxkmc.Material.from_formula(LMTO)
    try:
        probe._check_material(c.material)
    except drxkmc.InvalidParameterError as e:
        assert e.field == "li_content" and probe.li_content > 1.2


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cycle", "diffusivity_li_per_fu", "D_tracer_cm2_s", "bogus"]),
        st.one_of(st.integers(-3, 5), st.floats(allow_nan=True), st.text(max_size=2)),
    )
)
def test_stored_records_are_checked(record):
    c = Cycling(slab(size=(2, 2, 6)), degradation_model=DegradationModel.inert(), seed=1)
    raises_field(lambda: c._run.add_diffusivity(record), "diffusivity")
    assert c._run.diffusivity_records() == []
