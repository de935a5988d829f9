"""Capacity fade over cycling: an oxide, an oxyfluoride and a higher-d⁰ DRX side by side.

Three materials with the same Li excess (Li1.2), given the short-range order of a synthesis at
1300 K (drxkmc.anneal: local electroneutrality, which sends F to Li-rich sites), are cycled
1.5–4.8 V at 300 K with one hour at the top and bottom of charge (the default CyclingProtocol)
on 5 nm slabs, two independent slabs (seeds) each: the spread between seeds says how much of a
difference is noise. Prints
the last cycle of each (capacity retention, mean discharge voltage lost since cycle 1 —
voltage fade — and energy retention, O lost, TMs moved, densified depth) and writes
degradation.png (capacity, O lost and mean discharge voltage against cycle). Every event, barrier and its source: ``rust/drxkmc-core/src/degradation/``.

    python examples/degradation.py [--cycles 30]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

import drxkmc

MATERIALS = {
    "oxide Li1.2Mn0.4Ti0.4O2": "Li1.2Mn0.4Ti0.4O2",
    "oxyfluoride Li1.2Mn0.4Ti0.4O1.6F0.4": "Li1.2Mn0.4Ti0.4O1.6F0.4",
    "more d⁰ Li1.2Mn0.2Ti0.6O2": "Li1.2Mn0.2Ti0.6O2",
}
SEEDS = (1, 2)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cycles", type=int, default=30)
args = parser.parse_args()

frames = []
for label, formula in MATERIALS.items():
    material = drxkmc.Material.from_formula(formula)
    for seed in SEEDS:
        slab = drxkmc.Lattice((8, 8, 12), geometry="slab")
        config = drxkmc.anneal(
            drxkmc.Configuration.random(material, slab, seed=seed), temperature_K=1300, seed=seed
        )
        cycling = drxkmc.Cycling(config, seed=seed)
        results = cycling.run(args.cycles)
        first = results.row(0, named=True)
        frames.append(
            results.with_columns(
                material=pl.lit(label),
                seed=pl.lit(seed),
                voltage_fade_V=first["mean_discharge_voltage_V"]
                - pl.col("mean_discharge_voltage_V"),
                energy_retention=pl.col("discharge_energy_Wh_kg") / first["discharge_energy_Wh_kg"],
            )
        )
table = pl.concat(frames)

last = (
    table.filter(pl.col("cycle") == args.cycles)
    .group_by("material", maintain_order=True)
    .agg(
        pl.col("discharge_capacity_mAh_g").mean().alias("discharge_mAh_g"),
        pl.col("retention").mean().alias("retention"),
        (pl.col("retention").max() - pl.col("retention").min()).alias("retention_seed_spread"),
        pl.col("voltage_fade_V").mean().alias("voltage_fade_V"),
        pl.col("energy_retention").mean().alias("energy_retention"),
        pl.col("o_lost_per_fu").mean().alias("o_lost_per_fu"),
        (pl.col("o_lost_per_fu").max() - pl.col("o_lost_per_fu").min()).alias("o_lost_seed_spread"),
        pl.col("tm_migrated").mean().alias("tm_migrated"),
        pl.col("densified_depth_nm").mean().alias("densified_depth_nm"),
    )
)
with pl.Config(tbl_cols=-1, tbl_width_chars=200, float_precision=3):
    print(f"after {args.cycles} cycles (mean of seeds {SEEDS}):")
    print(last)

fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), constrained_layout=True)
for (label, seed), part in table.group_by(["material", "seed"], maintain_order=True):
    style = "-" if seed == SEEDS[0] else "--"
    colour = f"C{list(MATERIALS).index(label)}"
    kw = {"color": colour, "ls": style, "label": label if seed == SEEDS[0] else None}
    axes[0].plot(part["cycle"], part["discharge_capacity_mAh_g"], **kw)
    axes[1].plot(part["cycle"], part["o_lost_per_fu"], **kw)
    axes[2].plot(part["cycle"], part["mean_discharge_voltage_V"], **kw)
for ax, ylabel in zip(
    axes,
    ("discharge capacity (mAh/g)", "O lost per formula unit", "mean discharge voltage (V)"),
    strict=True,
):
    ax.set_xlabel("cycle")
    ax.set_ylabel(ylabel)
axes[0].legend(frameon=False, fontsize="x-small")
fig.savefig("degradation.png", dpi=120)
print("wrote degradation.png (solid and dashed: two seeds)")
