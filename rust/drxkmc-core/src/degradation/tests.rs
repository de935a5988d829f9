//! Exact results and invariants of cycling (see the module docs for the model).

use super::cell::{Counts, Cycling, PathRates};
use super::file;
use super::model::{CyclingProtocol, DegradationModel};
use crate::composition::Composition;
use crate::config::{species, Configuration};
use crate::lattice::{Geometry, Lattice, OCTAHEDRON_ANIONS, PATHS};
use crate::model::{BarrierModel, BOLTZMANN_EV_PER_K};

pub(super) fn lmto() -> Composition {
    Composition::parse("Li1.2Mn0.4Ti0.4O2", &[]).unwrap()
}

pub(super) fn slab(size: [usize; 3]) -> Lattice {
    Lattice::new(size, 4.15, Geometry::Slab).unwrap()
}

/// A random as-made Li1.2Mn0.4Ti0.4O2 slab.
pub(super) fn lmto_slab(size: [usize; 3], seed: u64) -> Configuration {
    let l = slab(size);
    let n = l.n_cations();
    let n_mn = (0.2 * n as f64).round() as usize;
    Configuration::random(l, n - 2 * n_mn, &[n_mn, n_mn], vec!["Mn".into(), "Ti".into()], 0, 0, seed).unwrap()
}

/// A run on exactly `cfg` (with its valences) for rate tests, which do not need a neutral
/// cell: built from a copy with every empty cation site filled with Li (so that the cell can
/// balance its charge with O holes), then given `cfg`'s occupancy and valences back.
pub(super) fn probe(cfg: &Configuration, model: &DegradationModel, protocol: &CyclingProtocol) -> Cycling {
    let filled: Vec<u8> = cfg.cations().iter().map(|&s| if s == species::VACANCY { species::LI } else { s }).collect();
    let full = Configuration::from_species(*cfg.lattice(), &filled, &cfg.anions(), cfg.tm_names().to_vec()).unwrap();
    let model = DegradationModel { labile_o_max_tm: 6, ..model.clone() };
    let mut c = Cycling::new(&full, &lmto(), &BarrierModel::default(), &model, protocol, 1).unwrap();
    c.state.config = cfg.clone();
    c
}

/// `probe`, charged to 4.8 V with its events prepared for a hold of `hold_s`.
pub(super) fn charged_probe(
    cfg: &Configuration,
    model: &DegradationModel,
    protocol: &CyclingProtocol,
    hold_s: f64,
) -> Cycling {
    let mut c = probe(cfg, model, protocol);
    c.equilibrate_li(4.8).unwrap();
    c.prepare_events(hold_s);
    c
}

/// An empty slab but for one TM `name` in state `valence` on cation site `site`, all anions O.
fn lone_tm(l: Lattice, site: usize, name: &str, valence: i8) -> Configuration {
    let n = l.n_cations();
    let mut cations = vec![species::VACANCY; n];
    cations[site] = species::FIRST_TM;
    let mut valences = vec![0i8; n];
    valences[site] = valence;
    Configuration::from_species(l, &cations, &vec![species::O; l.n_anions()], vec![name.into()])
        .unwrap()
        .with_valences(valences)
        .unwrap()
}

pub(super) fn never() -> bool {
    false
}

/// Energy difference between two cells, summed anion by anion (exact where nothing changed),
/// plus the tetrahedral-site energies of the TMs on tetrahedra (`tetrahedral_energy_eV`).
pub(super) fn energy_difference(a: &Cycling, b: &Cycling) -> f64 {
    let sites = |c: &Cycling| -> f64 {
        let cfg = c.config();
        cfg.tetrahedral()
            .iter()
            .map(|t| {
                let name = &cfg.tm_names()[(t.code - species::FIRST_TM) as usize];
                c.state.model.tetrahedral_energy(name, t.valence).expect("a tetrahedral state of the model")
            })
            .sum()
    };
    anion_energies(b).iter().zip(anion_energies(a)).map(|(x, y)| x - y).sum::<f64>() + sites(b) - sites(a)
}

/// The anion corners (grid indices) of the tetrahedron whose grid cube's lowest corner is
/// `t`: its odd corners, x and y periodic.
pub(super) fn tetrahedron_anions(l: &Lattice, t: usize) -> Vec<usize> {
    let d = l.dims();
    let p = l.grid_coords(t);
    let mut out = Vec::new();
    for k in 0..8 {
        let q = [(p[0] + (k & 1)) % d[0], (p[1] + (k >> 1 & 1)) % d[1], p[2] + (k >> 2 & 1)];
        if (q[0] + q[1] + q[2]) % 2 == 1 {
            out.push(l.grid_index(q));
        }
    }
    out
}

/// Each anion's term of the cell's electroneutrality energy J·(Q − 6|q|)², computed from
/// scratch (independent of the engine's local bookkeeping), Li at the step's probabilities;
/// 0 for a vacancy. A tetrahedral TM (bond strength v/4 instead of v/6) adds 1.5·v to the Q
/// of each of its four anions.
fn anion_energies(c: &Cycling) -> Vec<f64> {
    let cfg = c.config();
    let l = *cfg.lattice();
    let mut tetrahedral = vec![0.0; l.n_anions()];
    for t in cfg.tetrahedral() {
        for g in tetrahedron_anions(&l, t.tetrahedron as usize) {
            tetrahedral[Lattice::sublattice_index(g)] += 1.5 * t.valence as f64;
        }
    }
    (0..l.n_anions())
        .map(|a| {
            let target = match cfg.grid()[l.anion_grid_index(a)] {
                species::O => 12.0,
                species::F | species::CL => 6.0,
                _ => return 0.0,
            };
            let q = anion_q_octahedral(c, a) + tetrahedral[a];
            c.state.model.electroneutrality_ev * (q - target).powi(2)
        })
        .collect()
}

/// Q of anion `a` from its octahedral cation neighbours only (as in `anion_energies`).
fn anion_q_octahedral(c: &Cycling, a: usize) -> f64 {
    let cfg = c.config();
    let l = *cfg.lattice();
    let d = l.dims();
    let p = l.grid_coords(l.anion_grid_index(a));
    let mut q = 0.0;
    for o in OCTAHEDRON_ANIONS {
        let z = p[2] as isize + o[2] as isize;
        if z < 0 || z >= d[2] as isize {
            continue;
        }
        let n = l.grid_index([
            (p[0] as isize + o[0] as isize).rem_euclid(d[0] as isize) as usize,
            (p[1] as isize + o[1] as isize).rem_euclid(d[1] as isize) as usize,
            z as usize,
        ]);
        let code = cfg.grid()[n];
        let c_idx = Lattice::sublattice_index(n);
        q += if species::is_tm(code) { cfg.valences()[c_idx] as f64 } else { c.work.li_prob[c_idx] };
    }
    q
}

#[test]
fn no_degradation_gives_identical_cycles_and_the_extractable_li() {
    let cfg = lmto_slab([4, 4, 6], 3);
    let model = DegradationModel { labile_o_max_tm: 6, ..DegradationModel::inert() };
    let barrier = BarrierModel::default();
    let protocol = CyclingProtocol::default();
    let mut c = Cycling::new(&cfg, &lmto(), &barrier, &model, &protocol, 7).unwrap();
    // Independently: the Li the kinetic network connects to a surface.
    let net = crate::equilibrium::kinetic_network(&cfg, &barrier, 300.0, protocol.li_timescale_s).unwrap();
    let records: Vec<_> = (0..4).map(|_| c.run_cycle(&never).unwrap().unwrap()).collect();
    let per_e = lmto().capacity_per_electron_mah_g();
    let n_fu = c.state.formula_units;
    // With every O labile the levels outnumber the Li: every accessible Li leaves by 4.8 V.
    let expect = net.n_accessible_li as f64 / n_fu * per_e;
    assert!(
        (records[0].charge_capacity_mAh_g - expect).abs() < 1e-9,
        "{} vs {expect}",
        records[0].charge_capacity_mAh_g
    );
    for r in &records {
        assert_eq!(r.discharge_capacity_mAh_g, records[0].discharge_capacity_mAh_g);
        assert_eq!(r.charge_capacity_mAh_g, records[0].charge_capacity_mAh_g);
        assert_eq!(r.tm_hops_cycle + r.o_lost_cycle, 0);
    }
    assert_eq!(c.config().cations(), cfg.cations(), "the as-made state comes back");
}

#[test]
fn charge_stops_at_the_redox_limit() {
    // Li1.2Mn0.4Ti0.4O2: Mn3+ -> Mn4+ gives 0.4 e/f.u., plus the O-redox allowance.
    let cfg = lmto_slab([4, 4, 6], 5);
    let model = DegradationModel::inert();
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 1).unwrap();
    // Electrons the Mn can give from their as-built states (the cell balanced its own
    // charge on construction), plus the O-redox allowance.
    let mn_room: i64 = c
        .config()
        .cations()
        .iter()
        .zip(c.config().valences())
        .filter(|(&s, _)| s == species::FIRST_TM)
        .map(|(_, &v)| (4 - v) as i64)
        .sum();
    // Labile O (at most one TM neighbour inside the slab), counted here from the geometry.
    let l = *cfg.lattice();
    let d = l.dims();
    let labile = l
        .anion_points()
        .filter(|p| {
            let n_tm = OCTAHEDRON_ANIONS
                .iter()
                .filter(|o| {
                    let z = p[2] as isize + o[2] as isize;
                    (0..d[2] as isize).contains(&z) && {
                        let g = l.grid_index([
                            (p[0] as isize + o[0] as isize).rem_euclid(d[0] as isize) as usize,
                            (p[1] as isize + o[1] as isize).rem_euclid(d[1] as isize) as usize,
                            z as usize,
                        ]);
                        species::is_tm(cfg.grid()[g])
                    }
                })
                .count();
            n_tm <= 1
        })
        .count() as f64;
    let r = c.run_cycle(&never).unwrap().unwrap();
    let n_fu = c.state.formula_units;
    let electrons = mn_room as f64 + labile;
    let per_e = lmto().capacity_per_electron_mah_g();
    assert!((r.charge_capacity_mAh_g - electrons / n_fu * per_e).abs() < 1e-9);
    assert!((r.mean_tm_valence_charged - 4.0).abs() < 1e-12, "every Mn at 4+");
    assert!((r.o_holes_per_fu_charged - labile / n_fu).abs() < 1e-12);
    assert_eq!(r.end_of_charge_V, 4.8, "the electrode reaches the cut-off");
    assert_eq!(r.charge_limited_by, super::cell::Limit::Redox);
}

#[test]
fn a_cut_off_below_the_o_redox_onset_oxidises_and_loses_no_o() {
    let cfg = lmto_slab([4, 4, 6], 2);
    let model = DegradationModel { o_loss_barrier_ev: 0.8, ..DegradationModel::default() };
    let run = |cut: f64| {
        let p = CyclingProtocol { charge_cutoff_v: cut, ..CyclingProtocol::default() };
        let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &p, 4).unwrap();
        let r: Vec<_> = (0..3).map(|_| c.run_cycle(&never).unwrap().unwrap()).collect();
        assert_eq!(c.charge_sum(), 0);
        r
    };
    let low = run(model.o_redox_voltage_v - 0.1);
    let high = run(4.8);
    assert!(low.iter().all(|r| r.o_holes_per_fu_charged == 0.0 && r.o_lost_cycle == 0));
    assert!(high[0].o_holes_per_fu_charged > 0.0 && high.iter().map(|r| r.o_lost_cycle).sum::<u64>() > 0);
    // Below the onset only the Mn³⁺ → Mn⁴⁺ electrons are drawn: less capacity.
    assert!(low[0].charge_capacity_mAh_g < high[0].charge_capacity_mAh_g);
    assert!((low[0].mean_tm_valence_charged - 4.0).abs() < 1e-12);
}

#[test]
fn a_capacity_cut_off_stops_charge_there() {
    let cfg = lmto_slab([4, 4, 6], 5);
    let per_e = lmto().capacity_per_electron_mah_g();
    let limit = 100.0;
    let protocol = CyclingProtocol { charge_capacity_limit_mah_g: Some(limit), ..CyclingProtocol::default() };
    let mut c =
        Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &DegradationModel::inert(), &protocol, 1).unwrap();
    let r = c.run_cycle(&never).unwrap().unwrap();
    // Whole Li only: the largest count whose capacity stays within the limit.
    assert!(r.charge_capacity_mAh_g <= limit && r.charge_capacity_mAh_g > limit - per_e / c.state.formula_units);
    assert!(r.end_of_charge_V < protocol.charge_cutoff_v);
    assert_eq!(r.charge_limited_by, super::cell::Limit::Capacity);
    let bad = CyclingProtocol { charge_capacity_limit_mah_g: Some(-1.0), ..CyclingProtocol::default() };
    assert_eq!(bad.validate().unwrap_err().field(), "charge_capacity_limit_mAh_g");
}

#[test]
fn a_full_tm_plane_leaves_only_the_li_outside_it_extractable() {
    let l = slab([3, 3, 8]);
    let d = l.dims();
    let planes = [3usize, d[2] - 1 - 3];
    let cations: Vec<u8> =
        l.cation_points().map(|p| if planes.contains(&p[2]) { species::FIRST_TM } else { species::LI }).collect();
    let outside = l.cation_points().filter(|p| p[2] < planes[0] || p[2] > planes[1]).count();
    let cfg = Configuration::from_species(l, &cations, &vec![species::O; l.n_anions()], vec!["Mn".into()]).unwrap();
    // The composition supplies Mn's redox window; the cell balances its own charge (O holes).
    let comp = lmto();
    let model = DegradationModel { labile_o_max_tm: 6, ..DegradationModel::inert() };
    let mut c = Cycling::new(&cfg, &comp, &BarrierModel::default(), &model, &CyclingProtocol::default(), 2).unwrap();
    let li0 = c.config().n_li();
    let r = c.run_cycle(&never).unwrap().unwrap();
    let removed = (li0 as f64 - r.li_per_fu_charged * c.state.formula_units).round() as usize;
    assert_eq!(removed, outside);
}

#[test]
fn charge_stays_neutral_and_species_are_conserved() {
    let cfg = lmto_slab([4, 4, 6], 11);
    // Fast events everywhere: Mn moves at every valence, O leaves readily.
    let mut model = DegradationModel::default();
    for v in 2..=4 {
        model.migration_barrier_ev.insert(format!("Mn{v}+"), 0.75);
    }
    model.o_loss_barrier_ev = 0.8;
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 4).unwrap();
    assert_eq!(c.charge_sum(), 0);
    let count = |cfg: &Configuration, code: u8| cfg.cations().iter().filter(|&&s| s == code).count();
    let mut events = 0;
    for _ in 0..3 {
        let r = c.run_cycle(&never).unwrap().unwrap();
        events += r.tm_hops_cycle + r.o_lost_cycle;
        assert_eq!(c.charge_sum(), 0);
        for code in [species::FIRST_TM, species::FIRST_TM + 1] {
            assert_eq!(count(c.config(), code), count(&cfg, code));
        }
        let vac = c.config().anions().iter().filter(|&&a| a == species::ANION_VACANCY).count() as u64;
        assert_eq!(vac, c.state.o_lost);
        assert!((r.o_lost_per_fu - vac as f64 / c.state.formula_units).abs() < 1e-12);
        // At most one cation site leaves with each O, and only an empty one.
        assert!(r.cation_sites_lost_per_fu <= r.o_lost_per_fu + 1e-12);
    }
    assert!(events > 0, "the test must exercise events");
}

/// The path back from B = A + d: opposite direction through the same tetrahedron (its
/// centre, in a/4 units, seen from B).
pub(super) fn reverse_path(k: usize) -> usize {
    let s = PATHS[k].target;
    (0..24)
        .find(|&r| {
            PATHS[r].target == [-s[0], -s[1], -s[2]]
                && PATHS[r]
                    .centre_quarter
                    .iter()
                    .zip(PATHS[k].centre_quarter.iter())
                    .zip(s.iter())
                    .all(|((a, b), d)| *a == b - 2 * d)
        })
        .expect("every path has a reverse")
}

#[test]
fn tm_hops_obey_detailed_balance_against_the_total_energy() {
    // A few Mn2+ in a Li-free slab (every other site empty): forward and backward rates of
    // a hop differ by exp(−ΔE/kT), ΔE from the whole cell's energy before and after.
    let l = slab([3, 3, 4]);
    let n = l.n_cations();
    let mut cations = vec![species::VACANCY; n];
    for (k, c) in [5usize, 40, 77, 100].iter().enumerate() {
        cations[*c] = species::FIRST_TM + (k % 2) as u8;
    }
    let mut anions = vec![species::O; l.n_anions()];
    anions[3] = species::F;
    let cfg = Configuration::from_species(l, &cations, &anions, vec!["Mn".into(), "Ti".into()])
        .unwrap()
        .with_valences(cations.iter().map(|&s| if species::is_tm(s) { 2 + (s - 2) as i8 * 2 } else { 0 }).collect())
        .unwrap();
    let model = DegradationModel {
        labile_o_max_tm: 6,
        o_loss_barrier_ev: 100.0,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let c = charged_probe(&cfg, &model, &protocol, 1e-12);
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    let mut checked = 0;
    for &site in &[5usize, 40] {
        let ga = l.cation_grid_index(site);
        let fwd = c.tm_paths(ga).rate;
        for k in 0..24 {
            if fwd[k] == 0.0 {
                continue;
            }
            let mut after = c.clone();
            after.move_tm(ga, k);
            let de = energy_difference(&c, &after);
            let p = l.grid_coords(ga);
            let gb = {
                let t = PATHS[k].target;
                let d = l.dims();
                l.grid_index([
                    (p[0] as isize + t[0] as isize).rem_euclid(d[0] as isize) as usize,
                    (p[1] as isize + t[1] as isize).rem_euclid(d[1] as isize) as usize,
                    (p[2] as isize + t[2] as isize) as usize,
                ])
            };
            let rev = after.tm_paths(gb).rate;
            let ratio = fwd[k] / rev[reverse_path(k)];
            let expect = (-de / kt).exp();
            assert!((ratio / expect - 1.0).abs() < 1e-12, "path {k}: {ratio} vs {expect}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn default_barriers_give_arrhenius_rates_in_mobility_order() {
    // One TM in an empty, uncharged slab with J = 0: every open path runs at ν·exp(−E/kT).
    let l = slab([3, 3, 4]);
    let n = l.n_cations();
    let site = n / 2;
    let model = DegradationModel {
        electroneutrality_ev: 0.0,
        labile_o_max_tm: 6,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    let mut rates = Vec::new();
    for (name, v) in [("Mn", 2i8), ("Mn", 3), ("Ti", 4), ("Mn", 4)] {
        let cfg = lone_tm(l, site, name, v);
        // A short hold: no path is raised to the equilibration floor.
        let c = charged_probe(&cfg, &model, &protocol, 1e-9);
        let PathRates { rate: paths, raised: floored, .. } = c.tm_paths(l.cation_grid_index(site));
        let expect = model.attempt_frequency_hz * (-model.migration_barrier(name, v) / kt).exp();
        let open: Vec<f64> = paths.iter().copied().filter(|&r| r > 0.0).collect();
        assert_eq!(open.len(), 24, "{name}{v}+: every path open in an empty interior");
        for r in open {
            assert!((r / expect - 1.0).abs() < 1e-12, "{name}{v}+ {r} vs {expect}");
        }
        assert!(floored.iter().all(|&f| !f));
        rates.push(expect);
    }
    assert!(rates.windows(2).all(|w| w[0] > w[1]), "Mn2+ > Mn3+ > Ti4+ > Mn4+: {rates:?}");
}

#[test]
fn o_loss_at_a_constant_rate_is_binomial() {
    // No TMs, every site Li, every O oxidised (one hole each balances Li⁺ against O²⁻):
    // only surface O can leave (depth 0), each at the same rate k.
    let l = slab([4, 4, 4]);
    let li = vec![species::LI; l.n_cations()];
    let cfg = Configuration::from_species(l, &li, &vec![species::O; l.n_anions()], vec![]).unwrap();
    let model = DegradationModel {
        labile_o_max_tm: 6,
        o_loss_depth_nm: 0.0,
        o_loss_tm_neighbour_ev: 0.0,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let base = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 1).unwrap();
    let d = l.dims();
    let surface = l.anion_points().filter(|p| p[2] == 0 || p[2] == d[2] - 1).count() as f64;
    let mut probe = base.clone();
    probe.equilibrate_li(4.8).unwrap();
    probe.prepare_events(1.0);
    let k = probe.o_loss_rate(l.anion_grid_index(0));
    assert!(k > 0.0);
    let t = 0.7 / k;
    let reps = 300;
    let mut lost = Vec::with_capacity(reps);
    for r in 0..reps {
        let mut c = base.clone();
        c.state.rng = rand::SeedableRng::seed_from_u64(100 + r as u64);
        c.equilibrate_li(4.8).unwrap();
        let mut counts = Counts::default();
        c.hold(t, &mut counts, &never).unwrap();
        lost.push(counts.o_lost as f64);
    }
    let p = 1.0 - (-k * t).exp();
    let mean = lost.iter().sum::<f64>() / reps as f64;
    let var = lost.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (reps - 1) as f64;
    let expect_var = surface * p * (1.0 - p);
    assert!((mean - surface * p).abs() < 4.0 * (expect_var / reps as f64).sqrt(), "{mean} vs {}", surface * p);
    assert!((var / expect_var - 1.0).abs() < 0.35, "variance {var} vs {expect_var}");
}

#[test]
fn resumed_runs_are_bit_identical() {
    let cfg = lmto_slab([3, 3, 6], 8);
    let mut model = DegradationModel::default();
    model.migration_barrier_ev.insert("Mn4+".into(), 0.8);
    model.o_loss_barrier_ev = 0.85;
    let mk = || Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 21).unwrap();
    let mut straight = mk();
    let a: Vec<String> = (0..3).map(|_| format!("{:?}", straight.run_cycle(&never).unwrap().unwrap())).collect();
    let mut first = mk();
    let mut b = vec![format!("{:?}", first.run_cycle(&never).unwrap().unwrap())];
    let bytes = file::encode(&first).unwrap();
    let mut resumed = file::decode(&bytes).unwrap();
    b.extend((0..2).map(|_| format!("{:?}", resumed.run_cycle(&never).unwrap().unwrap())));
    assert_eq!(a, b);
    assert_eq!(straight.config(), resumed.config());
    // A damaged file is refused, naming the field.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert_eq!(file::decode(&bad).unwrap_err().field(), "checkpoint");
    // A forged state that decodes (valid MessagePack) but lies is refused, never indexed.
    for forge in [
        Box::new(|s: &mut super::cell::CellState| s.kinds[0].barrier[2] = f64::NAN) as Box<dyn Fn(&mut _)>,
        Box::new(|s: &mut super::cell::CellState| {
            s.config = Configuration::from_species(slab([3, 3, 8]), &vec![0; 288], &vec![0; 288], vec![]).unwrap()
        }),
        Box::new(|s: &mut super::cell::CellState| s.holes = s.max_holes + 1),
    ] {
        let mut state = resumed.state().clone();
        forge(&mut state);
        let bytes = file::encode(&Cycling::from_state(state)).unwrap();
        assert_eq!(file::decode(&bytes).unwrap_err().field(), "checkpoint");
    }
}

#[test]
fn bad_setups_name_their_field() {
    let cfg = lmto_slab([3, 3, 6], 1);
    let b = BarrierModel::default();
    let p = CyclingProtocol::default();
    let m = DegradationModel::default();
    let bulk = Configuration::random(Lattice::new([3, 3, 4], 4.15, Geometry::Bulk).unwrap(), 10, &[], vec![], 0, 0, 1)
        .unwrap();
    assert_eq!(Cycling::new(&bulk, &lmto(), &b, &m, &p, 0).unwrap_err().field(), "config");
    let deep = DegradationModel { o_loss_depth_nm: 2.6, ..m.clone() };
    assert_eq!(Cycling::new(&cfg, &lmto(), &b, &deep, &p, 0).unwrap_err().field(), "o_loss_depth_nm");
    let order = DegradationModel { redox_order: vec!["Ni".into()], ..m.clone() };
    assert_eq!(Cycling::new(&cfg, &lmto(), &b, &order, &p, 0).unwrap_err().field(), "redox_order");
    let other = Composition::parse("Li1.2Ni0.4Ti0.4O2", &[]).unwrap();
    assert_eq!(Cycling::new(&cfg, &other, &b, &m, &p, 0).unwrap_err().field(), "config");
    let hold = CyclingProtocol { discharge_time_s: -1.0, ..p.clone() };
    assert_eq!(Cycling::new(&cfg, &lmto(), &b, &m, &hold, 0).unwrap_err().field(), "discharge_time_s");
}

#[test]
fn one_tm_samples_the_boltzmann_distribution() {
    // One Mn2+ in a Li-free slab with a few F: its energy (surface planes and F neighbours
    // under-bond it less) decides where it sits. Sampled at fixed time intervals over a long
    // run, its site occupancy follows exp(−E/kT)/Z computed from the whole cell's energy.
    let l = slab([2, 2, 3]);
    let n = l.n_cations();
    let start = 7usize;
    let mut cations = vec![species::VACANCY; n];
    cations[start] = species::FIRST_TM;
    let mut anions = vec![species::O; l.n_anions()];
    for a in [1usize, 10, 30] {
        anions[a] = species::F;
    }
    let mut valences = vec![0i8; n];
    valences[start] = 2;
    let cfg =
        Configuration::from_species(l, &cations, &anions, vec!["Mn".into()]).unwrap().with_valences(valences).unwrap();
    let model = DegradationModel { o_loss_barrier_ev: 100.0, o_loss_depth_nm: 0.5, ..DegradationModel::default() };
    let protocol = CyclingProtocol { temperature_k: 1500.0, ..CyclingProtocol::default() };
    let mut c = charged_probe(&cfg, &model, &protocol, 1.0);
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    // Exact weights: the cell's energy with the TM on each site.
    let where_tm = |c: &Cycling| c.config().cations().iter().position(|&s| species::is_tm(s)).unwrap();
    let mut weights = vec![0.0; n];
    let reference = c.clone();
    for (site, weight) in weights.iter_mut().enumerate() {
        let mut probe_cell = reference.clone();
        probe_cell.state.config.set_code(l.cation_grid_index(start), species::VACANCY);
        probe_cell.state.config.set_valence_slot(start, 0);
        probe_cell.state.config.set_code(l.cation_grid_index(site), species::FIRST_TM);
        probe_cell.state.config.set_valence_slot(site, 2);
        *weight = (-energy_difference(&reference, &probe_cell) / kt).exp();
    }
    let z: f64 = weights.iter().sum();
    let samples = 6000;
    let mut seen = vec![0u32; n];
    let mut counts = Counts::default();
    for _ in 0..samples {
        c.hold(2e-11, &mut counts, &never).unwrap();
        seen[where_tm(&c)] += 1;
    }
    assert!(counts.tm_hops > 20 * samples as u64, "{} hops: samples must decorrelate", counts.tm_hops);
    let (mut chi2, mut dof) = (0.0, 0usize);
    for (&w, &count) in weights.iter().zip(&seen) {
        let expect = samples as f64 * w / z;
        if expect >= 5.0 {
            chi2 += (count as f64 - expect).powi(2) / expect;
            dof += 1;
        }
    }
    let dof = dof.saturating_sub(1) as f64;
    assert!(dof >= 10.0, "{dof}");
    assert!(chi2 < dof + 5.0 * (2.0 * dof).sqrt(), "chi2 {chi2} for {dof} degrees of freedom");
}

#[test]
fn extreme_accepted_protocols_keep_the_cell_neutral() {
    // Hot and very long holds: rates spanning many decades in the rate tree (its inner sums
    // drift; a drifted draw is re-summed, never executed on an empty leaf).
    let cfg = lmto_slab([4, 4, 6], 3);
    for p in [
        CyclingProtocol { temperature_k: 1500.0, ..CyclingProtocol::default() },
        CyclingProtocol { charge_time_s: 1e9, ..CyclingProtocol::default() },
    ] {
        let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &DegradationModel::default(), &p, 1).unwrap();
        let mut events = 0;
        for _ in 0..3 {
            let r = c.run_cycle(&never).unwrap().unwrap();
            events += r.o_lost_cycle + r.tm_hops_cycle;
            assert_eq!(c.charge_sum(), 0, "{p:?}");
        }
        assert!(events > 0);
    }
    let hot = CyclingProtocol { temperature_k: 1e4, ..CyclingProtocol::default() };
    assert_eq!(hot.validate().unwrap_err().field(), "temperature_K");
}

/// Electrons the Mn of an LMTO cell can give (to Mn⁴⁺) from its present states.
fn mn_room(c: &Cycling) -> i64 {
    c.config()
        .cations()
        .iter()
        .zip(c.config().valences())
        .filter(|(&s, _)| s == species::FIRST_TM)
        .map(|(_, &v)| (4 - v) as i64)
        .sum()
}

#[test]
fn charge_takes_exactly_the_redox_levels_below_the_cut_off() {
    // Sharp levels (no spread): Mn³⁺ → Mn⁴⁺ at 3.6 V, the O levels evenly over 4.4–4.8 V.
    let cfg = lmto_slab([5, 5, 6], 8);
    let model = DegradationModel { redox_width_v: 0.0, ..DegradationModel::inert() };
    let make =
        || Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 3).unwrap();
    let probe = make();
    let (mn, labile) = (mn_room(&probe), probe.state.max_holes);
    assert!(mn > 0 && labile > 1, "{mn} {labile}");
    let removed = |cut: f64| {
        let mut c = make();
        let out = c.equilibrate_li(cut).unwrap();
        assert_eq!(c.charge_sum(), 0);
        (-out.li_moved, out.mean_voltage_v, c.state.holes)
    };
    assert_eq!(removed(3.5).0, 0, "below the Mn level nothing leaves");
    let (n, mean, holes) = removed(4.0);
    assert_eq!((n, holes), (mn, 0), "every Mn³⁺ level, no O");
    assert!((mean - 3.6).abs() < 1e-12, "mean voltage = the Mn level: {mean}");
    // Halfway up the O window: the O levels k with 4.4 + 0.4 (k + ½)/M ≤ 4.6, i.e. 2k + 1 ≤ M.
    let (n, _, holes) = removed(4.6);
    assert_eq!(holes, (labile + 1) / 2);
    assert_eq!(n, mn + holes);
}

#[test]
fn spread_levels_give_a_sloping_charge_curve() {
    // With the default spread (uniform ± 0.25 V around 3.6 V), a cut-off at the mean level
    // takes each Mn with probability ½ (binomial), and capacity never falls as the cut-off rises.
    let cfg = lmto_slab([8, 8, 6], 9);
    let model = DegradationModel::inert();
    let make =
        || Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 5).unwrap();
    let mn = mn_room(&make()) as f64;
    let mut c = make();
    let half = -c.equilibrate_li(3.6).unwrap().li_moved as f64;
    let sigma = (mn * 0.25).sqrt();
    assert!((half - mn / 2.0).abs() < 4.0 * sigma, "{half} of {mn} Mn levels below the mean");
    let mut last = -1;
    for k in 0..=30 {
        let cut = 3.0 + 0.06 * k as f64;
        let mut c = make();
        let n = -c.equilibrate_li(cut).unwrap().li_moved;
        assert!(n >= last, "capacity fell from {last} to {n} at {cut} V");
        last = n;
    }
}

#[test]
fn the_densified_layer_starts_at_the_surface_and_never_shrinks() {
    // Fast O loss (low barrier, deep window) densifies the surface over a few cycles; lost
    // sites never come back, so the depth can only grow.
    let cfg = lmto_slab([5, 5, 8], 6);
    let model = DegradationModel { o_loss_barrier_ev: 0.6, o_loss_depth_nm: 1.5, ..DegradationModel::default() };
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 2).unwrap();
    let records: Vec<_> = (0..6).map(|_| c.run_cycle(&never).unwrap().unwrap()).collect();
    let depths: Vec<f64> = records.iter().map(|r| r.densified_depth_nm).collect();
    assert!(depths.windows(2).all(|w| w[1] >= w[0]), "{depths:?}");
    assert!(depths[5] > 0.0, "O loss this fast densifies the surface: {depths:?}");
    // The depth, counted here from the lost sites plane by plane: from each surface down to
    // the deepest plane of its half that lost ≥ 1/6 of its sites, mean of the two surfaces.
    let l = *c.config().lattice();
    let nz = l.dims()[2];
    let (mut lost, mut sites) = (vec![0.0; nz], vec![0.0; nz]);
    for p in l.cation_points() {
        let z = p[2];
        sites[z] += 1.0;
        lost[z] += c.state.collapsed[Lattice::sublattice_index(l.grid_index(p))] as u8 as f64;
    }
    let dense = |z: usize| lost[z] >= sites[z] / 6.0 - 1e-9;
    let half = nz.div_ceil(2);
    let bottom = (0..half).filter(|&z| dense(z)).max().map_or(0, |z| z + 1);
    let top = (0..half).filter(|&k| dense(nz - 1 - k)).max().map_or(0, |k| k + 1);
    let expect = 0.5 * (bottom + top) as f64 * l.a() / 20.0;
    assert!((depths[5] - expect).abs() < 1e-12, "{} vs {expect}", depths[5]);
}

#[test]
fn a_current_spreads_the_same_capacity_over_its_time() {
    // With no events, charging in increments at a current takes the same levels as the
    // equilibrium step, and each step lasts capacity / current.
    let cfg = lmto_slab([5, 5, 6], 11);
    let model = DegradationModel::inert();
    let run = |current: Option<f64>| {
        let protocol = CyclingProtocol { current_ma_g: current, ..CyclingProtocol::default() };
        let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 4).unwrap();
        c.run_cycle(&never).unwrap().unwrap()
    };
    let at_once = run(None);
    let slow = run(Some(20.0));
    assert_eq!(slow.charge_capacity_mAh_g, at_once.charge_capacity_mAh_g);
    assert_eq!(slow.discharge_capacity_mAh_g, at_once.discharge_capacity_mAh_g);
    assert!((slow.mean_charge_voltage_V - at_once.mean_charge_voltage_V).abs() < 1e-12);
    let p = CyclingProtocol::default();
    let steps_h = (slow.charge_capacity_mAh_g + slow.discharge_capacity_mAh_g) / 20.0;
    let expect = p.charge_time_s + p.discharge_time_s + steps_h * 3600.0;
    assert!((slow.time_s / expect - 1.0).abs() < 1e-12, "{} vs {expect}", slow.time_s);
    assert_eq!(at_once.time_s, p.charge_time_s + p.discharge_time_s);
    let bad = CyclingProtocol { current_ma_g: Some(0.0), ..CyclingProtocol::default() };
    assert_eq!(bad.validate().unwrap_err().field(), "current_mA_g");
    let bad = CyclingProtocol { current_ma_g: Some(1e-9), ..CyclingProtocol::default() };
    assert_eq!(bad.validate().unwrap_err().field(), "current_mA_g");
}

#[test]
fn a_slower_current_loses_more_oxygen() {
    // O leaves only while O is oxidised; at a lower current the cell spends longer there.
    let cfg = lmto_slab([6, 6, 6], 12);
    let model = DegradationModel { o_loss_barrier_ev: 0.85, ..DegradationModel::default() };
    let lost = |current: f64| {
        let protocol = CyclingProtocol {
            current_ma_g: Some(current),
            charge_time_s: 0.0,
            discharge_time_s: 0.0,
            ..CyclingProtocol::default()
        };
        let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 5).unwrap();
        (0..3).map(|_| c.run_cycle(&never).unwrap().unwrap().o_lost_cycle).sum::<u64>()
    };
    let (slow, fast) = (lost(2.0), lost(2000.0));
    assert!(slow > fast, "2 mA/g lost {slow} O, 2000 mA/g {fast}");
}

#[test]
fn one_tm_in_an_empty_slab_diffuses_with_the_exact_in_plane_d() {
    // A lone Mn²⁺ (J = 0, no Li, no O loss) hops over its 24 o-t-o paths at Γ = ν·exp(−E/kT)
    // each: D = 4Γ·a_nn² in the bulk, and in-plane D_xy = D·(1 − 1/n_z) on an open slab of
    // n_z cation planes (a surface plane keeps one of the two tetrahedra of each of its 4
    // in-plane edges that reach beyond it: docs/design.md "Diffusivity estimators").
    // Residence-time kMC of the path rates, MSD_xy / 4τ over many windows of equal time.
    use crate::random::{unit, unit_open0};
    use rand::SeedableRng;
    let l = slab([4, 4, 4]);
    let n = l.n_cations();
    let start = n / 2 + 3;
    let cfg = lone_tm(l, start, "Mn", 2);
    let model = DegradationModel {
        electroneutrality_ev: 0.0,
        o_loss_barrier_ev: 100.0,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let mut c = charged_probe(&cfg, &model, &protocol, 1e-12);
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    let gamma = model.attempt_frequency_hz * (-model.migration_barrier("Mn", 2) / kt).exp();
    let a_nn2 = l.a() * l.a() / 2.0;
    let n_z = l.dims()[2] as f64; // every grid plane of rocksalt holds cations
    let expect = 4.0 * gamma * a_nn2 * (1.0 - 1.0 / n_z);
    let tau = 40.0 / (24.0 * gamma); // ~40 hops per window
    let windows = 3000;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
    let mut g = l.cation_grid_index(start);
    let mut samples = Vec::with_capacity(windows);
    // The first windows let the start forget its plane (z uniform in equilibrium).
    for w in 0..windows + 50 {
        let (mut dx, mut dy, mut t) = (0.0f64, 0.0f64, 0.0f64);
        loop {
            let paths = c.tm_paths(g).rate;
            let total: f64 = paths.iter().sum();
            t += -unit_open0(&mut rng).ln() / total;
            if t > tau {
                break; // memoryless: the pending hop belongs to the next window
            }
            let mut u = unit(&mut rng) * total;
            let k = (0..24).find(|&k| {
                u -= paths[k];
                u < 0.0
            });
            let k = k.unwrap_or_else(|| (0..24).rev().find(|&k| paths[k] > 0.0).unwrap());
            dx += PATHS[k].target[0] as f64;
            dy += PATHS[k].target[1] as f64;
            let p = l.grid_coords(g);
            c.move_tm(g, k);
            let d = l.dims();
            let t3 = PATHS[k].target;
            g = l.grid_index([
                (p[0] as isize + t3[0] as isize).rem_euclid(d[0] as isize) as usize,
                (p[1] as isize + t3[1] as isize).rem_euclid(d[1] as isize) as usize,
                (p[2] as isize + t3[2] as isize) as usize,
            ]);
        }
        if w >= 50 {
            let half_a = l.a() / 2.0;
            samples.push((dx * dx + dy * dy) * half_a * half_a / (4.0 * tau));
        }
    }
    let mean = samples.iter().sum::<f64>() / windows as f64;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (windows as f64 - 1.0);
    let err = (var / windows as f64).sqrt();
    assert!((mean - expect).abs() < 4.0 * err, "D_xy {mean:.4e} ± {err:.1e} vs exact {expect:.4e}");
    // Fine enough to tell the slab's factor (1 − 1/n_z = 7/8) from the bulk value.
    assert!(err < 0.025 * expect, "the test resolves 2.5 %: {err:.1e} of {expect:.4e}");
}

#[test]
fn dissolution_removes_mo_units_and_keeps_the_cell_neutral() {
    // O loss reduces surface Mn to Mn²⁺, which then dissolve with one O each.
    let cfg = lmto_slab([5, 5, 6], 13);
    let mut model = DegradationModel {
        o_loss_barrier_ev: 0.8,
        dissolution_barrier_ev: Some(0.8),
        dissolution_max_anions: 5,
        ..DegradationModel::default()
    };
    model.migration_barrier_ev.insert("Mn2+".into(), 1.5); // keep the reduced Mn in place
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 6).unwrap();
    let count = |cfg: &Configuration, code: u8| cfg.cations().iter().filter(|&&s| s == code).count();
    let mn0 = count(&cfg, species::FIRST_TM);
    let mut dissolved = 0;
    for _ in 0..4 {
        let r = c.run_cycle(&never).unwrap().unwrap();
        dissolved += r.tm_dissolved_cycle;
        assert_eq!(c.charge_sum(), 0);
        assert_eq!(count(c.config(), species::FIRST_TM) as u64 + c.state.tm_dissolved, mn0 as u64);
        let vac = c.config().anions().iter().filter(|&&a| a == species::ANION_VACANCY).count() as u64;
        assert_eq!(vac, c.state.o_lost + c.state.tm_dissolved, "each MO unit takes one O");
        let lost = c.state.collapsed.iter().filter(|&&x| x).count() as u64;
        assert!(lost >= c.state.tm_dissolved && lost <= c.state.o_lost + c.state.tm_dissolved);
        assert!((r.tm_dissolved_per_fu - c.state.tm_dissolved as f64 / c.state.formula_units).abs() < 1e-12);
    }
    assert_eq!(dissolved, c.state.tm_dissolved);
    assert!(dissolved > 0, "the test must exercise dissolution");
    // Off by default: the same run without it dissolves nothing.
    let off = DegradationModel { dissolution_barrier_ev: None, ..model };
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &off, &CyclingProtocol::default(), 6).unwrap();
    assert_eq!(c.run_cycle(&never).unwrap().unwrap().tm_dissolved_cycle, 0);
}

#[test]
fn a_reduced_surface_tm_dissolves_at_the_arrhenius_rate() {
    // One Mn²⁺ on a surface plane (5 anion neighbours), frozen (no migration), no O loss:
    // its event rate is the dissolution rate ν·exp(−E/kT) exactly; a Mn³⁺ or a deeper Mn²⁺
    // (6 anions) does not dissolve.
    let l = slab([3, 3, 4]);
    let n = l.n_cations();
    let e = 0.9;
    let model = DegradationModel {
        migration_barrier_ev: Default::default(),
        default_migration_barrier_ev: 100.0,
        o_loss_barrier_ev: 100.0,
        dissolution_barrier_ev: Some(e),
        dissolution_max_anions: 5,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    let surface = (0..n).find(|&c| l.grid_coords(l.cation_grid_index(c))[2] == 0).unwrap();
    let inner = (0..n).find(|&c| l.grid_coords(l.cation_grid_index(c))[2] == 3).unwrap();
    let rate_of = |site: usize, v: i8| {
        let c = charged_probe(&lone_tm(l, site, "Mn", v), &model, &protocol, 1.0);
        c.work.rate[site]
    };
    let expect = model.attempt_frequency_hz * (-e / kt).exp();
    let r = rate_of(surface, 2);
    assert!((r / expect - 1.0).abs() < 1e-12, "{r} vs {expect}");
    assert_eq!(rate_of(surface, 3), 0.0);
    assert_eq!(rate_of(inner, 2), 0.0);
}

#[test]
fn o_holes_are_refilled_below_the_level_they_were_made_at() {
    // Sharp TM levels: charge to 4.8 V oxidises every Mn³⁺ (3.6 V) and every labile O
    // (4.4–4.8 V); on discharge each O hole comes back `o_redox_hysteresis_V` lower.
    let cfg = lmto_slab([5, 5, 6], 14);
    let sharp = DegradationModel { redox_width_v: 0.0, ..DegradationModel::inert() };
    let run = |h: f64, discharge_to: f64| {
        let model = DegradationModel { o_redox_hysteresis_v: h, ..sharp.clone() };
        let protocol = CyclingProtocol { discharge_cutoff_v: discharge_to, ..CyclingProtocol::default() };
        let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 2).unwrap();
        let r = c.run_cycle(&never).unwrap().unwrap();
        let holes = (r.o_holes_per_fu_charged * c.state.formula_units).round();
        (r, holes)
    };
    let (none, holes) = run(0.0, 1.5);
    let (with, _) = run(0.8, 1.5);
    assert!(holes > 0.0);
    let n = none.discharge_capacity_mAh_g / lmto().capacity_per_electron_mah_g() * cfg_formula_units(&cfg);
    let expect = none.mean_discharge_voltage_V - 0.8 * holes / n;
    assert!((with.mean_discharge_voltage_V - expect).abs() < 1e-9, "{} vs {expect}", with.mean_discharge_voltage_V);
    assert_eq!(with.discharge_capacity_mAh_g, none.discharge_capacity_mAh_g);
    assert!((none.mean_discharge_voltage_V - none.mean_charge_voltage_V).abs() < 1e-9, "no hysteresis without it");
    // A 4.0 V discharge refills every hole without hysteresis (levels 4.4–4.8 V) and none with
    // it (3.6–4.0 V, all at or below the cut-off); the Mn levels (3.6 V) stay oxidised.
    let per_e = lmto().capacity_per_electron_mah_g() / cfg_formula_units(&cfg);
    assert!((run(0.0, 4.0).0.discharge_capacity_mAh_g - holes * per_e).abs() < 1e-9);
    assert_eq!(run(0.8, 4.0).0.discharge_capacity_mAh_g, 0.0);
}

fn cfg_formula_units(cfg: &Configuration) -> f64 {
    cfg.lattice().n_cations() as f64 / lmto().cation_sites()
}
