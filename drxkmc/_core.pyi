"""Type stubs of the compiled core (drxkmc._core). The public API is in the Python modules."""

import numpy as np
import numpy.typing as npt

BOLTZMANN_EV_PER_K: float
LATTICE_PARAMETER_RANGE_A: tuple[float, float]
__version__: str

class DrxkmcError(ValueError):
    field: str

class InvalidParameterError(DrxkmcError): ...
class CompositionError(DrxkmcError): ...
class MemoryLimitError(DrxkmcError, MemoryError): ...
class SimulationBusyError(DrxkmcError): ...

class Composition:
    def __init__(
        self, formula: str, oxidation_states: list[tuple[str, float]] | None = None
    ) -> None: ...
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

class Lattice:
    def __init__(self, size: tuple[int, int, int], a: float, geometry: str = "bulk") -> None: ...
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

class Kmc:
    def __init__(
        self, config: Configuration, model: dict, temperature_k: float, seed: int
    ) -> None: ...
    def run(
        self, t_end_s: float, max_hops: int, sample_times_s: npt.NDArray[np.float64]
    ) -> tuple[str, dict[str, np.ndarray]]: ...
    def reset_displacements(self) -> None: ...
    time_s: float
    hops: int
    temperature_k: float
    tm_names: list[str]
    lattice: Lattice
    total_rate: float
    memory_bytes: int
    def model(self) -> dict: ...
    def cations(self) -> npt.NDArray[np.uint8]: ...
    def anions(self) -> npt.NDArray[np.uint8]: ...
    def displacements(self) -> npt.NDArray[np.float64]: ...
    def site_energies(self) -> npt.NDArray[np.float64]: ...
    def escape_rates(self) -> npt.NDArray[np.float64]: ...
    def events(self) -> dict[str, np.ndarray]: ...
    def checkpoint(self, material: Composition | None = None) -> bytes: ...
    @staticmethod
    def from_checkpoint(data: bytes) -> tuple[Kmc, Composition | None]: ...

def default_barrier_model() -> dict: ...
def uniform_barrier_model(barrier_ev: float) -> dict: ...
def validate_barrier_model(model: dict) -> None: ...
def nn_directions() -> npt.NDArray[np.int64]: ...
def path_centres() -> npt.NDArray[np.int64]: ...

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
) -> dict[str, object]:
    """Keys: criterion ('wrap' | 'surface'), n_sites, n_open_sites, n_li, n_accessible_sites,
    n_accessible_li, n_bonds, n_clusters, wraps (bits WRAP_X | WRAP_Y | WRAP_Z);
    labels (int32 per cation site, -1 on TM), cluster_sites (uint32), cluster_li (uint32),
    cluster_wraps (uint8 bits), cluster_surfaces (uint8 bits SURFACE_BOTTOM | SURFACE_TOP),
    cluster_accessible (bool)."""
    ...

# --- sro ---

class Annealer:
    def __init__(
        self,
        config: Configuration,
        cation_charges: list[float],
        strength_ev: float,
        pair_terms: list[tuple[str, str, float]],
        anions: bool,
        seed: int,
    ) -> None: ...
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
