//! Rates: the path rate of one o-t-o hop from the tabulated KRA rates, the rate cap, the escape
//! rate of a Li, and the upkeep of the stored escape rates (their f32 unit and the sum tree).

use super::site::{Hood, PATH_SPECTATORS};
use super::Kmc;
use crate::config::species;
use crate::lattice::{padded, NN_DIRECTIONS};

/// Stored escape rates (units of `Kmc::rate_unit`) at or above this trigger a new unit: f32
/// holds up to 2^128.
pub(super) const STORED_RATE_LIMIT: f64 = (1u128 << 100) as f64;

/// Below this stored total (units of `Kmc::rate_unit`), rates near the bottom of the f32
/// range could matter: choose a new unit.
pub(super) const STORED_TOTAL_FLOOR: f64 = 1.0 / (1u64 << 60) as f64;

/// x rounded up to f32, so that the stored rate bounds the exact one from above; positive
/// values below the f32 range become the smallest positive f32, never 0.
#[inline(always)]
fn stored_rate(x: f64) -> f32 {
    let s = x as f32;
    // One f32 step up where rounding went down (x ≥ 0 and finite, so the bits count up),
    // without a branch: which way rounding goes is a coin toss for the predictor.
    f32::from_bits(s.to_bits() + ((s as f64) < x) as u32)
}

impl Kmc {
    /// ν·exp(−E_KRA/kT) of one path out of the site with block b and neighbour-Li mask li.
    #[inline(always)]
    pub(super) fn path_rate(&self, b: &Hood, li: u16, path: usize) -> f64 {
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
    pub(super) fn kra_limit(&self, w_a: f64, w_b: f64) -> f64 {
        let z = self.cap_z;
        self.rate_cap * (w_a + z / w_a) * (w_b + z / w_b) / z
    }

    /// Total rate of all hops out of the Li at padded coordinates q, s⁻¹ (with the rate cap
    /// when CAP).
    #[inline]
    pub(super) fn escape_rate<const CAP: bool>(&self, q: [usize; 3]) -> f64 {
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
    pub(super) fn escape_rate_now(&self, q: [usize; 3]) -> f64 {
        if self.rate_cap.is_finite() {
            self.escape_rate::<true>(q)
        } else {
            self.escape_rate::<false>(q)
        }
    }

    /// Recompute every stored escape rate and the tree, in units of `unit` or, if None (or if
    /// the fastest rate would not fit), of a unit fitted to the fastest rate now.
    pub(super) fn refresh_all(&mut self, unit: Option<f64>) {
        // Two passes (the unit needs the fastest rate first) instead of a per-site buffer of
        // rates: no allocation here, so a run never fails for memory mid-way.
        let fastest = self.lattice.cation_points().fold(0.0f64, |m, p| m.max(self.li_escape_rate(padded(p))));
        let fitted = if fastest > 0.0 { (fastest.log2().floor() - 64.0).exp2() } else { 1.0 };
        let unit = unit.filter(|u| fastest / u < STORED_RATE_LIMIT).unwrap_or(fitted);
        for p in self.lattice.cation_points() {
            let q = padded(p);
            let c = self.order.index(q) >> 1;
            self.sites[c].rate = stored_rate(self.li_escape_rate(q) / unit);
        }
        self.rate_unit = unit;
        self.rebuild_tree();
    }

    /// The escape rate of the site at padded coordinates q if it holds Li, else 0, s⁻¹.
    pub(super) fn li_escape_rate(&self, q: [usize; 3]) -> f64 {
        if self.site(self.order.index(q)).cation == species::LI {
            self.escape_rate_now(q)
        } else {
            0.0
        }
    }

    /// Recompute the inner nodes of the tree exactly from the stored rates.
    pub(super) fn rebuild_tree(&mut self) {
        let sites = &self.sites;
        self.tree.rebuild(|i| sites[i].rate as f64);
        self.rebuilt_total = self.tree.total();
    }

    /// Store the escape rate r (s⁻¹) of the Li on index pair c.
    #[inline(always)]
    pub(super) fn store_rate(&mut self, c: usize, r: f64) {
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
    pub(super) fn refresh_li<const CAP: bool>(&mut self, g: usize, q: [usize; 3], d: usize) {
        let o = NN_DIRECTIONS[d % 12];
        let r = self.escape_rate::<CAP>([0, 1, 2].map(|i| q[i].wrapping_add_signed(o[i] as isize)));
        self.store_rate(g >> 1, r);
    }
}
