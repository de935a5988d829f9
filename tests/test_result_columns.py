"""Result dicts of the compiled module, built from the core's serde result structs: an empty
result has the same keys and column types as a full one, and columns have one length."""

from __future__ import annotations

import math

import numpy as np

import drxkmc
from drxkmc import _core


def _schema(d: dict) -> dict:
    """Key → (kind, dtype, trailing shape) of a result dict."""
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            out[k] = ("array", v.dtype, v.shape[1:])
        elif isinstance(v, list):
            out[k] = ("list", None, ())
        else:
            out[k] = (type(v).__name__, None, ())
    return out


def _lengths(d: dict) -> set[int]:
    return {len(v) for v in d.values() if isinstance(v, (np.ndarray, list))}


def _config(cations: np.ndarray, lat: drxkmc.Lattice, tm: list[str]):
    return _core.Configuration.from_species(
        lat._l, cations.astype(np.uint8), np.zeros(lat.n_anions, dtype=np.uint8), tm
    )


def test_empty_results_keep_their_keys_and_types():
    lat = drxkmc.Lattice(2)
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
    cfg = drxkmc.Configuration.random(mat, lat, li_content=0.8, seed=1)
    model = drxkmc.BarrierModel()._core_dict()
    kmc = _core.Kmc(cfg._c, model, 600.0, 1)
    t = kmc.time_s
    _, sampled = kmc.run(math.inf, 100, np.array([t + 1e-15, t + 2e-15]))
    _, none = kmc.run(math.inf, 10, np.empty(0))
    assert _schema(sampled) == _schema(none)
    assert _lengths(sampled) == {2} and _lengths(none) == {0}
    assert sampled["octant_li"].shape == (2, 8)
    # Events: a Li with every neighbour a TM has none.
    events = kmc.events()
    codes = np.full(lat.n_cations, _core.SPECIES_FIRST_TM)
    codes[0] = _core.SPECIES_LI
    jammed = _core.Kmc(_config(codes, lat, ["Mn"]), model, 600.0, 1)
    assert len(events["path"]) > 0 and len(jammed.events()["path"]) == 0
    assert _schema(events) == _schema(jammed.events())
    assert np.array_equal(events["direction"], events["path"] // 2)
    # Percolation of a lattice with no open site: no cluster, same column types.
    full = _core.percolation_analysis(cfg._c)
    empty = _core.percolation_analysis(_config(codes * 0 + _core.SPECIES_FIRST_TM, lat, ["Mn"]))
    assert empty["n_clusters"] == 0 and full["n_clusters"] == len(full["cluster_sites"]) > 0
    assert _schema(full) == _schema(empty)
    assert full["wraps"] == np.bitwise_or.reduce(full["cluster_wraps"])


def test_row_results_are_rectangular():
    lat = drxkmc.Lattice(2)
    mat = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O1.6F0.4")
    cfg = drxkmc.Configuration.random(mat, lat, li_content=0.8, seed=2)
    charges = [0.0, 1.0, 3.0, 4.0]
    for d in (
        _core.sro_warren_cowley(cfg._c),
        _core.sro_tetrahedra(cfg._c),
        _core.sro_anion_environments(cfg._c, None),
        _core.sro_anion_environments(cfg._c, charges),
        _core.Annealer(cfg._c, charges, 0.1, [], True, 1).run(1000.0, 3),
    ):
        assert len(_lengths(d)) == 1 and _lengths(d) != {0}, d.keys()
    with_q = _core.sro_anion_environments(cfg._c, charges)
    without = _core.sro_anion_environments(cfg._c, None)
    assert set(with_q) - set(without) == {"cation_charge_e"}
    tet = _core.sro_tetrahedra(cfg._c)
    assert np.all(tet["n_Li"] + tet["n_TM"] + tet["n_Va"] == 4)
