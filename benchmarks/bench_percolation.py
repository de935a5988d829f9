"""Wall time and peak memory of the percolation analysis against lattice size.

Single thread (the analysis is sequential), random Li1.2Mn0.4Ti0.4O2 (0.6 non-TM sites per
cation site), 0-TM and 1-TM rules and the barrier rule (E_KRA < 0.4 eV, default model). Times
the compiled analysis (``_core.percolation_analysis``: labelling, wrapping, per-cluster
tables) and the whole Python call (``drxkmc.percolation``, which adds the Polars frames), best
of ``--repeat`` runs. Writes benchmarks/results/percolation.{csv,md,png}.

    python benchmarks/bench_percolation.py            # 1e5, 1e6, 1e7 cation sites
    python benchmarks/bench_percolation.py --quick    # 1e5, 1e6
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import polars as pl
from _results import machine, save

import drxkmc
from drxkmc import _core

FORMULA = "Li1.2Mn0.4Ti0.4O2"
RULES = {
    "0-TM": {"max_tm": 0},
    "1-TM": {"max_tm": 1},
    "E_KRA<0.4eV": {"barrier_cutoff_eV": 0.4},
}


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the peak-RSS counter (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _config(cells: int):
    material = drxkmc.Material.from_formula(FORMULA)
    return drxkmc.Configuration.random(material, drxkmc.Lattice(cells), seed=1)


def _core_args(config, rule: str):
    kw = RULES[rule]
    if "max_tm" in kw:
        return (config._c, kw["max_tm"])
    return (config._c, 0, kw["barrier_cutoff_eV"])


def memory_probe(cells: int, rule: str) -> None:
    """In a fresh process: peak RSS added by one analysis (labels returned included), MiB."""
    config = _config(cells)
    before = _status_kib("VmRSS")
    ok = _reset_peak()
    raw = _core.percolation_analysis(*_core_args(config, rule))
    peak = (_status_kib("VmHWM") - before) / 1024 if ok else float("nan")
    print(json.dumps({"peak_extra_MiB": peak, "n": int(raw["n_sites"])}))


def peak_memory_mib(cells: int, rule: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-probe", str(cells), rule],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_extra_MiB"]


def measure(cells: int, rule: str, repeat: int) -> dict:
    config = _config(cells)
    args = _core_args(config, rule)
    core_best = py_best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        raw = _core.percolation_analysis(*args)
        core_best = min(core_best, time.perf_counter() - start)
        del raw
        start = time.perf_counter()
        result = drxkmc.percolation(config, **RULES[rule])
        py_best = min(py_best, time.perf_counter() - start)
    n = config.lattice.n_cations
    peak_mib = peak_memory_mib(cells, rule)
    return {
        "cation_sites": n,
        "rule": rule,
        "core_s": core_best,
        "python_s": py_best,
        "ns_per_site": core_best / n * 1e9,
        "peak_extra_MiB": peak_mib,
        "bytes_per_site": peak_mib * 2**20 / n,
        "n_clusters": result.n_clusters,
        "accessible_li_fraction": result.accessible_li_fraction,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--memory-probe", nargs=2, metavar=("CELLS", "RULE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(int(args.memory_probe[0]), args.memory_probe[1])
        return
    sizes = [29, 63] + ([] if args.quick else [136])  # ≈1e5, 1e6, 1e7 cation sites
    rows = []
    for cells in sizes:
        for rule in RULES:
            row = measure(cells, rule, args.repeat)
            rows.append(row)
            print(
                f"{row['cation_sites']:>11,} sites  {rule:<12} core {row['core_s']:7.3f} s  "
                f"python {row['python_s']:7.3f} s  {row['ns_per_site']:6.1f} ns/site  "
                f"{row['bytes_per_site']:5.1f} B/site  accessible Li "
                f"{row['accessible_li_fraction']:.3f}",
                flush=True,
            )
    df = pl.DataFrame(rows)
    header = (
        f"Machine: {machine()}, single thread; random {FORMULA}; best of {args.repeat}.\n"
        f"Command: `python benchmarks/bench_percolation.py"
        f"{' --quick' if args.quick else ''}`\n\n"
    )
    md = (
        "| cation sites | rule | core (s) | drxkmc.percolation (s) | ns/site | peak extra MiB "
        "| bytes/site | clusters | accessible Li |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
        + "".join(
            f"| {r['cation_sites']:,} | {r['rule']} | {r['core_s']:.3f} | {r['python_s']:.3f} "
            f"| {r['ns_per_site']:.1f} | {r['peak_extra_MiB']:.0f} | {r['bytes_per_site']:.1f} "
            f"| {r['n_clusters']:,} | {r['accessible_li_fraction']:.3f} |\n"
            for r in rows
        )
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    for rule in RULES:
        sub = df.filter(pl.col("rule") == rule)
        ax.plot(sub["cation_sites"], sub["core_s"], "o-", label=rule)
    n = df["cation_sites"].unique().sort()
    ref = df.filter(pl.col("rule") == "0-TM")["core_s"][0]
    ax.plot(n, ref * n / n[0], "k:", label="linear")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cation sites")
    ax.set_ylabel("analysis time (s, one thread)")
    ax.set_title("drxkmc percolation analysis")
    ax.legend(frameon=False)
    save("percolation", df, header + md, fig)
    print(header + md)


if __name__ == "__main__":
    main()
