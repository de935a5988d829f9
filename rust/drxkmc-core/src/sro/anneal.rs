//! Metropolis annealing: canonical swaps at one temperature (`Annealer`) or through a schedule
//! (`anneal`).
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

use super::hamiltonian::{energy_of, Energy, Hamiltonian};
use super::{for_each_site, FIELD_CHARGES, FIELD_TEMPERATURE};
use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{offset_index, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS};
use crate::memory::{describe_lattice, require_available, try_filled};
use crate::model::BOLTZMANN_EV_PER_K;
use crate::random::{below, unit};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

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

/// What one sweep did, and the energy after it (serialised one row per sweep, the energy as
/// its total and terms).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct SweepStats {
    /// Sweeps done since the annealer was built (0 = the starting state).
    pub sweep: u64,
    #[serde(rename = "temperature_K")]
    pub temperature_k: f64,
    pub cation_attempts: u64,
    pub cation_accepted: u64,
    pub anion_attempts: u64,
    pub anion_accepted: u64,
    #[serde(flatten, serialize_with = "energy_terms")]
    pub energy: Energy,
}

fn energy_terms<S: Serializer>(e: &Energy, s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(4))?;
    m.serialize_entry("energy_eV", &e.total_ev())?;
    m.serialize_entry("electroneutrality_eV", &e.electroneutrality_ev)?;
    m.serialize_entry("pair_eV", &e.pair_ev)?;
    m.serialize_entry("charge_deviation_rms_e", &e.charge_deviation_rms_e)?;
    m.end()
}

/// Metropolis annealer of one configuration.
#[derive(Debug, Clone)]
pub struct Annealer {
    lattice: Lattice,
    pub(super) grid: Vec<u8>,
    tm_names: Vec<String>,
    pub(super) ham: Hamiltonian,
    move_anions: bool,
    /// Summed oxidation state of the six cation neighbours of each anion (dense anion index),
    /// updated on every accepted cation swap and recomputed exactly after every sweep.
    pub(super) q: Vec<f64>,
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

    pub(super) fn recompute_charges(&mut self) {
        let (grid, charges, q) = (&self.grid, &self.ham.cation_charges, &mut self.q);
        for_each_site(&self.lattice, self.lattice.anion_points(), |g, blk| {
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
    pub(super) fn metropolis(&mut self, de: f64, beta: f64) -> bool {
        if de <= 0.0 {
            true
        } else if beta.is_infinite() {
            false
        } else {
            unit(&mut self.rng) < (-beta * de).exp()
        }
    }

    /// One attempted cation swap: (ΔE in eV, accepted).
    pub(super) fn attempt_cation(&mut self, beta: f64) -> (f64, bool) {
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
    pub(super) fn cation_swap_delta(
        &self,
        gi: usize,
        gj: usize,
    ) -> (f64, f64, [usize; 6], [usize; 6], [bool; 6], [bool; 6]) {
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
    pub(super) fn attempt_anion(&mut self, beta: f64) -> (f64, bool) {
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
    pub(super) fn anion_swap_delta(&self, gx: usize, gy: usize) -> f64 {
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
