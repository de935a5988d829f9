"""A sweep on a Dask cluster: the same frame as the serial run, on every core.

Here a ``distributed.LocalCluster`` on this machine; on SLURM use dask-jobqueue's
``SLURMCluster`` instead (docs/cluster.md). Each point runs resumably in
``runs/dask-sweep/point-NNNN``: run the script again after a crash and the finished points
come back at once.

    pip install "dask[distributed]" && python examples/dask_sweep.py
"""

from distributed import Client, LocalCluster

import drxkmc

base = drxkmc.RunSpec(
    "Li1.2Mn0.4Ti0.4O1.6F0.4",
    size=4,
    li_content=0.6,
    precision=0.1,
    max_hops=5_000_000,
)
grid = {"temperature_K": [600.0, 700.0, 800.0], "site_disorder_eV": [0.0, 0.05]}

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        frame = drxkmc.sweep(
            grid,
            base=base,
            sweep_seed=2026,
            workdir="runs/dask-sweep",
            executor=client.get_executor(),
        )
    print(frame.select("temperature_K", "site_disorder_eV", "D_tracer_cm2_s", "converged", "error"))
