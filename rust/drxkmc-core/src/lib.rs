//! drxkmc-core: kinetic Monte Carlo of Li o-t-o diffusion in cation-disordered rocksalt.
//!
//! Pure Rust, no Python: `lattice` (geometry), `composition` (formulas, capacities),
//! `config` (site occupancy), `model` (barriers), `tree` (rate selection), `engine` (kMC),
//! `checkpoint` (framed, validated checkpoint files).
pub mod acceleration;
pub mod checkpoint;
pub mod composition;
pub mod config;
pub mod engine;
pub mod equilibrium;
pub mod error;
pub mod lattice;
pub mod memory;
pub mod model;
pub mod percolation;
pub mod random;
pub mod site_energy;
pub mod sro;
pub mod tree;
pub mod union_find;

pub use error::{Error, Result};
