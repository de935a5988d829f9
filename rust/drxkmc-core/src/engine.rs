//! Rejection-free (residence-time) kinetic Monte Carlo of Li o-t-o hops.
//!
//! State per cation site: the species byte (shared grid with the anions), the Li Boltzmann
//! weight w = exp(−E/2kT) of the site, its escape rate (a leaf of the sum tree) and the
//! unwrapped displacement of the Li on it (which moves with the Li). ≈ 30 bytes per site.
//!
//! One step: pick a Li with probability ∝ its escape rate (sum tree), recompute its ≤ 24 path
//! rates from the tabulated KRA rates and pick one, move the Li, advance the clock by
//! −ln(u)/R, and refresh the escape rates of the Li whose paths the hop changed (targets or
//! spectators): those on NN(A) ∪ NN(B). A hop A→B is one event per tetrahedron, so the pair
//! rate is the sum over its two tetrahedra and every physical hop is counted once.

use crate::config::{species, Configuration};
use crate::error::{require_positive, Error, Result};
use crate::lattice::{
    offset_index, shared_neighbour_masks, slot, Geometry, Lattice, NN_DIRECTIONS, N_PATHS, OCTAHEDRON_ANIONS,
    PATH_SLOTS,
};
use crate::memory::zeroed_vec;
use crate::model::{BarrierModel, KraTable, BOLTZMANN_EV_PER_K};
use crate::tree::SumTree;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Inner tree nodes are recomputed from the leaves every this many hops of the global hop
/// counter (not per call), so that results do not depend on how a run is chunked.
const REBUILD_EVERY_HOPS: u64 = 1 << 20;

const SHARED_MASKS: [u16; 12] = shared_neighbour_masks();
/// Block slot of the site itself.
const CENTRE: usize = slot([0, 0, 0]);

fn copy_to_huge(src: &[u8]) -> Vec<u8> {
    let mut v = zeroed_vec(src.len());
    v.copy_from_slice(src);
    v
}

/// Linear grid offsets of the 27 block slots, valid for a site not on a box face.
fn interior_deltas(d: [usize; 3]) -> [isize; 27] {
    let stride = [1isize, d[0] as isize, (d[0] * d[1]) as isize];
    let mut out = [0isize; 27];
    for (k, v) in out.iter_mut().enumerate() {
        let o = [(k % 3) as isize - 1, ((k / 3) % 3) as isize - 1, (k / 9) as isize - 1];
        *v = o[0] * stride[0] + o[1] * stride[1] + o[2] * stride[2];
    }
    out
}

/// A snapshot of the Li displacements, taken by `Kmc::observe`.
/// Displacements are since the last `reset_displacements`, in units of a/2.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    pub time_s: f64,
    pub hops: u64,
    pub n_li: u64,
    /// Σ_i |R_i|², (a/2)².
    pub sum_r2: f64,
    /// Σ_i R_i, a/2.
    pub sum_r: [f64; 3],
    /// Li with |R_i| larger than one nearest-neighbour distance.
    pub n_beyond_one_hop: u64,
    /// Li in each octant of the box (index x_hi + 2 y_hi + 4 z_hi).
    pub octant_li: [u64; 8],
}

/// One possible hop: from cation `from` to cation `to` through tetrahedron side `path`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub from: usize,
    pub to: usize,
    /// Path index 0..24 (= 2·direction + side).
    pub path: usize,
    pub n_tm: usize,
    pub barrier_ev: f64,
    pub rate_per_s: f64,
}

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The clock reached the requested end time.
    Time,
    /// The requested number of hops was done.
    Hops,
    /// No hop is possible (no Li has an empty neighbour).
    NoEvents,
}

/// The exact, resumable state of a run (everything but what is derived from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: Configuration,
    pub model: BarrierModel,
    pub temperature_k: f64,
    pub disp: Vec<[i32; 3]>,
    pub rng: Xoshiro256PlusPlus,
    pub time_s: f64,
    pub hops: u64,
    /// The inner nodes of the sum tree, kept so a resumed run is bit-identical.
    pub tree_inner: Vec<Vec<f64>>,
}

pub struct Kmc {
    lattice: Lattice,
    dims: [usize; 3],
    grid: Vec<u8>,
    tm_names: Vec<String>,
    model: BarrierModel,
    temperature_k: f64,
    table: KraTable,
    /// Class (`KraTable::class`) of every tetrahedron, indexed by its grid cube.
    tet_class: Vec<u8>,
    /// Linear offset of every block slot for a site away from the box faces.
    interior_delta: [isize; 27],
    /// exp(−(E − E_ref)/2kT) of a Li on each cation site (f32: 4 bytes/site; E_ref keeps
    /// the exponent in range, checked at construction).
    weight: Vec<f32>,
    /// E_ref of `weight`, eV (the midrange of the site energies, to keep weights in range).
    energy_ref_ev: f64,
    tree: SumTree,
    disp: Vec<[i32; 3]>,
    rng: Xoshiro256PlusPlus,
    time_s: f64,
    hops: u64,
}

#[inline(always)]
fn wrap(x: usize, o: i8, n: usize) -> usize {
    match o {
        -1 => {
            if x == 0 {
                n - 1
            } else {
                x - 1
            }
        }
        1 => {
            if x + 1 == n {
                0
            } else {
                x + 1
            }
        }
        _ => x,
    }
}

/// Uniform in (0, 1].
#[inline(always)]
fn unit_open0(rng: &mut Xoshiro256PlusPlus) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in [0, 1).
#[inline(always)]
fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl Kmc {
    pub fn new(config: &Configuration, model: &BarrierModel, temperature_k: f64, seed: u64) -> Result<Self> {
        require_positive("temperature_K", temperature_k)?;
        let lattice = *config.lattice();
        if lattice.geometry() != Geometry::Bulk {
            return Err(Error::invalid("geometry", "Li-hopping kMC runs in a periodic bulk cell"));
        }
        let table = KraTable::new(model, lattice.a(), temperature_k)?;
        let n = lattice.n_cations();
        let mut kmc = Kmc {
            lattice,
            dims: lattice.dims(),
            grid: copy_to_huge(config.grid()),
            tm_names: config.tm_names().to_vec(),
            model: model.clone(),
            temperature_k,
            table,
            tet_class: Vec::new(),
            interior_delta: interior_deltas(lattice.dims()),
            weight: zeroed_vec(n),
            energy_ref_ev: 0.0,
            tree: SumTree::new(n),
            disp: zeroed_vec(n),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            time_s: 0.0,
            hops: 0,
        };
        kmc.init_weights()?;
        kmc.init_tetrahedra();
        kmc.refresh_all();
        Ok(kmc)
    }

    /// Resume exactly from a checkpoint.
    pub fn from_checkpoint(cp: Checkpoint) -> Result<Self> {
        let mut kmc = Kmc::new(&cp.config, &cp.model, cp.temperature_k, 0)?;
        if cp.disp.len() != kmc.disp.len() {
            return Err(Error::invalid("checkpoint", "displacements do not match the lattice"));
        }
        kmc.disp = cp.disp;
        kmc.rng = cp.rng;
        kmc.time_s = cp.time_s;
        kmc.hops = cp.hops;
        if !kmc.tree.set_inner(cp.tree_inner) {
            return Err(Error::invalid("checkpoint", "rate tree does not match the lattice"));
        }
        Ok(kmc)
    }

    pub fn checkpoint(&self) -> Checkpoint {
        let config = Configuration::from_species(self.lattice, &self.cations(), &self.anions(), self.tm_names.clone())
            .expect("the engine state is a valid configuration");
        Checkpoint {
            config,
            model: self.model.clone(),
            temperature_k: self.temperature_k,
            disp: self.disp.clone(),
            rng: self.rng.clone(),
            time_s: self.time_s,
            hops: self.hops,
            tree_inner: self.tree.inner().to_vec(),
        }
    }

    // ----- site energies -------------------------------------------------------------------

    /// Li site energy of every cation site, eV (TM sites get the value a Li would have there).
    fn raw_site_energies(&self) -> Vec<f64> {
        let m = &self.model;
        let mut noise = Xoshiro256PlusPlus::seed_from_u64(m.site_energy_seed);
        (0..self.lattice.n_cations())
            .map(|c| {
                let g = self.lattice.cation_grid_index(c);
                let blk = self.lattice.block(self.lattice.grid_coords(g));
                let mut e = 0.0;
                for o in OCTAHEDRON_ANIONS {
                    match self.grid[offset_index(&blk, o)] {
                        species::F => e += m.site_f_ev,
                        species::CL => e += m.site_cl_ev,
                        _ => {}
                    }
                }
                for d in NN_DIRECTIONS {
                    if species::is_tm(self.grid[offset_index(&blk, d)]) {
                        e += m.site_tm_ev;
                    }
                }
                // Draw for every site whatever sigma is, so the same seed gives the same
                // pattern of disorder at any width.
                let xi: f64 = StandardNormal.sample(&mut noise);
                e + m.site_disorder_ev * xi
            })
            .collect()
    }

    fn init_weights(&mut self) -> Result<()> {
        let e = self.raw_site_energies();
        let (lo, hi) = e.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        self.energy_ref_ev = 0.5 * (lo + hi);
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        // f32 holds e^±80 with room to spare for the rate products.
        if (hi - lo) / 2.0 / two_kt > 80.0 {
            return Err(Error::invalid(
                "temperature_K",
                format!(
                    "{} K is too low for the {:.2} eV spread of Li site energies (needs kT > spread/320)",
                    self.temperature_k,
                    hi - lo
                ),
            ));
        }
        for (w, &x) in self.weight.iter_mut().zip(&e) {
            *w = (-(x - self.energy_ref_ev) / two_kt).exp() as f32;
        }
        Ok(())
    }

    /// Classify every tetrahedron (grid cube) by its TM count and anion corners.
    fn init_tetrahedra(&mut self) {
        let l = self.lattice;
        let mut classes = zeroed_vec(l.n_grid());
        for (g, class) in classes.iter_mut().enumerate() {
            *class = {
                let p = l.grid_coords(g);
                let blk = l.block(p);
                let parity = (p[0] + p[1] + p[2]) % 2;
                let mut n_tm = 0;
                let mut corners = [0u8; 4];
                let mut k = 0;
                for o in 0..8usize {
                    let bits = [o & 1, (o >> 1) & 1, (o >> 2) & 1];
                    let code = self.grid[offset_index(&blk, bits.map(|b| b as i8))];
                    if (parity + bits[0] + bits[1] + bits[2]) % 2 == 0 {
                        n_tm += species::is_tm(code) as usize;
                    } else {
                        corners[k] = code;
                        k += 1;
                    }
                }
                self.table.class(n_tm, corners)
            };
        }
        self.tet_class = classes;
    }

    /// Li site energy of every cation site, eV.
    pub fn site_energies(&self) -> Vec<f64> {
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        self.weight.iter().map(|&w| self.energy_ref_ev - two_kt * (w as f64).ln()).collect()
    }

    // ----- rates ---------------------------------------------------------------------------

    /// Grid indices of the 3x3x3 block around p, by slot (`lattice::slot`).
    #[inline(always)]
    fn block_indices(&self, p: [usize; 3]) -> [usize; 27] {
        let d = self.dims;
        if (1..d[0] - 1).contains(&p[0]) && (1..d[1] - 1).contains(&p[1]) && (1..d[2] - 1).contains(&p[2]) {
            let g = self.lattice.grid_index(p) as isize;
            self.interior_delta.map(|o| (g + o) as usize)
        } else {
            self.lattice.block_indices(p)
        }
    }

    /// Class and spectator-Li count of one path out of the site with block `idx`.
    #[inline(always)]
    fn path_class(&self, idx: &[usize; 27], path: usize) -> (u8, usize) {
        let ps = &PATH_SLOTS[path];
        let n_li = (self.grid[idx[ps.spectators[0] as usize]] == species::LI) as usize
            + (self.grid[idx[ps.spectators[1] as usize]] == species::LI) as usize;
        (self.tet_class[idx[ps.cube as usize]], n_li)
    }

    /// ν·exp(−E_KRA/kT) of one path.
    #[inline(always)]
    fn kra_rate(&self, idx: &[usize; 27], path: usize) -> f64 {
        let (class, n_li) = self.path_class(idx, path);
        self.table.rate(class, n_li)
    }

    /// Rate of every path out of the Li with block `idx` (0 for closed ones) and their sum.
    #[inline(always)]
    fn path_rates(&self, idx: &[usize; 27]) -> ([f64; N_PATHS], f64) {
        let mut rates = [0.0f64; N_PATHS];
        let mut total = 0.0;
        for dir in 0..12 {
            let b = idx[PATH_SLOTS[2 * dir].target as usize];
            if self.grid[b] == species::VACANCY {
                let w = self.weight[b >> 1] as f64;
                for side in 0..2 {
                    let r = self.kra_rate(idx, 2 * dir + side) * w;
                    rates[2 * dir + side] = r;
                    total += r;
                }
            }
        }
        (rates, total)
    }

    /// Total rate of all hops out of the Li at grid point p, s⁻¹.
    #[inline]
    fn escape_rate(&self, p: [usize; 3]) -> f64 {
        let idx = self.block_indices(p);
        let mut sum = 0.0;
        for dir in 0..12 {
            let b = idx[PATH_SLOTS[2 * dir].target as usize];
            if self.grid[b] == species::VACANCY {
                let s = self.kra_rate(&idx, 2 * dir) + self.kra_rate(&idx, 2 * dir + 1);
                sum += s * self.weight[b >> 1] as f64;
            }
        }
        sum / self.weight[idx[CENTRE] >> 1] as f64
    }

    fn refresh_all(&mut self) {
        for c in 0..self.lattice.n_cations() {
            let g = self.lattice.cation_grid_index(c);
            let r = if self.grid[g] == species::LI { self.escape_rate(self.lattice.grid_coords(g)) } else { 0.0 };
            self.tree.set_leaf_only(c, r);
        }
        self.tree.rebuild();
    }

    #[inline(always)]
    fn neighbour(&self, p: [usize; 3], o: [i8; 3]) -> [usize; 3] {
        [wrap(p[0], o[0], self.dims[0]), wrap(p[1], o[1], self.dims[1]), wrap(p[2], o[2], self.dims[2])]
    }

    #[inline(always)]
    fn refresh_if_li(&mut self, p: [usize; 3]) {
        let g = self.lattice.grid_index(p);
        if self.grid[g] == species::LI {
            let r = self.escape_rate(p);
            self.tree.set(g >> 1, r);
        }
    }

    // ----- dynamics ------------------------------------------------------------------------

    /// Total escape rate of the current state, s⁻¹.
    pub fn total_rate(&self) -> f64 {
        self.tree.total()
    }

    /// Choose and perform one hop. The clock is advanced by the caller.
    #[inline]
    fn hop(&mut self) {
        let mut c = self.tree.select(unit(&mut self.rng) * self.tree.total());
        if self.tree.get(c) <= 0.0 {
            // Rounding left weight on an all-zero subtree: recompute the inner nodes, choose again.
            self.tree.rebuild();
            c = self.tree.select(unit(&mut self.rng) * self.tree.total());
        }
        let ga = self.lattice.cation_grid_index(c);
        let pa = self.lattice.grid_coords(ga);
        let idx = self.block_indices(pa);
        let (rates, total) = self.path_rates(&idx);
        let mut u = unit(&mut self.rng) * total;
        let mut path = N_PATHS - 1;
        for (k, &r) in rates.iter().enumerate() {
            if r > 0.0 {
                path = k;
                if u < r {
                    break;
                }
                u -= r;
            }
        }
        let dir = path / 2;
        let d = NN_DIRECTIONS[dir];
        let gb = idx[PATH_SLOTS[path].target as usize];
        let pb = self.neighbour(pa, d);
        self.grid[ga] = species::VACANCY;
        self.grid[gb] = species::LI;
        let r = self.disp[ga >> 1];
        self.disp[gb >> 1] = [r[0] + d[0] as i32, r[1] + d[1] as i32, r[2] + d[2] as i32];
        self.tree.set(ga >> 1, 0.0);
        for o in NN_DIRECTIONS {
            self.refresh_if_li(self.neighbour(pa, o));
        }
        let skip = SHARED_MASKS[dir];
        for (k, o) in NN_DIRECTIONS.iter().enumerate() {
            if skip & (1 << k) == 0 {
                self.refresh_if_li(self.neighbour(pb, *o));
            }
        }
        self.hops += 1;
        if self.hops % REBUILD_EVERY_HOPS == 0 {
            self.tree.rebuild();
        }
    }

    /// Advance until the clock reaches `t_end_s` or `max_hops` more hops are done, calling
    /// `observe` at each of `sample_times_s` (ascending, absolute) that falls in the interval.
    /// Returns why it stopped and the observations made.
    pub fn run(&mut self, t_end_s: f64, max_hops: u64, sample_times_s: &[f64]) -> Result<(Stop, Vec<Observation>)> {
        if t_end_s.is_nan() {
            return Err(Error::invalid("time_s", "must not be NaN"));
        }
        if sample_times_s.windows(2).any(|w| !(w[0] <= w[1])) || sample_times_s.iter().any(|t| !t.is_finite()) {
            return Err(Error::invalid("sample_times", "must be finite and ascending"));
        }
        let t0 = self.time_s;
        let mut samples = sample_times_s.iter().copied().skip_while(|&t| t < t0).peekable();
        let mut out = Vec::new();
        let mut done = 0u64;
        let stop = loop {
            if done >= max_hops {
                break Stop::Hops;
            }
            let r = self.tree.total();
            let t_next = if r > 0.0 { self.time_s - unit_open0(&mut self.rng).ln() / r } else { f64::INFINITY };
            // The state holds on [time, t_next): samples in that window see it.
            while let Some(&ts) = samples.peek() {
                if ts < t_next && ts <= t_end_s {
                    out.push(self.observe_at(ts));
                    samples.next();
                } else {
                    break;
                }
            }
            if r <= 0.0 {
                // No Li can hop: the state never changes again.
                if t_end_s.is_finite() {
                    self.time_s = t_end_s.max(self.time_s);
                }
                break Stop::NoEvents;
            }
            if t_next > t_end_s {
                // Memoryless: discarding the pending waiting time is exact.
                self.time_s = t_end_s.max(self.time_s);
                break Stop::Time;
            }
            self.hop();
            self.time_s = t_next;
            done += 1;
        };
        Ok((stop, out))
    }

    // ----- observation ---------------------------------------------------------------------

    fn observe_at(&self, time_s: f64) -> Observation {
        let mut o = Observation { time_s, hops: self.hops, ..Default::default() };
        let [nx, ny, nz] = self.dims;
        for z in 0..nz {
            for y in 0..ny {
                let x0 = (y + z) % 2;
                let row = nx * (y + ny * z);
                let oct_yz = 2 * (2 * y >= ny) as usize + 4 * (2 * z >= nz) as usize;
                for x in (x0..nx).step_by(2) {
                    let g = row + x;
                    if self.grid[g] != species::LI {
                        continue;
                    }
                    let r = self.disp[g >> 1];
                    let r2 = (r[0] as i64).pow(2) + (r[1] as i64).pow(2) + (r[2] as i64).pow(2);
                    o.n_li += 1;
                    o.sum_r2 += r2 as f64;
                    for k in 0..3 {
                        o.sum_r[k] += r[k] as f64;
                    }
                    // One NN hop is |R|² = 2 in (a/2)² units.
                    o.n_beyond_one_hop += (r2 > 2) as u64;
                    o.octant_li[oct_yz + (2 * x >= nx) as usize] += 1;
                }
            }
        }
        o
    }

    /// Observation of the current state.
    pub fn observe(&self) -> Observation {
        self.observe_at(self.time_s)
    }

    /// Zero every Li displacement (start of a new measuring block).
    pub fn reset_displacements(&mut self) {
        self.disp.fill([0; 3]);
    }

    // ----- inspection ----------------------------------------------------------------------

    pub fn time_s(&self) -> f64 {
        self.time_s
    }
    pub fn hops(&self) -> u64 {
        self.hops
    }
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }
    pub fn temperature_k(&self) -> f64 {
        self.temperature_k
    }
    pub fn model(&self) -> &BarrierModel {
        &self.model
    }
    pub fn tm_names(&self) -> &[String] {
        &self.tm_names
    }
    pub fn cations(&self) -> Vec<u8> {
        (0..self.lattice.n_cations()).map(|c| self.grid[self.lattice.cation_grid_index(c)]).collect()
    }
    pub fn anions(&self) -> Vec<u8> {
        (0..self.lattice.n_anions()).map(|c| self.grid[self.lattice.anion_grid_index(c)]).collect()
    }
    /// Displacement (units of a/2) of the Li on each cation site since the last reset
    /// (zero where there is no Li).
    pub fn displacements(&self) -> Vec<[i32; 3]> {
        (0..self.lattice.n_cations())
            .map(|c| if self.grid[self.lattice.cation_grid_index(c)] == species::LI { self.disp[c] } else { [0; 3] })
            .collect()
    }
    /// Escape rate of every cation site, s⁻¹ (the sum-tree leaves).
    pub fn escape_rates(&self) -> &[f64] {
        self.tree.leaves()
    }

    /// Every possible hop of the current state, with its barrier and rate.
    pub fn events(&self) -> Vec<Event> {
        let kt = BOLTZMANN_EV_PER_K * self.temperature_k;
        let mut out = Vec::new();
        for c in 0..self.lattice.n_cations() {
            let ga = self.lattice.cation_grid_index(c);
            if self.grid[ga] != species::LI {
                continue;
            }
            let idx = self.block_indices(self.lattice.grid_coords(ga));
            for path in 0..N_PATHS {
                let gb = idx[PATH_SLOTS[path].target as usize];
                if self.grid[gb] != species::VACANCY {
                    continue;
                }
                let (class, n_li) = self.path_class(&idx, path);
                let n_tm = KraTable::n_tm(class);
                let ratio = self.weight[gb >> 1] as f64 / self.weight[ga >> 1] as f64;
                out.push(Event {
                    from: c,
                    to: gb >> 1,
                    path,
                    n_tm,
                    barrier_ev: self.table.barrier(class, n_li) - kt * ratio.ln(),
                    rate_per_s: self.table.rate(class, n_li) * ratio,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::PATHS;

    fn empty_lattice_with(l: usize, li_sites: &[usize]) -> Configuration {
        let lat = Lattice::new([l, l, l], 4.0, Geometry::Bulk).unwrap();
        let mut cat = vec![species::VACANCY; lat.n_cations()];
        for &s in li_sites {
            cat[s] = species::LI;
        }
        Configuration::from_species(lat, &cat, &vec![species::O; lat.n_anions()], vec![]).unwrap()
    }

    #[test]
    fn single_li_has_24_equal_paths() {
        let cfg = empty_lattice_with(3, &[5]);
        let k = Kmc::new(&cfg, &BarrierModel::uniform(0.3), 300.0, 1).unwrap();
        let ev = k.events();
        assert_eq!(ev.len(), 24);
        let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
        for e in &ev {
            assert!((e.rate_per_s / gamma_t - 1.0).abs() < 1e-12);
        }
        assert!((k.total_rate() / (24.0 * gamma_t) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn incremental_rates_equal_full_recompute() {
        // After many hops with the full DRX model, every leaf equals a fresh recomputation.
        let lat = Lattice::new([4, 4, 4], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 110, &[40, 40], vec!["Mn".into(), "Ti".into()], 20, 6, 3).unwrap();
        let mut model = BarrierModel::default();
        model.site_disorder_ev = 0.05;
        let mut k = Kmc::new(&cfg, &model, 600.0, 7).unwrap();
        k.run(f64::INFINITY, 20_000, &[]).unwrap();
        let fresh = Kmc::from_checkpoint(k.checkpoint()).unwrap();
        let mut again = Kmc::new(
            &Configuration::from_species(lat, &k.cations(), &k.anions(), vec!["Mn".into(), "Ti".into()]).unwrap(),
            &model,
            600.0,
            0,
        )
        .unwrap();
        again.refresh_all();
        for c in 0..lat.n_cations() {
            let (a, b) = (k.escape_rates()[c], again.escape_rates()[c]);
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-300), "site {c}: {a} vs {b}");
        }
        assert_eq!(fresh.cations(), k.cations());
    }

    #[test]
    fn hops_conserve_li_and_only_enter_vacancies() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 40, &[30], vec!["Mn".into()], 10, 0, 9).unwrap();
        let mut k = Kmc::new(&cfg, &BarrierModel::default(), 500.0, 1).unwrap();
        let before = k.cations();
        for _ in 0..200 {
            let prev = k.cations();
            k.run(f64::INFINITY, 1, &[]).unwrap();
            let now = k.cations();
            let changed: Vec<usize> = (0..now.len()).filter(|&i| prev[i] != now[i]).collect();
            assert_eq!(changed.len(), 2);
            let (a, b) =
                if prev[changed[0]] == species::LI { (changed[0], changed[1]) } else { (changed[1], changed[0]) };
            assert_eq!(
                (prev[a], prev[b], now[a], now[b]),
                (species::LI, species::VACANCY, species::VACANCY, species::LI)
            );
        }
        let tm = |v: &Vec<u8>| v.iter().filter(|&&s| species::is_tm(s)).count();
        assert_eq!(tm(&before), tm(&k.cations()));
    }

    #[test]
    fn checkpoint_resume_is_bit_identical() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 60, &[20], vec!["Mn".into()], 10, 0, 2).unwrap();
        let mut a = Kmc::new(&cfg, &BarrierModel::default(), 400.0, 11).unwrap();
        a.run(f64::INFINITY, 500, &[]).unwrap();
        let mut b = Kmc::from_checkpoint(a.checkpoint()).unwrap();
        a.run(f64::INFINITY, 700, &[]).unwrap();
        b.run(f64::INFINITY, 700, &[]).unwrap();
        assert_eq!(a.time_s(), b.time_s());
        assert_eq!(a.cations(), b.cations());
        assert_eq!(a.displacements(), b.displacements());
    }

    #[test]
    fn detailed_balance_of_pair_rates() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 30, &[20], vec!["Mn".into()], 25, 4, 5).unwrap();
        let mut model = BarrierModel::default();
        model.site_disorder_ev = 0.1;
        let k = Kmc::new(&cfg, &model, 350.0, 0).unwrap();
        let e = k.site_energies();
        let kt = BOLTZMANN_EV_PER_K * 350.0;
        // For each event A->B, move the Li by hand to B and look up the reverse path.
        let mut checked = 0;
        for ev in k.events().iter().take(60) {
            let mut cat = k.cations();
            cat[ev.from] = species::VACANCY;
            cat[ev.to] = species::LI;
            let back = Kmc::new(
                &Configuration::from_species(lat, &cat, &k.anions(), vec!["Mn".into()]).unwrap(),
                &model,
                350.0,
                0,
            )
            .unwrap();
            // The reverse path goes through the same tetrahedron: its centre seen from B.
            let d = NN_DIRECTIONS[ev.path / 2];
            let centre_from_b: Vec<i8> = (0..3).map(|i| PATHS[ev.path].centre_quarter[i] - 2 * d[i]).collect();
            let rev = back
                .events()
                .into_iter()
                .find(|x| x.from == ev.to && x.to == ev.from && PATHS[x.path].centre_quarter[..] == centre_from_b[..])
                .unwrap();
            let ratio = ev.rate_per_s / rev.rate_per_s;
            let expect = (-(e[ev.to] - e[ev.from]) / kt).exp();
            assert!((ratio / expect - 1.0).abs() < 1e-9, "{ratio} vs {expect}");
            checked += 1;
        }
        assert!(checked > 10);
    }
}
