//! Bindings of drxkmc_core::sro: the Metropolis annealer (GIL released while it runs) and the
//! SRO measures, each returned as a dict of columns (numpy arrays or lists of str).
use crate::columns::rows_to_dict;
use crate::configuration::PyConfiguration;
use crate::errors::PyDrxkmcResult;
use drxkmc_core::sro::{self, Annealer, Hamiltonian};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Metropolis annealer of a configuration (see drxkmc_core::sro).
#[pyclass(name = "Annealer", module = "drxkmc._core")]
struct PyAnnealer(Annealer);

#[pymethods]
impl PyAnnealer {
    /// `cation_charges`: oxidation state per cation code (vacancy, Li, TMs in `tm_names` order);
    /// `strength_ev`: J (eV/e²); `pair_terms`: (species, species, eV per bond); `anions`: also
    /// swap anions.
    #[new]
    #[pyo3(signature = (config, cation_charges, strength_ev, pair_terms, anions, seed))]
    fn new(
        config: &PyConfiguration,
        cation_charges: Vec<f64>,
        strength_ev: f64,
        pair_terms: Vec<(String, String, f64)>,
        anions: bool,
        seed: u64,
    ) -> PyDrxkmcResult<Self> {
        let ham = Hamiltonian::new(&config.0, &cation_charges, strength_ev, &pair_terms)?;
        Ok(PyAnnealer(Annealer::new(&config.0, ham, anions, seed)?))
    }

    /// `sweeps` sweeps at `temperature_k` (K); the GIL is released meanwhile. Returns the
    /// statistics of every sweep as columns.
    fn run<'py>(&mut self, py: Python<'py>, temperature_k: f64, sweeps: u64) -> PyDrxkmcResult<Bound<'py, PyDict>> {
        let a = &mut self.0;
        let stats = py.detach(|| a.run(temperature_k, sweeps))?;
        Ok(rows_to_dict(py, &stats)?)
    }

    /// Statistics of the current state (no moves), one row.
    fn stats<'py>(&self, py: Python<'py>, temperature_k: f64) -> PyResult<Bound<'py, PyDict>> {
        rows_to_dict(py, &[self.0.stats(temperature_k)])
    }

    /// The current occupancy.
    fn configuration(&self) -> PyConfiguration {
        PyConfiguration(self.0.configuration())
    }

    #[getter]
    fn sweeps(&self) -> u64 {
        self.0.sweeps()
    }

    /// (cation, anion) swaps attempted per sweep.
    #[getter]
    fn attempts_per_sweep(&self) -> (u64, u64) {
        self.0.attempts_per_sweep()
    }
}

/// Warren–Cowley parameters as columns.
#[pyfunction]
fn sro_warren_cowley<'py>(py: Python<'py>, config: &PyConfiguration) -> PyResult<Bound<'py, PyDict>> {
    let rows = py.detach(|| sro::warren_cowley(&config.0));
    rows_to_dict(py, &rows)
}

/// Tetrahedra by cation content as columns (15 rows).
#[pyfunction]
fn sro_tetrahedra<'py>(py: Python<'py>, config: &PyConfiguration) -> PyResult<Bound<'py, PyDict>> {
    let rows = py.detach(|| sro::tetrahedra(&config.0));
    rows_to_dict(py, &rows)
}

/// Anion environments as columns, most common first. With `cation_charges` the column
/// `cation_charge_e` holds the summed charge of the six cations; otherwise it is absent.
#[pyfunction]
#[pyo3(signature = (config, cation_charges=None))]
fn sro_anion_environments<'py>(
    py: Python<'py>,
    config: &PyConfiguration,
    cation_charges: Option<Vec<f64>>,
) -> PyDrxkmcResult<Bound<'py, PyDict>> {
    let rows = py.detach(|| sro::anion_environments(&config.0, cation_charges.as_deref()))?;
    Ok(rows_to_dict(py, &rows)?)
}

/// Energy of `config` under the annealing Hamiltonian: (electroneutrality eV, pair eV,
/// rms charge deviation e).
#[pyfunction]
fn sro_energy(
    config: &PyConfiguration,
    cation_charges: Vec<f64>,
    strength_ev: f64,
    pair_terms: Vec<(String, String, f64)>,
) -> PyDrxkmcResult<(f64, f64, f64)> {
    let ham = Hamiltonian::new(&config.0, &cation_charges, strength_ev, &pair_terms)?;
    let e = sro::energy(&config.0, &ham);
    Ok((e.electroneutrality_ev, e.pair_ev, e.charge_deviation_rms_e))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAnnealer>()?;
    m.add_function(wrap_pyfunction!(sro_warren_cowley, m)?)?;
    m.add_function(wrap_pyfunction!(sro_tetrahedra, m)?)?;
    m.add_function(wrap_pyfunction!(sro_anion_environments, m)?)?;
    m.add_function(wrap_pyfunction!(sro_energy, m)?)?;
    Ok(())
}
