//! The engine's per-site state: the 16-byte `Site` record of each index pair of the site order,
//! the neighbourhood `Hood` of a site (what its 24 paths touch), the packed displacement
//! `Disp` of a Li, the direction tables the paths are read through, and the upkeep of the
//! records (set-up, species and neighbour masks, prefetching).

use super::Kmc;
use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{
    offset_index, opposite, padded, shared_neighbour_masks, Geometry, Lattice, TiledOrder, NN_DIRECTIONS, N_PATHS,
    PATHS,
};
use crate::memory::{self, prefetch, Zeroable};
use crate::model::{BOLTZMANN_EV_PER_K, CLOSED_CLASS};
use crate::site_energy::site_energies;

/// Lattices with at least this many cation sites (≈ 1.5 MB of engine state, beyond the L2
/// cache) prefetch the neighbourhood of every hop.
const PREFETCH_ABOVE_SITES: usize = 1 << 16;

pub(super) const SHARED_MASKS: [u16; 12] = shared_neighbour_masks();

/// Cation code of the grid points beyond a slab's surfaces: neither Li nor vacancy, so no
/// neighbour mask ever offers a hop there.
pub(super) const OUTSIDE: u8 = u8::MAX;

/// Grid planes the engine adds above a slab's last plane (the periodic wrap of the site order
/// puts the last of them below its first plane): two, so that the wrap keeps the cation/anion
/// parity and the z axis an even number of points (2-point tiles).
const SLAB_PADDING_PLANES: usize = 2;

/// Grid points along each axis of the engine's site order: the lattice's, plus a slab's
/// padding planes.
pub(super) fn engine_dims(lattice: &Lattice) -> [usize; 3] {
    let mut d = lattice.dims();
    if lattice.geometry() == Geometry::Slab {
        d[2] += SLAB_PADDING_PLANES;
    }
    d
}

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
pub(super) const PATH_SPECTATORS: [[u8; 2]; 32] = {
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
pub(super) struct Site {
    /// Escape rate of the Li on the cation (0 if none) in units of `Kmc::rate_unit`, rounded
    /// up to f32: a leaf of the sum tree.
    pub(super) rate: f32,
    /// exp(−(E − E_ref)/2kT) of a Li on the cation (f32 holds it: E_ref keeps the exponent in
    /// range, checked at construction).
    pub(super) weight: f32,
    /// Bit d set when the neighbour in direction d holds Li / is empty.
    pub(super) li: u16,
    pub(super) vacant: u16,
    /// Class (`KraTable::class`) of the tetrahedron (grid cube) whose lowest corner is index
    /// 2c (`cubes[0]`) or 2c+1 (`cubes[1]`).
    pub(super) cubes: [u8; 2],
    pub(super) cation: u8,
    pub(super) anion: u8,
}

// SAFETY: plain numbers; all-zero is an empty site with weight 0 (set before use).
unsafe impl Zeroable for Site {}

/// Site-order indices of what the paths out of one site touch: its 12 nearest neighbours
/// (by direction), the 8 grid cubes around it (by `PATH_CUBE` number) and itself.
#[derive(Clone, Copy)]
pub(super) struct Hood([usize; 21]);

/// Slots of `Hood`.
const HOOD_CUBES: usize = 12;
const HOOD_CENTRE: usize = 20;

impl Hood {
    #[inline(always)]
    pub(super) fn new(order: &TiledOrder, q: [usize; 3]) -> Self {
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
    pub(super) fn centre(&self) -> usize {
        self.0[HOOD_CENTRE]
    }
    /// Index of the nearest neighbour in direction d (< 12).
    #[inline(always)]
    pub(super) fn nn(&self, d: usize) -> usize {
        self.0[d & 15]
    }
    /// Index of the grid cube (tetrahedron) of a path.
    #[inline(always)]
    pub(super) fn cube(&self, path: usize) -> usize {
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
pub(super) struct Disp(u64);

// SAFETY: all-zero is the zero displacement.
unsafe impl Zeroable for Disp {}

impl Disp {
    const BITS: u32 = 21;

    pub(super) fn pack(r: [i32; 3]) -> Self {
        Disp((r[0] as i64 + ((r[1] as i64) << Self::BITS) + ((r[2] as i64) << (2 * Self::BITS))) as u64)
    }
    pub(super) fn unpack(self) -> [i32; 3] {
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
    pub(super) fn step(self, d: [i8; 3]) -> Self {
        let delta = d[0] as i64 + ((d[1] as i64) << Self::BITS) + ((d[2] as i64) << (2 * Self::BITS));
        Disp(self.0.wrapping_add(delta as u64))
    }
}

impl Kmc {
    /// Site-order index pair of every cation, in cation-index order.
    pub(super) fn cation_pairs(&self) -> impl Iterator<Item = usize> + '_ {
        self.lattice.cation_points().map(|p| self.order.index(padded(p)) >> 1)
    }

    /// Fill the site records from the public-order grid: species, tetrahedron classes (by TM
    /// count and anion corners) and Li weights; in a slab, the padding planes and the
    /// tetrahedra that reach them are closed.
    pub(super) fn init_sites(&mut self, config: &Configuration) -> Result<()> {
        let l = self.lattice;
        let grid = config.grid();
        let [nx, ny, nz] = l.dims();
        let slab = l.geometry() == Geometry::Slab;
        for z in nz..engine_dims(&l)[2] {
            for y in 0..ny {
                for x in 0..nx {
                    let i = self.order.index(padded([x, y, z]));
                    let site = &mut self.sites[i >> 1];
                    site.cubes[i & 1] = CLOSED_CLASS;
                    if (x + y + z) % 2 == 0 {
                        site.cation = OUTSIDE;
                    }
                }
            }
        }
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
            // The grid cube anchored on a slab's last plane reaches the padding above it.
            let outside = slab && p[2] + 1 == nz;
            site.cubes[i & 1] = if outside { CLOSED_CLASS } else { self.table.class(n_tm, corners) };
            if parity == 0 {
                site.cation = grid[g];
            } else {
                site.anion = grid[g];
            }
        }
        for p in l.cation_points() {
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

    /// The record of the index pair holding site-order index g, for g from `self.order`.
    #[inline(always)]
    pub(super) fn site(&self, g: usize) -> Site {
        debug_assert!(g >> 1 < self.sites.len());
        // SAFETY: every index the order produces is below n_grid = 2·sites.len(). Unchecked
        // access removes the bounds checks from the hot loop (−7% instructions per hop).
        unsafe { *self.sites.get_unchecked(g >> 1) }
    }

    #[inline(always)]
    pub(super) fn site_mut(&mut self, g: usize) -> &mut Site {
        debug_assert!(g >> 1 < self.sites.len());
        // SAFETY: as in `site`.
        unsafe { self.sites.get_unchecked_mut(g >> 1) }
    }

    /// Put `code` on the cation at the centre of block b and update its neighbours' masks.
    #[inline(always)]
    pub(super) fn set_cation(&mut self, b: &Hood, code: u8) {
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
    pub(super) fn prefetch_around(&self, q: [usize; 3]) {
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
}
