//! drxkmc-core: kinetic Monte Carlo of Li o-t-o diffusion in cation-disordered rocksalt.
//!
//! Pure Rust, no Python. Modules, from the ground up:
//!
//! * Structure: `lattice` (rocksalt geometry on one grid, neighbour offsets, the o-t-o paths,
//!   the sublattice iterators `Lattice::cation_points`/`anion_points`, the engine's tiled site
//!   order), `composition` (formulas, oxidation states, capacities), `config` (site occupancy).
//! * Energetics: `model` (KRA barriers and their table), `site_energy` (Li site energies).
//! * kMC: `engine` (the residence-time kMC: `engine/mod.rs` the engine and run loop,
//!   `engine/site.rs` the per-site records and direction tables, `engine/rates.rs` path and
//!   escape rates and the rate cap, `engine/observe.rs` observations and state views),
//!   `tree` (sum tree for rate selection), `acceleration` (the rate cap that removes
//!   rattling), `checkpoint` (framed, validated checkpoint files).
//! * Degradation: `degradation` (cycling a slab: TM migration, O loss and the reduction it
//!   causes, on Li-equilibrated rates; `degradation/model.rs` its parameters,
//!   `degradation/cell.rs` the state, events and cycle, `degradation/file.rs` checkpoints).
//! * Analysis and preparation: `percolation` (accessible Li network), `union_find` (the
//!   wrapping union-find it and `acceleration` use), `equilibrium` (equilibrium Li
//!   arrangements, (de)lithiation), `sro` (short-range order: `sro/hamiltonian.rs`,
//!   `sro/anneal.rs` Metropolis annealing, `sro/measures.rs` Warren–Cowley and environment
//!   counts).
//! * Support: `random` (the only random-number helpers), `memory` (large buffers, memory
//!   budget), `error` (the error type, every variant naming its field), `columns` (how result
//!   structs serialise as columns).
pub mod acceleration;
pub mod checkpoint;
pub mod columns;
pub mod composition;
pub mod config;
pub mod degradation;
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
