"""Argument checks shared by every public function.

Each check returns the value in its canonical type or raises
:class:`drxkmc.InvalidParameterError` whose ``.field`` names the argument, before any work
starts. Numbers are real numbers (Python or NumPy), never strings or booleans: ``"0.6"``
is refused rather than parsed, so a mistyped argument cannot pass silently.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from drxkmc.errors import invalid

#: Largest seed: the core's generators take a 64-bit integer.
SEED_LIMIT = 2**64


def _type_name(value: Any) -> str:
    return type(value).__name__


def instance(field: str, value: Any, cls: type, what: str | None = None) -> Any:
    """``value`` if it is a ``cls`` (``what`` names the class in the message)."""
    if not isinstance(value, cls):
        raise invalid(field, f"must be a {what or cls.__name__}, got {_type_name(value)}")
    return value


def is_real(value: Any) -> bool:
    """A real number that is not a boolean (NumPy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def number(
    field: str,
    value: Any,
    *,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number, > 0 if ``positive``, within [``minimum``, ``maximum``]."""
    what = f"a number of {unit}" if unit else "a number"
    if not is_real(value):
        raise invalid(field, f"must be {what}, got {value!r} ({_type_name(value)})")
    v = float(value)
    if not math.isfinite(v):
        raise invalid(field, f"must be a finite number, got {value!r}")
    if positive and v <= 0:
        raise invalid(field, f"must be > 0, got {value!r}")
    low = -math.inf if minimum is None else minimum
    high = math.inf if maximum is None else maximum
    if not low <= v <= high:
        suffix = f" {unit}" if unit else ""
        if maximum is None:
            raise invalid(field, f"must be >= {minimum:g}{suffix}, got {value!r}")
        if minimum is None:
            raise invalid(field, f"must be <= {maximum:g}{suffix}, got {value!r}")
        raise invalid(field, f"must be between {minimum:g} and {maximum:g}{suffix}, got {value!r}")
    return v


def temperature(field: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite temperature in K, > 0 (or >= 0 with ``allow_zero``)."""
    if allow_zero:
        return number(field, value, unit="K", minimum=0.0)
    return number(field, value, unit="K", positive=True)


def integer(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None):
    """An integer (Python or NumPy, not a float) in range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise invalid(field, f"must be an integer, got {value!r} ({_type_name(value)})")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise invalid(
            field, f"must be an integer {' and '.join(s for s in (lo, hi) if s)}, got {v}"
        )
    return v


def count(field: str, value: Any, minimum: int = 1) -> int:
    """A number of hops, blocks, samples, workers, … (an integer >= ``minimum``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or int(value) < minimum
    ):
        raise invalid(field, f"must be an integer >= {minimum}, got {value!r}")
    if int(value) >= 2**63:
        # The core counts in 64 bits; no run gets near this.
        raise invalid(field, f"must be below 2**63, got {value!r}")
    return int(value)


def fraction(field: str, value: Any, allow_zero: bool = False) -> float:
    """A number in (0, 1], or [0, 1] with ``allow_zero``."""
    what = f"must be a number in {'[' if allow_zero else '('}0, 1], got {value!r}"
    if not is_real(value):
        raise invalid(field, what)
    v = float(value)
    if not (0 <= v <= 1 if allow_zero else 0 < v <= 1):
        raise invalid(field, what)
    return v


def duration(field: str, value: Any) -> float:
    """A simulated time in seconds, finite and > 0."""
    if not is_real(value):
        raise invalid(field, f"must be a number of seconds, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise invalid(field, f"must be a finite number > 0, got {value!r}")
    return v


def seed(value: Any, field: str = "seed") -> int:
    """A random seed: an integer in [0, 2**64)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) < SEED_LIMIT
    ):
        raise invalid(field, f"must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def seeds(value: Any, field: str = "seeds") -> list[int]:
    """A non-empty list of seeds (a ``range`` or any iterable of integers)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise invalid(field, f"must be a list of integer seeds, got {value!r}")
    out = list(value)
    if not out:
        raise invalid(field, "needs at least one seed")
    for i, s in enumerate(out):
        try:
            seed(s)
        except ValueError:
            raise invalid(field, f"entry {i} must be an integer in [0, 2**64), got {s!r}") from None
    return [int(s) for s in out]


def flag(field: str, value: Any) -> bool:
    """True or False (not 0/1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid(field, f"must be True or False, got {value!r}")
    return bool(value)


def choice(field: str, value: Any, options: Iterable[str]) -> str:
    """One of ``options``."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise invalid(field, f"must be one of {listed}, got {value!r}")
    return value


def text(field: str, value: Any, what: str = "a string") -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise invalid(field, f"must be {what}, got {value!r} ({_type_name(value)})")
    return value


def number_array(field: str, value: Any, *, unit: str = "", min_len: int = 1) -> np.ndarray:
    """A 1-D list of finite real numbers (at least ``min_len``), as a float array."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise invalid(
            field, f"must be a list of numbers{f' ({unit})' if unit else ''}, got {value!r}"
        )
    items = list(value)
    for i, x in enumerate(items):
        if not is_real(x) or not math.isfinite(float(x)):
            raise invalid(field, f"entry {i} must be a finite number, got {x!r}")
    if len(items) < min_len:
        raise invalid(field, f"needs at least {min_len} values, got {len(items)}")
    return np.asarray(items, dtype=float)


def model(value: Any, field: str = "model"):
    """A :class:`drxkmc.BarrierModel` (the default model for None)."""
    from drxkmc.model import BarrierModel  # drxkmc.model itself uses these checks

    if value is None:
        return BarrierModel()
    return instance(field, value, BarrierModel, "drxkmc.BarrierModel")


def number_mapping(field: str, value: Any, example: str) -> dict[str, float]:
    """A mapping of element symbols to finite numbers, e.g. ``{"Mn": 3}``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid(field, f"must be a mapping such as {example}, got {value!r}")
    out = {}
    for key, v in value.items():
        if not isinstance(key, str):
            raise invalid(field, f"keys must be element symbols, got {key!r}")
        if not is_real(v) or not math.isfinite(float(v)):
            raise invalid(field, f"{key}: must be a finite number, got {v!r}")
        out[key] = float(v)
    return out


def renamed_keywords(kwargs: dict, renames: Mapping[str, str], where: str) -> dict:
    """``kwargs`` with deprecated keyword names replaced by their new names (warning once per
    call); giving both spellings of one keyword is an error naming the new one."""
    out = dict(kwargs)
    for old, new in renames.items():
        if old in out:
            warnings.warn(
                f"{where}: {old!r} is deprecated, use {new!r} (units are spelt _eV and _A)",
                DeprecationWarning,
                stacklevel=3,
            )
            if new in out:
                raise invalid(new, f"given twice, as {new!r} and as the deprecated {old!r}")
            out[new] = out.pop(old)
    return out
