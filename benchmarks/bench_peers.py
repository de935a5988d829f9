"""drxkmc against the Python peers kMCpy and lattice_mc on one FCC hard-core lattice gas.

The system: the 10,976 cation sites of 14×14×14 rocksalt cells (a = 4.15 Å, periodic),
half of them Li (c = 0.5), no transition metals, every hop to an empty nearest neighbour
allowed at one rate (drxkmc: ``BarrierModel.uniform(0.3 eV)`` at 300 K). Each tool reports
events per second (hops per second of wall time, set-up excluded; set-up time is its own
column), and the tracer and jump (collective) diffusivities with standard errors.

Hop-rate convention. A hop between two neighbours is one event at the pair rate Γ_pair:
drxkmc: two o-t-o paths, Γ_pair = 2·ν·exp(−E/kT); lattice_mc: Γ_pair = its fixed 1e13 s⁻¹
prefactor (no energies); kMCpy: the rate its model returns, here 1e13 s⁻¹. Every diffusivity
is converted to cm²/s at drxkmc's Γ_pair (D × Γ_drxkmc/Γ_tool) and also given as D/D0, with
D0 = 2·Γ_pair·a_nn² the exact single-particle value on the FCC lattice. For the lattice gas
D_J/D0 = 1 − c = 0.5 exactly; D*/D0 = (1 − c)·f(c) with the FCC tracer correlation factor f.

Each peer is installed with pip into its own throwaway virtual environment under
benchmarks/.venvs/ (gitignored) with pinned versions, because their dependency pins clash
(lattice_mc pins coverage 4.3.4; kMCpy needs numba). kMCpy is driven through its own KMC
engine, event library, State and Tracker with a minimal model (its BaseModel plug-in
interface) that returns the pair rate for Li→vacancy and zero otherwise, so it does not
count swaps of two Li as hops (its composite-LCE path does, which doubles its time scale).
A peer that cannot be installed or run is listed with the reason.

    python benchmarks/bench_peers.py [--budget-s 240] [--replicas 2] [--kmcpy-passes 1]

Writes benchmarks/results/peers.csv and peers.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
from _results import machine, save

import drxkmc

HERE = Path(__file__).parent
VENVS = HERE / ".venvs"
CELLS, A, C, BARRIER_EV, T_K = 14, 4.15, 0.5, 0.3, 300.0
A_NN = A / math.sqrt(2)
PEERS = {"lattice_mc": "lattice-mc==1.0.4", "kMCpy": "kmcpy==0.3.0"}

# Shared by the peer drivers: the FCC cation sublattice as points of the a/2 grid with even
# coordinate sum (the same sites, in the same order, as drxkmc's cation index).
GEOMETRY = """
import json, math, sys, time, resource
import numpy as np
L, A, SEED, BUDGET = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
EXTRA = sys.argv[5:]
n = 2 * L
pts = [(x, y, z) for z in range(n) for y in range(n) for x in range(n) if (x + y + z) % 2 == 0]
index = {p: i for i, p in enumerate(pts)}
DIRS = [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]
DIRS = DIRS + [tuple(-d for d in v) for v in DIRS]
def neighbour(i, d):
    p = pts[i]
    return index[tuple((p[k] + d[k]) % n for k in range(3))]
rng = np.random.default_rng(SEED)
occupied = np.zeros(len(pts), bool)
occupied[rng.choice(len(pts), len(pts) // 2, replace=False)] = True
def report(**kw):
    kw["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(kw))
"""

LATTICE_MC = (
    GEOMETRY
    + """
import random
from lattice_mc import lattice, lattice_site, species, atom
from lattice_mc.global_vars import rate_prefactor
random.seed(SEED)
t0 = time.perf_counter()
sites = [lattice_site.Site(i + 1, np.array(p, float) * A / 2, [neighbour(i, d) + 1 for d in DIRS], 0.0, "L")
         for i, p in enumerate(pts)]
lat = lattice.Lattice(sites, cell_lengths=np.array([L * A] * 3))
atoms = species.Species([atom.Atom(initial_site=lat.sites[i]) for i in np.flatnonzero(occupied)])
lat.number_of_occupied_sites = len(atoms.atoms)
setup = time.perf_counter() - t0
t0, hops = time.perf_counter(), 0
while time.perf_counter() - t0 < BUDGET:
    lat.jump()
    hops += 1
wall = time.perf_counter() - t0
dr = np.array([a.dr for a in atoms.atoms])
report(events=hops, wall_s=wall, setup_s=setup, sim_time_s=lat.time, pair_rate=rate_prefactor,
       per_ion_r2_A2=(dr ** 2).sum(axis=1).tolist(), com_A=dr.sum(axis=0).tolist())
"""
)

KMCPY = (
    GEOMETRY
    + """
import logging, os
from pymatgen.core import Lattice, Structure
from kmcpy.event import Event, EventLib
from kmcpy.models.base import BaseModel
from kmcpy.simulator.config import Configuration
from kmcpy.simulator.kmc import KMC
from kmcpy.simulator.state import State
logging.disable(logging.WARNING)
PAIR_RATE = 1e13

class HardCore(BaseModel):
    # One rate for a Li next to a vacancy; zero for Li-Li and vacancy-vacancy pairs.
    def __init__(self, rate):
        self.rate = rate
    def compute_probability(self, event, runtime_config=None, simulation_state=None, **kw):
        occ = simulation_state.occupations
        i, j = event.mobile_ion_indices
        return self.rate if occ[i] != occ[j] else 0.0
    def as_dict(self):
        return {"rate": self.rate}
    @classmethod
    def from_dict(cls, d):
        return cls(d["rate"])

t0 = time.perf_counter()
structure = Structure(Lattice.cubic(L * A), ["Li"] * len(pts), np.array(pts, float) / n)
lib = EventLib()
for i in range(len(pts)):
    for d in DIRS[:6]:
        lib.add_event(Event((i, neighbour(i, d)), ()))
lib.generate_event_dependencies()
# kMCpy occupation codes: 0 = mobile ion, 1 = vacancy.
state = State(occupations=np.where(occupied, 0, 1).tolist())
passes = int(EXTRA[0]) if EXTRA else 1
config = Configuration(name="hardcore", temperature=300.0, attempt_frequency=PAIR_RATE, equilibration_passes=0,
                       kmc_passes=passes, random_seed=SEED, mobile_ion_specie="Li",
                       elementary_hop_distance=A / math.sqrt(2), dimension=3)
kmc = KMC(structure, HardCore(PAIR_RATE), lib, config, simulation_state=state)
setup = time.perf_counter() - t0
t0 = time.perf_counter()
tracker = kmc.run(label="hardcore")
wall = time.perf_counter() - t0
dr = np.asarray(tracker.displacement)
report(events=int(state.step), wall_s=wall, setup_s=setup, sim_time_s=float(state.time), pair_rate=PAIR_RATE,
       per_ion_r2_A2=(dr ** 2).sum(axis=1).tolist(), com_A=dr.sum(axis=0).tolist(),
       native=[float(x) for x in tracker.return_current_info()])
"""
)

DRIVERS = {"lattice_mc": LATTICE_MC, "kMCpy": KMCPY}


def ensure_venv(name: str) -> tuple[Path | None, str]:
    """The peer's venv python, installing it if needed; (None, reason) on failure."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / "installed.txt"
    if stamp.exists() and stamp.read_text().strip() == PEERS[name]:
        return python, ""
    print(f"[{name}] installing {PEERS[name]} into {venv} ...", flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PEERS[name]],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"venv/pip failed: {exc}"
    if pip.returncode != 0:
        tail = " ".join((pip.stderr or pip.stdout).strip().splitlines()[-3:])
        return None, f"pip install {PEERS[name]} failed: {tail}"
    stamp.write_text(PEERS[name])
    return python, ""


def run_peer(name: str, python: Path, seed: int, budget: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as tmp:
        script = Path(tmp) / "driver.py"
        script.write_text(textwrap.dedent(DRIVERS[name]))
        proc = subprocess.run(
            [str(python), str(script), str(CELLS), str(A), str(seed), str(budget), *extra],
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=max(3600, 20 * budget),
        )
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sem(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def summarise(tool: str, runs: list[dict], version: str, note: str) -> dict:
    """Diffusivities from peer trajectories (displacements from t = 0), in drxkmc's units."""
    n_li = len(runs[0]["per_ion_r2_A2"])
    # Tracer: per-ion |R|²/(6t) pooled over replicas (standard error over ions);
    # jump: |ΣR|²/(6tN) per replica (standard error over replicas).
    per_ion = np.concatenate([np.asarray(r["per_ion_r2_A2"]) / (6 * r["sim_time_s"]) for r in runs])
    jump = [float(np.sum(np.square(r["com_A"]))) / (6 * r["sim_time_s"] * n_li) for r in runs]
    # Å²/s at the tool's pair rate → cm²/s at drxkmc's.
    scale = drxkmc_pair_rate() / runs[0]["pair_rate"] * 1e-16
    events = sum(r["events"] for r in runs)
    return row(
        tool,
        version,
        events_per_s=events / sum(r["wall_s"] for r in runs),
        setup_s=float(np.mean([r["setup_s"] for r in runs])),
        events=events,
        hops_per_li=events / len(runs) / n_li,
        d_tracer=float(per_ion.mean()) * scale,
        d_tracer_err=float(per_ion.std(ddof=1) / math.sqrt(len(per_ion))) * scale,
        d_jump=float(np.mean(jump)) * scale,
        d_jump_err=sem(jump) * scale,
        replicas=len(runs),
        peak_rss_MB=max(r["peak_rss_MB"] for r in runs),
        note=note,
    )


def fmt(value: float, err: float) -> str:
    if not np.isfinite(value):
        return "—"
    return f"{value:.3f} ± {err:.3f}" if np.isfinite(err) else f"{value:.3f}"


def drxkmc_pair_rate() -> float:
    return 2 * 1e13 * math.exp(-BARRIER_EV / (drxkmc.BOLTZMANN_EV_PER_K * T_K))


def row(tool: str, version: str, **kw) -> dict:
    d0 = 2 * drxkmc_pair_rate() * A_NN**2 * 1e-16
    out = {"tool": tool, "version": version, "status": "ok"} | kw
    for k in ("d_tracer", "d_jump"):
        out[f"{k}_over_D0"] = kw.get(k, float("nan")) / d0
        out[f"{k}_err_over_D0"] = kw.get(f"{k}_err", float("nan")) / d0
    return out


def failed(tool: str, version: str, reason: str) -> dict:
    print(f"[{tool}] not measured: {reason}", flush=True)
    nan = float("nan")
    keys = (
        "events_per_s",
        "setup_s",
        "events",
        "hops_per_li",
        "d_tracer",
        "d_tracer_err",
        "d_jump",
        "d_jump_err",
        "replicas",
        "peak_rss_MB",
    )
    return row(tool, version, **{k: nan for k in keys}, note=reason) | {"status": "not run"}


def run_drxkmc(replicas: int) -> dict:
    lattice = drxkmc.Lattice(CELLS, a=A)
    rng = np.random.default_rng(1)
    cations = np.full(lattice.n_cations, "Va")
    cations[rng.choice(lattice.n_cations, int(C * lattice.n_cations), replace=False)] = "Li"
    config = drxkmc.Configuration.from_species(lattice, cations)
    model = drxkmc.BarrierModel.uniform(BARRIER_EV)
    t0 = time.perf_counter()
    sim = drxkmc.Simulation(config, model, temperature_K=T_K, seed=1)
    setup = time.perf_counter() - t0
    sim.advance(hops=200_000)
    t0, h0 = time.perf_counter(), sim.hops
    sim.advance(hops=3_000_000)
    events_per_s = (sim.hops - h0) / (time.perf_counter() - t0)
    from drxkmc.replicas import run_replicas

    hops = 4_000_000
    frame = run_replicas(
        config,
        model,
        temperature_K=T_K,
        seeds=range(1, replicas + 1),
        hops=hops,
        warmup_hops=200_000,
        blocks=20,
    )
    mean = frame.filter(pl.col("replica") == "mean").row(0, named=True)
    # With one replica the block standard error is the uncertainty; with more, the spread.
    err = (lambda k: mean[k]) if replicas > 1 else (lambda k: frame.row(0, named=True)[k])
    n_li = int(mean["n_li"])
    return row(
        "drxkmc",
        "this repository",
        events_per_s=events_per_s,
        setup_s=setup,
        events=int(mean["hops"]),
        hops_per_li=mean["hops"] / replicas / n_li,
        d_tracer=mean["D_tracer_cm2_s"],
        d_tracer_err=err("D_tracer_err_cm2_s"),
        d_jump=mean["D_jump_cm2_s"],
        d_jump_err=err("D_jump_err_cm2_s"),
        replicas=replicas,
        peak_rss_MB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        note=f"Rust core, one thread per replica; {hops:,} hops per replica; D from MSD slopes over "
        "20 blocks, error = standard error across replicas",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget-s", type=float, default=240, help="lattice_mc hopping time per replica"
    )
    parser.add_argument("--replicas", type=int, default=2, help="independent runs per peer")
    parser.add_argument(
        "--drxkmc-replicas", type=int, default=8, help="independent drxkmc runs (cheap)"
    )
    parser.add_argument(
        "--kmcpy-passes", type=int, default=1, help="kMCpy passes (one = one event per site)"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=list(PEERS), help="peers to leave out"
    )
    args = parser.parse_args()
    rows = [run_drxkmc(args.drxkmc_replicas)]
    print(f"[drxkmc] {rows[0]['events_per_s']:,.0f} events/s", flush=True)
    for name, pin in PEERS.items():
        if name in args.skip:
            rows.append(failed(name, pin, "skipped on the command line (--skip)"))
            continue
        python, why = ensure_venv(name)
        if python is None:
            rows.append(failed(name, pin, why))
            continue
        extra = [str(args.kmcpy_passes)] if name == "kMCpy" else []
        runs = []
        try:
            for seed in range(1, args.replicas + 1):
                runs.append(run_peer(name, python, seed, args.budget_s, extra))
                print(
                    f"[{name}] replica {seed}: {runs[-1]['events']} events in {runs[-1]['wall_s']:.0f} s",
                    flush=True,
                )
        except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
            if not runs:
                rows.append(failed(name, pin, f"run failed: {exc}"))
                continue
        note = (
            f"hopping for {args.budget_s:.0f} s per replica; D from displacements since t = 0"
            if name == "lattice_mc"
            else f"{args.kmcpy_passes} pass(es) of {CELLS**3 * 4} events per replica; hard-core model via "
            "BaseModel plug-in; D from displacements since t = 0"
        )
        rows.append(summarise(name, runs, pin, note))
    df = pl.DataFrame(rows)
    md = (
        f"Machine: {machine()}. FCC hard-core lattice gas, {CELLS**3 * 4:,} sites, c = {C}, E = {BARRIER_EV} eV, {T_K:.0f} K. "
        f"Command: `python benchmarks/bench_peers.py --budget-s {args.budget_s:.0f} --replicas {args.replicas} "
        f"--drxkmc-replicas {args.drxkmc_replicas} "
        f"--kmcpy-passes {args.kmcpy_passes}`. D in cm²/s at drxkmc's pair rate Γ_pair = "
        f"{drxkmc_pair_rate():.3e} s⁻¹; D/D0 with D0 = 2·Γ_pair·a_nn² (exact: D_J/D0 = 0.5).\n\n"
        "| tool | status | events/s | set-up (s) | hops per Li | D* (cm²/s) | D*/D0 | D_J (cm²/s) | D_J/D0 | "
        "peak RSS (MB) | notes |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    for r in rows:
        md += (
            f"| {r['tool']} ({r['version']}) | {r['status']} | {r['events_per_s']:,.0f} | {r['setup_s']:.1f} | "
            f"{r['hops_per_li']:.2f} | {r['d_tracer']:.3e} ± {r['d_tracer_err']:.1e} | "
            f"{fmt(r['d_tracer_over_D0'], r['d_tracer_err_over_D0'])} | {r['d_jump']:.3e} ± {r['d_jump_err']:.1e} | "
            f"{fmt(r['d_jump_over_D0'], r['d_jump_err_over_D0'])} | {r['peak_rss_MB']:.0f} | {r['note']} |\n"
        )
    save("peers", df, md)


if __name__ == "__main__":
    main()
