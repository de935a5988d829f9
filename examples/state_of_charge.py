"""Open-circuit voltage and diffusivities against state of charge, as GITT/PITT measure them.

The electrode is built fully lithiated (as synthesised) and charged electrochemically: only Li
that the kinetic network connects to the crystal's network leave, least-bound first. V(x) is
exact for the model (Fermi–Dirac over the accessible sites); D*, D_J, Θ and D_chem come from
kMC runs converged to 10% at each Li content. 600 K keeps each point to seconds; at 300 K DRX
Li are sub-diffusive for 10⁸–10⁹ hops (see the README).

    python examples/state_of_charge.py
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import drxkmc
from drxkmc.electrochem import state_of_charge_sweep, voltage_curve
from drxkmc.plot import plot_state_of_charge

material = drxkmc.Material.from_formula("Li1.2Mn0.4Ti0.4O2")
electrode = drxkmc.Configuration.random(material, drxkmc.Lattice(6), seed=1)  # as synthesised
model = drxkmc.BarrierModel()

curve = voltage_curve(electrode, model, temperature_K=600)
print(curve.select("li_per_fu", "voltage_V", "capacity_mAh_g").gather_every(10))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the frame's 'converged' column says which points converged
    soc = state_of_charge_sweep(
        electrode, [1.1, 0.9, 0.7, 0.5], model, temperature_K=600, precision=0.1
    )
print(
    soc.select(
        "li_per_fu",
        "voltage_V",
        "D_tracer_cm2_s",
        "D_chem_cm2_s",
        "thermodynamic_factor",
        "converged",
    )
)

fig, (ax_v, ax_d) = plt.subplots(1, 2, figsize=(7, 3), constrained_layout=True)
ax_v.plot(curve["li_per_fu"], curve["voltage_V"])
ax_v.set_xlabel("Li per formula unit")
ax_v.set_ylabel("V vs Li/Li⁺ (V)")
plot_state_of_charge(soc, ax=ax_d)
fig.savefig("state_of_charge.png", dpi=120)
print("wrote state_of_charge.png")
