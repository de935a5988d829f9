"""Effective activation energy of Li diffusion in half-charged Li1.2Mn0.4Ti0.4O2, 550-800 K.

Every temperature runs until D* is known to 10 % and has converged (see the table's
`converged` column); the fit uses the converged temperatures. Below ~500 K Li in DRX stay
sub-diffusive for 10⁸-10⁹ hops in a box this size, so room temperature is reached by
extrapolating the fit (with the caveat that the percolation crossover may bend the line).
"""

import math

import matplotlib

matplotlib.use("Agg")
import drxkmc

material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
config = drxkmc.Configuration.random(material, drxkmc.Lattice(6), li_content=0.6, seed=3)
result = drxkmc.arrhenius(config, temperatures_K=[550, 600, 700, 800], precision=0.1, seed=3)
print(result.table.select("temperature_K", "D_tracer_cm2_s", "D_tracer_err_cm2_s", "converged"))
print(result.fit)
fit = result.fit.row(0, named=True)  # D*
d300 = fit["D0_cm2_s"] * math.exp(-fit["activation_energy_eV"] / (drxkmc.BOLTZMANN_EV_PER_K * 300))
print(f"D*(300 K) extrapolated from the fit: {d300:.1e} cm²/s")
ax = result.plot()
ax.figure.savefig("arrhenius.png", dpi=120)
print("wrote arrhenius.png")
