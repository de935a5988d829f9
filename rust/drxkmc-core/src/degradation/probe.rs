//! Diffusivities measured on a cycled slab: the Li kMC (run from Python) measures D*, D_J and
//! D_chem of the slab as it is after a completed cycle, at a reference Li content; the run
//! keeps one record per measured cycle so that checkpoints carry them. A probe never touches
//! the run's state or random stream: only this list changes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One probe's result: the columns it adds to its cycle's row (names as in the Python frame).
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusivityRecord {
    /// The completed cycle the slab was measured after.
    pub cycle: u32,
    /// Li per formula unit (of the as-made material) and temperature of the measurement.
    pub diffusivity_li_per_fu: f64,
    pub diffusivity_temperature_K: f64,
    /// In-plane (x, y) diffusivities of the slab and their standard errors, cm²/s.
    pub D_tracer_cm2_s: f64,
    pub D_tracer_err_cm2_s: f64,
    pub D_jump_cm2_s: f64,
    pub D_jump_err_cm2_s: f64,
    pub D_chem_cm2_s: f64,
    pub D_chem_err_cm2_s: f64,
    pub thermodynamic_factor: f64,
    /// Li on clusters that span the slab in-plane, over all Li.
    pub diffusivity_mobile_fraction: f64,
    /// kMC hops the measurement took.
    pub diffusivity_hops: u64,
    /// Whether the measurement converged (linear MSD, stationary, precision reached).
    pub diffusivity_converged: bool,
}

impl DiffusivityRecord {
    /// A record that can follow `previous` (measured cycles strictly increasing) in a run of
    /// `cycle` completed cycles; errors name `field`.
    pub(crate) fn check(&self, previous: Option<&DiffusivityRecord>, cycle: u32, field: &str) -> Result<()> {
        if self.cycle == 0 || self.cycle > cycle || previous.is_some_and(|p| p.cycle >= self.cycle) {
            return Err(Error::invalid(
                field,
                format!(
                    "a diffusivity of cycle {} does not fit a run of {cycle} cycle(s) with probes up to cycle {}",
                    self.cycle,
                    previous.map_or(0, |p| p.cycle)
                ),
            ));
        }
        let positive = [self.diffusivity_li_per_fu, self.diffusivity_temperature_K];
        if !positive.iter().all(|x| x.is_finite() && *x >= 0.0) || self.diffusivity_temperature_K == 0.0 {
            return Err(Error::invalid(field, "Li content and temperature must be finite, the temperature > 0"));
        }
        Ok(())
    }
}

/// Check a list of records against a run of `cycle` completed cycles.
pub(crate) fn check_all(records: &[DiffusivityRecord], cycle: u32, field: &str) -> Result<()> {
    let mut previous = None;
    for r in records {
        r.check(previous, cycle, field)?;
        previous = Some(r);
    }
    Ok(())
}
