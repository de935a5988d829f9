use super::hamiltonian::energy_of;
use super::*;
use crate::lattice::{offset_index, Geometry, NN_DIRECTIONS, OCTAHEDRON_ANIONS};
use crate::model::BOLTZMANN_EV_PER_K;

fn lattice(l: usize) -> Lattice {
    Lattice::new([l, l, l], 4.15, Geometry::Bulk).unwrap()
}

fn s(a: &str, b: &str, e: f64) -> (String, String, f64) {
    (a.to_string(), b.to_string(), e)
}

/// Li, Mn³⁺, Nb⁵⁺ and vacancies; O with some F.
fn mixed(l: usize, seed: u64) -> Configuration {
    let lat = lattice(l);
    let n = lat.n_cations();
    Configuration::random(lat, n * 5 / 10, &[n * 3 / 10, n / 10], vec!["Mn".into(), "Nb".into()], n / 8, 0, seed)
        .unwrap()
}

fn full_hamiltonian(c: &Configuration) -> Hamiltonian {
    Hamiltonian::new(
        c,
        &[0.0, 1.0, 3.0, 5.0],
        0.02,
        &[s("Li", "Mn", -0.03), s("Nb", "Nb", 0.05), s("Li", "F", -0.04), s("Mn", "O", 0.01), s("F", "F", 0.03)],
    )
    .unwrap()
}

#[test]
fn local_energy_changes_match_full_recomputation() {
    // Every kind of term, on a 2x2x2 box where most drawn pairs are neighbours or share
    // anions, and on a larger one.
    for l in [2, 3] {
        let c = mixed(l, 7);
        let ham = full_hamiltonian(&c);
        let mut a = Annealer::new(&c, ham, true, 3).unwrap();
        let beta = 1.0 / (BOLTZMANN_EV_PER_K * 5000.0);
        let mut shared_seen = 0;
        for step in 0..3000 {
            let before = a.energy().total_ev();
            let (de, acc) = if step % 2 == 0 { a.attempt_cation(beta) } else { a.attempt_anion(beta) };
            let after = a.energy().total_ev();
            if acc {
                assert!((after - before - de).abs() < 1e-9, "ΔE {de} vs {}", after - before);
            } else {
                assert!((after - before).abs() < 1e-12);
            }
            // The maintained anion charges stay exact.
            let mut fresh = a.clone();
            fresh.recompute_charges();
            for (x, y) in a.q.iter().zip(&fresh.q) {
                assert!((x - y).abs() < 1e-9);
            }
            shared_seen += acc as usize;
        }
        assert!(shared_seen > 500);
    }
}

#[test]
fn neighbouring_cation_swaps_handle_shared_anions() {
    // Explicitly swap nearest neighbours (two shared anions, one direct bond).
    let c = mixed(2, 1);
    let ham = full_hamiltonian(&c);
    let a = Annealer::new(&c, ham, true, 0).unwrap();
    let l = *c.lattice();
    let mut checked = 0;
    for ci in 0..l.n_cations() {
        let gi = l.cation_grid_index(ci);
        let blk = l.block(l.grid_coords(gi));
        for o in NN_DIRECTIONS {
            let gj = offset_index(&blk, o);
            if a.grid[gi] == a.grid[gj] {
                continue;
            }
            let (de, ..) = a.cation_swap_delta(gi, gj);
            let mut g2 = a.grid.clone();
            g2.swap(gi, gj);
            let direct = energy_of(&l, &g2, &a.ham).total_ev() - a.energy().total_ev();
            assert!((de - direct).abs() < 1e-9);
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn composition_is_conserved_and_runs_are_seeded() {
    let c = mixed(3, 5);
    let ham = full_hamiltonian(&c);
    let (c1, t1) = anneal(&c, ham.clone(), &[(2000.0, 5), (500.0, 5)], true, 9).unwrap();
    let (c2, t2) = anneal(&c, ham.clone(), &[(2000.0, 5), (500.0, 5)], true, 9).unwrap();
    let (c3, _) = anneal(&c, ham, &[(2000.0, 5), (500.0, 5)], true, 10).unwrap();
    assert_eq!(c1, c2);
    assert_eq!(t1, t2);
    assert_ne!(c1, c3);
    assert_eq!(t1.len(), 11);
    let sorted = |mut v: Vec<u8>| {
        v.sort();
        v
    };
    assert_eq!(sorted(c1.cations()), sorted(c.cations()));
    assert_eq!(sorted(c1.anions()), sorted(c.anions()));
    assert_ne!(c1.cations(), c.cations());
}

#[test]
fn anion_moves_can_be_disabled() {
    let c = mixed(2, 5);
    let ham = full_hamiltonian(&c);
    let (c1, t) = anneal(&c, ham, &[(3000.0, 20)], false, 1).unwrap();
    assert_eq!(c1.anions(), c.anions());
    assert!(t[1..].iter().all(|s| s.anion_attempts == 0 && s.cation_attempts == 32));
}

/// Every state reachable by cation swaps (all permutations of the cation multiset) on a
/// 2x2x2 box, by recursion over sites.
fn enumerate_states(counts: &mut [usize], at: usize, n: usize, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
    if at == n {
        out.push(cur.clone());
        return;
    }
    for s in 0..counts.len() {
        if counts[s] > 0 && counts[s] <= n - at {
            counts[s] -= 1;
            cur.push(s as u8);
            enumerate_states(counts, at + 1, n, cur, out);
            cur.pop();
            counts[s] += 1;
        }
    }
}

/// Compare the sampled distribution of energies with exact Boltzmann weights, in energy bins
/// of `width` eV. `levels`: (energy, exact probability); `tau`: allowance for correlated
/// samples (variance factor).
fn check_boltzmann(levels: &[(f64, f64)], samples: &[f64], width: f64, tau: f64) {
    let e0 = levels.iter().map(|l| l.0).fold(f64::INFINITY, f64::min) - 0.37 * width; // off the level grid
    let bin = |e: f64| ((e - e0) / width).floor() as usize;
    let n_bins = levels.iter().map(|l| bin(l.0)).max().unwrap() + 1;
    let mut exact = vec![0.0; n_bins];
    for &(e, p) in levels {
        exact[bin(e)] += p;
    }
    let mut sampled = vec![0.0; n_bins];
    for &e in samples {
        let b = bin(e);
        assert!(b < n_bins && exact[b] > 0.0, "sampled an energy {e} no state has");
        sampled[b] += 1.0 / samples.len() as f64;
    }
    let n = samples.len() as f64;
    let mut populated = 0;
    for (b, (&p, &f)) in exact.iter().zip(&sampled).enumerate() {
        let sigma = (p * (1.0 - p) * tau / n).sqrt();
        assert!((f - p).abs() < 5.0 * sigma + 2e-4, "bin {b}: sampled {f}, exact {p} (σ {sigma})");
        populated += (p > 0.02) as usize;
    }
    assert!(populated >= 4, "the test needs several populated bins, has {populated}");
    let total: f64 = levels.iter().map(|l| l.1).sum();
    assert!((total - 1.0).abs() < 1e-9);
}

/// Distinct energies with their exact Boltzmann probabilities at kT (eV).
fn levels_of(energies: &[f64], kt: f64) -> Vec<(f64, f64)> {
    let e0 = energies.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut sorted: Vec<f64> = energies.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut lv: Vec<(f64, f64)> = Vec::new();
    for e in sorted {
        let w = (-(e - e0) / kt).exp();
        match lv.last_mut() {
            Some(l) if (l.0 - e).abs() < 1e-9 => l.1 += w,
            _ => lv.push((e, w)),
        }
    }
    let z: f64 = lv.iter().map(|l| l.1).sum();
    lv.iter().map(|&(e, w)| (e, w / z)).collect()
}

#[test]
fn cation_swaps_sample_the_boltzmann_distribution() {
    // 32 cation sites: 2 Nb⁵⁺, 1 Mn³⁺, 1 vacancy, 28 Li⁺ (32·31·C(30,2) = 431,520 states),
    // all O; electroneutrality plus a Nb–Nb repulsion and a Li–Mn attraction.
    let lat = lattice(2);
    let n = lat.n_cations();
    let mut cat = vec![species::LI; n];
    cat[0] = species::FIRST_TM; // Nb
    cat[5] = species::FIRST_TM;
    cat[9] = species::FIRST_TM + 1; // Mn
    cat[17] = species::VACANCY;
    let c = Configuration::from_species(lat, &cat, &vec![species::O; n], vec!["Nb".into(), "Mn".into()]).unwrap();
    let ham = Hamiltonian::new(&c, &[0.0, 1.0, 5.0, 3.0], 0.01, &[s("Nb", "Nb", 0.08), s("Li", "Mn", -0.02)]).unwrap();
    let t = 1500.0;
    let kt = BOLTZMANN_EV_PER_K * t;
    // Exact enumeration.
    let mut states = Vec::new();
    enumerate_states(&mut [1, 28, 2, 1], 0, n, &mut Vec::new(), &mut states);
    assert_eq!(states.len(), 32 * 31 * 30 * 29 / 2);
    let energies: Vec<f64> = states
        .iter()
        .map(|st| {
            energy(&Configuration::from_species(lat, st, &vec![species::O; n], c.tm_names().to_vec()).unwrap(), &ham)
                .total_ev()
        })
        .collect();
    let levels = levels_of(&energies, kt);
    // Sampling: one sample per sweep.
    let mut a = Annealer::new(&c, ham, false, 11).unwrap();
    a.run(t, 200).unwrap();
    let samples: Vec<f64> = a.run(t, 40_000).unwrap().iter().map(|s| s.energy.total_ev()).collect();
    check_boltzmann(&levels, &samples, 0.01, 3.0);
}

#[test]
fn anion_swaps_sample_the_boltzmann_distribution() {
    // Fixed random cations; 3 F among 32 anions (4960 states) with electroneutrality, a Li–F
    // attraction and an F–F repulsion.
    let lat = lattice(2);
    let c0 = Configuration::random(lat, 16, &[12, 4], vec!["Mn".into(), "Ti".into()], 3, 0, 4).unwrap();
    let ham = Hamiltonian::new(&c0, &[0.0, 1.0, 3.0, 4.0], 0.02, &[s("Li", "F", -0.05), s("F", "F", 0.05)]).unwrap();
    let t = 2500.0;
    let kt = BOLTZMANN_EV_PER_K * t;
    let cat = c0.cations();
    let n = lat.n_anions();
    let mut energies = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                let mut an = vec![species::O; n];
                an[i] = species::F;
                an[j] = species::F;
                an[k] = species::F;
                let c = Configuration::from_species(lat, &cat, &an, c0.tm_names().to_vec()).unwrap();
                energies.push(energy(&c, &ham).total_ev());
            }
        }
    }
    let levels = levels_of(&energies, kt);
    // Only anion moves (`run` would also swap the cations).
    let mut a = Annealer::new(&c0, ham, true, 5).unwrap();
    let beta = 1.0 / kt;
    let mut samples = Vec::new();
    for _ in 0..200 {
        a.attempt_anion(beta);
    }
    for _ in 0..40_000 {
        for _ in 0..32 {
            a.attempt_anion(beta);
        }
        samples.push(a.energy().total_ev());
    }
    check_boltzmann(&levels, &samples, 0.01, 3.0);
}

#[test]
fn acceptance_follows_metropolis() {
    // Bin attempted moves by ΔE and compare the accepted fraction with min(1, e^{−ΔE/kT}).
    let c = mixed(3, 2);
    let ham = full_hamiltonian(&c);
    let t = 1500.0;
    let beta = 1.0 / (BOLTZMANN_EV_PER_K * t);
    let mut a = Annealer::new(&c, ham, true, 8).unwrap();
    // (attempts, accepted, Σ expected) per 0.02 eV bin of ΔE in 0..0.6 eV.
    let mut bins = vec![(0u64, 0u64, 0.0f64); 30];
    let mut downhill = (0u64, 0u64);
    for step in 0..400_000 {
        let (de, acc) = if step % 3 == 0 { a.attempt_anion(beta) } else { a.attempt_cation(beta) };
        if de <= 0.0 {
            downhill.0 += 1;
            downhill.1 += acc as u64;
        } else if de < 0.6 {
            let b = &mut bins[(de / 0.02) as usize];
            b.0 += 1;
            b.1 += acc as u64;
            b.2 += (-beta * de).exp();
        }
    }
    assert_eq!(downhill.0, downhill.1, "every downhill move is accepted");
    let mut checked = 0;
    for (n, acc, expected) in bins {
        if n >= 500 {
            let p = expected / n as f64;
            let f = acc as f64 / n as f64;
            let sigma = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * sigma + 1e-3, "accepted {f}, expected {p} over {n}");
            checked += 1;
        }
    }
    assert!(checked >= 5);
}

#[test]
fn zero_kelvin_only_goes_downhill() {
    let c = mixed(3, 3);
    let ham = full_hamiltonian(&c);
    let (_, trace) = anneal(&c, ham, &[(0.0, 10)], true, 1).unwrap();
    for w in trace.windows(2) {
        assert!(w[1].energy.total_ev() <= w[0].energy.total_ev() + 1e-9);
    }
}

#[test]
fn electroneutrality_favours_charge_balanced_anions() {
    // Li1.25Nb0.25Mn0.5O2-like (Li 5/8, Nb 1/8, Mn 2/8): the charge deviation drops on cooling.
    let lat = lattice(4);
    let n = lat.n_cations();
    let c = Configuration::random(lat, n * 5 / 8, &[n / 8, n / 4], vec!["Nb".into(), "Mn".into()], 0, 0, 1).unwrap();
    let ham = Hamiltonian::new(&c, &[0.0, 1.0, 5.0, 3.0], 0.05, &[]).unwrap();
    let (_, trace) = anneal(&c, ham, &[(3000.0, 30), (1000.0, 30), (300.0, 30)], true, 2).unwrap();
    let rms = |k: usize| trace[k].energy.charge_deviation_rms_e;
    assert!(rms(30) < rms(0));
    assert!(rms(90) < rms(60) && rms(60) < rms(30));
}

#[test]
fn bad_input_names_its_field() {
    let c = mixed(2, 0);
    let q = [0.0, 1.0, 3.0, 5.0];
    assert_eq!(Hamiltonian::new(&c, &q, -1.0, &[]).unwrap_err().field(), FIELD_STRENGTH);
    assert_eq!(Hamiltonian::new(&c, &q, f64::NAN, &[]).unwrap_err().field(), FIELD_STRENGTH);
    assert_eq!(Hamiltonian::new(&c, &q[..3], 0.1, &[]).unwrap_err().field(), FIELD_CHARGES);
    assert_eq!(Hamiltonian::new(&c, &[0.0, 1.0, f64::NAN, 5.0], 0.1, &[]).unwrap_err().field(), FIELD_CHARGES);
    let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Ti", 0.1)]).unwrap_err();
    assert_eq!(e.field(), FIELD_PAIRS);
    assert!(e.to_string().contains("Ti"));
    let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Mn", f64::INFINITY)]).unwrap_err();
    assert_eq!(e.field(), FIELD_PAIRS);
    let e = Hamiltonian::new(&c, &q, 0.1, &[s("Li", "Mn", 0.1), s("Mn", "Li", 0.1)]).unwrap_err();
    assert_eq!(e.field(), FIELD_PAIRS);
    let ham = Hamiltonian::new(&c, &q, 0.1, &[]).unwrap();
    let mut a = Annealer::new(&c, ham.clone(), true, 0).unwrap();
    assert_eq!(a.run(-5.0, 1).unwrap_err().field(), FIELD_TEMPERATURE);
    assert_eq!(a.run(f64::NAN, 1).unwrap_err().field(), FIELD_TEMPERATURE);
    assert_eq!(anneal(&c, ham, &[(f64::INFINITY, 1)], true, 0).unwrap_err().field(), "schedule");
}

#[test]
fn warren_cowley_of_ordered_and_random_arrangements() {
    // α-NaFeO2-type layers along [111]: cation planes x+y+z ≡ 0 (Li) and 2 (Mn) mod 4
    // alternate.
    let lat = lattice(4);
    let n = lat.n_cations();
    let cat: Vec<u8> = (0..n)
        .map(|c| {
            let p = lat.grid_coords(lat.cation_grid_index(c));
            if (p[0] + p[1] + p[2]) % 4 == 0 {
                species::LI
            } else {
                species::FIRST_TM
            }
        })
        .collect();
    let c = Configuration::from_species(lat, &cat, &vec![species::O; n], vec!["Mn".into()]).unwrap();
    let wc = warren_cowley(&c);
    let get = |shell: u8, i: &str, j: &str| {
        wc.iter().find(|w| w.shell == shell && w.species_i == i && w.species_j == j).unwrap().alpha
    };
    // Layered order along [111]: 6 of the 12 NN are unlike -> P(Mn|Li) = 1/2, α = 0;
    // all 6 second neighbours (±a along an axis: x+y+z changes by 2) are unlike -> α = −1.
    assert!((get(1, "Li", "Mn") - 0.0).abs() < 1e-12);
    assert!((get(2, "Li", "Mn") + 1.0).abs() < 1e-12);
    assert!((get(2, "Li", "Li") - 1.0).abs() < 1e-12);
    assert!(wc.iter().all(|w| w.sublattice == "cation"));
    // Random: every α near 0 (σ ≈ 0.02 for the rarest species on 4000 sites).
    let lat = lattice(10);
    let n = lat.n_cations();
    let c = Configuration::random(lat, n / 2, &[n / 4], vec!["Mn".into()], n / 4, 0, 3).unwrap();
    let wc = warren_cowley(&c);
    assert!(wc.iter().any(|w| w.sublattice == "anion"));
    for w in &wc {
        assert!(w.alpha.abs() < 0.1, "{w:?}");
    }
    // Σ_j P(j|i) = 1: Σ_j c_j (1 − α_ij) = 1.
    let cj = |s: &str| match s {
        "Li" => 0.5,
        "Mn" => 0.25,
        _ => 0.25,
    };
    for i in ["Li", "Mn", "Va"] {
        let sum: f64 = wc
            .iter()
            .filter(|w| w.sublattice == "cation" && w.shell == 1 && w.species_i == i)
            .map(|w| cj(&w.species_j) * (1.0 - w.alpha))
            .sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }
}

#[test]
fn tetrahedra_and_environments_count_every_site_once() {
    let c = mixed(3, 4);
    let l = c.lattice();
    let tets = tetrahedra(&c);
    assert_eq!(tets.len(), 15);
    assert_eq!(tets.iter().map(|t| t.count).sum::<u64>(), l.n_tetrahedra() as u64);
    // Each cation belongs to 8 tetrahedra: Σ n_X · count = 8 · N_X.
    let cat = c.cations();
    let n_li = cat.iter().filter(|&&s| s == species::LI).count() as u64;
    let n_va = cat.iter().filter(|&&s| s == species::VACANCY).count() as u64;
    assert_eq!(tets.iter().map(|t| t.n_li as u64 * t.count).sum::<u64>(), 8 * n_li);
    assert_eq!(tets.iter().map(|t| t.n_va as u64 * t.count).sum::<u64>(), 8 * n_va);
    assert_eq!(tets[0].label(), "Li4");
    assert_eq!(TetrahedronCount { n_li: 2, n_tm: 1, n_va: 1, count: 0 }.label(), "Li2TM1Va1");
    let env = anion_environments(&c, Some(&[0.0, 1.0, 3.0, 5.0])).unwrap();
    assert_eq!(env.iter().map(|e| e.count).sum::<u64>(), l.n_anions() as u64);
    assert_eq!(env.iter().map(|e| e.n_li as u64 * e.count).sum::<u64>(), 6 * n_li);
    for e in &env {
        assert_eq!(e.n_li + e.n_tm + e.n_va, 6);
        assert!(e.label.starts_with(&format!("{}:", e.anion)));
    }
    assert!(env.windows(2).all(|w| w[0].count >= w[1].count));
    // Every anion's environment charge equals the maintained anion charge of an annealer.
    let ham = Hamiltonian::new(&c, &[0.0, 1.0, 3.0, 5.0], 0.1, &[]).unwrap();
    let a = Annealer::new(&c, ham, true, 0).unwrap();
    let total_q: f64 = a.q.iter().sum();
    let env_q: f64 = env.iter().map(|e| e.cation_charge_e.unwrap() * e.count as f64).sum();
    assert!((total_q - env_q).abs() < 1e-6);
}

#[test]
fn environment_labels_put_li_first_and_tms_alphabetically() {
    let lat = lattice(2);
    let n = lat.n_cations();
    // All Nb except one Li and one Mn and one vacancy around anion 0.
    let mut cat = vec![species::FIRST_TM; n]; // Nb
    let g = lat.anion_grid_index(0);
    let blk = lat.block(lat.grid_coords(g));
    let around: Vec<usize> =
        OCTAHEDRON_ANIONS.iter().map(|&o| Lattice::sublattice_index(offset_index(&blk, o))).collect();
    cat[around[0]] = species::LI;
    cat[around[1]] = species::FIRST_TM + 1; // Mn
    cat[around[2]] = species::VACANCY;
    let mut an = vec![species::O; n];
    an[0] = species::F;
    let c = Configuration::from_species(lat, &cat, &an, vec!["Nb".into(), "Mn".into()]).unwrap();
    let env = anion_environments(&c, None).unwrap();
    let f: Vec<_> = env.iter().filter(|e| e.anion == "F").collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].label, "F:Li1Mn1Nb3Va1");
    assert_eq!((f[0].n_li, f[0].n_tm, f[0].n_va), (1, 4, 1));
    assert_eq!(f[0].cation_charge_e, None);
}
