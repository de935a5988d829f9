"""Exceptions raised by drxkmc. Every input error carries ``.field``, the argument to fix.

:class:`MemoryLimitError` is both a :class:`DrxkmcError` and a :class:`MemoryError`: a lattice
too large for the memory available (the address-space limit, free RAM or the cgroup limit,
whichever is tightest) is refused before anything is allocated, with ``.field == "size"`` and
a message giving the estimate.
"""

from drxkmc._core import (
    CompositionError,
    DrxkmcError,
    InvalidParameterError,
    MemoryLimitError,
    SimulationBusyError,
)

__all__ = [
    "DrxkmcError",
    "InvalidParameterError",
    "CompositionError",
    "MemoryLimitError",
    "SimulationBusyError",
    "invalid",
]


def invalid(field: str, reason: str) -> InvalidParameterError:
    """An :class:`InvalidParameterError` for ``field`` (raised by the Python layer's checks)."""
    err = InvalidParameterError(f"{field}: {reason}")
    err.field = field
    return err
