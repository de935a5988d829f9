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
    /// O⁻) once every TM is at the top of its range, and only labile, oxidised O can leave.
    /// Default 1 (five or six Li/vacancy neighbours), an assumption: O redox comes from O in
    /// Li-rich environments with Li–O–Li configurations (Seo et al., Nat. Chem. 8, 692
    /// (2016); an O with up to four TM neighbours can have one, so this is the strict end),
    /// which fluorination takes away (F prefers the Li-rich sites). The O-redox capacity is
    /// the number of labile O of the as-made cell, less those lost.
    pub labile_o_max_tm: u32,
    /// Voltage above which O redox takes part, V vs Li/Li⁺: a charge to a lower cut-off
    /// oxidises no O (and loses none), and O holes are filled only below it on discharge.
    /// Default 4.4 V, an assumption: O oxidation in Li-excess DRX sets in on the high-voltage
    /// slope above ~4.3–4.5 V (Lee et al., Nat. Commun. 8, 981 (2017); Seo et al. 2016), which
    /// is why lowering the cut-off is the usual way to limit O loss.
    #[serde(rename = "o_redox_voltage_V")]
    pub o_redox_voltage_v: f64,
    /// Order in which the redox-active TMs are oxidised on charge (reduced in reverse on
    /// discharge), TM symbols. Empty (default): drxkmc's redox order by couple voltage
    /// (`composition::REDOX_ORDER`: V, Mo, Mn, Fe, Ru, Cr, Co, Rh, Ni, Cu).
    pub redox_order: Vec<String>,
    /// A TM path faster than this many hops per hold is equilibrated within the hold: its KRA
    /// barrier is raised to kT·ln(ν·t_hold/n), which keeps detailed balance and leaves at
    /// least n hops per path per hold. In the spirit of the barrier raising of fast processes
    /// of Chatterjee & Voter, J. Chem. Phys. 132, 194101 (2010), but applied to every path
    /// (not only to flickers inside a superbasin): species whose barriers all lie below the
    /// floor then move alike within a hold (see `tm_hops_equilibrated_cycle`). Default 10: a path that fires ten times in a hold
    /// has forgotten its start; 100 follows fast TMs more closely at ~6× the cost and gave the
    /// same O loss and migrated-TM counts within 15 % on a 12×12×19 LMTO slab over 10 cycles.
    pub equilibrated_hops: f64,
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
        DegradationModel {
            attempt_frequency_hz: 1e13,
            migration_barrier_ev: barriers.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            default_migration_barrier_ev: 1.5,
            spectator_li_ev: 0.10,
            electroneutrality_ev: 0.005,
            o_loss_barrier_ev: 0.95,
            o_loss_tm_neighbour_ev: 0.10,
            o_loss_depth_nm: 2.0,
            labile_o_max_tm: 1,
            o_redox_voltage_v: 4.4,
            redox_order: Vec::new(),
            equilibrated_hops: 10.0,
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
        let cations = crate::composition::cation_symbols();
        for (key, &e) in &self.migration_barrier_ev {
            match parse_species_state(key) {
                Some((symbol, _)) if cations.contains(&symbol) => {}
                Some((symbol, _)) => {
                    return Err(Error::invalid(
                        "migration_barrier_eV",
                        format!("{symbol:?} (in {key:?}) is not a supported cation ({})", cations.join(", ")),
                    ))
                }
                None => {
                    return Err(Error::invalid(
                        "migration_barrier_eV",
                        format!("keys are an element and its charge such as \"Mn2+\", got {key:?}"),
                    ))
                }
            }
            require_non_negative("migration_barrier_eV", e)?;
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
        let (lo, hi) = VOLTAGE_RANGE_V;
        if !(lo..=hi).contains(&self.o_redox_voltage_v) {
            return Err(Error::invalid(
                "o_redox_voltage_V",
                format!("must be between {lo} and {hi} V vs Li/Li⁺, got {}", self.o_redox_voltage_v),
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
        Ok(())
    }

    /// The barrier of a TM `symbol` in state `charge`, eV.
    pub fn migration_barrier(&self, symbol: &str, charge: i8) -> f64 {
        self.migration_barrier_ev
            .get(&format!("{symbol}{charge}+"))
            .copied()
            .unwrap_or(self.default_migration_barrier_ev)
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
    /// Temperature, K. Default 300 K.
    #[serde(rename = "temperature_K")]
    pub temperature_k: f64,
    /// Voltage at which a Li site of energy 0 is half full, V: the model's site energies have
    /// no absolute reference (see `drxkmc.electrochem`). Default 3.5 V, an assumption.
    #[serde(rename = "reference_voltage_V")]
    pub reference_voltage_v: f64,
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
            temperature_k: 300.0,
            reference_voltage_v: 3.5,
            li_timescale_s: 3600.0,
        }
    }
}

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
        let (lo, hi) = VOLTAGE_RANGE_V;
        for (field, v) in [("charge_cutoff_V", self.charge_cutoff_v), ("discharge_cutoff_V", self.discharge_cutoff_v)] {
            if !(lo..=hi).contains(&v) {
                return Err(Error::invalid(field, format!("must be between {lo} and {hi} V vs Li/Li⁺, got {v}")));
            }
        }
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
        if !(self.reference_voltage_v > lo && self.reference_voltage_v < hi) {
            return Err(Error::invalid(
                "reference_voltage_V",
                format!("must be between {lo} and {hi} V, got {}", self.reference_voltage_v),
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
        let p = CyclingProtocol { charge_time_s: -1.0, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "charge_time_s");
        let p = CyclingProtocol { discharge_cutoff_v: 4.9, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "discharge_cutoff_V");
        let p = CyclingProtocol { charge_cutoff_v: f64::NAN, ..CyclingProtocol::default() };
        assert_eq!(p.validate().unwrap_err().field(), "charge_cutoff_V");
    }
}
