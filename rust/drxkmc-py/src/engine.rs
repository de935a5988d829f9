//! Bindings of drxkmc_core::engine: the kMC engine (GIL released while it runs), its state
//! and observations as numpy arrays, and its exact checkpoint.
use crate::columns::rows_to_dict;
use crate::composition::PyComposition;
use crate::configuration::PyConfiguration;
use crate::errors::{PyDrxkmcResult, SimulationBusyError};
use crate::lattice::PyLattice;
use crate::model::{model_from_dict, model_to_dict};
use drxkmc_core::checkpoint;
use drxkmc_core::engine::{Kmc, Stop};
use drxkmc_core::Error;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// The engine behind a lock: a call made while another thread holds it (a run with the GIL
/// released, a read, a save) raises `SimulationBusyError` at once instead of waiting or
/// failing inside pyo3.
#[pyclass(name = "Kmc", module = "drxkmc._core", frozen)]
pub(crate) struct PyKmc(Mutex<Kmc>);

fn busy() -> PyErr {
    let err = SimulationBusyError::new_err(
        "simulation: is busy: another thread is running, reading or saving it; wait for that call \
         to return (or give each thread its own Simulation)",
    );
    Python::attach(|py| {
        let _ = err.value(py).setattr("field", "simulation");
    });
    err
}

impl PyKmc {
    fn engine(&self) -> PyResult<MutexGuard<'_, Kmc>> {
        match self.0.try_lock() {
            Ok(kmc) => Ok(kmc),
            Err(TryLockError::WouldBlock) => Err(busy()),
            Err(TryLockError::Poisoned(_)) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "the simulation was interrupted by an internal error and may be inconsistent; \
                 resume from its last checkpoint",
            )),
        }
    }
}

#[pymethods]
impl PyKmc {
    #[new]
    fn new(config: &PyConfiguration, model: &Bound<'_, PyDict>, temperature_k: f64, seed: u64) -> PyDrxkmcResult<Self> {
        let model = model_from_dict(model)?;
        Ok(PyKmc(Mutex::new(Kmc::new(&config.0, &model, temperature_k, seed)?)))
    }

    /// Run until the clock reaches `t_end_s` or `max_hops` hops are done, observing at
    /// `sample_times_s`. The GIL is released meanwhile. Returns (stop, observations dict).
    fn run<'py>(
        &self,
        py: Python<'py>,
        t_end_s: f64,
        max_hops: u64,
        sample_times_s: PyReadonlyArray1<'_, f64>,
    ) -> PyDrxkmcResult<(&'static str, Bound<'py, PyDict>)> {
        let times = sample_times_s.as_slice()?.to_vec();
        let mut guard = self.engine()?;
        let kmc: &mut Kmc = &mut guard;
        let (stop, obs) = py.detach(|| kmc.run(t_end_s, max_hops, &times))?;
        drop(guard);
        let d = rows_to_dict(py, &obs)?;
        let stop = match stop {
            Stop::Time => "time",
            Stop::Hops => "hops",
            Stop::NoEvents => "no_events",
        };
        Ok((stop, d))
    }

    fn reset_displacements(&self) -> PyResult<()> {
        self.engine()?.reset_displacements();
        Ok(())
    }
    #[getter]
    fn time_s(&self) -> PyResult<f64> {
        Ok(self.engine()?.time_s())
    }
    #[getter]
    fn hops(&self) -> PyResult<u64> {
        Ok(self.engine()?.hops())
    }
    #[getter]
    fn temperature_k(&self) -> PyResult<f64> {
        Ok(self.engine()?.temperature_k())
    }
    #[getter]
    fn tm_names(&self) -> PyResult<Vec<String>> {
        Ok(self.engine()?.tm_names().to_vec())
    }
    #[getter]
    fn lattice(&self) -> PyResult<PyLattice> {
        Ok(PyLattice(*self.engine()?.lattice()))
    }
    fn model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        model_to_dict(py, self.engine()?.model())
    }
    /// Cap the equilibrium flux of every path at `flux_cap_per_s` (s⁻¹; inf: off) with
    /// occupancies at μ = `mu_ev`.
    fn set_rate_cap(&self, flux_cap_per_s: f64, mu_ev: f64) -> PyDrxkmcResult<()> {
        Ok(self.engine()?.set_rate_cap(flux_cap_per_s, mu_ev)?)
    }
    /// (flux cap s⁻¹, μ eV).
    #[getter]
    fn rate_cap(&self) -> PyResult<(f64, f64)> {
        Ok(self.engine()?.rate_cap())
    }
    /// Bytes allocated by the engine's per-site buffers.
    #[getter]
    fn memory_bytes(&self) -> PyResult<usize> {
        Ok(self.engine()?.memory_bytes())
    }
    /// Total escape rate, s⁻¹: the sum of the stored f32 upper bounds, ≤ 2⁻²³ above exact.
    #[getter]
    fn total_rate(&self) -> PyResult<f64> {
        Ok(self.engine()?.total_rate())
    }
    fn cations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u8>>> {
        Ok(self.engine()?.cations().into_pyarray(py))
    }
    fn anions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u8>>> {
        Ok(self.engine()?.anions().into_pyarray(py))
    }
    /// Displacement (Å) of the Li on each cation site since the last reset, shape (n, 3).
    fn displacements<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let kmc = self.engine()?;
        let half_a = kmc.lattice().a() / 2.0;
        let d = kmc.displacements();
        let mut out = Array2::<f64>::zeros((d.len(), 3));
        for (i, r) in d.iter().enumerate() {
            for k in 0..3 {
                out[[i, k]] = r[k] as f64 * half_a;
            }
        }
        Ok(out.into_pyarray(py))
    }
    fn site_energies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(self.engine()?.site_energies().into_pyarray(py))
    }
    /// Exact escape rate of every cation site (0 where there is no Li), s⁻¹.
    fn escape_rates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(self.engine()?.escape_rates().into_pyarray(py))
    }
    /// Every current event as columns.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let ev = self.engine()?.events();
        rows_to_dict(py, &ev)
    }
    /// The exact state as a checkpoint file's bytes (`drxkmc_core::checkpoint`), with the
    /// material if given; `Kmc.from_checkpoint` resumes bit-identically.
    #[pyo3(signature = (material=None))]
    fn checkpoint<'py>(
        &self,
        py: Python<'py>,
        material: Option<&PyComposition>,
    ) -> PyDrxkmcResult<Bound<'py, PyBytes>> {
        let state = self.engine()?.checkpoint();
        let material = material.map(|m| &m.0);
        let bytes = py.detach(|| checkpoint::encode(&state, material))?;
        Ok(PyBytes::new(py, &bytes))
    }
    /// Resume from checkpoint bytes: (engine, material or None). Every field is validated;
    /// errors name the field `checkpoint`.
    #[staticmethod]
    fn from_checkpoint(py: Python<'_>, data: &[u8]) -> PyDrxkmcResult<(Self, Option<PyComposition>)> {
        let (kmc, material) = py.detach(|| {
            let (state, material) = checkpoint::decode(data)?;
            Ok::<_, Error>((Kmc::from_checkpoint(state)?, material))
        })?;
        Ok((PyKmc(Mutex::new(kmc)), material.map(PyComposition)))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKmc>()?;
    Ok(())
}
