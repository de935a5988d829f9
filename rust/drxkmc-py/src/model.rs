//! Bindings of drxkmc_core::model: the barrier model crosses the boundary as a dict of its
//! fields (the Python dataclass `drxkmc.BarrierModel` takes its defaults from here).
use crate::errors::{invalid, PyDrxkmcErr, PyDrxkmcResult};
use drxkmc_core::model::BarrierModel;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The default barrier model as a dict (the Python dataclass takes its defaults from here).
#[pyfunction]
fn default_barrier_model(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    model_to_dict(py, &BarrierModel::default())
}

/// The uniform lattice-gas model as a dict.
#[pyfunction]
fn uniform_barrier_model(py: Python<'_>, barrier_ev: f64) -> PyResult<Bound<'_, PyDict>> {
    model_to_dict(py, &BarrierModel::uniform(barrier_ev))
}

/// Check a model dict; raises naming the first bad field.
#[pyfunction]
fn validate_barrier_model(model: &Bound<'_, PyDict>) -> PyDrxkmcResult<()> {
    Ok(model_from_dict(model)?.validate()?)
}

pub(crate) fn model_to_dict<'py>(py: Python<'py>, m: &BarrierModel) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("attempt_frequency_hz", m.attempt_frequency_hz)?;
    d.set_item("channel_barrier_ev", m.channel_barrier_ev.to_vec())?;
    d.set_item("height_slope_ev_per_angstrom", m.height_slope_ev_per_angstrom.to_vec())?;
    d.set_item("reference_height_angstrom", m.reference_height_angstrom)?;
    d.set_item("anion_height_shift_angstrom", m.anion_height_shift_angstrom.to_vec())?;
    d.set_item("anion_corner_ev", m.anion_corner_ev.to_vec())?;
    d.set_item("spectator_li_ev", m.spectator_li_ev)?;
    d.set_item("site_f_ev", m.site_f_ev)?;
    d.set_item("site_cl_ev", m.site_cl_ev)?;
    d.set_item("site_tm_ev", m.site_tm_ev)?;
    d.set_item("site_disorder_ev", m.site_disorder_ev)?;
    d.set_item("site_energy_seed", m.site_energy_seed)?;
    Ok(d)
}

pub(crate) fn model_from_dict(d: &Bound<'_, PyDict>) -> PyDrxkmcResult<BarrierModel> {
    let mut m = BarrierModel::default();
    for (key, value) in d.iter() {
        let key: String = key.extract()?;
        let bad = |what: &str| -> PyDrxkmcErr { invalid(key.clone(), format!("must be {what}")) };
        let num = || value.extract::<f64>().map_err(|_| bad("a number"));
        let arr = |n: usize| -> PyDrxkmcResult<Vec<f64>> {
            let v: Vec<f64> = value.extract().map_err(|_| bad(&format!("a sequence of {n} numbers")))?;
            if v.len() != n {
                return Err(bad(&format!("a sequence of {n} numbers")));
            }
            Ok(v)
        };
        match key.as_str() {
            "attempt_frequency_hz" => m.attempt_frequency_hz = num()?,
            "channel_barrier_ev" => m.channel_barrier_ev.copy_from_slice(&arr(3)?),
            "height_slope_ev_per_angstrom" => m.height_slope_ev_per_angstrom.copy_from_slice(&arr(3)?),
            "reference_height_angstrom" => m.reference_height_angstrom = num()?,
            "anion_height_shift_angstrom" => m.anion_height_shift_angstrom.copy_from_slice(&arr(4)?),
            "anion_corner_ev" => m.anion_corner_ev.copy_from_slice(&arr(4)?),
            "spectator_li_ev" => m.spectator_li_ev = num()?,
            "site_f_ev" => m.site_f_ev = num()?,
            "site_cl_ev" => m.site_cl_ev = num()?,
            "site_tm_ev" => m.site_tm_ev = num()?,
            "site_disorder_ev" => m.site_disorder_ev = num()?,
            "site_energy_seed" => m.site_energy_seed = value.extract().map_err(|_| bad("an integer >= 0"))?,
            _ => return Err(bad("a known barrier-model parameter (unknown name)")),
        }
    }
    Ok(m)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(default_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(uniform_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(validate_barrier_model, m)?)?;
    m.add("BOLTZMANN_EV_PER_K", drxkmc_core::model::BOLTZMANN_EV_PER_K)?;
    Ok(())
}
