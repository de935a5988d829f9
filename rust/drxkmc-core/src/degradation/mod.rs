//! Degradation over cycling: a slab is charged and discharged through its surfaces, and at
//! each state structural events change it — TMs migrate octahedral → tetrahedral →
//! octahedral into vacant octahedra (densifying the surface and closing 0-TM channels, or
//! opening them: nothing here builds in a fade), surface O is released at high states of
//! charge and the TMs around its vacancy are reduced.
//!
//! * `model`: the parameters (`DegradationModel`, `CyclingProtocol`) with their sources.
//! * `cell`: the state (`Cycling`), the Li-equilibrated event rates and the cycle.
//! * `file`: checkpoints of a cycling run between cycles.
//! * `probe`: diffusivities measured on the slab after a cycle (records kept by the run).
//!
//! The Li engine is untouched: its hot loop never sees a degradation event. Physics and
//! conventions: docs/design.md#degradation.
pub mod cell;
pub mod file;
pub mod model;
pub mod probe;

pub use cell::{CycleRecord, Cycling, DepthProfile, Interrupted};
pub use model::{CyclingProtocol, DegradationModel};
pub use probe::DiffusivityRecord;

#[cfg(test)]
mod joint_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tetrahedral_tests;
