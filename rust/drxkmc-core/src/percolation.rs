//! Percolation of the Li diffusion network: which Li can reach the rest of the crystal.
//!
//! The network's nodes are the non-TM cation sites (Li or vacancy). Two nearest-neighbour
//! sites A, B are joined when at least one of their two shared tetrahedra is an open channel:
//! * [`BondRule::MaxTm`]: the tetrahedron has at most k TM among its two spectator vertices
//!   (the k-TM network; k = 0 is the 0-TM network of Lee et al., Science 343, 519 (2014) and
//!   Urban, Lee, Ceder, Adv. Energy Mater. 4, 1400478 (2014));
//! * [`BondRule::Barrier`]: the tetrahedron's intrinsic E_KRA under the barrier model is below
//!   a cut-off, so anion (F, Cl) and height effects enter too. Intrinsic means no Li on the
//!   spectators (`n_Li = 0`) and no site energies: a property of the channel, not of the
//!   current Li arrangement.
//!
//! Clusters are labelled with a union-find (path halving, union by size) over the dense cation
//! indices, one pass over the sites and their six "forward" neighbours. Whether a cluster wraps
//! the periodic box is found without any size or extent heuristic: every node keeps the image
//! shift (in box lengths along x, y, z) from itself to its union-find parent, so the unwrapped
//! position of a node relative to its root is known. A bond between two nodes already in one
//! cluster closes a cycle; the cycle's net image shift is its winding number, and a non-zero
//! component means the cluster wraps along that axis (the wrapping test of Newman & Ziff,
//! Phys. Rev. E 64, 016706 (2001)). Every cycle is a sum of these fundamental cycles, so no
//! wrapping cluster is missed.
//!
//! Image shifts are stored modulo 2^16 (i16) when that is exact and modulo 2^32 otherwise. A
//! cycle with winding w along axis k visits at least |w|·D_k distinct sites (D_k grid points
//! along k), so |w| ≤ n_cations / D_k: when that bound is below 2^16, w ≠ 0 never vanishes
//! modulo 2^16. For a 10^7-site cube the bound is ≈3.7·10^4, so the i16 store applies.
//! Memory: one 16-byte node per cation site (parent, set size, shift, wrap bits interleaved so
//! that a union-find step is one cache access; 24 bytes with i32 shifts) while labelling, plus
//! the 4-byte label per site returned: ≈20 bytes per site, no per-site heap allocation. Time is
//! linear in the number of sites (≈1.5 s for 10^7 sites on one core; see
//! `benchmarks/bench_percolation.py`).
//!
//! Geometry: in a bulk cell every axis is periodic. In a slab (periodic x, y; open along z) no
//! bond crosses the z boundary, and a tetrahedron that would lie outside the slab (beyond the
//! first or last cation plane) is not a channel. Accessible means: bulk, the cluster wraps the
//! box along at least one axis; slab, the cluster has a site on a surface plane (z = 0 or
//! z = D_z − 1 in grid units).

use crate::columns;
use crate::config::{species, Configuration};
use crate::error::{require_positive, Error, Result};
use crate::lattice::{inside_slab, slot, Geometry, Lattice, NN_DIRECTIONS, PATHS};
use crate::memory::{describe_lattice, require_available, try_filled};
use crate::model::BarrierModel;
use crate::union_find::{bond_image_shift, Node};
pub use crate::union_find::{Winding, WrappingUnionFind};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::cmp::Reverse;
use std::mem::size_of;

/// Bit of `Percolation::cluster_wraps` for each axis.
pub const WRAP_X: u8 = 1;
pub const WRAP_Y: u8 = 2;
pub const WRAP_Z: u8 = 4;
/// Bits of `Percolation::cluster_surfaces` (slab only).
pub const SURFACE_BOTTOM: u8 = 1;
pub const SURFACE_TOP: u8 = 2;

/// One direction of each opposite pair (`NN_DIRECTIONS[2m]`): visiting these from every site
/// visits every unordered nearest-neighbour pair exactly once.
const FORWARD_DIRECTIONS: [usize; 6] = [0, 2, 4, 6, 8, 10];

/// Number of (n_TM, packed anion corners) combinations of the barrier rule's lookup table.
const N_BARRIER_KEYS: usize = 3 * 256;

/// When two non-TM nearest neighbours are joined.
#[derive(Debug, Clone, PartialEq)]
pub enum BondRule {
    /// A shared tetrahedron has at most this many TM spectators (0, 1 or 2).
    MaxTm(usize),
    /// A shared tetrahedron has an intrinsic E_KRA (no spectator Li, no site energies) below
    /// `cutoff_ev` (strictly) under `model`.
    Barrier { model: BarrierModel, cutoff_ev: f64 },
}

impl BondRule {
    /// The k-TM rule; k must be 0, 1 or 2 (the field is `max_tm`).
    pub fn max_tm(k: i64) -> Result<Self> {
        if !(0..=2).contains(&k) {
            return Err(Error::invalid(
                "max_tm",
                format!("must be 0, 1 or 2 (TM spectators allowed in an open tetrahedron), got {k}"),
            ));
        }
        Ok(BondRule::MaxTm(k as usize))
    }

    /// The barrier rule: paths with intrinsic E_KRA < `cutoff_ev` (eV, finite, > 0) are open.
    pub fn barrier(model: BarrierModel, cutoff_ev: f64) -> Result<Self> {
        let rule = BondRule::Barrier { model, cutoff_ev };
        rule.validate()?;
        Ok(rule)
    }

    /// Check the rule; the error names the bad field.
    pub fn validate(&self) -> Result<()> {
        match self {
            BondRule::MaxTm(k) if *k > 2 => Err(Error::invalid("max_tm", format!("must be 0, 1 or 2, got {k}"))),
            BondRule::MaxTm(_) => Ok(()),
            BondRule::Barrier { model, cutoff_ev } => {
                require_positive("barrier_cutoff_eV", *cutoff_ev)?;
                model.validate()
            }
        }
    }
}

/// Which clusters count as accessible (serialised in lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// `Wrap` for a bulk lattice, `Surface` for a slab.
    Auto,
    /// The cluster wraps the periodic box along at least one axis (in a slab: x or y).
    Wrap,
    /// The cluster reaches a surface plane of a slab (an error on a bulk lattice).
    Surface,
}

impl Criterion {
    /// The criterion that applies to `lattice` (`Auto` resolved); errors if it cannot apply.
    pub fn resolve(self, lattice: &Lattice) -> Result<Criterion> {
        match (self, lattice.geometry()) {
            (Criterion::Auto, Geometry::Bulk) => Ok(Criterion::Wrap),
            (Criterion::Auto, Geometry::Slab) => Ok(Criterion::Surface),
            (Criterion::Surface, Geometry::Bulk) => Err(Error::invalid(
                "criterion",
                "'surface' needs a slab lattice (geometry='slab'); a bulk cell has no surfaces, \
                 use 'wrap' (or 'auto')",
            )),
            (c, _) => Ok(c),
        }
    }
}

/// Result of a percolation analysis. Clusters are numbered by decreasing size (ties: the one
/// whose first site has the lower cation index first), so label 0 is the largest cluster.
/// Serialised (`columns`) with two derived entries: `n_clusters` and `wraps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percolation {
    /// Cluster label of every cation site in cation-index order; −1 on TM sites.
    #[serde(serialize_with = "columns::array")]
    pub labels: Vec<i32>,
    /// Sites (Li + vacancies) per cluster (serialised with their number, `n_clusters`).
    #[serde(flatten, serialize_with = "sites_and_clusters")]
    pub cluster_sites: Vec<u32>,
    /// Li per cluster.
    #[serde(serialize_with = "columns::array")]
    pub cluster_li: Vec<u32>,
    /// Axes along which each cluster wraps the box (`WRAP_X | WRAP_Y | WRAP_Z`; serialised
    /// with their union, `wraps`).
    #[serde(flatten, serialize_with = "wraps_and_union")]
    pub cluster_wraps: Vec<u8>,
    /// Surface planes each cluster reaches (`SURFACE_BOTTOM | SURFACE_TOP`); 0 in bulk.
    #[serde(serialize_with = "columns::array")]
    pub cluster_surfaces: Vec<u8>,
    /// Whether each cluster is accessible under `criterion`.
    #[serde(serialize_with = "columns::array")]
    pub cluster_accessible: Vec<bool>,
    /// The criterion applied (never `Auto`).
    pub criterion: Criterion,
    /// Cation sites.
    pub n_sites: u64,
    /// Non-TM cation sites (nodes of the network).
    pub n_open_sites: u64,
    pub n_li: u64,
    /// Non-TM sites on accessible clusters.
    pub n_accessible_sites: u64,
    /// Li on accessible clusters.
    pub n_accessible_li: u64,
    /// Joined nearest-neighbour pairs (bonds of the network).
    pub n_bonds: u64,
}

#[allow(clippy::ptr_arg)] // serde hands over the field itself
fn sites_and_clusters<S: Serializer>(sites: &Vec<u32>, s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("cluster_sites", &columns::Array(sites))?;
    m.serialize_entry("n_clusters", &(sites.len() as u64))?;
    m.end()
}

#[allow(clippy::ptr_arg)] // serde hands over the field itself
fn wraps_and_union<S: Serializer>(wraps: &Vec<u8>, s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("cluster_wraps", &columns::Array(wraps))?;
    m.serialize_entry("wraps", &wraps.iter().fold(0u8, |a, &w| a | w))?;
    m.end()
}

impl Percolation {
    pub fn n_clusters(&self) -> usize {
        self.cluster_sites.len()
    }
    /// Li on accessible clusters over all Li (NaN without Li).
    pub fn accessible_li_fraction(&self) -> f64 {
        if self.n_li == 0 {
            f64::NAN
        } else {
            self.n_accessible_li as f64 / self.n_li as f64
        }
    }
    /// Non-TM sites on accessible clusters over all non-TM sites (NaN if every site is TM).
    pub fn accessible_site_fraction(&self) -> f64 {
        if self.n_open_sites == 0 {
            f64::NAN
        } else {
            self.n_accessible_sites as f64 / self.n_open_sites as f64
        }
    }
    /// Union of the axes along which some cluster wraps.
    pub fn wraps(&self) -> u8 {
        self.cluster_wraps.iter().fold(0, |a, &w| a | w)
    }
    /// Whether any cluster is accessible.
    pub fn percolates(&self) -> bool {
        self.cluster_accessible.iter().any(|&a| a)
    }
}

// ----- the analysis --------------------------------------------------------------------------

/// Which (n_TM, anion corners) tetrahedra are open under the rule, indexed
/// `n_tm * 256 + packed corners`.
fn open_table(rule: &BondRule, a: f64) -> [bool; N_BARRIER_KEYS] {
    let mut open = [false; N_BARRIER_KEYS];
    for (i, o) in open.iter_mut().enumerate() {
        let n_tm = i / 256;
        let code = i % 256;
        *o = match rule {
            BondRule::MaxTm(k) => n_tm <= *k,
            BondRule::Barrier { model, cutoff_ev } => {
                let corners =
                    [(code & 3) as u8, ((code >> 2) & 3) as u8, ((code >> 4) & 3) as u8, ((code >> 6) & 3) as u8];
                model.kra_barrier(a, n_tm, 0, corners) < *cutoff_ev
            }
        };
    }
    open
}

/// Label the network of `config` under `rule` and decide which clusters are accessible.
/// Every argument is checked before any work; errors name the field.
pub fn analyze(config: &Configuration, rule: &BondRule, criterion: Criterion) -> Result<Percolation> {
    config.require_octahedral("the percolation analysis")?;
    rule.validate()?;
    let lattice = *config.lattice();
    let criterion = criterion.resolve(&lattice)?;
    require_available(
        "size",
        || format!("a percolation analysis of {}", describe_lattice(&lattice)),
        memory_estimate(&lattice),
    )?;
    if needs_wide_windings(&lattice) {
        analyze_with::<i32>(config, rule, criterion)
    } else {
        analyze_with::<i16>(config, rule, criterion)
    }
}

/// Peak bytes `analyze` allocates: a union-find node and a label per cation site, and per
/// cluster its statistics (sites, Li, wrap and surface bits, sort order: 18 bytes), counted
/// as if every site were its own cluster.
pub fn memory_estimate(lattice: &Lattice) -> u64 {
    let node = if needs_wide_windings(lattice) { size_of::<Node<i32>>() } else { size_of::<Node<i16>>() };
    lattice.n_cations() as u64 * (node as u64 + 4 + 18)
}

/// Whether windings can exceed the i16 store: a cycle with winding w along axis k visits at
/// least |w|·D_k distinct sites, so |w| ≤ n_cations / D_k (module docs).
pub fn needs_wide_windings(lattice: &Lattice) -> bool {
    let dims = lattice.dims();
    let n = lattice.n_cations() as u64;
    (0..3).any(|k| n / dims[k] as u64 >= <i16 as Winding>::EXACT_BELOW)
}

/// Block slots of the target, spectators and anion corners of every forward path:
/// `[dir][side]` = (target, [spectator; 2], [anion; 4]).
struct ForwardSlots {
    target: [usize; 6],
    spectators: [[[usize; 2]; 2]; 6],
    anions: [[[usize; 4]; 2]; 6],
    /// z offsets of the spectators (a slab drops tetrahedra reaching beyond its planes).
    spectator_dz: [[[i8; 2]; 2]; 6],
}

const fn forward_slots() -> ForwardSlots {
    let mut f = ForwardSlots {
        target: [0; 6],
        spectators: [[[0; 2]; 2]; 6],
        anions: [[[0; 4]; 2]; 6],
        spectator_dz: [[[0; 2]; 2]; 6],
    };
    let mut i = 0;
    while i < 6 {
        let dir = FORWARD_DIRECTIONS[i];
        f.target[i] = slot(NN_DIRECTIONS[dir]);
        let mut side = 0;
        while side < 2 {
            let p = &PATHS[2 * dir + side];
            let mut k = 0;
            while k < 2 {
                f.spectators[i][side][k] = slot(p.spectators[k]);
                f.spectator_dz[i][side][k] = p.spectators[k][2];
                k += 1;
            }
            let mut k = 0;
            while k < 4 {
                f.anions[i][side][k] = slot(p.anions[k]);
                k += 1;
            }
            side += 1;
        }
        i += 1;
    }
    f
}

const FORWARD: ForwardSlots = forward_slots();

/// What the bond test of one site needs.
struct SiteContext<'a> {
    grid: &'a [u8],
    dims: [usize; 3],
    slab: bool,
    open: &'a [bool; N_BARRIER_KEYS],
    /// Per TM count: `OPEN` or `CLOSED` whatever the anion corners, else `DEPENDS` (look the
    /// corners up).
    mode: [u8; 3],
}

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const DEPENDS: u8 = 2;

/// Per TM count, whether the rule's verdict depends on the anion corners.
fn anion_modes(open: &[bool; N_BARRIER_KEYS]) -> [u8; 3] {
    let mut mode = [DEPENDS; 3];
    for (n_tm, m) in mode.iter_mut().enumerate() {
        let row = &open[n_tm * 256..(n_tm + 1) * 256];
        if row.iter().all(|&o| o) {
            *m = OPEN;
        } else if row.iter().all(|&o| !o) {
            *m = CLOSED;
        }
    }
    mode
}

impl SiteContext<'_> {
    /// Join the non-TM site at `p` (grid index `g`) to its open forward neighbours; `at(slot)`
    /// gives the grid index of a block slot around it. Returns the number of bonds.
    #[inline(always)]
    fn visit<W: Winding, F: Fn(usize) -> usize>(
        &self,
        uf: &mut WrappingUnionFind<W>,
        p: [usize; 3],
        g: usize,
        at: F,
    ) -> u64 {
        let (grid, dims) = (self.grid, self.dims);
        let mut n_bonds = 0;
        for i in 0..6 {
            let d = NN_DIRECTIONS[FORWARD_DIRECTIONS[i]];
            if self.slab && !inside_slab(p[2], d[2], dims[2]) {
                continue;
            }
            let gb = at(FORWARD.target[i]);
            if species::is_tm(grid[gb]) {
                continue;
            }
            let mut joined = false;
            for side in 0..2 {
                let sp = FORWARD.spectators[i][side];
                let dz = FORWARD.spectator_dz[i][side];
                if self.slab && !(inside_slab(p[2], dz[0], dims[2]) && inside_slab(p[2], dz[1], dims[2])) {
                    continue; // the tetrahedron lies outside the slab
                }
                let n_tm = species::is_tm(grid[at(sp[0])]) as usize + species::is_tm(grid[at(sp[1])]) as usize;
                let is_open = match self.mode[n_tm] {
                    OPEN => true,
                    CLOSED => false,
                    _ => {
                        let mut key = n_tm * 256;
                        for (k, &s) in FORWARD.anions[i][side].iter().enumerate() {
                            key |= ((grid[at(s)] & 3) as usize) << (2 * k);
                        }
                        self.open[key]
                    }
                };
                if is_open {
                    joined = true;
                    break;
                }
            }
            if !joined {
                continue;
            }
            n_bonds += 1;
            uf.union((g >> 1) as u32, (gb >> 1) as u32, bond_image_shift(p, d, dims));
        }
        n_bonds
    }
}

fn analyze_with<W: Winding>(config: &Configuration, rule: &BondRule, criterion: Criterion) -> Result<Percolation> {
    let lattice = *config.lattice();
    let grid = config.grid();
    let dims = lattice.dims();
    let slab = lattice.geometry() == Geometry::Slab;
    let n = lattice.n_cations();
    let open = open_table(rule, lattice.a());
    let mut uf = WrappingUnionFind::<W>::try_new(n, "size")?;
    let mut n_bonds = 0u64;
    // Linear index offsets of the block slots, valid away from the box faces.
    let stride = [1isize, dims[0] as isize, (dims[0] * dims[1]) as isize];
    let mut interior = [0isize; 27];
    for (k, v) in interior.iter_mut().enumerate() {
        *v = (k % 3) as isize - 1 + ((k / 3) % 3) as isize * stride[1] - stride[1] + (k / 9) as isize * stride[2]
            - stride[2];
    }

    let ctx = SiteContext { grid, dims, slab, open: &open, mode: anion_modes(&open) };
    for z in 0..dims[2] {
        let z_inner = z > 0 && z + 1 < dims[2];
        for y in 0..dims[1] {
            let yz_inner = z_inner && y > 0 && y + 1 < dims[1];
            let mut x = (y + z) & 1;
            while x < dims[0] {
                let p = [x, y, z];
                let g = lattice.grid_index(p);
                x += 2;
                if species::is_tm(grid[g]) {
                    continue;
                }
                if yz_inner && p[0] > 0 && p[0] + 1 < dims[0] {
                    n_bonds += ctx.visit(&mut uf, p, g, |s| (g as isize + interior[s]) as usize);
                } else {
                    let idx = lattice.block_indices(p);
                    n_bonds += ctx.visit(&mut uf, p, g, |s| idx[s]);
                }
            }
        }
    }
    label_clusters(uf, config, criterion, n_bonds)
}

/// Turn the union-find into labels and per-cluster statistics.
fn label_clusters<W: Winding>(
    mut uf: WrappingUnionFind<W>,
    config: &Configuration,
    criterion: Criterion,
    n_bonds: u64,
) -> Result<Percolation> {
    const LABELLED: u8 = 0x80;
    let lattice = *config.lattice();
    let grid = config.grid();
    let dims = lattice.dims();
    let n = lattice.n_cations();
    let mut labels = try_filled(n, -1i32, "size")?;
    let mut cluster_sites: Vec<u32> = Vec::new();
    let mut cluster_li: Vec<u32> = Vec::new();
    let mut cluster_wraps: Vec<u8> = Vec::new();
    let (mut n_open, mut n_li) = (0u64, 0u64);
    // Labels follow first appearance in cation-index order (c = g / 2).
    for p in lattice.cation_points() {
        let g = lattice.grid_index(p);
        let code = grid[g];
        if species::is_tm(code) {
            continue;
        }
        let c = g >> 1;
        let (r, _) = uf.find(c as u32);
        let root = &mut uf.nodes[r as usize];
        if root.wraps & LABELLED == 0 {
            cluster_sites.push(root.size);
            cluster_li.push(0);
            cluster_wraps.push(root.wraps);
            root.wraps |= LABELLED;
            // The root's size is no longer needed: it now holds the cluster label.
            root.size = (cluster_sites.len() - 1) as u32;
        }
        let label = root.size;
        labels[c] = label as i32;
        n_open += 1;
        if code == species::LI {
            n_li += 1;
            cluster_li[label as usize] += 1;
        }
    }
    drop(uf);

    // Renumber by decreasing size (stable: ties keep first-appearance order).
    let nc = cluster_sites.len();
    let mut order: Vec<u32> = (0..nc as u32).collect();
    order.sort_by_key(|&c| Reverse(cluster_sites[c as usize]));
    let mut rank = vec![0u32; nc];
    for (new, &old) in order.iter().enumerate() {
        rank[old as usize] = new as u32;
    }
    for l in labels.iter_mut().filter(|l| **l >= 0) {
        *l = rank[*l as usize] as i32;
    }
    let permute = |v: &[u32]| order.iter().map(|&o| v[o as usize]).collect::<Vec<u32>>();
    let cluster_sites = permute(&cluster_sites);
    let cluster_li = permute(&cluster_li);
    let cluster_wraps: Vec<u8> = order.iter().map(|&o| cluster_wraps[o as usize]).collect();

    let mut cluster_surfaces = vec![0u8; nc];
    if lattice.geometry() == Geometry::Slab {
        for (z, bit) in [(0, SURFACE_BOTTOM), (dims[2] - 1, SURFACE_TOP)] {
            for y in 0..dims[1] {
                let mut x = (y + z) & 1;
                while x < dims[0] {
                    let c = lattice.grid_index([x, y, z]) >> 1;
                    if labels[c] >= 0 {
                        cluster_surfaces[labels[c] as usize] |= bit;
                    }
                    x += 2;
                }
            }
        }
    }
    let cluster_accessible: Vec<bool> = (0..nc)
        .map(|c| match criterion {
            Criterion::Surface => cluster_surfaces[c] != 0,
            _ => cluster_wraps[c] != 0,
        })
        .collect();
    let (mut n_accessible_sites, mut n_accessible_li) = (0u64, 0u64);
    for c in (0..nc).filter(|&c| cluster_accessible[c]) {
        n_accessible_sites += cluster_sites[c] as u64;
        n_accessible_li += cluster_li[c] as u64;
    }
    Ok(Percolation {
        labels,
        cluster_sites,
        cluster_li,
        cluster_wraps,
        cluster_surfaces,
        cluster_accessible,
        criterion,
        n_sites: n as u64,
        n_open_sites: n_open,
        n_li,
        n_accessible_sites,
        n_accessible_li,
        n_bonds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::species::{CL, FIRST_TM, LI, O, VACANCY};
    use crate::lattice::offset_index;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const TM: u8 = FIRST_TM;

    /// A configuration with TM everywhere except `open` (grid coordinates) holding `fill`.
    fn tm_box(size: [usize; 3], geometry: Geometry, open: &[[usize; 3]], fill: u8) -> Configuration {
        let l = Lattice::new(size, 4.15, geometry).unwrap();
        let mut cat = vec![TM; l.n_cations()];
        for &p in open {
            assert!(Lattice::is_cation(p), "{p:?} is not a cation site");
            cat[l.grid_index(p) >> 1] = fill;
        }
        Configuration::from_species(l, &cat, &vec![O; l.n_anions()], vec!["Mn".into()]).unwrap()
    }

    fn wrap(p: [i64; 3], dims: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|k| p[k].rem_euclid(dims[k] as i64) as usize)
    }

    /// Sites A + t·d for t in 0..len, wrapped.
    fn chain(dims: [usize; 3], start: [i64; 3], d: [i64; 3], len: usize) -> Vec<[usize; 3]> {
        (0..len as i64).map(|t| wrap([0, 1, 2].map(|k| start[k] + t * d[k]), dims)).collect()
    }

    fn max_tm(k: i64) -> BondRule {
        BondRule::max_tm(k).unwrap()
    }

    #[test]
    fn straight_chain_wraps_along_its_axes_with_any_winding() {
        // Along (1,1,0) in a 4 x 6 grid cross-section the chain closes after lcm(4,6) = 12
        // steps, winding 3 times along x and twice along y: still detected, z untouched.
        let size = [2, 3, 2];
        let dims = [4, 6, 4];
        let sites = chain(dims, [0, 0, 0], [1, 1, 0], 12);
        let cfg = tm_box(size, Geometry::Bulk, &sites, LI);
        let r = analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.n_clusters(), 1);
        assert_eq!(r.cluster_sites[0], 12);
        assert_eq!(r.cluster_wraps[0], WRAP_X | WRAP_Y);
        assert_eq!(r.n_accessible_li, 12);
        assert_eq!(r.accessible_li_fraction(), 1.0);
        // Both spectators of every bond are TM: the 0-TM and 1-TM networks have no bonds.
        for k in [0, 1] {
            let r = analyze(&cfg, &max_tm(k), Criterion::Auto).unwrap();
            assert_eq!((r.n_bonds, r.n_clusters()), (0, 12));
            assert!(!r.percolates() && r.accessible_li_fraction() == 0.0);
        }
        // Along (0,1,-1): wraps y and z.
        let dims = [4, 4, 4];
        let sites = chain(dims, [0, 0, 0], [0, 1, -1], 4);
        let cfg = tm_box([2, 2, 2], Geometry::Bulk, &sites, VACANCY);
        let r = analyze(&cfg, &max_tm(2), Criterion::Wrap).unwrap();
        assert_eq!(r.cluster_wraps, vec![WRAP_Y | WRAP_Z]);
        assert_eq!(r.n_li, 0);
        assert!(r.accessible_li_fraction().is_nan());
        assert_eq!(r.accessible_site_fraction(), 1.0);
    }

    #[test]
    fn ribbon_opens_the_zero_tm_chain() {
        // The chain (t,t,0) plus the spectators above it, (t+1,t,1) and (t,t+1,1): the
        // upper tetrahedron of every chain bond is then 0-TM.
        let dims = [6, 6, 6];
        let mut sites = chain(dims, [0, 0, 0], [1, 1, 0], 6);
        sites.extend(chain(dims, [1, 0, 1], [1, 1, 0], 6));
        sites.extend(chain(dims, [0, 1, 1], [1, 1, 0], 6));
        let cfg = tm_box([3, 3, 3], Geometry::Bulk, &sites, LI);
        let r = analyze(&cfg, &max_tm(0), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_sites, vec![18]);
        assert_eq!(r.cluster_wraps, vec![WRAP_X | WRAP_Y]);
        // Without the upper chains the lone chain has no 0-TM bond.
        let lone = tm_box([3, 3, 3], Geometry::Bulk, &sites[..6], LI);
        assert_eq!(analyze(&lone, &max_tm(0), Criterion::Auto).unwrap().n_bonds, 0);
    }

    #[test]
    fn closed_ring_and_gapped_chain_do_not_wrap() {
        // A square ring in the z = 0 plane: it has a cycle, of winding zero.
        let ring = [[2, 2, 0], [3, 3, 0], [4, 2, 0], [3, 1, 0]];
        let cfg = tm_box([4, 4, 4], Geometry::Bulk, &ring, LI);
        let r = analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!((r.n_clusters(), r.n_bonds), (1, 4));
        assert_eq!(r.cluster_wraps, vec![0]);
        assert!(!r.percolates());
        assert_eq!(r.accessible_li_fraction(), 0.0);
        // A chain spanning the whole box but one site short of closing: as wide as the box,
        // yet not wrapping. A size- or extent-based test would call it percolating.
        let dims = [8, 8, 8];
        let sites = chain(dims, [0, 0, 0], [1, 1, 0], 7);
        let cfg = tm_box([4, 4, 4], Geometry::Bulk, &sites, LI);
        let r = analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_sites, vec![7]);
        assert_eq!(r.cluster_wraps, vec![0]);
        // Closing it makes it wrap.
        let sites = chain(dims, [0, 0, 0], [1, 1, 0], 8);
        let cfg = tm_box([4, 4, 4], Geometry::Bulk, &sites, LI);
        assert_eq!(analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap().cluster_wraps, vec![WRAP_X | WRAP_Y]);
    }

    #[test]
    fn loop_crossing_the_boundary_both_ways_does_not_wrap() {
        // In the z = 0 plane of an 8^3 grid: out across x = 7|0 going +x, back across it
        // going -x. The cluster straddles the boundary and has a cycle, of winding zero.
        let sites = [[7, 1, 0], [0, 2, 0], [1, 3, 0], [0, 4, 0], [7, 5, 0], [6, 4, 0], [5, 3, 0], [6, 2, 0]];
        let cfg = tm_box([4, 4, 4], Geometry::Bulk, &sites, LI);
        let r = analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!((r.n_clusters(), r.n_bonds), (1, 8));
        assert_eq!(r.cluster_wraps, vec![0]);
    }

    #[test]
    fn slab_accessibility_and_no_bond_across_z() {
        let size = [3, 3, 3];
        let dims = [6, 6, 6];
        // A chain along (1,0,1) closes through the z boundary in bulk (wraps x and z); in a
        // slab that bond is absent, the chain still touches both surfaces.
        let sites = chain(dims, [0, 0, 0], [1, 0, 1], 6);
        let bulk = tm_box(size, Geometry::Bulk, &sites, LI);
        let r = analyze(&bulk, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_wraps, vec![WRAP_X | WRAP_Z]);
        let slab = tm_box(size, Geometry::Slab, &sites, LI);
        let r = analyze(&slab, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.criterion, Criterion::Surface);
        assert_eq!(r.n_bonds, 5);
        assert_eq!(r.cluster_wraps, vec![0]);
        assert_eq!(r.cluster_surfaces, vec![SURFACE_BOTTOM | SURFACE_TOP]);
        assert_eq!(r.accessible_li_fraction(), 1.0);
        // The same chain without its first and last site touches no surface.
        let inner = tm_box(size, Geometry::Slab, &sites[1..5], LI);
        let r = analyze(&inner, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_surfaces, vec![0]);
        assert_eq!(r.accessible_li_fraction(), 0.0);
        // Touching one surface is enough.
        let half = tm_box(size, Geometry::Slab, &sites[..3], LI);
        let r = analyze(&half, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_surfaces, vec![SURFACE_BOTTOM]);
        assert_eq!(r.accessible_li_fraction(), 1.0);
        // 'wrap' on a slab looks at in-plane wrapping only.
        let r = analyze(&slab, &max_tm(2), Criterion::Wrap).unwrap();
        assert_eq!(r.accessible_li_fraction(), 0.0);
    }

    #[test]
    fn slab_ignores_tetrahedra_outside_the_surface() {
        // Two Li in the bottom plane, A = (0,0,0), B = (1,1,0). Their tetrahedron above has
        // spectators (1,0,1), (0,1,1) (TM here); the one below would have (1,0,-1), (0,1,-1),
        // i.e. the top plane z = 5 by periodic images, which we leave vacant. Bulk: 0-TM
        // bond through the lower tetrahedron; slab: that tetrahedron does not exist.
        let sites = [[0, 0, 0], [1, 1, 0], [1, 0, 5], [0, 1, 5]];
        let bulk = tm_box([3, 3, 3], Geometry::Bulk, &sites, LI);
        let slab = tm_box([3, 3, 3], Geometry::Slab, &sites, LI);
        let pair = |c: &Configuration| {
            let r = analyze(c, &max_tm(0), Criterion::Wrap).unwrap();
            let l = c.lattice();
            r.labels[l.grid_index([0, 0, 0]) >> 1] == r.labels[l.grid_index([1, 1, 0]) >> 1]
        };
        assert!(pair(&bulk));
        assert!(!pair(&slab));
    }

    #[test]
    fn labels_are_by_decreasing_size_and_minus_one_on_tm() {
        let mut sites = chain([8, 8, 8], [0, 0, 0], [1, 1, 0], 3);
        sites.extend(chain([8, 8, 8], [0, 0, 4], [1, 1, 0], 5));
        sites.push([4, 0, 2]);
        let cfg = tm_box([4, 4, 4], Geometry::Bulk, &sites, VACANCY);
        let r = analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap();
        assert_eq!(r.cluster_sites, vec![5, 3, 1]);
        let l = cfg.lattice();
        assert_eq!(r.labels[l.grid_index([2, 2, 4]) >> 1], 0);
        assert_eq!(r.labels[l.grid_index([1, 1, 0]) >> 1], 1);
        assert_eq!(r.labels[l.grid_index([4, 0, 2]) >> 1], 2);
        assert_eq!(r.labels.iter().filter(|&&x| x == -1).count(), l.n_cations() - 9);
        assert_eq!(r.n_open_sites, 9);
    }

    #[test]
    fn barrier_rule_matches_channel_rules_and_sees_cl() {
        let m = BarrierModel::default();
        let lat = Lattice::new([5, 5, 5], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 200, &[200], vec!["Mn".into()], 0, 0, 3).unwrap();
        let e = |k: usize| m.kra_barrier(4.15, k, 0, [O; 4]);
        // O-only: a cut-off between the 0-TM and 1-TM barriers is the 0-TM rule, one between
        // the 1-TM and 2-TM barriers is the 1-TM rule.
        for (k, cut) in [(0, 0.5 * (e(0) + e(1))), (1, 0.5 * (e(1) + e(2)))] {
            let a = analyze(&cfg, &max_tm(k), Criterion::Auto).unwrap();
            let b = analyze(&cfg, &BondRule::barrier(m.clone(), cut).unwrap(), Criterion::Auto).unwrap();
            assert_eq!(a, b);
        }
        // A 1-TM bond: A = (0,0,0), B = (1,1,0) with the z = +1 tetrahedron's spectators
        // (1,0,1) TM and (0,1,1) vacant, every other cation TM. Its anion corners are
        // (1,0,0), (0,1,0), (0,0,1), (1,1,1). With one Cl corner the taller tetrahedron's
        // 1-TM barrier drops below a cut-off that the all-O one does not pass.
        let l = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let mut cat = vec![TM; l.n_cations()];
        for p in [[0, 0, 0], [1, 1, 0], [0, 1, 1]] {
            cat[l.grid_index(p) >> 1] = LI;
        }
        let mut an = vec![O; l.n_anions()];
        let o_only = Configuration::from_species(l, &cat, &an, vec!["Mn".into()]).unwrap();
        an[l.grid_index([0, 0, 1]) >> 1] = CL;
        let with_cl = Configuration::from_species(l, &cat, &an, vec!["Mn".into()]).unwrap();
        let e1_cl = m.kra_barrier(4.15, 1, 0, [O, O, CL, O]);
        assert!(e1_cl < e(1));
        let rule = BondRule::barrier(m.clone(), 0.5 * (e1_cl + e(1))).unwrap();
        let joined = |c: &Configuration| {
            let r = analyze(c, &rule, Criterion::Auto).unwrap();
            r.labels[l.grid_index([0, 0, 0]) >> 1] == r.labels[l.grid_index([1, 1, 0]) >> 1]
        };
        assert!(!joined(&o_only));
        assert!(joined(&with_cl));
    }

    #[test]
    fn bad_input_names_its_field_before_work() {
        assert_eq!(BondRule::max_tm(3).unwrap_err().field(), "max_tm");
        assert_eq!(BondRule::max_tm(-1).unwrap_err().field(), "max_tm");
        let m = BarrierModel::default();
        for cut in [f64::NAN, -0.1, 0.0, f64::INFINITY] {
            assert_eq!(BondRule::barrier(m.clone(), cut).unwrap_err().field(), "barrier_cutoff_eV");
        }
        let mut bad = m.clone();
        bad.channel_barrier_ev[0] = f64::NAN;
        assert_eq!(BondRule::barrier(bad, 0.4).unwrap_err().field(), "channel_barrier_ev");
        let cfg = tm_box([2, 2, 2], Geometry::Bulk, &[], LI);
        let e = analyze(&cfg, &max_tm(0), Criterion::Surface).unwrap_err();
        assert_eq!(e.field(), "criterion");
        let e = analyze(&cfg, &BondRule::MaxTm(7), Criterion::Auto).unwrap_err();
        assert_eq!(e.field(), "max_tm");
    }

    /// Brute force: BFS over the open network with unwrapped coordinates; a cluster wraps
    /// along k when some site is reached at two unwrapped positions differing along k.
    fn brute_force(cfg: &Configuration, k_max: usize) -> (Vec<usize>, Vec<u8>) {
        let l = cfg.lattice();
        let dims = l.dims();
        let grid = cfg.grid();
        let n = l.n_cations();
        let open_site = |g: usize| !species::is_tm(grid[g]);
        let mut seen: Vec<Option<[i64; 3]>> = vec![None; n];
        let mut out_sizes = vec![];
        let mut out_wraps = vec![];
        for c0 in 0..n {
            let g0 = l.cation_grid_index(c0);
            if !open_site(g0) || seen[c0].is_some() {
                continue;
            }
            let p0 = l.grid_coords(g0);
            seen[c0] = Some([p0[0] as i64, p0[1] as i64, p0[2] as i64]);
            let mut stack = vec![c0];
            let (mut size, mut wraps) = (0, 0u8);
            while let Some(c) = stack.pop() {
                size += 1;
                let u = seen[c].unwrap();
                let g = l.cation_grid_index(c);
                let blk = l.block(l.grid_coords(g));
                for (dir, d) in NN_DIRECTIONS.iter().enumerate() {
                    let gb = offset_index(&blk, *d);
                    if !open_site(gb) {
                        continue;
                    }
                    let ok = (0..2).any(|s| {
                        PATHS[2 * dir + s]
                            .spectators
                            .iter()
                            .filter(|&&o| species::is_tm(grid[offset_index(&blk, o)]))
                            .count()
                            <= k_max
                    });
                    if !ok {
                        continue;
                    }
                    let ub = [0, 1, 2].map(|k| u[k] + d[k] as i64);
                    let cb = gb >> 1;
                    match seen[cb] {
                        None => {
                            seen[cb] = Some(ub);
                            stack.push(cb);
                        }
                        Some(prev) => {
                            for k in 0..3 {
                                if prev[k] != ub[k] {
                                    assert_eq!((prev[k] - ub[k]).rem_euclid(dims[k] as i64), 0);
                                    wraps |= 1 << k;
                                }
                            }
                        }
                    }
                }
            }
            out_sizes.push(size);
            out_wraps.push(wraps);
        }
        (out_sizes, out_wraps)
    }

    #[test]
    fn matches_brute_force_on_random_configurations() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for trial in 0..60 {
            let size = [2 + rng.random_range(0..3), 2 + rng.random_range(0..3), 2 + rng.random_range(0..3)];
            let l = Lattice::new(size, 4.15, Geometry::Bulk).unwrap();
            let n = l.n_cations();
            let n_tm = rng.random_range(0..n);
            let n_li = rng.random_range(0..=(n - n_tm));
            let cfg = Configuration::random(l, n_li, &[n_tm], vec!["Ti".into()], 0, 0, trial).unwrap();
            for k in 0..3 {
                let r = analyze(&cfg, &max_tm(k as i64), Criterion::Auto).unwrap();
                let (sizes, wraps) = brute_force(&cfg, k);
                // Compare as multisets of (size, wraps).
                let mut a: Vec<(u32, u8)> =
                    r.cluster_sites.iter().zip(&r.cluster_wraps).map(|(&s, &w)| (s, w)).collect();
                let mut b: Vec<(u32, u8)> = sizes.iter().zip(&wraps).map(|(&s, &w)| (s as u32, w)).collect();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "trial {trial} size {size:?} k {k}");
                assert_eq!(r.n_open_sites as usize, n - n_tm);
                assert_eq!(r.n_li as usize, n_li);
            }
        }
    }

    #[test]
    fn both_winding_stores_agree_and_the_wide_one_is_chosen_when_needed() {
        // A 4 x 4 x 65536-point column: a cycle could wind n / D_x = 65536 times along x,
        // which vanishes modulo 2^16, so the i32 store is required.
        let long = Lattice::new([2, 2, 32768], 4.15, Geometry::Bulk).unwrap();
        assert!(needs_wide_windings(&long));
        assert!(!needs_wide_windings(&Lattice::new([136, 136, 136], 4.15, Geometry::Bulk).unwrap()));
        let cfg = Configuration::random(long, 1000, &[long.n_cations() / 2], vec!["Ti".into()], 0, 0, 5).unwrap();
        let (a, b) = (
            analyze_with::<i16>(&cfg, &max_tm(2), Criterion::Wrap).unwrap(),
            analyze_with::<i32>(&cfg, &max_tm(2), Criterion::Wrap).unwrap(),
        );
        assert_eq!(a, b);
        assert!(a.percolates());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for seed in 0..20 {
            let size = [2 + rng.random_range(0..4), 2 + rng.random_range(0..4), 2 + rng.random_range(0..4)];
            let l = Lattice::new(size, 4.15, Geometry::Slab).unwrap();
            let n = l.n_cations();
            let cfg = Configuration::random(l, n / 3, &[n / 2], vec!["Ti".into()], 0, 0, seed).unwrap();
            for k in 0..3 {
                for c in [Criterion::Wrap, Criterion::Surface] {
                    assert_eq!(analyze_with::<i16>(&cfg, &max_tm(k), c), analyze_with::<i32>(&cfg, &max_tm(k), c));
                }
            }
        }
    }

    #[test]
    fn fcc_site_percolation_threshold_brackets() {
        // All non-TM sites open (k = 2 joins every NN pair of open sites: plain FCC site
        // percolation). p_c = 0.19923617 (Lorenz & Ziff, J. Phys. A 31, 8147 (1998)): at
        // L = 10 (4000 sites) p = 0.12 essentially never wraps, p = 0.30 essentially always.
        let l = Lattice::new([10, 10, 10], 4.15, Geometry::Bulk).unwrap();
        let n = l.n_cations();
        let wrap_prob = |p: f64| {
            (0..20)
                .filter(|&s| {
                    let n_open = (p * n as f64).round() as usize;
                    let cfg = Configuration::random(l, n_open, &[n - n_open], vec!["Ti".into()], 0, 0, s).unwrap();
                    analyze(&cfg, &max_tm(2), Criterion::Auto).unwrap().percolates()
                })
                .count()
        };
        assert!(wrap_prob(0.12) <= 1);
        assert!(wrap_prob(0.30) >= 19);
    }
}
