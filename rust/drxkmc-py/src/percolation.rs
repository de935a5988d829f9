//! Bindings of drxkmc_core::percolation: one function returning a dict of numpy arrays and
//! counts. Arguments are checked before the GIL is released for the analysis.
use crate::columns::struct_to_dict;
use crate::configuration::PyConfiguration;
use crate::errors::{invalid, PyDrxkmcResult};
use crate::model::model_from_dict;
use drxkmc_core::percolation::{analyze, BondRule, Criterion};
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn parse_criterion(name: &str) -> PyDrxkmcResult<Criterion> {
    match name {
        "auto" => Ok(Criterion::Auto),
        "wrap" => Ok(Criterion::Wrap),
        "surface" => Ok(Criterion::Surface),
        other => Err(invalid("criterion", format!("must be 'auto', 'wrap' or 'surface', got {other:?}"))),
    }
}

/// Percolation analysis of the non-TM network of `config`.
///
/// With `barrier_cutoff_ev` None the k-TM rule applies (`max_tm` = 0, 1 or 2); otherwise a
/// tetrahedron is open when its intrinsic E_KRA under `model` (dict, default model if None)
/// is below the cut-off (eV) and `max_tm` is ignored. `criterion`: 'auto', 'wrap', 'surface'.
/// Returns per-site labels (int32, −1 on TM), per-cluster arrays and counts.
#[pyfunction]
#[pyo3(signature = (config, max_tm=0, barrier_cutoff_ev=None, model=None, criterion="auto"))]
fn percolation_analysis<'py>(
    py: Python<'py>,
    config: &PyConfiguration,
    max_tm: i64,
    barrier_cutoff_ev: Option<f64>,
    model: Option<&Bound<'py, PyDict>>,
    criterion: &str,
) -> PyDrxkmcResult<Bound<'py, PyDict>> {
    let rule = match barrier_cutoff_ev {
        None => {
            if model.is_some() {
                return Err(invalid("model", "is only used with barrier_cutoff_eV (the k-TM rule needs no barriers)"));
            }
            BondRule::max_tm(max_tm)?
        }
        Some(cut) => {
            let m = match model {
                Some(d) => model_from_dict(d)?,
                None => Default::default(),
            };
            BondRule::barrier(m, cut)?
        }
    };
    let criterion = parse_criterion(criterion)?;
    let cfg = &config.0;
    // Cheap checks up front, so that nothing is computed for a bad criterion.
    criterion.resolve(cfg.lattice())?;
    let r = py.detach(|| analyze(cfg, &rule, criterion))?;

    Ok(struct_to_dict(py, &r)?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(percolation_analysis, m)?)?;
    m.add("WRAP_X", drxkmc_core::percolation::WRAP_X)?;
    m.add("WRAP_Y", drxkmc_core::percolation::WRAP_Y)?;
    m.add("WRAP_Z", drxkmc_core::percolation::WRAP_Z)?;
    m.add("SURFACE_BOTTOM", drxkmc_core::percolation::SURFACE_BOTTOM)?;
    m.add("SURFACE_TOP", drxkmc_core::percolation::SURFACE_TOP)?;
    Ok(())
}
