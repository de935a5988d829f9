//! Bindings of drxkmc_core::degradation: the degradation model and cycling protocol as dicts
//! (serde, like the barrier model), and a cycling run (GIL released during a cycle; Ctrl-C
//! abandons the cycle and leaves the run as it was before it).
use crate::composition::PyComposition;
use crate::configuration::PyConfiguration;
use crate::errors::{PyDrxkmcResult, SimulationBusyError};
use crate::model::{model_from_dict, struct_from_dict, struct_to_dict};
use drxkmc_core::degradation::{file, Cycling, CyclingProtocol, DegradationModel, DiffusivityRecord};
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::{Mutex, MutexGuard};

#[pyfunction]
fn default_degradation_model(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    struct_to_dict(py, &DegradationModel::default())
}

#[pyfunction]
fn default_cycling_protocol(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    struct_to_dict(py, &CyclingProtocol::default())
}

/// Check a degradation-model dict; raises naming the first bad field.
#[pyfunction]
fn validate_degradation_model(model: &Bound<'_, PyDict>) -> PyDrxkmcResult<()> {
    Ok(struct_from_dict::<DegradationModel>(model, "degradation-model")?.validate()?)
}

/// Check a cycling-protocol dict; raises naming the first bad field.
#[pyfunction]
fn validate_cycling_protocol(protocol: &Bound<'_, PyDict>) -> PyDrxkmcResult<()> {
    Ok(struct_from_dict::<CyclingProtocol>(protocol, "cycling-protocol")?.validate()?)
}

#[pyclass(name = "Cycling", module = "drxkmc._core", frozen)]
pub(crate) struct PyCycling(Mutex<Cycling>);

impl PyCycling {
    fn run(&self) -> PyResult<MutexGuard<'_, Cycling>> {
        self.0
            .try_lock()
            .map_err(|_| SimulationBusyError::new_err("cycling: is busy: another thread is running or saving it"))
    }
}

#[pymethods]
impl PyCycling {
    #[new]
    fn new(
        config: &PyConfiguration,
        material: &PyComposition,
        barrier_model: &Bound<'_, PyDict>,
        degradation_model: &Bound<'_, PyDict>,
        protocol: &Bound<'_, PyDict>,
        seed: u64,
    ) -> PyDrxkmcResult<Self> {
        let barrier = model_from_dict(barrier_model)?;
        let model: DegradationModel = struct_from_dict(degradation_model, "degradation-model")?;
        let protocol: CyclingProtocol = struct_from_dict(protocol, "cycling-protocol")?;
        Ok(PyCycling(Mutex::new(Cycling::new(&config.0, &material.0, &barrier, &model, &protocol, seed)?)))
    }

    /// Run one cycle with the GIL released; returns its record as a dict. Ctrl-C (or any
    /// pending signal handler that raises) abandons the cycle, restores the run as it was
    /// before it, and raises.
    fn run_cycle<'py>(&self, py: Python<'py>) -> PyDrxkmcResult<Bound<'py, PyDict>> {
        let mut guard = self.run()?;
        let run: &mut Cycling = &mut guard;
        let signal: Mutex<Option<PyErr>> = Mutex::new(None);
        let stop = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    *signal.lock().expect("not poisoned") = Some(e);
                    true
                }
            })
        };
        let out = py.detach(|| run.run_cycle(&stop));
        match out {
            Ok(record) => Ok(struct_to_dict(py, &record?)?),
            Err(_) => {
                let err = signal.lock().expect("not poisoned").take();
                Err(err.unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err("cycle interrupted")).into())
            }
        }
    }

    /// Per-plane fractions (surface first) now, as a dict of lists.
    fn depth_profile<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        struct_to_dict(py, &self.run()?.depth_profile())
    }

    /// Every completed cycle's record, as a list of dicts.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.run()?.records())?)
    }
    /// Every completed cycle's depth profile, as a list of dicts of lists.
    fn profiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.run()?.profiles())?)
    }
    /// Every completed cycle's events by kind and species, as a list of dicts.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.run()?.events())?)
    }
    /// The material, as (formula, oxidation-state overrides).
    fn material(&self) -> PyResult<PyComposition> {
        Ok(PyComposition(self.run()?.composition().clone()))
    }
    #[getter]
    fn cycle(&self) -> PyResult<u32> {
        Ok(self.run()?.cycle())
    }
    #[getter]
    fn time_s(&self) -> PyResult<f64> {
        Ok(self.run()?.time_s())
    }
    /// The current configuration (with site-resolved TM valences).
    fn configuration(&self) -> PyResult<PyConfiguration> {
        Ok(PyConfiguration(self.run()?.config().clone()))
    }
    /// The configuration the run's Li network sees (lost sites as TMs), for the Li kMC.
    fn network_configuration(&self) -> PyDrxkmcResult<PyConfiguration> {
        Ok(PyConfiguration(self.run()?.network_configuration()?))
    }
    /// Cation sites lost to densification (cation order).
    fn lost_sites<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<bool>>> {
        Ok(self.run()?.lost_sites().to_vec().into_pyarray(py))
    }
    /// The run's Li barrier model and protocol, as dicts.
    fn barrier_model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        struct_to_dict(py, self.run()?.barrier_model())
    }
    fn protocol<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        struct_to_dict(py, self.run()?.protocol())
    }
    /// The run's degradation model, as a dict, and the seed it started from.
    fn degradation_model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        struct_to_dict(py, self.run()?.degradation_model())
    }
    #[getter]
    fn seed(&self) -> PyResult<u64> {
        Ok(self.run()?.seed())
    }
    /// Keep a diffusivity measured after the latest cycle (a dict of `DiffusivityRecord`).
    fn add_diffusivity(&self, record: &Bound<'_, PyDict>) -> PyDrxkmcResult<()> {
        let record: DiffusivityRecord = pythonize::depythonize(record).map_err(|e| {
            drxkmc_core::error::Error::invalid("diffusivity", format!("is not a diffusivity record: {e}"))
        })?;
        Ok(self.run()?.add_diffusivity(record)?)
    }
    /// The diffusivities measured after cycles, as a list of dicts.
    fn diffusivity_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, self.run()?.diffusivity_records())?)
    }
    /// Total charge of the cell, e (0: neutral).
    fn charge(&self) -> PyResult<i64> {
        Ok(self.run()?.charge_sum())
    }

    /// The checkpoint file of the run (between cycles), bytes.
    fn checkpoint<'py>(&self, py: Python<'py>) -> PyDrxkmcResult<Bound<'py, PyBytes>> {
        let guard = self.run()?;
        let run: &Cycling = &guard;
        let bytes = py.detach(|| file::encode(run))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A run from its checkpoint file; errors name the field `checkpoint`.
    #[staticmethod]
    fn from_checkpoint(py: Python<'_>, data: &[u8]) -> PyDrxkmcResult<Self> {
        let run = py.detach(|| file::decode(data))?;
        Ok(PyCycling(Mutex::new(run)))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(default_degradation_model, m)?)?;
    m.add_function(wrap_pyfunction!(default_cycling_protocol, m)?)?;
    m.add_function(wrap_pyfunction!(validate_degradation_model, m)?)?;
    m.add_function(wrap_pyfunction!(validate_cycling_protocol, m)?)?;
    m.add_class::<PyCycling>()?;
    Ok(())
}
