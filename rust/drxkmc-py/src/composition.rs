//! Bindings of drxkmc_core::composition: a parsed formula with its capacities.
use crate::errors::PyDrxkmcResult;
use drxkmc_core::composition::Composition;
use pyo3::prelude::*;

#[pyclass(name = "Composition", module = "drxkmc._core", frozen)]
pub(crate) struct PyComposition(pub(crate) Composition);

#[pymethods]
impl PyComposition {
    #[new]
    #[pyo3(signature = (formula, oxidation_states=None))]
    fn new(formula: &str, oxidation_states: Option<Vec<(String, f64)>>) -> PyDrxkmcResult<Self> {
        Ok(PyComposition(Composition::parse(formula, &oxidation_states.unwrap_or_default())?))
    }
    #[getter]
    fn formula(&self) -> String {
        self.0.formula().to_string()
    }
    #[getter]
    fn li(&self) -> f64 {
        self.0.li()
    }
    #[getter]
    fn transition_metals(&self) -> Vec<(String, f64)> {
        self.0.transition_metals()
    }
    /// (O, F, Cl) per formula unit.
    #[getter]
    fn anions(&self) -> (f64, f64, f64) {
        self.0.anions()
    }
    #[getter]
    fn cation_sites(&self) -> f64 {
        self.0.cation_sites()
    }
    #[getter]
    fn cation_vacancies(&self) -> f64 {
        self.0.cation_vacancies()
    }
    #[getter]
    fn oxidation_states(&self) -> Vec<(String, f64)> {
        self.0.oxidation_states()
    }
    /// The oxidation states given at construction (not those derived from charge balance).
    #[getter]
    fn oxidation_overrides(&self) -> Vec<(String, f64)> {
        self.0.oxidation_overrides().to_vec()
    }
    #[getter]
    fn molar_mass_g_mol(&self) -> f64 {
        self.0.molar_mass_g_mol()
    }
    #[getter]
    fn capacity_all_li_mah_g(&self) -> f64 {
        self.0.capacity_all_li_mah_g()
    }
    #[getter]
    fn capacity_tm_redox_mah_g(&self) -> f64 {
        self.0.capacity_tm_redox_mah_g()
    }
    #[getter]
    fn tm_redox_electrons(&self) -> f64 {
        self.0.tm_redox_electrons()
    }
    #[getter]
    fn capacity_per_electron_mah_g(&self) -> f64 {
        self.0.capacity_per_electron_mah_g()
    }
}

/// Element symbols accepted as cations (Li and every supported TM).
#[pyfunction]
fn supported_cations() -> Vec<&'static str> {
    drxkmc_core::composition::cation_symbols()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyComposition>()?;
    m.add_function(wrap_pyfunction!(supported_cations, m)?)?;
    Ok(())
}
