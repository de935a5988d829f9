//! Union-find (path halving, union by size) that also tracks, for a periodic embedding, the
//! image shift from every node to its root, so that a bond closing a cycle reveals the cycle's
//! winding number: the wrapping test of Newman & Ziff, Phys. Rev. E 64, 016706 (2001). Used by
//! `percolation` (which clusters wrap the box) and `acceleration` (the flux at which the
//! fastest bonds first form a wrapping cluster).

use crate::memory::try_filled;

/// Integer type holding image shifts modulo 2^bits (wrapping arithmetic).
pub trait Winding: Copy + Default + PartialEq + std::fmt::Debug {
    fn from_i8(v: i8) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    /// Largest |winding| that stays exact (non-zero modulo 2^bits).
    const EXACT_BELOW: u64;
}

/// `Winding` for a primitive signed integer of `bits` bits (modular arithmetic).
macro_rules! impl_winding {
    ($t:ty, $bits:expr) => {
        impl Winding for $t {
            #[inline(always)]
            fn from_i8(v: i8) -> Self {
                v as $t
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            const EXACT_BELOW: u64 = 1 << $bits;
        }
    };
}
impl_winding!(i16, 16);
impl_winding!(i32, 32);

#[inline(always)]
fn add3<W: Winding>(a: [W; 3], b: [W; 3]) -> [W; 3] {
    [a[0].add(b[0]), a[1].add(b[1]), a[2].add(b[2])]
}
#[inline(always)]
fn sub3<W: Winding>(a: [W; 3], b: [W; 3]) -> [W; 3] {
    [a[0].sub(b[0]), a[1].sub(b[1]), a[2].sub(b[2])]
}

/// One union-find node: parent, set size (meaningful at roots), image shift to the parent and
/// wrap bits (meaningful at roots), interleaved so that a node is one memory access
/// (16 bytes with i16 shifts).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct Node<W: Winding> {
    parent: u32,
    pub(crate) size: u32,
    shift: [W; 3],
    pub(crate) wraps: u8,
}

/// The image shift (in box lengths, each component −1, 0 or 1) of a bond from grid point `p`
/// along the nearest-neighbour offset `d` in a periodic grid of `dims` points: +1 where the
/// step leaves the box at the top of an axis, −1 at the bottom. The `bond_shift` of
/// [`WrappingUnionFind::union`].
#[inline]
pub fn bond_image_shift(p: [usize; 3], d: [i8; 3], dims: [usize; 3]) -> [i8; 3] {
    let mut shift = [0i8; 3];
    for k in 0..3 {
        if d[k] > 0 && p[k] + 1 == dims[k] {
            shift[k] = 1;
        } else if d[k] < 0 && p[k] == 0 {
            shift[k] = -1;
        }
    }
    shift
}

/// Union-find over `n` nodes that also tracks, for a periodic embedding, the image shift
/// between each node and its root and which axes every set wraps.
///
/// `shift(u → v)` is the integer vector n with U(v) − U(u) = x(v) − x(u) + n·D, where x is
/// the position in the box, U the unwrapped position along the bonds and D the box lengths.
/// Node `x` stores `shift(x → parent(x))`.
#[derive(Debug, Clone)]
pub struct WrappingUnionFind<W: Winding> {
    pub(crate) nodes: Vec<Node<W>>,
}

impl<W: Winding> WrappingUnionFind<W> {
    /// `n` singletons (n < 2^32).
    pub fn new(n: usize) -> Self {
        Self::try_new(n, "size").expect("union-find nodes")
    }

    /// `new`, or [`crate::Error::OutOfMemory`] about `field` if the nodes cannot be allocated.
    pub fn try_new(n: usize, field: &str) -> crate::Result<Self> {
        assert!(n <= u32::MAX as usize, "too many nodes for u32 indices");
        let mut nodes = try_filled(n, Node { parent: 0, size: 1, shift: [W::default(); 3], wraps: 0 }, field)?;
        for (i, node) in nodes.iter_mut().enumerate() {
            node.parent = i as u32;
        }
        Ok(WrappingUnionFind { nodes })
    }

    /// Root of `x` and `shift(x → root)`, halving the path on the way.
    #[inline]
    pub fn find(&mut self, mut x: u32) -> (u32, [W; 3]) {
        let mut acc = [W::default(); 3];
        loop {
            let p = self.nodes[x as usize].parent;
            if p == x {
                return (x, acc);
            }
            let pn = self.nodes[p as usize];
            let xn = &mut self.nodes[x as usize];
            if pn.parent != p {
                // x now skips p: shift(x → gp) = shift(x → p) + shift(p → gp).
                xn.shift = add3(xn.shift, pn.shift);
                xn.parent = pn.parent;
            }
            acc = add3(acc, xn.shift);
            x = xn.parent;
        }
    }

    /// Join `a` and `b` through a bond along which `b` is seen at image shift `bond_shift`
    /// from `a` (each component −1, 0 or 1). A bond inside one set closes a cycle; its
    /// winding marks the set as wrapping along every axis where it is non-zero.
    #[inline]
    pub fn union(&mut self, a: u32, b: u32, bond_shift: [i8; 3]) {
        let e = [W::from_i8(bond_shift[0]), W::from_i8(bond_shift[1]), W::from_i8(bond_shift[2])];
        let (ra, sa) = self.find(a);
        let (rb, sb) = self.find(b);
        let (ra, rb) = (ra as usize, rb as usize);
        if ra == rb {
            // Cycle a → b (bond) → root → a: winding e + shift(b → r) − shift(a → r).
            let w = sub3(add3(e, sb), sa);
            let mut bits = 0u8;
            for (k, wk) in w.iter().enumerate() {
                if *wk != W::default() {
                    bits |= 1 << k;
                }
            }
            self.nodes[ra].wraps |= bits;
            return;
        }
        let (na, nb) = (self.nodes[ra], self.nodes[rb]);
        if na.size < nb.size {
            // shift(ra → rb) = −shift(a → ra) + e + shift(b → rb).
            self.nodes[ra].shift = add3(sub3(e, sa), sb);
            self.nodes[ra].parent = rb as u32;
            self.nodes[rb].size += na.size;
            self.nodes[rb].wraps |= na.wraps;
        } else {
            // shift(rb → ra) = −shift(b → rb) − e + shift(a → ra).
            self.nodes[rb].shift = sub3(sub3(sa, e), sb);
            self.nodes[rb].parent = ra as u32;
            self.nodes[ra].size += nb.size;
            self.nodes[ra].wraps |= nb.wraps;
        }
    }

    /// Wrap bits of the set holding `x`.
    pub fn wraps(&mut self, x: u32) -> u8 {
        let (r, _) = self.find(x);
        self.nodes[r as usize].wraps
    }

    /// Size of the set holding `x`.
    pub fn set_size(&mut self, x: u32) -> u32 {
        let (r, _) = self.find(x);
        self.nodes[r as usize].size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::percolation::WRAP_X;

    #[test]
    fn i16_and_i32_windings_agree() {
        // The same random graph through both stores, with shifts along a ring of 5 nodes.
        fn run<W: Winding>(edges: &[(u32, u32, [i8; 3])], n: usize) -> Vec<(u32, u8)> {
            let mut uf = WrappingUnionFind::<W>::new(n);
            for &(a, b, s) in edges {
                uf.union(a, b, s);
            }
            (0..n as u32).map(|x| (uf.find(x).0, uf.wraps(x))).collect()
        }
        // Ring 0-1-2-3-4-0 crossing the x boundary once: wraps x.
        let ring = [
            (0, 1, [0, 0, 0]),
            (1, 2, [1, 0, 0]),
            (2, 3, [0, 0, 0]),
            (3, 4, [0, 0, 0]),
            (4, 0, [0, 0, 0]),
            // A second ring 5-6-7 crossing +y then -y: no wrap.
            (5, 6, [0, 1, 0]),
            (6, 7, [0, -1, 0]),
            (7, 5, [0, 0, 0]),
        ];
        let a = run::<i16>(&ring, 8);
        let b = run::<i32>(&ring, 8);
        assert_eq!(a, b);
        assert!(a[..5].iter().all(|&(_, w)| w == WRAP_X));
        assert!(a[5..].iter().all(|&(_, w)| w == 0));
        let mut uf = WrappingUnionFind::<i16>::new(8);
        for &(x, y, s) in &ring {
            uf.union(x, y, s);
        }
        assert_eq!(uf.set_size(3), 5);
        assert_eq!(uf.set_size(6), 3);
    }
}
