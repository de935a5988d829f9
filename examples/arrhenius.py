"""Effective activation energy of Li diffusion in Li1.2Mn0.4Ti0.4O2 (Li0.6), 300-600 K."""

import matplotlib

matplotlib.use("Agg")
import drxkmc

material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
config = drxkmc.Configuration.random(material, drxkmc.Lattice(8), li_content=0.6, seed=3)
result = drxkmc.arrhenius(config, temperatures_K=[300, 400, 500, 600], hops=500_000, seed=3)
print(result.table.select("temperature_K", "D_tracer_cm2_s", "D_tracer_err_cm2_s", "D_chem_cm2_s"))
print(result.fit)
ax = result.plot()
ax.figure.savefig("arrhenius.png", dpi=120)
print("wrote arrhenius.png")
