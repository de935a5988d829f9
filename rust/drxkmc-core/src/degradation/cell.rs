//! The state of a cycled slab and its structural events: TM migration and O loss, run by
//! residence-time kMC on Li-equilibrated rates.
//!
//! Li is fast (ns) and the structural events slow (ms to years), so between two events the Li
//! are in equilibrium with the electrode (quasi-equilibrium / multi-timescale kMC). In the
//! barrier model Li interact only through site energies, so that equilibrium is exact and
//! local: a site on the accessible network (connected to a surface on the Li time scale) holds
//! Li with the Fermi–Dirac probability p_i = 1/(1 + exp((E_i − μ)/kT)); a site off it keeps
//! the Li it had. Event rates use these probabilities (a TM needs its target empty, 1 − p_B;
//! Li on its spectators raise its barrier, averaged as Π(1 − p + p·e^(−δ/kT))); the one
//! configuration kept in the grid is an exact sample of the same equilibrium, drawn with a
//! uniform number fixed per site (u_i): site i holds Li when μ > θ_i = E_i + kT·ln(1/u_i − 1),
//! which happens with probability p_i. So the same structure at the same μ always gives the
//! same Li arrangement (zero degradation gives identical cycles), and a change of μ or of one
//! site's energy changes only the sites it must.
//!
//! Within one step of the protocol (charge hold or discharge hold) the accessible network,
//! the Li site energies and μ are those at the step's start; a TM that moves takes the two
//! sites it touches off the network until the next step.
//!
//! With `tetrahedral_energy_eV` set, a TM of a listed species/state can also rest in one of
//! the 8 tetrahedra around its octahedron (octahedral → tetrahedral and back as events of
//! their own, in the KRA form with the o-t-o barrier); while there its four face-sharing
//! octahedra hold nothing and block Li and TM paths like lost sites. Such TMs live in the
//! configuration's tetrahedral list; their exits have a sum tree of their own, so that with
//! none possible every rate and draw is what it is without the option.
//!
//! Charge bookkeeping: Li⁺, TMⁿ⁺ (per-site valence), O²⁻, F⁻, Cl⁻, and O holes (O-redox
//! electrons removed, one positive charge each) sum to zero after every event; O leaves as
//! neutral O, its two electrons reducing the TMs around its vacancy first.

use super::model::{CyclingProtocol, DegradationModel, CURRENT_INCREMENT_MAH_G};
use crate::composition::Composition;
use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{Geometry, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS, PATHS};
use crate::model::{BarrierModel, BOLTZMANN_EV_PER_K};
use crate::percolation::{analyze, BondRule, Criterion};
use crate::random::{keyed_unit, unit, unit_open0};
use crate::site_energy::site_energies;
use crate::tree::{pick, SumTree};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BinaryHeap};

/// How a TM kind takes part in redox and migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TmKind {
    pub symbol: String,
    /// Lowest and highest integer oxidation state on cycling.
    pub min: i8,
    pub max: i8,
    /// Place in the oxidation order, ahead of the levels' voltages (`usize::MAX`: fixed
    /// valence).
    pub rank: usize,
    /// Mean level of the oxidation from each state 0..=8 to the next, V vs Li/Li⁺.
    pub potential: [f64; 9],
    /// KRA barrier of a hop by valence 0..=8, eV.
    pub barrier: [f64; 9],
    /// Tetrahedral-site energy by valence 0..=8 (None: the tetrahedron is only a transition
    /// state for that state), eV.
    #[serde(default, skip_serializing_if = "no_tetrahedral_state")]
    pub tetrahedral: [Option<f64>; 9],
}

fn no_tetrahedral_state(t: &[Option<f64>; 9]) -> bool {
    t.iter().all(Option::is_none)
}

/// Salt of the per-site uniform numbers of the Li sample and of the TM priorities.
const LI_SAMPLE_KEY: u64 = 0x4c69_5f73_616d_706c;
const PRIORITY_KEY: u64 = 0x5052_494f_5249_5459;
const LEVEL_KEY: u64 = 0x4c45_5645_4c5f_7370;

/// What is kept of a cycling run between cycles (everything else is derived from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellState {
    pub(crate) config: Configuration,
    pub(crate) barrier: BarrierModel,
    pub(crate) model: DegradationModel,
    pub(crate) protocol: CyclingProtocol,
    pub(crate) kinds: Vec<TmKind>,
    /// Original cation index of the TM on each cation site (`u32::MAX` on other sites); a TM
    /// that started on tetrahedron t has the index n_cations + t.
    pub(crate) origin: Vec<u32>,
    /// The same for the TMs on tetrahedral sites, by tetrahedron.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tet_origin: BTreeMap<u32, u32>,
    /// Cation sites lost to densification: one per O released, the rocksalt keeping one
    /// cation site per anion (Li_x M_(2−x) O_2 losing δ O becomes a rocksalt of 2 − δ sites
    /// with Li excess x_eff = 2(x − δ)/(2 − δ)). A lost site holds nothing and blocks Li and
    /// TM paths like a TM.
    pub(crate) collapsed: Vec<bool>,
    /// O-redox holes in the cell.
    pub(crate) holes: i64,
    /// Charge of the as-built cell that no redox can remove (e): what rounding a finite
    /// cell's species counts leaves, at most a few e; kept constant, so "neutral" means the
    /// total charge equals it.
    pub(crate) charge_offset: i64,
    /// Most O-redox holes allowed.
    pub(crate) max_holes: i64,
    /// Formula units in the cell.
    pub(crate) formula_units: f64,
    /// Capacity of one electron per formula unit, mAh/g (of the as-made material).
    pub(crate) mah_g_per_electron: f64,
    pub(crate) seed: u64,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) time_s: f64,
    pub(crate) cycle: u32,
    /// O released as gas (O loss), and TMs dissolved (each with one O).
    pub(crate) o_lost: u64,
    pub(crate) tm_dissolved: u64,
    /// Discharge capacity of the first cycle, mAh/g (NaN before it).
    pub(crate) first_discharge_mah_g: f64,
    /// The material (its redox windows and mass).
    pub(crate) composition: Composition,
    /// Every completed cycle's record and end-of-cycle depth profile.
    pub(crate) records: Vec<CycleRecord>,
    pub(crate) profiles: Vec<DepthProfile>,
    /// Diffusivities measured after some cycles (`probe`), by cycle; absent from the files
    /// of runs that measured none, so their checkpoints are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) diffusivity: Vec<super::probe::DiffusivityRecord>,
    /// Every completed cycle's events by kind and species (none in a checkpoint written
    /// before the log existed).
    #[serde(default)]
    pub(crate) events: Vec<EventCount>,
}

/// Per-step work arrays, rebuilt at the start of every step.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepWork {
    pub(crate) kt: f64,
    pub(crate) mu: f64,
    /// Li site energy of every cation site at the step's start, eV.
    pub(crate) energy: Vec<f64>,
    /// Whether each cation site is on the accessible network.
    pub(crate) accessible: Vec<bool>,
    /// Equilibrium Li probability of every cation site.
    pub(crate) li_prob: Vec<f64>,
    /// Summed charge of the cation neighbours of every anion (Li at its probability).
    pub(crate) anion_q: Vec<f64>,
    /// Event rates: TM hops by cation index, then O loss by anion index, s⁻¹.
    pub(crate) rate: Vec<f64>,
    pub(crate) tree: Option<SumTree>,
    /// Lowest KRA barrier a TM hop may have in this step (fast paths equilibrated), eV.
    pub(crate) floor_ev: f64,
    /// The time-scale fall-back (`min_timescale_ratio` R): in a step where Li fluctuate, a
    /// pair's E_KRA is at least this plus |ΔE|/2, so its faster direction runs at most at
    /// Γ_Li/R, eV (−∞: off).
    pub(crate) separation_floor_ev: f64,
    /// Whether any Li occupancy fluctuates in this step (else no rate depends on Li timing).
    pub(crate) li_fluctuates: bool,
    /// Whether the fall-back raised a path above the hold's floor in this step.
    pub(crate) fell_back: bool,
    /// Fraction of O oxidised (holes per O present), in this step.
    pub(crate) hole_fraction: f64,
    /// exp(−δ/kT) for Li on a TM hop's spectators.
    pub(crate) spectator_factor: f64,
    /// cosh(m·J·v/kT) − 1 by valence v and m = 0..4: a Li whose site neighbours m more of the
    /// anions a TM hop joins than of those it leaves (see `li_fluctuation_factor`).
    pub(crate) fluctuation_cosh: [[f64; 5]; 9],
    /// Fastest TM path rate seen in this step at its own barrier (before any raising), s⁻¹;
    /// 0 in a step where no Li fluctuate (nothing to separate from).
    pub(crate) max_tm_rate: f64,
    pub(crate) events_since_rebuild: u64,
    /// Visit stamps for the local refresh.
    pub(crate) stamp: Vec<u32>,
    pub(crate) stamp_now: u32,
    /// With tetrahedral TMs possible (`tetrahedral_energy_eV` set, or some present): how many
    /// occupied tetrahedra share a face with each cation site, and the exit rate of each
    /// occupied tetrahedron (by grid index of its cube) with its own sum tree; empty (None)
    /// otherwise.
    pub(crate) tet_blocked: Vec<u8>,
    pub(crate) tet_rate: Vec<f64>,
    pub(crate) tet_tree: Option<SumTree>,
}

/// Counts of one cycle's events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    /// Events by kind, species code and valence before the event (0 for O):
    /// (all, on a raised barrier).
    pub(crate) by_kind: BTreeMap<(EventKind, u8, i8), (u64, u64)>,
    pub(crate) tm_hops: u64,
    pub(crate) tm_hops_raised: u64,
    pub(crate) o_lost: u64,
    pub(crate) tm_dissolved: u64,
    /// Fastest TM path seen at its own barrier where Li fluctuate, s⁻¹.
    pub(crate) max_tm_rate: f64,
    /// Holds in which a path fell back to the Li time scale but the hold was too short for
    /// it to fire `equilibrated_hops` times (neither separated nor equilibrated).
    pub(crate) unseparated_holds: u64,
}

impl Counts {
    fn tally(&mut self, kind: EventKind, code: u8, valence: i8, n: u64, raised: bool) {
        let entry = self.by_kind.entry((kind, code, valence)).or_default();
        entry.0 += n;
        entry.1 += n * raised as u64;
    }
}

/// A kind of structural event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TmHop,
    OLoss,
    Dissolution,
}

/// The event log of a cycle, summed: how many events of one kind happened to one species
/// (a TM as "Mn2+", in its state before the event; "O" for O loss), and how many of them ran
/// on a raised (equilibrated) barrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCount {
    pub cycle: u32,
    pub event: EventKind,
    pub species: String,
    pub count: u64,
    pub equilibrated: u64,
}

/// The moves of one TM: its 24 o-t-o paths (`PathRates`), or its tetrahedral moves
/// (`TetRates`: into the 8 tetrahedra around its octahedron, or out of its tetrahedron into
/// its 4 face-sharing octahedra, the first 4 entries).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MoveRates<const N: usize> {
    /// Rate of each move as the run uses it, s⁻¹ (0: closed).
    pub(crate) rate: [f64; N],
    /// Whether each move's barrier was raised (equilibrated within the hold, or by the
    /// time-scale fall-back).
    pub(crate) raised: [bool; N],
    /// The fastest move's rate at its own barrier (no raising), s⁻¹.
    pub(crate) own_max: f64,
    /// Whether the time-scale fall-back raised a move above the hold's floor.
    pub(crate) fell_back: bool,
}

impl<const N: usize> MoveRates<N> {
    pub(crate) const CLOSED: Self = MoveRates { rate: [0.0; N], raised: [false; N], own_max: 0.0, fell_back: false };
    pub(crate) fn sum(&self) -> f64 {
        self.rate.iter().sum()
    }
    /// Move `k` as `kra_rate` gives it: (rate, raised, rate at its own barrier, fell back).
    fn set(&mut self, k: usize, (rate, raised, own, fell_back): (f64, bool, f64, bool)) {
        self.rate[k] = rate;
        self.raised[k] = raised;
        self.own_max = self.own_max.max(own);
        self.fell_back |= fell_back;
    }
}

pub(crate) type PathRates = MoveRates<24>;
pub(crate) type TetRates = MoveRates<8>;

/// Offset of the lowest corner of the `k`-th (0..8) tetrahedron around an octahedron.
fn entry_cube(k: usize) -> [i8; 3] {
    [(k & 1) as i8 - 1, (k >> 1 & 1) as i8 - 1, (k >> 2 & 1) as i8 - 1]
}

/// One cycle's results. Capacities in mAh/g of the as-made material. Field names are the
/// columns of the Python frame, units spelled as there.
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub cycle: u32,
    /// Simulated time at the end of the cycle, s.
    pub time_s: f64,
    pub charge_capacity_mAh_g: f64,
    pub discharge_capacity_mAh_g: f64,
    /// Li per formula unit at the end of charge and of discharge.
    pub li_per_fu_charged: f64,
    pub li_per_fu_discharged: f64,
    /// The voltage charge and discharge stopped at: the cut-off, or for a capacity-limited
    /// charge the higher of the Li side's voltage and the last level oxidised, V.
    pub end_of_charge_V: f64,
    pub end_of_discharge_V: f64,
    /// What stopped charge and discharge: "redox" (no TM or O level left between the start
    /// and the cut-off), "voltage" (the Li site energies at the cut-off), "li" (no reachable
    /// Li left to remove, or no reachable empty site to fill), "capacity"
    /// (`charge_capacity_limit_mAh_g`).
    pub charge_limited_by: Limit,
    pub discharge_limited_by: Limit,
    /// Mean redox level of the electrons moved on charge and on discharge (NaN: none), V:
    /// the redox part of the average voltage; its fall over cycles is voltage fade.
    pub mean_charge_voltage_V: f64,
    pub mean_discharge_voltage_V: f64,
    /// Discharge capacity × mean discharge voltage, Wh/kg of the as-made material.
    pub discharge_energy_Wh_kg: f64,
    /// Li on the accessible network over all Li, discharged state.
    pub accessible_li_fraction: f64,
    /// Li on 0-TM clusters that reach a surface over all Li, discharged state.
    pub zero_tm_li_fraction: f64,
    /// O lost since the start, per formula unit; and in this cycle, atoms.
    pub o_lost_per_fu: f64,
    pub o_lost_cycle: u64,
    /// TM hops in this cycle, and how many of them ran on an equilibrated (raised) barrier.
    pub tm_hops_cycle: u64,
    pub tm_hops_equilibrated_cycle: u64,
    /// TMs not on their as-made site.
    pub tm_migrated: u64,
    /// Cation sites lost to densification since the start, per formula unit.
    pub cation_sites_lost_per_fu: f64,
    /// TMs dissolved since the start, per formula unit, and in this cycle (atoms): 0 unless
    /// `dissolution_barrier_eV` is set.
    pub tm_dissolved_per_fu: f64,
    pub tm_dissolved_cycle: u64,
    /// TMs on tetrahedral sites at the end of the cycle (always 0 unless
    /// `tetrahedral_energy_eV` is set or the run started with some).
    pub tm_tetrahedral: u64,
    /// Mean oxidation state of the redox-active TMs at the end of charge and of discharge.
    pub mean_tm_valence_charged: f64,
    pub mean_tm_valence_discharged: f64,
    /// O-redox holes per formula unit at the end of charge.
    pub o_holes_per_fu_charged: f64,
    /// Depth of the densified surface layer: down to the deepest plane with ≥ 1/6 of its
    /// cation sites lost (so ≥ 1.2× the as-made TM per site), mean of both surfaces, nm.
    pub densified_depth_nm: f64,
    /// Li 0-TM hop rate over the fastest TM path rate at its own (unraised) barrier seen
    /// this cycle where Li fluctuate (∞: none): how far apart the physical time scales are.
    /// Paths below `min_timescale_ratio` were raised, by the hold's floor (in holds of
    /// seconds and more) or else by the time-scale fall-back.
    pub li_tm_rate_ratio: f64,
    /// False when a hold was too short for the fall-back: a TM path as fast as the Li was
    /// neither separated from them nor equilibrated within the hold (true in records
    /// written before the flag existed, which had no fall-back to flag).
    #[serde(default = "separated")]
    pub timescales_separated: bool,
}

fn separated() -> bool {
    true
}

/// Li, TM, O-vacancy and accessible-site fractions of each z plane, surface first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthProfile {
    pub depth_nm: Vec<f64>,
    pub li_fraction: Vec<f64>,
    pub tm_fraction: Vec<f64>,
    pub o_vacancy_fraction: Vec<f64>,
    pub accessible_fraction: Vec<f64>,
    /// Cation sites lost to densification.
    pub lost_site_fraction: Vec<f64>,
}

/// What ended a charge or discharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    Voltage,
    Redox,
    Capacity,
    Li,
}

/// Order of a redox level in a queue: the largest key is used next (signs flipped for
/// oxidation, which takes the lowest first). Levels as whole microvolts: an exact, total order.
type LevelKey = (i128, i128, i128);

fn level_key(oxidising: bool, rank: usize, level: f64, priority: i128) -> LevelKey {
    let sign: i128 = if oxidising { -1 } else { 1 };
    (
        sign * rank as i128,
        sign * (level * 1e6).round() as i128,
        if priority == i128::MIN { priority } else { sign * priority },
    )
}

/// TM levels waiting to be oxidised (or reduced): (key, cation index, level bits).
pub(crate) struct RedoxQueue {
    oxidising: bool,
    heap: BinaryHeap<(LevelKey, usize, u64)>,
}

/// What a charge or discharge did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepOutcome {
    /// Li inserted (negative: removed).
    pub(crate) li_moved: i64,
    pub(crate) limit: Limit,
    /// The electrode voltage at the end, V.
    pub(crate) end_voltage_v: f64,
    /// Mean voltage of the Li moved (NaN: none), V.
    pub(crate) mean_voltage_v: f64,
}

/// The run was interrupted; the state is that before the cycle started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// Offsets (grid units) whose rates a change at the origin can alter: L1 ≤ 4, ≤ 3 per axis.
static REFRESH_OFFSETS: std::sync::LazyLock<Vec<[i8; 3]>> = std::sync::LazyLock::new(|| {
    let mut out = Vec::new();
    for z in -3i8..=3 {
        for y in -3i8..=3 {
            for x in -3i8..=3 {
                if x.abs() + y.abs() + z.abs() <= 4 {
                    out.push([x, y, z]);
                }
            }
        }
    }
    out
});

/// A cation whose Li enters the ΔE of a TM path: its offset from A (grid units), which of
/// the path's changed anions it neighbours (bit j of `a_mask`: A's j-th unshared anion;
/// of `b_mask`: B's, in the order `tm_paths` visits them), and whether it is a spectator.
struct FluctuatingSite {
    offset: [i8; 3],
    a_mask: u8,
    b_mask: u8,
    spectator: bool,
}

/// For each path, the cations (but A and B) next to its changed anions: the anions A leaves
/// (A + o for the four o whose mirror b − o is not around A) and those B joins (A + b − o).
static FLUCTUATING_SITES: std::sync::LazyLock<Vec<Vec<FluctuatingSite>>> = std::sync::LazyLock::new(|| {
    let add = |x: [i8; 3], y: [i8; 3]| [x[0] + y[0], x[1] + y[1], x[2] + y[2]];
    PATHS
        .iter()
        .map(|path| {
            let b = path.target;
            let mut sites: Vec<FluctuatingSite> = Vec::new();
            let unshared = OCTAHEDRON_ANIONS.iter().map(|&o| (o, [b[0] - o[0], b[1] - o[1], b[2] - o[2]]));
            for (j, (o, around_b)) in unshared.filter(|(_, m)| !OCTAHEDRON_ANIONS.contains(m)).enumerate() {
                for (anion, from_a) in [(o, true), (around_b, false)] {
                    for o2 in OCTAHEDRON_ANIONS {
                        let c = add(anion, o2);
                        if c == [0, 0, 0] || c == b {
                            continue;
                        }
                        let at = match sites.iter().position(|s| s.offset == c) {
                            Some(i) => i,
                            None => {
                                let spectator = path.spectators.contains(&c);
                                sites.push(FluctuatingSite { offset: c, a_mask: 0, b_mask: 0, spectator });
                                sites.len() - 1
                            }
                        };
                        if from_a {
                            sites[at].a_mask |= 1 << j;
                        } else {
                            sites[at].b_mask |= 1 << j;
                        }
                    }
                }
            }
            sites
        })
        .collect()
});

/// Largest as-built charge accepted without a redox partner, e: rounding the counts of a few
/// species to whole atoms.
pub const MAX_CHARGE_OFFSET: i64 = 4;

/// A plane is densified when at least this share of its cation sites has been lost: its
/// remaining sites then hold at least 1.2× the as-made TM per site (if its TMs stay).
pub const DENSIFIED_LOST_FRACTION: f64 = 1.0 - 1.0 / 1.2;

/// A slab being cycled.
#[derive(Debug, Clone)]
pub struct Cycling {
    pub(crate) state: CellState,
    pub(crate) work: StepWork,
}

/// A site whose Li occupancy varies less often than this is not fluctuating (p(1 − p) below
/// it: ~14 kT from μ).
const LI_FLUCTUATION_MIN: f64 = 1e-6;

/// Rate of a Li hop through a 0-TM channel, s⁻¹: the time scale of the Li subsystem.
fn li_hop_rate(barrier: &BarrierModel, kt: f64) -> f64 {
    barrier.attempt_frequency_hz * (-barrier.channel_barrier_ev[0] / kt).exp()
}

fn fermi(e: f64, mu: f64, kt: f64) -> f64 {
    1.0 / (1.0 + ((e - mu) / kt).exp())
}

/// Bytes per cation site the run holds (state and step work).
pub const BYTES_PER_CATION_SITE: u64 = 1 + 1 + 4 + 8 * 4 + 1 + 8 * 2 + 4 + 4 + 8;
/// Bytes per cation site added with tetrahedral TMs possible: the exit rates of the two
/// tetrahedra per cation site and their tree, and the per-site count of occupied neighbours.
pub const BYTES_PER_CATION_SITE_TETRAHEDRAL: u64 = 2 * 8 + 2 + 1;

impl Cycling {
    /// Set up a cycling run of `config` (a slab, as made or charged) of material
    /// `composition`. Every argument is checked first; errors name the field.
    pub fn new(
        config: &Configuration,
        composition: &Composition,
        barrier: &BarrierModel,
        model: &DegradationModel,
        protocol: &CyclingProtocol,
        seed: u64,
    ) -> Result<Self> {
        barrier.validate()?;
        model.validate()?;
        protocol.validate()?;
        let lattice = *config.lattice();
        if lattice.geometry() != Geometry::Slab {
            return Err(Error::invalid(
                "config",
                "cycling needs a slab (Lattice(..., geometry='slab')): Li and O leave through its surfaces",
            ));
        }
        // Depth counts from the nearer surface, so anything beyond half the thickness reaches
        // the whole slab; beyond the thickness it is a unit mistake.
        let thickness_nm = lattice.size()[2] as f64 * lattice.a() / 10.0;
        if model.o_loss_depth_nm > thickness_nm {
            return Err(Error::invalid(
                "o_loss_depth_nm",
                format!(
                    "{} nm is deeper than the slab ({thickness_nm:.2} nm thick): use a thicker slab \
                     (config) or a smaller o_loss_depth_nm",
                    model.o_loss_depth_nm
                ),
            ));
        }
        crate::memory::require_available(
            "size",
            || format!("a cycling run of {}", crate::memory::describe_lattice(&lattice)),
            lattice.n_cations() as u64
                * (BYTES_PER_CATION_SITE
                    + if model.tetrahedral_energy_ev.is_empty() && config.tetrahedral().is_empty() {
                        0
                    } else {
                        BYTES_PER_CATION_SITE_TETRAHEDRAL
                    })
                + crate::percolation::memory_estimate(&lattice),
        )?;
        let kinds = tm_kinds(config, composition, model)?;
        let n_fu = lattice.n_cations() as f64 / composition.cation_sites();
        let state = CellState {
            config: config.clone(),
            barrier: barrier.clone(),
            model: model.clone(),
            protocol: protocol.clone(),
            kinds,
            origin: Vec::new(),
            tet_origin: BTreeMap::new(),
            collapsed: vec![false; lattice.n_cations()],
            holes: 0,
            charge_offset: 0,
            max_holes: 0,
            formula_units: n_fu,
            mah_g_per_electron: composition.capacity_per_electron_mah_g(),
            seed,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            time_s: 0.0,
            cycle: 0,
            o_lost: 0,
            tm_dissolved: 0,
            first_discharge_mah_g: f64::NAN,
            composition: composition.clone(),
            records: Vec::new(),
            profiles: Vec::new(),
            diffusivity: Vec::new(),
            events: Vec::new(),
        };
        let cations = config.cations();
        let mut state = state;
        // The O-redox capacity: one hole per labile O of the as-made cell.
        state.max_holes = (0..lattice.n_anions())
            .filter(|&a| is_labile_o_in(config, lattice.anion_grid_index(a), model.labile_o_max_tm))
            .count() as i64;
        state.origin =
            cations.iter().enumerate().map(|(c, &s)| if species::is_tm(s) { c as u32 } else { u32::MAX }).collect();
        if !config.tetrahedral().is_empty() {
            // A TM made on tetrahedron t has origin n_cations + t: it must fit the u32 index.
            if lattice.n_cations() + lattice.n_tetrahedra() >= u32::MAX as usize {
                return Err(Error::invalid("config", "too large a cell for tetrahedral TMs"));
            }
            let n_cat = lattice.n_cations() as u32;
            state.tet_origin = config.tetrahedral().iter().map(|t| (t.tetrahedron, n_cat + t.tetrahedron)).collect();
        }
        if config.valences().is_empty() {
            assign_average_valences(&mut state, composition);
        }
        // A configuration made at another Li content (or with valences that do not balance)
        // is brought to neutrality through the redox order, as charge or discharge would.
        let excess = charge_sum_of(&state);
        let mut cell = Cycling { state, work: StepWork::default() };
        let moved = cell.apply_electrons(excess);
        let offset = excess - moved;
        if offset.abs() > MAX_CHARGE_OFFSET {
            return Err(Error::invalid(
                "config",
                format!(
                    "its charge ({excess:+} e in the cell with the material's oxidation states) cannot be \
                     balanced within the redox ranges of its TMs and the O-redox allowance ({offset:+} e left)"
                ),
            ));
        }
        cell.state.charge_offset = offset;
        Ok(cell)
    }

    pub fn state(&self) -> &CellState {
        &self.state
    }
    pub fn config(&self) -> &Configuration {
        &self.state.config
    }
    pub fn cycle(&self) -> u32 {
        self.state.cycle
    }
    pub fn time_s(&self) -> f64 {
        self.state.time_s
    }
    pub fn from_state(state: CellState) -> Self {
        Cycling { state, work: StepWork::default() }
    }

    fn lattice(&self) -> Lattice {
        *self.state.config.lattice()
    }
    fn code(&self, g: usize) -> u8 {
        self.state.config.grid()[g]
    }
    fn valence(&self, c: usize) -> i8 {
        self.state.config.valences()[c]
    }
    fn kind_of(&self, code: u8) -> &TmKind {
        &self.state.kinds[(code - species::FIRST_TM) as usize]
    }

    // A TM "slot" is where a TM can sit: cation index c (< n_cations), or n_cations + t for
    // the tetrahedron whose cube's lowest corner has grid index t.

    /// Species code on slot `s` (VACANCY on an empty tetrahedron).
    fn slot_code(&self, s: usize) -> u8 {
        let l = self.lattice();
        if s < l.n_cations() {
            self.code(l.cation_grid_index(s))
        } else {
            self.state.config.tetrahedral_at((s - l.n_cations()) as u32).map_or(species::VACANCY, |t| t.code)
        }
    }
    fn slot_valence(&self, s: usize) -> i8 {
        let n_cat = self.lattice().n_cations();
        if s < n_cat {
            self.valence(s)
        } else {
            self.state.config.tetrahedral_at((s - n_cat) as u32).map_or(0, |t| t.valence)
        }
    }
    fn set_slot_valence(&mut self, s: usize, v: i8) {
        let n_cat = self.lattice().n_cations();
        if s < n_cat {
            self.state.config.set_valence_slot(s, v);
        } else {
            self.state.config.set_tetrahedral_valence((s - n_cat) as u32, v);
        }
    }
    fn slot_origin(&self, s: usize) -> u32 {
        let n_cat = self.lattice().n_cations();
        if s < n_cat {
            self.state.origin[s]
        } else {
            self.state.tet_origin.get(&((s - n_cat) as u32)).copied().unwrap_or(u32::MAX)
        }
    }
    /// Slots of every TM on a tetrahedral site.
    fn tet_slots(&self) -> impl Iterator<Item = usize> + '_ {
        let n_cat = self.lattice().n_cations();
        self.state.config.tetrahedral().iter().map(move |t| n_cat + t.tetrahedron as usize)
    }
    /// Whether cation site `c` shares a face with an occupied tetrahedron (it then holds
    /// nothing, and blocks Li and TM paths like a TM).
    #[inline]
    fn tet_blocked(&self, c: usize) -> bool {
        self.work.tet_blocked.get(c).is_some_and(|&n| n > 0)
    }

    /// Total charge of the cell beyond its as-built rounding offset, e (0 at all times).
    pub fn charge_sum(&self) -> i64 {
        charge_sum_of(&self.state) - self.state.charge_offset
    }

    /// Grid index of p + o, periodic in x and y, `None` beyond a surface.
    #[inline]
    fn at(&self, p: [usize; 3], o: [i8; 3]) -> Option<usize> {
        slab_neighbour(self.state.config.lattice(), p, o)
    }

    // ----- redox ---------------------------------------------------------------------------

    /// The level (V vs Li/Li⁺) at which the TM on cation site `c` goes from state `v` to
    /// `v + 1`: its kind's mean level plus a quenched offset within ± half the width, drawn
    /// once per TM (it moves with the TM: re-drawing it on every hop would let mobile,
    /// unoxidised TMs hop until they draw a low level), never below the level of a lower
    /// state of the same TM.
    fn tm_level(&self, c: usize, v: i8) -> f64 {
        let kind = self.kind_of(self.slot_code(c));
        let width = self.state.model.redox_width_v;
        let key = self.state.seed ^ LEVEL_KEY;
        let tm = self.slot_origin(c) as u64;
        (kind.min..=v.max(kind.min))
            .map(|s| kind.potential[s as usize] + width * (keyed_unit(key, tm * 9 + s as u64) - 0.5))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The level of the `k`-th O hole (0-based), V: the labile O's levels spread evenly over
    /// `o_redox_width_V` above the onset.
    fn o_level(&self, k: i64) -> f64 {
        let m = &self.state.model;
        m.o_redox_voltage_v + m.o_redox_width_v * (k as f64 + 0.5) / self.state.max_holes.max(1) as f64
    }

    /// Place of the O levels in the oxidation order: with the TMs when only voltages decide,
    /// after every TM when `redox_order` is given.
    fn o_rank(&self) -> usize {
        if self.state.model.redox_order.is_empty() {
            0
        } else {
            usize::MAX - 1
        }
    }

    /// The key of the next level of the TM on slot `c` in the direction of `oxidising`
    /// (None: no TM, fixed valence, or at the end of its range), and the level, V. A
    /// tetrahedral TM keeps its levels (they move with the TM).
    fn tm_next_level(&self, c: usize, oxidising: bool) -> Option<(LevelKey, f64)> {
        let code = self.slot_code(c);
        if !species::is_tm(code) {
            return None;
        }
        let k = self.kind_of(code);
        let v = self.slot_valence(c);
        if k.rank == usize::MAX || (oxidising && v >= k.max) || (!oxidising && v <= k.min) {
            return None;
        }
        let level = self.tm_level(c, if oxidising { v } else { v - 1 });
        let priority = (keyed_unit(self.state.seed ^ PRIORITY_KEY, c as u64) * (1u64 << 52) as f64) as u64;
        Some((level_key(oxidising, k.rank, level, priority as i128), level))
    }

    /// The queue of TM levels for a run of oxidations (or reductions) from the present state.
    fn redox_queue(&self, oxidising: bool) -> RedoxQueue {
        let mut heap = BinaryHeap::new();
        for c in (0..self.lattice().n_cations()).chain(self.tet_slots()) {
            if let Some((key, level)) = self.tm_next_level(c, oxidising) {
                heap.push((key, c, level.to_bits()));
            }
        }
        RedoxQueue { oxidising, heap }
    }

    /// The next level of `queue` (TM or O): `redox_order` rank first, then the lowest level
    /// for oxidation (highest for reduction), then a fixed per-site priority, a TM before O
    /// among equals. Returns (is O, level).
    fn next_level(&self, queue: &RedoxQueue) -> Option<(bool, f64)> {
        let s = &self.state;
        let ox = queue.oxidising;
        // A hole is refilled `o_redox_hysteresis_V` below the level it was made at.
        let hysteresis = self.state.model.o_redox_hysteresis_v;
        let o = if ox {
            (s.holes < s.max_holes).then(|| self.o_level(s.holes))
        } else {
            (s.holes > 0).then(|| self.o_level(s.holes - 1) - hysteresis)
        };
        let o = o.map(|level| (level_key(ox, self.o_rank(), level, i128::MIN), level));
        match (queue.heap.peek(), o) {
            (None, None) => None,
            (Some(&(_, _, bits)), None) => Some((false, f64::from_bits(bits))),
            (None, Some((_, level))) => Some((true, level)),
            (Some(&(tm_key, _, bits)), Some((o_key, level))) => {
                Some(if o_key > tm_key { (true, level) } else { (false, f64::from_bits(bits)) })
            }
        }
    }

    /// Move one electron through the next level of `queue` (see `next_level`); its level, V.
    fn take_level(&mut self, queue: &mut RedoxQueue) -> Option<f64> {
        let (is_o, level) = self.next_level(queue)?;
        let step: i8 = if queue.oxidising { 1 } else { -1 };
        if is_o {
            self.state.holes += step as i64;
        } else {
            let (_, c, _) = queue.heap.pop().expect("the next level is this TM's");
            self.set_slot_valence(c, self.slot_valence(c) + step);
            if let Some((key, next)) = self.tm_next_level(c, queue.oxidising) {
                queue.heap.push((key, c, next.to_bits()));
            }
        }
        Some(level)
    }

    /// Move `delta` electrons out of (delta < 0: oxidation) or into (delta > 0) the TM and O
    /// levels in their order, as a chemical change (no electrode). Returns how many moved.
    fn apply_electrons(&mut self, delta: i64) -> i64 {
        let mut queue = self.redox_queue(delta < 0);
        let mut moved = 0;
        while moved < delta.abs() && self.take_level(&mut queue).is_some() {
            moved += 1;
        }
        moved * delta.signum()
    }

    /// Electrons that could still be added (reduction) at any voltage.
    fn reduction_room(&self) -> i64 {
        let l = self.lattice();
        let mut red = self.state.holes;
        for c in (0..l.n_cations()).chain(self.tet_slots()) {
            let code = self.slot_code(c);
            if species::is_tm(code) && self.kind_of(code).rank != usize::MAX {
                red += (self.slot_valence(c) - self.kind_of(code).min).max(0) as i64;
            }
        }
        red
    }

    // ----- Li equilibrium --------------------------------------------------------------------

    /// The configuration the Li network sees: sites lost to densification block like a TM,
    /// and so do the four face-sharing octahedra of a tetrahedral TM (they hold no Li, and
    /// every Li path through its tetrahedron joins two of them).
    fn network_config(&self) -> Configuration {
        let mut c = self.state.config.clone();
        let l = self.lattice();
        for (site, _) in self.state.collapsed.iter().enumerate().filter(|(_, &x)| x) {
            c.set_code(l.cation_grid_index(site), species::FIRST_TM);
        }
        c.clear_tetrahedral();
        for t in self.state.config.tetrahedral() {
            for g in self.state.config.tetrahedron_vertices(t.tetrahedron as usize) {
                c.set_code(g, species::FIRST_TM);
            }
        }
        c
    }

    /// Charge to `volts`: recompute the accessible network and site energies, then remove
    /// Li (with their electrons) while it costs no more than `volts`.
    #[cfg(test)]
    pub(crate) fn equilibrate_li(&mut self, volts: f64) -> Result<StepOutcome> {
        self.equilibrate_li_limited(volts, None, true)
    }

    /// Charge (`oxidising`) or discharge to `volts`, moving at most `max_moved` Li (a
    /// capacity cut-off, or one increment of a step at a current).
    fn equilibrate_li_limited(&mut self, volts: f64, max_moved: Option<i64>, oxidising: bool) -> Result<StepOutcome> {
        let l = self.lattice();
        let p = &self.state.protocol;
        let kt = BOLTZMANN_EV_PER_K * p.temperature_k;
        let net = crate::equilibrium::kinetic_network(
            &self.network_config(),
            &self.state.barrier,
            p.temperature_k,
            p.li_timescale_s,
        )?;
        let energy = site_energies(&self.state.config, &self.state.barrier);
        let accessible: Vec<bool> =
            net.labels.iter().map(|&lab| lab >= 0 && net.cluster_accessible[lab as usize]).collect();
        let seed = self.state.seed ^ LI_SAMPLE_KEY;
        // (threshold, cation index) of every accessible site, lowest first.
        let mut sites: Vec<(f64, usize)> = (0..l.n_cations())
            .filter(|&c| accessible[c])
            .map(|c| {
                let u = keyed_unit(seed, c as u64);
                (energy[c] + kt * (1.0 / u - 1.0).ln(), c)
            })
            .collect();
        sites.sort_by(|a, b| a.0.total_cmp(&b.0));
        let li_now = sites.iter().filter(|&&(_, c)| self.code(l.cation_grid_index(c)) == species::LI).count();
        // Li leave least bound first (highest threshold), each with the electron of the next
        // redox level, lowest first; the level is the voltage of that step, so charge stops
        // at the first level above the cut-off (discharge, in reverse, at the first level at
        // or below it). The Li site energies (~0.1 eV) decide which Li leave, not the voltage.
        let mut filled = li_now;
        let (mut moved, mut cost_sum, mut last_cost) = (0i64, 0.0, f64::NAN);
        let limit;
        let mut queue = self.redox_queue(oxidising);
        loop {
            let li_threshold = if oxidising { filled.checked_sub(1) } else { (filled < sites.len()).then_some(filled) }
                .map(|k| sites[k].0);
            if li_threshold.is_none() {
                limit = Limit::Li;
                break;
            };
            if max_moved.is_some_and(|m| moved.abs() >= m) {
                limit = Limit::Capacity;
                break;
            }
            let Some((_, level)) = self.next_level(&queue) else {
                limit = Limit::Redox;
                break;
            };
            let cost = level;
            if (oxidising && cost > volts) || (!oxidising && cost <= volts) {
                limit = Limit::Voltage;
                break;
            }
            self.take_level(&mut queue);
            (cost_sum, last_cost) = (cost_sum + cost, cost);
            if oxidising {
                filled -= 1;
                moved -= 1;
            } else {
                filled += 1;
                moved += 1;
            }
        }
        // μ of the Li left (for the hold's occupancies): between the last filled and the
        // first empty threshold; 40 kT beyond every site energy when all are empty (full),
        // so none holds Li (a vacancy) with more than e⁻⁴⁰.
        let far = 40.0 * kt;
        let energies = || sites.iter().map(|&(_, c)| energy[c]);
        let mu = match (filled.checked_sub(1).map(|k| sites[k].0), sites.get(filled).map(|s| s.0)) {
            (Some(lo), Some(hi)) => 0.5 * (lo + hi),
            (None, Some(_)) => energies().fold(f64::INFINITY, f64::min) - far,
            (Some(_), None) => energies().fold(f64::NEG_INFINITY, f64::max) + far,
            (None, None) => 0.0,
        };
        for (k, &(_, c)) in sites.iter().enumerate() {
            self.state.config.set_code(l.cation_grid_index(c), if k < filled { species::LI } else { species::VACANCY });
        }
        self.work.kt = kt;
        self.work.mu = mu;
        self.work.energy = energy;
        self.work.accessible = accessible;
        Ok(StepOutcome {
            li_moved: moved,
            limit,
            // The electrode reaches the cut-off unless the capacity limit stopped it first.
            end_voltage_v: if limit == Limit::Capacity { last_cost } else { volts },
            mean_voltage_v: if moved != 0 { cost_sum / moved.unsigned_abs() as f64 } else { f64::NAN },
        })
    }

    // ----- events ----------------------------------------------------------------------------

    /// Rebuild every per-step array and rate for a hold of `duration_s` at the current μ.
    pub(crate) fn prepare_events(&mut self, duration_s: f64) {
        let l = self.lattice();
        let (n_cat, n_an) = (l.n_cations(), l.n_anions());
        let w = &mut self.work;
        let grid = self.state.config.grid();
        w.li_prob = (0..n_cat)
            .map(|c| {
                let code = grid[l.cation_grid_index(c)];
                if species::is_tm(code) {
                    0.0
                } else if w.accessible[c] {
                    fermi(w.energy[c], w.mu, w.kt)
                } else {
                    (code == species::LI) as u8 as f64
                }
            })
            .collect();
        let nu = self.state.model.attempt_frequency_hz;
        w.floor_ev = if duration_s > 0.0 {
            (w.kt * (nu * duration_s / self.state.model.equilibrated_hops).ln()).max(0.0)
        } else {
            0.0
        };
        // Holes sit on the labile O: the fraction of them oxidised.
        w.hole_fraction = if self.state.max_holes > 0 {
            (self.state.holes as f64 / self.state.max_holes as f64).min(1.0)
        } else {
            0.0
        };
        // The time-scale fall-back, where there are Li to separate from.
        let ratio = self.state.model.min_timescale_ratio;
        let li_fluctuates = w.li_prob.iter().any(|&p| p * (1.0 - p) > LI_FLUCTUATION_MIN);
        w.li_fluctuates = li_fluctuates;
        w.separation_floor_ev = if ratio > 0.0 && li_fluctuates {
            w.kt * (nu * ratio / li_hop_rate(&self.state.barrier, w.kt)).ln()
        } else {
            f64::NEG_INFINITY
        };
        w.spectator_factor = (-self.state.model.spectator_li_ev / w.kt).exp();
        let j = self.state.model.electroneutrality_ev;
        w.fluctuation_cosh =
            std::array::from_fn(|v| std::array::from_fn(|m| (j * v as f64 * m as f64 / w.kt).cosh() - 1.0));
        w.max_tm_rate = 0.0;
        w.stamp = vec![0; l.n_grid()];
        w.stamp_now = 0;
        let tet_on = !self.state.model.tetrahedral_energy_ev.is_empty() || !self.state.config.tetrahedral().is_empty();
        w.tet_blocked = Vec::new();
        w.tet_rate = Vec::new();
        w.tet_tree = None;
        if tet_on {
            w.tet_blocked = vec![0; n_cat];
            for t in self.state.config.tetrahedral() {
                for g in self.state.config.tetrahedron_vertices(t.tetrahedron as usize) {
                    w.tet_blocked[Lattice::sublattice_index(g)] += 1;
                }
            }
        }
        self.work.anion_q = (0..n_an).map(|a| self.anion_charge(l.anion_grid_index(a))).collect();
        self.work.rate = vec![0.0; n_cat + n_an];
        let mut fastest: f64 = 0.0;
        let mut fell_back = false;
        for c in 0..n_cat {
            let g = l.cation_grid_index(c);
            let paths = self.tm_paths(g);
            let tets = self.tet_entries(g);
            self.work.rate[c] = paths.sum() + tets.sum() + self.dissolution_rate(g);
            fastest = fastest.max(paths.own_max).max(tets.own_max);
            fell_back |= paths.fell_back || tets.fell_back;
        }
        if tet_on {
            self.work.tet_rate = vec![0.0; l.n_tetrahedra()];
            let occupied: Vec<usize> = self.state.config.tetrahedral().iter().map(|t| t.tetrahedron as usize).collect();
            for t in occupied {
                let exits = self.tet_exits(t);
                self.work.tet_rate[t] = exits.sum();
                fastest = fastest.max(exits.own_max);
                fell_back |= exits.fell_back;
            }
            let mut tree = SumTree::new(l.n_tetrahedra());
            let rate = &self.work.tet_rate;
            tree.rebuild(|i| rate[i]);
            self.work.tet_tree = Some(tree);
        }
        self.work.fell_back = fell_back;
        self.work.max_tm_rate = if li_fluctuates { fastest } else { 0.0 };
        for a in 0..n_an {
            self.work.rate[n_cat + a] = self.o_loss_rate(l.anion_grid_index(a));
        }
        let mut tree = SumTree::new(n_cat + n_an);
        let rate = &self.work.rate;
        tree.rebuild(|i| rate[i]);
        self.work.tree = Some(tree);
        self.work.events_since_rebuild = 0;
    }

    /// Charge a cation contributes to its anions' sums: Li at its probability, TM valence.
    fn cation_charge(&self, g: usize) -> f64 {
        let code = self.code(g);
        if species::is_tm(code) {
            self.valence(Lattice::sublattice_index(g)) as f64
        } else {
            self.work.li_prob[Lattice::sublattice_index(g)]
        }
    }

    /// Summed charge of the cation neighbours of anion `g` inside the slab. A tetrahedral TM
    /// bonds to four anions with bond strength v/4 (an octahedral one to six with v/6): on
    /// this scale (Q = 6 × the bond-valence sum) it adds 1.5·v to each of its anions.
    fn anion_charge(&self, g: usize) -> f64 {
        let p = self.lattice().grid_coords(g);
        let q: f64 = OCTAHEDRON_ANIONS.iter().filter_map(|&o| self.at(p, o)).map(|n| self.cation_charge(n)).sum();
        if self.state.config.tetrahedral().is_empty() {
            return q;
        }
        q + tets_around_anion(&self.state.config, g).map(|t| 1.5 * t.valence as f64).sum::<f64>()
    }

    /// Electroneutrality weight and target (6|q|) of the anion at `g`.
    fn anion_target(&self, g: usize) -> Option<f64> {
        match self.code(g) {
            species::O => Some(12.0),
            species::F | species::CL => Some(6.0),
            _ => None,
        }
    }

    /// The 24 o-t-o paths of the TM at cation grid index `g` (all closed if no TM).
    pub(crate) fn tm_paths(&self, g: usize) -> PathRates {
        self.tm_paths_with(g, true)
    }

    /// `tm_paths`; without `exact_own` the Li-fluctuation factor of a path below the floor
    /// (whose rate does not depend on it) is not computed, and its own rate lacks it.
    fn tm_paths_with(&self, g: usize, exact_own: bool) -> PathRates {
        let mut out = PathRates::CLOSED;
        let code = self.code(g);
        if !species::is_tm(code) {
            return out;
        }
        let c = Lattice::sublattice_index(g);
        let v = self.valence(c);
        let e_mig = self.kind_of(code).barrier[v as usize];
        let kt = self.work.kt;
        let j = self.state.model.electroneutrality_ev;
        let nu = self.state.model.attempt_frequency_hz;
        let p = self.lattice().grid_coords(g);
        let cosh_m1 = &self.work.fluctuation_cosh[v as usize];
        for (k, path) in PATHS.iter().enumerate() {
            let Some(gb) = self.at(p, path.target) else { continue };
            let target = self.code(gb);
            let cb = Lattice::sublattice_index(gb);
            if species::is_tm(target) || self.state.collapsed[cb] || self.tet_blocked(cb) {
                continue;
            }
            let empty = 1.0 - self.work.li_prob[cb];
            if empty <= 0.0 {
                continue;
            }
            let (Some(s1), Some(s2)) = (self.at(p, path.spectators[0]), self.at(p, path.spectators[1])) else {
                continue; // the tetrahedron lies beyond the surface
            };
            let blocks = |g: usize| {
                let c = Lattice::sublattice_index(g);
                species::is_tm(self.code(g)) || self.state.collapsed[c] || self.tet_blocked(c)
            };
            if blocks(s1) || blocks(s2) {
                continue;
            }
            let spect: f64 = [s1, s2]
                .iter()
                .map(|&s| {
                    let pl = self.work.li_prob[Lattice::sublattice_index(s)];
                    1.0 - pl + pl * self.work.spectator_factor
                })
                .product();
            // Electroneutrality energy change of A (TM) + B (empty) -> A (empty) + B (TM). The
            // two anions A and B share see -v + v: no change. B's other anions are conditioned
            // on B empty (its Li probability taken out of their sums).
            let pb = self.work.li_prob[cb];
            let b = path.target;
            let mut de = 0.0;
            // Which of the changed anions (A's unshared j-th, B's j-th) carry a charge target.
            let (mut present_a, mut present_b, mut j_unshared) = (0u8, 0u8, 0);
            for o in OCTAHEDRON_ANIONS {
                // A + o and its mirror B − o (B's octahedron is b − o over the same six o):
                // both shared, or both unshared.
                let around_b = [b[0] - o[0], b[1] - o[1], b[2] - o[2]];
                if OCTAHEDRON_ANIONS.contains(&around_b) {
                    continue;
                }
                for (off, delta, cond, present) in
                    [(o, -(v as f64), 0.0, &mut present_a), (around_b, v as f64, pb, &mut present_b)]
                {
                    let Some(gx) = self.at(p, off) else { continue };
                    let Some(t) = self.anion_target(gx) else { continue };
                    let q0 = self.work.anion_q[Lattice::sublattice_index(gx)] - cond;
                    de += j * ((q0 + delta - t).powi(2) - (q0 - t).powi(2));
                    *present |= 1 << j_unshared;
                }
                j_unshared += 1;
            }
            // E_KRA is raised to the higher of the hold's floor and the time-scale fall-back
            // (its faster direction at Γ_Li/R: it depends on |ΔE| only, so it is the same
            // for the hop and its reverse).
            let separation = self.work.separation_floor_ev + 0.5 * de.abs();
            let floor = self.work.floor_ev.max(separation);
            // Li fluctuations lower the barrier by kT·ln S (S ≥ 1, see li_fluctuation_factor),
            // the same for the hop and its reverse; the floor still caps the rate.
            let e_fluct = if exact_own || e_mig >= floor {
                e_mig - kt * self.li_fluctuation_factor(p, k, present_a, present_b, cosh_m1, v).ln()
            } else {
                e_mig
            };
            let raised = e_fluct < floor;
            // (Without `exact_own`, e_fluct may stand at e_mig above its true value only
            // where it lies below the floor anyway: the test below is exact.)
            out.fell_back |= e_fluct < separation && separation > self.work.floor_ev;
            // The path's own rate (no raising): what the time-scale check compares with Li.
            let e_own = (e_fluct.max(0.0) + 0.5 * de).max(de.max(0.0));
            let own = nu * (-e_own / kt).exp() * spect * empty;
            if own > out.own_max {
                out.own_max = own;
            }
            // E_KRA is raised to the floor, the same for a hop and its reverse (detailed balance
            // holds). An uphill step of a raised path then fires less than n times per hold:
            // cheap, but it holds back migrations that start uphill (see `equilibrated_hops`).
            // Raising a pair only until its slower direction reaches the floor follows them
            // better (93 % instead of 60 % of the TMs migrated at n = 1000 on a 30-cycle LMTO
            // slab) but costs 3–10× more events per cycle.
            let e_kra = e_fluct.max(floor);
            // KRA form; a strongly downhill hop is barrierless, its reverse then costs ΔE
            // exactly (detailed balance holds either way).
            let e_a = (e_kra + 0.5 * de).max(de.max(0.0));
            out.rate[k] = nu * (-e_a / kt).exp() * spect * empty;
            out.raised[k] = raised;
        }
        out
    }

    /// What the Li fluctuations add to a TM hop's mean-field rate (≥ 1). ΔE is linear in the
    /// Li occupancies n_i (a Li next to an anion A leaves lowers it by 2Jv, next to one B
    /// joins raises it by 2Jv: ΔE = ⟨ΔE⟩ + 2kT·Σ x_i (n_i − p_i), x_i = m_i·J·v/kT, m_i the
    /// count of B's changed anions around site i less A's), and the rate is convex in it, so
    /// the rate at the mean ΔE underestimates the Li-averaged rate (Jensen; by up to ×6 with
    /// many Li at p ≈ 0.5, see joint_tests). With independent Fermi occupancies the averaged
    /// forward and reverse KRA rates are products over the sites, (1 − p + p·f·e^(∓x)), f the
    /// spectator factor; the hop takes their geometric mean, so forward/reverse stay exactly
    /// exp(−⟨ΔE⟩/kT) (detailed balance against the mean-field energy) and only the part odd
    /// in x (third order) is left out. Per site, over the mean-field factor (1 − p + p·f):
    /// sqrt(1 + 2p(1 − p)·f·(cosh x − 1)/(1 − p + p·f)²).
    fn li_fluctuation_factor(
        &self,
        p: [usize; 3],
        k: usize,
        present_a: u8,
        present_b: u8,
        cosh_m1: &[f64; 5],
        v: i8,
    ) -> f64 {
        let d = self.lattice().dims();
        // Two sites of the table can be one site when x or y wraps within the table's reach
        // (4 grid points): merge them there.
        let aliased = d[0] <= 4 || d[1] <= 4;
        let mut merged = [(0usize, 0i32, false); 48];
        let mut n_merged = 0;
        let mut squared = 1.0;
        let factor = |pl: f64, m: i32, spectator: bool| {
            let ch = cosh_m1.get(m.unsigned_abs() as usize).copied().unwrap_or_else(|| {
                (self.state.model.electroneutrality_ev * v as f64 / self.work.kt * m as f64).cosh() - 1.0
            });
            if spectator {
                let f = self.work.spectator_factor;
                1.0 + 2.0 * pl * (1.0 - pl) * f * ch / (1.0 - pl + pl * f).powi(2)
            } else {
                1.0 + 2.0 * pl * (1.0 - pl) * ch
            }
        };
        for site in &FLUCTUATING_SITES[k] {
            let m = (site.b_mask & present_b).count_ones() as i32 - (site.a_mask & present_a).count_ones() as i32;
            if m == 0 && !aliased {
                continue;
            }
            let Some(c) = self.at(p, site.offset) else { continue };
            // No test for p = 0 or 1 (a TM, an empty or a full site): the factor is 1 there,
            // and the branch would be unpredictable.
            let pl = self.work.li_prob[Lattice::sublattice_index(c)];
            if aliased {
                match merged[..n_merged].iter_mut().find(|e| e.0 == c) {
                    Some(e) => e.1 += m,
                    None => {
                        merged[n_merged] = (c, m, site.spectator);
                        n_merged += 1;
                    }
                }
            } else {
                squared *= factor(pl, m, site.spectator);
            }
        }
        for &(c, m, spectator) in &merged[..n_merged] {
            squared *= factor(self.work.li_prob[Lattice::sublattice_index(c)], m, spectator);
        }
        squared.sqrt()
    }

    /// Total TM move rate from `g` (o-t-o and into tetrahedra), and whether the fall-back
    /// raised one of its moves.
    fn tm_rate(&self, g: usize) -> (f64, bool) {
        let paths = self.tm_paths_with(g, false);
        let tets = self.tet_entries(g);
        (paths.sum() + tets.sum(), paths.fell_back || tets.fell_back)
    }

    /// The rate of a move with KRA barrier `e_kra`, energy change `de` and occupancy factor
    /// `factor`, raised like an o-t-o path (the hold's floor and the time-scale fall-back,
    /// both the same for the move and its reverse): (rate, raised, rate at its own barrier,
    /// raised by the fall-back above the hold's floor).
    fn kra_rate(&self, e_kra: f64, de: f64, factor: f64) -> (f64, bool, f64, bool) {
        let (nu, kt) = (self.state.model.attempt_frequency_hz, self.work.kt);
        let separation = self.work.separation_floor_ev + 0.5 * de.abs();
        let floor = self.work.floor_ev.max(separation);
        let e_own = (e_kra.max(0.0) + 0.5 * de).max(de.max(0.0));
        let e_a = (e_kra.max(floor) + 0.5 * de).max(de.max(0.0));
        let fell_back = e_kra < separation && separation > self.work.floor_ev;
        (nu * (-e_a / kt).exp() * factor, e_kra < floor, nu * (-e_own / kt).exp() * factor, fell_back)
    }

    /// J·Σ[(q0 − r + δ − t)² − (q0 − r − t)²] over `changes` (anion grid index, r, δ): the
    /// electroneutrality change of a move adding δ to an anion's Q, conditioned on r of Li
    /// charge being taken off it first (sites that must be empty for the move).
    fn anion_energy_change(&self, changes: &[(usize, f64, f64)]) -> f64 {
        let mut merged = [(0usize, 0.0f64, 0.0f64); 40];
        let mut n = 0;
        for &(g, r, d) in changes {
            match merged[..n].iter_mut().find(|e| e.0 == g) {
                Some(e) => {
                    e.1 += r;
                    e.2 += d;
                }
                None => {
                    merged[n] = (g, r, d);
                    n += 1;
                }
            }
        }
        let j = self.state.model.electroneutrality_ev;
        merged[..n]
            .iter()
            .filter_map(|&(g, r, d)| {
                let t = self.anion_target(g)?;
                let q0 = self.work.anion_q[Lattice::sublattice_index(g)] - r;
                Some(j * ((q0 + d - t).powi(2) - (q0 - t).powi(2)))
            })
            .sum()
    }

    /// Cation vertices and anion corners of the tetrahedron whose cube's lowest corner is at
    /// `p` + `o` (None when it crosses a surface), corners in (z, y, x) order.
    fn tet_corners(&self, p: [usize; 3], o: [i8; 3]) -> Option<(usize, [usize; 4], [usize; 4])> {
        let t = self.at(p, o)?;
        let (mut vertices, mut anions, mut nv, mut na) = ([0usize; 4], [0usize; 4], 0, 0);
        for dz in 0..2i8 {
            for dy in 0..2i8 {
                for dx in 0..2i8 {
                    let g = self.at(p, [o[0] + dx, o[1] + dy, o[2] + dz])?;
                    if (o[0] + dx + o[1] + dy + o[2] + dz).rem_euclid(2) == (p.iter().sum::<usize>() % 2) as i8 {
                        vertices[nv] = g;
                        nv += 1;
                    } else {
                        anions[na] = g;
                        na += 1;
                    }
                }
            }
        }
        Some((t, vertices, anions))
    }

    /// The octahedral → tetrahedral moves of the TM at cation grid index `g`, into the 8
    /// tetrahedra around its octahedron (all closed unless its species and state have a
    /// `tetrahedral_energy_eV`). The other three face-sharing octahedra of the tetrahedron
    /// must hold no TM and not be lost; Li on them leave (the move's rate carries the
    /// probability that they are empty, and its energy is conditioned on it). KRA barrier:
    /// the o-t-o one; ΔE = the tetrahedral energy + the electroneutrality change.
    pub(crate) fn tet_entries(&self, g: usize) -> TetRates {
        let code = self.code(g);
        if !species::is_tm(code) || self.state.model.tetrahedral_energy_ev.is_empty() {
            return TetRates::CLOSED;
        }
        let v = self.valence(Lattice::sublattice_index(g));
        let kind = self.kind_of(code);
        let Some(e_tet) = kind.tetrahedral[v as usize] else { return TetRates::CLOSED };
        let e_kra = kind.barrier[v as usize];
        let p = self.lattice().grid_coords(g);
        let mut out = TetRates::CLOSED;
        for k in 0..8 {
            let Some((t, vertices, anions)) = self.tet_corners(p, entry_cube(k)) else { continue };
            if self.state.config.tetrahedral_at(t as u32).is_some() {
                continue;
            }
            let mut changes = [(0usize, 0.0, 0.0); 40];
            let mut n = 0;
            let mut empty = 1.0;
            let mut open = true;
            for &x in &vertices {
                if x == g {
                    continue;
                }
                let c = Lattice::sublattice_index(x);
                if species::is_tm(self.code(x)) || self.state.collapsed[c] {
                    open = false;
                    break;
                }
                let pl = self.work.li_prob[c];
                empty *= 1.0 - pl;
                let q = self.lattice().grid_coords(x);
                for o in OCTAHEDRON_ANIONS {
                    if let Some(a) = self.at(q, o) {
                        changes[n] = (a, pl, 0.0);
                        n += 1;
                    }
                }
            }
            if !open || empty <= 0.0 {
                continue;
            }
            for o in OCTAHEDRON_ANIONS {
                if let Some(a) = self.at(p, o) {
                    changes[n] = (a, 0.0, -(v as f64));
                    n += 1;
                }
            }
            for &a in &anions {
                changes[n] = (a, 0.0, 1.5 * v as f64);
                n += 1;
            }
            let de = e_tet + self.anion_energy_change(&changes[..n]);
            out.set(k, self.kra_rate(e_kra, de, empty));
        }
        out
    }

    /// The tetrahedral → octahedral moves of the TM on tetrahedron `t` into its four
    /// face-sharing octahedra (entries 0..4, in `tet_corners` order): the reverse of
    /// `tet_entries`, into an octahedron that is not lost and shares no face with another
    /// occupied tetrahedron. A state without a tetrahedral energy (reached by redox while
    /// tetrahedral) sits at its transition state (its migration barrier above the octahedron)
    /// and leaves without a barrier.
    pub(crate) fn tet_exits(&self, t: usize) -> TetRates {
        let Some(&tm) = self.state.config.tetrahedral_at(t as u32) else { return TetRates::CLOSED };
        let kind = self.kind_of(tm.code);
        let v = tm.valence;
        let (e_tet, e_kra) = match kind.tetrahedral[v as usize] {
            Some(e) => (e, kind.barrier[v as usize]),
            None => (kind.barrier[v as usize], 0.0),
        };
        let p = self.lattice().grid_coords(t);
        let Some((_, vertices, anions)) = self.tet_corners(p, [0, 0, 0]) else { return TetRates::CLOSED };
        let mut out = TetRates::CLOSED;
        for (k, &b) in vertices.iter().enumerate() {
            let cb = Lattice::sublattice_index(b);
            if self.state.collapsed[cb] || self.work.tet_blocked.get(cb).is_some_and(|&n| n > 1) {
                continue;
            }
            let pb = self.work.li_prob[cb];
            let empty = 1.0 - pb;
            if empty <= 0.0 {
                continue;
            }
            let mut changes = [(0usize, 0.0, 0.0); 40];
            let mut n = 0;
            for &a in &anions {
                changes[n] = (a, 0.0, -1.5 * v as f64);
                n += 1;
            }
            let q = self.lattice().grid_coords(b);
            for o in OCTAHEDRON_ANIONS {
                if let Some(a) = self.at(q, o) {
                    changes[n] = (a, pb, v as f64);
                    n += 1;
                }
            }
            let de = -e_tet + self.anion_energy_change(&changes[..n]);
            out.set(k, self.kra_rate(e_kra, de, empty));
        }
        out
    }

    /// Depth of grid plane z below the nearer surface, nm.
    fn depth_nm(&self, z: usize) -> f64 {
        let l = self.lattice();
        let nz = l.dims()[2];
        z.min(nz - 1 - z) as f64 * l.a() / 20.0
    }

    fn is_labile_o(&self, g: usize) -> bool {
        is_labile_o_in(&self.state.config, g, self.state.model.labile_o_max_tm)
    }

    /// Rate of O release from the anion at grid index `g` (0 unless it is an O that can leave).
    pub(crate) fn o_loss_rate(&self, g: usize) -> f64 {
        if self.work.hole_fraction <= 0.0 || !self.is_labile_o(g) {
            return 0.0;
        }
        let l = self.lattice();
        let p = l.grid_coords(g);
        if self.depth_nm(p[2]) > self.state.model.o_loss_depth_nm {
            return 0.0;
        }
        let surface = p[2] == 0 || p[2] == l.dims()[2] - 1;
        let by_vacancy =
            NN_DIRECTIONS.iter().any(|&d| self.at(p, d).is_some_and(|n| self.code(n) == species::ANION_VACANCY));
        if !(surface || by_vacancy) {
            return 0.0;
        }
        let n_tm = tm_neighbours_of(&self.state.config, g);
        let m = &self.state.model;
        let e = m.o_loss_barrier_ev + n_tm as f64 * m.o_loss_tm_neighbour_ev;
        m.attempt_frequency_hz * (-e / self.work.kt).exp() * self.work.hole_fraction
    }

    fn set_rate(&mut self, leaf: usize, r: f64) {
        let old = self.work.rate[leaf];
        if old != r {
            self.work.rate[leaf] = r;
            if let Some(t) = self.work.tree.as_mut() {
                t.add(leaf, r - old);
            }
        }
    }

    /// Recompute the anion sums next to the cation at `g`.
    fn update_anion_sums(&mut self, g: usize) {
        let p = self.lattice().grid_coords(g);
        if Lattice::is_cation(p) {
            for o in OCTAHEDRON_ANIONS {
                if let Some(x) = self.at(p, o) {
                    self.work.anion_q[Lattice::sublattice_index(x)] = self.anion_charge(x);
                }
            }
        }
    }

    /// After a change at grid point `g`: its anion sums and every rate that can depend on it.
    fn refresh_around(&mut self, g: usize) {
        self.update_anion_sums(g);
        self.refresh_rates(&[g]);
    }

    /// Recompute every rate within reach of the changed points: a TM's rate reads its
    /// target, spectators and the anion sums of both octahedra (offsets up to L1 = 3), and an
    /// anion sum reads its six cations (L1 = 1), so L1 ≤ 4 (and ≤ 3 along any axis) covers
    /// every dependency; O-release rates read less.
    fn refresh_rates(&mut self, changed: &[usize]) {
        let l = self.lattice();
        self.work.stamp_now = self.work.stamp_now.wrapping_add(1);
        if self.work.stamp_now == 0 {
            self.work.stamp.fill(0);
            self.work.stamp_now = 1;
        }
        let n_cat = l.n_cations();
        for &g in changed {
            let p = l.grid_coords(g);
            for &o in REFRESH_OFFSETS.iter() {
                let Some(n) = self.at(p, o) else { continue };
                if self.work.stamp[n] == self.work.stamp_now {
                    continue;
                }
                self.work.stamp[n] = self.work.stamp_now;
                if Lattice::is_cation(l.grid_coords(n)) {
                    let (hops, fell_back) = self.tm_rate(n);
                    self.work.fell_back |= fell_back;
                    let r = hops + self.dissolution_rate(n);
                    self.set_rate(Lattice::sublattice_index(n), r);
                } else {
                    let r = self.o_loss_rate(n);
                    self.set_rate(n_cat + Lattice::sublattice_index(n), r);
                }
            }
        }
        self.refresh_tet_rates(changed);
    }

    /// Recompute the exit rates of the occupied tetrahedra within reach of the changed
    /// points: an exit reads the tetrahedron's corners and its target's anion sums, so cubes
    /// whose lowest corner lies within [−3, 2] of a change along each axis.
    fn refresh_tet_rates(&mut self, changed: &[usize]) {
        if self.work.tet_tree.is_none() || self.state.config.tetrahedral().is_empty() {
            return;
        }
        let l = self.lattice();
        let mut seen: Vec<usize> = Vec::new();
        for &g in changed {
            let p = l.grid_coords(g);
            for oz in -3..=2i8 {
                for oy in -3..=2i8 {
                    for ox in -3..=2i8 {
                        let Some(t) = self.at(p, [ox, oy, oz]) else { continue };
                        if self.state.config.tetrahedral_at(t as u32).is_none() || seen.contains(&t) {
                            continue;
                        }
                        seen.push(t);
                        let exits = self.tet_exits(t);
                        self.work.fell_back |= exits.fell_back;
                        self.set_tet_rate(t, exits.sum());
                    }
                }
            }
        }
    }

    fn set_tet_rate(&mut self, t: usize, r: f64) {
        let old = self.work.tet_rate[t];
        if old != r {
            self.work.tet_rate[t] = r;
            if let Some(tree) = self.work.tet_tree.as_mut() {
                tree.add(t, r - old);
            }
        }
    }

    /// The O neighbour a TM at `g` would dissolve with (the one with the fewest TM
    /// neighbours, then the lowest index), if it may dissolve at all: state 2+, at most
    /// `dissolution_max_anions` anion neighbours.
    fn dissolution_partner(&self, g: usize) -> Option<usize> {
        let m = &self.state.model;
        m.dissolution_barrier_ev?;
        if !species::is_tm(self.code(g)) || self.valence(Lattice::sublattice_index(g)) != 2 {
            return None;
        }
        let p = self.lattice().grid_coords(g);
        // Called for every TM on every rate refresh while dissolution is on: no allocation.
        let anions = || {
            OCTAHEDRON_ANIONS
                .iter()
                .filter_map(move |&o| self.at(p, o))
                .filter(|&x| self.code(x) != species::ANION_VACANCY)
        };
        if anions().count() > m.dissolution_max_anions as usize {
            return None;
        }
        anions().filter(|&x| self.code(x) == species::O).min_by_key(|&x| (tm_neighbours_of(&self.state.config, x), x))
    }

    /// Rate of the dissolution of the TM at `g` (0 if it cannot dissolve), s⁻¹.
    fn dissolution_rate(&self, g: usize) -> f64 {
        match (self.state.model.dissolution_barrier_ev, self.dissolution_partner(g)) {
            (Some(e), Some(_)) => self.state.model.attempt_frequency_hz * (-e / self.work.kt).exp(),
            _ => 0.0,
        }
    }

    /// Dissolve the TM at `g` with its O partner: both leave, and so does the cation site
    /// (the rocksalt keeps one cation site per anion). A labile O that held a hole passes it
    /// to another TM; if none can take it, nothing dissolves. Returns whether it dissolved.
    fn dissolve(&mut self, g: usize) -> bool {
        let c = Lattice::sublattice_index(g);
        let Some(gx) = self.dissolution_partner(g) else {
            self.set_rate(c, self.tm_rate(g).0);
            return false;
        };
        let (code, valence, labile) = (self.code(g), self.valence(c), self.is_labile_o(gx));
        self.state.config.set_code(g, species::VACANCY);
        self.state.config.set_valence_slot(c, 0);
        self.state.config.set_code(gx, species::ANION_VACANCY);
        if labile {
            // One labile O fewer: the O-redox capacity shrinks, and a hole it can no longer
            // hold moves to a TM left in the cell (an internal electron transfer).
            if self.state.holes >= self.state.max_holes && self.state.holes > 0 {
                let mut queue = self.redox_queue(true);
                if self.next_level(&queue).is_none_or(|(is_o, _)| is_o) {
                    self.state.config.set_code(g, code);
                    self.state.config.set_valence_slot(c, valence);
                    self.state.config.set_code(gx, species::O);
                    self.set_rate(c, self.tm_rate(g).0);
                    return false;
                }
                self.take_level(&mut queue);
                self.state.holes -= 1;
            }
            self.state.max_holes = (self.state.max_holes - 1).max(0);
        }
        self.state.origin[c] = u32::MAX;
        self.state.collapsed[c] = true;
        self.state.tm_dissolved += 1;
        self.work.li_prob[c] = 0.0;
        self.work.accessible[c] = false;
        self.update_anion_sums(g);
        self.refresh_rates(&[g, gx]);
        true
    }

    /// Hop the TM at grid `ga` along path `k`.
    pub(crate) fn move_tm(&mut self, ga: usize, k: usize) {
        let l = self.lattice();
        let p = l.grid_coords(ga);
        let gb = self.at(p, PATHS[k].target).expect("a chosen path stays inside the slab");
        let (ca, cb) = (Lattice::sublattice_index(ga), Lattice::sublattice_index(gb));
        let code = self.code(ga);
        let v = self.valence(ca);
        // A Li sampled on B takes the octahedron the TM left: Li and charge are conserved.
        let li_on_b = self.code(gb) == species::LI;
        self.state.config.set_code(gb, code);
        self.state.config.set_valence_slot(cb, v);
        self.state.config.set_code(ga, if li_on_b { species::LI } else { species::VACANCY });
        self.state.config.set_valence_slot(ca, 0);
        self.state.origin.swap(ca, cb);
        // Both sites are off the Li network until the next step recomputes it.
        self.work.accessible[ca] = false;
        self.work.accessible[cb] = false;
        self.work.li_prob[ca] = li_on_b as u8 as f64;
        self.work.li_prob[cb] = 0.0;
        self.update_anion_sums(ga);
        self.update_anion_sums(gb);
        self.refresh_rates(&[ga, gb]);
    }

    /// After a change of the TM on tetrahedron `t` (its valence): its anions' sums and every
    /// rate within reach.
    fn refresh_tetrahedron(&mut self, t: usize) {
        let p = self.lattice().grid_coords(t);
        let Some((_, vertices, anions)) = self.tet_corners(p, [0, 0, 0]) else { return };
        for &a in &anions {
            self.work.anion_q[Lattice::sublattice_index(a)] = self.anion_charge(a);
        }
        let mut changed = [0usize; 8];
        changed[..4].copy_from_slice(&vertices);
        changed[4..].copy_from_slice(&anions);
        self.refresh_rates(&changed);
    }

    /// Move the TM at cation grid index `ga` into the `k`-th tetrahedron of `tet_entries`.
    /// Li sampled on the other face-sharing octahedra move to the nearest free octahedra
    /// (Li and charge are conserved; like the sites a TM hop touches, they stay off the Li
    /// network until the next step). Returns false (nothing moved) if no free octahedron
    /// is within reach for them.
    pub(crate) fn enter_tetrahedron(&mut self, ga: usize, k: usize) -> bool {
        let l = self.lattice();
        let p = l.grid_coords(ga);
        let Some((t, vertices, anions)) = self.tet_corners(p, entry_cube(k)) else { return false };
        // Where the Li on the vertices go: the nearest empty, open octahedra (L1 ≤ 4 of A).
        let displaced: Vec<usize> =
            vertices.iter().copied().filter(|&x| x != ga && self.code(x) == species::LI).collect();
        let mut landing: Vec<usize> = Vec::new();
        if !displaced.is_empty() {
            let mut free: Vec<(i8, usize)> = REFRESH_OFFSETS
                .iter()
                .filter(|o| (o[0] + o[1] + o[2]).rem_euclid(2) == 0)
                .filter_map(|&o| self.at(p, o).map(|n| (o.iter().map(|x| x.abs()).sum::<i8>(), n)))
                .filter(|&(_, n)| {
                    let c = Lattice::sublattice_index(n);
                    self.code(n) == species::VACANCY
                        && !self.state.collapsed[c]
                        && !self.tet_blocked(c)
                        && !vertices.contains(&n)
                })
                .collect();
            if free.len() < displaced.len() {
                return false;
            }
            free.sort_unstable();
            landing.extend(free.iter().take(displaced.len()).map(|&(_, n)| n));
        }
        let ca = Lattice::sublattice_index(ga);
        let (code, v) = (self.code(ga), self.valence(ca));
        self.state.config.set_code(ga, species::VACANCY);
        self.state.config.set_valence_slot(ca, 0);
        for &x in &displaced {
            self.state.config.set_code(x, species::VACANCY);
        }
        for &x in &landing {
            let c = Lattice::sublattice_index(x);
            self.state.config.set_code(x, species::LI);
            self.work.li_prob[c] = 1.0;
            self.work.accessible[c] = false;
        }
        self.state.config.insert_tetrahedral(crate::config::TetrahedralTm { tetrahedron: t as u32, code, valence: v });
        let origin = std::mem::replace(&mut self.state.origin[ca], u32::MAX);
        self.state.tet_origin.insert(t as u32, origin);
        for &x in &vertices {
            let c = Lattice::sublattice_index(x);
            self.work.tet_blocked[c] += 1;
            self.work.li_prob[c] = 0.0;
            self.work.accessible[c] = false;
        }
        for &x in vertices.iter().chain(&landing) {
            self.update_anion_sums(x);
        }
        let mut changed: Vec<usize> = vertices.iter().chain(&anions).chain(&landing).copied().collect();
        changed.push(t);
        self.refresh_rates(&changed);
        true
    }

    /// Move the TM on tetrahedron `t` into its `k`-th face-sharing octahedron (`tet_exits`).
    /// The other three stay empty and off the Li network until the next step.
    pub(crate) fn leave_tetrahedron(&mut self, t: usize, k: usize) {
        let l = self.lattice();
        let p = l.grid_coords(t);
        let Some((_, vertices, anions)) = self.tet_corners(p, [0, 0, 0]) else { return };
        let Some(tm) = self.state.config.remove_tetrahedral(t as u32) else { return };
        let origin = self.state.tet_origin.remove(&(t as u32)).unwrap_or(u32::MAX);
        let gb = vertices[k];
        let cb = Lattice::sublattice_index(gb);
        self.state.config.set_code(gb, tm.code);
        self.state.config.set_valence_slot(cb, tm.valence);
        self.state.origin[cb] = origin;
        for &x in &vertices {
            let c = Lattice::sublattice_index(x);
            self.work.tet_blocked[c] -= 1;
            self.work.li_prob[c] = 0.0;
            self.work.accessible[c] = false;
        }
        self.set_tet_rate(t, 0.0);
        for &x in &vertices {
            self.update_anion_sums(x);
        }
        let mut changed: Vec<usize> = vertices.iter().chain(&anions).copied().collect();
        changed.push(t);
        self.refresh_rates(&changed);
    }

    /// Release the O at grid `gx`: its two electrons reduce the TMs around the vacancy (the
    /// most oxidised first), then fill O holes, then reduce TMs anywhere in the redox order.
    fn lose_oxygen(&mut self, gx: usize) {
        let l = self.lattice();
        let p = l.grid_coords(gx);
        if self.state.holes < 2 && self.reduction_room() < 2 {
            // Nothing left to take the two electrons: no O can leave in this step.
            self.work.hole_fraction = 0.0;
            let n_cat = l.n_cations();
            for a in 0..l.n_anions() {
                self.set_rate(n_cat + a, 0.0);
            }
            return;
        }
        self.state.config.set_code(gx, species::ANION_VACANCY);
        self.state.o_lost += 1;
        // One labile O fewer: the O-redox capacity shrinks, and a hole it can no longer hold
        // takes the first of the two electrons.
        self.state.max_holes = (self.state.max_holes - 1).max(0);
        let mut electrons = 2;
        if self.state.holes > self.state.max_holes {
            self.state.holes -= 1;
            electrons -= 1;
        }
        let mut reduced: Vec<usize> = Vec::new();
        let n_grid = l.n_grid();
        for _ in 0..electrons {
            // Octahedral neighbours by grid index, then tetrahedral ones (n_grid + cube).
            let best = OCTAHEDRON_ANIONS
                .iter()
                .filter_map(|&o| self.at(p, o))
                .filter(|&n| species::is_tm(self.code(n)))
                .map(|n| (n, self.state.config.valences()[Lattice::sublattice_index(n)], self.code(n)))
                .chain(
                    tets_around_anion(&self.state.config, gx)
                        .map(|t| (n_grid + t.tetrahedron as usize, t.valence, t.code)),
                )
                .filter(|&(_, v, code)| v > self.kind_of(code).min)
                .max_by_key(|&(n, v, _)| (v, std::cmp::Reverse(n)));
            if let Some((n, v, _)) = best {
                if n < n_grid {
                    self.state.config.set_valence_slot(Lattice::sublattice_index(n), v - 1);
                } else {
                    self.state.config.set_tetrahedral_valence((n - n_grid) as u32, v - 1);
                }
                reduced.push(n);
            } else {
                let moved = self.apply_electrons(1);
                debug_assert_eq!(moved, 1, "an O with holes present can always be released");
            }
        }
        for n in reduced {
            if n < n_grid {
                self.refresh_around(n);
            } else {
                self.refresh_tetrahedron(n - n_grid);
            }
        }
        // One cation site per O lost leaves the rocksalt: the empty cation site nearest the
        // vacancy (its octahedron first, then up to three grid steps away), among equals the
        // one with the most O vacancies around it, then the lowest index.
        let o_vacancies_around = |this: &Self, g: usize| {
            let q = l.grid_coords(g);
            OCTAHEDRON_ANIONS
                .iter()
                .filter_map(|&o| this.at(q, o))
                .filter(|&x| this.code(x) == species::ANION_VACANCY)
                .count()
        };
        let lost = REFRESH_OFFSETS
            .iter()
            .filter(|o| (o[0] + o[1] + o[2]).rem_euclid(2) == 1 && o.iter().map(|x| x.abs()).sum::<i8>() <= 3)
            .filter_map(|&o| self.at(p, o).map(|n| (n, o.iter().map(|x| x.abs()).sum::<i8>())))
            .filter(|&(n, _)| {
                let c = Lattice::sublattice_index(n);
                self.code(n) == species::VACANCY && !self.state.collapsed[c] && !self.tet_blocked(c)
            })
            .max_by_key(|&(n, dist)| (std::cmp::Reverse(dist), o_vacancies_around(self, n), std::cmp::Reverse(n)))
            .map(|(n, _)| n);
        if let Some(n) = lost {
            let c = Lattice::sublattice_index(n);
            self.state.collapsed[c] = true;
            self.work.li_prob[c] = 0.0;
            self.work.accessible[c] = false;
            self.refresh_around(n);
        }
        // The vacancy's anion neighbours can now leave (the vacancy is their way out), and the
        // TMs around it lost a charged neighbour.
        self.refresh_around(gx);
    }

    /// Recompute the tree's inner sums exactly from the rates.
    fn rebuild_tree(&mut self) {
        let rate = &self.work.rate;
        if let Some(tree) = self.work.tree.as_mut() {
            tree.rebuild(|i| rate[i]);
        }
        let rate = &self.work.tet_rate;
        if let Some(tree) = self.work.tet_tree.as_mut() {
            tree.rebuild(|i| rate[i]);
        }
        self.work.events_since_rebuild = 0;
    }

    /// Run structural events for `duration_s` at the current state. `stop` is polled now and
    /// then; a true answer abandons the hold.
    pub(crate) fn hold(
        &mut self,
        duration_s: f64,
        counts: &mut Counts,
        stop: &dyn Fn() -> bool,
    ) -> std::result::Result<(), Interrupted> {
        self.prepare_events(duration_s);
        let l = self.lattice();
        let n_cat = l.n_cations();
        let mut t = 0.0;
        let mut polls = 0u32;
        loop {
            let main = self.work.tree.as_ref().map_or(0.0, SumTree::total);
            let tet_total = self.work.tet_tree.as_ref().map_or(0.0, SumTree::total);
            let total = main + tet_total;
            if !(total > 0.0 && total.is_finite()) {
                break; // nothing can happen (a NaN total would otherwise never end the hold)
            }
            let dt = -unit_open0(&mut self.state.rng).ln() / total;
            if t + dt > duration_s {
                break;
            }
            t += dt;
            polls += 1;
            if polls % 4096 == 0 && stop() {
                return Err(Interrupted);
            }
            let u = unit(&mut self.state.rng) * total;
            if tet_total > 0.0 && u >= main {
                self.tet_event(u - main, counts);
                continue;
            }
            let tree = self.work.tree.as_ref().expect("built by prepare_events");
            let (first, n, rest) = tree.select_group(u);
            let rate = &self.work.rate;
            let leaf = first + pick(n, |k| rate[first + k], rest).0;
            if !(self.work.rate[leaf] > 0.0) {
                // The inner sums drifted away from the leaves (rates spanning many decades
                // cancel in them): re-sum exactly and draw again. The time step just taken
                // came from a total that was slightly off; rebuilding keeps that bounded.
                self.rebuild_tree();
                continue;
            }
            if leaf < n_cat {
                let g = l.cation_grid_index(leaf);
                let PathRates { rate: paths, raised, own_max, fell_back } = self.tm_paths(g);
                let tets = self.tet_entries(g);
                self.work.fell_back |= fell_back || tets.fell_back;
                let dissolve = self.dissolution_rate(g);
                let sum: f64 = paths.iter().sum::<f64>() + tets.sum() + dissolve;
                if !(sum > 0.0) {
                    self.set_rate(leaf, 0.0); // a stale rate: nothing can move from here
                    continue;
                }
                let u = unit(&mut self.state.rng) * sum;
                let (code, valence) = (self.code(g), self.valence(leaf));
                if u < dissolve {
                    if self.dissolve(g) {
                        counts.tm_dissolved += 1;
                        counts.tally(EventKind::Dissolution, code, valence, 1, false);
                    }
                    self.work.events_since_rebuild += 1;
                    continue;
                }
                if self.work.li_fluctuates {
                    self.work.max_tm_rate = self.work.max_tm_rate.max(own_max).max(tets.own_max);
                }
                let (k, _) = pick(32, |k| if k < 24 { paths[k] } else { tets.rate[k - 24] }, u - dissolve);
                let moved_raised = if k < 24 {
                    self.move_tm(g, k);
                    Some(raised[k])
                } else {
                    self.enter_tetrahedron(g, k - 24).then_some(tets.raised[k - 24])
                };
                if let Some(raised) = moved_raised {
                    counts.tm_hops += 1;
                    counts.tm_hops_raised += raised as u64;
                    counts.tally(EventKind::TmHop, code, valence, 1, raised);
                }
            } else {
                let before = self.state.o_lost;
                self.lose_oxygen(l.anion_grid_index(leaf - n_cat));
                let lost = self.state.o_lost - before;
                counts.o_lost += lost;
                if lost > 0 {
                    counts.tally(EventKind::OLoss, species::O, 0, lost, false);
                }
            }
            self.work.events_since_rebuild += 1;
            if self.work.events_since_rebuild >= 1 << 16 {
                self.rebuild_tree();
            }
        }
        self.state.time_s += duration_s;
        counts.max_tm_rate = counts.max_tm_rate.max(self.work.max_tm_rate);
        // A pair on the fall-back has its faster direction at Γ_Li/R, i.e. at the barrier
        // separation_floor_ev: it is equilibrated within the hold only if that does not
        // exceed the hold's floor (it fires n times).
        if duration_s > 0.0 && self.work.fell_back && self.work.separation_floor_ev > self.work.floor_ev {
            counts.unseparated_holds += 1;
        }
        Ok(())
    }

    /// The event at `u` (within the tetrahedral exits' total): a TM leaves its tetrahedron.
    fn tet_event(&mut self, u: f64, counts: &mut Counts) {
        let tree = self.work.tet_tree.as_ref().expect("tet_total > 0 needs the tree");
        let (first, n, rest) = tree.select_group(u);
        let rate = &self.work.tet_rate;
        let t = first + pick(n, |k| rate[first + k], rest).0;
        if !(self.work.tet_rate[t] > 0.0) {
            // Drifted inner sums (see the main tree): re-sum exactly and draw again.
            let rate = &self.work.tet_rate;
            if let Some(tree) = self.work.tet_tree.as_mut() {
                tree.rebuild(|i| rate[i]);
            }
            return;
        }
        let exits = self.tet_exits(t);
        let sum = exits.sum();
        if !(sum > 0.0) {
            self.set_tet_rate(t, 0.0);
            return;
        }
        if self.work.li_fluctuates {
            self.work.max_tm_rate = self.work.max_tm_rate.max(exits.own_max);
        }
        self.work.fell_back |= exits.fell_back;
        let (k, _) = pick(4, |k| exits.rate[k], unit(&mut self.state.rng) * sum);
        let tm = *self.state.config.tetrahedral_at(t as u32).expect("an exit leaves an occupied tetrahedron");
        counts.tm_hops += 1;
        counts.tm_hops_raised += exits.raised[k] as u64;
        counts.tally(EventKind::TmHop, tm.code, tm.valence, 1, exits.raised[k]);
        self.leave_tetrahedron(t, k);
        self.work.events_since_rebuild += 1;
    }

    /// Charge (`oxidising`) or discharge to `volts`, moving at most `max_moved` Li: at once
    /// (no current), or at the protocol's current in increments, each followed by the
    /// structural events of its duration.
    fn step(
        &mut self,
        volts: f64,
        max_moved: Option<i64>,
        oxidising: bool,
        counts: &mut Counts,
        stop: &dyn Fn() -> bool,
    ) -> std::result::Result<Result<StepOutcome>, Interrupted> {
        let Some(current) = self.state.protocol.current_ma_g else {
            return Ok(self.equilibrate_li_limited(volts, max_moved, oxidising));
        };
        let mah_g_per_li = self.state.mah_g_per_electron / self.state.formula_units;
        let increment = ((CURRENT_INCREMENT_MAH_G / mah_g_per_li).floor() as i64).max(1);
        let seconds_per_li = mah_g_per_li / current * 3600.0;
        let (mut moved, mut volt_sum) = (0i64, 0.0);
        loop {
            let left = max_moved.map(|m| m - moved.abs());
            let this = left.map_or(increment, |l| l.min(increment));
            let out = match self.equilibrate_li_limited(volts, Some(this), oxidising) {
                Ok(out) => out,
                Err(e) => return Ok(Err(e)),
            };
            moved += out.li_moved;
            if out.li_moved != 0 {
                volt_sum += out.mean_voltage_v * out.li_moved.unsigned_abs() as f64;
                self.hold(seconds_per_li * out.li_moved.unsigned_abs() as f64, counts, stop)?;
            }
            // Go on while only the increment stopped it.
            let user_cap = left.is_some_and(|l| l <= increment);
            if out.limit != Limit::Capacity || user_cap || out.li_moved == 0 {
                return Ok(Ok(StepOutcome {
                    li_moved: moved,
                    limit: out.limit,
                    end_voltage_v: out.end_voltage_v,
                    mean_voltage_v: if moved != 0 { volt_sum / moved.unsigned_abs() as f64 } else { f64::NAN },
                }));
            }
        }
    }

    // ----- the cycle ---------------------------------------------------------------------------

    /// Run one charge–hold–discharge–hold cycle. On interruption the run is left as it was
    /// before the cycle.
    pub fn run_cycle(&mut self, stop: &dyn Fn() -> bool) -> std::result::Result<Result<CycleRecord>, Interrupted> {
        let saved = self.state.clone();
        let out = self.cycle_inner(stop);
        if out.is_err() || matches!(out, Ok(Err(_))) {
            self.state = saved;
        }
        out
    }

    fn cycle_inner(&mut self, stop: &dyn Fn() -> bool) -> std::result::Result<Result<CycleRecord>, Interrupted> {
        let p = self.state.protocol.clone();
        let mut counts = Counts::default();
        let n_fu = self.state.formula_units;
        let o_before = self.state.o_lost;
        // Charge.
        let max_removed =
            p.charge_capacity_limit_mah_g.map(|q| (q / self.state.mah_g_per_electron * n_fu).floor() as i64);
        let charge = match self.step(p.charge_cutoff_v, max_removed, true, &mut counts, stop)? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let li_charged = self.state.config.n_li() as f64 / n_fu;
        let mean_valence = self.mean_redox_valence();
        let holes_charged = self.state.holes as f64 / n_fu;
        self.hold(p.charge_time_s, &mut counts, stop)?;
        // Discharge.
        let discharge = match self.step(p.discharge_cutoff_v, None, false, &mut counts, stop)? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let total_li = self.state.config.n_li();
        let l = self.lattice();
        let acc_li = (0..l.n_cations())
            .filter(|&c| self.work.accessible[c] && self.code(l.cation_grid_index(c)) == species::LI)
            .count();
        let li_discharged = total_li as f64 / n_fu;
        let mean_valence_discharged = self.mean_redox_valence();
        self.hold(p.discharge_time_s, &mut counts, stop)?;
        let max_tm = counts.max_tm_rate;
        self.state.cycle += 1;
        let zero_tm = match analyze(&self.network_config(), &BondRule::MaxTm(0), Criterion::Surface) {
            Ok(r) => r.accessible_li_fraction(),
            Err(e) => return Ok(Err(e)),
        };
        let per_e = self.state.mah_g_per_electron;
        let charge_cap = (-charge.li_moved) as f64 / n_fu * per_e;
        let discharge_cap = discharge.li_moved as f64 / n_fu * per_e;
        if self.state.first_discharge_mah_g.is_nan() {
            self.state.first_discharge_mah_g = discharge_cap;
        }
        let li_rate = li_hop_rate(&self.state.barrier, BOLTZMANN_EV_PER_K * p.temperature_k);
        let record = CycleRecord {
            cycle: self.state.cycle,
            time_s: self.state.time_s,
            charge_capacity_mAh_g: charge_cap,
            discharge_capacity_mAh_g: discharge_cap,
            li_per_fu_charged: li_charged,
            li_per_fu_discharged: li_discharged,
            end_of_charge_V: charge.end_voltage_v,
            end_of_discharge_V: discharge.end_voltage_v,
            charge_limited_by: charge.limit,
            discharge_limited_by: discharge.limit,
            mean_charge_voltage_V: charge.mean_voltage_v,
            mean_discharge_voltage_V: discharge.mean_voltage_v,
            discharge_energy_Wh_kg: if discharge.li_moved > 0 { discharge_cap * discharge.mean_voltage_v } else { 0.0 },
            accessible_li_fraction: if total_li > 0 { acc_li as f64 / total_li as f64 } else { f64::NAN },
            zero_tm_li_fraction: zero_tm,
            o_lost_per_fu: self.state.o_lost as f64 / n_fu,
            o_lost_cycle: self.state.o_lost - o_before,
            tm_hops_cycle: counts.tm_hops,
            tm_hops_equilibrated_cycle: counts.tm_hops_raised,
            tm_migrated: self.tm_migrated(),
            cation_sites_lost_per_fu: self.state.collapsed.iter().filter(|&&x| x).count() as f64 / n_fu,
            tm_dissolved_per_fu: self.state.tm_dissolved as f64 / n_fu,
            tm_dissolved_cycle: counts.tm_dissolved,
            tm_tetrahedral: self.state.config.tetrahedral().len() as u64,
            mean_tm_valence_charged: mean_valence,
            mean_tm_valence_discharged: mean_valence_discharged,
            o_holes_per_fu_charged: holes_charged,
            densified_depth_nm: self.densified_depth_nm(),
            li_tm_rate_ratio: if max_tm > 0.0 { li_rate / max_tm } else { f64::INFINITY },
            timescales_separated: counts.unseparated_holds == 0,
        };
        self.state.records.push(record.clone());
        self.state.profiles.push(self.depth_profile());
        let cycle = self.state.cycle;
        let events: Vec<EventCount> = counts
            .by_kind
            .iter()
            .map(|(&(event, code, valence), &(count, equilibrated))| EventCount {
                cycle,
                event,
                species: self.species_label(code, valence),
                count,
                equilibrated,
            })
            .collect();
        self.state.events.extend(events);
        Ok(Ok(record))
    }

    /// Every completed cycle's record.
    pub fn records(&self) -> &[CycleRecord] {
        &self.state.records
    }
    /// Every completed cycle's end-of-cycle depth profile.
    pub fn profiles(&self) -> &[DepthProfile] {
        &self.state.profiles
    }
    /// The slab as its Li network sees it (`network_config`), for the Li kMC: each site lost
    /// to densification, and each octahedron sharing a face with a tetrahedral TM, carries
    /// the first TM's code, so no Li enters it and every tetrahedron it is a vertex of counts
    /// it as a TM; no TM is left on a tetrahedral site, and TM valences are dropped (a marked
    /// site has none, and the Li kMC does not use them).
    pub fn network_configuration(&self) -> Result<Configuration> {
        if self.config().tm_names().is_empty() && self.state.collapsed.contains(&true) {
            return Err(Error::invalid("config", "has lost cation sites but no TM species to mark them with"));
        }
        self.network_config().with_valences(Vec::new())
    }
    /// Cation sites lost to densification, in cation-index order.
    pub fn lost_sites(&self) -> &[bool] {
        &self.state.collapsed
    }
    /// The Li barrier model and the protocol of the run.
    pub fn barrier_model(&self) -> &BarrierModel {
        &self.state.barrier
    }
    pub fn protocol(&self) -> &CyclingProtocol {
        &self.state.protocol
    }
    /// The run's degradation model.
    pub fn degradation_model(&self) -> &DegradationModel {
        &self.state.model
    }
    /// The seed the run started from.
    pub fn seed(&self) -> u64 {
        self.state.seed
    }
    /// The diffusivities measured after cycles (`probe`), by cycle.
    pub fn diffusivity_records(&self) -> &[super::probe::DiffusivityRecord] {
        &self.state.diffusivity
    }
    /// Keep a diffusivity measured after the latest completed cycle (or a later cycle than
    /// any kept); the state and random stream of the run are untouched.
    pub fn add_diffusivity(&mut self, record: super::probe::DiffusivityRecord) -> Result<()> {
        record.check(self.state.diffusivity.last(), self.state.cycle, "diffusivity")?;
        self.state.diffusivity.push(record);
        Ok(())
    }
    /// Every completed cycle's events by kind and species.
    pub fn events(&self) -> &[EventCount] {
        &self.state.events
    }

    /// A species as the event log names it: a TM with its state ("Mn2+"), or "O".
    fn species_label(&self, code: u8, valence: i8) -> String {
        if species::is_tm(code) {
            format!("{}{valence}+", self.kind_of(code).symbol)
        } else {
            "O".to_string()
        }
    }
    /// The material being cycled.
    pub fn composition(&self) -> &Composition {
        &self.state.composition
    }

    /// Mean oxidation state of the redox-active TMs (NaN if there are none).
    fn mean_redox_valence(&self) -> f64 {
        let l = self.lattice();
        let (mut sum, mut n) = (0.0, 0usize);
        for c in (0..l.n_cations()).chain(self.tet_slots()) {
            let code = self.slot_code(c);
            if species::is_tm(code) && self.kind_of(code).rank != usize::MAX {
                sum += self.slot_valence(c) as f64;
                n += 1;
            }
        }
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    }

    /// TMs not on their as-made site (a tetrahedral TM made as such has origin
    /// n_cations + its tetrahedron).
    pub fn tm_migrated(&self) -> u64 {
        let n_cat = self.state.origin.len();
        let tets = self.state.tet_origin.iter().filter(|&(&t, &o)| o as usize != n_cat + t as usize).count();
        self.state.origin.iter().enumerate().filter(|&(c, &o)| o != u32::MAX && o as usize != c).count() as u64
            + tets as u64
    }

    /// Mean depth, over both surfaces, of the densified layer: from the surface down to the
    /// deepest plane (in that half of the slab) that lost at least `DENSIFIED_LOST_FRACTION`
    /// of its cation sites, nm (0 if none has). Sites once lost stay lost, so a plane once
    /// densified stays so and the depth never shrinks. (Lost sites lie mostly one plane
    /// below the surface, next to the vacancies of the surface O, so the surface plane
    /// itself need not qualify.)
    pub fn densified_depth_nm(&self) -> f64 {
        let l = self.lattice();
        let nz = l.dims()[2];
        let (mut lost, mut sites) = (vec![0usize; nz], vec![0usize; nz]);
        for (c, &gone) in self.state.collapsed.iter().enumerate() {
            let z = l.grid_coords(l.cation_grid_index(c))[2];
            sites[z] += 1;
            lost[z] += gone as usize;
        }
        let dense = |z: usize| sites[z] > 0 && lost[z] as f64 >= DENSIFIED_LOST_FRACTION * sites[z] as f64;
        let half = nz.div_ceil(2);
        let from_bottom = (0..half).rev().find(|&z| dense(z)).map_or(0, |z| z + 1);
        let from_top = (0..half).rev().find(|&k| dense(nz - 1 - k)).map_or(0, |k| k + 1);
        let plane_nm = self.lattice().a() / 20.0;
        0.5 * (from_bottom + from_top) as f64 * plane_nm
    }

    /// Per-plane fractions, surface (depth 0) first, planes at equal depth from the two
    /// surfaces averaged. The accessible fraction is that of the last protocol step.
    pub fn depth_profile(&self) -> DepthProfile {
        let l = self.lattice();
        let d = l.dims();
        let nz = d[2];
        let n_depth = nz.div_ceil(2);
        let mut li = vec![0.0; n_depth];
        let mut tm = vec![0.0; n_depth];
        let mut ov = vec![0.0; n_depth];
        let mut acc = vec![0.0; n_depth];
        let mut cat = vec![0.0; n_depth];
        let mut lost = vec![0.0; n_depth];
        let mut an = vec![0.0; n_depth];
        for (g, &code) in self.state.config.grid().iter().enumerate() {
            let p = l.grid_coords(g);
            let k = p[2].min(nz - 1 - p[2]);
            if Lattice::is_cation(p) {
                cat[k] += 1.0;
                li[k] += (code == species::LI) as u8 as f64;
                tm[k] += species::is_tm(code) as u8 as f64;
                let c = Lattice::sublattice_index(g);
                acc[k] += self.work.accessible.get(c).copied().unwrap_or(false) as u8 as f64;
                lost[k] += self.state.collapsed[c] as u8 as f64;
            } else {
                an[k] += 1.0;
                ov[k] += (code == species::ANION_VACANCY) as u8 as f64;
            }
        }
        // A tetrahedral TM counts in the shallower of the two planes its tetrahedron spans.
        for t in self.state.config.tetrahedral() {
            let z = l.grid_coords(t.tetrahedron as usize)[2];
            tm[z.min(nz.saturating_sub(2 + z))] += 1.0;
        }
        let frac = |v: Vec<f64>, n: &[f64]| v.iter().zip(n).map(|(a, b)| a / b).collect();
        DepthProfile {
            depth_nm: (0..n_depth).map(|k| self.depth_nm(k)).collect(),
            li_fraction: frac(li, &cat),
            tm_fraction: frac(tm, &cat),
            o_vacancy_fraction: frac(ov, &an),
            accessible_fraction: frac(acc, &cat),
            lost_site_fraction: frac(lost, &cat),
        }
    }
}

/// Grid index of p + o in a slab (periodic in x and y), `None` beyond a surface. |o| ≤ 3 per
/// axis, less than the box (≥ 4 points per axis): one wrap at most, no division.
#[inline]
fn slab_neighbour(l: &Lattice, p: [usize; 3], o: [i8; 3]) -> Option<usize> {
    let d = l.dims();
    let z = p[2] as isize + o[2] as isize;
    if z < 0 || z >= d[2] as isize {
        return None;
    }
    let wrap = |x: isize, n: usize| -> usize {
        if x < 0 {
            (x + n as isize) as usize
        } else if x >= n as isize {
            (x - n as isize) as usize
        } else {
            x as usize
        }
    };
    let x = wrap(p[0] as isize + o[0] as isize, d[0]);
    let y = wrap(p[1] as isize + o[1] as isize, d[1]);
    Some(x + d[0] * (y + d[1] * z as usize))
}

/// TM neighbours (inside the slab) of the anion at grid index `g`: its six octahedral
/// cation neighbours, and the TMs in the tetrahedra it is a corner of (bonded to it too).
fn tm_neighbours_of(config: &Configuration, g: usize) -> usize {
    let l = config.lattice();
    let p = l.grid_coords(g);
    let octahedral = OCTAHEDRON_ANIONS
        .iter()
        .filter_map(|&o| slab_neighbour(l, p, o))
        .filter(|&n| species::is_tm(config.grid()[n]))
        .count();
    if config.tetrahedral().is_empty() {
        return octahedral;
    }
    octahedral + tets_around_anion(config, g).count()
}

/// The tetrahedral TMs of which the anion at grid index `g` is a corner (the eight grid
/// cubes around it).
fn tets_around_anion(config: &Configuration, g: usize) -> impl Iterator<Item = &crate::config::TetrahedralTm> {
    let l = config.lattice();
    let p = l.grid_coords(g);
    (0..8).filter_map(move |k| {
        let o = [-((k & 1) as i8), -((k >> 1 & 1) as i8), -((k >> 2 & 1) as i8)];
        config.tetrahedral_at(slab_neighbour(l, p, o)? as u32)
    })
}

/// Whether the anion at `g` is an O in a Li-rich environment (see `labile_o_max_tm`).
fn is_labile_o_in(config: &Configuration, g: usize, max_tm: u32) -> bool {
    config.grid()[g] == species::O && tm_neighbours_of(config, g) <= max_tm as usize
}

/// The TM kinds of `config` with their redox windows from `composition` and their barriers.
pub(crate) fn tm_kinds(
    config: &Configuration,
    composition: &Composition,
    model: &DegradationModel,
) -> Result<Vec<TmKind>> {
    let order = crate::composition::redox_order();
    for name in &model.redox_order {
        let active = composition.redox_window(name).is_some_and(|w| w.rank.is_some());
        if !active {
            return Err(Error::invalid(
                "redox_order",
                format!("{name:?} is not a redox-active metal of {}", composition.formula()),
            ));
        }
    }
    config
        .tm_names()
        .iter()
        .map(|name| {
            let w = composition.redox_window(name).ok_or_else(|| {
                Error::invalid("config", format!("has {name} but the material {} does not", composition.formula()))
            })?;
            let rank = match w.rank {
                None => usize::MAX,
                // The levels' voltages alone decide.
                Some(_) if model.redox_order.is_empty() => 0,
                Some(r) => model.redox_order.iter().position(|s| s == name).unwrap_or(order.len() + r),
            };
            let barrier = std::array::from_fn(|v| model.migration_barrier(name, v as i8));
            let potential = std::array::from_fn(|v| model.redox_potential(name, v as i8));
            let tetrahedral = std::array::from_fn(|v| model.tetrahedral_energy(name, v as i8));
            Ok(TmKind {
                tetrahedral,
                symbol: name.clone(),
                min: w.min.round() as i8,
                max: w.max.round() as i8,
                rank,
                barrier,
                potential,
            })
        })
        .collect()
}

/// Give every TM an integer state so that each kind's mean is its composition state: the
/// floor, and the ceiling on a fixed-priority share of the sites.
fn assign_average_valences(state: &mut CellState, composition: &Composition) {
    let l = *state.config.lattice();
    let n_cat = l.n_cations();
    let mut valences = vec![0i8; n_cat];
    let cations = state.config.cations();
    for (k, kind) in state.kinds.iter().enumerate() {
        let code = species::FIRST_TM + k as u8;
        let avg = composition.redox_window(&kind.symbol).map_or(kind.min as f64, |w| w.state);
        let lo = avg.floor();
        let mut sites: Vec<usize> = (0..n_cat).filter(|&c| cations[c] == code).collect();
        sites.sort_by(|&a, &b| {
            keyed_unit(state.seed ^ PRIORITY_KEY, a as u64).total_cmp(&keyed_unit(state.seed ^ PRIORITY_KEY, b as u64))
        });
        let n_hi = ((avg - lo) * sites.len() as f64).round() as usize;
        for (i, &c) in sites.iter().enumerate() {
            valences[c] = (lo as i8 + (i < n_hi) as i8).clamp(1, 8);
        }
    }
    state.config = state.config.clone().with_valences(valences).expect("valences of TM sites only, 1..=8");
}

/// Total charge of a cell state, e.
pub(crate) fn charge_sum_of(state: &CellState) -> i64 {
    let l = state.config.lattice();
    let grid = state.config.grid();
    let mut q = state.holes;
    for c in 0..l.n_cations() {
        let code = grid[l.cation_grid_index(c)];
        q += match code {
            species::LI => 1,
            species::VACANCY => 0,
            _ => state.config.valences()[c] as i64,
        };
    }
    q += state.config.tetrahedral().iter().map(|t| t.valence as i64).sum::<i64>();
    for a in 0..l.n_anions() {
        q += match grid[l.anion_grid_index(a)] {
            species::O => -2,
            species::F | species::CL => -1,
            _ => 0,
        };
    }
    q
}
