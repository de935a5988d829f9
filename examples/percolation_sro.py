"""How short-range order changes the Li that can take part in cycling.

Li1.2Mn0.4Ti0.4O2 annealed at a synthesis-like 1273 K with increasing local-electroneutrality
strength J: accessible Li through 0-TM channels, the capacity it allows, and the first-shell
Warren–Cowley Li–Mn parameter. J is a tunable (calibrate it against a cluster expansion or
diffraction); this shows how sharply 0-TM percolation collapses as Li and TM mix.
"""

import drxkmc

material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
random = drxkmc.Configuration.random(material, drxkmc.Lattice(12), seed=4)

for strength in [0.0, 0.0005, 0.001, 0.0015, 0.002]:
    config = random.anneal(temperature_K=1273, sweeps=100, strength_eV=strength, seed=4)
    perc = drxkmc.percolation(config).summary
    wc = drxkmc.sro(config).warren_cowley
    li_mn = wc.filter((wc["shell"] == 1) & (wc["species_i"] == "Li") & (wc["species_j"] == "Mn"))
    print(
        f"J = {strength:.4f} eV/e²: accessible Li = {perc['accessible_li_fraction'][0]:6.1%}, "
        f"capacity = {perc['capacity_mAh_g'][0]:4.0f} mAh/g, "
        f"α(Li–Mn, 1st shell) = {li_mn['alpha'][0]:+.3f}"
    )
print(f"TM-redox limit: {material.capacities()['capacity_mAh_g'][1]:.0f} mAh/g")
