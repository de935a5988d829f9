"""Type stubs of the compiled core (drxkmc._core). The public API is in the Python modules."""

from collections.abc import Callable
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DrxkmcError",
    "InvalidParameterError",
    "CompositionError",
    "SimulationBusyError",
    "MemoryLimitError",
    "LATTICE_PARAMETER_RANGE_A",
    "SPECIES_VACANCY",
    "SPECIES_LI",
    "SPECIES_FIRST_TM",
    "ANION_NAMES",
    "__version__",
    "Composition",
    "supported_cations",
    "Lattice",
    "nn_directions",
    "path_centres",
    "Configuration",
    "default_degradation_model",
    "default_cycling_protocol",
    "validate_degradation_model",
    "validate_cycling_protocol",
    "Cycling",
    "default_barrier_model",
    "uniform_barrier_model",
    "validate_barrier_model",
    "BOLTZMANN_EV_PER_K",
    "Kmc",
    "NO_LI",
    "equilibrate",
    "li_at_potentials",
    "site_energies",
    "kinetic_cutoff_ev",
    "critical_flux",
    "percolation_analysis",
    "WRAP_X",
    "WRAP_Y",
    "WRAP_Z",
    "SURFACE_BOTTOM",
    "SURFACE_TOP",
    "Annealer",
    "sro_warren_cowley",
    "sro_tetrahedra",
    "sro_anion_environments",
    "sro_energy",
]

BOLTZMANN_EV_PER_K: float
LATTICE_PARAMETER_RANGE_A: tuple[float, float]
SPECIES_VACANCY: int
SPECIES_LI: int
SPECIES_FIRST_TM: int
ANION_NAMES: list[str]
__version__: str

class DrxkmcError(ValueError):
    field: str

class InvalidParameterError(DrxkmcError): ...
class CompositionError(DrxkmcError): ...
class MemoryLimitError(DrxkmcError, MemoryError): ...
class SimulationBusyError(DrxkmcError): ...

@final
class Composition:
    def __new__(
        cls, formula: str, oxidation_states: list[tuple[str, float]] | None = None
    ) -> Composition: ...
    formula: str
    li: float
    transition_metals: list[tuple[str, float]]
    anions: tuple[float, float, float]
    cation_sites: float
    cation_vacancies: float
    oxidation_states: list[tuple[str, float]]
    oxidation_overrides: list[tuple[str, float]]
    molar_mass_g_mol: float
    capacity_all_li_mah_g: float
    capacity_tm_redox_mah_g: float
    tm_redox_electrons: float
    capacity_per_electron_mah_g: float

@final
class Lattice:
    def __new__(cls, size: tuple[int, int, int], a: float, geometry: str = "bulk") -> Lattice: ...
    size: tuple[int, int, int]
    a: float
    geometry: str
    n_cations: int
    n_anions: int
    n_tetrahedra: int
    nn_distance: float
    ideal_tetrahedron_height: float
    def cation_positions(self) -> npt.NDArray[np.float64]: ...
    def anion_positions(self) -> npt.NDArray[np.float64]: ...

@final
class Configuration:
    @staticmethod
    def from_species(
        lattice: Lattice,
        cations: npt.NDArray[np.uint8],
        anions: npt.NDArray[np.uint8],
        tm_names: list[str],
    ) -> Configuration: ...
    @staticmethod
    def random(
        lattice: Lattice,
        n_li: int,
        tm_counts: list[int],
        tm_names: list[str],
        n_f: int,
        n_cl: int,
        seed: int,
    ) -> Configuration: ...
    lattice: Lattice
    tm_names: list[str]
    def cations(self) -> npt.NDArray[np.uint8]: ...
    def anions(self) -> npt.NDArray[np.uint8]: ...
    def li_pair_channel_counts(self) -> tuple[int, int, int]: ...
    def valences(self) -> npt.NDArray[np.int8] | None: ...
    def with_valences(self, valences: npt.NDArray[np.int8]) -> Configuration: ...
    def tetrahedral(self) -> list[tuple[int, int, int]]: ...
    def with_tetrahedral(self, tms: list[tuple[int, int, int]]) -> Configuration: ...

def default_degradation_model() -> dict: ...
def default_cycling_protocol() -> dict: ...
def validate_degradation_model(model: dict) -> None: ...
def validate_cycling_protocol(protocol: dict) -> None: ...

@final
class Cycling:
    def __new__(
        cls,
        config: Configuration,
        material: Composition,
        barrier_model: dict,
        degradation_model: dict,
        protocol: dict,
        seed: int,
    ) -> Cycling: ...
    def run_cycle(self) -> dict: ...
    def depth_profile(self) -> dict: ...
    def records(self) -> list[dict]: ...
    def profiles(self) -> list[dict]: ...
    def events(self) -> list[dict]: ...
    def material(self) -> Composition: ...
    cycle: int
    time_s: float
    def configuration(self) -> Configuration: ...
    def charge(self) -> int: ...
    def network_configuration(self) -> Configuration: ...
    def lost_sites(self) -> npt.NDArray[np.bool_]: ...
    def barrier_model(self) -> dict: ...
    def protocol(self) -> dict: ...
    def degradation_model(self) -> dict: ...
    seed: int
    def add_diffusivity(self, record: dict) -> None: ...
    def diffusivity_records(self) -> list[dict]: ...
    def checkpoint(self) -> bytes: ...
    @staticmethod
    def from_checkpoint(data: bytes) -> Cycling: ...

@final
class Kmc:
    def __new__(
        cls, config: Configuration, model: dict, temperature_k: float, seed: int
    ) -> Kmc: ...
    def run(
        self, t_end_s: float, max_hops: int, sample_times_s: npt.NDArray[np.float64]
    ) -> tuple[str, dict[str, np.ndarray]]: ...
    def reset_displacements(self) -> None: ...
    def enable_li_ids(self) -> None: ...
    @property
    def li_ids_enabled(self) -> bool: ...
    def li_ids(self) -> npt.NDArray[np.uint32] | None: ...
    def li_positions(
        self,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]] | None:
        """(ids, unwrapped positions Å of shape (n_Li, 3)) in id order; None when ids are off."""
        ...
    def set_frames(
        self,
        start_s: float,
        every_s: float,
        sink: Callable[[float, int, int, npt.NDArray[np.float64]], object],
    ) -> None: ...
    def clear_frames(self) -> None: ...
    def enable_channel_counts(self) -> None: ...
    def channel_hops(self) -> dict[str, np.ndarray] | None: ...
    def enable_bond_flux(self) -> None: ...
    def bond_flux(self) -> dict[str, np.ndarray] | None: ...
    time_s: float
    hops: int
    temperature_k: float
    tm_names: list[str]
    lattice: Lattice
    total_rate: float
    memory_bytes: int
    def model(self) -> dict: ...
    def set_rate_cap(self, flux_cap_per_s: float, mu_ev: float) -> None: ...
    @property
    def rate_cap(self) -> tuple[float, float]:
        """(flux cap s⁻¹, μ eV)."""
        ...
    def cations(self) -> npt.NDArray[np.uint8]: ...
    def anions(self) -> npt.NDArray[np.uint8]: ...
    def displacements(self) -> npt.NDArray[np.float64]: ...
    def site_energies(self) -> npt.NDArray[np.float64]: ...
    def escape_rates(self) -> npt.NDArray[np.float64]: ...
    def events(self) -> dict[str, np.ndarray]: ...
    def checkpoint(self, material: Composition | None = None) -> bytes: ...
    @staticmethod
    def from_checkpoint(data: bytes) -> tuple[Kmc, Composition | None]: ...

#: Li id of a cation site that holds no Li.
NO_LI: int

def supported_cations() -> list[str]: ...
def default_barrier_model() -> dict: ...
def uniform_barrier_model(barrier_ev: float) -> dict: ...
def validate_barrier_model(model: dict) -> None: ...
def nn_directions() -> npt.NDArray[np.int64]: ...
def path_centres() -> npt.NDArray[np.int64]: ...

# --- equilibrium ---

def equilibrate(
    config: Configuration,
    model: dict,
    temperature_k: float,
    timescale_s: float,
    target_li: int | None,
    sweeps: int,
    seed: int,
) -> tuple[Configuration, dict[str, Any]]:
    """Keys of the dict: mu_ev, n_accessible_li, n_accessible_sites, accessible_li_fraction."""
    ...

def li_at_potentials(
    config: Configuration,
    model: dict,
    temperature_k: float,
    timescale_s: float,
    mus_ev: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def site_energies(config: Configuration, model: dict) -> npt.NDArray[np.float64]: ...
def kinetic_cutoff_ev(model: dict, temperature_k: float, timescale_s: float) -> float: ...
def critical_flux(
    config: Configuration, model: dict, temperature_k: float
) -> tuple[float, float] | None: ...

# --- percolation ---

WRAP_X: int
WRAP_Y: int
WRAP_Z: int
SURFACE_BOTTOM: int
SURFACE_TOP: int

def percolation_analysis(
    config: Configuration,
    max_tm: int = 0,
    barrier_cutoff_ev: float | None = None,
    model: dict | None = None,
    criterion: str = "auto",
) -> dict[str, Any]:
    """Keys: criterion ('wrap' | 'surface'), n_sites, n_open_sites, n_li, n_accessible_sites,
    n_accessible_li, n_bonds, n_clusters, wraps (bits WRAP_X | WRAP_Y | WRAP_Z);
    labels (int32 per cation site, -1 on TM), cluster_sites (uint32), cluster_li (uint32),
    cluster_wraps (uint8 bits), cluster_surfaces (uint8 bits SURFACE_BOTTOM | SURFACE_TOP),
    cluster_accessible (bool)."""
    ...

# --- sro ---

@final
class Annealer:
    def __new__(
        cls,
        config: Configuration,
        cation_charges: list[float],
        strength_ev: float,
        pair_terms: list[tuple[str, str, float]],
        anions: bool,
        seed: int,
    ) -> Annealer: ...
    def run(self, temperature_k: float, sweeps: int) -> dict[str, np.ndarray]:
        """Columns per sweep: sweep, temperature_K, cation_attempts, cation_accepted,
        anion_attempts, anion_accepted, energy_eV, electroneutrality_eV, pair_eV,
        charge_deviation_rms_e."""
        ...
    def stats(self, temperature_k: float) -> dict[str, np.ndarray]: ...
    def configuration(self) -> Configuration: ...
    sweeps: int
    attempts_per_sweep: tuple[int, int]

def sro_warren_cowley(config: Configuration) -> dict[str, object]:
    """Columns: sublattice, shell, distance_A, species_i, species_j, alpha, pairs."""
    ...

def sro_tetrahedra(config: Configuration) -> dict[str, object]:
    """Columns: content, n_Li, n_TM, n_Va, count (15 rows)."""
    ...

def sro_anion_environments(
    config: Configuration, cation_charges: list[float] | None = None
) -> dict[str, object]:
    """Columns: environment, anion, n_Li, n_TM, n_Va, [cation_charge_e], count."""
    ...

def sro_energy(
    config: Configuration,
    cation_charges: list[float],
    strength_ev: float,
    pair_terms: list[tuple[str, str, float]],
) -> tuple[float, float, float]: ...
