"""Exceptions raised by drxkmc. Every input error carries ``.field``, the argument to fix."""

from drxkmc._core import (
    CompositionError,
    DrxkmcError,
    InvalidParameterError,
    SimulationBusyError,
)

__all__ = [
    "DrxkmcError",
    "InvalidParameterError",
    "CompositionError",
    "SimulationBusyError",
    "invalid",
]


def invalid(field: str, reason: str) -> InvalidParameterError:
    """An :class:`InvalidParameterError` for ``field`` (raised by the Python layer's checks)."""
    err = InvalidParameterError(f"{field}: {reason}")
    err.field = field
    return err
