"""Reading and writing the sections of spec files (TOML or JSON), shared by run, sweep and
cycling specifications: parsing, naming keys in errors, and plain values to write."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from drxkmc import _validate as check
from drxkmc._files import atomic_write
from drxkmc.errors import DrxkmcError, invalid

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def key_name(key: Any) -> str:
    """A key as a field name: itself when it is a plain word, else its repr (so that an empty
    or odd key is still visible in the message)."""
    if isinstance(key, str) and key and key.isprintable() and key.strip() == key:
        return key
    return repr(key)


def renamed(err: DrxkmcError, field: str, prefix: str = "") -> DrxkmcError:
    """``err`` (same class) naming ``field`` instead of its own field, its message starting
    with ``prefix`` (e.g. the file it came from)."""
    name = getattr(err, "field", "")
    message = str(err)
    reason = message[len(name) + 2 :] if name and message.startswith(f"{name}: ") else message
    out = type(err)(f"{prefix}{field}: {reason}")
    out.field = field  # type: ignore[attr-defined]
    return out


def parse(text: Any, format: str, source: str) -> Any:
    """The data of TOML or JSON ``text`` (errors name ``spec`` and start with ``source``)."""
    format = check.choice("format", format, ("toml", "json"))
    if not isinstance(text, str):
        raise invalid("spec", f"{source}: must be text, got {type(text).__name__}")
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        if format == "toml":
            return tomllib.loads(text)
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # TOMLDecodeError and JSONDecodeError
        raise invalid("spec", f"{source}: not valid {format.upper()}: {e}") from None
    return data


def format_of(path: Path) -> str:
    """ "toml" or "json", from a spec file's extension."""
    suffix = path.suffix.lower()
    if suffix in (".toml", ".json"):
        return suffix[1:]
    raise invalid("path", f"{str(path)!r}: a spec file ends in .toml or .json")


def read_text(path: Path) -> str:
    """A spec file's text (errors name ``path``, or ``spec`` for non-UTF-8 text)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise invalid("path", f"no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise invalid("path", f"{str(path)!r} is a folder, not a spec file") from None
    except UnicodeDecodeError as e:
        raise invalid("spec", f"{path}: not UTF-8 text ({e})") from None


def plain(value: Any) -> Any:
    """A TOML/JSON-ready value (tuples as lists, mappings as dicts)."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def dumps(data: dict, format: str) -> str:
    """``data`` as TOML or JSON text."""
    format = check.choice("format", format, ("toml", "json"))
    if format == "json":
        return json.dumps(data, indent=2) + "\n"
    import tomli_w

    return tomli_w.dumps(data)


class SpecFile:
    """The text and file forms of a spec class that has ``from_dict(data, source=...)`` and
    ``to_dict()`` (a :class:`drxkmc.RunSpec`, a :class:`drxkmc.CyclingSpec`)."""

    @classmethod
    def loads(cls, text: str, format: str = "toml", *, source: str = "spec"):
        """From TOML or JSON text."""
        return cls.from_dict(parse(text, format, source), source=source)  # type: ignore[attr-defined]

    def dumps(self, format: str = "toml") -> str:
        """As TOML or JSON text."""
        return dumps(self.to_dict(), format)  # type: ignore[attr-defined]

    @classmethod
    def read(cls, path: str | os.PathLike):
        """From a ``.toml`` or ``.json`` file. A relative ``configuration.file`` is taken
        relative to the spec file's folder."""
        path = Path(path)
        data = parse(read_text(path), format_of(path), str(path))
        conf = data.get("configuration") if isinstance(data, dict) else None
        if isinstance(conf, dict) and isinstance(conf.get("file"), str):
            conf["file"] = str(path.parent / conf["file"])  # an absolute one stays as it is
        return cls.from_dict(data, source=str(path))  # type: ignore[attr-defined]

    def write(self, path: str | os.PathLike) -> None:
        """To a ``.toml`` or ``.json`` file (atomically)."""
        path = Path(path)
        atomic_write(path, self.dumps(format_of(path)).encode())


def flat_from_sections(
    data: Any,
    keys: Mapping[str, tuple[str, str]],
    sections: Sequence[str],
    tables: Mapping[str, tuple[str, Collection[str] | None]],
    hint: Callable[[str, Any], str] = lambda section, key: "",
) -> dict[str, Any]:
    """The keyword form of a spec file's nested data: each ``[section] key`` becomes the field
    ``keys`` maps it to (``keys``: field → (section, key)); a table section (``tables``:
    section → (what its keys are, e.g. "BarrierModel field", and the allowed keys or None for
    any)) becomes a dict under its own name. Unknown sections and keys are refused, named as
    ``section.key``, with ``hint(section, key)`` appended. ``material.formula`` is required."""
    if not isinstance(data, Mapping):
        raise invalid("spec", f"must be a table of sections, got {type(data).__name__}")
    by_key = {v: k for k, v in keys.items()}
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if section not in sections:
            raise invalid(key_name(section), f"is not a spec section (use {', '.join(sections)})")
        if not isinstance(table, Mapping):
            raise invalid(section, f"must be a table, got {table!r}")
        if section in tables:
            what, allowed = tables[section]
            for key in table:
                if allowed is not None and key not in allowed:
                    raise invalid(f"{section}.{key_name(key)}", f"is not a {what}")
            flat[section] = dict(table)
            continue
        for key, value in table.items():
            name = by_key.get((section, key)) if isinstance(key, str) else None
            if name is None:
                known = [k for s, k in keys.values() if s == section]
                raise invalid(
                    f"{section}.{key_name(key)}",
                    f"is not a key of [{section}] (use {', '.join(known)}){hint(section, key)}",
                )
            flat[name] = value
    if "formula" not in flat:
        raise invalid("material.formula", "is required")
    return flat
