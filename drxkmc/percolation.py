"""Percolation of the Li diffusion network, accessible Li and the capacity it allows.

The network's nodes are the non-TM cation sites (Li or vacancy). Two nearest neighbours are
joined when one of their two shared tetrahedra is an open channel
(docs/design.md#percolation-and-accessible-capacity):

* k-TM rule (default, ``max_tm=k``): the tetrahedron has at most k TM among its two spectator
  vertices. ``max_tm=0`` is the 0-TM network of Lee et al., Science 343, 519 (2014) and Urban,
  Lee, Ceder, Adv. Energy Mater. 4, 1400478 (2014); ``max_tm=1`` also admits 1-TM channels.
* barrier rule (``barrier_cutoff_eV=E``): the tetrahedron's intrinsic E_KRA under the barrier
  model (no Li on the spectators, no site energies) is below E, so F, Cl and tetrahedron-height
  effects show up in percolation too.

Accessible Li are the Li on clusters that wrap the periodic box along at least one axis (bulk),
or that reach a surface plane (slab). The analysis runs in the Rust core (union-find with
winding numbers, no size heuristics); ≈10^7 cation sites take a few seconds on one thread
(``benchmarks/bench_percolation.py``).

>>> material = Material.from_formula("Li1.2Mn0.4Ti0.4O2")
>>> config = Configuration.random(material, Lattice(12), seed=1)
>>> result = percolation(config)           # 0-TM network
>>> result.accessible_li_fraction, result.capacity_mAh_g
>>> result.summary                         # one-row Polars frame
>>> percolation_sweep(
...     [Material.from_formula(f) for f in ("Li1.1Mn0.9O2", "Li1.2Mn0.4Ti0.4O2")],
...     Lattice(10),
... )                                      # mean and spread over seeds, one row per point
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.configuration import Configuration, check_material
from drxkmc.errors import invalid
from drxkmc.lattice import Lattice
from drxkmc.material import Material, as_material
from drxkmc.model import BarrierModel
from drxkmc.plot import plot_cluster_slice, plot_percolation_curve

__all__ = [
    "PercolationResult",
    "percolation",
    "percolation_sweep",
    "plot_cluster_slice",
    "plot_percolation_curve",
]

_CRITERIA = ("auto", "wrap", "surface")


@dataclass(frozen=True)
class PercolationResult:
    """What :func:`percolation` returns. Fractions are in [0, 1] (NaN when undefined, e.g. no
    Li); per-formula-unit amounts and capacities are NaN when the configuration has no
    :class:`Material`."""

    #: ``"0-TM"``, ``"1-TM"``, ``"2-TM"`` or ``"E_KRA < 0.4 eV"``.
    rule: str
    #: k of the k-TM rule (None with the barrier rule).
    max_tm: int | None
    #: Cut-off of the barrier rule, eV (None with the k-TM rule).
    barrier_cutoff_eV: float | None
    #: ``"wrap"`` (bulk: wraps the box) or ``"surface"`` (slab: reaches a surface).
    criterion: str
    n_sites: int
    #: Non-TM cation sites: the nodes of the network.
    n_open_sites: int
    n_li: int
    n_accessible_li: int
    n_accessible_sites: int
    #: Joined nearest-neighbour pairs.
    n_bonds: int
    #: Li on accessible clusters / all Li.
    accessible_li_fraction: float
    #: Non-TM sites on accessible clusters / all non-TM sites.
    accessible_site_fraction: float
    #: Accessible Li per formula unit of the material.
    accessible_li_per_fu: float
    #: Percolation-limited capacity: accessible Li per f.u. as electrons, mAh/g.
    capacity_mAh_g: float
    #: Capacity if every Li of the formula were extracted, mAh/g.
    capacity_all_li_mAh_g: float
    #: Capacity from TM redox alone (oxidation states), mAh/g.
    capacity_tm_redox_mAh_g: float
    #: Whether some cluster wraps along x, y, z (any cluster, accessible or not).
    wraps: tuple[bool, bool, bool]
    #: Cluster label of every cation site (cation-index order, as
    #: ``Lattice.cation_positions()``); −1 on TM sites. Label 0 is the largest cluster.
    labels: np.ndarray = field(repr=False)
    #: One row per cluster (by label): sites, Li, wrap axes, surfaces reached, accessible.
    clusters: pl.DataFrame = field(repr=False)
    lattice: Lattice = field(repr=False)
    formula: str | None = None
    temperature_K: float | None = None
    #: ν·exp(−E_cut/kT): the slowest single-path hop rate counted as open, s⁻¹ (barrier
    #: rule with ``temperature_K`` only).
    cutoff_rate_per_s: float | None = None

    @property
    def percolates(self) -> bool:
        """Whether any cluster is accessible (wraps the box, or reaches a surface)."""
        return self.n_accessible_sites > 0

    @property
    def n_clusters(self) -> int:
        return self.clusters.height

    def accessible_sites(self) -> np.ndarray:
        """Boolean mask over cation sites: non-TM sites on accessible clusters."""
        acc = self.clusters["accessible"].to_numpy()
        mask = self.labels >= 0
        out = np.zeros(self.labels.shape, dtype=bool)
        out[mask] = acc[self.labels[mask]]
        return out

    @property
    def summary(self) -> pl.DataFrame:
        """All scalar results as a one-row frame (units in the column names)."""
        sizes = self.clusters["n_sites"]
        return pl.DataFrame(
            {
                "formula": [self.formula],
                "rule": [self.rule],
                "max_tm": [self.max_tm],
                "barrier_cutoff_eV": [self.barrier_cutoff_eV],
                "temperature_K": [self.temperature_K],
                "cutoff_rate_per_s": [self.cutoff_rate_per_s],
                "criterion": [self.criterion],
                "n_sites": [self.n_sites],
                "n_open_sites": [self.n_open_sites],
                "n_li": [self.n_li],
                "n_accessible_li": [self.n_accessible_li],
                "n_clusters": [self.n_clusters],
                "largest_cluster_sites": [int(sizes[0]) if len(sizes) else 0],
                "percolates": [self.percolates],
                "wraps_x": [self.wraps[0]],
                "wraps_y": [self.wraps[1]],
                "wraps_z": [self.wraps[2]],
                "accessible_li_fraction": [self.accessible_li_fraction],
                "accessible_site_fraction": [self.accessible_site_fraction],
                "accessible_li_per_fu": [self.accessible_li_per_fu],
                "capacity_mAh_g": [self.capacity_mAh_g],
                "capacity_all_li_mAh_g": [self.capacity_all_li_mAh_g],
                "capacity_tm_redox_mAh_g": [self.capacity_tm_redox_mAh_g],
            },
            schema_overrides={
                "formula": pl.String,
                "max_tm": pl.Int64,
                "barrier_cutoff_eV": pl.Float64,
                "temperature_K": pl.Float64,
                "cutoff_rate_per_s": pl.Float64,
            },
        )

    def plot_slice(self, z: int = 0, ax=None):
        """One cation plane coloured by cluster; see :func:`plot_cluster_slice`."""
        return plot_cluster_slice(self, z=z, ax=ax)


# ----- argument checks ---------------------------------------------------------------------


def _check_rule(max_tm, barrier_cutoff_eV, model, temperature_K):
    """(max_tm or None, cutoff or None, model or None, temperature or None), all checked."""
    k = check.integer("max_tm", max_tm, minimum=0, maximum=2)
    if barrier_cutoff_eV is None:
        if model is not None:
            raise invalid("model", "is only used with barrier_cutoff_eV (the k-TM rule)")
        if temperature_K is not None:
            raise invalid("temperature_K", "is only used with barrier_cutoff_eV")
        return k, None, None, None
    if k != 0:
        raise invalid(
            "max_tm",
            "cannot be combined with barrier_cutoff_eV: the barrier rule replaces the k-TM rule",
        )
    cut = check.number("barrier_cutoff_eV", barrier_cutoff_eV, unit="eV", positive=True)
    model = BarrierModel() if model is None else model
    check.instance("model", model, BarrierModel, "drxkmc.BarrierModel")
    temp = None if temperature_K is None else check.temperature("temperature_K", temperature_K)
    return None, cut, model, temp


def _check_criterion(criterion, lattice: Lattice) -> str:
    check.choice("criterion", criterion, _CRITERIA)
    if criterion == "surface" and lattice.geometry != "slab":
        raise invalid(
            "criterion",
            "'surface' needs a slab lattice (geometry='slab'); a bulk cell has no surfaces, "
            "use 'wrap' or 'auto'",
        )
    return criterion


# ----- the analysis ------------------------------------------------------------------------


def percolation(
    config: Configuration,
    max_tm: int = 0,
    *,
    barrier_cutoff_eV: float | None = None,
    model: BarrierModel | None = None,
    temperature_K: float | None = None,
    criterion: str = "auto",
    material: Material | None = None,
) -> PercolationResult:
    """Percolation analysis of the Li network of ``config``.

    Parameters
    ----------
    max_tm
        k of the k-TM rule: 0 (0-TM channels only), 1 or 2.
    barrier_cutoff_eV
        Use the barrier rule instead: a tetrahedron is open when its intrinsic E_KRA under
        ``model`` (default :class:`BarrierModel`) is below this value, eV. ``max_tm`` must
        then be left at 0.
    temperature_K
        Barrier rule only: also report ``cutoff_rate_per_s`` = ν·exp(−E_cut/kT).
    criterion
        ``"auto"`` (bulk → ``"wrap"``, slab → ``"surface"``), ``"wrap"`` (the cluster wraps
        the periodic box along some axis; in a slab x or y) or ``"surface"`` (slab only: the
        cluster reaches the first or last cation plane).
    material
        Formula for per-f.u. amounts and capacities (default: ``config.material``); it must
        match the configuration's species (see :meth:`Configuration.from_species`).

    Every argument is checked before the analysis; bad values raise
    :class:`drxkmc.InvalidParameterError` naming the field.
    """
    check.instance("config", config, Configuration, "drxkmc.Configuration")
    k, cut, model, temp = _check_rule(max_tm, barrier_cutoff_eV, model, temperature_K)
    lattice = config.lattice
    criterion = _check_criterion(criterion, lattice)
    if material is None:
        material = config.material
    else:
        material = check_material(config, as_material(material))

    if cut is None:
        raw = _core.percolation_analysis(config._c, k, None, None, criterion)
        rule = f"{k}-TM"
    else:
        raw = _core.percolation_analysis(config._c, 0, cut, model._core_dict(), criterion)
        rule = f"E_KRA < {cut:g} eV"
    return _result(raw, lattice, material, rule, k, cut, model, temp)


def _result(raw, lattice, material, rule, k, cut, model, temp) -> PercolationResult:
    n_sites, n_li = int(raw["n_sites"]), int(raw["n_li"])
    n_open = int(raw["n_open_sites"])
    n_acc_li, n_acc_sites = int(raw["n_accessible_li"]), int(raw["n_accessible_sites"])
    wraps = int(raw["wraps"])
    cw = raw["cluster_wraps"]
    cs = raw["cluster_surfaces"]
    clusters = pl.DataFrame(
        {
            "label": np.arange(len(raw["cluster_sites"]), dtype=np.int32),
            "n_sites": raw["cluster_sites"],
            "n_li": raw["cluster_li"],
            "wraps_x": (cw & _core.WRAP_X) != 0,
            "wraps_y": (cw & _core.WRAP_Y) != 0,
            "wraps_z": (cw & _core.WRAP_Z) != 0,
            "touches_bottom": (cs & _core.SURFACE_BOTTOM) != 0,
            "touches_top": (cs & _core.SURFACE_TOP) != 0,
            "accessible": raw["cluster_accessible"],
        }
    )
    nan = float("nan")
    if material is not None:
        n_fu = n_sites / material.cation_sites
        li_per_fu = n_acc_li / n_fu
        c = material._c
        capacity = li_per_fu * c.capacity_per_electron_mah_g
        cap_all, cap_tm = c.capacity_all_li_mah_g, c.capacity_tm_redox_mah_g
        formula = material.formula
    else:
        li_per_fu = capacity = cap_all = cap_tm = nan
        formula = None
    rate = None
    if temp is not None:
        kt = _core.BOLTZMANN_EV_PER_K * temp
        rate = model.attempt_frequency_hz * math.exp(-cut / kt)
    return PercolationResult(
        rule=rule,
        max_tm=k,
        barrier_cutoff_eV=cut,
        criterion=str(raw["criterion"]),
        n_sites=n_sites,
        n_open_sites=n_open,
        n_li=n_li,
        n_accessible_li=n_acc_li,
        n_accessible_sites=n_acc_sites,
        n_bonds=int(raw["n_bonds"]),
        accessible_li_fraction=n_acc_li / n_li if n_li else nan,
        accessible_site_fraction=n_acc_sites / n_open if n_open else nan,
        accessible_li_per_fu=li_per_fu,
        capacity_mAh_g=capacity,
        capacity_all_li_mAh_g=cap_all,
        capacity_tm_redox_mAh_g=cap_tm,
        wraps=(bool(wraps & _core.WRAP_X), bool(wraps & _core.WRAP_Y), bool(wraps & _core.WRAP_Z)),
        labels=raw["labels"],
        clusters=clusters,
        lattice=lattice,
        formula=formula,
        temperature_K=temp,
        cutoff_rate_per_s=rate,
    )


# ----- sweeps ------------------------------------------------------------------------------

_SWEEP_QUANTITIES = (
    "accessible_li_fraction",
    "accessible_site_fraction",
    "accessible_li_per_fu",
    "capacity_mAh_g",
)


def percolation_sweep(
    material: Material | str | Sequence[Material | str],
    lattice: Lattice,
    *,
    li_contents: Iterable[float] | None = None,
    delithiation: str = "electrochemical",
    max_tm: int = 0,
    barrier_cutoff_eV: float | None = None,
    model: BarrierModel | None = None,
    criterion: str = "auto",
    seeds: Iterable[int] = range(5),
    per_seed: bool = False,
) -> pl.DataFrame:
    """The percolation curve: random configurations per point, mean and spread over seeds.

    ``material`` is one composition or a sequence of them (Material objects or formula
    strings), e.g. a Li-excess series ``Li{x}Mn{2-x}O2`` or a fluorination series; for each,
    ``li_contents`` (Li per f.u. present, default the formula's) sets the state of charge,
    reached by ``delithiation`` (see :meth:`Configuration.random`).
    Each (material, Li content) point is analysed on ``Configuration.random`` for every seed.

    Returns one row per point, in input order: ``formula``, ``li_per_fu`` (the formula's Li
    per f.u.), ``tm_per_site`` (TM per cation site), ``li_content``, ``n_seeds``, the mean
    and sample standard deviation (``_mean``, ``_std``) of ``accessible_li_fraction``,
    ``accessible_site_fraction``, ``accessible_li_per_fu`` and ``capacity_mAh_g``,
    ``percolation_probability`` (fraction of seeds with an accessible cluster), and the
    formula's ``capacity_all_li_mAh_g`` and ``capacity_tm_redox_mAh_g``. With
    ``per_seed=True`` one row per seed instead.
    """
    materials = _materials(material)
    check.instance("lattice", lattice, Lattice, "drxkmc.Lattice")
    k, cut, model, _ = _check_rule(max_tm, barrier_cutoff_eV, model, None)
    criterion = _check_criterion(criterion, lattice)
    seeds = check.seeds(seeds)
    per_seed = check.flag("per_seed", per_seed)
    if li_contents is not None:
        li_contents = check.number_array("li_contents", li_contents).tolist()
    points = []
    for m in materials:
        for li in [m.li] if li_contents is None else li_contents:
            li_max = m.li + m.cation_vacancies
            if not math.isfinite(li) or li < 0 or li > li_max + 1e-9:
                raise invalid(
                    "li_contents",
                    f"must be between 0 and {li_max:g} Li per formula unit for {m.formula}, "
                    f"got {li}",
                )
            points.append((m, li))

    rows = []
    for point, (m, li) in enumerate(points):
        for seed in seeds:
            config = Configuration.random(
                m, lattice, li_content=li, seed=seed, delithiation=delithiation
            )
            r = percolation(
                config,
                max_tm=k if cut is None else 0,
                barrier_cutoff_eV=cut,
                model=model,
                criterion=criterion,
            )
            rows.append(
                {
                    "point": point,
                    "formula": m.formula,
                    "li_per_fu": m.li,
                    "tm_per_site": sum(m.transition_metals.values()) / m.cation_sites,
                    "li_content": li,
                    "seed": seed,
                    "percolates": r.percolates,
                    **{q: getattr(r, q) for q in _SWEEP_QUANTITIES},
                    "capacity_all_li_mAh_g": r.capacity_all_li_mAh_g,
                    "capacity_tm_redox_mAh_g": r.capacity_tm_redox_mAh_g,
                }
            )
    long = pl.DataFrame(rows).with_columns(
        pl.lit(k if cut is None else None, dtype=pl.Int64).alias("max_tm"),
        pl.lit(cut, dtype=pl.Float64).alias("barrier_cutoff_eV"),
    )
    if per_seed:
        return long.drop("point")
    keys = ["point", "formula", "li_per_fu", "tm_per_site", "li_content"]
    aggs = [pl.len().alias("n_seeds")]
    for q in _SWEEP_QUANTITIES:
        aggs += [pl.col(q).mean().alias(f"{q}_mean"), pl.col(q).std().alias(f"{q}_std")]
    aggs += [
        pl.col("percolates").cast(pl.Float64).mean().alias("percolation_probability"),
        pl.col("capacity_all_li_mAh_g").first(),
        pl.col("capacity_tm_redox_mAh_g").first(),
        pl.col("max_tm").first(),
        pl.col("barrier_cutoff_eV").first(),
    ]
    return long.group_by(keys, maintain_order=True).agg(aggs).sort("point").drop("point")


def _materials(material) -> list[Material]:
    items = [material] if isinstance(material, (Material, str)) else material
    if isinstance(items, (bytes, dict)) or not isinstance(items, Iterable):
        raise invalid(
            "material", f"must be a Material, a formula or a sequence of them, got {material!r}"
        )
    items = list(items)
    if not items:
        raise invalid("material", "needs at least one composition")
    return [as_material(m) for m in items]
