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
//!
//! Geometry: a bulk cell is periodic along x, y and z. A slab (periodic in x and y, open along
//! z) is stored with two extra grid planes above its last plane, closed by the periodic wrap of
//! the site order below its first: they hold no site (`site::OUTSIDE`), so no hop leaves the
//! slab, and every tetrahedron reaching them is closed (`CLOSED_CLASS`), the rule percolation
//! uses. The hop loop is the same for both.
//!
//! Files: `site` (the per-site records `Site`, the neighbourhood `Hood`, packed
//! displacements `Disp` and the direction tables), `rates` (path and escape rates, the rate
//! cap, the stored-rate unit and the sum tree), `observe` (`Observation`, `Event` and the
//! views of the state in cation-index order), `track` (what a run records only when asked:
//! Li ids, trajectory frames, hops by tetrahedron class and net hops per bond); this file
//! holds the engine itself: construction, checkpoints, the hop and the run loop.

mod observe;
mod rates;
mod site;
#[cfg(test)]
mod tests;
mod track;

pub use observe::{Event, Observation};
use rates::STORED_TOTAL_FLOOR;
use site::{engine_dims, Disp, Hood, Site, SHARED_MASKS};
pub use track::{Frame, LiIdState, NO_LI};

use crate::checkpoint::in_checkpoint;
pub use crate::checkpoint::Checkpoint;
use crate::config::{species, Configuration};
use crate::error::{require_positive, Error, Result};
use crate::lattice::{padded, Lattice, TiledOrder, NN_DIRECTIONS, N_PATHS};
use crate::memory::{self, prefetch, HugeBuf};
use crate::model::{BarrierModel, KraTable, BOLTZMANN_EV_PER_K, N_CLASSES};
use crate::random::{unit, unit_open0};
use crate::tree::{pick, SumTree};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Inner tree nodes are recomputed from the leaves every this many hops of the global hop
/// counter (not per call), so that results do not depend on how a run is chunked.
const REBUILD_EVERY_HOPS: u64 = 1 << 20;

/// The tree's inner sums carry rounding errors the size of the largest sums they have held
/// since they were last recomputed, so they are recomputed whenever the total leaves
/// [1/16, 16] times its value then: a relaxation that lowers the total rate by orders of
/// magnitude would otherwise leave it (and the selection) dominated by those errors.
const TOTAL_DRIFT_FACTOR: f64 = 16.0;

/// Tiles of the engine's site order have up to 2^TILE_LOG2 grid points per axis.
const TILE_LOG2: u32 = 1;

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The clock reached the requested end time.
    Time,
    /// The requested number of hops was done.
    Hops,
    /// No hop is possible (no Li has an empty neighbour).
    NoEvents,
    /// The trajectory frames buffered fill their capacity (`set_frames`): take them and call
    /// `run` again.
    Frames,
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
    /// What a run records only when asked (`track`); None, and tested once per hop, otherwise.
    li_ids: Option<Box<track::LiIds>>,
    frames: Option<Box<track::FrameSchedule>>,
    class_hops: Option<Box<[u64; 256]>>,
    bond_flux: Option<Vec<[i32; 6]>>,
    /// Whether any of `li_ids`, `class_hops`, `bond_flux` is on: the one test per hop.
    tracks_hops: bool,
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
        config.require_octahedral("the Li kMC")?;
        require_positive("temperature_K", temperature_k)?;
        let lattice = *config.lattice();
        let table = KraTable::new(model, lattice.a(), temperature_k)?;
        let mut kra_rate = Box::new([[0.0; 4]; 256]);
        for (class, r) in kra_rate.iter_mut().enumerate().take(N_CLASSES) {
            for (n_li, v) in r.iter_mut().enumerate().take(3) {
                *v = table.rate(class as u8, n_li);
            }
        }
        let dims = engine_dims(&lattice);
        // Index pairs of the site order (a slab's padding planes included).
        let n = dims.iter().product::<usize>() / 2;
        memory::require_available(
            "size",
            || format!("a kMC engine for {}", memory::describe_lattice(&lattice)),
            Self::memory_estimate(&lattice) as u64,
        )?;
        let mut kmc = Kmc {
            lattice,
            order: TiledOrder::new(dims, tile_log2),
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
            li_ids: None,
            frames: None,
            class_hops: None,
            bond_flux: None,
            tracks_hops: false,
        };
        kmc.init_sites(config)?;
        kmc.refresh_all(None);
        Ok(kmc)
    }

    /// Peak bytes `new` allocates for `lattice`: the per-site records, displacements and tree
    /// and rate and site-order tables that `memory_bytes` reports, plus the set-up's
    /// temporaries (a site energy and a record index per site, 16 bytes).
    pub fn memory_estimate(lattice: &Lattice) -> usize {
        let dims = engine_dims(lattice);
        let n = dims.iter().product::<usize>() / 2;
        let tables = std::mem::size_of::<[[f64; 4]; 256]>()
            + dims.iter().map(|d| (d + 2 * crate::lattice::ORDER_PAD) * std::mem::size_of::<usize>()).sum::<usize>();
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
        for (p, r) in kmc.lattice.cation_points().zip(&cp.disp) {
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
        kmc.restore_tracking(cp.li_ids.as_ref(), cp.class_hops.as_deref(), cp.bond_flux.as_deref())
            .map_err(in_checkpoint)?;
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
            li_ids: self.li_id_state(),
            class_hops: self.class_hops(),
            bond_flux: self.bond_flux_state(),
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
            + self.li_ids.as_deref().map_or(0, |i| {
                i.by_pair.capacity() * std::mem::size_of::<u32>()
                    + i.origin.capacity() * std::mem::size_of::<[i64; 3]>()
            })
            + self.bond_flux.as_ref().map_or(0, |f| f.capacity() * std::mem::size_of::<[i32; 6]>())
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
        if self.tracks_hops {
            self.track_hop(&ba, path, ga >> 1, gb >> 1);
        }
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
    /// `observe` at each of `sample_times_s` (ascending, absolute) that falls in the interval,
    /// and taking the trajectory frames due (`set_frames`; it returns early with
    /// `Stop::Frames` when their buffer is full). Returns why it stopped and the observations
    /// made.
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
            if self.frames.as_deref().is_some_and(|f| f.is_full()) {
                break Stop::Frames;
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
            if self.frames.is_some() {
                self.record_frames(t_next, t_end_s);
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
}
