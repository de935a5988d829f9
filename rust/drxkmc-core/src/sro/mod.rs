//! Short-range order (SRO): Metropolis annealing of a configuration under a
//! local-electroneutrality Hamiltonian, and the usual SRO measures.
//!
//! Files: `hamiltonian` (the energy: Pauling's electrostatic valence rule as a penalty, plus
//! pair terms), `anneal` (canonical Metropolis swaps and temperature schedules), `measures`
//! (Warren–Cowley parameters, tetrahedron contents and anion environments: analysis of any
//! configuration, annealed or not). This file resolves species names and walks the grid.
//!
//! Both the annealer and the measures treat every lattice as periodic along all three axes (a
//! slab's SRO is that of the bulk it is cut from).

mod anneal;
mod hamiltonian;
mod measures;
#[cfg(test)]
mod tests;

pub use anneal::{anneal, Annealer, SweepStats};
pub use hamiltonian::{energy, Energy, Hamiltonian, ANION_CHARGES};
pub use measures::{anion_environments, tetrahedra, warren_cowley, AnionEnvironment, TetrahedronCount, WarrenCowley};

use crate::config::{species, Configuration};
use crate::lattice::Lattice;

/// Field names, as the Python arguments are called.
const FIELD_STRENGTH: &str = "strength_eV";
const FIELD_PAIRS: &str = "pair_terms";
const FIELD_CHARGES: &str = "oxidation_states";
const FIELD_TEMPERATURE: &str = "temperature_K";

/// One species of a configuration, with its sublattice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteSpecies {
    Cation(u8),
    Anion(u8),
}

/// Resolve a species symbol of `config`: "Li", "Va" (cation vacancy), a TM name, "O", "F",
/// "Cl". Returns `None` for anything else.
pub fn resolve_species(config: &Configuration, symbol: &str) -> Option<SiteSpecies> {
    match symbol {
        "Li" => Some(SiteSpecies::Cation(species::LI)),
        "Va" => Some(SiteSpecies::Cation(species::VACANCY)),
        "O" => Some(SiteSpecies::Anion(species::O)),
        "F" => Some(SiteSpecies::Anion(species::F)),
        "Cl" => Some(SiteSpecies::Anion(species::CL)),
        _ => {
            config.tm_names().iter().position(|n| n == symbol).map(|k| SiteSpecies::Cation(species::FIRST_TM + k as u8))
        }
    }
}

/// Name of cation code `code` in `config` ("Va", "Li" or the TM name).
pub fn cation_name(tm_names: &[String], code: u8) -> &str {
    match code {
        species::VACANCY => "Va",
        species::LI => "Li",
        c => &tm_names[(c - species::FIRST_TM) as usize],
    }
}

/// Cation codes in display order: Li, the TMs alphabetically, Va.
fn cation_display_order(tm_names: &[String]) -> Vec<u8> {
    let mut tms: Vec<u8> = (0..tm_names.len()).map(|k| species::FIRST_TM + k as u8).collect();
    tms.sort_by(|&a, &b| cation_name(tm_names, a).cmp(cation_name(tm_names, b)));
    let mut out = vec![species::LI];
    out.extend(tms);
    out.push(species::VACANCY);
    out
}

/// Call `f(grid index, block)` for every one of `points` (`Lattice::cation_points` or
/// `anion_points`).
#[inline]
fn for_each_site(l: &Lattice, points: impl Iterator<Item = [usize; 3]>, mut f: impl FnMut(usize, &[[usize; 3]; 3])) {
    points.for_each(|p| f(l.grid_index(p), &l.block(p)));
}
