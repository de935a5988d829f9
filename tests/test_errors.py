"""Bad input raises a drxkmc.DrxkmcError subclass naming the field, before any work starts,
never a Rust panic (pyo3 PanicException derives from BaseException), and leaves nothing
half-written on disk (docs/design.md#conventions)."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from conftest import raises_field

import drxkmc
from drxkmc import CompositionError, DrxkmcError, InvalidParameterError

NAN = float("nan")
INF = float("inf")


def test_exception_hierarchy():
    assert issubclass(DrxkmcError, ValueError)
    assert issubclass(InvalidParameterError, DrxkmcError)
    assert issubclass(CompositionError, DrxkmcError)
    assert drxkmc.errors.DrxkmcError is DrxkmcError
    for cls in (DrxkmcError, InvalidParameterError, CompositionError):
        # pickle finds a class by module and name: the public module, not drxkmc._core.
        assert cls.__module__ == "drxkmc.errors"
        assert getattr(drxkmc.errors, cls.__name__) is cls


def _raised_errors() -> list[DrxkmcError]:
    """One error of each kind: from the Rust core (both classes) and from the Python layer."""
    return [
        raises_field(
            lambda: drxkmc.Material.from_formula("Li1.2Xx0.4O2"), "formula", CompositionError
        ),
        raises_field(lambda: drxkmc.Lattice(3, a=-1.0), "a"),
        raises_field(lambda: drxkmc.BarrierModel(site_f_eV="lots"), "site_f_eV"),
        drxkmc.errors.invalid("temperature_K", "must be > 0"),
    ]


@pytest.mark.parametrize("err", _raised_errors(), ids=lambda e: f"{type(e).__name__}-{e.field}")
def test_errors_pickle_with_type_message_and_field(err):
    # Process pools and Dask send a worker's exception back pickled.
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err) and back.args == err.args
    assert back.field == err.field


def test_error_in_a_process_worker_arrives_whole():
    with ProcessPoolExecutor(max_workers=1) as ex:
        future = ex.submit(drxkmc.Material.from_formula, "Li1.2Xx0.4O2")
        err = raises_field(future.result, "formula", CompositionError)
        future = ex.submit(drxkmc.Lattice, 3, a=float("nan"))
        raises_field(future.result, "a")
    assert "Xx" in str(err)


@pytest.fixture(scope="module")
def mat():
    return drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")


@pytest.fixture(scope="module")
def cfg(mat):
    return drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=1)


# ----- compositions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula",
    [
        "",
        "Li1.2(Mn0.4Ti0.4)O2",  # parentheses
        "li1.2Mn0.4Ti0.4O2",  # lower-case symbol
        "Li1.2Mn0.4 Ti0.4O2",  # whitespace
        "1.2LiO",  # amount before symbol
        "Li1..2Mn0.4Ti0.4O2",  # malformed number
        "Li-1O",  # negative amount
        "Li0Mn1O1",  # zero amount
        "Li" + "9" * 400 + "O",  # overflows to infinity
    ],
)
def test_unparseable_formula(formula):
    raises_field(lambda: drxkmc.Material.from_formula(formula), "formula", CompositionError)


@pytest.mark.parametrize("formula", ["Li1.2Xx0.4Ti0.4O2", "Li1.2Qq0.8O2", "Li2S"])
def test_unknown_element(formula):
    raises_field(lambda: drxkmc.Material.from_formula(formula), "formula", CompositionError)


@pytest.mark.parametrize("formula", ["Li0.5Ti0.5O", "Li1.2Ti0.8O2", "Li1.2Nb0.8O2F0.5"])
def test_charge_imbalance(formula):
    # Li⁺ + Ti⁴⁺ / Nb⁵⁺ are fixed-valence: the cation charge cannot match the anions.
    exc = raises_field(lambda: drxkmc.Material.from_formula(formula), "formula", CompositionError)
    assert "charge" in str(exc)


def test_bad_oxidation_state_override():
    raises_field(
        lambda: drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2", {"Mn": NAN}), "oxidation_states"
    )
    raises_field(
        lambda: drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2", {"Fe": 3}), "oxidation_states"
    )


# ----- lattice -----------------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.0, -4.15, NAN, INF, 1e6])
def test_bad_lattice_parameter(a):
    raises_field(lambda: drxkmc.Lattice(3, a=a), "a")


def test_non_numeric_lattice_parameter():
    raises_field(lambda: drxkmc.Lattice(3, a="4.1x"), "a")


@pytest.mark.parametrize(
    "size",
    [0, 1, -2, (2, 2), (2, 0, 2), (2, 2, -1), 2.5, "abc", 10**6, (10**6, 10**6, 2)],
)
def test_empty_or_absurd_supercell(size):
    raises_field(lambda: drxkmc.Lattice(size), "size")


def test_supercell_beyond_machine_integers():
    # 10**30 cells per side does not fit a 64-bit integer: still a size error, not OverflowError.
    raises_field(lambda: drxkmc.Lattice(10**30), "size")


def test_bad_geometry():
    raises_field(lambda: drxkmc.Lattice(3, geometry="cylinder"), "geometry")


# ----- barrier model -----------------------------------------------------------------------


def test_negative_barrier():
    raises_field(lambda: drxkmc.BarrierModel.uniform(-0.1), "channel_barrier_eV")
    raises_field(
        lambda: drxkmc.BarrierModel(channel_barrier_eV=(0.25, -0.5, 1.2)), "channel_barrier_eV"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("attempt_frequency_hz", NAN),
        ("attempt_frequency_hz", 0.0),
        ("attempt_frequency_hz", INF),
        ("channel_barrier_eV", (0.25, NAN, 1.2)),
        ("height_slope_eV_per_A", (NAN, -1.5, -1.5)),
        ("reference_height_A", NAN),
        ("anion_height_shift_A", (0.0, NAN, 0.0, 0.0)),
        ("anion_corner_eV", (0.0, 0.0, INF, 0.0)),
        ("spectator_li_eV", NAN),
        ("site_f_eV", NAN),
        ("site_cl_eV", NAN),
        ("site_tm_eV", NAN),
        ("site_disorder_eV", NAN),
        ("site_disorder_eV", -0.1),
        ("site_energy_seed", -1),
        ("channel_barrier_eV", (0.25, 0.55)),  # wrong length
        ("site_f_eV", "lots"),  # not a number
    ],
)
def test_bad_model_parameter(name, value):
    raises_field(lambda: drxkmc.BarrierModel(**{name: value}), name)
    raises_field(lambda: drxkmc.BarrierModel().replace(**{name: value}), name)


def test_unknown_model_field():
    raises_field(lambda: drxkmc.BarrierModel(activation_energy_ev=0.3), "activation_energy_ev")
    raises_field(lambda: drxkmc.BarrierModel().replace(barrier=0.3), "barrier")


# ----- configurations ----------------------------------------------------------------------


def test_wrong_array_length_in_from_species():
    lat = drxkmc.Lattice(2)
    raises_field(
        lambda: drxkmc.Configuration.from_species(lat, ["Li"] * (lat.n_cations - 1)), "cations"
    )
    raises_field(
        lambda: drxkmc.Configuration.from_species(lat, ["Li"] * lat.n_cations, ["O"] * 3), "anions"
    )


@pytest.mark.parametrize("symbol", ["Xy", "Qq", "li", "O", ""])
def test_unknown_cation_symbol_in_from_species(symbol):
    lat = drxkmc.Lattice(2)
    cations = ["Li"] * lat.n_cations
    cations[3] = symbol
    raises_field(lambda: drxkmc.Configuration.from_species(lat, cations), "cations")


def test_unknown_anion_symbol_in_from_species():
    lat = drxkmc.Lattice(2)
    anions = ["O"] * lat.n_anions
    anions[0] = "S"
    raises_field(
        lambda: drxkmc.Configuration.from_species(lat, ["Li"] * lat.n_cations, anions), "anions"
    )


@pytest.mark.parametrize("li", [1.5, -0.1, NAN, "lots"])
def test_li_content_out_of_range(mat, li):
    raises_field(
        lambda: drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=li), "li_content"
    )


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "1", None, True])
def test_bad_seed(mat, cfg, seed):
    raises_field(lambda: drxkmc.Configuration.random(mat, drxkmc.Lattice(2), seed=seed), "seed")
    raises_field(lambda: drxkmc.Simulation(cfg, seed=seed), "seed")


# ----- simulations -------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, -300.0, NAN, INF, "hot"])
def test_bad_temperature(cfg, temperature):
    raises_field(lambda: drxkmc.Simulation(cfg, temperature_K=temperature), "temperature_K")


def test_bad_temperatures_in_arrhenius(cfg):
    raises_field(
        lambda: drxkmc.arrhenius(cfg, temperatures_K=[300.0, -5.0], hops=10), "temperatures_K"
    )
    raises_field(
        lambda: drxkmc.arrhenius(cfg, temperatures_K=[300.0, NAN], hops=10), "temperatures_K"
    )
    raises_field(lambda: drxkmc.arrhenius(cfg, temperatures_K=[300.0], hops=10), "temperatures_K")


def test_bad_simulation_arguments(cfg):
    raises_field(lambda: drxkmc.Simulation(None), "config")
    raises_field(lambda: drxkmc.Simulation(cfg, model={"site_f_eV": 0.0}), "model")


@pytest.mark.parametrize("hops", [0, -1, -(10**6), 2.5, NAN, True, "many"])
def test_non_positive_hops(cfg, hops):
    sim = drxkmc.Simulation(cfg, seed=1)
    raises_field(lambda: sim.run(hops=hops), "hops")
    raises_field(lambda: sim.advance(hops=hops), "hops")
    raises_field(lambda: drxkmc.arrhenius(cfg, temperatures_K=[300, 400], hops=hops), "hops")
    # Nothing ran.
    assert sim.hops == 0 and sim.time_s == 0.0


@pytest.mark.parametrize("time_s", [0.0, -1.0, NAN, INF, "x"])
def test_bad_run_time(cfg, time_s):
    sim = drxkmc.Simulation(cfg, seed=1)
    raises_field(lambda: sim.run(time_s=time_s), "time_s")
    raises_field(lambda: sim.advance(time_s=time_s), "time_s")
    assert sim.hops == 0 and sim.time_s == 0.0


def test_bad_run_options(cfg):
    sim = drxkmc.Simulation(cfg, seed=1)
    raises_field(lambda: sim.run(hops=10, blocks=0), "blocks")
    raises_field(lambda: sim.run(hops=10, samples_per_block=1), "samples_per_block")
    raises_field(lambda: sim.run(hops=10, warmup_hops=-1), "warmup_hops")
    raises_field(lambda: sim.run(hops=10, time_s=1e-9), "hops")
    raises_field(lambda: sim.run(), "hops")
    assert sim.hops == 0


def _jammed_configuration():
    # One Li whose 12 neighbours are all TM (every other cation site is Mn but one, far away):
    # no hop is possible, the total rate is zero.
    lat = drxkmc.Lattice(2)
    cations = np.full(lat.n_cations, "Mn")
    cations[0] = "Li"
    return drxkmc.Configuration.from_species(lat, cations)


def test_fully_lithiated_or_jammed_lattice_cannot_run(cfg, mat):
    full = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), seed=1)  # no vacancy at all
    raises_field(lambda: drxkmc.Simulation(full).run(hops=100), "config")
    jammed = drxkmc.Simulation(_jammed_configuration(), drxkmc.BarrierModel.uniform(0.3))
    assert jammed.total_rate_per_s == 0.0
    raises_field(lambda: jammed.run(hops=100), "config")


def test_advance_on_jammed_lattice_does_not_corrupt_state():
    # With no possible hop, advance(hops=n) must refuse (like run) rather than "hop": a hop
    # with zero total rate would move the Li onto an occupied (here: Mn) site.
    sim = drxkmc.Simulation(_jammed_configuration(), drxkmc.BarrierModel.uniform(0.3))
    before = sim.configuration().cation_symbols()
    raises_field(lambda: sim.advance(hops=3), "config")
    assert np.array_equal(sim.configuration().cation_symbols(), before)
    assert sim.hops == 0 and math.isfinite(sim.time_s)
    # Advancing by time is well defined: nothing happens for that long.
    sim.advance(time_s=1e-6)
    assert sim.time_s == pytest.approx(1e-6) and sim.hops == 0
    assert np.array_equal(sim.configuration().cation_symbols(), before)


# ----- checkpoints -------------------------------------------------------------------------


def _small_sim(cfg):
    sim = drxkmc.Simulation(cfg, seed=3)
    sim.advance(hops=200)
    return sim


def test_load_checkpoint_rejects_garbage(tmp_path, cfg):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint at all")
    raises_field(lambda: drxkmc.Simulation.load_checkpoint(bad), "checkpoint")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    raises_field(lambda: drxkmc.Simulation.load_checkpoint(empty), "checkpoint")
    # A truncated real checkpoint is rejected too.
    good = tmp_path / "good.ckpt"
    _small_sim(cfg).save_checkpoint(good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    raises_field(lambda: drxkmc.Simulation.load_checkpoint(cut), "checkpoint")


def test_save_checkpoint_to_a_directory_or_missing_folder_leaves_nothing(tmp_path, cfg):
    sim = _small_sim(cfg)
    target_dir = tmp_path / "is_a_dir"
    target_dir.mkdir()
    # A drxkmc error naming the path, before anything is written.
    with pytest.raises(drxkmc.InvalidParameterError) as err:
        sim.save_checkpoint(target_dir)
    assert err.value.field == "path"
    with pytest.raises(drxkmc.InvalidParameterError) as err:
        sim.save_checkpoint(tmp_path / "missing" / "run.ckpt")
    assert err.value.field == "path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is_a_dir"]
    assert list(target_dir.iterdir()) == []


def test_failed_save_keeps_previous_checkpoint_intact(tmp_path, cfg):
    # Save a good checkpoint, then save again while the process may not write files larger
    # than 200 bytes (RLIMIT_FSIZE, as a full disk or quota would): the save must fail, the earlier
    # checkpoint must be byte-identical, and no temporary file may remain.
    path = tmp_path / "run.ckpt"
    _small_sim(cfg).save_checkpoint(path)
    original = path.read_bytes()
    assert len(original) > 400
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import drxkmc
        mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
        cfg = drxkmc.Configuration.random(mat, drxkmc.Lattice(3), li_content=0.8, seed=1)
        sim = drxkmc.Simulation(cfg, seed=4)
        sim.advance(hops=500)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))
        try:
            sim.save_checkpoint({str(path)!r})
        except OSError:
            sys.exit(0)
        sys.exit(3)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]
    # And the surviving checkpoint still loads.
    assert drxkmc.Simulation.load_checkpoint(path).hops == 200
