//! The barrier model: kinetically resolved activation (KRA) barriers of o-t-o hops and the
//! site energies of Li, and their tabulation at one temperature for the kMC hot loop.
//!
//! Barrier of the path through tetrahedron t from site A to site B:
//!   E_a(t) = E_KRA(t) + (E_B − E_A) / 2,
//!   E_KRA(t) = E_channel[n_TM] + s_h[n_TM]·(h(t) − h_ref) + Σ_corners δ_anion + n_Li·δ_Li,
//!   h(t) = a/√3 + Σ_corners Δh_anion,
//! where n_TM and n_Li count transition metals and Li on the two spectator vertices of t.
//! E_KRA is the same for A→B and B→A, so Γ(A→B)/Γ(B→A) = exp(−(E_B − E_A)/kT): detailed balance
//! with respect to the site energies holds for any parameter values.
//! Li site energy: E_A = n_F(A)·ε_F + n_Cl(A)·ε_Cl + n_TM(A)·ε_TM + σ·ξ_A (ξ_A standard normal,
//! fixed per site by `site_energy_seed`), with n_F, n_Cl counted over the 6 anions of the
//! octahedron and n_TM over the 12 cation neighbours.

use crate::error::{require_finite, require_non_negative, require_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Boltzmann constant, eV/K (CODATA 2018, exact).
pub const BOLTZMANN_EV_PER_K: f64 = 8.617_333_262e-5;

/// Number of distinct tetrahedron anion-corner codes: 4 corners, 4 anion kinds each.
pub const N_ANION_CODES: usize = 256;

/// Accepted attempt frequencies ν, s⁻¹: two decades beyond the phonon range (1e12–1e14 s⁻¹)
/// on either side, wide enough for any fitted prefactor; outside it the diffusivities are
/// not physical (ν = 1e300 s⁻¹ gives D* ≈ 1e278 cm²/s).
pub const ATTEMPT_FREQUENCY_RANGE_HZ: (f64, f64) = (1e9, 1e16);

/// Every parameter of the barrier model. Energies in eV, lengths in Å, frequencies in s⁻¹.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarrierModel {
    /// Attempt frequency ν, s⁻¹. Default 1e13 s⁻¹: the usual phonon-scale prefactor used for
    /// Li hops in oxides (Van der Ven & Ceder, Electrochem. Solid-State Lett. 3, 301 (2000)).
    pub attempt_frequency_hz: f64,
    /// E_channel for 0-, 1- and 2-TM tetrahedra at the reference height, eV.
    /// Defaults 0.25 / 0.55 / 1.20 eV: 0-TM paths are low, 1-TM paths much higher at the
    /// cation-disordered tetrahedron height, 2-TM paths effectively closed (Urban, Lee, Ceder,
    /// Adv. Energy Mater. 4, 1400478 (2014), Fig. 3; Lee et al., Science 343, 519 (2014)).
    pub channel_barrier_ev: [f64; 3],
    /// Height slope s_h = dE_KRA/dh for 0-, 1-, 2-TM tetrahedra, eV/Å. Defaults −0.3 / −1.5 /
    /// −1.5: the 1-TM barrier falls steeply with height, to ≈0.2–0.3 eV at the layered-like
    /// 2.65 Å, while the 0-TM barrier barely depends on it (Kang & Ceder, Phys. Rev. B 74,
    /// 094105 (2006); Urban et al. 2014, Fig. 4).
    pub height_slope_ev_per_angstrom: [f64; 3],
    /// Height at which `channel_barrier_ev` applies, Å. Default 2.40 Å = a/√3 for a = 4.15 Å,
    /// the ideal height in Li1.2Mn0.4Ti0.4O2-like DRX (docs/design.md#lattice).
    pub reference_height_angstrom: f64,
    /// Δh per anion corner for O, F, Cl and O vacancy, Å. Default 0 / −0.03 / +0.18 / 0:
    /// a quarter of the ideal height times the relative change of the ionic radius against
    /// O²⁻ (Shannon, Acta Cryst. A32, 751 (1976): O²⁻ 1.40, F⁻ 1.33, Cl⁻ 1.81 Å, six-fold),
    /// i.e. the tetrahedron grows by a quarter when one of its four corners grows.
    pub anion_height_shift_angstrom: [f64; 4],
    /// δ_anion per corner for O, F, Cl and O vacancy, eV. Default 0 for every kind: no
    /// first-principles value separates this from the site-energy and height effects, which
    /// carry the F and Cl trends; left for users fitting their own NEB data.
    pub anion_corner_ev: [f64; 4],
    /// δ_Li: added to E_KRA per Li on a spectator vertex, eV. Default 0.1 eV: Li⁺–Li⁺
    /// repulsion at the activated state, which makes divacancy-like paths (empty spectators)
    /// the fastest (Van der Ven & Ceder 2000; Urban et al. 2014 discuss the same for DRX).
    pub spectator_li_ev: f64,
    /// ε_F: Li site energy per F neighbour, eV. Default −0.1 eV: Li–F attraction that makes F
    /// trap Li (Li-rich F environments, Richards et al., Adv. Energy Mater. 8, 1701533
    /// (2018); Ji et al., Nat. Commun. 10, 592 (2019)). An order-of-magnitude estimate.
    pub site_f_ev: f64,
    /// ε_Cl: Li site energy per Cl neighbour, eV. Default −0.05 eV, weaker than F by the
    /// softer, larger anion (same sources; order-of-magnitude estimate).
    pub site_cl_ev: f64,
    /// ε_TM: Li site energy per TM nearest neighbour, eV. Default +0.05 eV: electrostatic
    /// repulsion from high-valent neighbours, the site-energy heterogeneity that slows Li in
    /// DRX (Anand, Chen, Ceder, 2023). An order-of-magnitude estimate.
    pub site_tm_ev: f64,
    /// σ: width of an optional Gaussian random site-energy disorder, eV. Default 0 (off).
    pub site_disorder_ev: f64,
    /// Seed of the random site-energy disorder (fixed per site, independent of the kMC seed).
    pub site_energy_seed: u64,
}

impl Default for BarrierModel {
    fn default() -> Self {
        BarrierModel {
            attempt_frequency_hz: 1e13,
            channel_barrier_ev: [0.25, 0.55, 1.20],
            height_slope_ev_per_angstrom: [-0.3, -1.5, -1.5],
            reference_height_angstrom: 2.40,
            anion_height_shift_angstrom: [0.0, -0.03, 0.18, 0.0],
            anion_corner_ev: [0.0; 4],
            spectator_li_ev: 0.1,
            site_f_ev: -0.1,
            site_cl_ev: -0.05,
            site_tm_ev: 0.05,
            site_disorder_ev: 0.0,
            site_energy_seed: 0,
        }
    }
}

impl BarrierModel {
    /// The hard-core lattice gas: one barrier for every path whatever its environment, no site
    /// energies. Used for exact tests (single-particle D, FCC correlation factor, D_J = D0(1−c)).
    pub fn uniform(barrier_ev: f64) -> Self {
        BarrierModel {
            attempt_frequency_hz: 1e13,
            channel_barrier_ev: [barrier_ev; 3],
            height_slope_ev_per_angstrom: [0.0; 3],
            reference_height_angstrom: 2.40,
            anion_height_shift_angstrom: [0.0; 4],
            anion_corner_ev: [0.0; 4],
            spectator_li_ev: 0.0,
            site_f_ev: 0.0,
            site_cl_ev: 0.0,
            site_tm_ev: 0.0,
            site_disorder_ev: 0.0,
            site_energy_seed: 0,
        }
    }

    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = ATTEMPT_FREQUENCY_RANGE_HZ;
        if !(lo..=hi).contains(&self.attempt_frequency_hz) {
            return Err(Error::invalid(
                "attempt_frequency_hz",
                format!(
                    "must be between {lo:e} and {hi:e} s⁻¹ (lattice vibrations are 1e12-1e14 Hz), got {:e}",
                    self.attempt_frequency_hz
                ),
            ));
        }
        for &e in &self.channel_barrier_ev {
            require_non_negative("channel_barrier_ev", e)?;
        }
        for &s in &self.height_slope_ev_per_angstrom {
            require_finite("height_slope_ev_per_angstrom", s)?;
        }
        require_positive("reference_height_angstrom", self.reference_height_angstrom)?;
        for &h in &self.anion_height_shift_angstrom {
            require_finite("anion_height_shift_angstrom", h)?;
        }
        for &d in &self.anion_corner_ev {
            require_finite("anion_corner_ev", d)?;
        }
        require_finite("spectator_li_ev", self.spectator_li_ev)?;
        require_finite("site_f_ev", self.site_f_ev)?;
        require_finite("site_cl_ev", self.site_cl_ev)?;
        require_finite("site_tm_ev", self.site_tm_ev)?;
        require_non_negative("site_disorder_ev", self.site_disorder_ev)?;
        Ok(())
    }

    /// Height of a tetrahedron with the given anion corners, Å.
    pub fn tetrahedron_height(&self, a: f64, corners: [u8; 4]) -> f64 {
        a / 3f64.sqrt() + corners.iter().map(|&c| self.anion_height_shift_angstrom[c as usize]).sum::<f64>()
    }

    /// E_KRA of a tetrahedron, eV, floored at 0 (a tall Cl-rich tetrahedron with a steep
    /// slope would otherwise extrapolate the linear height law to a negative barrier).
    pub fn kra_barrier(&self, a: f64, n_tm: usize, n_li: usize, corners: [u8; 4]) -> f64 {
        let h = self.tetrahedron_height(a, corners);
        let e = self.channel_barrier_ev[n_tm]
            + self.height_slope_ev_per_angstrom[n_tm] * (h - self.reference_height_angstrom)
            + corners.iter().map(|&c| self.anion_corner_ev[c as usize]).sum::<f64>()
            + n_li as f64 * self.spectator_li_ev;
        e.max(0.0)
    }
}

/// Pack four anion-corner codes into one index (base 4).
#[inline(always)]
pub fn anion_code(corners: [u8; 4]) -> usize {
    corners[0] as usize | (corners[1] as usize) << 2 | (corners[2] as usize) << 4 | (corners[3] as usize) << 6
}

/// Unpack an anion-corner index.
pub fn anion_corners(code: usize) -> [u8; 4] {
    [(code & 3) as u8, ((code >> 2) & 3) as u8, ((code >> 4) & 3) as u8, ((code >> 6) & 3) as u8]
}

/// Distinct multisets of 4 corners drawn from 4 anion kinds: C(7, 4).
const N_MULTISETS: usize = 35;
/// Tetrahedron classes: n_TM (0, 1, 2) × anion multiset, plus one closed class (≥ 3 TM: no
/// hop between two non-TM vertices can use it).
pub const N_CLASSES: usize = 3 * N_MULTISETS + 1;
pub const CLOSED_CLASS: u8 = (3 * N_MULTISETS) as u8;

/// ν·exp(−E_KRA/kT) for every tetrahedron class and spectator-Li count at one temperature.
///
/// E_KRA depends on a tetrahedron only through its TM count and the multiset of its anion
/// corners (static during Li diffusion) and on the Li among its spectators (dynamic). The
/// engine stores one class byte per tetrahedron, so the hot loop looks rates up and never
/// calls exp(). For a hop between two non-TM vertices, the tetrahedron's TM count is the TM
/// count of its spectators.
#[derive(Debug, Clone)]
pub struct KraTable {
    /// Index `class * 3 + n_li`.
    rate: Vec<f64>,
    barrier: Vec<f64>,
    /// Multiset index of each packed anion code.
    multiset_of_code: [u8; 256],
    /// Sorted anion corners of each multiset index.
    representatives: Vec<[u8; 4]>,
}

impl KraTable {
    pub fn new(model: &BarrierModel, a: f64, temperature_k: f64) -> Result<Self> {
        model.validate()?;
        require_positive("temperature_K", temperature_k)?;
        let kt = BOLTZMANN_EV_PER_K * temperature_k;
        // Number the sorted corner tuples in order of first appearance.
        let mut multiset_of_code = [0u8; 256];
        let mut representatives: Vec<[u8; 4]> = Vec::with_capacity(N_MULTISETS);
        for (code, of_code) in multiset_of_code.iter_mut().enumerate() {
            let mut c = anion_corners(code);
            c.sort_unstable();
            let idx = representatives.iter().position(|r| *r == c).unwrap_or_else(|| {
                representatives.push(c);
                representatives.len() - 1
            });
            *of_code = idx as u8;
        }
        debug_assert_eq!(representatives.len(), N_MULTISETS);
        let mut rate = vec![0.0; N_CLASSES * 3];
        let mut barrier = vec![f64::INFINITY; N_CLASSES * 3];
        for n_tm in 0..3 {
            for (ms, corners) in representatives.iter().enumerate() {
                for n_li in 0..3 {
                    let e = model.kra_barrier(a, n_tm, n_li, *corners);
                    let i = (n_tm * N_MULTISETS + ms) * 3 + n_li;
                    barrier[i] = e;
                    rate[i] = model.attempt_frequency_hz * (-e / kt).exp();
                }
            }
        }
        Ok(KraTable { rate, barrier, multiset_of_code, representatives })
    }

    /// Class of a tetrahedron with `n_tm` TM vertices and the given anion corners.
    #[inline]
    pub fn class(&self, n_tm: usize, corners: [u8; 4]) -> u8 {
        if n_tm >= 3 {
            CLOSED_CLASS
        } else {
            (n_tm * N_MULTISETS) as u8 + self.multiset_of_code[anion_code(corners)]
        }
    }
    /// Anion corners (species codes, sorted) of a class (all O for the closed class, which
    /// does not keep them).
    pub fn corners(&self, class: u8) -> [u8; 4] {
        let class = class as usize;
        if class >= 3 * N_MULTISETS {
            [crate::config::species::O; 4]
        } else {
            self.representatives[class % N_MULTISETS]
        }
    }
    /// TM count of a class (3 for the closed class).
    pub fn n_tm(class: u8) -> usize {
        (class as usize / N_MULTISETS).min(3)
    }
    /// ν·exp(−E_KRA/kT), s⁻¹, with `n_li` Li on the spectator vertices.
    #[inline(always)]
    pub fn rate(&self, class: u8, n_li: usize) -> f64 {
        self.rate[class as usize * 3 + n_li]
    }
    /// E_KRA, eV (infinite for the closed class).
    pub fn barrier(&self, class: u8, n_li: usize) -> f64 {
        self.barrier[class as usize * 3 + n_li]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::species;

    #[test]
    fn defaults_reproduce_published_trends() {
        let m = BarrierModel::default();
        m.validate().unwrap();
        let a = 4.15;
        let o = [species::O; 4];
        let e0 = m.kra_barrier(a, 0, 0, o);
        let e1 = m.kra_barrier(a, 1, 0, o);
        let e2 = m.kra_barrier(a, 2, 0, o);
        assert!(e0 < e1 && e1 < e2, "0-TM < 1-TM < 2-TM: {e0} {e1} {e2}");
        assert!(e2 >= 1.0, "2-TM effectively closed");
        // A layered-like 2.65 Å tetrahedron opens the 1-TM channel to 0.2-0.3 eV.
        let mut tall = m.clone();
        tall.anion_height_shift_angstrom = [(2.65 - a / 3f64.sqrt()) / 4.0; 4];
        let e1_tall = tall.kra_barrier(a, 1, 0, o);
        assert!((0.15..0.35).contains(&e1_tall), "{e1_tall}");
        // Cl corners raise the height and lower the barrier; F corners do the opposite.
        let cl = [species::O, species::O, species::CL, species::O];
        let f = [species::O, species::O, species::F, species::O];
        assert!(m.tetrahedron_height(a, cl) > m.tetrahedron_height(a, o));
        assert!(m.kra_barrier(a, 1, 0, cl) < e1 && m.kra_barrier(a, 1, 0, f) > e1);
        // Spectator Li raise the barrier.
        assert!(m.kra_barrier(a, 0, 2, o) > m.kra_barrier(a, 0, 0, o));
    }

    #[test]
    fn table_matches_arrhenius() {
        let m = BarrierModel::default();
        let t = KraTable::new(&m, 4.15, 300.0).unwrap();
        let e = m.kra_barrier(4.15, 1, 1, [0, 1, 2, 0]);
        let expect = 1e13 * (-e / (BOLTZMANN_EV_PER_K * 300.0)).exp();
        let class = t.class(1, [0, 1, 2, 0]);
        assert!((t.rate(class, 1) / expect - 1.0).abs() < 1e-12);
        // The class ignores corner order; classes of different multisets differ.
        assert_eq!(class, t.class(1, [2, 0, 0, 1]));
        assert_ne!(class, t.class(1, [0, 1, 1, 0]));
        assert_eq!(KraTable::n_tm(class), 1);
        assert_eq!(t.rate(t.class(3, [0; 4]), 0), 0.0);
        assert_eq!(anion_corners(anion_code([0, 1, 2, 3])), [0, 1, 2, 3]);
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let mut m = BarrierModel::default();
        m.channel_barrier_ev[1] = -0.1;
        assert_eq!(m.validate().unwrap_err().field(), "channel_barrier_ev");
        let m = BarrierModel { attempt_frequency_hz: f64::NAN, ..BarrierModel::default() };
        assert_eq!(m.validate().unwrap_err().field(), "attempt_frequency_hz");
        let e = KraTable::new(&BarrierModel::default(), 4.15, 0.0).unwrap_err();
        assert_eq!(e.field(), "temperature_K");
        let e = KraTable::new(&BarrierModel::default(), 4.15, f64::NAN).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }));
    }
}
