//! Bindings of drxkmc_core::config: per-site species codes on a lattice.
use crate::errors::PyDrxkmcResult;
use crate::lattice::PyLattice;
use drxkmc_core::config::{Configuration, TetrahedralTm};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

#[pyclass(name = "Configuration", module = "drxkmc._core", frozen)]
pub(crate) struct PyConfiguration(pub(crate) Configuration);

#[pymethods]
impl PyConfiguration {
    /// Explicit per-site species codes (see `species_codes`).
    #[staticmethod]
    fn from_species(
        lattice: &PyLattice,
        cations: PyReadonlyArray1<'_, u8>,
        anions: PyReadonlyArray1<'_, u8>,
        tm_names: Vec<String>,
    ) -> PyDrxkmcResult<Self> {
        Ok(PyConfiguration(Configuration::from_species(lattice.0, cations.as_slice()?, anions.as_slice()?, tm_names)?))
    }
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn random(
        lattice: &PyLattice,
        n_li: usize,
        tm_counts: Vec<usize>,
        tm_names: Vec<String>,
        n_f: usize,
        n_cl: usize,
        seed: u64,
    ) -> PyDrxkmcResult<Self> {
        Ok(PyConfiguration(Configuration::random(lattice.0, n_li, &tm_counts, tm_names, n_f, n_cl, seed)?))
    }
    #[getter]
    fn lattice(&self) -> PyLattice {
        PyLattice(*self.0.lattice())
    }
    #[getter]
    fn tm_names(&self) -> Vec<String> {
        self.0.tm_names().to_vec()
    }
    fn cations<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.0.cations().into_pyarray(py)
    }
    fn anions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.0.anions().into_pyarray(py)
    }
    /// Site-resolved TM oxidation states (cation order, 0 off TM sites), or None if the
    /// configuration does not track them (every TM at its composition's average state).
    fn valences<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i8>>> {
        let v = self.0.valences();
        (!v.is_empty()).then(|| v.to_vec().into_pyarray(py))
    }
    /// The same configuration with site-resolved TM oxidation states.
    fn with_valences(&self, valences: PyReadonlyArray1<'_, i8>) -> PyDrxkmcResult<Self> {
        Ok(PyConfiguration(self.0.clone().with_valences(valences.as_slice()?.to_vec())?))
    }
    /// TMs on tetrahedral sites as (tetrahedron, species code, valence).
    fn tetrahedral(&self) -> Vec<(u32, u8, i8)> {
        self.0.tetrahedral().iter().map(|t| (t.tetrahedron, t.code, t.valence)).collect()
    }
    /// The same configuration with TMs on tetrahedral sites, (tetrahedron, code, valence).
    fn with_tetrahedral(&self, tms: Vec<(u32, u8, i8)>) -> PyDrxkmcResult<Self> {
        let tms =
            tms.into_iter().map(|(tetrahedron, code, valence)| TetrahedralTm { tetrahedron, code, valence }).collect();
        Ok(PyConfiguration(self.0.clone().with_tetrahedral(tms)?))
    }
    /// Tetrahedra of nearest-neighbour Li pairs by channel: (0-TM, 1-TM, 2-TM).
    fn li_pair_channel_counts(&self) -> (u64, u64, u64) {
        let c = self.0.li_pair_channel_counts();
        (c[0], c[1], c[2])
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use drxkmc_core::config::species;
    m.add_class::<PyConfiguration>()?;
    // The species codes of the occupancy arrays, so Python never writes them as numbers.
    m.add("SPECIES_VACANCY", species::VACANCY)?;
    m.add("SPECIES_LI", species::LI)?;
    m.add("SPECIES_FIRST_TM", species::FIRST_TM)?;
    m.add("ANION_NAMES", species::ANION_NAMES.to_vec())?;
    Ok(())
}
