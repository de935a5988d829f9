//! Bindings of drxkmc_core::equilibrium and site_energy: equilibrium Li arrangements,
//! electrochemical (de)lithiation, the equilibrium Li count against μ, and the critical pair
//! rate of the rattling acceleration.
use crate::columns::struct_to_dict;
use crate::configuration::PyConfiguration;
use crate::errors::PyDrxkmcResult;
use crate::model::model_from_dict;
use drxkmc_core::acceleration;
use drxkmc_core::equilibrium::{self, EquilibrateSpec};
use drxkmc_core::site_energy;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Draw the Li arrangement from the model's equilibrium (see the core's `equilibrium`
/// module); with `target_li`, change the Li count through the accessible network only.
/// Returns (configuration, dict of mu_ev and accessible counts). The GIL is released.
#[pyfunction]
#[pyo3(signature = (config, model, temperature_k, timescale_s, target_li, sweeps, seed))]
#[allow(clippy::too_many_arguments)]
fn equilibrate<'py>(
    py: Python<'py>,
    config: &PyConfiguration,
    model: &Bound<'py, PyDict>,
    temperature_k: f64,
    timescale_s: f64,
    target_li: Option<usize>,
    sweeps: u32,
    seed: u64,
) -> PyDrxkmcResult<(PyConfiguration, Bound<'py, PyDict>)> {
    let model = model_from_dict(model)?;
    let spec = EquilibrateSpec { temperature_k, timescale_s, target_li, sweeps, seed };
    let cfg = &config.0;
    let eq = py.detach(|| equilibrium::equilibrate(cfg, &model, spec))?;
    let d = struct_to_dict(py, &eq)?;
    Ok((PyConfiguration(eq.config), d))
}

/// Equilibrium Li count of the whole cell at each μ (eV on the site-energy scale).
#[pyfunction]
fn li_at_potentials<'py>(
    py: Python<'py>,
    config: &PyConfiguration,
    model: &Bound<'py, PyDict>,
    temperature_k: f64,
    timescale_s: f64,
    mus_ev: PyReadonlyArray1<'py, f64>,
) -> PyDrxkmcResult<Bound<'py, PyArray1<f64>>> {
    let model = model_from_dict(model)?;
    let mus = mus_ev.as_slice()?.to_vec();
    let cfg = &config.0;
    let n = py.detach(|| equilibrium::li_at_potentials(cfg, &model, temperature_k, timescale_s, &mus))?;
    Ok(n.into_pyarray(py))
}

/// Li site energy of every cation site (cation-index order), eV.
#[pyfunction]
fn site_energies<'py>(
    py: Python<'py>,
    config: &PyConfiguration,
    model: &Bound<'py, PyDict>,
) -> PyDrxkmcResult<Bound<'py, PyArray1<f64>>> {
    let model = model_from_dict(model)?;
    model.validate()?;
    Ok(site_energy::site_energies(&config.0, &model).into_pyarray(py))
}

/// The barrier (eV) below which a path fires at least once in `timescale_s` on average.
#[pyfunction]
fn kinetic_cutoff_ev(model: &Bound<'_, PyDict>, temperature_k: f64, timescale_s: f64) -> PyDrxkmcResult<f64> {
    Ok(equilibrium::cutoff_for_timescale(&model_from_dict(model)?, temperature_k, timescale_s)?)
}

/// The critical flux g* (s⁻¹) of the acceleration and the μ (eV) it was computed at, or None
/// if nothing spans the cell.
#[pyfunction]
fn critical_flux(
    py: Python<'_>,
    config: &PyConfiguration,
    model: &Bound<'_, PyDict>,
    temperature_k: f64,
) -> PyDrxkmcResult<Option<(f64, f64)>> {
    let model = model_from_dict(model)?;
    let cfg = &config.0;
    let c = py.detach(|| acceleration::critical_flux(cfg, &model, temperature_k))?;
    Ok(c.map(|c| (c.flux_per_s, c.mu_ev)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(equilibrate, m)?)?;
    m.add_function(wrap_pyfunction!(li_at_potentials, m)?)?;
    m.add_function(wrap_pyfunction!(site_energies, m)?)?;
    m.add_function(wrap_pyfunction!(kinetic_cutoff_ev, m)?)?;
    m.add_function(wrap_pyfunction!(critical_flux, m)?)?;
    Ok(())
}
