//! Rocksalt geometry on one simple-cubic grid.
//!
//! A rocksalt crystal with cubic lattice parameter `a` is a simple-cubic grid of spacing a/2
//! whose points alternate between cations and anions: the point (x, y, z) (integers, units of
//! a/2) is a cation (octahedral) site when x+y+z is even and an anion site when it is odd.
//! Every unit cube of that grid is one tetrahedral site: its four even corners are the cation
//! octahedra that share faces with it, its four odd corners are its anions. This makes every
//! local question (neighbours, the two tetrahedra of a hop, their spectators and anion corners)
//! a fixed offset in a 3x3x3 block around a cation, with no neighbour tables in memory.
//!
//! An L1 x L2 x L3 conventional supercell is a grid of 2L1 x 2L2 x 2L3 points:
//! 4·L1L2L3 cations, as many anions, and 8·L1L2L3 tetrahedra (one per grid cube).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Largest supported supercell, in cation sites (2^31: indices fit in u32 with room to spare,
/// and a larger lattice would not fit in memory on a workstation anyway).
pub const MAX_CATION_SITES: usize = 1 << 31;

/// Accepted cubic lattice parameters, Å. Rocksalt compounds span about 4.0 Å (LiF 4.03, MgO
/// 4.21, DRX oxides 4.1–4.3) to 6.3 Å (KCl 6.29); the range leaves room on both sides but
/// rejects unit mistakes (nm or bohr instead of Å).
pub const LATTICE_PARAMETER_RANGE_A: (f64, f64) = (3.0, 7.0);

/// Boundary conditions of the supercell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Geometry {
    /// Periodic in x, y and z: bulk diffusion.
    Bulk,
    /// Periodic in x and y, open surfaces normal to z (the first and last cation planes).
    Slab,
}

/// The 12 nearest-neighbour cation vectors in units of a/2, ordered so that direction `2m+1`
/// is the opposite of direction `2m`.
pub const NN_DIRECTIONS: [[i8; 3]; 12] = [
    [1, 1, 0],
    [-1, -1, 0],
    [1, -1, 0],
    [-1, 1, 0],
    [1, 0, 1],
    [-1, 0, -1],
    [1, 0, -1],
    [-1, 0, 1],
    [0, 1, 1],
    [0, -1, -1],
    [0, 1, -1],
    [0, -1, 1],
];

/// Index of the direction opposite to `dir`.
#[inline]
pub const fn opposite(dir: usize) -> usize {
    dir ^ 1
}

/// Offsets (units of a/2) of everything one o-t-o path touches, relative to the start site A.
/// For the hop A -> B = A + d through the tetrahedron (grid cube) on side `e = ±1` of the A-B
/// edge along the axis k where d is zero:
/// spectator cations C1 = A + d_i e_i + e e_k and C2 = A + d_j e_j + e e_k;
/// edge anions (shared by the A and B octahedra) A + d_i e_i and A + d_j e_j;
/// apex anions A + e e_k and A + d + e e_k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOffsets {
    pub target: [i8; 3],
    pub spectators: [[i8; 3]; 2],
    /// Edge anions first, then apex anions.
    pub anions: [[i8; 3]; 4],
    /// Offset of the tetrahedron centre in units of a/4 (odd in every component).
    pub centre_quarter: [i8; 3],
    /// Offset of the lowest corner of the tetrahedron's grid cube: the cube's own index.
    pub cube: [i8; 3],
}

/// The 24 paths (12 directions x 2 tetrahedra) out of a cation site; path `2*dir + side`.
pub const N_PATHS: usize = 24;

const fn build_paths() -> [PathOffsets; N_PATHS] {
    let mut out = [PathOffsets {
        target: [0; 3],
        spectators: [[0; 3]; 2],
        anions: [[0; 3]; 4],
        centre_quarter: [0; 3],
        cube: [0; 3],
    }; N_PATHS];
    let mut dir = 0;
    while dir < 12 {
        let d = NN_DIRECTIONS[dir];
        // The axis along which d is zero, and the two along which it is not.
        let k = if d[0] == 0 {
            0
        } else if d[1] == 0 {
            1
        } else {
            2
        };
        let i = (k + 1) % 3;
        let j = (k + 2) % 3;
        let mut side = 0;
        while side < 2 {
            let e: i8 = if side == 0 { 1 } else { -1 };
            let mut c1 = [0i8; 3];
            c1[i] = d[i];
            c1[k] = e;
            let mut c2 = [0i8; 3];
            c2[j] = d[j];
            c2[k] = e;
            let mut a1 = [0i8; 3];
            a1[i] = d[i];
            let mut a2 = [0i8; 3];
            a2[j] = d[j];
            let mut a3 = [0i8; 3];
            a3[k] = e;
            let mut a4 = d;
            a4[k] = e;
            let mut centre = [0i8; 3];
            centre[i] = d[i];
            centre[j] = d[j];
            centre[k] = e;
            out[2 * dir + side] = PathOffsets {
                target: d,
                spectators: [c1, c2],
                anions: [a1, a2, a3, a4],
                centre_quarter: centre,
                cube: [(centre[0] - 1) / 2, (centre[1] - 1) / 2, (centre[2] - 1) / 2],
            };
            side += 1;
        }
        dir += 1;
    }
    out
}

/// Geometry of every o-t-o path out of a cation, path index `2*dir + side`.
pub const PATHS: [PathOffsets; N_PATHS] = build_paths();

/// The six anion neighbours of a cation (its octahedron), units of a/2.
pub const OCTAHEDRON_ANIONS: [[i8; 3]; 6] = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];

/// For each direction d, a 12-bit mask of the directions d' whose site B + d' (B = A + d) is A
/// itself or a nearest neighbour of A. After a hop A -> B, the sites to refresh are NN(A),
/// B, and the NN(B) outside this mask.
pub const fn shared_neighbour_masks() -> [u16; 12] {
    let mut masks = [0u16; 12];
    let mut a = 0;
    while a < 12 {
        let mut b = 0;
        while b < 12 {
            let s = [
                NN_DIRECTIONS[a][0] + NN_DIRECTIONS[b][0],
                NN_DIRECTIONS[a][1] + NN_DIRECTIONS[b][1],
                NN_DIRECTIONS[a][2] + NN_DIRECTIONS[b][2],
            ];
            let n2 = s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
            if n2 == 0 || n2 == 2 {
                masks[a] |= 1 << b;
            }
            b += 1;
        }
        a += 1;
    }
    masks
}

/// A rocksalt supercell: its size, lattice parameter and boundary conditions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lattice {
    /// Conventional cells along x, y, z.
    size: [usize; 3],
    /// Cubic lattice parameter, Å.
    a: f64,
    geometry: Geometry,
}

impl Lattice {
    /// A supercell of `size` conventional cells with lattice parameter `a_angstrom` (Å).
    /// Every side needs at least 2 cells, so that the 3x3x3 block around a site holds 27
    /// distinct grid points and no site is its own neighbour.
    pub fn new(size: [usize; 3], a_angstrom: f64, geometry: Geometry) -> Result<Self> {
        let (lo, hi) = LATTICE_PARAMETER_RANGE_A;
        if !(lo..=hi).contains(&a_angstrom) {
            return Err(Error::invalid(
                "a",
                format!("must be a rocksalt lattice parameter between {lo} and {hi} Å, got {a_angstrom}"),
            ));
        }
        for (axis, &l) in size.iter().enumerate() {
            if l < 2 {
                return Err(Error::invalid(
                    "size",
                    format!("needs at least 2 conventional cells along every axis, got {l} along axis {axis}"),
                ));
            }
        }
        let sites = size.iter().try_fold(4usize, |acc, &l| acc.checked_mul(l)).filter(|&n| n <= MAX_CATION_SITES);
        if sites.is_none() {
            return Err(Error::invalid(
                "size",
                format!("{size:?} has more than {MAX_CATION_SITES} cation sites, too many to simulate"),
            ));
        }
        if geometry == Geometry::Slab && size[2] < 2 {
            return Err(Error::invalid("size", "a slab needs at least 2 cells along z"));
        }
        Ok(Lattice { size, a: a_angstrom, geometry })
    }

    pub fn size(&self) -> [usize; 3] {
        self.size
    }
    /// Lattice parameter, Å.
    pub fn a(&self) -> f64 {
        self.a
    }
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }
    /// Grid points along each axis (twice the cell count).
    #[inline]
    pub fn dims(&self) -> [usize; 3] {
        [2 * self.size[0], 2 * self.size[1], 2 * self.size[2]]
    }
    pub fn n_grid(&self) -> usize {
        let d = self.dims();
        d[0] * d[1] * d[2]
    }
    pub fn n_cations(&self) -> usize {
        self.n_grid() / 2
    }
    pub fn n_anions(&self) -> usize {
        self.n_grid() / 2
    }
    pub fn n_tetrahedra(&self) -> usize {
        self.n_grid()
    }
    /// Nearest-neighbour cation distance a/√2, Å.
    pub fn nn_distance(&self) -> f64 {
        self.a / std::f64::consts::SQRT_2
    }
    /// Height of an ideal (regular) tetrahedron of edge a/√2: a/√3, Å.
    pub fn ideal_tetrahedron_height(&self) -> f64 {
        self.a / 3f64.sqrt()
    }

    /// Linear grid index of the point (x, y, z), already inside the box.
    #[inline]
    pub fn grid_index(&self, p: [usize; 3]) -> usize {
        let d = self.dims();
        p[0] + d[0] * (p[1] + d[1] * p[2])
    }
    /// Grid coordinates of a linear grid index.
    #[inline]
    pub fn grid_coords(&self, g: usize) -> [usize; 3] {
        let d = self.dims();
        [g % d[0], (g / d[0]) % d[1], g / (d[0] * d[1])]
    }
    /// Whether the grid point is a cation site (x+y+z even).
    #[inline]
    pub fn is_cation(p: [usize; 3]) -> bool {
        (p[0] + p[1] + p[2]) % 2 == 0
    }
    /// Dense index (0..n_cations or 0..n_anions) of a grid point: the grid has an even number
    /// of points along x, so each pair (2c, 2c+1) holds exactly one cation and one anion.
    #[inline]
    pub fn sublattice_index(g: usize) -> usize {
        g >> 1
    }
    /// Grid index of cation `c`.
    #[inline]
    pub fn cation_grid_index(&self, c: usize) -> usize {
        let g = 2 * c;
        let p = self.grid_coords(g);
        if Self::is_cation(p) {
            g
        } else {
            g + 1
        }
    }
    /// Grid index of anion `c`.
    #[inline]
    pub fn anion_grid_index(&self, c: usize) -> usize {
        self.cation_grid_index(c) ^ 1
    }
    /// Grid coordinates of every cation, in cation-index order (`cation_grid_index`): x
    /// fastest, then y, then z.
    pub fn cation_points(&self) -> impl Iterator<Item = [usize; 3]> {
        self.sublattice_points(0)
    }
    /// Grid coordinates of every anion, in anion-index order (`anion_grid_index`).
    pub fn anion_points(&self) -> impl Iterator<Item = [usize; 3]> {
        self.sublattice_points(1)
    }
    /// The grid points with x + y + z ≡ parity (mod 2), x fastest, without divisions.
    fn sublattice_points(&self, parity: usize) -> impl Iterator<Item = [usize; 3]> {
        let [nx, ny, nz] = self.dims();
        (0..nz)
            .flat_map(move |z| (0..ny).flat_map(move |y| ((y + z + parity) % 2..nx).step_by(2).map(move |x| [x, y, z])))
    }

    /// The grid indices of the 3x3x3 block around p, by axis: `block[axis][o + 1]` is the
    /// contribution of coordinate p[axis] + o to the linear index (o in -1..=1), with periodic
    /// wrapping on every axis. Index of p + (ox, oy, oz) is the sum of the three contributions.
    #[inline]
    pub fn block(&self, p: [usize; 3]) -> [[usize; 3]; 3] {
        let d = self.dims();
        let stride = [1, d[0], d[0] * d[1]];
        let mut out = [[0usize; 3]; 3];
        for axis in 0..3 {
            let n = d[axis];
            let x = p[axis];
            let m = if x == 0 { n - 1 } else { x - 1 };
            let pl = if x + 1 == n { 0 } else { x + 1 };
            out[axis] = [m * stride[axis], x * stride[axis], pl * stride[axis]];
        }
        out
    }

    /// Grid indices of the 27 points of the periodic 3x3x3 block around p, by `slot`.
    #[inline]
    pub fn block_indices(&self, p: [usize; 3]) -> [usize; 27] {
        let b = self.block(p);
        let mut out = [0usize; 27];
        for (k, v) in out.iter_mut().enumerate() {
            *v = b[0][k % 3] + b[1][(k / 3) % 3] + b[2][k / 9];
        }
        out
    }

    /// Cartesian position (Å) of a grid point.
    pub fn position(&self, g: usize) -> [f64; 3] {
        let p = self.grid_coords(g);
        let h = self.a / 2.0;
        [p[0] as f64 * h, p[1] as f64 * h, p[2] as f64 * h]
    }
    /// Box lengths, Å.
    pub fn box_lengths(&self) -> [f64; 3] {
        [self.size[0] as f64 * self.a, self.size[1] as f64 * self.a, self.size[2] as f64 * self.a]
    }
}

/// Whether the grid plane z + dz lies inside a slab of nz planes (0..nz): a slab has no site,
/// bond or tetrahedron beyond its first and last planes.
#[inline(always)]
pub fn inside_slab(z: usize, dz: i8, nz: usize) -> bool {
    let t = z as isize + dz as isize;
    t >= 0 && t < nz as isize
}

/// Slot of an offset in the 3x3x3 block around a site: 9(oz+1) + 3(oy+1) + (ox+1).
pub const fn slot(o: [i8; 3]) -> usize {
    (9 * (o[2] + 1) + 3 * (o[1] + 1) + (o[0] + 1)) as usize
}

/// Grid index of `base + offset` using a precomputed block.
#[inline(always)]
pub fn offset_index(block: &[[usize; 3]; 3], o: [i8; 3]) -> usize {
    block[0][(o[0] + 1) as usize] + block[1][(o[1] + 1) as usize] + block[2][(o[2] + 1) as usize]
}

/// Padding of the per-axis tables of `TiledOrder`: coordinates up to this far outside the box
/// (three nearest-neighbour steps) index without wrapping.
pub const ORDER_PAD: usize = 3;

/// A cache-friendly storage order of the grid points, used inside the kMC engine.
///
/// The grid is cut into small tiles (the engine uses 2 points per axis) stored one after the other
/// in x, y, z order, points inside a tile likewise. The index is separable,
/// `index = X[x] + Y[y] + Z[z]`, so the per-axis tables (with periodic wrapping built in for
/// coordinates up to `ORDER_PAD` outside the box) give any neighbour's index with three loads
/// and no branches, and the 3x3x3 block around a site spans a few cache lines and pages
/// instead of three planes of the whole box. The lowest index bit flips one coordinate by one,
/// so each pair of indices (2c, 2c+1) holds one cation and one anion, as in the plain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiledOrder {
    /// log2 of the tile edge along each axis.
    tile_log2: [u32; 3],
    /// Tiles along x, and along x times y.
    tiles_x: usize,
    tiles_xy: usize,
    /// `axis[k][x + ORDER_PAD]`: contribution of coordinate x (wrapped) to the index.
    axis: [Vec<usize>; 3],
}

impl TiledOrder {
    /// Tiles of up to 2^`max_tile_log2` points per axis (the largest power of two up to that
    /// which divides the axis; 0 gives the plain x-fastest order of `Lattice::grid_index`).
    pub fn new(dims: [usize; 3], max_tile_log2: u32) -> Self {
        let tile_log2 = dims.map(|n| n.trailing_zeros().min(max_tile_log2));
        let edge = tile_log2.map(|t| 1usize << t);
        let tiles = [dims[0] >> tile_log2[0], dims[1] >> tile_log2[1], dims[2] >> tile_log2[2]];
        let volume = edge[0] * edge[1] * edge[2];
        // Stride of one tile and of one point inside a tile, per axis.
        let tile_stride = [volume, volume * tiles[0], volume * tiles[0] * tiles[1]];
        let inner_stride = [1, edge[0], edge[0] * edge[1]];
        let axis = std::array::from_fn(|k| {
            let n = dims[k] as isize;
            (0..dims[k] + 2 * ORDER_PAD)
                .map(|i| {
                    let x = (i as isize - ORDER_PAD as isize).rem_euclid(n) as usize;
                    (x >> tile_log2[k]) * tile_stride[k] + (x & (edge[k] - 1)) * inner_stride[k]
                })
                .collect()
        });
        TiledOrder { tile_log2, tiles_x: tiles[0], tiles_xy: tiles[0] * tiles[1], axis }
    }

    /// Index of the point at padded coordinates `q = p + ORDER_PAD` (each component of p may
    /// lie up to `ORDER_PAD` outside the box; it wraps).
    #[inline(always)]
    pub fn index(&self, q: [usize; 3]) -> usize {
        self.axis[0][q[0]] + self.axis[1][q[1]] + self.axis[2][q[2]]
    }

    /// Per-axis index contributions of the 3x3x3 block around padded coordinates q:
    /// the index of q + (ox, oy, oz) is `b[0][ox + 1] + b[1][oy + 1] + b[2][oz + 1]`.
    #[inline(always)]
    pub fn block(&self, q: [usize; 3]) -> [[usize; 3]; 3] {
        std::array::from_fn(|k| {
            let t = &self.axis[k][q[k] - 1..q[k] + 2];
            [t[0], t[1], t[2]]
        })
    }

    /// Padded coordinates of the point with index `idx`.
    #[inline]
    pub fn padded_coords(&self, idx: usize) -> [usize; 3] {
        let [tx, ty, tz] = self.tile_log2;
        let inner = idx & ((1 << (tx + ty + tz)) - 1);
        let tile = idx >> (tx + ty + tz);
        let (tile_z, rest) = (tile / self.tiles_xy, tile % self.tiles_xy);
        let (tile_y, tile_x) = (rest / self.tiles_x, rest % self.tiles_x);
        [
            (tile_x << tx) + (inner & ((1 << tx) - 1)) + ORDER_PAD,
            (tile_y << ty) + ((inner >> tx) & ((1 << ty) - 1)) + ORDER_PAD,
            (tile_z << tz) + (inner >> (tx + ty)) + ORDER_PAD,
        ]
    }

    /// Padded coordinates of the cation of the index pair (2·pair, 2·pair + 1).
    #[inline]
    pub fn cation_padded_coords(&self, pair: usize) -> [usize; 3] {
        let mut q = self.padded_coords(2 * pair);
        // The odd index of a pair is one step further along x: x is the fastest axis, and its
        // tile edge is at least 2 (grid sides are even) unless the order is the plain one.
        if (q[0] + q[1] + q[2] - 3 * ORDER_PAD) % 2 == 1 {
            q[0] += 1;
        }
        q
    }

    /// Bytes held by the lookup tables.
    pub fn memory_bytes(&self) -> usize {
        self.axis.iter().map(|a| a.capacity() * std::mem::size_of::<usize>()).sum()
    }
}

/// Padded coordinates (`TiledOrder`) of an in-box grid point.
#[inline(always)]
pub fn padded(p: [usize; 3]) -> [usize; 3] {
    p.map(|x| x + ORDER_PAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lat(l: usize) -> Lattice {
        Lattice::new([l, l, l], 4.15, Geometry::Bulk).unwrap()
    }

    #[test]
    fn site_counts_match_rocksalt() {
        let l = Lattice::new([2, 3, 4], 4.0, Geometry::Bulk).unwrap();
        assert_eq!(l.n_cations(), 4 * 24);
        assert_eq!(l.n_anions(), 4 * 24);
        assert_eq!(l.n_tetrahedra(), 8 * 24);
        let cations = (0..l.n_grid()).filter(|&g| Lattice::is_cation(l.grid_coords(g))).count();
        assert_eq!(cations, l.n_cations());
        // Dense indices are a bijection onto 0..n_cations.
        let mut seen = vec![false; l.n_cations()];
        for (c, seen_c) in seen.iter_mut().enumerate() {
            let g = l.cation_grid_index(c);
            assert!(Lattice::is_cation(l.grid_coords(g)));
            assert_eq!(Lattice::sublattice_index(g), c);
            assert!(!*seen_c);
            *seen_c = true;
            let ga = l.anion_grid_index(c);
            assert!(!Lattice::is_cation(l.grid_coords(ga)));
        }
    }

    #[test]
    fn sublattice_points_follow_the_dense_index_order() {
        for size in [[2, 3, 4], [3, 2, 2], [2, 2, 5]] {
            let l = Lattice::new(size, 4.0, Geometry::Bulk).unwrap();
            let cations: Vec<usize> = l.cation_points().map(|p| l.grid_index(p)).collect();
            let anions: Vec<usize> = l.anion_points().map(|p| l.grid_index(p)).collect();
            assert_eq!(cations, (0..l.n_cations()).map(|c| l.cation_grid_index(c)).collect::<Vec<_>>());
            assert_eq!(anions, (0..l.n_anions()).map(|c| l.anion_grid_index(c)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn every_path_is_a_cube_of_four_cations_and_four_anions() {
        for p in PATHS.iter() {
            let cations = [[0i8; 3], p.target, p.spectators[0], p.spectators[1]];
            // All cation vertices are mutual nearest neighbours (distance² = 2 in (a/2)²).
            for x in 0..4 {
                for y in 0..x {
                    let d: i32 = (0..3).map(|k| (cations[x][k] - cations[y][k]) as i32).map(|v| v * v).sum();
                    assert_eq!(d, 2);
                }
                assert_eq!(cations[x].iter().map(|&v| v as i32).sum::<i32>().rem_euclid(2), 0);
            }
            for an in p.anions.iter() {
                assert_eq!(an.iter().map(|&v| v as i32).sum::<i32>().rem_euclid(2), 1);
                // Every anion corner is a/2 from the centre along each axis: |2·an - centre| = 1.
                for (a, c) in an.iter().zip(p.centre_quarter) {
                    assert_eq!((2 * a - c).abs(), 1);
                }
            }
            // Edge anions are shared by the A and B octahedra (distance a/2 from both).
            for an in &p.anions[..2] {
                let da: i32 = an.iter().map(|&v| (v as i32).pow(2)).sum();
                let db: i32 = (0..3).map(|k| (an[k] - p.target[k]) as i32).map(|v| v * v).sum();
                assert_eq!((da, db), (1, 1));
            }
        }
    }

    #[test]
    fn each_nn_pair_shares_exactly_two_tetrahedra() {
        // Enumerate tetrahedra (grid cubes) and, for every NN cation pair, count those
        // containing both: must be exactly two, and they must be the two paths of the pair.
        let l = lat(2);
        let d = l.dims();
        let mut count = std::collections::HashMap::new();
        for cz in 0..d[2] {
            for cy in 0..d[1] {
                for cx in 0..d[0] {
                    let mut cats = vec![];
                    for o in 0..8 {
                        let p = [(cx + (o & 1)) % d[0], (cy + ((o >> 1) & 1)) % d[1], (cz + ((o >> 2) & 1)) % d[2]];
                        if Lattice::is_cation(p) {
                            cats.push(l.grid_index(p));
                        }
                    }
                    assert_eq!(cats.len(), 4);
                    for x in 0..4 {
                        for y in 0..4 {
                            if x != y {
                                *count.entry((cats[x], cats[y])).or_insert(0) += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(count.len(), l.n_cations() * 12);
        assert!(count.values().all(|&v| v == 2));
        // Tetrahedra per cation: 8 (each NN pair has 2, each tetrahedron holds 3 pairs with a
        // given vertex: 12 * 2 / 3 = 8), and every tetrahedron is a path of the pair.
        let a = l.cation_grid_index(0);
        let shared: usize = count.iter().filter(|(k, _)| k.0 == a).map(|(_, v)| v).sum();
        assert_eq!(shared / 3, 8);
    }

    #[test]
    fn tetrahedron_height_is_a_over_sqrt3() {
        let l = lat(2);
        // Height of the regular tetrahedron with edge a/√2: distance from a vertex to the
        // opposite face, computed from the vertex coordinates of path 0.
        let h = l.a() / 2.0;
        let p = PATHS[0];
        let v: Vec<[f64; 3]> = [[0i8; 3], p.target, p.spectators[0], p.spectators[1]]
            .iter()
            .map(|o| [o[0] as f64 * h, o[1] as f64 * h, o[2] as f64 * h])
            .collect();
        let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        let (u, w) = (sub(v[2], v[1]), sub(v[3], v[1]));
        let n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]];
        let nn = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        let r = sub(v[0], v[1]);
        let height = ((r[0] * n[0] + r[1] * n[1] + r[2] * n[2]) / nn).abs();
        assert!((height - l.ideal_tetrahedron_height()).abs() < 1e-12);
        assert!((l.ideal_tetrahedron_height() - 4.15 / 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn block_indices_agree_with_offsets() {
        let l = Lattice::new([2, 3, 2], 4.0, Geometry::Bulk).unwrap();
        for g in [0, 5, l.n_grid() - 1] {
            let p = l.grid_coords(g);
            let idx = l.block_indices(p);
            let blk = l.block(p);
            for path in PATHS.iter() {
                assert_eq!(idx[slot(path.cube)], offset_index(&blk, path.cube));
                assert_eq!(idx[slot(path.target)], offset_index(&blk, path.target));
            }
        }
    }

    #[test]
    fn path_cube_holds_its_vertices() {
        // The cube's lowest corner plus {0,1}^3 contains A, B, both spectators and all anions.
        for p in PATHS.iter() {
            let inside = |o: [i8; 3]| (0..3).all(|k| o[k] - p.cube[k] == 0 || o[k] - p.cube[k] == 1);
            assert!(inside([0, 0, 0]) && inside(p.target));
            assert!(p.spectators.iter().all(|&o| inside(o)) && p.anions.iter().all(|&o| inside(o)));
        }
    }

    #[test]
    fn shared_neighbour_mask_has_five_entries() {
        // B's neighbours that are A or NN of A: A itself plus the 4 common neighbours.
        for m in shared_neighbour_masks() {
            assert_eq!(m.count_ones(), 5);
        }
    }

    #[test]
    fn bad_sizes_are_rejected_with_field() {
        assert_eq!(Lattice::new([1, 4, 4], 4.15, Geometry::Bulk).unwrap_err().field(), "size");
        assert_eq!(Lattice::new([4, 4, 4], f64::NAN, Geometry::Bulk).unwrap_err().field(), "a");
        assert_eq!(Lattice::new([4, 4, 4], -1.0, Geometry::Bulk).unwrap_err().field(), "a");
        assert_eq!(Lattice::new([usize::MAX, 4, 4], 4.15, Geometry::Bulk).unwrap_err().field(), "size");
        assert_eq!(Lattice::new([2000, 2000, 2000], 4.15, Geometry::Bulk).unwrap_err().field(), "size");
    }

    #[test]
    fn block_wraps_periodically() {
        let l = lat(2);
        let b = l.block([0, 0, 0]);
        assert_eq!(offset_index(&b, [-1, 0, 0]), l.grid_index([3, 0, 0]));
        assert_eq!(offset_index(&b, [0, -1, -1]), l.grid_index([0, 3, 3]));
        assert_eq!(offset_index(&b, [1, 1, 0]), l.grid_index([1, 1, 0]));
    }

    #[test]
    fn tiled_order_is_a_pair_preserving_permutation() {
        for (size, tile) in [([2, 3, 4], 1), ([3, 2, 5], 2), ([4, 4, 2], 2), ([2, 2, 2], 0)] {
            let l = Lattice::new(size, 4.0, Geometry::Bulk).unwrap();
            let order = TiledOrder::new(l.dims(), tile);
            let mut seen = vec![false; l.n_grid()];
            for g in 0..l.n_grid() {
                let p = l.grid_coords(g);
                let i = order.index(padded(p));
                assert!(!seen[i]);
                seen[i] = true;
                assert_eq!(order.padded_coords(i), padded(p));
                // The partner index holds the other sublattice.
                let partner = l.grid_coords(l.grid_index(order.padded_coords(i ^ 1).map(|x| x - ORDER_PAD)));
                assert_ne!(Lattice::is_cation(p), Lattice::is_cation(partner));
                // Offsets wrap like the plain order.
                let blk = l.block(p);
                let tb = order.block(padded(p));
                for o in NN_DIRECTIONS {
                    let plain = l.grid_coords(offset_index(&blk, o));
                    assert_eq!(offset_index(&tb, o), order.index(padded(plain)));
                    let far = [0, 1, 2].map(|k| (p[k] + ORDER_PAD) as isize + 3 * o[k] as isize);
                    let wrapped = [0, 1, 2].map(|k| (far[k] - ORDER_PAD as isize).rem_euclid(l.dims()[k] as isize));
                    assert_eq!(order.index(far.map(|x| x as usize)), order.index(padded(wrapped.map(|x| x as usize))));
                }
            }
            if tile == 0 {
                assert!((0..l.n_grid()).all(|g| order.index(padded(l.grid_coords(g))) == g));
            }
        }
    }
}
