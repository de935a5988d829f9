//! Thin pyo3 layer over drxkmc-core: converts arguments, maps errors to Python exceptions,
//! releases the GIL during runs. No physics here.

use drxkmc_core::checkpoint;
use drxkmc_core::composition::Composition;
use drxkmc_core::config::Configuration;
use drxkmc_core::engine::{Kmc, Stop};
use drxkmc_core::lattice::{Geometry, Lattice, NN_DIRECTIONS, PATHS};
use drxkmc_core::model::BarrierModel;
use drxkmc_core::Error;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::{Mutex, MutexGuard, TryLockError};

pyo3::create_exception!(_core, DrxkmcError, PyValueError, "Base class of every drxkmc input error.");
pyo3::create_exception!(_core, InvalidParameterError, DrxkmcError, "A parameter is out of range, NaN or inconsistent.");
pyo3::create_exception!(
    _core,
    CompositionError,
    DrxkmcError,
    "A formula cannot be parsed or is not a valid composition."
);
pyo3::create_exception!(
    _core,
    SimulationBusyError,
    DrxkmcError,
    "The simulation is in use by another thread (running, or being read or saved)."
);

/// `MemoryLimitError(DrxkmcError, MemoryError)`, made with `type()`: `create_exception!`
/// takes one base, and `except MemoryError` should catch it as well as `except DrxkmcError`.
static MEMORY_LIMIT_ERROR: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> = pyo3::sync::PyOnceLock::new();

fn memory_limit_error(py: Python<'_>) -> PyResult<&Bound<'_, pyo3::types::PyType>> {
    let ty = MEMORY_LIMIT_ERROR.get_or_try_init(py, || -> PyResult<_> {
        let bases = (py.get_type::<DrxkmcError>(), py.get_type::<pyo3::exceptions::PyMemoryError>());
        let attrs = PyDict::new(py);
        attrs.set_item("__module__", "drxkmc._core")?;
        attrs.set_item(
            "__doc__",
            "Not enough memory for the requested lattice (refused before allocating, or an allocation failed).",
        )?;
        let ty = py.get_type::<pyo3::types::PyType>().call1(("MemoryLimitError", bases, attrs))?;
        Ok(ty.cast_into::<pyo3::types::PyType>()?.unbind())
    })?;
    Ok(ty.bind(py))
}

/// The one place where core errors become Python exceptions; `.field` names the argument.
pub(crate) fn to_py(err: Error) -> PyErr {
    let field = err.field().to_string();
    let e = match &err {
        Error::InvalidParameter { .. } => InvalidParameterError::new_err(err.to_string()),
        Error::Composition { .. } => CompositionError::new_err(err.to_string()),
        Error::OutOfMemory { .. } => Python::attach(|py| match memory_limit_error(py) {
            Ok(ty) => PyErr::from_type(ty.clone(), err.to_string()),
            Err(e) => e,
        }),
    };
    Python::attach(|py| {
        let _ = e.value(py).setattr("field", field);
    });
    e
}

pub(crate) trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}
impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

fn parse_geometry(name: &str) -> PyResult<Geometry> {
    match name {
        "bulk" => Ok(Geometry::Bulk),
        "slab" => Ok(Geometry::Slab),
        other => Err(to_py(Error::invalid("geometry", format!("must be 'bulk' or 'slab', got {other:?}")))),
    }
}

// ----- composition ---------------------------------------------------------------------------

#[pyclass(name = "Composition", module = "drxkmc._core", frozen)]
pub(crate) struct PyComposition(pub(crate) Composition);

#[pymethods]
impl PyComposition {
    #[new]
    #[pyo3(signature = (formula, oxidation_states=None))]
    fn new(formula: &str, oxidation_states: Option<Vec<(String, f64)>>) -> PyResult<Self> {
        Ok(PyComposition(Composition::parse(formula, &oxidation_states.unwrap_or_default()).py()?))
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

// ----- lattice -------------------------------------------------------------------------------

#[pyclass(name = "Lattice", module = "drxkmc._core", frozen)]
#[derive(Clone)]
pub(crate) struct PyLattice(pub(crate) Lattice);

#[pymethods]
impl PyLattice {
    #[new]
    #[pyo3(signature = (size, a, geometry="bulk"))]
    fn new(size: (i64, i64, i64), a: f64, geometry: &str) -> PyResult<Self> {
        let conv = |v: i64| -> PyResult<usize> {
            usize::try_from(v).map_err(|_| to_py(Error::invalid("size", format!("must be positive integers, got {v}"))))
        };
        let size = [conv(size.0)?, conv(size.1)?, conv(size.2)?];
        Ok(PyLattice(Lattice::new(size, a, parse_geometry(geometry)?).py()?))
    }
    #[getter]
    fn size(&self) -> (usize, usize, usize) {
        let s = self.0.size();
        (s[0], s[1], s[2])
    }
    #[getter]
    fn a(&self) -> f64 {
        self.0.a()
    }
    #[getter]
    fn geometry(&self) -> &'static str {
        match self.0.geometry() {
            Geometry::Bulk => "bulk",
            Geometry::Slab => "slab",
        }
    }
    #[getter]
    fn n_cations(&self) -> usize {
        self.0.n_cations()
    }
    #[getter]
    fn n_anions(&self) -> usize {
        self.0.n_anions()
    }
    #[getter]
    fn n_tetrahedra(&self) -> usize {
        self.0.n_tetrahedra()
    }
    #[getter]
    fn nn_distance(&self) -> f64 {
        self.0.nn_distance()
    }
    #[getter]
    fn ideal_tetrahedron_height(&self) -> f64 {
        self.0.ideal_tetrahedron_height()
    }
    /// Cartesian positions (Å) of the cation sites, shape (n, 3), in cation-index order.
    fn cation_positions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        positions(py, &self.0, |c| self.0.cation_grid_index(c))
    }
    /// Cartesian positions (Å) of the anion sites, shape (n, 3), in anion-index order.
    fn anion_positions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        positions(py, &self.0, |c| self.0.anion_grid_index(c))
    }
}

fn positions<'py>(
    py: Python<'py>,
    l: &Lattice,
    grid_index: impl Fn(usize) -> usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n = l.n_cations();
    let bytes = (n * 3 * std::mem::size_of::<f64>()) as u64;
    let what = || format!("the site positions of {}", drxkmc_core::memory::describe_lattice(l));
    drxkmc_core::memory::require_available("size", what, bytes).py()?;
    let mut out = Array2::<f64>::zeros((n, 3));
    for c in 0..n {
        let p = l.position(grid_index(c));
        for k in 0..3 {
            out[[c, k]] = p[k];
        }
    }
    Ok(out.into_pyarray(py))
}

// ----- configuration -------------------------------------------------------------------------

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
    ) -> PyResult<Self> {
        Ok(PyConfiguration(
            Configuration::from_species(lattice.0, cations.as_slice()?, anions.as_slice()?, tm_names).py()?,
        ))
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
    ) -> PyResult<Self> {
        Ok(PyConfiguration(Configuration::random(lattice.0, n_li, &tm_counts, tm_names, n_f, n_cl, seed).py()?))
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
    /// Tetrahedra of nearest-neighbour Li pairs by channel: (0-TM, 1-TM, 2-TM).
    fn li_pair_channel_counts(&self) -> (u64, u64, u64) {
        let c = self.0.li_pair_channel_counts();
        (c[0], c[1], c[2])
    }
}

// ----- barrier model -------------------------------------------------------------------------

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
fn validate_barrier_model(model: &Bound<'_, PyDict>) -> PyResult<()> {
    model_from_dict(model)?.validate().py()
}

fn model_to_dict<'py>(py: Python<'py>, m: &BarrierModel) -> PyResult<Bound<'py, PyDict>> {
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

pub(crate) fn model_from_dict(d: &Bound<'_, PyDict>) -> PyResult<BarrierModel> {
    let mut m = BarrierModel::default();
    for (key, value) in d.iter() {
        let key: String = key.extract()?;
        let bad = |what: &str| to_py(Error::invalid(key.clone(), format!("must be {what}")));
        let num = || value.extract::<f64>().map_err(|_| bad("a number"));
        let arr = |n: usize| -> PyResult<Vec<f64>> {
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

// ----- kMC engine ----------------------------------------------------------------------------

/// The engine behind a lock: a call made while another thread holds it (a run with the GIL
/// released, a read, a save) raises `SimulationBusyError` at once instead of waiting or
/// failing inside pyo3.
#[pyclass(name = "Kmc", module = "drxkmc._core", frozen)]
struct PyKmc(Mutex<Kmc>);

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
    fn new(config: &PyConfiguration, model: &Bound<'_, PyDict>, temperature_k: f64, seed: u64) -> PyResult<Self> {
        let model = model_from_dict(model)?;
        Ok(PyKmc(Mutex::new(Kmc::new(&config.0, &model, temperature_k, seed).py()?)))
    }

    /// Run until the clock reaches `t_end_s` or `max_hops` hops are done, observing at
    /// `sample_times_s`. The GIL is released meanwhile. Returns (stop, observations dict).
    fn run<'py>(
        &self,
        py: Python<'py>,
        t_end_s: f64,
        max_hops: u64,
        sample_times_s: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<(&'static str, Bound<'py, PyDict>)> {
        let times = sample_times_s.as_slice()?.to_vec();
        let mut guard = self.engine()?;
        let kmc: &mut Kmc = &mut guard;
        let (stop, obs) = py.detach(|| kmc.run(t_end_s, max_hops, &times)).py()?;
        drop(guard);
        let d = PyDict::new(py);
        d.set_item("time_s", obs.iter().map(|o| o.time_s).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("hops", obs.iter().map(|o| o.hops).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("n_li", obs.iter().map(|o| o.n_li).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("sum_r2", obs.iter().map(|o| o.sum_r2).collect::<Vec<_>>().into_pyarray(py))?;
        for (k, axis) in ["sum_rx", "sum_ry", "sum_rz"].iter().enumerate() {
            d.set_item(*axis, obs.iter().map(|o| o.sum_r[k]).collect::<Vec<_>>().into_pyarray(py))?;
        }
        d.set_item("li_energy_ev", obs.iter().map(|o| o.sum_li_energy_ev).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("n_beyond_one_hop", obs.iter().map(|o| o.n_beyond_one_hop).collect::<Vec<_>>().into_pyarray(py))?;
        let mut oct = Array2::<u64>::zeros((obs.len(), 8));
        for (i, o) in obs.iter().enumerate() {
            for k in 0..8 {
                oct[[i, k]] = o.octant_li[k];
            }
        }
        d.set_item("octant_li", oct.into_pyarray(py))?;
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
    fn set_rate_cap(&self, flux_cap_per_s: f64, mu_ev: f64) -> PyResult<()> {
        self.engine()?.set_rate_cap(flux_cap_per_s, mu_ev).py()
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
        let d = PyDict::new(py);
        d.set_item("from_site", ev.iter().map(|e| e.from as u64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("to_site", ev.iter().map(|e| e.to as u64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("path", ev.iter().map(|e| e.path as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("direction", ev.iter().map(|e| (e.path / 2) as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("channel", ev.iter().map(|e| e.n_tm as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("barrier_eV", ev.iter().map(|e| e.barrier_ev).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("rate_per_s", ev.iter().map(|e| e.rate_per_s).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }
    /// The exact state as a checkpoint file's bytes (`drxkmc_core::checkpoint`), with the
    /// material if given; `Kmc.from_checkpoint` resumes bit-identically.
    #[pyo3(signature = (material=None))]
    fn checkpoint<'py>(&self, py: Python<'py>, material: Option<&PyComposition>) -> PyResult<Bound<'py, PyBytes>> {
        let state = self.engine()?.checkpoint();
        let material = material.map(|m| &m.0);
        let bytes = py.detach(|| checkpoint::encode(&state, material)).py()?;
        Ok(PyBytes::new(py, &bytes))
    }
    /// Resume from checkpoint bytes: (engine, material or None). Every field is validated;
    /// errors name the field `checkpoint`.
    #[staticmethod]
    fn from_checkpoint(py: Python<'_>, data: &[u8]) -> PyResult<(Self, Option<PyComposition>)> {
        let (kmc, material) = py
            .detach(|| {
                let (state, material) = checkpoint::decode(data)?;
                Ok::<_, Error>((Kmc::from_checkpoint(state)?, material))
            })
            .py()?;
        Ok((PyKmc(Mutex::new(kmc)), material.map(PyComposition)))
    }
}

/// Element symbols accepted as cations (Li and every supported TM).
#[pyfunction]
fn supported_cations() -> Vec<&'static str> {
    drxkmc_core::composition::cation_symbols()
}

/// Nearest-neighbour direction vectors (units of a/2) by direction index, shape (12, 3).
#[pyfunction]
fn nn_directions<'py>(py: Python<'py>) -> Bound<'py, PyArray2<i64>> {
    let mut out = Array2::<i64>::zeros((12, 3));
    for (i, d) in NN_DIRECTIONS.iter().enumerate() {
        for k in 0..3 {
            out[[i, k]] = d[k] as i64;
        }
    }
    out.into_pyarray(py)
}

/// Tetrahedron centre of each path, relative to the start site, units of a/4, shape (24, 3).
#[pyfunction]
fn path_centres<'py>(py: Python<'py>) -> Bound<'py, PyArray2<i64>> {
    let mut out = Array2::<i64>::zeros((PATHS.len(), 3));
    for (i, p) in PATHS.iter().enumerate() {
        for k in 0..3 {
            out[[i, k]] = p.centre_quarter[k] as i64;
        }
    }
    out.into_pyarray(py)
}

mod equilibrium;
mod percolation;
mod sro;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    equilibrium::register(m)?;
    percolation::register(m)?;
    sro::register(m)?;
    m.add("DrxkmcError", py.get_type::<DrxkmcError>())?;
    m.add("InvalidParameterError", py.get_type::<InvalidParameterError>())?;
    m.add("CompositionError", py.get_type::<CompositionError>())?;
    m.add("MemoryLimitError", memory_limit_error(py)?)?;
    m.add("SimulationBusyError", py.get_type::<SimulationBusyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyComposition>()?;
    m.add_class::<PyLattice>()?;
    m.add_class::<PyConfiguration>()?;
    m.add_class::<PyKmc>()?;
    m.add_function(wrap_pyfunction!(default_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(uniform_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(validate_barrier_model, m)?)?;
    m.add_function(wrap_pyfunction!(nn_directions, m)?)?;
    m.add_function(wrap_pyfunction!(supported_cations, m)?)?;
    m.add_function(wrap_pyfunction!(path_centres, m)?)?;
    m.add("BOLTZMANN_EV_PER_K", drxkmc_core::model::BOLTZMANN_EV_PER_K)?;
    m.add("LATTICE_PARAMETER_RANGE_A", drxkmc_core::lattice::LATTICE_PARAMETER_RANGE_A)?;
    Ok(())
}
