//! Bindings of drxkmc_core::sro (placeholder until the module lands).
use pyo3::prelude::*;

pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
