"""drxkmc: kinetic Monte Carlo of Li diffusion in cation-disordered rocksalt cathodes.

Build a :class:`Material` from a formula, place it on a :class:`Lattice` as a
:class:`Configuration`, choose a :class:`BarrierModel`, and run a :class:`Simulation`;
results come back as Polars DataFrames. :class:`Cycling` charges and discharges a slab with
TM migration and O loss (:class:`DegradationModel`, :class:`CyclingProtocol`).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from drxkmc._core import BOLTZMANN_EV_PER_K
from drxkmc.arrhenius import ArrheniusResult, arrhenius
from drxkmc.configuration import Configuration
from drxkmc.cycling_runs import CyclingSpec, cycle_or_resume
from drxkmc.degradation import (
    Cycling,
    CyclingProtocol,
    DegradationModel,
    DiffusivityProbe,
    TimescaleWarning,
)
from drxkmc.electrochem import extractable_capacity, state_of_charge_sweep, voltage_curve
from drxkmc.errors import (
    CompositionError,
    DrxkmcError,
    InvalidParameterError,
    MemoryLimitError,
    SimulationBusyError,
)
from drxkmc.lattice import Lattice
from drxkmc.material import Material
from drxkmc.model import BarrierModel
from drxkmc.percolation import PercolationResult, percolation, percolation_sweep
from drxkmc.replicas import run_replicas
from drxkmc.runs import RunInterrupted, run_or_resume
from drxkmc.simulation import ConvergenceWarning, RunResult, Simulation
from drxkmc.spec import RunSpec
from drxkmc.sro import SROResult, anneal, sro
from drxkmc.sweep import sweep
from drxkmc.trajectory import TrajectoryWriter, kinisi_check

try:
    __version__: str = _version("drxkmc")
except PackageNotFoundError:  # imported from a source tree that was never installed
    from drxkmc._core import __version__

__all__ = [
    "BOLTZMANN_EV_PER_K",
    "ArrheniusResult",
    "BarrierModel",
    "CompositionError",
    "Configuration",
    "ConvergenceWarning",
    "Cycling",
    "CyclingProtocol",
    "CyclingSpec",
    "DegradationModel",
    "DiffusivityProbe",
    "DrxkmcError",
    "InvalidParameterError",
    "Lattice",
    "Material",
    "MemoryLimitError",
    "PercolationResult",
    "RunInterrupted",
    "RunResult",
    "RunSpec",
    "SROResult",
    "Simulation",
    "SimulationBusyError",
    "TimescaleWarning",
    "TrajectoryWriter",
    "__version__",
    "anneal",
    "arrhenius",
    "cycle_or_resume",
    "extractable_capacity",
    "kinisi_check",
    "percolation",
    "percolation_sweep",
    "run_or_resume",
    "run_replicas",
    "sro",
    "state_of_charge_sweep",
    "sweep",
    "voltage_curve",
]
