//! Bindings of drxkmc_core::lattice: the supercell, site positions and the hop geometry tables.
use crate::errors::{invalid, PyDrxkmcResult};
use drxkmc_core::lattice::{Geometry, Lattice, NN_DIRECTIONS, PATHS};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;

#[pyclass(name = "Lattice", module = "drxkmc._core", frozen)]
#[derive(Clone)]
pub(crate) struct PyLattice(pub(crate) Lattice);

fn parse_geometry(name: &str) -> PyDrxkmcResult<Geometry> {
    match name {
        "bulk" => Ok(Geometry::Bulk),
        "slab" => Ok(Geometry::Slab),
        other => Err(invalid("geometry", format!("must be 'bulk' or 'slab', got {other:?}"))),
    }
}

#[pymethods]
impl PyLattice {
    #[new]
    #[pyo3(signature = (size, a, geometry="bulk"))]
    fn new(size: (i64, i64, i64), a: f64, geometry: &str) -> PyDrxkmcResult<Self> {
        let conv = |v: i64| -> PyDrxkmcResult<usize> {
            usize::try_from(v).map_err(|_| invalid("size", format!("must be positive integers, got {v}")))
        };
        let size = [conv(size.0)?, conv(size.1)?, conv(size.2)?];
        Ok(PyLattice(Lattice::new(size, a, parse_geometry(geometry)?)?))
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
    fn cation_positions<'py>(&self, py: Python<'py>) -> PyDrxkmcResult<Bound<'py, PyArray2<f64>>> {
        positions(py, &self.0, |c| self.0.cation_grid_index(c))
    }
    /// Cartesian positions (Å) of the anion sites, shape (n, 3), in anion-index order.
    fn anion_positions<'py>(&self, py: Python<'py>) -> PyDrxkmcResult<Bound<'py, PyArray2<f64>>> {
        positions(py, &self.0, |c| self.0.anion_grid_index(c))
    }
}

fn positions<'py>(
    py: Python<'py>,
    l: &Lattice,
    grid_index: impl Fn(usize) -> usize,
) -> PyDrxkmcResult<Bound<'py, PyArray2<f64>>> {
    let n = l.n_cations();
    let bytes = (n * 3 * std::mem::size_of::<f64>()) as u64;
    let what = || format!("the site positions of {}", drxkmc_core::memory::describe_lattice(l));
    drxkmc_core::memory::require_available("size", what, bytes)?;
    let mut out = Array2::<f64>::zeros((n, 3));
    for c in 0..n {
        let p = l.position(grid_index(c));
        for k in 0..3 {
            out[[c, k]] = p[k];
        }
    }
    Ok(out.into_pyarray(py))
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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLattice>()?;
    m.add_function(wrap_pyfunction!(nn_directions, m)?)?;
    m.add_function(wrap_pyfunction!(path_centres, m)?)?;
    m.add("LATTICE_PARAMETER_RANGE_A", drxkmc_core::lattice::LATTICE_PARAMETER_RANGE_A)?;
    Ok(())
}
