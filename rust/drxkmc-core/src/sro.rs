//! Short-range order (SRO): Metropolis annealing of a configuration under a
//! local-electroneutrality Hamiltonian, and the usual SRO measures.
//!
//! # Hamiltonian
//! E = J · Σ_anions (Q_x − 6·|q_x|)² + Σ_pairs V(a, b), where Q_x is the summed oxidation state of
//! the six cation neighbours of anion x (an empty cation site counts 0) and q_x its own formal
//! charge (O²⁻ −2, F⁻ and Cl⁻ −1): each O²⁻ prefers 12+ around it (e.g. OLi₃Mn³⁺₃, OLi₄Nb⁵⁺Mn³⁺),
//! each F⁻ or Cl⁻ 6+ (Li-rich, FLi₆). This is Pauling's second (electrostatic valence) rule as a
//! quadratic penalty; J (eV/e²) sets its strength. Anion vacancies carry no charge term.
//! Optional pair terms V(a, b) (eV) add an energy per nearest-neighbour bond of the two species:
//! cation–cation bonds (12 per cation, a/√2), cation–anion bonds (6 per cation, a/2) and
//! anion–anion bonds (12 per anion, a/√2), chosen by the sublattices of the two species. "Va"
//! in a pair term always means a cation vacancy.
//!
//! Both the annealer and the measures treat every lattice as periodic along all three axes (a
//! slab's SRO is that of the bulk it is cut from).
//!
//! # Moves
//! Canonical (composition-conserving) swaps within a sublattice. The proposal is uniform over
//! unordered pairs of sites of the same sublattice that hold *different* species: a pair of
//! species (a, b) is drawn with weight n_a·n_b, then one site of each uniformly. Swaps of
//! identical species are therefore never proposed and never counted; every attempt is a real
//! exchange and the acceptance rate is that of real exchanges. The proposal is symmetric (the
//! species counts never change), so Metropolis acceptance min(1, exp(−ΔE/kT)) gives detailed
//! balance with respect to exp(−E/kT). ΔE is computed locally, from the anions around the two
//! swapped cations (or the two swapped anions and their cation neighbours).
//!
//! A sweep is one attempted swap per site of each sublattice that has at least two species
//! (cations first, then anions if anion moves are enabled).

use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{offset_index, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS};
use crate::memory::{describe_lattice, require_available, try_filled};
use crate::model::BOLTZMANN_EV_PER_K;
use crate::random::{below, unit as uniform};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashMap;

/// Formal charge of each anion code (O, F, Cl, anion vacancy), e.
pub const ANION_CHARGES: [f64; species::N_ANION_KINDS] = [-2.0, -1.0, -1.0, 0.0];

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

/// The annealing Hamiltonian, resolved against one configuration's species codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Hamiltonian {
    /// J, eV/e².
    strength_ev: f64,
    /// Oxidation state of each cation code (Va, Li, TMs...), e.
    cation_charges: Vec<f64>,
    /// J for charged anion codes, 0 for the anion vacancy.
    anion_weight: [f64; species::N_ANION_KINDS],
    /// 6·|q| for each anion code.
    anion_target: [f64; species::N_ANION_KINDS],
    n_cat: usize,
    /// Cation–cation bond energy, `cc[a * n_cat + b]`, symmetric.
    cc: Vec<f64>,
    /// Cation–anion bond energy, `ca[a * N_ANION_KINDS + x]`.
    ca: Vec<f64>,
    /// Anion–anion bond energy, `aa[x * N_ANION_KINDS + y]`, symmetric.
    aa: Vec<f64>,
    has_cc: bool,
    has_ca: bool,
    has_aa: bool,
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
    fn cc(&self, a: u8, b: u8) -> f64 {
        self.cc[a as usize * self.n_cat + b as usize]
    }
    #[inline(always)]
    fn ca(&self, c: u8, x: u8) -> f64 {
        self.ca[c as usize * species::N_ANION_KINDS + x as usize]
    }
    #[inline(always)]
    fn aa(&self, x: u8, y: u8) -> f64 {
        self.aa[x as usize * species::N_ANION_KINDS + y as usize]
    }
}

/// Sites of each species of one sublattice, for drawing pairs of different species in O(1).
#[derive(Debug, Clone)]
struct SpeciesLists {
    /// Grid indices of the sites holding each code.
    members: Vec<Vec<u32>>,
    /// Position of each site (dense sublattice index) in its species' member list.
    pos: Vec<u32>,
    /// Species pairs (a, b), a < b, both present, with the cumulative weight Σ n_a·n_b.
    pairs: Vec<(u8, u8, u64)>,
    total_weight: u64,
}

impl SpeciesLists {
    fn new(grid: &[u8], sites: impl Iterator<Item = usize>, n_codes: usize, n_sites: usize) -> Self {
        let mut members = vec![Vec::new(); n_codes];
        let mut pos = vec![0u32; n_sites];
        for g in sites {
            let s = grid[g] as usize;
            pos[Lattice::sublattice_index(g)] = members[s].len() as u32;
            members[s].push(g as u32);
        }
        let mut pairs = Vec::new();
        let mut total = 0u64;
        for a in 0..n_codes {
            for b in a + 1..n_codes {
                let w = members[a].len() as u64 * members[b].len() as u64;
                if w > 0 {
                    total += w;
                    pairs.push((a as u8, b as u8, total));
                }
            }
        }
        SpeciesLists { members, pos, pairs, total_weight: total }
    }

    fn active(&self) -> bool {
        self.total_weight > 0
    }

    /// A uniformly random unordered pair of sites holding different species.
    #[inline]
    fn draw(&self, rng: &mut Xoshiro256PlusPlus) -> (usize, usize) {
        let r = below(rng, self.total_weight);
        let k = self.pairs.iter().position(|p| r < p.2).unwrap_or(self.pairs.len() - 1);
        let (a, b, _) = self.pairs[k];
        let la = &self.members[a as usize];
        let lb = &self.members[b as usize];
        let i = la[below(rng, la.len() as u64) as usize] as usize;
        let j = lb[below(rng, lb.len() as u64) as usize] as usize;
        (i, j)
    }

    /// Record that the species on grid sites `i` (was `si`) and `j` (was `sj`) were exchanged.
    #[inline]
    fn swap(&mut self, i: usize, si: u8, j: usize, sj: u8) {
        let (di, dj) = (Lattice::sublattice_index(i), Lattice::sublattice_index(j));
        let (pi, pj) = (self.pos[di], self.pos[dj]);
        self.members[si as usize][pi as usize] = j as u32;
        self.members[sj as usize][pj as usize] = i as u32;
        self.pos[di] = pj;
        self.pos[dj] = pi;
    }
}

/// Grid coordinates of grid index `g`, in u32 arithmetic (grid indices are < 2³²; cheaper
/// than the usize divisions of `Lattice::grid_coords` in the annealing hot loop).
#[inline(always)]
fn coords(l: &Lattice, g: usize) -> [usize; 3] {
    let d = l.dims();
    let (g, d0, d1) = (g as u32, d[0] as u32, d[1] as u32);
    let r = g / d0;
    [(g - r * d0) as usize, (r % d1) as usize, (r / d1) as usize]
}

/// The 3x3x3 block around grid index `g`.
#[inline(always)]
fn block_of(l: &Lattice, g: usize) -> [[usize; 3]; 3] {
    l.block(coords(l, g))
}

/// Call `f(grid index, block)` for every site of one sublattice (`parity` 0: cations, 1:
/// anions), walking the grid without divisions.
#[inline]
fn for_each_site(l: &Lattice, parity: usize, mut f: impl FnMut(usize, &[[usize; 3]; 3])) {
    let d = l.dims();
    for z in 0..d[2] {
        for y in 0..d[1] {
            let mut x = (parity + y + z) % 2;
            while x < d[0] {
                let p = [x, y, z];
                f(l.grid_index(p), &l.block(p));
                x += 2;
            }
        }
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

/// What one sweep did, and the energy after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepStats {
    /// Sweeps done since the annealer was built (0 = the starting state).
    pub sweep: u64,
    pub temperature_k: f64,
    pub cation_attempts: u64,
    pub cation_accepted: u64,
    pub anion_attempts: u64,
    pub anion_accepted: u64,
    pub energy: Energy,
}

/// Metropolis annealer of one configuration.
#[derive(Debug, Clone)]
pub struct Annealer {
    lattice: Lattice,
    grid: Vec<u8>,
    tm_names: Vec<String>,
    ham: Hamiltonian,
    move_anions: bool,
    /// Summed oxidation state of the six cation neighbours of each anion (dense anion index),
    /// updated on every accepted cation swap and recomputed exactly after every sweep.
    q: Vec<f64>,
    cations: SpeciesLists,
    anions: SpeciesLists,
    rng: Xoshiro256PlusPlus,
    sweeps: u64,
}

impl Annealer {
    /// An annealer starting from `config`. `move_anions`: also swap anions (O, F, Cl, vacancy)
    /// among themselves. `seed` fixes the random stream.
    pub fn new(config: &Configuration, ham: Hamiltonian, move_anions: bool, seed: u64) -> Result<Self> {
        let lattice = *config.lattice();
        if ham.n_cat != species::FIRST_TM as usize + config.tm_names().len() {
            return Err(Error::invalid(FIELD_CHARGES, "the Hamiltonian was built for another configuration"));
        }
        require_available(
            "size",
            || format!("an annealer for {}", describe_lattice(&lattice)),
            Self::memory_estimate(&lattice),
        )?;
        let mut grid = try_filled(config.grid().len(), 0u8, "size")?;
        grid.copy_from_slice(config.grid());
        let n = lattice.n_cations();
        let cations = SpeciesLists::new(&grid, (0..n).map(|c| lattice.cation_grid_index(c)), ham.n_cat, n);
        let anions = SpeciesLists::new(&grid, (0..n).map(|c| lattice.anion_grid_index(c)), species::N_ANION_KINDS, n);
        let mut a = Annealer {
            lattice,
            grid,
            tm_names: config.tm_names().to_vec(),
            ham,
            move_anions,
            q: try_filled(n, 0.0, "size")?,
            cations,
            anions,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            sweeps: 0,
        };
        a.recompute_charges();
        Ok(a)
    }

    /// Peak bytes `new` (and `configuration`) allocate: the grid copy, a charge per anion,
    /// per sublattice a list position and a list entry per site (the lists may hold twice
    /// their length while they grow), and the configuration handed back.
    pub fn memory_estimate(lattice: &Lattice) -> u64 {
        let n = lattice.n_cations() as u64;
        2 * n + 8 * n + 2 * (4 * n + 8 * n) + Configuration::memory_estimate(lattice, true)
    }

    /// The current occupancy.
    pub fn configuration(&self) -> Configuration {
        let l = &self.lattice;
        let cat: Vec<u8> = (0..l.n_cations()).map(|c| self.grid[l.cation_grid_index(c)]).collect();
        let an: Vec<u8> = (0..l.n_anions()).map(|c| self.grid[l.anion_grid_index(c)]).collect();
        Configuration::from_species(*l, &cat, &an, self.tm_names.clone())
            .expect("the annealer only permutes valid species codes")
    }

    pub fn hamiltonian(&self) -> &Hamiltonian {
        &self.ham
    }

    pub fn sweeps(&self) -> u64 {
        self.sweeps
    }

    /// Cation and anion swaps attempted per sweep.
    pub fn attempts_per_sweep(&self) -> (u64, u64) {
        let n = self.lattice.n_cations() as u64;
        let c = if self.cations.active() { n } else { 0 };
        let a = if self.move_anions && self.anions.active() { n } else { 0 };
        (c, a)
    }

    fn recompute_charges(&mut self) {
        let (grid, charges, q) = (&self.grid, &self.ham.cation_charges, &mut self.q);
        for_each_site(&self.lattice, 1, |g, blk| {
            q[Lattice::sublattice_index(g)] =
                OCTAHEDRON_ANIONS.iter().map(|&o| charges[grid[offset_index(blk, o)] as usize]).sum();
        });
    }

    /// The energy of the current state, computed from scratch.
    pub fn energy(&self) -> Energy {
        energy_of(&self.lattice, &self.grid, &self.ham)
    }

    /// Statistics of the current state (no moves), as sweep `self.sweeps()`.
    pub fn stats(&self, temperature_k: f64) -> SweepStats {
        SweepStats {
            sweep: self.sweeps,
            temperature_k,
            cation_attempts: 0,
            cation_accepted: 0,
            anion_attempts: 0,
            anion_accepted: 0,
            energy: self.energy(),
        }
    }

    /// `sweeps` sweeps at `temperature_k` (K, finite, ≥ 0; 0 accepts only ΔE ≤ 0). Returns the
    /// statistics of every sweep.
    pub fn run(&mut self, temperature_k: f64, sweeps: u64) -> Result<Vec<SweepStats>> {
        if !temperature_k.is_finite() || temperature_k < 0.0 {
            return Err(Error::invalid(
                FIELD_TEMPERATURE,
                format!("must be a finite number of kelvin >= 0, got {temperature_k}"),
            ));
        }
        let beta = 1.0 / (BOLTZMANN_EV_PER_K * temperature_k); // +inf at 0 K
        let (n_cat, n_an) = self.attempts_per_sweep();
        let mut out = Vec::with_capacity(sweeps.min(1 << 20) as usize);
        for _ in 0..sweeps {
            let mut cat_acc = 0u64;
            for _ in 0..n_cat {
                cat_acc += self.attempt_cation(beta).1 as u64;
            }
            let mut an_acc = 0u64;
            for _ in 0..n_an {
                an_acc += self.attempt_anion(beta).1 as u64;
            }
            self.recompute_charges();
            self.sweeps += 1;
            out.push(SweepStats {
                sweep: self.sweeps,
                temperature_k,
                cation_attempts: n_cat,
                cation_accepted: cat_acc,
                anion_attempts: n_an,
                anion_accepted: an_acc,
                energy: self.energy(),
            });
        }
        Ok(out)
    }

    #[inline(always)]
    fn metropolis(&mut self, de: f64, beta: f64) -> bool {
        if de <= 0.0 {
            true
        } else if beta.is_infinite() {
            false
        } else {
            uniform(&mut self.rng) < (-beta * de).exp()
        }
    }

    /// One attempted cation swap: (ΔE in eV, accepted).
    fn attempt_cation(&mut self, beta: f64) -> (f64, bool) {
        let (gi, gj) = self.cations.draw(&mut self.rng);
        let de = self.cation_swap_delta(gi, gj);
        let accepted = self.metropolis(de.0, beta);
        if accepted {
            let (si, sj) = (self.grid[gi], self.grid[gj]);
            let (d, ai, aj, shared_i, shared_j) = (de.1, de.2, de.3, de.4, de.5);
            if d != 0.0 {
                for k in 0..6 {
                    if !shared_i[k] {
                        self.q[Lattice::sublattice_index(ai[k])] += d;
                    }
                    if !shared_j[k] {
                        self.q[Lattice::sublattice_index(aj[k])] -= d;
                    }
                }
            }
            self.grid[gi] = sj;
            self.grid[gj] = si;
            self.cations.swap(gi, si, gj, sj);
        }
        (de.0, accepted)
    }

    /// ΔE of exchanging the cations on grid sites gi and gj, with what is needed to apply it:
    /// (ΔE, charge change d at gi's anions, anions of gi, anions of gj, which are shared).
    #[inline]
    #[allow(clippy::type_complexity)]
    fn cation_swap_delta(&self, gi: usize, gj: usize) -> (f64, f64, [usize; 6], [usize; 6], [bool; 6], [bool; 6]) {
        let l = &self.lattice;
        let h = &self.ham;
        let (si, sj) = (self.grid[gi], self.grid[gj]);
        let bi = block_of(l, gi);
        let bj = block_of(l, gj);
        let ai = OCTAHEDRON_ANIONS.map(|o| offset_index(&bi, o));
        let aj = OCTAHEDRON_ANIONS.map(|o| offset_index(&bj, o));
        let mut shared_i = [false; 6];
        let mut shared_j = [false; 6];
        for x in 0..6 {
            for y in 0..6 {
                if ai[x] == aj[y] {
                    shared_i[x] = true;
                    shared_j[y] = true;
                }
            }
        }
        let d = h.cation_charges[sj as usize] - h.cation_charges[si as usize];
        let mut de = 0.0;
        if d != 0.0 && h.strength_ev != 0.0 {
            for k in 0..6 {
                if !shared_i[k] {
                    let x = self.grid[ai[k]] as usize;
                    let dev = self.q[Lattice::sublattice_index(ai[k])] - h.anion_target[x];
                    de += h.anion_weight[x] * d * (2.0 * dev + d);
                }
                if !shared_j[k] {
                    let x = self.grid[aj[k]] as usize;
                    let dev = self.q[Lattice::sublattice_index(aj[k])] - h.anion_target[x];
                    de += h.anion_weight[x] * d * (d - 2.0 * dev);
                }
            }
        }
        if h.has_ca {
            for k in 0..6 {
                let x = self.grid[ai[k]];
                de += h.ca(sj, x) - h.ca(si, x);
                let y = self.grid[aj[k]];
                de += h.ca(si, y) - h.ca(sj, y);
            }
        }
        if h.has_cc {
            // The bond between the two swapped sites (if they are neighbours) keeps its energy.
            for o in NN_DIRECTIONS {
                let n = offset_index(&bi, o);
                if n != gj {
                    let s = self.grid[n];
                    de += h.cc(sj, s) - h.cc(si, s);
                }
                let n = offset_index(&bj, o);
                if n != gi {
                    let s = self.grid[n];
                    de += h.cc(si, s) - h.cc(sj, s);
                }
            }
        }
        (de, d, ai, aj, shared_i, shared_j)
    }

    /// One attempted anion swap: (ΔE in eV, accepted).
    fn attempt_anion(&mut self, beta: f64) -> (f64, bool) {
        let (gx, gy) = self.anions.draw(&mut self.rng);
        let de = self.anion_swap_delta(gx, gy);
        let accepted = self.metropolis(de, beta);
        if accepted {
            let (sx, sy) = (self.grid[gx], self.grid[gy]);
            self.grid[gx] = sy;
            self.grid[gy] = sx;
            self.anions.swap(gx, sx, gy, sy);
        }
        (de, accepted)
    }

    /// ΔE of exchanging the anions on grid sites gx and gy (cation charges stay, targets move).
    #[inline]
    fn anion_swap_delta(&self, gx: usize, gy: usize) -> f64 {
        let l = &self.lattice;
        let h = &self.ham;
        let (ax, ay) = (self.grid[gx] as usize, self.grid[gy] as usize);
        let qx = self.q[Lattice::sublattice_index(gx)];
        let qy = self.q[Lattice::sublattice_index(gy)];
        let en = |x: usize, q: f64| h.anion_weight[x] * (q - h.anion_target[x]).powi(2);
        let mut de = en(ay, qx) + en(ax, qy) - en(ax, qx) - en(ay, qy);
        if h.has_ca || h.has_aa {
            let bx = block_of(l, gx);
            let by = block_of(l, gy);
            let (cx, cy) = (ax as u8, ay as u8);
            if h.has_ca {
                for o in OCTAHEDRON_ANIONS {
                    let c = self.grid[offset_index(&bx, o)];
                    de += h.ca(c, cy) - h.ca(c, cx);
                    let c = self.grid[offset_index(&by, o)];
                    de += h.ca(c, cx) - h.ca(c, cy);
                }
            }
            if h.has_aa {
                for o in NN_DIRECTIONS {
                    let n = offset_index(&bx, o);
                    if n != gy {
                        let s = self.grid[n];
                        de += h.aa(cy, s) - h.aa(cx, s);
                    }
                    let n = offset_index(&by, o);
                    if n != gx {
                        let s = self.grid[n];
                        de += h.aa(cx, s) - h.aa(cy, s);
                    }
                }
            }
        }
        de
    }
}

/// Energy of the occupancy `grid` of `lattice`, from scratch.
fn energy_of(l: &Lattice, grid: &[u8], h: &Hamiltonian) -> Energy {
    let mut en = 0.0;
    let mut dev2 = 0.0;
    let mut charged = 0usize;
    let mut pair = 0.0;
    // Every unordered nearest-neighbour pair once: the even-numbered directions (the odd ones
    // are their opposites).
    let half_dirs = [0, 2, 4, 6, 8, 10].map(|k| NN_DIRECTIONS[k]);
    for_each_site(l, 1, |g, blk| {
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
        for_each_site(l, 0, |g, blk| {
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

/// Anneal `config` through `schedule` ((temperature K, sweeps) stages, in order). Returns the
/// final configuration and the statistics of the start (sweep 0) and of every sweep.
pub fn anneal(
    config: &Configuration,
    ham: Hamiltonian,
    schedule: &[(f64, u64)],
    move_anions: bool,
    seed: u64,
) -> Result<(Configuration, Vec<SweepStats>)> {
    for &(t, _) in schedule {
        if !t.is_finite() || t < 0.0 {
            return Err(Error::invalid(
                "schedule",
                format!("temperatures must be finite numbers of kelvin >= 0, got {t}"),
            ));
        }
    }
    let mut a = Annealer::new(config, ham, move_anions, seed)?;
    let mut trace = vec![a.stats(schedule.first().map_or(0.0, |s| s.0))];
    for &(t, n) in schedule {
        trace.extend(a.run(t, n)?);
    }
    Ok((a.configuration(), trace))
}

// ----- measures ------------------------------------------------------------------------------

/// One Warren–Cowley parameter α_ij = 1 − P(j | neighbour of i) / c_j.
#[derive(Debug, Clone, PartialEq)]
pub struct WarrenCowley {
    /// "cation" or "anion".
    pub sublattice: &'static str,
    /// 1: the 12 neighbours at a/√2; 2: the 6 at a.
    pub shell: u8,
    pub distance_angstrom: f64,
    pub species_i: String,
    pub species_j: String,
    pub alpha: f64,
    /// Directed (i, j) neighbour pairs counted.
    pub pairs: u64,
}

/// Neighbour offsets (units of a/2) of the first two shells of an FCC sublattice.
const SHELL2: [[i8; 3]; 6] = [[2, 0, 0], [-2, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 2], [0, 0, -2]];

/// Grid index of g + o with periodic wrapping, for any small offset.
#[inline]
fn shifted(l: &Lattice, g: usize, o: [i8; 3]) -> usize {
    let p = l.grid_coords(g);
    let d = l.dims();
    let mut q = [0usize; 3];
    for k in 0..3 {
        q[k] = (p[k] as i64 + o[k] as i64).rem_euclid(d[k] as i64) as usize;
    }
    l.grid_index(q)
}

/// Warren–Cowley parameters of the first two shells of the cation sublattice (Li, TMs, Va:
/// every present species) and, if it holds at least two species, of the anion sublattice.
/// Rows by sublattice, shell, then species in display order (Li, TMs alphabetically, Va;
/// O, F, Cl, Va).
pub fn warren_cowley(config: &Configuration) -> Vec<WarrenCowley> {
    let l = config.lattice();
    let grid = config.grid();
    let n_cat_codes = species::FIRST_TM as usize + config.tm_names().len();
    let mut out = Vec::new();
    let shells: [(u8, &[[i8; 3]], f64); 2] = [(1, &NN_DIRECTIONS, l.nn_distance()), (2, &SHELL2, l.a())];
    let cation_order = cation_display_order(config.tm_names());
    let anion_order: Vec<u8> = (0..species::N_ANION_KINDS as u8).collect();
    for (sublattice, n_codes, order) in
        [("cation", n_cat_codes, &cation_order), ("anion", species::N_ANION_KINDS, &anion_order)]
    {
        let sites: Vec<usize> = (0..l.n_cations())
            .map(|c| if sublattice == "cation" { l.cation_grid_index(c) } else { l.anion_grid_index(c) })
            .collect();
        let mut n = vec![0u64; n_codes];
        for &g in &sites {
            n[grid[g] as usize] += 1;
        }
        let present: Vec<u8> = order.iter().copied().filter(|&s| n[s as usize] > 0).collect();
        if sublattice == "anion" && present.len() < 2 {
            continue;
        }
        let total = sites.len() as f64;
        for &(shell, offsets, dist) in &shells {
            let mut counts = vec![0u64; n_codes * n_codes];
            for &g in &sites {
                let si = grid[g] as usize;
                if offsets.len() == 12 {
                    let blk = l.block(l.grid_coords(g));
                    for &o in offsets {
                        counts[si * n_codes + grid[offset_index(&blk, o)] as usize] += 1;
                    }
                } else {
                    for &o in offsets {
                        counts[si * n_codes + grid[shifted(l, g, o)] as usize] += 1;
                    }
                }
            }
            let z = offsets.len() as f64;
            for &i in &present {
                for &j in &present {
                    let (i, j) = (i as usize, j as usize);
                    let pairs = counts[i * n_codes + j];
                    let p = pairs as f64 / (n[i] as f64 * z);
                    let c = n[j] as f64 / total;
                    let name = |s: usize| {
                        if sublattice == "cation" {
                            cation_name(config.tm_names(), s as u8).to_string()
                        } else {
                            species::ANION_NAMES[s].to_string()
                        }
                    };
                    out.push(WarrenCowley {
                        sublattice,
                        shell,
                        distance_angstrom: dist,
                        species_i: name(i),
                        species_j: name(j),
                        alpha: 1.0 - p / c,
                        pairs,
                    });
                }
            }
        }
    }
    out
}

/// Tetrahedra (grid cubes) with a given cation content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TetrahedronCount {
    pub n_li: u8,
    pub n_tm: u8,
    pub n_va: u8,
    pub count: u64,
}

impl TetrahedronCount {
    /// "Li4", "Li3TM1", "Li2TM1Va1", "TM4", ... (zero counts omitted).
    pub fn label(&self) -> String {
        let mut s = String::new();
        for (name, n) in [("Li", self.n_li), ("TM", self.n_tm), ("Va", self.n_va)] {
            if n > 0 {
                s.push_str(&format!("{name}{n}"));
            }
        }
        s
    }
}

/// Counts of tetrahedral sites by the content of their four face-sharing cation octahedra:
/// every (n_Li, n_TM, n_Va) with n_Li + n_TM + n_Va = 4 (15 rows, zero counts included),
/// ordered by n_TM then n_Va.
pub fn tetrahedra(config: &Configuration) -> Vec<TetrahedronCount> {
    let l = config.lattice();
    let grid = config.grid();
    let d = l.dims();
    let mut counts = [[0u64; 5]; 5]; // [n_tm][n_va]
    for z in 0..d[2] {
        for y in 0..d[1] {
            for x in 0..d[0] {
                let (mut n_tm, mut n_va) = (0usize, 0usize);
                for o in 0..8 {
                    let p = [(x + (o & 1)) % d[0], (y + ((o >> 1) & 1)) % d[1], (z + ((o >> 2) & 1)) % d[2]];
                    if Lattice::is_cation(p) {
                        let s = grid[l.grid_index(p)];
                        if species::is_tm(s) {
                            n_tm += 1;
                        } else if s == species::VACANCY {
                            n_va += 1;
                        }
                    }
                }
                counts[n_tm][n_va] += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(15);
    for n_tm in 0..=4u8 {
        for n_va in 0..=(4 - n_tm) {
            out.push(TetrahedronCount {
                n_li: 4 - n_tm - n_va,
                n_tm,
                n_va,
                count: counts[n_tm as usize][n_va as usize],
            });
        }
    }
    out
}

/// Anions of one species with one multiset of six cation neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct AnionEnvironment {
    /// "O:Li3Mn3", "O:Li4Mn1Nb1", "F:Li6", "O:Li2Mn3Va1" (Li, TMs alphabetically, Va).
    pub label: String,
    pub anion: &'static str,
    pub n_li: u8,
    pub n_tm: u8,
    pub n_va: u8,
    /// Summed oxidation state of the six cations, e (if charges were given).
    pub cation_charge_e: Option<f64>,
    pub count: u64,
}

/// Histogram of anion environments (anion species + its six cation neighbours), most common
/// first (ties by label). `cation_charges` (per cation code, as for [`Hamiltonian::new`]) adds
/// the summed cation charge of each environment.
pub fn anion_environments(config: &Configuration, cation_charges: Option<&[f64]>) -> Result<Vec<AnionEnvironment>> {
    let l = config.lattice();
    let grid = config.grid();
    let n_codes = species::FIRST_TM as usize + config.tm_names().len();
    if let Some(q) = cation_charges {
        if q.len() != n_codes || q.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(FIELD_CHARGES, format!("needs {n_codes} finite cation charges")));
        }
    }
    let mut hist: HashMap<Vec<u8>, u64> = HashMap::new();
    for c in 0..l.n_anions() {
        let g = l.anion_grid_index(c);
        let blk = l.block(l.grid_coords(g));
        let mut key = vec![0u8; n_codes + 1];
        key[n_codes] = grid[g];
        for o in OCTAHEDRON_ANIONS {
            key[grid[offset_index(&blk, o)] as usize] += 1;
        }
        *hist.entry(key).or_insert(0) += 1;
    }
    let order = cation_display_order(config.tm_names());
    let mut out: Vec<AnionEnvironment> = hist
        .into_iter()
        .map(|(key, count)| {
            let anion = species::ANION_NAMES[key[n_codes] as usize];
            let mut label = format!("{anion}:");
            for &s in &order {
                let n = key[s as usize];
                if n > 0 {
                    label.push_str(&format!("{}{n}", cation_name(config.tm_names(), s)));
                }
            }
            let n_tm = (species::FIRST_TM as usize..n_codes).map(|s| key[s]).sum();
            AnionEnvironment {
                label,
                anion,
                n_li: key[species::LI as usize],
                n_tm,
                n_va: key[species::VACANCY as usize],
                cation_charge_e: cation_charges.map(|q| (0..n_codes).map(|s| key[s] as f64 * q[s]).sum()),
                count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Geometry;

    fn lattice(l: usize) -> Lattice {
        Lattice::new([l, l, l], 4.15, Geometry::Bulk).unwrap()
    }

    fn s(a: &str, b: &str, e: f64) -> (String, String, f64) {
        (a.to_string(), b.to_string(), e)
    }

    /// Li, Mn³⁺, Nb⁵⁺ and vacancies; O with some F.
    fn mixed(l: usize, seed: u64) -> Configuration {
        let lat = lattice(l);
        let n = lat.n_cations();
        Configuration::random(lat, n * 5 / 10, &[n * 3 / 10, n / 10], vec!["Mn".into(), "Nb".into()], n / 8, 0, seed)
            .unwrap()
    }

    fn full_hamiltonian(c: &Configuration) -> Hamiltonian {
        Hamiltonian::new(
            c,
            &[0.0, 1.0, 3.0, 5.0],
            0.02,
            &[s("Li", "Mn", -0.03), s("Nb", "Nb", 0.05), s("Li", "F", -0.04), s("Mn", "O", 0.01), s("F", "F", 0.03)],
        )
        .unwrap()
    }

    #[test]
    fn local_energy_changes_match_full_recomputation() {
        // Every kind of term, on a 2x2x2 box where most drawn pairs are neighbours or share
        // anions, and on a larger one.
        for l in [2, 3] {
            let c = mixed(l, 7);
            let ham = full_hamiltonian(&c);
            let mut a = Annealer::new(&c, ham, true, 3).unwrap();
            let beta = 1.0 / (BOLTZMANN_EV_PER_K * 5000.0);
            let mut shared_seen = 0;
            for step in 0..3000 {
                let before = a.energy().total_ev();
                let (de, acc) = if step % 2 == 0 { a.attempt_cation(beta) } else { a.attempt_anion(beta) };
                let after = a.energy().total_ev();
                if acc {
                    assert!((after - before - de).abs() < 1e-9, "ΔE {de} vs {}", after - before);
                } else {
                    assert!((after - before).abs() < 1e-12);
                }
                // The maintained anion charges stay exact.
                let mut fresh = a.clone();
                fresh.recompute_charges();
                for (x, y) in a.q.iter().zip(&fresh.q) {
                    assert!((x - y).abs() < 1e-9);
                }
                shared_seen += acc as usize;
            }
            assert!(shared_seen > 500);
        }
    }

    #[test]
    fn neighbouring_cation_swaps_handle_shared_anions() {
        // Explicitly swap nearest neighbours (two shared anions, one direct bond).
        let c = mixed(2, 1);
        let ham = full_hamiltonian(&c);
        let a = Annealer::new(&c, ham, true, 0).unwrap();
        let l = *c.lattice();
        let mut checked = 0;
        for ci in 0..l.n_cations() {
            let gi = l.cation_grid_index(ci);
            let blk = l.block(l.grid_coords(gi));
            for o in NN_DIRECTIONS {
                let gj = offset_index(&blk, o);
                if a.grid[gi] == a.grid[gj] {
                    continue;
                }
                let (de, ..) = a.cation_swap_delta(gi, gj);
                let mut g2 = a.grid.clone();
                g2.swap(gi, gj);
                let direct = energy_of(&l, &g2, &a.ham).total_ev() - a.energy().total_ev();
                assert!((de - direct).abs() < 1e-9);
                checked += 1;
            }
        }
        assert!(checked > 50);
    }

    #[test]
    fn composition_is_conserved_and_runs_are_seeded() {
        let c = mixed(3, 5);
        let ham = full_hamiltonian(&c);
        let (c1, t1) = anneal(&c, ham.clone(), &[(2000.0, 5), (500.0, 5)], true, 9).unwrap();
        let (c2, t2) = anneal(&c, ham.clone(), &[(2000.0, 5), (500.0, 5)], true, 9).unwrap();
        let (c3, _) = anneal(&c, ham, &[(2000.0, 5), (500.0, 5)], true, 10).unwrap();
        assert_eq!(c1, c2);
        assert_eq!(t1, t2);
        assert_ne!(c1, c3);
        assert_eq!(t1.len(), 11);
        let sorted = |mut v: Vec<u8>| {
            v.sort();
            v
        };
        assert_eq!(sorted(c1.cations()), sorted(c.cations()));
        assert_eq!(sorted(c1.anions()), sorted(c.anions()));
        assert_ne!(c1.cations(), c.cations());
    }

    #[test]
    fn anion_moves_can_be_disabled() {
        let c = mixed(2, 5);
        let ham = full_hamiltonian(&c);
        let (c1, t) = anneal(&c, ham, &[(3000.0, 20)], false, 1).unwrap();
        assert_eq!(c1.anions(), c.anions());
        assert!(t[1..].iter().all(|s| s.anion_attempts == 0 && s.cation_attempts == 32));
    }

    /// Every state reachable by cation swaps (all permutations of the cation multiset) on a
    /// 2x2x2 box, by recursion over sites.
    fn enumerate_states(counts: &mut [usize], at: usize, n: usize, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if at == n {
            out.push(cur.clone());
            return;
        }
        for s in 0..counts.len() {
            if counts[s] > 0 && counts[s] <= n - at {
                counts[s] -= 1;
                cur.push(s as u8);
                enumerate_states(counts, at + 1, n, cur, out);
                cur.pop();
                counts[s] += 1;
            }
        }
    }

    /// Compare the sampled distribution of energies with exact Boltzmann weights, in energy bins
    /// of `width` eV. `levels`: (energy, exact probability); `tau`: allowance for correlated
    /// samples (variance factor).
    fn check_boltzmann(levels: &[(f64, f64)], samples: &[f64], width: f64, tau: f64) {
        let e0 = levels.iter().map(|l| l.0).fold(f64::INFINITY, f64::min) - 0.37 * width; // off the level grid
        let bin = |e: f64| ((e - e0) / width).floor() as usize;
        let n_bins = levels.iter().map(|l| bin(l.0)).max().unwrap() + 1;
        let mut exact = vec![0.0; n_bins];
        for &(e, p) in levels {
            exact[bin(e)] += p;
        }
        let mut sampled = vec![0.0; n_bins];
        for &e in samples {
            let b = bin(e);
            assert!(b < n_bins && exact[b] > 0.0, "sampled an energy {e} no state has");
            sampled[b] += 1.0 / samples.len() as f64;
        }
        let n = samples.len() as f64;
        let mut populated = 0;
        for (b, (&p, &f)) in exact.iter().zip(&sampled).enumerate() {
            let sigma = (p * (1.0 - p) * tau / n).sqrt();
            assert!((f - p).abs() < 5.0 * sigma + 2e-4, "bin {b}: sampled {f}, exact {p} (σ {sigma})");
            populated += (p > 0.02) as usize;
        }
        assert!(populated >= 4, "the test needs several populated bins, has {populated}");
        let total: f64 = levels.iter().map(|l| l.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    /// Distinct energies with their exact Boltzmann probabilities at kT (eV).
    fn levels_of(energies: &[f64], kt: f64) -> Vec<(f64, f64)> {
        let e0 = energies.iter().cloned().fold(f64::INFINITY, f64::min);
        let mut sorted: Vec<f64> = energies.to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut lv: Vec<(f64, f64)> = Vec::new();
        for e in sorted {
            let w = (-(e - e0) / kt).exp();
            match lv.last_mut() {
                Some(l) if (l.0 - e).abs() < 1e-9 => l.1 += w,
                _ => lv.push((e, w)),
            }
        }
        let z: f64 = lv.iter().map(|l| l.1).sum();
        lv.iter().map(|&(e, w)| (e, w / z)).collect()
    }

    #[test]
    fn cation_swaps_sample_the_boltzmann_distribution() {
        // 32 cation sites: 2 Nb⁵⁺, 1 Mn³⁺, 1 vacancy, 28 Li⁺ (32·31·C(30,2) = 431,520 states),
        // all O; electroneutrality plus a Nb–Nb repulsion and a Li–Mn attraction.
        let lat = lattice(2);
        let n = lat.n_cations();
        let mut cat = vec![species::LI; n];
        cat[0] = species::FIRST_TM; // Nb
        cat[5] = species::FIRST_TM;
        cat[9] = species::FIRST_TM + 1; // Mn
        cat[17] = species::VACANCY;
        let c = Configuration::from_species(lat, &cat, &vec![species::O; n], vec!["Nb".into(), "Mn".into()]).unwrap();
        let ham =
            Hamiltonian::new(&c, &[0.0, 1.0, 5.0, 3.0], 0.01, &[s("Nb", "Nb", 0.08), s("Li", "Mn", -0.02)]).unwrap();
        let t = 1500.0;
        let kt = BOLTZMANN_EV_PER_K * t;
        // Exact enumeration.
        let mut states = Vec::new();
        enumerate_states(&mut [1, 28, 2, 1], 0, n, &mut Vec::new(), &mut states);
        assert_eq!(states.len(), 32 * 31 * 30 * 29 / 2);
        let energies: Vec<f64> = states
            .iter()
            .map(|st| {
                energy(
                    &Configuration::from_species(lat, st, &vec![species::O; n], c.tm_names().to_vec()).unwrap(),
                    &ham,
                )
                .total_ev()
            })
            .collect();
        let levels = levels_of(&energies, kt);
        // Sampling: one sample per sweep.
        let mut a = Annealer::new(&c, ham, false, 11).unwrap();
        a.run(t, 200).unwrap();
        let samples: Vec<f64> = a.run(t, 40_000).unwrap().iter().map(|s| s.energy.total_ev()).collect();
        check_boltzmann(&levels, &samples, 0.01, 3.0);
    }

    #[test]
    fn anion_swaps_sample_the_boltzmann_distribution() {
        // Fixed random cations; 3 F among 32 anions (4960 states) with electroneutrality, a Li–F
        // attraction and an F–F repulsion.
        let lat = lattice(2);
        let c0 = Configuration::random(lat, 16, &[12, 4], vec!["Mn".into(), "Ti".into()], 3, 0, 4).unwrap();
        let ham =
            Hamiltonian::new(&c0, &[0.0, 1.0, 3.0, 4.0], 0.02, &[s("Li", "F", -0.05), s("F", "F", 0.05)]).unwrap();
        let t = 2500.0;
        let kt = BOLTZMANN_EV_PER_K * t;
        let cat = c0.cations();
        let n = lat.n_anions();
        let mut energies = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                for k in j + 1..n {
                    let mut an = vec![species::O; n];
                    an[i] = species::F;
                    an[j] = species::F;
                    an[k] = species::F;
                    let c = Configuration::from_species(lat, &cat, &an, c0.tm_names().to_vec()).unwrap();
                    energies.push(energy(&c, &ham).total_ev());
                }
            }
        }
        let levels = levels_of(&energies, kt);
        // Only anion moves (`run` would also swap the cations).
        let mut a = Annealer::new(&c0, ham, true, 5).unwrap();
        let beta = 1.0 / kt;
        let mut samples = Vec::new();
        for _ in 0..200 {
            a.attempt_anion(beta);
        }
        for _ in 0..40_000 {
            for _ in 0..32 {
                a.attempt_anion(beta);
            }
            samples.push(a.energy().total_ev());
        }
        check_boltzmann(&levels, &samples, 0.01, 3.0);
    }

    #[test]
    fn acceptance_follows_metropolis() {
        // Bin attempted moves by ΔE and compare the accepted fraction with min(1, e^{−ΔE/kT}).
        let c = mixed(3, 2);
        let ham = full_hamiltonian(&c);
        let t = 1500.0;
        let beta = 1.0 / (BOLTZMANN_EV_PER_K * t);
        let mut a = Annealer::new(&c, ham, true, 8).unwrap();
        // (attempts, accepted, Σ expected) per 0.02 eV bin of ΔE in 0..0.6 eV.
        let mut bins = vec![(0u64, 0u64, 0.0f64); 30];
        let mut downhill = (0u64, 0u64);
        for step in 0..400_000 {
            let (de, acc) = if step % 3 == 0 { a.attempt_anion(beta) } else { a.attempt_cation(beta) };
            if de <= 0.0 {
                downhill.0 += 1;
                downhill.1 += acc as u64;
            } else if de < 0.6 {
                let b = &mut bins[(de / 0.02) as usize];
                b.0 += 1;
                b.1 += acc as u64;
                b.2 += (-beta * de).exp();
            }
        }
        assert_eq!(downhill.0, downhill.1, "every downhill move is accepted");
        let mut checked = 0;
        for (n, acc, expected) in bins {
            if n >= 500 {
                let p = expected / n as f64;
                let f = acc as f64 / n as f64;
                let sigma = (p * (1.0 - p) / n as f64).sqrt();
                assert!((f - p).abs() < 5.0 * sigma + 1e-3, "accepted {f}, expected {p} over {n}");
                checked += 1;
            }
        }
        assert!(checked >= 5);
    }

    #[test]
    fn zero_kelvin_only_goes_downhill() {
        let c = mixed(3, 3);
        let ham = full_hamiltonian(&c);
        let (_, trace) = anneal(&c, ham, &[(0.0, 10)], true, 1).unwrap();
        for w in trace.windows(2) {
            assert!(w[1].energy.total_ev() <= w[0].energy.total_ev() + 1e-9);
        }
    }

    #[test]
    fn electroneutrality_favours_charge_balanced_anions() {
        // Li1.25Nb0.25Mn0.5O2-like (Li 5/8, Nb 1/8, Mn 2/8): the charge deviation drops on cooling.
        let lat = lattice(4);
        let n = lat.n_cations();
        let c =
            Configuration::random(lat, n * 5 / 8, &[n / 8, n / 4], vec!["Nb".into(), "Mn".into()], 0, 0, 1).unwrap();
        let ham = Hamiltonian::new(&c, &[0.0, 1.0, 5.0, 3.0], 0.05, &[]).unwrap();
        let (_, trace) = anneal(&c, ham, &[(3000.0, 30), (1000.0, 30), (300.0, 30)], true, 2).unwrap();
        let rms = |k: usize| trace[k].energy.charge_deviation_rms_e;
        assert!(rms(30) < rms(0));
        assert!(rms(90) < rms(60) && rms(60) < rms(30));
    }

    #[test]
    fn bad_input_names_its_field() {
        let c = mixed(2, 0);
        let q = [0.0, 1.0, 3.0, 5.0];
        assert_eq!(Hamiltonian::new(&c, &q, -1.0, &[]).unwrap_err().field(), FIELD_STRENGTH);
        assert_eq!(Hamiltonian::new(&c, &q, f64::NAN, &[]).unwrap_err().field(), FIELD_STRENGTH);
        assert_eq!(Hamiltonian::new(&c, &q[..3], 0.1, &[]).unwrap_err().field(), FIELD_CHARGES);
        assert_eq!(Hamiltonian::new(&c, &[0.0, 1.0, f64::NAN, 5.0], 0.1, &[]).unwrap_err().field(), FIELD_CHARGES);
        let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Ti", 0.1)]).unwrap_err();
        assert_eq!(e.field(), FIELD_PAIRS);
        assert!(e.to_string().contains("Ti"));
        let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Mn", f64::INFINITY)]).unwrap_err();
        assert_eq!(e.field(), FIELD_PAIRS);
        let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Mn", 0.1), s("Mn", "Li", 0.1)]).unwrap_err();
        assert_eq!(e.field(), FIELD_PAIRS);
        let ham = Hamiltonian::new(&c, &q, 0.1, &[]).unwrap();
        let mut a = Annealer::new(&c, ham.clone(), true, 0).unwrap();
        assert_eq!(a.run(-5.0, 1).unwrap_err().field(), FIELD_TEMPERATURE);
        assert_eq!(a.run(f64::NAN, 1).unwrap_err().field(), FIELD_TEMPERATURE);
        assert_eq!(anneal(&c, ham, &[(f64::INFINITY, 1)], true, 0).unwrap_err().field(), "schedule");
    }

    #[test]
    fn warren_cowley_of_ordered_and_random_arrangements() {
        // α-NaFeO2-type layers along [111]: cation planes x+y+z ≡ 0 (Li) and 2 (Mn) mod 4
        // alternate.
        let lat = lattice(4);
        let n = lat.n_cations();
        let cat: Vec<u8> = (0..n)
            .map(|c| {
                let p = lat.grid_coords(lat.cation_grid_index(c));
                if (p[0] + p[1] + p[2]) % 4 == 0 {
                    species::LI
                } else {
                    species::FIRST_TM
                }
            })
            .collect();
        let c = Configuration::from_species(lat, &cat, &vec![species::O; n], vec!["Mn".into()]).unwrap();
        let wc = warren_cowley(&c);
        let get = |shell: u8, i: &str, j: &str| {
            wc.iter().find(|w| w.shell == shell && w.species_i == i && w.species_j == j).unwrap().alpha
        };
        // Layered order along [111]: 6 of the 12 NN are unlike -> P(Mn|Li) = 1/2, α = 0;
        // all 6 second neighbours (±a along an axis: x+y+z changes by 2) are unlike -> α = −1.
        assert!((get(1, "Li", "Mn") - 0.0).abs() < 1e-12);
        assert!((get(2, "Li", "Mn") + 1.0).abs() < 1e-12);
        assert!((get(2, "Li", "Li") - 1.0).abs() < 1e-12);
        assert!(wc.iter().all(|w| w.sublattice == "cation"));
        // Random: every α near 0 (σ ≈ 0.02 for the rarest species on 4000 sites).
        let lat = lattice(10);
        let n = lat.n_cations();
        let c = Configuration::random(lat, n / 2, &[n / 4], vec!["Mn".into()], n / 4, 0, 3).unwrap();
        let wc = warren_cowley(&c);
        assert!(wc.iter().any(|w| w.sublattice == "anion"));
        for w in &wc {
            assert!(w.alpha.abs() < 0.1, "{w:?}");
        }
        // Σ_j P(j|i) = 1: Σ_j c_j (1 − α_ij) = 1.
        let cj = |s: &str| match s {
            "Li" => 0.5,
            "Mn" => 0.25,
            _ => 0.25,
        };
        for i in ["Li", "Mn", "Va"] {
            let sum: f64 = wc
                .iter()
                .filter(|w| w.sublattice == "cation" && w.shell == 1 && w.species_i == i)
                .map(|w| cj(&w.species_j) * (1.0 - w.alpha))
                .sum();
            assert!((sum - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn tetrahedra_and_environments_count_every_site_once() {
        let c = mixed(3, 4);
        let l = c.lattice();
        let tets = tetrahedra(&c);
        assert_eq!(tets.len(), 15);
        assert_eq!(tets.iter().map(|t| t.count).sum::<u64>(), l.n_tetrahedra() as u64);
        // Each cation belongs to 8 tetrahedra: Σ n_X · count = 8 · N_X.
        let cat = c.cations();
        let n_li = cat.iter().filter(|&&s| s == species::LI).count() as u64;
        let n_va = cat.iter().filter(|&&s| s == species::VACANCY).count() as u64;
        assert_eq!(tets.iter().map(|t| t.n_li as u64 * t.count).sum::<u64>(), 8 * n_li);
        assert_eq!(tets.iter().map(|t| t.n_va as u64 * t.count).sum::<u64>(), 8 * n_va);
        assert_eq!(tets[0].label(), "Li4");
        assert_eq!(TetrahedronCount { n_li: 2, n_tm: 1, n_va: 1, count: 0 }.label(), "Li2TM1Va1");
        let env = anion_environments(&c, Some(&[0.0, 1.0, 3.0, 5.0])).unwrap();
        assert_eq!(env.iter().map(|e| e.count).sum::<u64>(), l.n_anions() as u64);
        assert_eq!(env.iter().map(|e| e.n_li as u64 * e.count).sum::<u64>(), 6 * n_li);
        for e in &env {
            assert_eq!(e.n_li + e.n_tm + e.n_va, 6);
            assert!(e.label.starts_with(&format!("{}:", e.anion)));
        }
        assert!(env.windows(2).all(|w| w[0].count >= w[1].count));
        // Every anion's environment charge equals the maintained anion charge of an annealer.
        let ham = Hamiltonian::new(&c, &[0.0, 1.0, 3.0, 5.0], 0.1, &[]).unwrap();
        let a = Annealer::new(&c, ham, true, 0).unwrap();
        let total_q: f64 = a.q.iter().sum();
        let env_q: f64 = env.iter().map(|e| e.cation_charge_e.unwrap() * e.count as f64).sum();
        assert!((total_q - env_q).abs() < 1e-6);
    }

    #[test]
    fn environment_labels_put_li_first_and_tms_alphabetically() {
        let lat = lattice(2);
        let n = lat.n_cations();
        // All Nb except one Li and one Mn and one vacancy around anion 0.
        let mut cat = vec![species::FIRST_TM; n]; // Nb
        let g = lat.anion_grid_index(0);
        let blk = lat.block(lat.grid_coords(g));
        let around: Vec<usize> =
            OCTAHEDRON_ANIONS.iter().map(|&o| Lattice::sublattice_index(offset_index(&blk, o))).collect();
        cat[around[0]] = species::LI;
        cat[around[1]] = species::FIRST_TM + 1; // Mn
        cat[around[2]] = species::VACANCY;
        let mut an = vec![species::O; n];
        an[0] = species::F;
        let c = Configuration::from_species(lat, &cat, &an, vec!["Nb".into(), "Mn".into()]).unwrap();
        let env = anion_environments(&c, None).unwrap();
        let f: Vec<_> = env.iter().filter(|e| e.anion == "F").collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].label, "F:Li1Mn1Nb3Va1");
        assert_eq!((f[0].n_li, f[0].n_tm, f[0].n_va), (1, 4, 1));
        assert_eq!(f[0].cation_charge_e, None);
    }
}
