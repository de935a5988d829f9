//! Residence-time kinetic Monte Carlo of Li o-t-o hops.
//!
//! State per cation site, in the engine's own cache-friendly site order (`TiledOrder`): one
//! 16-byte `Site` record (Li Boltzmann weight w = exp(−E/2kT), neighbour masks, the cation and
//! anion species of the site's index pair, the classes of the two tetrahedra anchored there,
//! and the Li's escape rate: a leaf of the sum tree), the unwrapped displacement of the Li on
//! it (which moves with the Li) and the tree's inner nodes: ≈ 24.5 bytes per site. A 2x2x2
//! tile of the site order is exactly one cache line. The public accessors convert to the
//! cation-index order of `Lattice`.
//!
//! One step: pick a Li with probability ∝ its stored escape rate (sum tree), recompute its
//! ≤ 24 path rates from the tabulated KRA rates and pick one, move the Li, advance the clock
//! by −ln(u)/R, and refresh the escape rates of the Li whose paths the hop changed (targets or
//! spectators): those on NN(A) ∪ NN(B). A hop A→B is one event per tetrahedron, so the pair
//! rate is the sum over its two tetrahedra and every physical hop is counted once.
//!
//! Stored escape rates are f32 upper bounds (rounded up, in units of a power of two): the
//! record then fits a cache line four times. The chosen Li hops with probability
//! (exact rate)/(stored bound) ≥ 1 − 2⁻²³ and otherwise the step is a null event; the clock
//! runs with the total of the bounds. This thinning keeps the dynamics exact: every hop
//! happens at its exact rate.

use crate::checkpoint::in_checkpoint;
pub use crate::checkpoint::Checkpoint;
use crate::config::{species, Configuration};
use crate::error::{require_positive, Error, Result};
use crate::lattice::{
    offset_index, opposite, padded, shared_neighbour_masks, Geometry, Lattice, TiledOrder, NN_DIRECTIONS, N_PATHS,
    PATHS,
};
use crate::memory::{self, prefetch, HugeBuf, Zeroable};
use crate::model::{BarrierModel, KraTable, BOLTZMANN_EV_PER_K, N_CLASSES};
use crate::random::{unit, unit_open0};
use crate::site_energy::site_energies;
use crate::tree::{pick, SumTree};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Inner tree nodes are recomputed from the leaves every this many hops of the global hop
/// counter (not per call), so that results do not depend on how a run is chunked.
const REBUILD_EVERY_HOPS: u64 = 1 << 20;

/// Stored escape rates (units of `Kmc::rate_unit`) at or above this trigger a new unit: f32
/// holds up to 2^128.
const STORED_RATE_LIMIT: f64 = (1u128 << 100) as f64;

/// Below this stored total (units of `Kmc::rate_unit`), rates near the bottom of the f32
/// range could matter: choose a new unit.
const STORED_TOTAL_FLOOR: f64 = 1.0 / (1u64 << 60) as f64;

/// The tree's inner sums carry rounding errors the size of the largest sums they have held
/// since they were last recomputed, so they are recomputed whenever the total leaves
/// [1/16, 16] times its value then: a relaxation that lowers the total rate by orders of
/// magnitude would otherwise leave it (and the selection) dominated by those errors.
const TOTAL_DRIFT_FACTOR: f64 = 16.0;

/// x rounded up to f32, so that the stored rate bounds the exact one from above; positive
/// values below the f32 range become the smallest positive f32, never 0.
#[inline(always)]
fn stored_rate(x: f64) -> f32 {
    let s = x as f32;
    // One f32 step up where rounding went down (x ≥ 0 and finite, so the bits count up),
    // without a branch: which way rounding goes is a coin toss for the predictor.
    f32::from_bits(s.to_bits() + ((s as f64) < x) as u32)
}

/// Tiles of the engine's site order have up to 2^TILE_LOG2 grid points per axis.
const TILE_LOG2: u32 = 1;

/// Lattices with at least this many cation sites (≈ 1.5 MB of engine state, beyond the L2
/// cache) prefetch the neighbourhood of every hop.
const PREFETCH_ABOVE_SITES: usize = 1 << 16;

const SHARED_MASKS: [u16; 12] = shared_neighbour_masks();

/// Index in `NN_DIRECTIONS` of a nearest-neighbour offset.
const fn direction_of(o: [i8; 3]) -> u8 {
    let mut d = 0;
    while d < 12 {
        let n = NN_DIRECTIONS[d];
        if n[0] == o[0] && n[1] == o[1] && n[2] == o[2] {
            return d as u8;
        }
        d += 1;
    }
    panic!("not a nearest-neighbour offset")
}

/// For each path: the neighbour directions of its two spectators, and the number of its
/// tetrahedron's grid cube among the 8 around the start site (tables padded to 32 entries so
/// that `path & 31` indexes them without bounds checks).
/// Both spectators are nearest neighbours of the start site, so a site's 12 neighbours and
/// 8 surrounding cubes are all its paths depend on.
const PATH_SPECTATORS: [[u8; 2]; 32] = {
    let mut out = [[0u8; 2]; 32];
    let mut p = 0;
    while p < N_PATHS {
        out[p] = [direction_of(PATHS[p].spectators[0]), direction_of(PATHS[p].spectators[1])];
        p += 1;
    }
    out
};
const PATH_CUBE: [u8; 32] = {
    let mut out = [0u8; 32];
    let mut p = 0;
    while p < N_PATHS {
        // Bit k of the number is set when the cube's lowest corner has offset 0 (not −1) on axis k.
        let c = PATHS[p].cube;
        out[p] = ((c[0] + 1) + 2 * (c[1] + 1) + 4 * (c[2] + 1)) as u8;
        p += 1;
    }
    out
};

/// Expands `$body` once for every direction `$d` in 0..12, with `$d` a literal, so that the
/// lookups of direction tables fold away (LLVM does not unroll the equivalent loop).
macro_rules! each_direction {
    ($d:ident => $body:block) => {{
        each_direction!(@ $d $body; 0 1 2 3 4 5 6 7 8 9 10 11);
    }};
    (@ $d:ident $body:block; $($k:literal)*) => {
        $({
            let $d: usize = $k;
            $body
        })*
    };
}

/// Everything the engine reads per cation site, for one index pair (2c, 2c+1) of the site
/// order (one cation, one anion): 16 bytes, so that the 4 records of a 2x2x2 tile fill one
/// cache line. The neighbour masks are kept up to date by every hop so that an escape rate
/// needs no look at the 12 neighbours' species.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(16))]
struct Site {
    /// Escape rate of the Li on the cation (0 if none) in units of `Kmc::rate_unit`, rounded
    /// up to f32: a leaf of the sum tree.
    rate: f32,
    /// exp(−(E − E_ref)/2kT) of a Li on the cation (f32 holds it: E_ref keeps the exponent in
    /// range, checked at construction).
    weight: f32,
    /// Bit d set when the neighbour in direction d holds Li / is empty.
    li: u16,
    vacant: u16,
    /// Class (`KraTable::class`) of the tetrahedron (grid cube) whose lowest corner is index
    /// 2c (`cubes[0]`) or 2c+1 (`cubes[1]`).
    cubes: [u8; 2],
    cation: u8,
    anion: u8,
}

// SAFETY: plain numbers; all-zero is an empty site with weight 0 (set before use).
unsafe impl Zeroable for Site {}

/// Site-order indices of what the paths out of one site touch: its 12 nearest neighbours
/// (by direction), the 8 grid cubes around it (by `PATH_CUBE` number) and itself.
#[derive(Clone, Copy)]
struct Hood([usize; 21]);

/// Slots of `Hood`.
const HOOD_CUBES: usize = 12;
const HOOD_CENTRE: usize = 20;

impl Hood {
    #[inline(always)]
    fn new(order: &TiledOrder, q: [usize; 3]) -> Self {
        let b = order.block(q);
        let at = |s: [u8; 3]| b[0][s[0] as usize] + b[1][s[1] as usize] + b[2][s[2] as usize];
        let mut idx = [0usize; 21];
        each_direction!(d => {
            idx[d] = at(NN_SLOTS[d]);
        });
        for (k, i) in idx[HOOD_CUBES..HOOD_CENTRE].iter_mut().enumerate() {
            *i = at([(k & 1) as u8, ((k >> 1) & 1) as u8, (k >> 2) as u8]);
        }
        idx[HOOD_CENTRE] = at([1, 1, 1]);
        Hood(idx)
    }
    #[inline(always)]
    fn centre(&self) -> usize {
        self.0[HOOD_CENTRE]
    }
    /// Index of the nearest neighbour in direction d (< 12).
    #[inline(always)]
    fn nn(&self, d: usize) -> usize {
        self.0[d & 15]
    }
    /// Index of the grid cube (tetrahedron) of a path.
    #[inline(always)]
    fn cube(&self, path: usize) -> usize {
        self.0[HOOD_CUBES + (PATH_CUBE[path & 31] & 7) as usize]
    }
}

/// Block slots of each nearest-neighbour direction.
const NN_SLOTS: [[u8; 3]; 12] = {
    let mut out = [[0u8; 3]; 12];
    let mut d = 0;
    while d < 12 {
        let o = NN_DIRECTIONS[d];
        out[d] = [(o[0] + 1) as u8, (o[1] + 1) as u8, (o[2] + 1) as u8];
        d += 1;
    }
    out
};

/// Unwrapped displacement of one Li in units of a/2, packed in one u64 as three signed
/// 21-bit digits (x + 2^21·y + 2^42·z): 8 bytes instead of 12 for [i32; 3], exact up to
/// ±2^20 steps (≈ 0.2 mm) per component since the last reset, far beyond any run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Disp(u64);

// SAFETY: all-zero is the zero displacement.
unsafe impl Zeroable for Disp {}

impl Disp {
    const BITS: u32 = 21;

    fn pack(r: [i32; 3]) -> Self {
        Disp((r[0] as i64 + ((r[1] as i64) << Self::BITS) + ((r[2] as i64) << (2 * Self::BITS))) as u64)
    }
    fn unpack(self) -> [i32; 3] {
        let mut v = self.0 as i64;
        let mut out = [0i32; 3];
        for (k, x) in out.iter_mut().enumerate() {
            // Sign-extend the low digit, remove it, shift the next one down (the last is the rest).
            let digit = if k < 2 { (v << (64 - Self::BITS)) >> (64 - Self::BITS) } else { v };
            *x = digit as i32;
            v = (v - digit) >> Self::BITS;
        }
        out
    }
    /// The displacement after one step d.
    #[inline(always)]
    fn step(self, d: [i8; 3]) -> Self {
        let delta = d[0] as i64 + ((d[1] as i64) << Self::BITS) + ((d[2] as i64) << (2 * Self::BITS));
        Disp(self.0.wrapping_add(delta as u64))
    }
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
    /// Σ of the site energies of the Li, eV: a stationarity trace.
    pub sum_li_energy_ev: f64,
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

pub struct Kmc {
    lattice: Lattice,
    order: TiledOrder,
    tm_names: Vec<String>,
    model: BarrierModel,
    temperature_k: f64,
    /// ν·exp(−E_KRA/kT) by `[class][spectator Li]` (the `KraTable` rates; a full u8 × 4 range
    /// so that lookups need no bounds checks).
    kra_rate: Box<[[f64; 4]; 256]>,
    table: KraTable,
    /// By index pair of the site order.
    sites: HugeBuf<Site>,
    /// E_ref of the weights, eV (the midrange of the site energies, to keep weights in range).
    energy_ref_ev: f64,
    /// Sums of the stored escape rates (`Site::rate`) by index pair of the site order.
    tree: SumTree,
    /// Unit of the stored escape rates, s⁻¹: a power of two chosen so that the fastest rate
    /// is stored near 2^64, far from both ends of the f32 range.
    rate_unit: f64,
    /// The tree total when the inner sums were last recomputed (see `TOTAL_DRIFT_FACTOR`).
    rebuilt_total: f64,
    /// Displacement of the Li on each cation, by index pair of the site order.
    disp: HugeBuf<Disp>,
    rng: Xoshiro256PlusPlus,
    time_s: f64,
    hops: u64,
    /// Cap G on the equilibrium flux of every path, s⁻¹ (see `acceleration`); ∞ when off.
    rate_cap: f64,
    /// exp((E_ref − μ)/kT) of the μ the flux is computed at.
    cap_z: f64,
}

/// Grid coordinates of every cation (`anions` false) or anion, in the order of its dense
/// index (`Lattice::cation_grid_index`): x fastest, then y, then z.
fn sublattice_points(lattice: &Lattice, anions: bool) -> impl Iterator<Item = [usize; 3]> {
    let [nx, ny, nz] = lattice.dims();
    (0..nz).flat_map(move |z| {
        (0..ny).flat_map(move |y| ((y + z + anions as usize) % 2..nx).step_by(2).map(move |x| [x, y, z]))
    })
}

impl Kmc {
    pub fn new(config: &Configuration, model: &BarrierModel, temperature_k: f64, seed: u64) -> Result<Self> {
        Self::with_tiles(config, model, temperature_k, seed, TILE_LOG2)
    }

    /// `new` with tiles of up to 2^tile_log2 points per axis (0: the plain cation order).
    fn with_tiles(
        config: &Configuration,
        model: &BarrierModel,
        temperature_k: f64,
        seed: u64,
        tile_log2: u32,
    ) -> Result<Self> {
        require_positive("temperature_K", temperature_k)?;
        let lattice = *config.lattice();
        if lattice.geometry() != Geometry::Bulk {
            return Err(Error::invalid("geometry", "Li-hopping kMC runs in a periodic bulk cell"));
        }
        let table = KraTable::new(model, lattice.a(), temperature_k)?;
        let mut kra_rate = Box::new([[0.0; 4]; 256]);
        for (class, r) in kra_rate.iter_mut().enumerate().take(N_CLASSES) {
            for (n_li, v) in r.iter_mut().enumerate().take(3) {
                *v = table.rate(class as u8, n_li);
            }
        }
        let n = lattice.n_cations();
        memory::require_available(
            "size",
            || format!("a kMC engine for {}", memory::describe_lattice(&lattice)),
            Self::memory_estimate(&lattice) as u64,
        )?;
        let mut kmc = Kmc {
            lattice,
            order: TiledOrder::new(lattice.dims(), tile_log2),
            tm_names: config.tm_names().to_vec(),
            model: model.clone(),
            temperature_k,
            kra_rate,
            table,
            sites: HugeBuf::try_zeroed(n, "size")?,
            energy_ref_ev: 0.0,
            tree: SumTree::try_new(n, "size")?,
            rate_unit: 1.0,
            rebuilt_total: 0.0,
            disp: HugeBuf::try_zeroed(n, "size")?,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            time_s: 0.0,
            hops: 0,
            rate_cap: f64::INFINITY,
            cap_z: 1.0,
        };
        kmc.init_sites(config)?;
        kmc.refresh_all(None);
        Ok(kmc)
    }

    /// Peak bytes `new` allocates for `lattice`: the per-site records, displacements and tree
    /// and rate and site-order tables that `memory_bytes` reports, plus the set-up's
    /// temporaries (a site energy and a record index per site, 16 bytes).
    pub fn memory_estimate(lattice: &Lattice) -> usize {
        let n = lattice.n_cations();
        let tables = std::mem::size_of::<[[f64; 4]; 256]>()
            + lattice
                .dims()
                .iter()
                .map(|d| (d + 2 * crate::lattice::ORDER_PAD) * std::mem::size_of::<usize>())
                .sum::<usize>();
        n * (std::mem::size_of::<Site>() + std::mem::size_of::<Disp>() + 16) + SumTree::memory_estimate(n) + tables
    }

    /// Resume exactly from a checkpoint. Every field is validated first
    /// (`checkpoint::validate`); every error names the field `checkpoint`.
    pub fn from_checkpoint(cp: Checkpoint) -> Result<Self> {
        crate::checkpoint::validate(&cp)?;
        let mut kmc = Kmc::new(&cp.config, &cp.model, cp.temperature_k, 0).map_err(in_checkpoint)?;
        if cp.rate_cap_per_s.is_finite() {
            kmc.set_rate_cap(cp.rate_cap_per_s, cp.rate_cap_mu_ev).map_err(in_checkpoint)?;
        }
        for (p, r) in sublattice_points(&kmc.lattice, false).zip(&cp.disp) {
            kmc.disp[kmc.order.index(padded(p)) >> 1] = Disp::pack(*r);
        }
        kmc.refresh_all(Some(cp.rate_unit));
        if kmc.rate_unit != cp.rate_unit {
            return Err(Error::invalid("checkpoint", "rate unit does not fit the escape rates of the state"));
        }
        kmc.rng = cp.rng;
        kmc.time_s = cp.time_s;
        kmc.hops = cp.hops;
        // The inner nodes must be those of this engine's site order (a checkpoint written by a
        // build with another order would otherwise resume with wrong partial sums).
        let exact = kmc.tree.inner();
        let scale = kmc.tree.total().abs().max(f64::MIN_POSITIVE);
        let close = cp.tree_inner.len() == exact.len()
            && cp
                .tree_inner
                .iter()
                .zip(&exact)
                .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6 * scale));
        if !close || !kmc.tree.set_inner(cp.tree_inner) {
            return Err(Error::invalid("checkpoint", "rate tree does not match the lattice"));
        }
        kmc.rebuilt_total = cp.tree_rebuilt_total;
        Ok(kmc)
    }

    pub fn checkpoint(&self) -> Checkpoint {
        let config = Configuration::from_species(self.lattice, &self.cations(), &self.anions(), self.tm_names.clone())
            .expect("the engine state is a valid configuration");
        Checkpoint {
            config,
            model: self.model.clone(),
            temperature_k: self.temperature_k,
            disp: self.displacements(),
            rng: self.rng.clone(),
            time_s: self.time_s,
            hops: self.hops,
            tree_inner: self.tree.inner(),
            rate_unit: self.rate_unit,
            tree_rebuilt_total: self.rebuilt_total,
            rate_cap_per_s: self.rate_cap,
            rate_cap_mu_ev: self.rate_cap().1,
        }
    }

    /// Bytes allocated by the engine's per-site buffers (site records, rate-tree nodes,
    /// displacements, index tables): the memory a run needs, whether or not the OS has
    /// mapped its pages yet.
    pub fn memory_bytes(&self) -> usize {
        self.sites.memory_bytes()
            + self.disp.memory_bytes()
            + self.tree.memory_bytes()
            + self.order.memory_bytes()
            + std::mem::size_of_val(&*self.kra_rate)
    }

    /// Cap the equilibrium flux of every path at `flux_cap_per_s` (s⁻¹; ∞ turns the cap off),
    /// with occupancies at the Li chemical potential `mu_ev`, and recompute every rate. See
    /// `acceleration` for when this leaves diffusion unchanged.
    pub fn set_rate_cap(&mut self, flux_cap_per_s: f64, mu_ev: f64) -> Result<()> {
        if !(flux_cap_per_s > 0.0) {
            return Err(Error::invalid("acceleration", format!("flux cap must be > 0 s⁻¹, got {flux_cap_per_s}")));
        }
        let z = ((self.energy_ref_ev - mu_ev) / (BOLTZMANN_EV_PER_K * self.temperature_k)).exp();
        if flux_cap_per_s.is_finite() && !(z > 0.0 && z.is_finite()) {
            return Err(Error::invalid("acceleration", format!("mu_eV {mu_ev} is out of range for the cap")));
        }
        self.rate_cap = flux_cap_per_s;
        self.cap_z = if flux_cap_per_s.is_finite() { z } else { 1.0 };
        self.refresh_all(None);
        Ok(())
    }

    /// The cap on the equilibrium flux of every path, s⁻¹ (∞: off), and the μ (eV) it uses.
    pub fn rate_cap(&self) -> (f64, f64) {
        let kt = BOLTZMANN_EV_PER_K * self.temperature_k;
        (self.rate_cap, self.energy_ref_ev - kt * self.cap_z.ln())
    }

    // ----- set-up --------------------------------------------------------------------------

    /// Site-order index pair of every cation, in cation-index order.
    fn cation_pairs(&self) -> impl Iterator<Item = usize> + '_ {
        sublattice_points(&self.lattice, false).map(|p| self.order.index(padded(p)) >> 1)
    }

    /// Fill the site records from the public-order grid: species, tetrahedron classes (by TM
    /// count and anion corners) and Li weights.
    fn init_sites(&mut self, config: &Configuration) -> Result<()> {
        let l = self.lattice;
        let grid = config.grid();
        for g in 0..l.n_grid() {
            let p = l.grid_coords(g);
            let blk = l.block(p);
            let parity = (p[0] + p[1] + p[2]) % 2;
            let mut n_tm = 0;
            let mut corners = [0u8; 4];
            let mut k = 0;
            for o in 0..8usize {
                let bits = [o & 1, (o >> 1) & 1, (o >> 2) & 1];
                let code = grid[offset_index(&blk, bits.map(|b| b as i8))];
                if (parity + bits[0] + bits[1] + bits[2]) % 2 == 0 {
                    n_tm += species::is_tm(code) as usize;
                } else {
                    corners[k] = code;
                    k += 1;
                }
            }
            let i = self.order.index(padded(p));
            let site = &mut self.sites[i >> 1];
            site.cubes[i & 1] = self.table.class(n_tm, corners);
            if parity == 0 {
                site.cation = grid[g];
            } else {
                site.anion = grid[g];
            }
        }
        for p in sublattice_points(&l, false) {
            let b = Hood::new(&self.order, padded(p));
            let code = self.site(b.centre()).cation;
            self.set_cation(&b, code);
        }
        let e = site_energies(config, &self.model);
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
        let pairs = memory::try_collect(l.n_cations(), self.cation_pairs(), "size")?;
        for (&c, &x) in pairs.iter().zip(&e) {
            self.sites[c].weight = (-(x - self.energy_ref_ev) / two_kt).exp() as f32;
        }
        Ok(())
    }

    /// Li site energy of every cation site, eV.
    pub fn site_energies(&self) -> Vec<f64> {
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        self.cation_pairs().map(|c| self.energy_ref_ev - two_kt * (self.sites[c].weight as f64).ln()).collect()
    }

    // ----- rates ---------------------------------------------------------------------------

    /// The record of the index pair holding site-order index g, for g from `self.order`.
    #[inline(always)]
    fn site(&self, g: usize) -> Site {
        debug_assert!(g >> 1 < self.sites.len());
        // SAFETY: every index the order produces is below n_grid = 2·sites.len(). Unchecked
        // access removes the bounds checks from the hot loop (−7% instructions per hop).
        unsafe { *self.sites.get_unchecked(g >> 1) }
    }

    #[inline(always)]
    fn site_mut(&mut self, g: usize) -> &mut Site {
        debug_assert!(g >> 1 < self.sites.len());
        // SAFETY: as in `site`.
        unsafe { self.sites.get_unchecked_mut(g >> 1) }
    }

    /// ν·exp(−E_KRA/kT) of one path out of the site with block b and neighbour-Li mask li.
    #[inline(always)]
    fn path_rate(&self, b: &Hood, li: u16, path: usize) -> f64 {
        let [s1, s2] = PATH_SPECTATORS[path & 31];
        let n_li = ((li >> s1) & 1) + ((li >> s2) & 1);
        let cube = b.cube(path);
        let class = self.site(cube).cubes[cube & 1];
        self.kra_rate[class as usize][n_li as usize & 3]
    }

    /// The largest KRA rate k a path between sites of weights w_a, w_b keeps under the cap:
    /// its equilibrium flux k·f_A(1 − f_B)·w_b/w_a = k·z·w_a·w_b/((w_a² + z)(w_b² + z)), with
    /// f = w²/(w² + z) the Fermi–Dirac occupancy, is capped at `rate_cap`; both directions
    /// are scaled alike (see `acceleration`).
    #[inline(always)]
    fn kra_limit(&self, w_a: f64, w_b: f64) -> f64 {
        let z = self.cap_z;
        self.rate_cap * (w_a + z / w_a) * (w_b + z / w_b) / z
    }

    /// Total rate of all hops out of the Li at padded coordinates q, s⁻¹ (with the rate cap
    /// when CAP).
    #[inline]
    fn escape_rate<const CAP: bool>(&self, q: [usize; 3]) -> f64 {
        let b = Hood::new(&self.order, q);
        let me = self.site(b.centre());
        let mut sum = 0.0;
        let mut vacant = me.vacant;
        while vacant != 0 {
            let d = vacant.trailing_zeros() as usize;
            vacant &= vacant - 1;
            let (k1, k2) = (self.path_rate(&b, me.li, 2 * d), self.path_rate(&b, me.li, 2 * d + 1));
            let w = self.site(b.nn(d)).weight as f64;
            let s = if CAP {
                let lim = self.kra_limit(me.weight as f64, w);
                k1.min(lim) + k2.min(lim)
            } else {
                k1 + k2
            };
            sum += s * w;
        }
        sum / me.weight as f64
    }

    /// `escape_rate` with or without the cap, as set.
    fn escape_rate_now(&self, q: [usize; 3]) -> f64 {
        if self.rate_cap.is_finite() {
            self.escape_rate::<true>(q)
        } else {
            self.escape_rate::<false>(q)
        }
    }

    /// Recompute every stored escape rate and the tree, in units of `unit` or, if None (or if
    /// the fastest rate would not fit), of a unit fitted to the fastest rate now.
    fn refresh_all(&mut self, unit: Option<f64>) {
        // Two passes (the unit needs the fastest rate first) instead of a per-site buffer of
        // rates: no allocation here, so a run never fails for memory mid-way.
        let fastest =
            sublattice_points(&self.lattice, false).fold(0.0f64, |m, p| m.max(self.li_escape_rate(padded(p))));
        let fitted = if fastest > 0.0 { (fastest.log2().floor() - 64.0).exp2() } else { 1.0 };
        let unit = unit.filter(|u| fastest / u < STORED_RATE_LIMIT).unwrap_or(fitted);
        for p in sublattice_points(&self.lattice, false) {
            let q = padded(p);
            let c = self.order.index(q) >> 1;
            self.sites[c].rate = stored_rate(self.li_escape_rate(q) / unit);
        }
        self.rate_unit = unit;
        self.rebuild_tree();
    }

    /// The escape rate of the site at padded coordinates q if it holds Li, else 0, s⁻¹.
    fn li_escape_rate(&self, q: [usize; 3]) -> f64 {
        if self.site(self.order.index(q)).cation == species::LI {
            self.escape_rate_now(q)
        } else {
            0.0
        }
    }

    /// Recompute the inner nodes of the tree exactly from the stored rates.
    fn rebuild_tree(&mut self) {
        let sites = &self.sites;
        self.tree.rebuild(|i| sites[i].rate as f64);
        self.rebuilt_total = self.tree.total();
    }

    /// Store the escape rate r (s⁻¹) of the Li on index pair c.
    #[inline(always)]
    fn store_rate(&mut self, c: usize, r: f64) {
        let x = r / self.rate_unit;
        if !(x < STORED_RATE_LIMIT) {
            // A rate far above the unit's range: choose a new unit (this stores r too).
            self.refresh_all(None);
            return;
        }
        let new = stored_rate(x);
        let site = &mut self.sites[c];
        let delta = new as f64 - site.rate as f64;
        site.rate = new;
        self.tree.add(c, delta);
    }

    /// Recompute the escape rate of the Li at site-order index g, the neighbour in direction d
    /// of the site at padded coordinates q.
    #[inline(always)]
    fn refresh_li<const CAP: bool>(&mut self, g: usize, q: [usize; 3], d: usize) {
        let o = NN_DIRECTIONS[d % 12];
        let r = self.escape_rate::<CAP>([0, 1, 2].map(|i| q[i].wrapping_add_signed(o[i] as isize)));
        self.store_rate(g >> 1, r);
    }

    /// Put `code` on the cation at the centre of block b and update its neighbours' masks.
    #[inline(always)]
    fn set_cation(&mut self, b: &Hood, code: u8) {
        self.site_mut(b.centre()).cation = code;
        let (li, vacant) = ((code == species::LI) as u16, (code == species::VACANCY) as u16);
        each_direction!(d => {
            // Seen from the neighbour in direction d, this site lies in the opposite direction.
            let bit = opposite(d);
            let n = self.site_mut(b.nn(d));
            n.li = (n.li & !(1 << bit)) | (li << bit);
            n.vacant = (n.vacant & !(1 << bit)) | (vacant << bit);
        });
    }

    /// Start loading what a hop of the Li at padded coordinates q can touch: the site records
    /// (one cache line per 2x2x2 tile) and the tree nodes above them, for the 3x3x3 tiles around
    /// it (two grid steps each way, since tiles are 2 points wide), so that the cache misses of
    /// the hop overlap instead of following one another. Only worth it when the lattice
    /// outgrows the caches.
    #[inline(always)]
    fn prefetch_around(&self, q: [usize; 3]) {
        if self.sites.len() < PREFETCH_ABOVE_SITES {
            return;
        }
        for dz in [-2isize, 0, 2] {
            for dy in [-2isize, 0, 2] {
                let at =
                    |dx: isize| self.order.index([0, 1, 2].map(|k| q[k].wrapping_add_signed([dx, dy, dz][k]))) >> 1;
                let (lo, mid, hi) = (at(-2), at(0), at(2));
                for c in [lo, mid, hi] {
                    prefetch(self.sites.as_ptr().wrapping_add(c));
                }
                self.tree.prefetch_parents(lo, hi);
            }
        }
    }

    // ----- dynamics ------------------------------------------------------------------------

    /// Total escape rate of the current state, s⁻¹: the sum of the stored upper bounds, at
    /// most 2⁻²³ (relative) above the exact sum of the hop rates.
    pub fn total_rate(&self) -> f64 {
        self.tree.total() * self.rate_unit
    }

    /// The index pair of the Li whose stored rate holds u in the prefix sums, u in [0, total).
    #[inline(always)]
    fn select_li(&self, u: f64) -> usize {
        let (first, n, u) = self.tree.select_group(u);
        let sites = &self.sites;
        first + pick(n, |k| sites[first + k].rate as f64, u).0
    }

    /// Choose and perform one step: false if it was a null event (the chosen Li's exact rate
    /// fell short of its stored bound; see the module doc). The clock is advanced by the caller.
    #[inline]
    fn hop<const CAP: bool>(&mut self) -> bool {
        let u = unit(&mut self.rng);
        let mut c = self.select_li(u * self.tree.total());
        if self.sites[c].rate <= 0.0 {
            // Rounding left weight on an all-zero subtree: recompute the inner nodes, choose again.
            self.rebuild_tree();
            let u = unit(&mut self.rng);
            c = self.select_li(u * self.tree.total());
        }
        let qa = self.order.cation_padded_coords(c);
        self.prefetch_around(qa);
        prefetch(&self.disp[c]);
        let ba = Hood::new(&self.order, qa);
        let me = self.site(ba.centre());
        let mut rates = [0.0f64; N_PATHS];
        let mut total = 0.0;
        let mut vacant = me.vacant;
        while vacant != 0 {
            let d = vacant.trailing_zeros() as usize;
            vacant &= vacant - 1;
            let w = self.site(ba.nn(d)).weight as f64;
            let lim = if CAP { self.kra_limit(me.weight as f64, w) } else { f64::INFINITY };
            for path in [2 * d, 2 * d + 1] {
                let k = self.path_rate(&ba, me.li, path);
                let r = if CAP { k.min(lim) } else { k } * w;
                rates[path] = r;
                total += r;
            }
        }
        // `total` is the exact escape rate times w(A). The step is a hop with probability
        // total / (stored bound · w(A)), and then the first open path whose cumulative rate
        // exceeds u (the last open one if rounding leaves u beyond the total).
        let mut u = unit(&mut self.rng) * (me.rate as f64 * self.rate_unit * me.weight as f64);
        if u >= total {
            return false;
        }
        let mut path = N_PATHS - 1;
        let mut vacant = me.vacant;
        'pick: while vacant != 0 {
            let d = vacant.trailing_zeros() as usize;
            vacant &= vacant - 1;
            for k in [2 * d, 2 * d + 1] {
                let r = rates[k];
                if r > 0.0 {
                    path = k;
                    if u < r {
                        break 'pick;
                    }
                    u -= r;
                }
            }
        }
        let dir = path / 2;
        let d = NN_DIRECTIONS[dir];
        let qb = [0, 1, 2].map(|k| qa[k].wrapping_add_signed(d[k] as isize));
        // The refreshes around B reach three grid steps from A, beyond what was prefetched
        // around A on B's side.
        self.prefetch_around(qb);
        let bb = Hood::new(&self.order, qb);
        let (ga, gb) = (ba.centre(), bb.centre());
        self.set_cation(&ba, species::VACANCY);
        self.set_cation(&bb, species::LI);
        self.disp[gb >> 1] = self.disp[ga >> 1].step(d);
        self.store_rate(ga >> 1, 0.0);
        // The Li to refresh, from the neighbour masks (already updated for the hop, so A's
        // include B): looping over set bits, rather than testing all 24 sites, avoids a branch
        // that the predictor gets wrong about half the time.
        let mut li = self.site(ga).li;
        while li != 0 {
            let k = li.trailing_zeros() as usize;
            li &= li - 1;
            self.refresh_li::<CAP>(ba.nn(k), qa, k);
        }
        let mut li = self.site(gb).li & !SHARED_MASKS[dir];
        while li != 0 {
            let k = li.trailing_zeros() as usize;
            li &= li - 1;
            self.refresh_li::<CAP>(bb.nn(k), qb, k);
        }
        self.hops += 1;
        if self.hops % REBUILD_EVERY_HOPS == 0 {
            self.rebuild_tree();
        }
        true
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
        let capped = self.rate_cap.is_finite();
        let stop = loop {
            if done >= max_hops {
                break Stop::Hops;
            }
            let total = self.tree.total();
            if total > 0.0 {
                if total < STORED_TOTAL_FLOOR {
                    self.refresh_all(None);
                } else if !(total * TOTAL_DRIFT_FACTOR > self.rebuilt_total
                    && total < self.rebuilt_total * TOTAL_DRIFT_FACTOR)
                {
                    self.rebuild_tree();
                }
            }
            let r = self.total_rate();
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
            done += if capped { self.hop::<true>() } else { self.hop::<false>() } as u64;
            self.time_s = t_next;
        };
        Ok((stop, out))
    }

    // ----- observation ---------------------------------------------------------------------

    fn observe_at(&self, time_s: f64) -> Observation {
        let mut o = Observation { time_s, hops: self.hops, ..Default::default() };
        let [nx, ny, nz] = self.lattice.dims();
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        let mut sum_ln_weight = 0.0;
        for p in sublattice_points(&self.lattice, false) {
            let c = self.order.index(padded(p)) >> 1;
            if self.sites[c].cation != species::LI {
                continue;
            }
            sum_ln_weight += (self.sites[c].weight as f64).ln();
            let r = self.disp[c].unpack();
            let r2 = (r[0] as i64).pow(2) + (r[1] as i64).pow(2) + (r[2] as i64).pow(2);
            o.n_li += 1;
            o.sum_r2 += r2 as f64;
            for (sum, x) in o.sum_r.iter_mut().zip(r) {
                *sum += x as f64;
            }
            // One NN hop is |R|² = 2 in (a/2)² units.
            o.n_beyond_one_hop += (r2 > 2) as u64;
            let octant = (2 * p[0] >= nx) as usize + 2 * (2 * p[1] >= ny) as usize + 4 * (2 * p[2] >= nz) as usize;
            o.octant_li[octant] += 1;
        }
        // w = exp(−(E − E_ref)/2kT) per Li.
        o.sum_li_energy_ev = o.n_li as f64 * self.energy_ref_ev - two_kt * sum_ln_weight;
        o
    }

    /// Observation of the current state.
    pub fn observe(&self) -> Observation {
        self.observe_at(self.time_s)
    }

    /// Zero every Li displacement (start of a new measuring block).
    pub fn reset_displacements(&mut self) {
        self.disp.fill(Disp::default());
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
    /// Cation species in cation-index order.
    pub fn cations(&self) -> Vec<u8> {
        self.cation_pairs().map(|c| self.sites[c].cation).collect()
    }
    /// Anion species in anion-index order.
    pub fn anions(&self) -> Vec<u8> {
        sublattice_points(&self.lattice, true).map(|p| self.sites[self.order.index(padded(p)) >> 1].anion).collect()
    }
    /// Displacement (units of a/2) of the Li on each cation site since the last reset
    /// (zero where there is no Li), in cation-index order.
    pub fn displacements(&self) -> Vec<[i32; 3]> {
        self.cation_pairs()
            .map(|c| if self.sites[c].cation == species::LI { self.disp[c].unpack() } else { [0; 3] })
            .collect()
    }
    /// Exact escape rate of every cation site (0 where there is no Li), s⁻¹, in cation-index
    /// order.
    pub fn escape_rates(&self) -> Vec<f64> {
        sublattice_points(&self.lattice, false)
            .map(|p| {
                let q = padded(p);
                if self.site(self.order.index(q)).cation == species::LI {
                    self.escape_rate_now(q)
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Every possible hop of the current state, with its barrier and rate, by start site
    /// (cation index) and path.
    pub fn events(&self) -> Vec<Event> {
        let kt = BOLTZMANN_EV_PER_K * self.temperature_k;
        let l = &self.lattice;
        let mut out = Vec::new();
        for (from, p) in sublattice_points(l, false).enumerate() {
            let b = Hood::new(&self.order, padded(p));
            let me = self.site(b.centre());
            if me.cation != species::LI {
                continue;
            }
            let blk = l.block(p);
            for path in 0..N_PATHS {
                let dir = path / 2;
                if me.vacant & (1 << dir) == 0 {
                    continue;
                }
                let cube = b.cube(path);
                let class = self.site(cube).cubes[cube & 1];
                let [s1, s2] = PATH_SPECTATORS[path & 31];
                let n_li = (((me.li >> s1) & 1) + ((me.li >> s2) & 1)) as usize;
                let (w_a, w_b) = (me.weight as f64, self.site(b.nn(dir)).weight as f64);
                let ratio = w_b / w_a;
                let k = self.table.rate(class, n_li);
                // Under the rate cap the KRA rate is lowered, i.e. E_KRA raised by kT·ln(k/k_eff).
                let k_eff = k.min(self.kra_limit(w_a, w_b));
                let raised = if k_eff < k { kt * (k / k_eff).ln() } else { 0.0 };
                out.push(Event {
                    from,
                    to: Lattice::sublattice_index(offset_index(&blk, NN_DIRECTIONS[dir])),
                    path,
                    n_tm: KraTable::n_tm(class),
                    barrier_ev: self.table.barrier(class, n_li) + raised - kt * ratio.ln(),
                    rate_per_s: k_eff * ratio,
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
        // The total is the stored upper bound: exact to f32 rounding, never below.
        let excess = k.total_rate() / (24.0 * gamma_t) - 1.0;
        assert!((-1e-15..=f32::EPSILON as f64).contains(&excess), "{excess}");
    }

    /// A random DRX cell of cells³ conventional cells (30% Li, 20% Mn, 20% Ti on the cations;
    /// 20% F on the anions) and the default barriers with `disorder_ev` site disorder.
    fn drx(cells: usize, disorder_ev: f64, seed: u64) -> (Configuration, BarrierModel) {
        let lat = Lattice::new([cells; 3], 4.15, Geometry::Bulk).unwrap();
        let n = lat.n_cations();
        let tm = vec!["Mn".into(), "Ti".into()];
        let cfg = Configuration::random(lat, n * 3 / 10, &[n / 5, n / 5], tm, n / 5, 0, seed).unwrap();
        let model = BarrierModel { site_disorder_ev: disorder_ev, ..BarrierModel::default() };
        (cfg, model)
    }

    #[test]
    fn incremental_state_equals_full_recompute() {
        // After many hops with the full DRX model, the site records equal those of an engine
        // built afresh from the same state, every stored rate is the f32 upper bound of the
        // exact escape rate, and the tree sums the stored rates.
        let (cfg, model) = drx(4, 0.05, 3);
        let mut k = Kmc::new(&cfg, &model, 600.0, 7).unwrap();
        let (_, _) = k.run(f64::INFINITY, 20_000, &[]).unwrap();
        assert_eq!(k.hops(), 20_000);
        let state = Configuration::from_species(*cfg.lattice(), &k.cations(), &k.anions(), cfg.tm_names().to_vec());
        let again = Kmc::new(&state.unwrap(), &model, 600.0, 0).unwrap();
        let key = |s: &Site| (s.weight, s.li, s.vacant, s.cubes, s.cation, s.anion);
        assert!(k.sites.iter().zip(again.sites.iter()).all(|(a, b)| key(a) == key(b)));
        assert!(k.escape_rates().iter().filter(|&&r| r > 0.0).count() > 50);
        assert_stored_rates_bound_exact_ones(&k);
    }

    /// Every stored rate is the f32 upper bound of the exact escape rate, and the tree sums them.
    fn assert_stored_rates_bound_exact_ones(k: &Kmc) {
        let smallest = f32::from_bits(1) as f64 * k.rate_unit;
        for (c, exact) in k.cation_pairs().zip(k.escape_rates()) {
            let stored = k.sites[c].rate as f64 * k.rate_unit;
            assert!(stored >= exact, "site {c}: stored {stored} below exact {exact}");
            assert!(stored - exact <= f32::EPSILON as f64 * exact + smallest, "site {c}: {stored} vs {exact}");
        }
        let sum: f64 = k.sites.iter().map(|s| s.rate as f64).sum();
        assert!((k.tree.total() / sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rate_unit_is_refitted_when_rates_leave_the_f32_range() {
        let (cfg, model) = drx(4, 0.05, 3);
        let mut k = Kmc::new(&cfg, &model, 600.0, 7).unwrap();
        let fitted = k.rate_unit;
        assert_eq!(fitted.log2().fract(), 0.0);
        // A unit too small for the fastest rate is refused.
        k.refresh_all(Some(fitted * 2f64.powi(-60)));
        assert_eq!(k.rate_unit, fitted);
        // A rate beyond the unit's range re-fits the unit (and restores every stored rate).
        let li = k.cation_pairs().find(|&c| k.sites[c].rate > 0.0).unwrap();
        k.store_rate(li, fitted * 2f64.powi(120));
        assert_eq!(k.rate_unit, fitted);
        assert_stored_rates_bound_exact_ones(&k);
        // A unit so large that every stored rate nears the bottom of the f32 range is re-fitted
        // at the next step.
        k.refresh_all(Some(fitted * 2f64.powi(140)));
        assert!(k.tree.total() < STORED_TOTAL_FLOOR);
        k.run(f64::INFINITY, 1, &[]).unwrap();
        assert_eq!(k.hops(), 1);
        assert!(k.rate_unit <= fitted * 2f64.powi(8), "{} vs {fitted}", k.rate_unit);
        assert_stored_rates_bound_exact_ones(&k);
    }

    #[test]
    fn total_rate_stays_exact_through_a_relaxation_over_many_decades() {
        // At 80 K with site disorder the Li settle into low-energy sites and the total rate
        // falls by ~13 orders of magnitude: the tree's inner sums must be recomputed on the way
        // or their rounding errors (the size of the initial total) swamp the final total.
        let (cfg, model) = drx(8, 0.02, 1);
        let mut k = Kmc::new(&cfg, &model, 80.0, 2).unwrap();
        let initial = k.total_rate();
        k.run(f64::INFINITY, 200_000, &[]).unwrap();
        let exact: f64 = k.events().iter().map(|e| e.rate_per_s).sum();
        assert!(exact < 1e-6 * initial, "no relaxation: {initial} -> {exact}");
        let excess = k.total_rate() / exact - 1.0;
        assert!((-1e-9..=f32::EPSILON as f64 + 1e-9).contains(&excess), "total off by {excess}");
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
        // Mid-relaxation (the tree's inner sums are recomputed on the way down) and with a rate
        // unit other than the one a fresh engine would fit: both must come from the checkpoint.
        let (cfg, model) = drx(6, 0.02, 2);
        let mut a = Kmc::new(&cfg, &model, 80.0, 11).unwrap();
        a.run(f64::INFINITY, 3_000, &[]).unwrap();
        a.refresh_all(Some(a.rate_unit * 2f64.powi(20)));
        // A total 15x below the one at the last recomputation of the inner sums (so the next
        // fall triggers one): a resumed run must know that value, not recompute it.
        a.rebuilt_total = 15.0 * a.tree.total();
        let mut b = Kmc::from_checkpoint(a.checkpoint()).unwrap();
        assert_eq!((a.rate_unit, a.rebuilt_total), (b.rate_unit, b.rebuilt_total));
        a.run(f64::INFINITY, 20_000, &[]).unwrap();
        b.run(f64::INFINITY, 20_000, &[]).unwrap();
        assert_eq!(a.time_s().to_bits(), b.time_s().to_bits());
        assert_eq!(a.cations(), b.cations());
        assert_eq!(a.displacements(), b.displacements());
    }

    #[test]
    fn detailed_balance_of_pair_rates() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 30, &[20], vec!["Mn".into()], 25, 4, 5).unwrap();
        let model = BarrierModel { site_disorder_ev: 0.1, ..BarrierModel::default() };
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

    #[test]
    fn site_order_does_not_change_what_is_reported() {
        // The same state in the plain and in the tiled order: identical public views.
        let lat = Lattice::new([3, 4, 2], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 30, &[25], vec!["Mn".into()], 12, 3, 8).unwrap();
        let model = BarrierModel { site_disorder_ev: 0.05, ..BarrierModel::default() };
        let plain = Kmc::with_tiles(&cfg, &model, 500.0, 1, 0).unwrap();
        for tile in [1, 2] {
            let tiled = Kmc::with_tiles(&cfg, &model, 500.0, 1, tile).unwrap();
            assert_eq!(plain.cations(), tiled.cations());
            assert_eq!(plain.anions(), tiled.anions());
            assert_eq!(plain.site_energies(), tiled.site_energies());
            assert_eq!(plain.escape_rates(), tiled.escape_rates());
            assert_eq!(plain.events(), tiled.events());
            assert_eq!(plain.observe(), tiled.observe());
        }
    }

    #[test]
    fn displacements_pack_exactly() {
        for r in
            [[0, 0, 0], [1, -1, 0], [-5, 7, -9], [(1 << 20) - 1, -(1 << 20), 12345], [-3, -(1 << 20), (1 << 20) - 1]]
        {
            assert_eq!(Disp::pack(r).unpack(), r);
        }
        let mut d = Disp::default();
        for k in 0..1000 {
            d = d.step(NN_DIRECTIONS[k % 12]);
            d = d.step(NN_DIRECTIONS[(k * 7) % 12]);
        }
        let mut expect = [0i32; 3];
        for k in 0..1000 {
            for o in [NN_DIRECTIONS[k % 12], NN_DIRECTIONS[(k * 7) % 12]] {
                for i in 0..3 {
                    expect[i] += o[i] as i32;
                }
            }
        }
        assert_eq!(d.unpack(), expect);
    }

    #[test]
    fn memory_is_at_most_32_bytes_per_site() {
        let lat = Lattice::new([16, 16, 16], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 4000, &[3000], vec!["Mn".into()], 0, 0, 1).unwrap();
        let k = Kmc::new(&cfg, &BarrierModel::default(), 300.0, 1).unwrap();
        let per_site = k.memory_bytes() as f64 / lat.n_cations() as f64;
        assert!(per_site <= 32.0, "{per_site} bytes per site");
    }

    #[test]
    fn lattice_gas_jump_diffusivity_is_exact() {
        // Hard-core lattice gas at c = 1/2: D_J = D0·(1 − c) exactly, with D0 = 4·Γ_t·a_nn²
        // (docs/design.md#the-o-t-o-hop-and-its-channel), i.e. 8·Γ_t in (a/2)² units. Each
        // block's centre-of-mass MSD slope is one estimate; their mean must agree within 4
        // standard errors.
        let lat = Lattice::new([4, 4, 4], 4.0, Geometry::Bulk).unwrap();
        let n = lat.n_cations();
        let cfg = Configuration::random(lat, n / 2, &[], vec![], 0, 0, 3).unwrap();
        let mut k = Kmc::new(&cfg, &BarrierModel::uniform(0.3), 300.0, 5).unwrap();
        let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
        k.run(f64::INFINITY, 20_000, &[]).unwrap();
        let block = 4.0 / gamma_t;
        let estimates: Vec<f64> = (0..400)
            .map(|_| {
                k.reset_displacements();
                let t0 = k.time_s();
                let (_, obs) = k.run(t0 + block, u64::MAX, &[t0 + 0.25 * block, t0 + block]).unwrap();
                let com2 = |o: &Observation| o.sum_r.iter().map(|x| x * x).sum::<f64>() / o.n_li as f64;
                (com2(&obs[1]) - com2(&obs[0])) / (6.0 * 0.75 * block)
            })
            .collect();
        let m = estimates.len() as f64;
        let mean = estimates.iter().sum::<f64>() / m;
        let sem = (estimates.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0) / m).sqrt();
        let exact = 8.0 * gamma_t * 0.5;
        assert!(sem < 0.1 * exact, "too noisy: {sem} vs {exact}");
        assert!((mean - exact).abs() < 4.0 * sem, "D_J {mean} ± {sem}, exact {exact}");
    }

    #[test]
    fn single_li_occupies_sites_with_boltzmann_weights() {
        // With one Li, detailed balance makes the stationary probability of site i exactly
        // exp(−E_i/kT)/Z: a chi-square test over widely spaced samples.
        let cfg = empty_lattice_with(3, &[0]);
        let mut model = BarrierModel::uniform(0.2);
        model.site_disorder_ev = 0.03;
        let kt = BOLTZMANN_EV_PER_K * 300.0;
        let mut k = Kmc::new(&cfg, &model, 300.0, 9).unwrap();
        let weights: Vec<f64> = k.site_energies().iter().map(|e| (-e / kt).exp()).collect();
        let z: f64 = weights.iter().sum();
        let samples = 20_000;
        let mut counts = vec![0usize; weights.len()];
        for _ in 0..samples {
            // About 40 hops between samples: many mixing times of a 108-site lattice.
            let dt = 40.0 / k.total_rate();
            k.run(k.time_s() + dt, u64::MAX, &[]).unwrap();
            counts[k.cations().iter().position(|&s| s == species::LI).unwrap()] += 1;
        }
        let chi2: f64 = counts
            .iter()
            .zip(&weights)
            .map(|(&c, &w)| {
                let e = samples as f64 * w / z;
                (c as f64 - e).powi(2) / e
            })
            .sum();
        let dof = (weights.len() - 1) as f64;
        assert!(chi2 < dof + 5.0 * (2.0 * dof).sqrt(), "chi2 {chi2} for {dof} degrees of freedom");
    }
}
