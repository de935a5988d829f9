//! Thin pyo3 layer over drxkmc-core: converts arguments, maps errors to Python exceptions,
//! releases the GIL during runs. No physics here. One file per core concept; this one only
//! registers them in the module `drxkmc._core`.

mod columns;
mod composition;
mod configuration;
mod degradation;
mod engine;
mod equilibrium;
mod errors;
mod lattice;
mod model;
mod percolation;
mod sro;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    composition::register(m)?;
    lattice::register(m)?;
    configuration::register(m)?;
    degradation::register(m)?;
    model::register(m)?;
    engine::register(m)?;
    equilibrium::register(m)?;
    percolation::register(m)?;
    sro::register(m)?;
    Ok(())
}
