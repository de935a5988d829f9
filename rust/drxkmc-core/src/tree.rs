//! A wide (16-ary) sum tree over per-site escape rates: O(log16 N) selection and update,
//! few cache lines per level, ≈ 8.5 bytes per site.
//!
//! Leaves hold the exact rates. Inner nodes are updated by adding the change of a leaf, so they
//! drift by rounding; `rebuild` recomputes them exactly and the engine calls it periodically.
//! All levels live in one buffer (leaves first, root last), aligned for huge pages.

use crate::memory::HugeBuf;

/// Children per inner node: 16 f64 = two cache lines.
const WIDTH: usize = 16;

#[derive(Debug, Clone)]
pub struct SumTree {
    /// Every level, leaves first and the root last.
    nodes: HugeBuf<f64>,
    /// Level l occupies `nodes[start[l]..start[l + 1]]`.
    start: Vec<usize>,
}

impl SumTree {
    pub fn new(n: usize) -> Self {
        let mut start = vec![0, n.max(1)];
        while start[start.len() - 1] - start[start.len() - 2] > 1 {
            let len = (start[start.len() - 1] - start[start.len() - 2]).div_ceil(WIDTH);
            start.push(start[start.len() - 1] + len);
        }
        SumTree { nodes: HugeBuf::zeroed(start[start.len() - 1]), start }
    }

    pub fn len(&self) -> usize {
        self.start[1]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of levels, leaves and root included.
    fn depth(&self) -> usize {
        self.start.len() - 1
    }
    fn level(&self, l: usize) -> &[f64] {
        &self.nodes[self.start[l]..self.start[l + 1]]
    }
    /// Sum of all leaves.
    #[inline]
    pub fn total(&self) -> f64 {
        self.nodes[self.nodes.len() - 1]
    }
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.level(0)[i]
    }
    /// Set leaf i without touching inner nodes (call `rebuild` afterwards).
    pub fn set_leaf_only(&mut self, i: usize, value: f64) {
        assert!(i < self.len());
        self.nodes[i] = value;
    }

    /// Set leaf i and propagate the change to the root.
    #[inline]
    pub fn set(&mut self, mut i: usize, value: f64) {
        assert!(i < self.len());
        // No early return when delta is 0: adding 0 is exact, and the branch is unpredictable.
        let delta = value - self.nodes[i];
        self.nodes[i] = value;
        for &start in &self.start[1..self.start.len() - 1] {
            i /= WIDTH;
            self.nodes[start + i] += delta;
        }
    }

    /// Start loading the leaves lo..=hi (at most 16 apart) and their parents into the cache.
    #[inline(always)]
    pub fn prefetch(&self, lo: usize, hi: usize) {
        let leaves = self.nodes.as_ptr();
        let parents = leaves.wrapping_add(self.start[1]);
        for p in [
            leaves.wrapping_add(lo),
            leaves.wrapping_add(hi),
            parents.wrapping_add(lo / WIDTH),
            parents.wrapping_add(hi / WIDTH),
        ] {
            crate::memory::prefetch(p);
        }
    }

    /// Bytes held by the tree.
    pub fn memory_bytes(&self) -> usize {
        self.nodes.memory_bytes() + self.start.capacity() * std::mem::size_of::<usize>()
    }

    /// The inner levels (for exact checkpoints).
    pub fn inner(&self) -> Vec<Vec<f64>> {
        (1..self.depth()).map(|l| self.level(l).to_vec()).collect()
    }
    /// Restore inner levels saved by `inner`; false if their shape does not match.
    pub fn set_inner(&mut self, inner: Vec<Vec<f64>>) -> bool {
        let ok = inner.len() + 1 == self.depth()
            && inner.iter().enumerate().all(|(l, v)| v.len() == self.level(l + 1).len());
        if ok {
            for (l, v) in inner.iter().enumerate() {
                let s = self.start[l + 1];
                self.nodes[s..s + v.len()].copy_from_slice(v);
            }
        }
        ok
    }

    /// Recompute every inner node exactly from the leaves.
    pub fn rebuild(&mut self) {
        for l in 1..self.depth() {
            let (lower, upper) = self.nodes.split_at_mut(self.start[l]);
            let child = &lower[self.start[l - 1]..];
            for (j, node) in upper[..self.start[l + 1] - self.start[l]].iter_mut().enumerate() {
                let end = ((j + 1) * WIDTH).min(child.len());
                *node = child[j * WIDTH..end].iter().sum();
            }
        }
    }

    /// The leaf i such that the prefix sum before it is ≤ u < the prefix sum through it,
    /// for u in [0, total). Leaves with zero rate are never returned: rounding in the inner
    /// nodes can only push the choice to the last non-zero child of a node.
    #[inline]
    pub fn select(&self, mut u: f64) -> usize {
        let mut node = 0usize;
        for l in (0..self.depth() - 1).rev() {
            let child = self.level(l);
            let start = node * WIDTH;
            let end = (start + WIDTH).min(child.len());
            let children = &child[start..end];
            // u stays ≥ 0, so `u < v` never picks a zero (or rounding-negative) child, and
            // skipping over such a child leaves u unchanged: one test per child.
            let mut chosen = None;
            for (k, &v) in children.iter().enumerate() {
                if u < v {
                    chosen = Some(k);
                    break;
                }
                u -= v.max(0.0);
            }
            node = start + chosen.unwrap_or_else(|| children.iter().rposition(|&v| v > 0.0).unwrap_or(0));
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_prefix_sums() {
        let n = 1000;
        let mut t = SumTree::new(n);
        for i in 0..n {
            t.set(i, (i % 7) as f64);
        }
        let total: f64 = (0..n).map(|i| (i % 7) as f64).sum();
        assert!((t.total() - total).abs() < 1e-9);
        // Walk the prefix sums by hand and check select at the midpoint of each leaf.
        let mut acc = 0.0;
        for i in 0..n {
            let v = (i % 7) as f64;
            if v > 0.0 {
                assert_eq!(t.select(acc + 0.5 * v), i);
            }
            acc += v;
        }
    }

    #[test]
    fn updates_then_rebuild_agree() {
        let mut t = SumTree::new(300);
        for i in 0..300 {
            t.set(i, 0.1 * i as f64);
        }
        for i in (0..300).step_by(3) {
            t.set(i, 0.0);
        }
        let incremental = t.total();
        t.rebuild();
        assert!((incremental - t.total()).abs() < 1e-9);
        let expect: f64 = (0..300).filter(|i| i % 3 != 0).map(|i| 0.1 * i as f64).sum();
        assert!((t.total() - expect).abs() < 1e-9);
    }

    #[test]
    fn never_selects_a_zero_leaf() {
        let mut t = SumTree::new(40);
        t.set(17, 1.0);
        for u in [0.0, 0.5, 0.999999, 1.0, 1.5] {
            assert_eq!(t.select(u), 17);
        }
    }

    #[test]
    fn inner_levels_round_trip() {
        let mut t = SumTree::new(500);
        for i in 0..500 {
            t.set(i, i as f64);
        }
        let inner = t.inner();
        assert_eq!(inner.len(), 3);
        let mut u = SumTree::new(500);
        for i in 0..500 {
            u.set_leaf_only(i, i as f64);
        }
        assert!(u.set_inner(inner.clone()));
        assert_eq!(u.inner(), inner);
        assert!(!u.set_inner(vec![vec![0.0; 3]]));
    }
}
