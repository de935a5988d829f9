"""Short-range order (SRO): Metropolis annealing and SRO measures.

:func:`anneal` orders a configuration by canonical Metropolis swaps (cation↔cation and, by
default, anion↔anion) under a local-electroneutrality Hamiltonian
(docs/design.md#configurations-and-short-range-order)::

    E = J · Σ_anions (Q − 6·|q_anion|)²  +  Σ_bonds V(a, b)

where Q is the summed oxidation state of the six cations around an anion (an empty site
counts 0): O²⁻ prefers 12+ around it (e.g. OLi₃Mn³⁺₃ or OLi₄Nb⁵⁺Mn³⁺), F⁻ and Cl⁻ prefer 6+
(FLi₆). J is ``strength_eV`` (eV/e²). The optional pair terms ``(a, b, eV)`` add an energy per
nearest-neighbour bond: between two cations (12 per cation, a/√2), a cation and an anion
(6 per cation, a/2) or two anions (12 per anion, a/√2). ``"Va"`` in a pair term means a cation
vacancy. Anion vacancies carry no electroneutrality term.

Moves and their statistics: each attempt swaps two sites of the same sublattice holding
*different* species, drawn uniformly among all such pairs (identical-species swaps are never
proposed, so they are neither attempts nor rejections; acceptance rates are those of real
exchanges). Acceptance is min(1, exp(−ΔE/kT)), which samples exp(−E/kT) at fixed composition.
A sweep is one attempt per site of each sublattice with at least two species. Every lattice is
treated as periodic along x, y and z (a slab's SRO is that of the bulk it is cut from).

:func:`sro` measures SRO: Warren–Cowley parameters of the first (12 at a/√2) and second (6 at
a) shells, tetrahedral sites by cation content, and anion environments.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import polars as pl

from drxkmc import _core
from drxkmc import _validate as check
from drxkmc.configuration import Configuration, composition_formula
from drxkmc.errors import CompositionError, invalid
from drxkmc.material import Material

__all__ = ["DEFAULT_STRENGTH_EV", "SROResult", "anneal", "energy", "sro"]

#: Default electroneutrality strength J, eV/e². No first-principles value exists for this
#: one-parameter model; it is a tunable choice. With 0.01 eV/e², 200 sweeps at a typical DRX
#: synthesis temperature (1273 K, kT ≈ 0.11 eV) give Li1.2Mn0.4Ti0.4O2 partial SRO (nearest-
#: neighbour Li–TM Warren–Cowley parameters of about −0.1 to −0.2 and far fewer 0-TM
#: tetrahedra than the random arrangement), the qualitative effect that cluster-expansion Monte
#: Carlo finds for DRX (Ji et al., Nat. Commun. 10, 592 (2019)). Fit J (and pair terms) to your
#: own data for quantitative work.
DEFAULT_STRENGTH_EV = 0.01

#: Attempted swaps per call into the core: between calls Python shows progress and sees Ctrl-C.
_ATTEMPTS_PER_CHUNK = 4_000_000

# ----- charges ---------------------------------------------------------------------------------


@overload
def _cation_charges(
    config: Configuration,
    oxidation_states: Mapping[str, float] | None,
    *,
    required: Literal[True] = True,
) -> list[float]: ...
@overload
def _cation_charges(
    config: Configuration, oxidation_states: Mapping[str, float] | None, *, required: bool
) -> list[float] | None: ...
def _cation_charges(
    config: Configuration, oxidation_states: Mapping[str, float] | None, *, required: bool = True
) -> list[float] | None:
    """Oxidation state of every cation code (vacancy, Li, TMs in ``tm_names`` order).

    From ``oxidation_states`` (symbol → state) first, then the configuration's Material; without
    either, from a Material built from the configuration's own composition (the redox-active
    TMs are then solved for charge balance).
    """
    states: dict[str, float] = {"Li": 1.0}
    if config.material is not None:
        states.update(config.material.oxidation_states)
    if oxidation_states is not None:
        given = check.number_mapping("oxidation_states", oxidation_states, "{'Mn': 3}")
        known = {"Li", *config.tm_names}
        for symbol, v in given.items():
            if symbol not in known:
                raise invalid(
                    "oxidation_states",
                    f"{symbol!r} is not a cation of this configuration (Li, {', '.join(config.tm_names)})",
                )
            states[symbol] = v
    missing = [s for s in ("Li", *config.tm_names) if s not in states]
    if missing:
        formula = composition_formula(config)
        try:
            inferred = Material.from_formula(formula).oxidation_states
        except CompositionError as e:
            if not required:
                return None
            raise invalid(
                "oxidation_states",
                f"the configuration has no Material and its composition {formula} cannot be "
                f"charge balanced by itself ({e}); pass oxidation_states={{...}} for {missing}",
            ) from None
        for s in missing:
            if s not in inferred:
                if not required:
                    return None
                raise invalid(
                    "oxidation_states", f"no oxidation state for {s}; pass oxidation_states"
                )
            states[s] = inferred[s]
    return [0.0, float(states["Li"]), *(float(states[s]) for s in config.tm_names)]


def _pair_terms(pair_terms) -> list[tuple[str, str, float]]:
    """Normalise pair terms to a list of (species, species, eV)."""
    if pair_terms is None:
        return []
    bad = f"must be a sequence of (species, species, eV) or a mapping {{(a, b): eV}}, got {pair_terms!r}"
    if isinstance(pair_terms, Mapping):
        items = []
        for key, value in pair_terms.items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise invalid("pair_terms", bad)
            items.append((key[0], key[1], value))
    elif isinstance(pair_terms, (str, bytes)) or not isinstance(pair_terms, Sequence):
        raise invalid("pair_terms", bad)
    else:
        items = list(pair_terms)
    out = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise invalid("pair_terms", f"each term must be (species, species, eV), got {item!r}")
        a, b, e = item
        if not isinstance(a, str) or not isinstance(b, str):
            raise invalid("pair_terms", f"species must be element symbols, got {item!r}")
        if not check.is_real(e) or not math.isfinite(float(e)):
            raise invalid("pair_terms", f"energy of ({a}, {b}) must be a number of eV, got {e!r}")
        out.append((a, b, float(e)))
    return out


# ----- annealing -------------------------------------------------------------------------------


def anneal(
    config: Configuration,
    *,
    temperature_K: float | None = None,
    sweeps: int = 100,
    schedule: Sequence[tuple[float, int]] | None = None,
    strength_eV: float = DEFAULT_STRENGTH_EV,
    pair_terms: Sequence[tuple[str, str, float]] | Mapping[tuple[str, str], float] | None = None,
    anions: bool = True,
    oxidation_states: Mapping[str, float] | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> Configuration:
    """Short-range order by Metropolis annealing; returns a new :class:`Configuration`.

    Give either ``temperature_K`` (K, ≥ 0; 0 K is a quench that only accepts ΔE ≤ 0) with
    ``sweeps``, or a ``schedule`` of ``(temperature_K, sweeps)`` stages run in order (e.g. slow
    cooling ``[(3000, 50), (2000, 50), (1500, 100)]``). ``strength_eV`` is J (eV/e²) of the
    electroneutrality term (0 switches it off); ``pair_terms`` are ``(species, species, eV per
    bond)`` such as ``[("Li", "F", -0.05), ("Mn", "Mn", 0.03)]`` (or a mapping
    ``{("Li", "F"): -0.05}``); ``anions=False`` keeps the anions in place. Cation oxidation
    states come from ``oxidation_states`` ({"Mn": 3}), else the configuration's Material, else
    its own composition. The same ``seed`` gives the same result.

    The returned configuration's ``anneal_trace`` attribute is a Polars frame with one row for the
    start (sweep 0) and one per sweep: ``sweep``, ``temperature_K``, ``energy_eV``,
    ``electroneutrality_eV``, ``pair_eV``, ``charge_deviation_rms_e`` (rms of Q − 6|q| over the
    anions, independent of J), ``cation_acceptance`` and ``anion_acceptance`` (accepted /
    attempted swaps in that sweep; null when none were attempted).
    """
    check.instance("config", config, Configuration, "drxkmc.Configuration")
    if schedule is not None:
        if temperature_K is not None:
            raise invalid(
                "schedule", "give either temperature_K (with sweeps) or schedule, not both"
            )
        if isinstance(schedule, (str, bytes)) or not isinstance(schedule, Sequence) or not schedule:
            raise invalid(
                "schedule", f"must be a non-empty list of (temperature_K, sweeps), got {schedule!r}"
            )
        stages = []
        for stage in schedule:
            if not isinstance(stage, (tuple, list)) or len(stage) != 2:
                raise invalid(
                    "schedule", f"each stage must be (temperature_K, sweeps), got {stage!r}"
                )
            stages.append(
                (
                    check.temperature("schedule", stage[0], allow_zero=True),
                    check.count("schedule", stage[1], minimum=0),
                )
            )
    else:
        if temperature_K is None:
            raise invalid("temperature_K", "give the annealing temperature (K) or a schedule")
        stages = [
            (
                check.temperature("temperature_K", temperature_K, allow_zero=True),
                check.count("sweeps", sweeps, minimum=0),
            )
        ]
    strength = check.number("strength_eV", strength_eV, unit="eV/e²")
    terms = _pair_terms(pair_terms)
    anions = check.flag("anions", anions)
    seed = check.seed(seed)
    if progress is not None:
        progress = check.flag("progress", progress)
    charges = _cation_charges(config, oxidation_states)
    annealer = _core.Annealer(config._c, charges, strength, terms, bool(anions), seed)

    per_sweep = max(1, sum(annealer.attempts_per_sweep))
    chunk = max(1, _ATTEMPTS_PER_CHUNK // per_sweep)
    total = sum(n for _, n in stages)
    if progress is None:
        progress = sys.stderr.isatty() and total * per_sweep > 20 * _ATTEMPTS_PER_CHUNK
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="sweep", desc="anneal", leave=False)
    parts = [annealer.stats(stages[0][0])]
    try:
        for t, n in stages:
            while n > 0:
                step = min(n, chunk)
                parts.append(annealer.run(t, step))
                n -= step
                if bar is not None:
                    bar.update(step)
    finally:
        if bar is not None:
            bar.close()
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def rate(acc: np.ndarray, att: np.ndarray) -> pl.Series:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = acc / att
        return pl.Series(np.where(att > 0, r, np.nan)).fill_nan(None)

    trace = pl.DataFrame(
        {
            "sweep": cols["sweep"],
            "temperature_K": cols["temperature_K"],
            "energy_eV": cols["energy_eV"],
            "electroneutrality_eV": cols["electroneutrality_eV"],
            "pair_eV": cols["pair_eV"],
            "charge_deviation_rms_e": cols["charge_deviation_rms_e"],
            "cation_acceptance": rate(cols["cation_accepted"], cols["cation_attempts"]),
            "anion_acceptance": rate(cols["anion_accepted"], cols["anion_attempts"]),
        }
    )
    out = Configuration(annealer.configuration(), config.material)
    out.anneal_trace = trace
    return out


def energy(
    config: Configuration,
    *,
    strength_eV: float = DEFAULT_STRENGTH_EV,
    pair_terms: Sequence[tuple[str, str, float]] | Mapping[tuple[str, str], float] | None = None,
    oxidation_states: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Energy of ``config`` under the annealing Hamiltonian (same arguments as :func:`anneal`):
    ``energy_eV``, ``electroneutrality_eV``, ``pair_eV`` and ``charge_deviation_rms_e``."""
    check.instance("config", config, Configuration, "drxkmc.Configuration")
    strength = check.number("strength_eV", strength_eV, unit="eV/e²")
    charges = _cation_charges(config, oxidation_states)
    en, pair, rms = _core.sro_energy(config._c, charges, strength, _pair_terms(pair_terms))
    return {
        "energy_eV": en + pair,
        "electroneutrality_eV": en,
        "pair_eV": pair,
        "charge_deviation_rms_e": rms,
    }


# ----- measures --------------------------------------------------------------------------------


@dataclass
class SROResult:
    """Short-range order of one configuration.

    ``warren_cowley``: ``sublattice`` ("cation", or "anion" when it holds two or more species),
    ``shell`` (1: 12 neighbours at a/√2; 2: 6 at a), ``distance_A``, ``species_i``,
    ``species_j``, ``alpha`` = 1 − P(j | neighbour of i)/c_j (0 random, < 0 i and j attract,
    > 0 they avoid each other) and ``pairs`` (directed i–j neighbour pairs counted).

    ``tetrahedra``: every cation content of a tetrahedral site's four face-sharing octahedra,
    ``content`` ("Li4", "Li3TM1", "Li2TM1Va1", …), ``n_Li``, ``n_TM``, ``n_Va``, ``count`` and
    ``fraction`` (of all tetrahedra).

    ``anion_environments``: ``environment`` (anion and its six cation neighbours, Li first,
    TMs alphabetically, Va last: "O:Li3Mn3", "O:Li4Mn1Nb1", "F:Li6"), ``anion``, ``n_Li``,
    ``n_TM``, ``n_Va``, ``cation_charge_e`` (summed oxidation state of the six cations, when
    oxidation states are known), ``count`` and ``fraction`` (of the anions of that species),
    most common first.
    """

    warren_cowley: pl.DataFrame
    tetrahedra: pl.DataFrame
    anion_environments: pl.DataFrame

    def alpha(
        self, species_i: str, species_j: str, *, shell: int = 1, sublattice: str = "cation"
    ) -> float:
        """One Warren–Cowley parameter."""
        row = self.warren_cowley.filter(
            (pl.col("sublattice") == sublattice)
            & (pl.col("shell") == shell)
            & (pl.col("species_i") == species_i)
            & (pl.col("species_j") == species_j)
        )
        if row.height != 1:
            raise invalid(
                "species_i",
                f"no {sublattice} shell-{shell} pair ({species_i}, {species_j}) in this configuration",
            )
        return float(row["alpha"][0])

    def mean_neighbours(self, anion: str, kind: str = "Li") -> float:
        """Mean number of ``kind`` ("Li", "TM" or "Va") among the six cations around ``anion``."""
        if kind not in ("Li", "TM", "Va"):
            raise invalid("kind", f"must be 'Li', 'TM' or 'Va', got {kind!r}")
        env = self.anion_environments.filter(pl.col("anion") == anion)
        if env.height == 0:
            raise invalid("anion", f"no {anion!r} anion in this configuration")
        weighted = (env[f"n_{kind}"].cast(pl.Float64) * env["count"]).sum()
        return float(weighted) / float(env["count"].sum())

    def environment_fraction(self, environment: str) -> float:
        """Fraction of the anions of its species that have ``environment`` (0 if none)."""
        row = self.anion_environments.filter(pl.col("environment") == environment)
        return float(row["fraction"][0]) if row.height else 0.0


def sro(config: Configuration, *, oxidation_states: Mapping[str, float] | None = None) -> SROResult:
    """Measure the short-range order of ``config`` (see :class:`SROResult`)."""
    check.instance("config", config, Configuration, "drxkmc.Configuration")
    wc = pl.DataFrame(_core.sro_warren_cowley(config._c))
    tet = pl.DataFrame(_core.sro_tetrahedra(config._c))
    tet = tet.with_columns((pl.col("count") / pl.col("count").sum()).alias("fraction"))
    charges = _cation_charges(config, oxidation_states, required=oxidation_states is not None)
    env = pl.DataFrame(_core.sro_anion_environments(config._c, charges))
    env = env.with_columns(
        (pl.col("count") / pl.col("count").sum().over("anion")).alias("fraction")
    )
    return SROResult(warren_cowley=wc, tetrahedra=tet, anion_environments=env)
