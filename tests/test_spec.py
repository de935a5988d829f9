"""Run specifications: round trips through dict, TOML and JSON; every bad value or key named
(with the file it came from) before anything runs; the reader fuzzed with hypothesis."""

from __future__ import annotations

import json
import math
import sys

import pytest
import tomli_w
from conftest import raises_field
from hypothesis import given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.errors import DrxkmcError
from drxkmc.runs import build_configuration
from drxkmc.spec import SECTIONS, RunSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LMTO = "Li1.2Mn0.4Ti0.4O2"


def full_spec() -> RunSpec:
    """A spec that sets a field of every section (and a model tuple)."""
    return RunSpec(
        LMTO,
        oxidation_states={"Mn": 3.0},
        size=(4, 4, 5),
        a=4.2,
        configuration="annealed",
        anneal_temperature_K=1500.0,
        anneal_sweeps=20,
        li_content=0.8,
        config_seed=7,
        model={"site_disorder_eV": 0.05, "channel_barrier_eV": (0.3, 0.6, 1.2)},
        temperature_K=650.0,
        hops=123_456,
        seed=2**64 - 1,
        equilibrate=False,
        acceleration=50.0,
        checkpoint_minutes=0.5,
    )


def test_round_trips_through_dict_toml_and_json(tmp_path):
    spec = full_spec()
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert RunSpec.loads(spec.dumps("toml")) == spec
    assert RunSpec.loads(spec.dumps("json"), "json") == spec
    for name in ("run.toml", "run.json"):
        spec.write(tmp_path / name)
        assert RunSpec.read(tmp_path / name) == spec
    # The file is what a user would write: sections, keys as documented, no nulls.
    data = tomllib.loads((tmp_path / "run.toml").read_text())
    assert list(data) == ["material", "lattice", "configuration", "model", "run", "output"]
    assert data["configuration"]["kind"] == "annealed"
    assert data["run"]["hops"] == 123_456 and "precision" not in data["run"]
    assert data["model"]["channel_barrier_eV"] == [0.3, 0.6, 1.2]
    # Flat keywords (what a sweep point gives) reach the same spec.
    assert RunSpec.from_flat(spec.flat()) == spec
    assert spec.replace(temperature_K=700.0).temperature_K == 700.0
    assert spec.replace(site_disorder_eV=0.1).model["site_disorder_eV"] == 0.1


def test_defaults_and_what_the_spec_builds():
    spec = RunSpec(LMTO, size=4, li_content=0.6)
    assert spec.precision == 0.1 and spec.hops is None  # run to a precision by default
    assert spec.run_kwargs()["precision"] == 0.1
    assert spec.barrier_model() == drxkmc.BarrierModel()
    model = drxkmc.BarrierModel(site_disorder_eV=0.05)
    # A BarrierModel given whole is stored as the fields that differ from the defaults.
    assert RunSpec.from_flat({"formula": LMTO, "model": model}).model == {"site_disorder_eV": 0.05}
    config = build_configuration(spec)
    n_fu = 256 / 2  # 4³ cells × 4 cation sites, two cation sites per formula unit
    assert config.n_li == round(0.6 * n_fu)


def test_a_structure_file_is_relative_to_the_spec(tmp_path):
    pytest.importorskip("pymatgen", reason="the structures extra is part of CI's install")
    config = drxkmc.Configuration.random(LMTO, drxkmc.Lattice(4), seed=3)
    (tmp_path / "cells").mkdir()
    config.to_file(tmp_path / "cells" / "drx.cif")
    (tmp_path / "spec.toml").write_text(
        f'[material]\nformula = "{LMTO}"\n[configuration]\nkind = "file"\nfile = "cells/drx.cif"\n'
    )
    spec = RunSpec.read(tmp_path / "spec.toml")
    assert spec.structure_file == str(tmp_path / "cells" / "drx.cif")
    assert build_configuration(spec) == config
    (tmp_path / "missing.toml").write_text(
        f'[material]\nformula = "{LMTO}"\n[configuration]\nkind = "file"\nfile = "nope.cif"\n'
    )
    raises_field(lambda: RunSpec.read(tmp_path / "missing.toml"), "configuration.file")


BAD_FILES = [
    ("[run]\ntemperature_K = nan", "run.temperature_K", "finite"),
    ('[run]\ntemperature_K = "600"', "run.temperature_K", "number"),
    ('[configuration]\nli_content = "0.6"', "configuration.li_content", "number"),
    ("[configuration]\nli_content = 5.0", "configuration.li_content", "between"),
    ("[run]\nhops = 1000\nprecision = 0.1", "run.precision", "one of"),
    ("[run]\nhops = 1.5", "run.hops", "integer"),
    ("[run]\nseed = -1", "run.seed", "2\\*\\*64"),
    ("[run]\nequilibrate = 1", "run.equilibrate", "True or False"),
    ("[run]\ntarget = 'D_foo'", "run.target", "D_tracer"),
    ("[run]\nfoo = 1", "run.foo", "not a key"),
    ("[runs]\nseed = 1", "runs", "not a spec section"),
    ("run = 3", "run", "table"),
    ("[lattice]\nsize = [4, 4]", "lattice.size", "three"),
    ("[lattice]\na = 41.5", "lattice.a", "between"),
    ("[lattice]\ngeometry = 'wire'", "lattice.geometry", "bulk"),
    ("[configuration]\nkind = 'annealed'", "configuration.anneal_temperature_K", "needs"),
    ("[configuration]\nkind = 'quenched'", "configuration.kind", "random"),
    ("[model]\nsite_disorder_eV = -1.0", "model.site_disorder_eV", None),
    ("[model]\nsite_disorder_eV = 'x'", "model.site_disorder_eV", "number"),
    ("[model]\nchannel_barrier_eV = [0.2, 0.5]", "model.channel_barrier_eV", "3 values"),
    ("[model]\nbarrier = 0.2", "model.barrier", "not a BarrierModel field"),
    ("[output]\ncheckpoint_minutes = -1.0", "output.checkpoint_minutes", ">= 0"),
]


@pytest.mark.parametrize(("body", "field", "match"), BAD_FILES)
def test_bad_values_and_keys_are_named_with_the_file(tmp_path, body, field, match):
    path = tmp_path / "bad.toml"
    path.write_text(f'{body}\n[material]\nformula = "{LMTO}"\n')
    err = raises_field(lambda: RunSpec.read(path), field, match=match)
    assert str(err).startswith(f"{path}: {field}: ")


def test_file_level_errors(tmp_path):
    raises_field(lambda: RunSpec.read(tmp_path / "none.toml"), "path", match="no such file")
    raises_field(lambda: RunSpec.read(tmp_path), "path")
    (tmp_path / "a.yaml").write_text("x: 1")
    raises_field(lambda: RunSpec.read(tmp_path / "a.yaml"), "path", match=".toml or .json")
    (tmp_path / "broken.toml").write_text("[run\n")
    raises_field(lambda: RunSpec.read(tmp_path / "broken.toml"), "spec", match="not valid TOML")
    (tmp_path / "empty.toml").write_text("")
    raises_field(lambda: RunSpec.read(tmp_path / "empty.toml"), "material.formula")
    (tmp_path / "formula.toml").write_text('[material]\nformula = "Li1.2Xx0.8O2"')
    raises_field(
        lambda: RunSpec.read(tmp_path / "formula.toml"),
        "material.formula",
        drxkmc.CompositionError,
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature_K": math.nan}, "temperature_K"),
        ({"li_content": "0.6"}, "li_content"),
        ({"hops": 10, "time_s": 1e-9}, "time_s"),
        ({"structure_file": "x.cif"}, "structure_file"),
        ({"anneal_temperature_K": 1000.0}, "anneal_temperature_K"),
        (
            {"configuration": "annealed", "anneal_temperature_K": 900.0, "delithiation": "random"},
            "delithiation",
        ),
        ({"model": {"site_disorder_eV": math.inf}}, "site_disorder_eV"),
        ({"model": 3}, "model"),
        ({"size": True}, "size"),
    ],
)
def test_keyword_errors_name_the_field(kwargs, field):
    raises_field(lambda: RunSpec(LMTO, **kwargs), field)


def test_unknown_flat_names_are_named():
    raises_field(lambda: RunSpec.from_flat({"formula": LMTO, "temprature_K": 300}), "temprature_K")


# ----- fuzzing the reader ------------------------------------------------------------------

_known_keys = st.sampled_from([k for keys in SECTIONS.values() for k in keys])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from([LMTO, "random", "annealed", "file", "bulk", "slab", "D_jump"])
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_sections = st.dictionaries(
    st.sampled_from(list(SECTIONS)) | st.text(max_size=6),
    st.dictionaries(_known_keys | st.text(max_size=6), _values, max_size=5) | _values,
    max_size=6,
)


def _check_error(err: DrxkmcError) -> None:
    field = getattr(err, "field", None)
    assert isinstance(field, str) and field, repr(err)
    assert field in str(err), (field, str(err))


@settings(max_examples=300, deadline=None)
@given(_sections)
def test_fuzzed_dicts_raise_only_named_drxkmc_errors(data):
    data.setdefault("material", {"formula": LMTO})
    try:
        spec = RunSpec.from_dict(data, source="fuzz.toml")
    except DrxkmcError as err:
        _check_error(err)
        assert str(err).startswith("fuzz.toml: ")
        return
    assert RunSpec.from_dict(spec.to_dict()) == spec  # anything accepted round-trips


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | _sections.map(lambda d: _toml_or_empty(d)))
def test_fuzzed_toml_text_raises_only_named_drxkmc_errors(text):
    try:
        RunSpec.loads(text, source="fuzz.toml")
    except DrxkmcError as err:
        _check_error(err)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=100))
def test_fuzzed_json_text_raises_only_named_drxkmc_errors(text):
    try:
        RunSpec.loads(text, "json", source="fuzz.json")
    except DrxkmcError as err:
        _check_error(err)
    try:
        RunSpec.loads(json.dumps({"material": {"formula": text}}), "json")
    except DrxkmcError as err:
        _check_error(err)


def _toml_or_empty(d: dict) -> str:
    """TOML text of ``d`` when TOML can hold it (no None, mixed or NaN-free rules aside)."""
    try:
        return tomli_w.dumps(d)
    except (TypeError, ValueError):
        return ""


def test_a_whole_model_replaces_and_single_fields_change_it():
    spec = RunSpec(LMTO, model={"site_disorder_eV": 0.05})
    assert spec.replace(model=drxkmc.BarrierModel()).model == {}
    changed = spec.replace(model={"site_f_eV": -0.1}, site_disorder_eV=0.02)
    assert changed.model == {"site_f_eV": -0.1, "site_disorder_eV": 0.02}
    assert spec.replace(spectator_li_eV=0.01).model == {
        "site_disorder_eV": 0.05,
        "spectator_li_eV": 0.01,
    }
    assert changed.barrier_model() == drxkmc.BarrierModel(site_f_eV=-0.1, site_disorder_eV=0.02)
