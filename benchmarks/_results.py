"""What every benchmark script shares: where its results go and how the machine is named."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import polars as pl

from drxkmc._files import atomic_write

OUT = Path(__file__).parent / "results"


def machine() -> str:
    """CPU model and core count, e.g. ``AMD EPYC, 2 cores``."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def save(name: str, frame: pl.DataFrame, markdown: str, figure=None) -> None:
    """Write results/<name>.csv, .md (and .png for a matplotlib figure) and print the Markdown.

    Each file is written atomically (``drxkmc._files.atomic_write``), so an interrupted run
    leaves the previous results whole.
    """
    OUT.mkdir(exist_ok=True)
    writers = {
        "csv": frame.write_csv,
        "md": lambda path: Path(path).write_text(markdown),
    }
    if figure is not None:
        writers["png"] = lambda path: figure.savefig(path, format="png", dpi=120)
    for ext, write in writers.items():
        atomic_write(OUT / f"{name}.{ext}", write, suffix=f".{ext}")
    print(markdown)
