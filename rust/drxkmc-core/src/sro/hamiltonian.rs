//! The annealing Hamiltonian and the energy of a configuration.
//!
//! E = J · Σ_anions (Q_x − 6·|q_x|)² + Σ_pairs V(a, b), where Q_x is the summed oxidation state of
//! the six cation neighbours of anion x (an empty cation site counts 0) and q_x its own formal
//! charge (O²⁻ −2, F⁻ and Cl⁻ −1): each O²⁻ prefers 12+ around it (e.g. OLi₃Mn³⁺₃, OLi₄Nb⁵⁺Mn³⁺),
//! each F⁻ or Cl⁻ 6+ (Li-rich, FLi₆). This is Pauling's second (electrostatic valence) rule as a
//! quadratic penalty; J (eV/e²) sets its strength. Anion vacancies carry no charge term.
//! Optional pair terms V(a, b) (eV) add an energy per nearest-neighbour bond of the two species:
//! cation–cation bonds (12 per cation, a/√2), cation–anion bonds (6 per cation, a/2) and
//! anion–anion bonds (12 per anion, a/√2), chosen by the sublattices of the two species. "Va"
//! in a pair term always means a cation vacancy.

use super::{cation_name, for_each_site, resolve_species, SiteSpecies, FIELD_CHARGES, FIELD_PAIRS, FIELD_STRENGTH};
use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{offset_index, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS};

/// Formal charge of each anion code (O, F, Cl, anion vacancy), e.
pub const ANION_CHARGES: [f64; species::N_ANION_KINDS] = [-2.0, -1.0, -1.0, 0.0];

/// The annealing Hamiltonian, resolved against one configuration's species codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Hamiltonian {
    /// J, eV/e².
    pub(super) strength_ev: f64,
    /// Oxidation state of each cation code (Va, Li, TMs...), e.
    pub(super) cation_charges: Vec<f64>,
    /// J for charged anion codes, 0 for the anion vacancy.
    pub(super) anion_weight: [f64; species::N_ANION_KINDS],
    /// 6·|q| for each anion code.
    pub(super) anion_target: [f64; species::N_ANION_KINDS],
    pub(super) n_cat: usize,
    /// Cation–cation bond energy, `cc[a * n_cat + b]`, symmetric.
    pub(super) cc: Vec<f64>,
    /// Cation–anion bond energy, `ca[a * N_ANION_KINDS + x]`.
    pub(super) ca: Vec<f64>,
    /// Anion–anion bond energy, `aa[x * N_ANION_KINDS + y]`, symmetric.
    pub(super) aa: Vec<f64>,
    pub(super) has_cc: bool,
    pub(super) has_ca: bool,
    pub(super) has_aa: bool,
}

impl Hamiltonian {
    /// `cation_charges`: oxidation state of every cation code of `config` (index 0 the vacancy,
    /// 1 Li, then the TMs in `config.tm_names()` order), e. `strength_ev`: J ≥ 0, eV/e².
    /// `pair_terms`: (species a, species b, eV per nearest-neighbour bond).
    pub fn new(
        config: &Configuration,
        cation_charges: &[f64],
        strength_ev: f64,
        pair_terms: &[(String, String, f64)],
    ) -> Result<Self> {
        if !strength_ev.is_finite() || strength_ev < 0.0 {
            return Err(Error::invalid(
                FIELD_STRENGTH,
                format!("must be a finite number >= 0 (eV/e²), got {strength_ev}"),
            ));
        }
        let n_cat = species::FIRST_TM as usize + config.tm_names().len();
        if cation_charges.len() != n_cat {
            return Err(Error::invalid(
                FIELD_CHARGES,
                format!(
                    "needs {n_cat} cation charges (vacancy, Li, {}), got {}",
                    config.tm_names().join(", "),
                    cation_charges.len()
                ),
            ));
        }
        for (code, &q) in cation_charges.iter().enumerate() {
            if !q.is_finite() || q.abs() > 8.0 {
                return Err(Error::invalid(
                    FIELD_CHARGES,
                    format!(
                        "oxidation state of {} must be a finite number in -8..8, got {q}",
                        cation_name(config.tm_names(), code as u8)
                    ),
                ));
            }
        }
        let mut anion_weight = [0.0; species::N_ANION_KINDS];
        let mut anion_target = [0.0; species::N_ANION_KINDS];
        for x in 0..species::N_ANION_KINDS {
            if ANION_CHARGES[x] != 0.0 {
                anion_weight[x] = strength_ev;
                anion_target[x] = 6.0 * ANION_CHARGES[x].abs();
            }
        }
        let na = species::N_ANION_KINDS;
        let mut h = Hamiltonian {
            strength_ev,
            cation_charges: cation_charges.to_vec(),
            anion_weight,
            anion_target,
            n_cat,
            cc: vec![0.0; n_cat * n_cat],
            ca: vec![0.0; n_cat * na],
            aa: vec![0.0; na * na],
            has_cc: false,
            has_ca: false,
            has_aa: false,
        };
        let mut seen: Vec<(SiteSpecies, SiteSpecies)> = Vec::new();
        for (a, b, e) in pair_terms {
            if !e.is_finite() {
                return Err(Error::invalid(
                    FIELD_PAIRS,
                    format!("energy of ({a}, {b}) must be a finite number of eV, got {e}"),
                ));
            }
            let e = *e;
            let resolve = |s: &str| {
                resolve_species(config, s).ok_or_else(|| {
                    Error::invalid(
                        FIELD_PAIRS,
                        format!(
                            "species {s:?} is not in this configuration (cations: Li, Va{}{}; \
                             anions: O, F, Cl)",
                            if config.tm_names().is_empty() { "" } else { ", " },
                            config.tm_names().join(", ")
                        ),
                    )
                })
            };
            let (sa, sb) = (resolve(a)?, resolve(b)?);
            if seen.iter().any(|&(x, y)| (x, y) == (sa, sb) || (x, y) == (sb, sa)) {
                return Err(Error::invalid(FIELD_PAIRS, format!("the pair ({a}, {b}) is given more than once")));
            }
            seen.push((sa, sb));
            match (sa, sb) {
                (SiteSpecies::Cation(x), SiteSpecies::Cation(y)) => {
                    let (x, y) = (x as usize, y as usize);
                    h.cc[x * n_cat + y] = e;
                    h.cc[y * n_cat + x] = e;
                    h.has_cc |= e != 0.0;
                }
                (SiteSpecies::Anion(x), SiteSpecies::Anion(y)) => {
                    let (x, y) = (x as usize, y as usize);
                    h.aa[x * na + y] = e;
                    h.aa[y * na + x] = e;
                    h.has_aa |= e != 0.0;
                }
                (SiteSpecies::Cation(c), SiteSpecies::Anion(x)) | (SiteSpecies::Anion(x), SiteSpecies::Cation(c)) => {
                    h.ca[c as usize * na + x as usize] = e;
                    h.has_ca |= e != 0.0;
                }
            }
        }
        Ok(h)
    }

    pub fn strength_ev(&self) -> f64 {
        self.strength_ev
    }
    pub fn cation_charges(&self) -> &[f64] {
        &self.cation_charges
    }
    #[inline(always)]
    pub(super) fn cc(&self, a: u8, b: u8) -> f64 {
        self.cc[a as usize * self.n_cat + b as usize]
    }
    #[inline(always)]
    pub(super) fn ca(&self, c: u8, x: u8) -> f64 {
        self.ca[c as usize * species::N_ANION_KINDS + x as usize]
    }
    #[inline(always)]
    pub(super) fn aa(&self, x: u8, y: u8) -> f64 {
        self.aa[x as usize * species::N_ANION_KINDS + y as usize]
    }
}

/// Energy of a configuration, split into its terms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Energy {
    /// J · Σ (Q − 6|q|)², eV.
    pub electroneutrality_ev: f64,
    /// Σ pair terms, eV.
    pub pair_ev: f64,
    /// Root mean square of Q − 6|q| over the charged anions, e (independent of J).
    pub charge_deviation_rms_e: f64,
}

impl Energy {
    pub fn total_ev(&self) -> f64 {
        self.electroneutrality_ev + self.pair_ev
    }
}

/// Energy of the occupancy `grid` of `lattice`, from scratch.
pub(super) fn energy_of(l: &Lattice, grid: &[u8], h: &Hamiltonian) -> Energy {
    let mut en = 0.0;
    let mut dev2 = 0.0;
    let mut charged = 0usize;
    let mut pair = 0.0;
    // Every unordered nearest-neighbour pair once: the even-numbered directions (the odd ones
    // are their opposites).
    let half_dirs = [0, 2, 4, 6, 8, 10].map(|k| NN_DIRECTIONS[k]);
    for_each_site(l, l.anion_points(), |g, blk| {
        let x = grid[g] as usize;
        let q: f64 = OCTAHEDRON_ANIONS.iter().map(|&o| h.cation_charges[grid[offset_index(blk, o)] as usize]).sum();
        if ANION_CHARGES[x] != 0.0 {
            let dev = q - h.anion_target[x];
            en += h.anion_weight[x] * dev * dev;
            dev2 += dev * dev;
            charged += 1;
        }
        if h.has_ca {
            for o in OCTAHEDRON_ANIONS {
                pair += h.ca(grid[offset_index(blk, o)], x as u8);
            }
        }
        if h.has_aa {
            for o in half_dirs {
                pair += h.aa(x as u8, grid[offset_index(blk, o)]);
            }
        }
    });
    if h.has_cc {
        for_each_site(l, l.cation_points(), |g, blk| {
            for o in half_dirs {
                pair += h.cc(grid[g], grid[offset_index(blk, o)]);
            }
        });
    }
    Energy {
        electroneutrality_ev: en,
        pair_ev: pair,
        charge_deviation_rms_e: if charged > 0 { (dev2 / charged as f64).sqrt() } else { 0.0 },
    }
}

/// Energy of `config` under `ham` (built for `config`'s species).
pub fn energy(config: &Configuration, ham: &Hamiltonian) -> Energy {
    energy_of(config.lattice(), config.grid(), ham)
}
