//! The parameters of degradation: the structural events (`DegradationModel`) and the cycling
//! protocol (`CyclingProtocol`). Each is declared once, here, with its defaults and their
//! sources; the Python classes take their defaults from these structs (serde field names are
//! the Python names, units in the name).

use crate::error::{require_non_negative, require_positive, Error, Result};
use crate::model::ATTEMPT_FREQUENCY_RANGE_HZ;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameters of the structural events of a charged or discharged cathode: TM migration,
/// O loss and the reduction that follows it. Energies in eV, frequencies in s⁻¹, lengths in nm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationModel {
    /// Attempt frequency of TM migration and O release, s⁻¹. Default 1e13 s⁻¹, the phonon-scale
    /// prefactor used for cation hops in oxides (Van der Ven & Ceder, Electrochem. Solid-State
    /// Lett. 3, 301 (2000)) and in the multi-timescale kMC of DRX degradation.
    pub attempt_frequency_hz: f64,
    /// KRA barrier of an octahedral → tetrahedral → octahedral TM hop into a vacant octahedron
    /// with empty spectators, by species and oxidation state ("Mn2+"), eV. Defaults Mn²⁺ 0.30,
    /// Mn³⁺ 0.67, Ti⁴⁺ 0.87, Mn⁴⁺ 1.50 eV: assumptions, the values attributed to the Ceder
    /// group's multi-timescale kMC of DRX degradation, not checked here against its
    /// publication; their order (low-valent Mn mobile, Mn⁴⁺ frozen) agrees with the
    /// layered-to-spinel studies of Reed, Ceder & Van der Ven, Electrochem. Solid-State Lett.
    /// 4, A78 (2001). Note that 0.87 eV lets a Ti⁴⁺ with an empty target hop ~90 times per
    /// hour at 300 K: raise it to make d⁰ ions immobile. Ni²⁺ 0.90, Ni³⁺ 1.20, Ni⁴⁺ 1.50 eV
    /// and Nb⁵⁺ 1.20 eV are assumptions in the same spirit. Species and states not listed take
    /// `default_migration_barrier_eV`.
    #[serde(rename = "migration_barrier_eV")]
    pub migration_barrier_ev: BTreeMap<String, f64>,
    /// Barrier of a TM species/state not in `migration_barrier_eV`, eV. Default 1.5 eV (as
    /// Mn⁴⁺: frozen at room temperature); an assumption.
    #[serde(rename = "default_migration_barrier_eV")]
    pub default_migration_barrier_ev: f64,
    /// Energy of a TM on a tetrahedral site relative to the octahedral one, by species and
    /// oxidation state ("Mn2+"), eV, before the local electroneutrality terms (which count a
    /// tetrahedral cation's bond strength v/4 on each of its four anions): the site
    /// preference. A state listed here can rest in a tetrahedron (octahedral → tetrahedral
    /// and back as events of their own, KRA barrier `migration_barrier_eV`); a state not
    /// listed keeps the tetrahedron as the transition state of its o-t-o hop, as before.
    /// Default: none (off), an assumption. A value to start from: Mn²⁺ 0.0 eV, the
    /// crystal-field octahedral site preference of high-spin d⁵ (zero; Dunitz & Orgel, J.
    /// Phys. Chem. Solids 3, 318 (1957); McClure, ibid. 3, 311 (1957)), the reason Mn²⁺ sits
    /// on tetrahedral sites in Mn₃O₄ and in the spinel-like δ phase that Mn-rich DRX forms on
    /// cycling (Z. Cai et al., Nat. Energy 9, 27 (2024)); ion size and the rest of the site
    /// energy are not in it. Mn³⁺ (≈ 1.0 eV) and Ni²⁺ (≈ 0.9 eV) prefer octahedra by the same
    /// measure. See docs/design.md#degradation for the moves and what a tetrahedral TM blocks.
    #[serde(rename = "tetrahedral_energy_eV", default)]
    pub tetrahedral_energy_ev: BTreeMap<String, f64>,
    /// Added to a TM hop's barrier per Li on a spectator vertex of its tetrahedron, eV
    /// (averaged over the equilibrium Li occupancy). Default 0.10 eV, the cation–cation
    /// repulsion at the activated state used for Li (Van der Ven & Ceder 2000); an assumption
    /// for TMs. TM hops are closed when a spectator is a TM.
    #[serde(rename = "spectator_li_eV")]
    pub spectator_li_ev: f64,
    /// J of the local-electroneutrality energy that drives TM migration, eV/e²:
    /// E = J·Σ_anions (Q − 6|q|)², Q the summed charge of the anion's cation neighbours (Li
    /// counted with its equilibrium occupancy, TMs with their valence). Pauling's second
    /// rule as in drxkmc's SRO Hamiltonian (Ji et al., Nat. Commun. 10, 592 (2019) for the
    /// local environments it favours). Default 0.005 eV/e², an assumption: a TM moving next
    /// to a fully delithiated Li-rich O then gains 0.5–1 eV, the scale of the driving force
    /// for TM migration in charged Li-excess oxides (layered-to-spinel: Reed, Ceder & Van der
    /// Ven, Electrochem. Solid-State Lett. 4, A78 (2001)); the SRO default (0.01) would make
    /// every such move barrierless.
    #[serde(rename = "electroneutrality_eV")]
    pub electroneutrality_ev: f64,
    /// Barrier of O release from an O with no TM neighbour (Li–O–Li, the oxidised O), eV.
    /// Default 0.95 eV, an assumption chosen for the order of magnitude, not a computed
    /// barrier: with ν = 1e13 s⁻¹ an oxidised Li–O–Li surface O then leaves at ~1e-3 s⁻¹ at
    /// 300 K, so a 5 nm Li1.2Mn0.4Ti0.4O2 slab with short-range order loses a few hundredths
    /// of an O per formula unit over tens of 1-h holds at 4.8 V — the order of the lattice-O
    /// release seen by DEMS over the first cycles of Li-excess DRX (Lee et al., Nat.
    /// Commun. 8, 981 (2017)).
    #[serde(rename = "o_loss_barrier_eV")]
    pub o_loss_barrier_ev: f64,
    /// Added to the O-release barrier per TM neighbour of the O, eV. Default 0.10 eV: TM–O
    /// bonds hold O, Li-rich (under-bonded) O leaves first (Seo et al., Nat. Chem. 8, 692
    /// (2016) for the Li–O–Li origin of O redox); an assumption for the size.
    #[serde(rename = "o_loss_tm_neighbour_eV")]
    pub o_loss_tm_neighbour_ev: f64,
    /// O can leave from this depth below either surface or less, nm, and only from the
    /// surface plane or next to an O vacancy (the O-deficient layer grows inward through its
    /// vacancies). Default 2.0 nm: the few-nm densified shell seen by TEM on cycled DRX
    /// (Lee et al., Nat. Commun. 8, 981 (2017)).
    pub o_loss_depth_nm: f64,
    /// An O with at most this many TM neighbours is labile: it can give one electron (O²⁻ →
    /// O⁻) at an O-redox level (`o_redox_voltage_V`), and only labile, oxidised O can leave.
    /// Default 1 (five or six Li/vacancy neighbours), an assumption: O redox comes from O in
    /// Li-rich environments with Li–O–Li configurations (Seo et al., Nat. Chem. 8, 692
    /// (2016); an O with up to four TM neighbours can have one, so this is the strict end),
    /// which fluorination takes away (F prefers the Li-rich sites). The O-redox capacity is
    /// the number of labile O of the as-made cell, less those lost.
    pub labile_o_max_tm: u32,
    /// Lowest O-redox level, V vs Li/Li⁺ (the onset): a charge to a lower cut-off oxidises no
    /// O (and loses none); the levels spread over `o_redox_width_V` above it, and a discharge
    /// fills the O holes whose levels lie above its cut-off.
    /// Default 4.4 V, an assumption: O oxidation in Li-excess DRX sets in on the high-voltage
    /// slope above ~4.3–4.5 V (Lee et al., Nat. Commun. 8, 981 (2017); Seo et al. 2016), which
    /// is why lowering the cut-off is the usual way to limit O loss.
    #[serde(rename = "o_redox_voltage_V")]
    pub o_redox_voltage_v: f64,
    /// Spread of the O-redox levels above the onset, V: the labile O are oxidised one by one
    /// at voltages spread evenly over [`o_redox_voltage_V`, `o_redox_voltage_V` + this], so
    /// the O-redox capacity grows with the cut-off over that window (the sloping high-voltage
    /// region of Li-excess DRX). Default 0.4 V, an assumption: a 4.8 V cut-off reaches every
    /// labile O, as in the 1.5–4.8 V window of Lee et al., Nat. Commun. 8, 981 (2017).
    #[serde(rename = "o_redox_width_V")]
    pub o_redox_width_v: f64,
    /// How much lower an O hole is refilled on discharge than it was made on charge, V: the
    /// O-redox voltage hysteresis of Li-excess cathodes (charged on a ~4.5 V plateau,
    /// discharged on a slope ~1 V lower: R. A. House et al., Nature 577, 502 (2020); Lee et
    /// al., Nat. Commun. 8, 981 (2017) for Li1.2Mn0.4Ti0.4O2). Default 0.8 V; the size is an
    /// assumption. TM levels have none.
    #[serde(rename = "o_redox_hysteresis_V")]
    pub o_redox_hysteresis_v: f64,
    /// Mean voltage (vs Li/Li⁺) at which a TM in a given state gives one electron, keyed by
    /// the state oxidised ("Mn3+": Mn³⁺ → Mn⁴⁺), V. A charge to a cut-off oxidises only the
    /// levels at or below it, lowest first; a discharge reduces the levels above its cut-off,
    /// highest first. Defaults: assumptions placed in the couple ranges of oxides vs Li/Li⁺
    /// (J. B. Goodenough, Y. Kim, Chem. Mater. 22, 587 (2010); the DRX review of R. J.
    /// Clément, Z. Lun, G. Ceder, Energy Environ. Sci. 13, 345 (2020)): V³⁺ 2.6, V⁴⁺ 3.0,
    /// Mo³⁺ 2.6, Mo⁴⁺ 2.9, Mo⁵⁺ 3.1 (Mo⁴⁺/Mo⁶⁺ ≈ 3 V), Mn²⁺ 3.0, Mn³⁺ 3.6 (Mn²⁺/Mn⁴⁺
    /// 3–4 V), Fe²⁺ 3.0, Fe³⁺ 4.0, Ru³⁺ 3.4, Ru⁴⁺ 3.7, Cr³⁺–Cr⁵⁺ 4.0, Co²⁺ 3.8,
    /// Co³⁺ 4.2, Rh³⁺ 4.1, Ni²⁺ 4.0, Ni³⁺ 4.3 (Ni²⁺/Ni⁴⁺ 4–4.7 V), Cu⁺ 4.3, Cu²⁺ 4.6.
    /// States not listed take `default_redox_potential_V`.
    #[serde(rename = "redox_potential_V")]
    pub redox_potential_v: BTreeMap<String, f64>,
    /// Level of a TM state not in `redox_potential_V`, V. Default 3.5 V; an assumption.
    #[serde(rename = "default_redox_potential_V")]
    pub default_redox_potential_v: f64,
    /// Full width of the spread of each TM level over sites, V: every TM site's level lies
    /// uniformly within ± half of it around the mean (a quenched draw per site and state),
    /// the local-environment spread that makes DRX voltage curves slope. Default 0.5 V, an
    /// assumption: below the 0.6 V between the Mn²⁺ and Mn³⁺ levels, so an as-made Mn³⁺ is
    /// not split into Mn²⁺ + Mn⁴⁺ on discharge (two levels of one site never cross: a
    /// site's higher state is never oxidised below its lower one).
    #[serde(rename = "redox_width_V")]
    pub redox_width_v: f64,
    /// Order in which the redox-active TMs are oxidised on charge (reduced in reverse on
    /// discharge), TM symbols, ahead of the levels' voltages; the O levels come after every
    /// listed TM. Empty (default): the levels' voltages alone set the order, TM and O alike.
    pub redox_order: Vec<String>,
    /// Barrier of the dissolution of a reduced surface TM, eV: a TM in state 2+ (Mn²⁺, Ni²⁺,
    /// …) with at most `dissolution_max_anions` anion neighbours leaves the slab with one of
    /// its O neighbours (an MO unit, so charge and the rocksalt's one cation site per anion
    /// are kept; the site leaves with it). None (default): off. Mn²⁺ from the reduction of
    /// surface Mn next to O vacancies dissolves into the electrolyte of Mn-based cathodes
    /// (C. Zhan et al., Nat. Commun. 4, 2437 (2013), for spinel LiMn2O4); no barrier for a DRX surface
    /// is published to default to: 0.95 eV (an assumption) lets such a Mn²⁺ leave within an
    /// hour at 300 K.
    #[serde(rename = "dissolution_barrier_eV")]
    pub dissolution_barrier_ev: Option<f64>,
    /// Most anion neighbours (inside the slab, not vacancies) a TM may have and still
    /// dissolve. Default 4: a surface site (5 anions) next to an O vacancy, or a deeper site
    /// next to two; an assumption.
    pub dissolution_max_anions: u32,
    /// A TM path faster than this many hops per hold is equilibrated within the hold: its KRA
    /// barrier is raised to kT·ln(ν·t_hold/n), which keeps detailed balance and leaves at
    /// least n hops per path per hold. In the spirit of the barrier raising of fast processes
    /// of Chatterjee & Voter, J. Chem. Phys. 132, 194101 (2010), but applied to every path
    /// (not only to flickers inside a superbasin): species whose barriers all lie below the
    /// floor then move alike within a hold (see `tm_hops_equilibrated_cycle`). Default 10: a
    /// path that fires ten times in a hold has forgotten its start. Capacity, voltage and O
    /// loss do not depend on it beyond the seed spread, but the count of migrated TMs does:
    /// an uphill step of a raised path fires less than n times per hold, which holds back
    /// migrations over several sites. On an annealed 8×8×12 LMTO slab over 30 cycles (seed 1), n = 10,
    /// 100, 1000 gave 322, 503, 555 TMs migrated (O lost 0.052, 0.053, 0.051 per f.u.); the
    /// oxyfluoride kept growing up to n = 10⁵. Compare `tm_migrated` at equal settings only.
    pub equilibrated_hops: f64,
    /// Time-scale separation the Li-equilibrated rates need (R), as a ratio of the Li 0-TM
    /// hop rate Γ_Li to a TM path's rate. A TM path within R of Γ_Li does not see the Li as
    /// equilibrated: its Li-averaged rate overestimates it (measured against a brute-force
    /// joint kMC of explicit Li and TM hops in `joint_tests.rs`, hops counted over hops
    /// predicted, ±1σ: +0.6 ± 3.2 % at 1000, −5.7 ± 2.2 % at 100, −23 ± 1.9 % at 10). Such a
    /// path falls back to being equilibrated with the Li: in any step where Li fluctuate, a
    /// pair's E_KRA is raised (for the hop and its reverse alike, so detailed balance holds)
    /// until its faster direction runs at Γ_Li/R, R times slower than the Li. The pair keeps
    /// its equilibrium, and any hold longer than n·R/Γ_Li (n = `equilibrated_hops`; 16 µs at
    /// 300 K by default) still sees it fire n times; a shorter hold in which the fall-back
    /// raised a path is reported (`timescales_separated`). In the holds of a cycling protocol
    /// (seconds to hours) the hold's own floor, kT·ln(ν·t/n), lies far above the fall-back
    /// (0.75–0.95 eV against 0.43 eV + |ΔE|/2 at 300 K), so it changes nothing there; it acts
    /// in sub-millisecond holds, or for very steep downhill pairs. Γ_Li is the 0-TM hop rate:
    /// Li that relax only through 1-TM channels or out of F traps are slower, which this
    /// check does not see (an assumption). Default 1000; 0 turns the fall-back off (and a
    /// checkpoint written before this field existed reads as 0, as it ran).
    #[serde(default)]
    pub min_timescale_ratio: f64,
}

impl Default for DegradationModel {
    fn default() -> Self {
        let barriers = [
            ("Mn2+", 0.30),
            ("Mn3+", 0.67),
            ("Mn4+", 1.50),
            ("Ti4+", 0.87),
            ("Ni2+", 0.90),
            ("Ni3+", 1.20),
            ("Ni4+", 1.50),
            ("Nb5+", 1.20),
        ];
        let potentials = [
            ("V3+", 2.6),
            ("V4+", 3.0),
            ("Mo3+", 2.6),
            ("Mo4+", 2.9),
            ("Mo5+", 3.1),
            ("Mn2+", 3.0),
            ("Mn3+", 3.6),
            ("Fe2+", 3.0),
            ("Fe3+", 4.0),
            ("Ru3+", 3.4),
            ("Ru4+", 3.7),
            ("Cr3+", 4.0),
            ("Cr4+", 4.0),
            ("Cr5+", 4.0),
            ("Co2+", 3.8),
            ("Co3+", 4.2),
            ("Rh3+", 4.1),
            ("Ni2+", 4.0),
            ("Ni3+", 4.3),
            ("Cu1+", 4.3),
            ("Cu2+", 4.6),
        ];
        DegradationModel {
            attempt_frequency_hz: 1e13,
            migration_barrier_ev: barriers.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            default_migration_barrier_ev: 1.5,
            tetrahedral_energy_ev: BTreeMap::new(),
            spectator_li_ev: 0.10,
            electroneutrality_ev: 0.005,
            o_loss_barrier_ev: 0.95,
            o_loss_tm_neighbour_ev: 0.10,
            o_loss_depth_nm: 2.0,
            labile_o_max_tm: 1,
            o_redox_voltage_v: 4.4,
            o_redox_width_v: 0.4,
            o_redox_hysteresis_v: 0.8,
            redox_potential_v: potentials.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            default_redox_potential_v: 3.5,
            redox_width_v: 0.5,
            redox_order: Vec::new(),
            dissolution_barrier_ev: None,
            dissolution_max_anions: 4,
            equilibrated_hops: 10.0,
            min_timescale_ratio: 1000.0,
        }
    }
}

/// A key of `migration_barrier_eV`: element symbol and a charge 1..=8, e.g. "Mn2+".
pub fn parse_species_state(key: &str) -> Option<(&str, i8)> {
    let body = key.strip_suffix('+')?;
    let split = body.find(|c: char| c.is_ascii_digit())?;
    let (symbol, charge) = body.split_at(split);
    let charge: i8 = charge.parse().ok()?;
    let ok_symbol = symbol.len() <= 2
        && symbol.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && symbol.chars().skip(1).all(|c| c.is_ascii_lowercase());
    (ok_symbol && (1..=8).contains(&charge)).then_some((symbol, charge))
}

/// A "Mn2+"-style key of a supported cation, or an error naming `field`.
fn require_species_state(field: &str, key: &str) -> Result<()> {
    let cations = crate::composition::cation_symbols();
    match parse_species_state(key) {
        Some((symbol, _)) if cations.contains(&symbol) => Ok(()),
        Some((symbol, _)) => Err(Error::invalid(
            field,
            format!("{symbol:?} (in {key:?}) is not a supported cation ({})", cations.join(", ")),
        )),
        None => Err(Error::invalid(field, format!("keys are an element and its charge such as \"Mn2+\", got {key:?}"))),
    }
}

/// A voltage vs Li/Li⁺ within `VOLTAGE_RANGE_V`, or an error naming `field`.
fn require_voltage(field: &str, v: f64) -> Result<()> {
    let (lo, hi) = VOLTAGE_RANGE_V;
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("must be between {lo} and {hi} V vs Li/Li⁺, got {v}")))
    }
}

impl DegradationModel {
    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = ATTEMPT_FREQUENCY_RANGE_HZ;
        if !(lo..=hi).contains(&self.attempt_frequency_hz) {
            return Err(Error::invalid(
                "attempt_frequency_hz",
                format!("must be between {lo:e} and {hi:e} s⁻¹, got {:e}", self.attempt_frequency_hz),
            ));
        }
        for (key, &e) in &self.migration_barrier_ev {
            require_species_state("migration_barrier_eV", key)?;
            require_non_negative("migration_barrier_eV", e)?;
        }
        for (key, &e) in &self.tetrahedral_energy_ev {
            require_species_state("tetrahedral_energy_eV", key)?;
            if !(e.abs() <= MAX_TETRAHEDRAL_ENERGY_EV) {
                return Err(Error::invalid(
                    "tetrahedral_energy_eV",
                    format!("{key}: must be between -{MAX_TETRAHEDRAL_ENERGY_EV} and {MAX_TETRAHEDRAL_ENERGY_EV} eV, got {e}"),
                ));
            }
        }
        let (lo, hi) = VOLTAGE_RANGE_V;
        for (key, &v) in &self.redox_potential_v {
            require_species_state("redox_potential_V", key)?;
            require_voltage("redox_potential_V", v)?;
        }
        require_voltage("default_redox_potential_V", self.default_redox_potential_v)?;
        for (field, w) in [
            ("redox_width_V", self.redox_width_v),
            ("o_redox_width_V", self.o_redox_width_v),
            ("o_redox_hysteresis_V", self.o_redox_hysteresis_v),
        ] {
            if !(0.0..=hi - lo).contains(&w) {
                return Err(Error::invalid(field, format!("must be between 0 and {} V, got {w}", hi - lo)));
            }
        }
        require_non_negative("default_migration_barrier_eV", self.default_migration_barrier_ev)?;
        require_non_negative("spectator_li_eV", self.spectator_li_ev)?;
        require_non_negative("electroneutrality_eV", self.electroneutrality_ev)?;
        require_non_negative("o_loss_barrier_eV", self.o_loss_barrier_ev)?;
        require_non_negative("o_loss_tm_neighbour_eV", self.o_loss_tm_neighbour_ev)?;
        for (k, name) in self.redox_order.iter().enumerate() {
            if self.redox_order[..k].contains(name) {
                return Err(Error::invalid("redox_order", format!("lists {name:?} twice")));
            }
        }
        require_non_negative("o_loss_depth_nm", self.o_loss_depth_nm)?;
        require_voltage("o_redox_voltage_V", self.o_redox_voltage_v)?;
        if let Some(e) = self.dissolution_barrier_ev {
            require_non_negative("dissolution_barrier_eV", e)?;
        }
        if self.dissolution_max_anions > 6 {
            return Err(Error::invalid(
                "dissolution_max_anions",
                format!("a cation has six anion neighbours; must be 0..6, got {}", self.dissolution_max_anions),
            ));
        }
        if self.labile_o_max_tm > 6 {
            return Err(Error::invalid(
                "labile_o_max_tm",
                format!("an O has six cation neighbours; must be 0..6, got {}", self.labile_o_max_tm),
            ));
        }
        if self.equilibrated_hops < 1.0 || !self.equilibrated_hops.is_finite() {
            return Err(Error::invalid(
                "equilibrated_hops",
                format!("must be a finite number >= 1, got {}", self.equilibrated_hops),
            ));
        }
        if !(self.min_timescale_ratio >= 0.0 && self.min_timescale_ratio.is_finite()) {
            return Err(Error::invalid(
                "min_timescale_ratio",
                format!("must be a finite number >= 0 (0: no fall-back), got {}", self.min_timescale_ratio),
            ));
        }
        Ok(())
    }

    /// The barrier of a TM `symbol` in state `charge`, eV.
    pub fn migration_barrier(&self, symbol: &str, charge: i8) -> f64 {
        self.migration_barrier_ev
            .get(&format!("{symbol}{charge}+"))
            .copied()
            .unwrap_or(self.default_migration_barrier_ev)
    }

    /// The tetrahedral-site energy of a TM `symbol` in state `charge` (None: the tetrahedron
    /// is only a transition state for it), eV.
    pub fn tetrahedral_energy(&self, symbol: &str, charge: i8) -> Option<f64> {
        self.tetrahedral_energy_ev.get(&format!("{symbol}{charge}+")).copied()
    }

    /// The mean level at which a TM `symbol` in state `charge` is oxidised, V.
    pub fn redox_potential(&self, symbol: &str, charge: i8) -> f64 {
        self.redox_potential_v.get(&format!("{symbol}{charge}+")).copied().unwrap_or(self.default_redox_potential_v)
    }

    /// A model with every event off (barriers so high that nothing happens in any run):
    /// the reference for "no degradation" tests.
    pub fn inert() -> Self {
        DegradationModel {
            migration_barrier_ev: BTreeMap::new(),
            default_migration_barrier_ev: 100.0,
            o_loss_barrier_ev: 100.0,
            ..DegradationModel::default()
        }
    }
}

/// One charge–discharge cycle: charge to `charge_cutoff_V` (or to the redox limit), hold
/// `charge_time_s` at the charged state, discharge to `discharge_cutoff_V`, hold
/// `discharge_time_s`. Structural events run during the two holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclingProtocol {
    /// Upper cut-off voltage, V vs Li/Li⁺. Default 4.8 V: the window 1.5–4.8 V used for
    /// Li1.2Mn0.4Ti0.4O2 (Lee et al., Nat. Commun. 8, 981 (2017)).
    #[serde(rename = "charge_cutoff_V")]
    pub charge_cutoff_v: f64,
    /// Lower cut-off voltage, V. Default 1.5 V (same source).
    #[serde(rename = "discharge_cutoff_V")]
    pub discharge_cutoff_v: f64,
    /// Time at the charged state per cycle, s. Default 3600 s: about the high-voltage part of
    /// a C/10 charge; an assumption.
    pub charge_time_s: f64,
    /// Time at the discharged state per cycle, s. Default 3600 s; an assumption.
    pub discharge_time_s: f64,
    /// Largest charge capacity per cycle, mAh/g (of the as-made material): charge also stops
    /// there (a capacity-limited protocol). None (default): the voltage cut-off and the redox
    /// limits alone decide.
    #[serde(rename = "charge_capacity_limit_mAh_g")]
    pub charge_capacity_limit_mah_g: Option<f64>,
    /// Charge and discharge current, mA/g of the as-made material. None (default): each
    /// step is an equilibrium at its cut-off, reached at once, and the structural events
    /// run only in the holds. With a current, a step moves Li in increments of at most
    /// `CURRENT_INCREMENT_MAH_G`, each taking increment / current hours, and the events run at
    /// every intermediate state for that long, so a slower current spends longer at high
    /// states of charge. Galvanostatic tests of DRX use 10–20 mA/g (Lee et al., Science 343,
    /// 519 (2014); Lee et al., Nat. Commun. 8, 981 (2017)).
    #[serde(rename = "current_mA_g")]
    pub current_ma_g: Option<f64>,
    /// Temperature, K. Default 300 K.
    #[serde(rename = "temperature_K")]
    pub temperature_k: f64,
    /// Time scale of the Li network (which paths carry Li during a step), s. Default 3600 s,
    /// as for equilibrium starts.
    pub li_timescale_s: f64,
}

impl Default for CyclingProtocol {
    fn default() -> Self {
        CyclingProtocol {
            charge_cutoff_v: 4.8,
            discharge_cutoff_v: 1.5,
            charge_time_s: 3600.0,
            discharge_time_s: 3600.0,
            charge_capacity_limit_mah_g: None,
            current_ma_g: None,
            temperature_k: 300.0,
            li_timescale_s: 3600.0,
        }
    }
}

/// Largest |tetrahedral_energy_eV| accepted, eV: beyond it a tetrahedral state is never
/// visited (or never left) at any temperature a cathode sees.
pub const MAX_TETRAHEDRAL_ENERGY_EV: f64 = 1000.0;

/// Largest current accepted, mA/g.
pub const MAX_CURRENT_MA_G: f64 = 1e6;
/// Most capacity moved between two event runs of a step at a current, mAh/g: fine enough to
/// follow the voltage curve (a DRX charge is 200–300 mAh/g), coarse enough to keep the Li
/// network recomputations few.
pub const CURRENT_INCREMENT_MAH_G: f64 = 5.0;

/// Longest hold accepted, s (30 years).
pub const MAX_HOLD_S: f64 = 1e9;
/// Highest cycling temperature accepted, K: the barrier-raising and Li-equilibrium
/// approximations are for a solid electrode, and DRX oxides lose O and decompose well below.
pub const MAX_TEMPERATURE_K: f64 = 1500.0;

/// Voltages a Li cathode can be cycled in, V vs Li/Li⁺ (beyond 6 V every electrolyte and
/// oxide decomposes; below 0 V Li plates).
pub const VOLTAGE_RANGE_V: (f64, f64) = (0.0, 6.0);

impl CyclingProtocol {
    pub fn validate(&self) -> Result<()> {
        require_voltage("charge_cutoff_V", self.charge_cutoff_v)?;
        require_voltage("discharge_cutoff_V", self.discharge_cutoff_v)?;
        if self.discharge_cutoff_v >= self.charge_cutoff_v {
            return Err(Error::invalid(
                "discharge_cutoff_V",
                format!(
                    "must be below charge_cutoff_V ({} V), got {} V",
                    self.charge_cutoff_v, self.discharge_cutoff_v
                ),
            ));
        }
        for (field, t) in [("charge_time_s", self.charge_time_s), ("discharge_time_s", self.discharge_time_s)] {
            require_non_negative(field, t)?;
            if t > MAX_HOLD_S {
                return Err(Error::invalid(field, format!("must be at most {MAX_HOLD_S:e} s (30 years), got {t:e}")));
            }
        }
        if let Some(q) = self.charge_capacity_limit_mah_g {
            require_positive("charge_capacity_limit_mAh_g", q)?;
        }
        if let Some(i) = self.current_ma_g {
            require_positive("current_mA_g", i)?;
            if i > MAX_CURRENT_MA_G {
                return Err(Error::invalid(
                    "current_mA_g",
                    format!(
                        "must be at most {MAX_CURRENT_MA_G:e} mA/g (a full charge in well under a second), got {i:e}"
                    ),
                ));
            }
            // Each increment's hold must fit the longest hold accepted.
            if CURRENT_INCREMENT_MAH_G / i * 3600.0 > MAX_HOLD_S {
                return Err(Error::invalid(
                    "current_mA_g",
                    format!("{i:e} mA/g is so small that one {CURRENT_INCREMENT_MAH_G} mAh/g increment lasts beyond {MAX_HOLD_S:e} s"),
                ));
            }
        }
        require_positive("temperature_K", self.temperature_k)?;
        if self.temperature_k > MAX_TEMPERATURE_K {
            return Err(Error::invalid(
                "temperature_K",
                format!(
                    "must be at most {MAX_TEMPERATURE_K} K (a cathode is cycled below ~400 K and the oxide \
                     decomposes far below this), got {}",
                    self.temperature_k
                ),
            ));
        }
        require_positive("li_timescale_s", self.li_timescale_s)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_order_mobility() {
        let m = DegradationModel::default();
        m.validate().unwrap();
        CyclingProtocol::default().validate().unwrap();
        let b = |s, q| m.migration_barrier(s, q);
        assert!(b("Mn", 2) < b("Mn", 3) && b("Mn", 3) < b("Ti", 4) && b("Ti", 4) < b("Mn", 4));
        assert_eq!(b("Co", 3), m.default_migration_barrier_ev);
    }

    #[test]
    fn species_keys_parse() {
        assert_eq!(parse_species_state("Mn2+"), Some(("Mn", 2)));
        assert_eq!(parse_species_state("V5+"), Some(("V", 5)));
        for bad in ["Mn", "mn2+", "Mn9+", "Mn0+", "2+", "Mnn2+", "Mn2"] {
            assert_eq!(parse_species_state(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut m = DegradationModel::default();
        m.migration_barrier_ev.insert("Mn".into(), 0.3);
        assert_eq!(m.validate().unwrap_err().field(), "migration_barrier_eV");
        let m = DegradationModel { equilibrated_hops: 0.5, ..DegradationModel::default() };
        assert_eq!(m.validate().unwrap_err().field(), "equilibrated_hops");
        for (key, e) in [("Mn2", 0.0), ("Xx2+", 0.0), ("Mn2+", f64::NAN), ("Mn2+", 2e3)] {
            let mut m = DegradationModel::default();
            m.tetrahedral_energy_ev.insert(key.into(), e);
            assert_eq!(m.validate().unwrap_err().field(), "tetrahedral_energy_eV", "{key} {e}");
        }
        let p = CyclingProtocol { charge_time_s: -1.0, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "charge_time_s");
        let p = CyclingProtocol { discharge_cutoff_v: 4.9, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "discharge_cutoff_V");
        let p = CyclingProtocol { charge_cutoff_v: f64::NAN, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "charge_cutoff_V");
    }
}
