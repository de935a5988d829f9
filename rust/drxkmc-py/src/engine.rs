//! Bindings of drxkmc_core::engine: the kMC engine (GIL released while it runs), its state
//! and observations as numpy arrays, and its exact checkpoint.
use crate::columns::rows_to_dict;
use crate::composition::PyComposition;
use crate::configuration::PyConfiguration;
use crate::errors::{PyDrxkmcResult, SimulationBusyError};
use crate::lattice::PyLattice;
use crate::model::{model_from_dict, model_to_dict};
use drxkmc_core::checkpoint;
use drxkmc_core::config::species;
use drxkmc_core::engine::{Frame, Kmc, Stop, NO_LI};
use drxkmc_core::Error;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// The engine behind a lock: a call made while another thread holds it (a run with the GIL
/// released, a read, a save) raises `SimulationBusyError` at once instead of waiting or
/// failing inside pyo3. The second field is the callable that receives trajectory frames
/// (`set_frames`), if any.
#[pyclass(name = "Kmc", module = "drxkmc._core", frozen)]
pub(crate) struct PyKmc(Mutex<Kmc>, Mutex<Option<Py<PyAny>>>);

/// Bytes of trajectory frames the engine buffers before handing them to the frame sink.
const FRAME_BUFFER_BYTES: usize = 16 << 20;

/// Unwrapped positions in a/2 as an (n, 3) array in Å.
fn positions_a<'py>(py: Python<'py>, p: &[[i64; 3]], half_a: f64) -> Bound<'py, PyArray2<f64>> {
    let mut out = Array2::<f64>::zeros((p.len(), 3));
    for (i, r) in p.iter().enumerate() {
        for k in 0..3 {
            out[[i, k]] = r[k] as f64 * half_a;
        }
    }
    out.into_pyarray(py)
}

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
        Ok(PyKmc(Mutex::new(Kmc::new(&config.0, &model, temperature_k, seed)?), Mutex::new(None)))
    }

    /// Run until the clock reaches `t_end_s` or `max_hops` hops are done, observing at
    /// `sample_times_s`. The GIL is released meanwhile, except to hand trajectory frames to
    /// the frame sink (`set_frames`). Returns (stop, observations dict).
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
        let sink = self.1.lock().map_err(|_| busy())?.as_ref().map(|s| s.clone_ref(py));
        let h0 = kmc.hops();
        let mut obs = Vec::new();
        let stop = loop {
            let left = max_hops.saturating_sub(kmc.hops() - h0);
            let (stop, part) = py.detach(|| kmc.run(t_end_s, left, &times))?;
            obs.extend(part);
            let frames = kmc.take_frames();
            if let Some(sink) = &sink {
                deliver(py, sink, &frames, kmc.lattice().a() / 2.0)?;
            }
            if stop != Stop::Frames {
                break stop;
            }
        };
        drop(guard);
        let d = rows_to_dict(py, &obs)?;
        let stop = match stop {
            Stop::Time => "time",
            Stop::Hops => "hops",
            Stop::NoEvents => "no_events",
            Stop::Frames => unreachable!("the loop above resumes after frames"),
        };
        Ok((stop, d))
    }

    /// Give every Li an id that moves with it (0, 1, … in cation-index order; kept if on).
    fn enable_li_ids(&self) -> PyDrxkmcResult<()> {
        Ok(self.engine()?.enable_li_ids()?)
    }
    #[getter]
    fn li_ids_enabled(&self) -> PyResult<bool> {
        Ok(self.engine()?.li_ids_enabled())
    }
    /// The id of the Li on every cation site (NO_LI = 2³² − 1 where none), or None when ids
    /// are off.
    fn li_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray1<u32>>>> {
        Ok(self.engine()?.li_ids().map(|v| v.into_pyarray(py)))
    }
    /// (ids, unwrapped positions in Å, shape (n_Li, 3)) of every Li in id order, or None
    /// when ids are off.
    #[allow(clippy::type_complexity)]
    fn li_positions<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyArray1<u32>>, Bound<'py, PyArray2<f64>>)>> {
        let kmc = self.engine()?;
        let half_a = kmc.lattice().a() / 2.0;
        Ok(kmc.li_positions().map(|p| {
            let ids: Vec<u32> = (0..p.len() as u32).collect();
            (ids.into_pyarray(py), positions_a(py, &p, half_a))
        }))
    }
    /// Call `sink(time_s, count, hops, positions_A)` with the unwrapped Li positions (id
    /// order, Å) at `start_s + k·every_s` while the engine runs (turning ids on); `count`
    /// frames from `time_s` on, `every_s` apart, share one state. The sink must not use this
    /// engine (it is busy running).
    fn set_frames(&self, start_s: f64, every_s: f64, sink: Bound<'_, PyAny>) -> PyDrxkmcResult<()> {
        if !sink.is_callable() {
            return Err(Error::invalid("sink", "must be callable").into());
        }
        let mut kmc = self.engine()?;
        let n_li = kmc.cations().iter().filter(|&&c| c == species::LI).count();
        let capacity = FRAME_BUFFER_BYTES / (24 * n_li.max(1));
        kmc.set_frames(start_s, every_s, capacity)?;
        *self.1.lock().map_err(|_| busy())? = Some(sink.unbind());
        Ok(())
    }
    /// Stop taking trajectory frames.
    fn clear_frames(&self) -> PyResult<()> {
        self.engine()?.clear_frames();
        *self.1.lock().map_err(|_| busy())? = None;
        Ok(())
    }
    /// Count hops by tetrahedron class from now on (kept if on).
    fn enable_channel_counts(&self) -> PyResult<()> {
        self.engine()?.enable_channel_counts();
        Ok(())
    }
    /// Count net hops across every nearest-neighbour bond from now on (kept if on).
    fn enable_bond_flux(&self) -> PyDrxkmcResult<()> {
        Ok(self.engine()?.enable_bond_flux()?)
    }
    /// Net hops across every bond that carried any since counting began, as columns
    /// (`from_site`, `to_site`, `net_hops`: hops from → to minus to → from), or None.
    fn bond_flux<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(flux) = self.engine()?.bond_flux() else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("from_site", flux.iter().map(|f| f.0 as u64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("to_site", flux.iter().map(|f| f.1 as u64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("net_hops", flux.iter().map(|f| f.2 as i64).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(Some(d))
    }
    /// Hops by tetrahedron class since counting began, as columns (`channel` = TM count,
    /// `n_O`, `n_F`, `n_Cl`, `n_anion_vacancy` corners, `hops`), or None when not counted.
    fn channel_hops<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let kmc = self.engine()?;
        let Some(counts) = kmc.class_hops() else { return Ok(None) };
        let classes: Vec<(usize, [u8; 4], u64)> = kmc
            .class_descriptions()
            .into_iter()
            .zip(counts)
            .filter(|((n_tm, _), _)| *n_tm <= 2)
            .map(|((n_tm, corners), c)| (n_tm, corners, c))
            .collect();
        let d = PyDict::new(py);
        d.set_item("channel", classes.iter().map(|c| c.0 as u8).collect::<Vec<_>>().into_pyarray(py))?;
        for (name, code) in [
            ("n_O", species::O),
            ("n_F", species::F),
            ("n_Cl", species::CL),
            ("n_anion_vacancy", species::ANION_VACANCY),
        ] {
            let n: Vec<u8> = classes.iter().map(|c| c.1.iter().filter(|&&x| x == code).count() as u8).collect();
            d.set_item(name, n.into_pyarray(py))?;
        }
        d.set_item("hops", classes.iter().map(|c| c.2).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(Some(d))
    }
    /// The frame sink can refer back to this engine (a writer holding its simulation): let
    /// the garbage collector see it. Skipped while the sink is being changed.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Ok(sink) = self.1.try_lock() {
            if let Some(s) = sink.as_ref() {
                visit.call(s)?;
            }
        }
        Ok(())
    }
    fn __clear__(&self) {
        if let Ok(mut sink) = self.1.try_lock() {
            *sink = None;
        }
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
        Ok((PyKmc(Mutex::new(kmc), Mutex::new(None)), material.map(PyComposition)))
    }
}

/// Hand frames to the sink, one call per run of identical frames.
fn deliver(py: Python<'_>, sink: &Py<PyAny>, frames: &[Frame], half_a: f64) -> PyResult<()> {
    for f in frames {
        sink.call1(py, (f.time_s, f.count, f.hops, positions_a(py, &f.positions, half_a)))?;
    }
    Ok(())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKmc>()?;
    m.add("NO_LI", NO_LI)?;
    Ok(())
}
