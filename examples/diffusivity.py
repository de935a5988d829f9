"""Li diffusivity of half-charged Li1.2Mn0.4Ti0.4O2 vs its oxyfluoride, at 300 K."""

import drxkmc

for formula in ["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.4Ti0.4O1.6F0.4"]:
    material = drxkmc.Material.from_formula(formula)
    lattice = drxkmc.Lattice(10, a=4.15)  # 10x10x10 conventional cells, 4000 cation sites
    config = drxkmc.Configuration.random(material, lattice, li_content=0.6, seed=1)
    sim = drxkmc.Simulation(config, drxkmc.BarrierModel(), temperature_K=300, seed=1)
    result = sim.run(hops=2_000_000, warmup_hops=200_000)
    d = result.diffusivity
    print(
        f"{formula:26s} D* = {d['D_tracer_cm2_s'][0]:.2e} ± {d['D_tracer_err_cm2_s'][0]:.1e} cm²/s"
        f"  D_chem = {d['D_chem_cm2_s'][0]:.2e} cm²/s  mobile Li = {d['mobile_fraction'][0]:.0%}"
    )
