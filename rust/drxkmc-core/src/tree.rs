//! A wide (16-ary) sum tree over per-site escape rates: O(log16 N) selection and update, few
//! cache lines per level.
//!
//! The tree holds only the inner nodes (≈ 0.5 bytes per leaf); the leaves (the rates) live with
//! their owner, which passes them in where the tree needs them. The engine keeps each rate in
//! its site record, so that finding the chosen leaf and reading the site it belongs to share
//! cache lines. Inner nodes are updated by adding the change of a leaf, so they drift by
//! rounding; `rebuild` recomputes them exactly and the owner calls it periodically. All levels
//! live in one buffer (the level just above the leaves first, the root last), aligned for huge
//! pages.

use crate::memory::HugeBuf;

/// Children per node: 16 f64 = two cache lines.
pub const WIDTH: usize = 16;

#[derive(Debug, Clone)]
pub struct SumTree {
    /// Every inner level, lowest (groups of `WIDTH` leaves) first and the root last.
    nodes: HugeBuf<f64>,
    /// Inner level l occupies `nodes[start[l]..start[l + 1]]`.
    start: Vec<usize>,
    n_leaves: usize,
}

/// The child of a node whose prefix-sum interval holds u, for children `value(0..n)`: the first
/// with u < value (u reduced by each child skipped), and u measured from that child's start.
/// Children with zero (or rounding-negative) value are never chosen: u stays ≥ 0, so `u < v`
/// fails for them and skipping them leaves u unchanged. When rounding leaves u beyond the sum,
/// the last positive child is chosen (the first child if none is positive).
#[inline(always)]
pub fn pick(n: usize, value: impl Fn(usize) -> f64, mut u: f64) -> (usize, f64) {
    for k in 0..n {
        let v = value(k);
        if u < v {
            return (k, u);
        }
        u -= v.max(0.0);
    }
    ((0..n).rev().find(|&k| value(k) > 0.0).unwrap_or(0), u)
}

impl SumTree {
    pub fn new(n_leaves: usize) -> Self {
        let start = Self::level_starts(n_leaves);
        SumTree { nodes: HugeBuf::zeroed(start[start.len() - 1]), start, n_leaves: n_leaves.max(1) }
    }

    /// `new`, or [`crate::Error::OutOfMemory`] about `field` if the nodes cannot be allocated.
    pub fn try_new(n_leaves: usize, field: &str) -> crate::Result<Self> {
        let start = Self::level_starts(n_leaves);
        Ok(SumTree { nodes: HugeBuf::try_zeroed(start[start.len() - 1], field)?, start, n_leaves: n_leaves.max(1) })
    }

    /// Bytes of a tree over `n_leaves` leaves (`memory_bytes` before it is built).
    pub fn memory_estimate(n_leaves: usize) -> usize {
        let start = Self::level_starts(n_leaves);
        start.last().copied().unwrap_or(0) * std::mem::size_of::<f64>()
            + start.len().next_power_of_two() * std::mem::size_of::<usize>()
    }

    /// Where each inner level starts in the node buffer; the last entry is the node count.
    fn level_starts(n_leaves: usize) -> Vec<usize> {
        let n_leaves = n_leaves.max(1);
        let mut start = vec![0];
        let mut below = n_leaves;
        loop {
            let len = below.div_ceil(WIDTH);
            start.push(start[start.len() - 1] + len);
            if len == 1 {
                break;
            }
            below = len;
        }
        start
    }

    pub fn n_leaves(&self) -> usize {
        self.n_leaves
    }
    /// Number of inner levels, root included.
    fn depth(&self) -> usize {
        self.start.len() - 1
    }
    fn level(&self, l: usize) -> &[f64] {
        &self.nodes[self.start[l]..self.start[l + 1]]
    }
    /// Number of children of the nodes of inner level l (leaves below level 0).
    fn children_len(&self, l: usize) -> usize {
        if l == 0 {
            self.n_leaves
        } else {
            self.start[l] - self.start[l - 1]
        }
    }

    /// Sum of all leaves.
    #[inline]
    pub fn total(&self) -> f64 {
        self.nodes[self.nodes.len() - 1]
    }

    /// Add `delta` (the change of leaf i) to every inner node above leaf i.
    #[inline]
    pub fn add(&mut self, leaf: usize, delta: f64) {
        assert!(leaf < self.n_leaves);
        let mut i = leaf;
        for l in 0..self.depth() {
            i /= WIDTH;
            self.nodes[self.start[l] + i] += delta;
        }
    }

    /// The group of at most `WIDTH` leaves (first leaf, count) whose prefix-sum interval holds
    /// u, for u in [0, total), and u measured from the group's start: the caller picks the
    /// leaf inside the group with `pick`.
    #[inline]
    pub fn select_group(&self, mut u: f64) -> (usize, usize, f64) {
        let mut node = 0usize;
        for l in (1..self.depth()).rev() {
            let child = self.level(l - 1);
            let first = node * WIDTH;
            let n = (child.len() - first).min(WIDTH);
            let (k, rest) = pick(n, |k| child[first + k], u);
            node = first + k;
            u = rest;
        }
        let first = node * WIDTH;
        (first, (self.n_leaves - first).min(WIDTH), u)
    }

    /// Start loading the level-0 nodes above leaves lo and hi into the cache.
    #[inline(always)]
    pub fn prefetch_parents(&self, lo: usize, hi: usize) {
        let base = self.nodes.as_ptr();
        crate::memory::prefetch(base.wrapping_add(lo / WIDTH));
        crate::memory::prefetch(base.wrapping_add(hi / WIDTH));
    }

    /// Bytes held by the tree.
    pub fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + self.start.capacity() * std::mem::size_of::<usize>()
    }

    /// The inner levels (for exact checkpoints).
    pub fn inner(&self) -> Vec<Vec<f64>> {
        (0..self.depth()).map(|l| self.level(l).to_vec()).collect()
    }
    /// Restore inner levels saved by `inner`; false if their shape does not match.
    pub fn set_inner(&mut self, inner: Vec<Vec<f64>>) -> bool {
        let ok = inner.len() == self.depth() && inner.iter().enumerate().all(|(l, v)| v.len() == self.level(l).len());
        if ok {
            for (l, v) in inner.iter().enumerate() {
                let s = self.start[l];
                self.nodes[s..s + v.len()].copy_from_slice(v);
            }
        }
        ok
    }

    /// Recompute every inner node exactly from the leaves `leaf(0..n_leaves)`.
    pub fn rebuild(&mut self, leaf: impl Fn(usize) -> f64) {
        for l in 0..self.depth() {
            let n_children = self.children_len(l);
            let (lower, upper) = self.nodes.split_at_mut(self.start[l]);
            let below = if l == 0 { &[][..] } else { &lower[self.start[l - 1]..] };
            let child = |k: usize| if l == 0 { leaf(k) } else { below[k] };
            for (j, node) in upper[..self.start[l + 1] - self.start[l]].iter_mut().enumerate() {
                let end = ((j + 1) * WIDTH).min(n_children);
                *node = (j * WIDTH..end).map(child).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree over `leaves`, built by `add` (as the engine does) or by `rebuild`.
    fn tree_over(leaves: &[f64], incremental: bool) -> SumTree {
        let mut t = SumTree::new(leaves.len());
        if incremental {
            for (i, &v) in leaves.iter().enumerate() {
                t.add(i, v);
            }
        } else {
            t.rebuild(|i| leaves[i]);
        }
        t
    }

    fn select(t: &SumTree, leaves: &[f64], u: f64) -> usize {
        let (first, n, u) = t.select_group(u);
        first + pick(n, |k| leaves[first + k], u).0
    }

    #[test]
    fn selection_follows_prefix_sums() {
        let leaves: Vec<f64> = (0..1000).map(|i| (i % 7) as f64).collect();
        for incremental in [true, false] {
            let t = tree_over(&leaves, incremental);
            assert!((t.total() - leaves.iter().sum::<f64>()).abs() < 1e-9);
            // Walk the prefix sums by hand and check the choice at the midpoint of each leaf.
            let mut acc = 0.0;
            for (i, &v) in leaves.iter().enumerate() {
                if v > 0.0 {
                    assert_eq!(select(&t, &leaves, acc + 0.5 * v), i);
                }
                acc += v;
            }
        }
    }

    #[test]
    fn updates_then_rebuild_agree() {
        let mut leaves: Vec<f64> = (0..300).map(|i| 0.1 * i as f64).collect();
        let mut t = tree_over(&leaves, true);
        for i in (0..300).step_by(3) {
            t.add(i, -leaves[i]);
            leaves[i] = 0.0;
        }
        let incremental = t.total();
        t.rebuild(|i| leaves[i]);
        assert!((incremental - t.total()).abs() < 1e-9);
        let expect: f64 = (0..300).filter(|i| i % 3 != 0).map(|i| 0.1 * i as f64).sum();
        assert!((t.total() - expect).abs() < 1e-9);
    }

    #[test]
    fn never_selects_a_zero_leaf() {
        let mut leaves = vec![0.0; 40];
        leaves[17] = 1.0;
        let t = tree_over(&leaves, false);
        for u in [0.0, 0.5, 0.999999, 1.0, 1.5] {
            assert_eq!(select(&t, &leaves, u), 17);
        }
    }

    #[test]
    fn small_trees_have_a_root_only() {
        for n in [1, 2, 16] {
            let leaves = vec![1.0; n];
            let t = tree_over(&leaves, false);
            assert_eq!(t.inner().len(), 1);
            assert_eq!(t.total(), n as f64);
            assert_eq!(select(&t, &leaves, n as f64 - 0.5), n - 1);
        }
    }

    #[test]
    fn inner_levels_round_trip() {
        let leaves: Vec<f64> = (0..500).map(|i| i as f64).collect();
        let t = tree_over(&leaves, true);
        let inner = t.inner();
        // 500 leaves -> 32 -> 2 -> 1.
        assert_eq!(inner.iter().map(Vec::len).collect::<Vec<_>>(), [32, 2, 1]);
        let mut u = SumTree::new(500);
        assert!(u.set_inner(inner.clone()));
        assert_eq!(u.inner(), inner);
        assert!(!u.set_inner(vec![vec![0.0; 3]]));
    }
}
