"""Cycling with degradation: invariants, exact limits, resumability, bad input and figures.

The physics identities (detailed balance of TM hops against the whole cell's energy, Arrhenius
rates of the default barriers, binomial O loss, the extractable Li behind a TM plane) are
tested in the core (``rust/drxkmc-core/src/degradation/tests.rs``); here the Python layer is
held to what a user sees."""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc import Cycling, CyclingProtocol, DegradationModel

LMTO = "Li1.2Mn0.4Ti0.4O2"
LMTOF = "Li1.2Mn0.4Ti0.4O1.6F0.4"


def slab(formula: str = LMTO, size=(4, 4, 6), seed: int = 1) -> drxkmc.Configuration:
    m = drxkmc.Material.from_formula(formula)
    return drxkmc.Configuration.random(m, drxkmc.Lattice(size, geometry="slab"), seed=seed)


def fast_model(**kw) -> DegradationModel:
    """Events frequent enough to act within a few small cycles."""
    barriers = {**DegradationModel().migration_barrier_eV, "Mn4+": 0.9}
    return DegradationModel(migration_barrier_eV=barriers, o_loss_barrier_eV=0.85, **kw)


def test_defaults_come_from_the_core_and_are_cited():
    core = drxkmc._core.default_degradation_model()
    assert DegradationModel().as_dict() == core
    assert CyclingProtocol().as_dict() == drxkmc._core.default_cycling_protocol()
    m = DegradationModel().migration_barrier_eV
    assert m["Mn2+"] < m["Mn3+"] < m["Ti4+"] < m["Mn4+"]


def test_no_degradation_repeats_every_cycle_exactly():
    c = Cycling(slab(), degradation_model=DegradationModel.inert(), seed=3)
    df = c.run(3, progress=False)
    assert df.height == 3 and c.cycle == 3
    for col in ("charge_capacity_mAh_g", "discharge_capacity_mAh_g"):
        assert df[col].n_unique() == 1, col
    assert df["retention"].to_list() == [1.0, 1.0, 1.0]
    assert df["tm_hops_cycle"].sum() == 0 and df["o_lost_per_fu"].max() == 0
    # The capacity is electrons per formula unit times the material's capacity per electron.
    m = drxkmc.Material.from_formula(LMTO)
    per_e = m._c.capacity_per_electron_mah_g
    x = df["li_per_fu_discharged"][0] - df["li_per_fu_charged"][0]
    assert df["charge_capacity_mAh_g"][1] == pytest.approx(x * per_e, rel=1e-12)


def test_events_keep_the_cell_neutral_and_conserve_species():
    cfg = slab(size=(4, 4, 8))
    c = Cycling(cfg, degradation_model=fast_model(), seed=2)
    df = c.run(3, progress=False)
    assert df["tm_hops_cycle"].sum() + df["o_lost_cycle"].sum() > 0, "the test must see events"
    assert c._run.charge() == 0
    now = c.configuration()
    before, after = cfg.counts(), now.counts()
    for species in ("Mn", "Ti", "F", "Cl"):
        b = before.filter(pl.col("species") == species)["count"].sum()
        a = after.filter(pl.col("species") == species)["count"].sum()
        assert a == b, species
    o_vacancies = int(np.count_nonzero(now._c.anions() == drxkmc._core.ANION_NAMES.index("Va")))
    n_fu = cfg.lattice.n_cations / cfg.material.cation_sites
    assert df["o_lost_per_fu"][-1] == pytest.approx(o_vacancies / n_fu, rel=1e-12)
    v = now.valences()
    codes = now._c.cations()
    assert v is not None and np.all((v > 0) == (codes >= drxkmc._core.SPECIES_FIRST_TM))
    assert cfg.valences() is None


def test_profiles_and_results_have_units_and_shapes():
    c = Cycling(slab(), degradation_model=fast_model(), seed=1)
    df = c.run(2, progress=False)
    for col in ("time_s", "charge_capacity_mAh_g", "densified_depth_nm", "o_lost_per_fu"):
        assert col in df.columns
    assert df["coulombic_efficiency"].is_between(0, 2).all()
    p = c.profiles
    n_depth = c.configuration().lattice.size[2]  # 2·L grid planes, folded onto L depths
    assert p.height == 2 * n_depth
    assert p["depth_nm"].min() == 0.0
    assert set(p.columns) >= {
        "li_fraction",
        "tm_fraction",
        "o_vacancy_fraction",
        "lost_site_fraction",
    }
    assert p.filter(pl.col("cycle") == 2)["tm_fraction"].is_between(0, 1).all()
    empty = Cycling(slab(), seed=1)
    assert empty.results.height == 0 and empty.profiles.height == 0


def test_a_resumed_run_continues_bit_identically(tmp_path):
    model = fast_model()
    straight = Cycling(slab(), degradation_model=model, seed=5)
    straight.run(3, progress=False)
    first = Cycling(slab(), degradation_model=model, seed=5)
    first.run(1, progress=False)
    path = tmp_path / "run.drxkmc"
    first.save_checkpoint(path)
    resumed = Cycling.load_checkpoint(path)
    assert resumed.material == first.material and resumed.cycle == 1
    resumed.run(2, progress=False)
    assert resumed.results.equals(straight.results)
    assert resumed.profiles.equals(straight.profiles)
    assert resumed.events.equals(straight.events)
    assert resumed.configuration() == straight.configuration()
    assert list(tmp_path.iterdir()) == [path], "no temporary files left behind"


def test_a_cycling_run_pickles_as_its_checkpoint():
    import pickle

    c = Cycling(slab(), degradation_model=fast_model(), seed=7)
    c.run(1, progress=False)
    twin = pickle.loads(pickle.dumps(c))
    c.run(1, progress=False)
    twin.run(1, progress=False)
    assert twin.results.equals(c.results) and twin.material == c.material


def test_ctrl_c_abandons_only_the_running_cycle():
    c = Cycling(slab(size=(6, 6, 8)), degradation_model=fast_model(), seed=1)
    c.run(1, progress=False)
    done_event = threading.Event()

    def press_ctrl_c():
        # Again every 2 s until it lands (a run polls for Ctrl-C far more often): on a
        # loaded machine a single simulated Ctrl-C has once been seen to go unanswered.
        wait = 0.3
        while not done_event.wait(wait):
            _thread.interrupt_main()
            wait = 2.0

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            c.run(10_000, progress=False)
    finally:
        done_event.set()
        presser.join()
    done = c.cycle
    assert 1 <= done < 10_000 and c.results.height == done
    assert c._run.charge() == 0
    c.run(1, progress=False)  # and it goes on
    assert c.cycle == done + 1


def test_bad_input_names_the_field(tmp_path):
    cfg = slab()
    bulk = drxkmc.Configuration.random(
        drxkmc.Material.from_formula(LMTO), drxkmc.Lattice((3, 3, 3)), seed=1
    )
    raises_field(lambda: Cycling(bulk), "config")
    raises_field(lambda: Cycling("slab"), "config")
    raises_field(
        lambda: Cycling(cfg, degradation_model={"o_loss_barrier_eV": 1}), "degradation_model"
    )
    raises_field(lambda: Cycling(cfg, protocol=CyclingProtocol(), seed=-1), "seed")
    raises_field(lambda: Cycling(cfg).run(0), "cycles")
    raises_field(lambda: Cycling(cfg).run(2.5), "cycles")
    raises_field(lambda: DegradationModel(o_loss_depth_nm=-1), "o_loss_depth_nm")
    raises_field(
        lambda: Cycling(cfg, degradation_model=DegradationModel(o_loss_depth_nm=50)),
        "o_loss_depth_nm",
    )
    raises_field(lambda: DegradationModel(migration_barrier_eV={"Mn": 0.3}), "migration_barrier_eV")
    raises_field(
        lambda: DegradationModel(migration_barrier_eV={"Mn2+": "x"}), "migration_barrier_eV"
    )
    raises_field(lambda: DegradationModel(equilibrated_hops=0), "equilibrated_hops")
    raises_field(lambda: DegradationModel(frobnicate=1), "frobnicate")
    raises_field(
        lambda: Cycling(cfg, degradation_model=DegradationModel(redox_order=["Ni"])), "redox_order"
    )
    raises_field(lambda: CyclingProtocol(charge_time_s=-1), "charge_time_s")
    raises_field(lambda: CyclingProtocol(charge_cutoff_V=True), "charge_cutoff_V")
    raises_field(lambda: CyclingProtocol(temperature_K=1e4), "temperature_K")
    raises_field(lambda: DegradationModel(redox_order="Mn"), "redox_order")
    raises_field(lambda: DegradationModel(redox_order=["Mn", "Mn"]), "redox_order")
    raises_field(lambda: DegradationModel(spectator_li_eV=-0.2), "spectator_li_eV")
    raises_field(
        lambda: DegradationModel(migration_barrier_eV={"Xx2+": 0.3}), "migration_barrier_eV"
    )
    raises_field(lambda: CyclingProtocol(charge_cutoff_V=7.0), "charge_cutoff_V")
    raises_field(lambda: DegradationModel(redox_potential_V={"Mn": 3.6}), "redox_potential_V")
    raises_field(lambda: DegradationModel(redox_potential_V={"Mn3+": 7.0}), "redox_potential_V")
    raises_field(lambda: DegradationModel(redox_potential_V={"Mn3+": "x"}), "redox_potential_V")
    raises_field(lambda: DegradationModel(redox_width_V=-0.1), "redox_width_V")
    raises_field(lambda: DegradationModel(o_redox_width_V=9.0), "o_redox_width_V")
    raises_field(
        lambda: DegradationModel(default_redox_potential_V=-1), "default_redox_potential_V"
    )
    raises_field(lambda: CyclingProtocol(reference_voltage_V=3.5), "reference_voltage_V")
    raises_field(lambda: CyclingProtocol(current_mA_g=-20), "current_mA_g")
    raises_field(
        lambda: DegradationModel(migration_barrier_eV={"Mn2+": True}), "migration_barrier_eV"
    )
    raises_field(lambda: DegradationModel(redox_potential_V={"Mn3+": False}), "redox_potential_V")
    raises_field(lambda: Cycling(cfg).save_checkpoint(None), "path")
    raises_field(lambda: Cycling.load_checkpoint(3), "path")
    raises_field(lambda: drxkmc.plot.plot_capacity("cycling"), "results")
    raises_field(lambda: drxkmc.plot.plot_depth_profiles([1, 2]), "profiles")
    raises_field(lambda: DegradationModel(dissolution_barrier_eV=-1.0), "dissolution_barrier_eV")
    raises_field(lambda: DegradationModel(dissolution_max_anions=7), "dissolution_max_anions")
    raises_field(lambda: DegradationModel(dissolution_max_anions=2.5), "dissolution_max_anions")
    raises_field(lambda: CyclingProtocol(current_mA_g="fast"), "current_mA_g")
    raises_field(lambda: CyclingProtocol(discharge_cutoff_V=4.9), "discharge_cutoff_V")
    raises_field(lambda: CyclingProtocol(charge_cutoff_V=1.0), "charge_cutoff_V")
    raises_field(lambda: CyclingProtocol(temperature_K=float("nan")), "temperature_K")
    raises_field(lambda: Cycling.load_checkpoint(tmp_path / "missing"), "path")
    raises_field(lambda: Cycling(cfg).save_checkpoint(tmp_path / "no" / "x"), "path")
    sim = drxkmc.Simulation(
        drxkmc.Configuration.random(
            drxkmc.Material.from_formula(LMTO), drxkmc.Lattice((3, 3, 3)), seed=1
        ),
        temperature_K=600,
        equilibrate=False,
    )
    sim.save_checkpoint(tmp_path / "li.ckpt")
    raises_field(lambda: Cycling.load_checkpoint(tmp_path / "li.ckpt"), "checkpoint")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400), cut=st.integers(0, 10_000), flip=st.integers(0, 10_000))
def test_damaged_checkpoints_are_refused(tmp_path, data, cut, flip):
    good = Cycling(slab(size=(3, 3, 6)), seed=1)._run.checkpoint()
    for blob in (data, good[: cut % len(good)], _flip(good, flip)):
        path = tmp_path / "c.ckpt"
        path.write_bytes(blob)
        raises_field(lambda p=path: Cycling.load_checkpoint(p), "checkpoint")


def _flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at % len(b)] ^= 0x10
    return bytes(b)


_FUZZ_VALUES = st.one_of(
    st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.integers(-5, 5)
)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(DegradationModel().as_dict())), value=_FUZZ_VALUES)
def test_model_fuzz_never_crashes(name, value):
    try:
        model = DegradationModel(**{name: value})
    except drxkmc.DrxkmcError as e:
        assert e.field == name
    else:
        # Accepted: the value is kept as given and the core accepts the whole model.
        assert model.as_dict()[name] == value
        drxkmc._core.validate_degradation_model(model.as_dict())


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(CyclingProtocol().as_dict())), value=_FUZZ_VALUES)
def test_protocol_fuzz_never_crashes(name, value):
    try:
        protocol = CyclingProtocol(**{name: value})
    except drxkmc.DrxkmcError as e:
        # The two cut-offs are checked against each other: either may be named.
        window = {"charge_cutoff_V", "discharge_cutoff_V"}
        assert e.field == name or (name in window and e.field in window)
    else:
        assert protocol.as_dict()[name] == value
        drxkmc._core.validate_cycling_protocol(protocol.as_dict())


def test_fluorination_slows_o_loss():
    """Same Li excess, same seeds, both with the short-range order of a synthesis: F takes the
    Li-rich environments, so the oxyfluoride has fewer labile (Li–O–Li) O and less O to lose,
    and F never leaves."""
    lost = {}
    for formula in (LMTO, LMTOF):
        total = 0.0
        for seed in (1, 2):
            cfg = drxkmc.anneal(
                slab(formula, size=(6, 6, 10), seed=seed), temperature_K=1300, seed=seed
            )
            c = Cycling(cfg, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
                total += c.run(10, progress=False)["o_lost_per_fu"][-1]
        lost[formula] = total
    assert lost[LMTO] > 0, "the test must see O loss"
    assert lost[LMTOF] < lost[LMTO], lost


def test_a_hold_too_short_for_the_time_scale_fall_back_is_flagged_and_warned():
    # Every TM made as fast as the Li (0.30 eV vs the Li 0-TM 0.25 eV): their paths fall
    # back to Γ_Li/R. A hold shorter than n·R/Γ_Li cannot equilibrate them (flagged,
    # warned); holds well beyond it can (no flag, no warning).
    model = DegradationModel(migration_barrier_eV={}, default_migration_barrier_eV=0.30)
    barrier = drxkmc.BarrierModel()
    kt = 8.617333262e-5 * drxkmc.CyclingProtocol().temperature_K
    li_rate = barrier.attempt_frequency_hz * math.exp(-barrier.channel_barrier_eV[0] / kt)
    needed_s = model.equilibrated_hops * model.min_timescale_ratio / li_rate
    for hold_s, separated in ((needed_s / 20, False), (needed_s * 20, True)):
        protocol = drxkmc.CyclingProtocol(charge_time_s=hold_s, discharge_time_s=hold_s)
        c = Cycling(slab(size=(5, 5, 8)), degradation_model=model, protocol=protocol, seed=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = c.run(2, progress=False)
        warned = any(issubclass(w.category, drxkmc.TimescaleWarning) for w in caught)
        assert warned == (not df["timescales_separated"].all())
        assert df["timescales_separated"].all() == separated, (hold_s, df)
        # The fall-back was needed: the fastest paths came within R of the Li.
        assert (df["li_tm_rate_ratio"] < model.min_timescale_ratio).any()


def test_figures_draw_headless(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from drxkmc import plot

    c = Cycling(slab(), degradation_model=fast_model(), seed=1)
    c.run(2, progress=False)
    ax = plot.plot_capacity(c.results)
    assert ax.get_ylabel() == "capacity (mAh/g)"
    ax = plot.plot_depth_profiles(c.profiles, "o_vacancy_fraction")
    assert "depth" in ax.get_xlabel() and len(ax.get_lines()) == 2
    ax = plot.plot_cross_section(c.configuration(), y=0)
    assert ax.get_xlabel() == "x (Å)" and len(ax.collections) >= 2
    raises_field(lambda: plot.plot_depth_profiles(c.profiles, "nope"), "column")
    raises_field(lambda: plot.plot_cross_section(c.configuration(), y=999), "y")
    raises_field(lambda: plot.plot_cross_section(c.configuration(), y="a"), "y")
    raises_field(lambda: plot.plot_depth_profiles(c.profiles, cycles=[99]), "cycles")
    assert c.results["charge_limited_by"].is_in(["voltage", "redox", "capacity"]).all()
    assert math.isfinite(c.results["densified_depth_nm"][-1])


def test_the_state_holds_tetrahedral_tms_and_li_engines_refuse_them():
    """A TM on a tetrahedral site closes its tetrahedron and empties its four face-sharing
    octahedra: engines that model octahedral occupancy only refuse it, naming the config."""
    lattice = drxkmc.Lattice((3, 3, 4), geometry="slab")
    n = lattice.n_cations
    codes = drxkmc._core.Configuration.from_species(
        lattice._l, np.zeros(n, np.uint8), np.zeros(n, np.uint8), ["Mn"]
    )
    with_tet = drxkmc.Configuration(codes.with_tetrahedral([(0, drxkmc._core.SPECIES_FIRST_TM, 2)]))
    frame = with_tet.tetrahedral_tms()
    assert frame.to_dicts() == [{"tetrahedron": 0, "species": "Mn", "valence": 2}]
    assert drxkmc.Configuration(codes).tetrahedral_tms().height == 0
    raises_field(lambda: drxkmc.percolation(with_tet), "config")
    raises_field(
        lambda: drxkmc.Simulation(with_tet, temperature_K=600, equilibrate=False), "config"
    )
    occupied = drxkmc._core.Configuration.from_species(
        lattice._l, np.ones(n, np.uint8), np.zeros(n, np.uint8), ["Mn"]
    )
    raises_field(lambda: occupied.with_tetrahedral([(0, 2, 2)]), "tetrahedral")


def test_the_charge_cut_off_sets_the_capacity_through_the_redox_levels():
    """Sharp levels: nothing below the Mn³⁺ level, every Mn³⁺ → Mn⁴⁺ electron between it and
    the O onset (capacity = Mn per f.u. × capacity per electron), O only above the onset;
    capacity and mean voltage never fall as the cut-off rises."""
    cfg = slab(size=(5, 5, 6), seed=4)
    model = DegradationModel.inert().replace(redox_width_V=0.0)
    mn_level = model.redox_potential_V["Mn3+"]
    per_e = drxkmc.Material.from_formula(LMTO)._c.capacity_per_electron_mah_g
    rows = []
    for cut in (mn_level - 0.1, mn_level + 0.1, model.o_redox_voltage_V - 0.05, 4.6, 4.8):
        c = Cycling(cfg, degradation_model=model, protocol=CyclingProtocol(charge_cutoff_V=cut))
        rows.append(c.run(1, progress=False).row(0, named=True))
    caps = [r["charge_capacity_mAh_g"] for r in rows]
    assert caps[0] == 0.0 and math.isnan(rows[0]["mean_charge_voltage_V"])
    # Every Mn is made as Mn3+ (Li1.2Mn0.4Ti0.4O2): one electron each; 2 cation sites per f.u.
    n_mn = int((cfg.cation_symbols() == "Mn").sum())
    expect = n_mn / (cfg.lattice.n_cations / 2) * per_e
    assert caps[1] == pytest.approx(expect, rel=1e-9) and caps[2] == caps[1]
    assert rows[1]["mean_charge_voltage_V"] == pytest.approx(mn_level, abs=1e-9)
    assert rows[1]["o_holes_per_fu_charged"] == 0 and rows[3]["o_holes_per_fu_charged"] > 0
    assert caps == sorted(caps) and caps[4] > caps[3] > caps[2]
    volts = [r["mean_charge_voltage_V"] for r in rows[1:]]
    assert volts == sorted(volts)


def test_a_current_makes_the_steps_take_time():
    """At a current a step lasts capacity / current (the holds are off here), and with no
    events it moves the same Li as the equilibrium step."""
    cfg = slab(size=(4, 4, 6), seed=6)
    inert = DegradationModel.inert()
    no_holds = dict(charge_time_s=0.0, discharge_time_s=0.0)
    at_once = Cycling(cfg, degradation_model=inert, protocol=CyclingProtocol(**no_holds))
    slow = Cycling(
        cfg, degradation_model=inert, protocol=CyclingProtocol(current_mA_g=20.0, **no_holds)
    )
    a = at_once.run(1, progress=False).row(0, named=True)
    b = slow.run(1, progress=False).row(0, named=True)
    assert a["time_s"] == 0.0
    assert b["charge_capacity_mAh_g"] == a["charge_capacity_mAh_g"] > 0
    hours = (b["charge_capacity_mAh_g"] + b["discharge_capacity_mAh_g"]) / 20.0
    assert b["time_s"] == pytest.approx(hours * 3600.0, rel=1e-12)


def test_dissolution_is_off_by_default_and_counted_when_on():
    """Reduced surface Mn²⁺ (made by O loss) dissolve with one O each when switched on: the
    Mn left plus those dissolved is the Mn made, and O vacancies are O lost plus those."""
    cfg = slab(size=(5, 5, 6), seed=13)
    barriers = {**DegradationModel().migration_barrier_eV, "Mn2+": 1.5}
    on = fast_model(dissolution_barrier_eV=0.8, dissolution_max_anions=5).replace(
        migration_barrier_eV=barriers, o_loss_barrier_eV=0.8
    )
    off = Cycling(cfg, degradation_model=on.replace(dissolution_barrier_eV=None), seed=6)
    assert off.run(2, progress=False)["tm_dissolved_cycle"].sum() == 0
    c = Cycling(cfg, degradation_model=on, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
        df = c.run(4, progress=False)
    n_fu = cfg.lattice.n_cations / 2
    dissolved = df["tm_dissolved_cycle"].sum()
    assert dissolved > 0
    assert df["tm_dissolved_per_fu"][-1] == pytest.approx(dissolved / n_fu, rel=1e-12)
    mn_made = int((cfg.cation_symbols() == "Mn").sum())
    # The run's own configuration is not exposed; the per-f.u. columns carry the counts.
    assert df["tm_dissolved_per_fu"][-1] * n_fu <= mn_made
    assert df["cation_sites_lost_per_fu"][-1] >= df["tm_dissolved_per_fu"][-1]


def test_the_event_log_adds_up_to_each_cycles_counts():
    """The event log (per cycle, kind and species) sums to the per-cycle counts, which the
    run keeps separately; TMs are named by symbol and state, O loss by "O"."""
    cfg = slab(size=(5, 5, 6), seed=13)
    model = fast_model(dissolution_barrier_eV=0.8, dissolution_max_anions=5).replace(
        o_loss_barrier_eV=0.8
    )
    c = Cycling(cfg, degradation_model=model, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
        df = c.run(4, progress=False)
    events = c.events
    assert set(events["event"]) == {"tm_hop", "o_loss", "dissolution"}, events
    per_cycle = events.pivot(
        on="event", index="cycle", values="count", aggregate_function="sum"
    ).fill_null(0)
    joined = df.join(per_cycle, on="cycle", how="left").fill_null(0)
    assert (joined["tm_hop"] == joined["tm_hops_cycle"]).all()
    assert (joined["o_loss"] == joined["o_lost_cycle"]).all()
    assert (joined["dissolution"] == joined["tm_dissolved_cycle"]).all()
    raised = (
        events.filter(pl.col("event") == "tm_hop")
        .group_by("cycle")
        .agg(pl.col("equilibrated").sum())
    )
    joined = df.join(raised, on="cycle", how="left").fill_null(0)
    assert (joined["equilibrated"] == joined["tm_hops_equilibrated_cycle"]).all()
    metals = set(cfg.material.transition_metals)
    for event, species in events.select("event", "species").iter_rows():
        if event == "o_loss":
            assert species == "O"
        else:
            symbol, state = species[:-2], int(species[-2])
            assert symbol in metals and species.endswith("+") and 2 <= state <= 5, species
    twin = pickle.loads(pickle.dumps(c))
    assert twin.events.equals(events)
    inert = Cycling(cfg, degradation_model=DegradationModel.inert(), seed=6)
    inert.run(1, progress=False)
    assert inert.events.height == 0 and inert.events.columns == events.columns


def test_a_short_hold_in_which_the_fall_back_acted_is_flagged():
    # TMs at 0.60 eV: on their own barrier every path's Li-averaged rate is below Γ_Li/R
    # (li_tm_rate_ratio > R), but pairs with |ΔE| > 2(0.60 eV − kT·ln(νR/Γ_Li)) are raised by
    # the fall-back (their faster direction, an uphill path's reverse, or a path whose target
    # is rarely empty, is within R of the Li). In holds 20× shorter than n·R/Γ_Li those raised
    # pairs are neither separated nor equilibrated, so the run must be flagged. On main the
    # flag compares only the fastest *own* rate (this direction, times target-empty and
    # spectator factors) with Γ_Li/R: the fall-back changes the run, yet every cycle says
    # timescales_separated. Fix: flag a hold when any path was raised by the separation term
    # (sep + |ΔE|/2 > max(E_fluct, floor)) and sep > the hold's floor.
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    slab = drxkmc.Lattice((5, 5, 8), geometry="slab")
    config = drxkmc.anneal(
        drxkmc.Configuration.random(material, slab, seed=1), temperature_K=1300, seed=1
    )
    barrier = drxkmc.BarrierModel()
    kt = drxkmc.BOLTZMANN_EV_PER_K * CyclingProtocol().temperature_K
    li_rate = barrier.attempt_frequency_hz * math.exp(-barrier.channel_barrier_eV[0] / kt)
    on = DegradationModel(migration_barrier_eV={}, default_migration_barrier_eV=0.60)
    off = on.replace(min_timescale_ratio=0.0)
    hold_s = on.equilibrated_hops * on.min_timescale_ratio / li_rate / 20
    protocol = CyclingProtocol(charge_time_s=hold_s, discharge_time_s=hold_s)
    frames = []
    for model in (off, on):
        cycling = Cycling(config, degradation_model=model, protocol=protocol, seed=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", drxkmc.TimescaleWarning)
            frames.append(cycling.run(3, progress=False).drop("timescales_separated"))
    with_fall_back = cycling.results
    assert not frames[0].equals(frames[1]), "the fall-back did not act: no check possible"
    assert not with_fall_back["timescales_separated"].all(), with_fall_back


def tetrahedral_model() -> DegradationModel:
    """Mn rests on tetrahedra at every valence (far below the octahedra: many of them)."""
    return fast_model(tetrahedral_energy_eV={"Mn2+": -1.0, "Mn3+": -1.0, "Mn4+": -1.0})


def test_tetrahedral_tms_are_counted_kept_and_drawn():
    import matplotlib

    matplotlib.use("Agg")
    from drxkmc import plot

    assert DegradationModel().tetrahedral_energy_eV == {}, "off by default"
    c = Cycling(slab(), degradation_model=tetrahedral_model(), seed=7)
    df = c.run(2, progress=False)
    tets = c.configuration().tetrahedral_tms()
    # The per-cycle count is the number of tetrahedral TMs of the configuration.
    assert df["tm_tetrahedral"][-1] == tets.height > 0
    assert set(tets["species"]) == {"Mn"}
    assert df["tm_migrated"][-1] >= tets.height
    assert c._run.charge() == 0
    # Counted on their own sublattice, and exported at their tetrahedra's centres: √3·a/4
    # from their four nearest anions (and cations).
    counts = c.configuration().counts()
    on_tets = counts.filter(pl.col("sublattice") == "tetrahedral")
    assert on_tets["count"].sum() == tets.height
    mn = counts.filter(pl.col("species") == "Mn")["count"].sum()
    assert mn == slab().counts().filter(pl.col("species") == "Mn")["count"].sum()
    atoms = c.configuration().to_ase()
    assert list(atoms.get_chemical_symbols()[-tets.height :]) == ["Mn"] * tets.height
    lattice = c.configuration().lattice
    box = np.array(lattice.size) * lattice.a
    for x in atoms.positions[-tets.height :]:
        d = lattice.anion_positions() - x
        d[:, :2] -= box[:2] * np.round(d[:, :2] / box[:2])
        r = np.sort(np.linalg.norm(d, axis=1))[:5]
        assert np.allclose(r[:4], math.sqrt(3) * lattice.a / 4, rtol=1e-12) and r[4] > r[3] + 0.5
    # Drawn as triangles in the planes their tetrahedra span.
    nx, ny = (2 * s for s in c.configuration().lattice.size[:2])
    y = (int(tets["tetrahedron"][0]) // nx) % ny
    ax = plot.plot_cross_section(c.configuration(), y=y)
    assert "Mn (tetrahedral)" in [h.get_label() for h in ax.collections]
    # The pickle (its checkpoint) keeps them and runs on identically.
    import pickle

    twin = pickle.loads(pickle.dumps(c))
    assert twin.configuration().tetrahedral_tms().equals(tets)
    c.run(1, progress=False)
    twin.run(1, progress=False)
    assert twin.results.equals(c.results)


@settings(max_examples=40, deadline=None)
@given(
    key=st.one_of(st.sampled_from(["Mn2+", "Ti4+", "Ni3+"]), st.text(max_size=5)),
    value=_FUZZ_VALUES,
)
def test_tetrahedral_energy_fuzz_names_the_field(key, value):
    try:
        model = DegradationModel(tetrahedral_energy_eV={key: value})
    except drxkmc.DrxkmcError as e:
        assert e.field == "tetrahedral_energy_eV"
    else:
        assert key in ("Mn2+", "Ti4+", "Ni3+") and math.isfinite(value) and abs(value) <= 1000
        drxkmc._core.validate_degradation_model(model.as_dict())
