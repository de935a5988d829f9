//! Bindings of drxkmc_core::model: the barrier model crosses the boundary as a dict of its
//! fields, converted by serde from the Rust struct, the one declaration of the parameters (the
//! Python dataclass `drxkmc.BarrierModel` takes its defaults from here).
use crate::errors::{invalid, PyDrxkmcResult};
use drxkmc_core::model::BarrierModel;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};
use pythonize::{pythonize, Depythonizer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_path_to_error::Segment;

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

/// The model as a dict of its fields, in declaration order (serde: one list of parameters).
pub(crate) fn model_to_dict<'py>(py: Python<'py>, m: &BarrierModel) -> PyResult<Bound<'py, PyDict>> {
    struct_to_dict(py, m)
}

/// A model from a dict of some of its fields (the rest default). An unknown name or a value of
/// the wrong type or length raises naming that field; ranges are checked by `validate`.
pub(crate) fn model_from_dict(d: &Bound<'_, PyDict>) -> PyDrxkmcResult<BarrierModel> {
    struct_from_dict(d, "barrier-model")
}

/// Any parameter struct as a dict of its fields, in declaration order.
pub(crate) fn struct_to_dict<'py, T: Serialize>(py: Python<'py>, m: &T) -> PyResult<Bound<'py, PyDict>> {
    Ok(pythonize(py, m)?.cast_into::<PyDict>()?)
}

/// Any parameter struct from a dict of some of its fields (the rest from `T::default()`):
/// the one conversion of every parameter set (barrier model, degradation model, protocol).
/// An unknown name or a value of the wrong type raises naming that field; `what` names the
/// parameter set in messages.
pub(crate) fn struct_from_dict<T: Serialize + DeserializeOwned + Default>(
    d: &Bound<'_, PyDict>,
    what: &str,
) -> PyDrxkmcResult<T> {
    let defaults = struct_to_dict(d.py(), &T::default())?;
    let full = defaults.copy()?;
    for (key, value) in d.iter() {
        let Some(default) = defaults.get_item(&key)? else {
            return Err(invalid(key.str()?.to_string(), format!("must be a known {what} parameter (unknown name)")));
        };
        // A per-channel or per-anion field takes any iterable of numbers (list, numpy array…).
        let value = match value.try_iter() {
            Ok(items) if default.is_instance_of::<PyTuple>() && !value.is_instance_of::<PyString>() => {
                PyTuple::new(d.py(), items.collect::<PyResult<Vec<_>>>()?)?.into_any()
            }
            _ => value,
        };
        full.set_item(key, value)?;
    }
    serde_path_to_error::deserialize(&mut Depythonizer::from_object(full.as_any())).map_err(|err| {
        let field = match err.path().iter().next() {
            Some(Segment::Map { key }) => key.clone(),
            _ => what.to_string(),
        };
        let expected = match defaults.get_item(&field) {
            Ok(Some(default)) => expected_kind(&default),
            _ => format!("a {what} dict"),
        };
        invalid(field, format!("must be {expected} ({})", err.inner()))
    })
}

/// What a field takes, read off its default value.
fn expected_kind(default: &Bound<'_, PyAny>) -> String {
    if let Ok(seq) = default.cast::<PyTuple>() {
        format!("a sequence of {} numbers", seq.len())
    } else if default.is_instance_of::<PyDict>() {
        "a dict".to_string()
    } else if default.is_instance_of::<pyo3::types::PyList>() {
        "a list".to_string()
    } else if default.is_instance_of::<PyInt>() {
        "an integer >= 0".to_string()
    } else {
        "a number".to_string()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(default_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(uniform_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(validate_barrier_model, m)?)?;
    m.add("BOLTZMANN_EV_PER_K", drxkmc_core::model::BOLTZMANN_EV_PER_K)?;
    Ok(())
}
