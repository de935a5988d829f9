"""Diffusivity over temperatures and the effective activation energy."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from drxkmc import _validate as check
from drxkmc.analysis import arrhenius_fit
from drxkmc.configuration import Configuration
from drxkmc.errors import invalid
from drxkmc.model import BarrierModel
from drxkmc.simulation import ConvergenceWarning, Simulation


@dataclass
class ArrheniusResult:
    """``table``: one diffusivity row per temperature; ``fit``: E_a ± σ (eV) and D0 for each
    diffusivity column."""

    table: pl.DataFrame
    fit: pl.DataFrame

    @property
    def activation_energy_eV(self) -> float:
        return float(
            self.fit.filter(pl.col("quantity") == "D_tracer_cm2_s")["activation_energy_eV"][0]
        )

    def plot(self, ax=None):
        from drxkmc.plot import plot_arrhenius

        return plot_arrhenius(self, ax=ax)


def arrhenius(
    config: Configuration,
    model: BarrierModel | None = None,
    *,
    temperatures_K: Sequence[float],
    precision: float | None = 0.1,
    max_hops: int = 50_000_000,
    hops: int | None = None,
    warmup_hops: int = 0,
    blocks: int = 10,
    seed: int = 0,
    progress: bool | None = None,
) -> ArrheniusResult:
    """Run the same configuration at each temperature and fit ln D against 1/(k_B T).

    Every temperature starts from the model's equilibrium for ``config`` with its own seed
    (``seed + i``) and runs to ``precision`` (relative error of D*, with the convergence checks
    of :meth:`Simulation.run`; at most ``max_hops`` hops each), or for a fixed ``hops`` if
    given. The fit is weighted by the standard errors; the table's ``converged`` column says
    which temperatures converged, and only converged points are fitted when at least two
    are (an unconverged D at low temperature is an upper bound and would bend the line).
    """
    temps = check.number_array("temperatures_K", temperatures_K, unit="K", min_len=2)
    if np.any(temps <= 0):
        raise invalid("temperatures_K", f"must all be > 0 K, got {temps.tolist()}")
    if hops is not None:
        check.count("hops", hops)
        precision = None
    else:
        precision = check.fraction("precision", precision)
        check.count("max_hops", max_hops)
    check.count("warmup_hops", warmup_hops, minimum=0)
    check.count("blocks", blocks)
    check.seed(check.seed(seed) + len(temps) - 1)
    model = BarrierModel() if model is None else model
    # Build every simulation first, so bad input fails before any work starts.
    sims = [Simulation(config, model, temperature_K=t, seed=seed + i) for i, t in enumerate(temps)]
    length = {"hops": hops} if hops is not None else {"precision": precision, "max_hops": max_hops}
    rows = []
    for s in sims:
        with warnings.catch_warnings():
            # One summary warning below instead of one per temperature from inside here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = s.run(**length, warmup_hops=warmup_hops, blocks=blocks, progress=progress)
        if result.interrupted:
            raise KeyboardInterrupt  # Ctrl-C stops the whole scan, not one temperature
        rows.append(result.diffusivity)
    table = pl.concat(rows)
    converged = table.filter(pl.col("converged"))
    if converged.height < table.height:
        missed = table.filter(~pl.col("converged"))["temperature_K"].to_list()
        warnings.warn(
            f"not converged at {missed} K (see the table's 'converged' column); "
            + ("raise max_hops" if hops is None else "use precision=... instead of hops")
            + (" — only the converged temperatures are fitted" if converged.height >= 2 else ""),
            ConvergenceWarning,
            stacklevel=2,
        )
    fitted = converged if converged.height >= 2 else table
    fits = []
    for q in ("D_tracer_cm2_s", "D_jump_cm2_s", "D_chem_cm2_s"):
        err = q.replace("_cm2_s", "_err_cm2_s")
        f = arrhenius_fit(
            fitted["temperature_K"].to_numpy(), fitted[q].to_numpy(), fitted[err].to_numpy()
        )
        fits.append(
            {
                "quantity": q,
                **f,
                "points": fitted.height,
                "all_converged": converged.height == table.height,
            }
        )
    return ArrheniusResult(table, pl.DataFrame(fits))
