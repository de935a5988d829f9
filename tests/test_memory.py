"""Too-large lattices are refused with a MemoryLimitError (a DrxkmcError and a MemoryError)
naming ``size`` and the estimate, never an abort of the interpreter.

Each case runs in a subprocess whose address space is limited (``RLIMIT_AS``) to what it has
already mapped plus a small budget, so the refusal is tested without using the memory.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the budget reads /proc and RLIMIT_AS, which only Linux provides",
)

#: The child's address space: what it has mapped after importing drxkmc plus this budget.
BUDGET_BYTES = 600 * 2**20

PRELUDE = textwrap.dedent(
    f"""
    import resource, sys
    import drxkmc
    import drxkmc.cli

    def mapped_bytes():
        with open("/proc/self/status") as f:
            line = next(l for l in f if l.startswith("VmSize:"))
        return int(line.split()[1]) * 1024

    limit = mapped_bytes() + {BUDGET_BYTES}
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")

    def refused(make):
        try:
            make()
        except MemoryError as e:
            assert isinstance(e, drxkmc.DrxkmcError) and isinstance(e, drxkmc.MemoryLimitError)
            assert e.field == "size", e.field
            print("REFUSED", e)
        else:
            print("BUILT")
    """
)


def run_child(body: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_configuration_too_large_for_the_budget_is_refused_before_allocating():
    # Lattice(800): 2.048e9 cation sites; a random configuration needs 4 bytes per site.
    out = run_child(
        """
        refused(lambda: drxkmc.Configuration.random(material, drxkmc.Lattice(800), seed=1))
        refused(lambda: drxkmc.Lattice(800).cation_positions())
        """
    )
    assert out.returncode == 0, out.stderr
    assert "REFUSED size: the site positions of the 800×800×800 lattice" in out.stdout
    assert "REFUSED size: a configuration of the 800×800×800 lattice (2,048,000,000 cation " in (
        out.stdout
    )
    assert "needs about 8.2 GB" in out.stdout and "RLIMIT_AS" in out.stdout


def test_engine_percolation_and_annealer_are_refused_when_the_configuration_fits():
    # Lattice(200): 3.2e7 sites; the configuration (128 MB) fits the 600 MB budget, the kMC
    # engine (~41 bytes/site, 1.3 GB), the percolation analysis and the annealer do not.
    out = run_child(
        """
        config = drxkmc.Configuration.random(
            material, drxkmc.Lattice(200), li_content=0.6, delithiation="random"
        )
        print("CONFIG", config.lattice.n_cations)
        refused(lambda: drxkmc.Simulation(config, equilibrate=False))
        refused(lambda: drxkmc.percolation(config))
        refused(lambda: drxkmc.Simulation(config))
        refused(lambda: drxkmc.anneal(config, temperature_K=1000, sweeps=1))
        # After a refusal the interpreter goes on: a small lattice still works.
        small = drxkmc.Configuration.random(material, drxkmc.Lattice(3), li_content=0.6)
        print("SMALL", drxkmc.Simulation(small).run(hops=1000, progress=False).diffusivity.height)
        """
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "CONFIG 32000000"
    assert [line.split(":")[0] for line in lines[1:5]] == ["REFUSED size"] * 4, out.stdout
    assert "a kMC engine for the 200×200×200 lattice" in lines[1]
    assert "a percolation analysis of" in lines[2]
    # A default Simulation is refused by its equilibrium sampling, before any engine exists.
    assert "the equilibrium sampling of the 200×200×200 lattice" in lines[3]
    assert "an annealer for" in lines[4]
    assert lines[5] == "SMALL 1"


def test_demo_with_a_too_large_size_reports_instead_of_aborting():
    out = run_child(
        """
        sys.exit(drxkmc.cli.main(["demo", "--size", "200", "--max-hops", "1000"]))
        """
    )
    assert out.returncode == 2, (out.returncode, out.stderr)  # not 134 (abort)
    # The first step that does not fit is refused (today the equilibrium sampling of the
    # electrochemical delithiation, before the engine).
    assert out.stderr.startswith("drxkmc: error: size: "), out.stderr
    assert "of the 200×200×200 lattice (32,000,000 cation sites) needs about" in out.stderr
