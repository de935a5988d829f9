//! The one place where core errors become Python exceptions (polars' `PyPolarsErr` pattern):
//! binding functions return [`PyDrxkmcResult`], `?` converts core and Python errors alike, and
//! pyo3 turns the result into the exception class of the core error with `.field` set.
use drxkmc_core::Error;
use numpy::AsSliceError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

// The classes live in `drxkmc.errors` (which re-exports them), so pickle can find them by name:
// an error raised in a process or Dask worker reaches the caller with its type, message and
// `.field` (an instance attribute, carried by `BaseException.__reduce__`).
pyo3::create_exception!(drxkmc.errors, DrxkmcError, PyValueError, "Base class of every drxkmc input error.");
pyo3::create_exception!(
    drxkmc.errors,
    InvalidParameterError,
    DrxkmcError,
    "A parameter is out of range, NaN or inconsistent."
);
pyo3::create_exception!(
    drxkmc.errors,
    CompositionError,
    DrxkmcError,
    "A formula cannot be parsed or is not a valid composition."
);

pyo3::create_exception!(
    drxkmc.errors,
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
        let attrs = pyo3::types::PyDict::new(py);
        attrs.set_item("__module__", "drxkmc.errors")?;
        attrs.set_item(
            "__doc__",
            "Not enough memory for the requested lattice (refused before allocating, or an allocation failed).",
        )?;
        let ty = py.get_type::<pyo3::types::PyType>().call1(("MemoryLimitError", bases, attrs))?;
        Ok(ty.cast_into::<pyo3::types::PyType>()?.unbind())
    })?;
    Ok(ty.bind(py))
}

/// An error on its way to Python: a core error (mapped to its own exception class) or an
/// exception already raised by Python or pyo3 (argument extraction, numpy).
pub(crate) enum PyDrxkmcErr {
    Core(Error),
    Python(PyErr),
}

pub(crate) type PyDrxkmcResult<T> = Result<T, PyDrxkmcErr>;

impl From<Error> for PyDrxkmcErr {
    fn from(err: Error) -> Self {
        PyDrxkmcErr::Core(err)
    }
}

impl From<PyErr> for PyDrxkmcErr {
    fn from(err: PyErr) -> Self {
        PyDrxkmcErr::Python(err)
    }
}

impl From<AsSliceError> for PyDrxkmcErr {
    fn from(err: AsSliceError) -> Self {
        PyDrxkmcErr::Python(err.into())
    }
}

impl From<PyDrxkmcErr> for PyErr {
    fn from(err: PyDrxkmcErr) -> PyErr {
        let err = match err {
            PyDrxkmcErr::Core(err) => err,
            PyDrxkmcErr::Python(err) => return err,
        };
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
}

/// An [`InvalidParameterError`] naming `field`.
pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PyDrxkmcErr {
    Error::invalid(field, reason).into()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("DrxkmcError", py.get_type::<DrxkmcError>())?;
    m.add("InvalidParameterError", py.get_type::<InvalidParameterError>())?;
    m.add("CompositionError", py.get_type::<CompositionError>())?;
    m.add("MemoryLimitError", memory_limit_error(py)?)?;
    m.add("SimulationBusyError", py.get_type::<SimulationBusyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
