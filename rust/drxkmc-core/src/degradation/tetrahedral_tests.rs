//! Metastable tetrahedral TMs (`tetrahedral_energy_eV`): detailed balance of the moves into
//! and out of a tetrahedron, the Boltzmann distribution over octahedral and tetrahedral
//! sites, the off case, conservation and resume.

use super::cell::{Counts, Cycling};
use super::file;
use super::model::{CyclingProtocol, DegradationModel};
use super::tests::{charged_probe, energy_difference, lmto, lmto_slab, never, slab};
use crate::config::{species, Configuration, TetrahedralTm};
use crate::lattice::Lattice;
use crate::model::{BarrierModel, BOLTZMANN_EV_PER_K};

/// The one tetrahedron `after` has that `before` has not.
fn new_tetrahedron(before: &Cycling, after: &Cycling) -> usize {
    let old = before.config().tetrahedral();
    after.config().tetrahedral().iter().find(|t| !old.contains(t)).expect("a TM entered a tetrahedron").tetrahedron
        as usize
}

/// The entry (0..8) of the TM at `g` into tetrahedron `t`.
fn entry_into(c: &Cycling, g: usize, t: usize) -> usize {
    (0..8)
        .find(|&k| {
            let mut probe = c.clone();
            probe.enter_tetrahedron(g, k) && new_tetrahedron(c, &probe) == t
        })
        .expect("the tetrahedron shares a face with the octahedron")
}

fn with_tetrahedral(model: DegradationModel, states: &[(&str, f64)]) -> DegradationModel {
    let mut m = model;
    m.tetrahedral_energy_ev = states.iter().map(|&(k, e)| (k.to_string(), e)).collect();
    m
}

#[test]
fn tetrahedral_moves_obey_detailed_balance_against_the_total_energy() {
    // Mn²⁺ and Ti⁴⁺ in a Li-free slab with an F: every open o → t move and its reverse t → o,
    // and every t → o into another octahedron and its reverse o → t, differ by exp(−ΔE/kT),
    // ΔE from the whole cell's energy (anions, with the tetrahedral TM's 1.5·v on each of its
    // four anions, plus the tetrahedral-site energy).
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
    let base = DegradationModel {
        labile_o_max_tm: 6,
        o_loss_barrier_ev: 100.0,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let model = with_tetrahedral(base, &[("Mn2+", 0.15), ("Ti4+", -0.2)]);
    let protocol = CyclingProtocol::default();
    // A short hold (every barrier its own) and an hour (each raised to the equilibration floor).
    let mut raised = 0;
    for hold_s in [1e-12, 3600.0] {
        let c = charged_probe(&cfg, &model, &protocol, hold_s);
        let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
        let check = |fwd: f64, rev: f64, de: f64, what: &str| {
            let expect = (-de / kt).exp();
            assert!(fwd > 0.0 && rev > 0.0, "{what}: {fwd} {rev}");
            assert!((fwd / rev / expect - 1.0).abs() < 1e-12, "{what}: {} vs {expect}", fwd / rev);
        };
        let mut checked = 0;
        for &site in &[5usize, 40, 77] {
            let ga = l.cation_grid_index(site);
            let entries = c.tet_entries(ga);
            for k in 0..8 {
                if entries.rate[k] == 0.0 {
                    continue;
                }
                let mut inside = c.clone();
                assert!(inside.enter_tetrahedron(ga, k));
                let t = new_tetrahedron(&c, &inside);
                let vertices = inside.config().tetrahedron_vertices(t);
                let back = vertices.iter().position(|&g| g == ga).unwrap();
                let exits = inside.tet_exits(t);
                check(entries.rate[k], exits.rate[back], energy_difference(&c, &inside), "o → t");
                checked += 1;
                // Out into another octahedron B, and back in from B.
                for (j, &gb) in vertices.iter().enumerate() {
                    if gb == ga || exits.rate[j] == 0.0 {
                        continue;
                    }
                    let mut out = inside.clone();
                    out.leave_tetrahedron(t, j);
                    assert!(out.config().tetrahedral().len() < inside.config().tetrahedral().len());
                    let reentry = out.tet_entries(gb).rate[entry_into(&out, gb, t)];
                    check(exits.rate[j], reentry, energy_difference(&inside, &out), "t → o");
                    checked += 1;
                }
            }
        }
        raised += (0..l.n_cations())
            .map(|s| c.tet_entries(l.cation_grid_index(s)).raised.iter().filter(|&&r| r).count())
            .sum::<usize>();
        assert!(checked >= 40, "{checked}");
    }
    assert!(raised > 0, "the hour-long hold must raise some barriers");
}

#[test]
fn one_tm_samples_octahedral_and_tetrahedral_sites_with_boltzmann_weights() {
    // One Mn²⁺ with a metastable tetrahedral state in a Li-free slab with a few F, at 1500 K:
    // sampled at fixed intervals over a long run, it sits on each octahedral and each
    // tetrahedral site with weight exp(−E/kT) from the whole cell's energy.
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
    let base = DegradationModel { o_loss_barrier_ev: 100.0, o_loss_depth_nm: 0.5, ..DegradationModel::default() };
    let model = with_tetrahedral(base, &[("Mn2+", 0.1)]);
    let protocol = CyclingProtocol { temperature_k: 1500.0, ..CyclingProtocol::default() };
    let mut c = charged_probe(&cfg, &model, &protocol, 1.0);
    let kt = BOLTZMANN_EV_PER_K * protocol.temperature_k;
    // States: the octahedral sites 0..n, then every tetrahedron inside the slab.
    let nz = l.dims()[2];
    let tetrahedra: Vec<usize> = (0..l.n_tetrahedra()).filter(|&t| l.grid_coords(t)[2] + 1 < nz).collect();
    let reference = c.clone();
    let mut empty = reference.clone();
    empty.state.config.set_code(l.cation_grid_index(start), species::VACANCY);
    empty.state.config.set_valence_slot(start, 0);
    let mut weights = Vec::new();
    for site in 0..n {
        let mut probe = empty.clone();
        probe.state.config.set_code(l.cation_grid_index(site), species::FIRST_TM);
        probe.state.config.set_valence_slot(site, 2);
        weights.push((-energy_difference(&reference, &probe) / kt).exp());
    }
    for &t in &tetrahedra {
        let mut probe = empty.clone();
        probe.state.config = probe
            .state
            .config
            .clone()
            .with_tetrahedral(vec![TetrahedralTm { tetrahedron: t as u32, code: species::FIRST_TM, valence: 2 }])
            .unwrap();
        weights.push((-energy_difference(&reference, &probe) / kt).exp());
    }
    let state_of = |c: &Cycling| match c.config().tetrahedral() {
        [] => c.config().cations().iter().position(|&s| species::is_tm(s)).unwrap(),
        [t] => n + tetrahedra.iter().position(|&x| x == t.tetrahedron as usize).unwrap(),
        _ => panic!("one TM"),
    };
    let z: f64 = weights.iter().sum();
    let samples = 6000;
    let mut seen = vec![0u32; weights.len()];
    let mut counts = Counts::default();
    for _ in 0..samples {
        c.hold(2e-11, &mut counts, &never).unwrap();
        seen[state_of(&c)] += 1;
    }
    assert!(counts.tm_hops > 20 * samples as u64, "{} hops: samples must decorrelate", counts.tm_hops);
    let in_tetrahedra: u32 = seen[n..].iter().sum();
    let expect_tet = samples as f64 * weights[n..].iter().sum::<f64>() / z;
    assert!(expect_tet > 0.2 * samples as f64, "the test must visit tetrahedra: {expect_tet}");
    let (mut chi2, mut dof) = (0.0, 0usize);
    for (&w, &count) in weights.iter().zip(&seen) {
        let expect = samples as f64 * w / z;
        if expect >= 5.0 {
            chi2 += (count as f64 - expect).powi(2) / expect;
            dof += 1;
        }
    }
    let dof = dof.saturating_sub(1) as f64;
    assert!(dof >= 40.0, "{dof}");
    assert!(
        chi2 < dof + 5.0 * (2.0 * dof).sqrt(),
        "chi2 {chi2} for {dof} ({in_tetrahedra} vs {expect_tet:.0} tetrahedral)"
    );
}

#[test]
fn a_very_high_tetrahedral_energy_is_the_off_case() {
    // Listed at 1000 eV the tetrahedra are never entered: the same rates and, with a second
    // event tree present but empty, the same trajectory bit for bit.
    let cfg = lmto_slab([4, 4, 6], 11);
    let mut off = DegradationModel { o_loss_barrier_ev: 0.8, ..DegradationModel::default() };
    for v in 2..=4 {
        off.migration_barrier_ev.insert(format!("Mn{v}+"), 0.75);
    }
    let high = with_tetrahedral(off.clone(), &[("Mn2+", 1000.0), ("Mn3+", 1000.0), ("Mn4+", 1000.0), ("Ti4+", 1000.0)]);
    let run = |model: &DegradationModel| {
        let mut c =
            Cycling::new(&cfg, &lmto(), &BarrierModel::default(), model, &CyclingProtocol::default(), 4).unwrap();
        let records: Vec<String> = (0..3).map(|_| format!("{:?}", c.run_cycle(&never).unwrap().unwrap())).collect();
        c.prepare_events(3600.0);
        (records, c.config().clone(), c.work.rate.clone())
    };
    let (a, b) = (run(&off), run(&high));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2, "every event rate");
    assert!(a.0.iter().any(|r| !r.contains("tm_hops_cycle: 0,")), "the test must exercise TM hops");
}

/// Cations of each code, counting TMs on tetrahedra.
fn cation_counts(cfg: &Configuration) -> Vec<usize> {
    let mut n = vec![0usize; species::FIRST_TM as usize + cfg.tm_names().len()];
    for s in cfg.cations() {
        n[s as usize] += 1;
    }
    for t in cfg.tetrahedral() {
        n[t.code as usize] += 1;
    }
    n
}

/// A model in which Mn rests on tetrahedra at every valence and O leaves readily.
fn tetrahedral_mn() -> DegradationModel {
    let mut m = DegradationModel { o_loss_barrier_ev: 0.8, ..DegradationModel::default() };
    for v in 2..=4 {
        m.migration_barrier_ev.insert(format!("Mn{v}+"), 0.75);
    }
    with_tetrahedral(m, &[("Mn2+", -1.0), ("Mn3+", -1.0), ("Mn4+", -1.0)])
}

#[test]
fn cells_with_tetrahedral_tms_stay_neutral_and_conserve_species_after_every_event() {
    let cfg = lmto_slab([4, 4, 6], 11);
    let model = tetrahedral_mn();
    let protocol = CyclingProtocol::default();
    let mut c = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 4).unwrap();
    let species0 = cation_counts(&cfg);
    let f0 = cfg.anions().iter().filter(|&&a| a == species::F).count();
    let check = |c: &Cycling| {
        assert_eq!(c.charge_sum(), 0);
        let mut now = cation_counts(c.config());
        now[species::VACANCY as usize] = species0[species::VACANCY as usize];
        now[species::LI as usize] = species0[species::LI as usize];
        assert_eq!(now, species0, "TMs conserved");
        let anions = c.config().anions();
        assert_eq!(anions.iter().filter(|&&a| a == species::F).count(), f0);
        assert_eq!(anions.iter().filter(|&&a| a == species::ANION_VACANCY).count() as u64, c.state.o_lost);
        // Every tetrahedral TM still has four empty, kept face-sharing octahedra.
        let tets = c.config().tetrahedral().to_vec();
        let mut plain = c.config().clone();
        plain.clear_tetrahedral();
        plain.with_tetrahedral(tets.clone()).unwrap();
        for t in &tets {
            for g in c.config().tetrahedron_vertices(t.tetrahedron as usize) {
                assert!(!c.state.collapsed[Lattice::sublattice_index(g)]);
            }
        }
    };
    // Event by event through a charged hold: each short hold runs about one event.
    let mut probe = c.clone();
    probe.equilibrate_li(4.8).unwrap();
    probe.prepare_events(3600.0);
    let mut counts = Counts::default();
    let mut most = 0;
    for _ in 0..400 {
        let total: f64 = probe.work.rate.iter().sum::<f64>() + probe.work.tet_rate.iter().sum::<f64>();
        probe.hold(1.0 / total, &mut counts, &never).unwrap();
        check(&probe);
        most = most.max(probe.config().tetrahedral().len());
    }
    assert!(most > 0 && counts.tm_hops > 50, "{most} tetrahedral, {} hops", counts.tm_hops);
    // Whole cycles: the cycle's tm_tetrahedral is the count of tetrahedral TMs.
    let mut seen = 0;
    for _ in 0..3 {
        let r = c.run_cycle(&never).unwrap().unwrap();
        check(&c);
        assert_eq!(r.tm_tetrahedral, c.config().tetrahedral().len() as u64);
        seen += r.tm_tetrahedral;
        // Tetrahedral TMs are off their as-made sites.
        assert!(r.tm_migrated >= r.tm_tetrahedral);
        // The depth profile's TM fractions add up to every TM, tetrahedral ones included.
        let l = *c.config().lattice();
        let nz = l.dims()[2];
        let mut sites = vec![0.0; nz.div_ceil(2)];
        for p in l.cation_points() {
            sites[p[2].min(nz - 1 - p[2])] += 1.0;
        }
        let profile = c.depth_profile();
        let tms: f64 = profile.tm_fraction.iter().zip(&sites).map(|(f, n)| f * n).sum();
        let n_tm = cation_counts(c.config())[species::FIRST_TM as usize..].iter().sum::<usize>();
        assert!((tms - n_tm as f64).abs() < 1e-9, "{tms} vs {n_tm}");
    }
    assert!(seen > 0, "the test must keep TMs on tetrahedra");
}

#[test]
fn resumed_runs_with_tetrahedral_tms_are_bit_identical() {
    let cfg = lmto_slab([3, 3, 6], 8);
    let model = tetrahedral_mn();
    let mk = || Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &CyclingProtocol::default(), 21).unwrap();
    let mut straight = mk();
    let a: Vec<String> = (0..3).map(|_| format!("{:?}", straight.run_cycle(&never).unwrap().unwrap())).collect();
    let mut first = mk();
    let mut b = vec![format!("{:?}", first.run_cycle(&never).unwrap().unwrap())];
    assert!(!first.config().tetrahedral().is_empty(), "the checkpoint must hold tetrahedral TMs");
    let bytes = file::encode(&first).unwrap();
    let mut resumed = file::decode(&bytes).unwrap();
    assert_eq!(resumed.config(), first.config());
    b.extend((0..2).map(|_| format!("{:?}", resumed.run_cycle(&never).unwrap().unwrap())));
    assert_eq!(a, b);
    assert_eq!(straight.config(), resumed.config());
    // A forged state whose tetrahedral TMs lack their origins is refused.
    let mut state = first.state().clone();
    state.tet_origin.clear();
    let bytes = file::encode(&Cycling::from_state(state)).unwrap();
    assert_eq!(file::decode(&bytes).unwrap_err().field(), "checkpoint");
}

#[test]
fn a_run_can_start_with_tetrahedral_tms() {
    // A lone Mn²⁺ made on a tetrahedron (every octahedron but its four filled with Li), in a
    // model without a tetrahedral energy: it is at its transition state and leaves
    // (barrierless, at ν) into one of its four octahedra.
    let l = slab([3, 3, 4]);
    let n = l.n_cations();
    let t = (0..l.n_tetrahedra()).find(|&t| l.grid_coords(t) == [2, 2, 1]).unwrap();
    let empty = Configuration::from_species(l, &vec![0; n], &vec![species::O; n], vec!["Mn".into()]).unwrap();
    let vertices = empty.tetrahedron_vertices(t);
    let cations: Vec<u8> = (0..n)
        .map(|c| if vertices.contains(&l.cation_grid_index(c)) { species::VACANCY } else { species::LI })
        .collect();
    let tm = TetrahedralTm { tetrahedron: t as u32, code: species::FIRST_TM, valence: 2 };
    let cfg = Configuration::from_species(l, &cations, &vec![species::O; n], vec!["Mn".into()])
        .unwrap()
        .with_tetrahedral(vec![tm])
        .unwrap();
    let model = DegradationModel {
        labile_o_max_tm: 6,
        o_loss_barrier_ev: 100.0,
        o_loss_depth_nm: 0.5,
        ..DegradationModel::default()
    };
    let protocol = CyclingProtocol::default();
    let made = Cycling::new(&cfg, &lmto(), &BarrierModel::default(), &model, &protocol, 1).unwrap();
    assert_eq!(made.state.tet_origin.get(&(t as u32)), Some(&((n + t) as u32)), "made on its tetrahedron");
    assert_eq!(made.tm_migrated(), 0);
    assert_eq!(made.charge_sum(), 0);
    // Its moves out, in the charged cell (rates only).
    let alone = cfg.clone();
    let mut c = charged_probe(&alone, &model, &protocol, 1e-12);
    c.state.tet_origin = made.state.tet_origin.clone();
    let exits = c.tet_exits(t);
    let nu = model.attempt_frequency_hz;
    assert!(exits.rate[..4].iter().all(|&r| r > 0.0 && r <= nu * (1.0 + 1e-12)), "{:?}", exits.rate);
    c.leave_tetrahedron(t, 0);
    assert!(c.config().tetrahedral().is_empty());
    assert_eq!(c.tm_migrated(), 1);
    assert!(species::is_tm(c.config().grid()[vertices[0]]));
}
