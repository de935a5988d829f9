"""Li diffusivity of half-charged Li1.2Mn0.4Ti0.4O2 against its oxyfluoride, at 600 K.

Both electrodes are charged electrochemically to Li0.6 (only Li with a path out leave) and
each run goes on until D* is known to 5 % and has converged; the last column says whether it
did. F traps Li (Li–F attraction) and slows it.
"""

import warnings

import drxkmc

for formula in ["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.4Ti0.4O1.6F0.4"]:
    material = drxkmc.Material.from_formula(formula)
    lattice = drxkmc.Lattice(6, a=4.15)  # 6x6x6 conventional cells, 864 cation sites
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=1)
    sim = drxkmc.Simulation(config, drxkmc.BarrierModel(), temperature_K=600, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drxkmc.ConvergenceWarning)  # printed below instead
        d = sim.run(precision=0.05, max_hops=100_000_000).diffusivity.row(0, named=True)
    print(
        f"{formula:26s} D* = {d['D_tracer_cm2_s']:.2e} ± {d['D_tracer_err_cm2_s']:.1e} cm²/s"
        f"  D_chem = {d['D_chem_cm2_s']:.2e} cm²/s  MSD exponent {d['msd_exponent']:.2f}"
        f"  converged: {d['converged']}"
    )
