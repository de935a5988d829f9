use super::*;
use crate::lattice::{Geometry, PATHS};

fn empty_lattice_with(l: usize, li_sites: &[usize]) -> Configuration {
    let lat = Lattice::new([l, l, l], 4.0, Geometry::Bulk).unwrap();
    let mut cat = vec![species::VACANCY; lat.n_cations()];
    for &s in li_sites {
        cat[s] = species::LI;
    }
    Configuration::from_species(lat, &cat, &vec![species::O; lat.n_anions()], vec![]).unwrap()
}

#[test]
fn single_li_has_24_equal_paths() {
    let cfg = empty_lattice_with(3, &[5]);
    let k = Kmc::new(&cfg, &BarrierModel::uniform(0.3), 300.0, 1).unwrap();
    let ev = k.events();
    assert_eq!(ev.len(), 24);
    let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
    for e in &ev {
        assert!((e.rate_per_s / gamma_t - 1.0).abs() < 1e-12);
    }
    // The total is the stored upper bound: exact to f32 rounding, never below.
    let excess = k.total_rate() / (24.0 * gamma_t) - 1.0;
    assert!((-1e-15..=f32::EPSILON as f64).contains(&excess), "{excess}");
}

/// A random DRX cell of cells³ conventional cells (30% Li, 20% Mn, 20% Ti on the cations;
/// 20% F on the anions) and the default barriers with `disorder_ev` site disorder.
fn drx(cells: usize, disorder_ev: f64, seed: u64) -> (Configuration, BarrierModel) {
    let lat = Lattice::new([cells; 3], 4.15, Geometry::Bulk).unwrap();
    let n = lat.n_cations();
    let tm = vec!["Mn".into(), "Ti".into()];
    let cfg = Configuration::random(lat, n * 3 / 10, &[n / 5, n / 5], tm, n / 5, 0, seed).unwrap();
    let model = BarrierModel { site_disorder_ev: disorder_ev, ..BarrierModel::default() };
    (cfg, model)
}

#[test]
fn incremental_state_equals_full_recompute() {
    // After many hops with the full DRX model, the site records equal those of an engine
    // built afresh from the same state, every stored rate is the f32 upper bound of the
    // exact escape rate, and the tree sums the stored rates.
    let (cfg, model) = drx(4, 0.05, 3);
    let mut k = Kmc::new(&cfg, &model, 600.0, 7).unwrap();
    let (_, _) = k.run(f64::INFINITY, 20_000, &[]).unwrap();
    assert_eq!(k.hops(), 20_000);
    let state = Configuration::from_species(*cfg.lattice(), &k.cations(), &k.anions(), cfg.tm_names().to_vec());
    let again = Kmc::new(&state.unwrap(), &model, 600.0, 0).unwrap();
    let key = |s: &Site| (s.weight, s.li, s.vacant, s.cubes, s.cation, s.anion);
    assert!(k.sites.iter().zip(again.sites.iter()).all(|(a, b)| key(a) == key(b)));
    assert!(k.escape_rates().iter().filter(|&&r| r > 0.0).count() > 50);
    assert_stored_rates_bound_exact_ones(&k);
}

/// Every stored rate is the f32 upper bound of the exact escape rate, and the tree sums them.
fn assert_stored_rates_bound_exact_ones(k: &Kmc) {
    let smallest = f32::from_bits(1) as f64 * k.rate_unit;
    for (c, exact) in k.cation_pairs().zip(k.escape_rates()) {
        let stored = k.sites[c].rate as f64 * k.rate_unit;
        assert!(stored >= exact, "site {c}: stored {stored} below exact {exact}");
        assert!(stored - exact <= f32::EPSILON as f64 * exact + smallest, "site {c}: {stored} vs {exact}");
    }
    let sum: f64 = k.sites.iter().map(|s| s.rate as f64).sum();
    assert!((k.tree.total() / sum - 1.0).abs() < 1e-12);
}

#[test]
fn rate_unit_is_refitted_when_rates_leave_the_f32_range() {
    let (cfg, model) = drx(4, 0.05, 3);
    let mut k = Kmc::new(&cfg, &model, 600.0, 7).unwrap();
    let fitted = k.rate_unit;
    assert_eq!(fitted.log2().fract(), 0.0);
    // A unit too small for the fastest rate is refused.
    k.refresh_all(Some(fitted * 2f64.powi(-60)));
    assert_eq!(k.rate_unit, fitted);
    // A rate beyond the unit's range re-fits the unit (and restores every stored rate).
    let li = k.cation_pairs().find(|&c| k.sites[c].rate > 0.0).unwrap();
    k.store_rate(li, fitted * 2f64.powi(120));
    assert_eq!(k.rate_unit, fitted);
    assert_stored_rates_bound_exact_ones(&k);
    // A unit so large that every stored rate nears the bottom of the f32 range is re-fitted
    // at the next step.
    k.refresh_all(Some(fitted * 2f64.powi(140)));
    assert!(k.tree.total() < STORED_TOTAL_FLOOR);
    k.run(f64::INFINITY, 1, &[]).unwrap();
    assert_eq!(k.hops(), 1);
    assert!(k.rate_unit <= fitted * 2f64.powi(8), "{} vs {fitted}", k.rate_unit);
    assert_stored_rates_bound_exact_ones(&k);
}

#[test]
fn total_rate_stays_exact_through_a_relaxation_over_many_decades() {
    // At 80 K with site disorder the Li settle into low-energy sites and the total rate
    // falls by ~13 orders of magnitude: the tree's inner sums must be recomputed on the way
    // or their rounding errors (the size of the initial total) swamp the final total.
    let (cfg, model) = drx(8, 0.02, 1);
    let mut k = Kmc::new(&cfg, &model, 80.0, 2).unwrap();
    let initial = k.total_rate();
    k.run(f64::INFINITY, 200_000, &[]).unwrap();
    let exact: f64 = k.events().iter().map(|e| e.rate_per_s).sum();
    assert!(exact < 1e-6 * initial, "no relaxation: {initial} -> {exact}");
    let excess = k.total_rate() / exact - 1.0;
    assert!((-1e-9..=f32::EPSILON as f64 + 1e-9).contains(&excess), "total off by {excess}");
}

#[test]
fn hops_conserve_li_and_only_enter_vacancies() {
    let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
    let cfg = Configuration::random(lat, 40, &[30], vec!["Mn".into()], 10, 0, 9).unwrap();
    let mut k = Kmc::new(&cfg, &BarrierModel::default(), 500.0, 1).unwrap();
    let before = k.cations();
    for _ in 0..200 {
        let prev = k.cations();
        k.run(f64::INFINITY, 1, &[]).unwrap();
        let now = k.cations();
        let changed: Vec<usize> = (0..now.len()).filter(|&i| prev[i] != now[i]).collect();
        assert_eq!(changed.len(), 2);
        let (a, b) = if prev[changed[0]] == species::LI { (changed[0], changed[1]) } else { (changed[1], changed[0]) };
        assert_eq!((prev[a], prev[b], now[a], now[b]), (species::LI, species::VACANCY, species::VACANCY, species::LI));
    }
    let tm = |v: &Vec<u8>| v.iter().filter(|&&s| species::is_tm(s)).count();
    assert_eq!(tm(&before), tm(&k.cations()));
}

#[test]
fn checkpoint_resume_is_bit_identical() {
    // Mid-relaxation (the tree's inner sums are recomputed on the way down) and with a rate
    // unit other than the one a fresh engine would fit: both must come from the checkpoint.
    let (cfg, model) = drx(6, 0.02, 2);
    let mut a = Kmc::new(&cfg, &model, 80.0, 11).unwrap();
    a.run(f64::INFINITY, 3_000, &[]).unwrap();
    a.refresh_all(Some(a.rate_unit * 2f64.powi(20)));
    // A total 15x below the one at the last recomputation of the inner sums (so the next
    // fall triggers one): a resumed run must know that value, not recompute it.
    a.rebuilt_total = 15.0 * a.tree.total();
    let mut b = Kmc::from_checkpoint(a.checkpoint()).unwrap();
    assert_eq!((a.rate_unit, a.rebuilt_total), (b.rate_unit, b.rebuilt_total));
    a.run(f64::INFINITY, 20_000, &[]).unwrap();
    b.run(f64::INFINITY, 20_000, &[]).unwrap();
    assert_eq!(a.time_s().to_bits(), b.time_s().to_bits());
    assert_eq!(a.cations(), b.cations());
    assert_eq!(a.displacements(), b.displacements());
}

#[test]
fn detailed_balance_of_pair_rates() {
    // Every event and its reverse (through the same tetrahedron) have the rate ratio
    // exp(−(E_B − E_A)/kT), in bulk and in a slab (whose surface events are all checked).
    for geometry in [Geometry::Bulk, Geometry::Slab] {
        let lat = Lattice::new([3, 3, 3], 4.15, geometry).unwrap();
        let cfg = Configuration::random(lat, 30, &[20], vec!["Mn".into()], 25, 4, 5).unwrap();
        let mut model = BarrierModel::default();
        model.site_disorder_ev = 0.1;
        let k = Kmc::new(&cfg, &model, 350.0, 0).unwrap();
        let e = k.site_energies();
        let kt = BOLTZMANN_EV_PER_K * 350.0;
        let nz = lat.dims()[2];
        let on_surface = |c: usize| [0, nz - 1].contains(&lat.grid_coords(lat.cation_grid_index(c))[2]);
        // For each event A->B, move the Li by hand to B and look up the reverse path.
        let mut checked = 0;
        let events = k.events();
        let surface = events.iter().filter(|ev| geometry == Geometry::Slab && on_surface(ev.from));
        assert!(geometry == Geometry::Bulk || surface.clone().count() > 5);
        for ev in events.iter().take(60).chain(surface) {
            let mut cat = k.cations();
            cat[ev.from] = species::VACANCY;
            cat[ev.to] = species::LI;
            let back = Kmc::new(
                &Configuration::from_species(lat, &cat, &k.anions(), vec!["Mn".into()]).unwrap(),
                &model,
                350.0,
                0,
            )
            .unwrap();
            // The reverse path goes through the same tetrahedron: its centre seen from B.
            let d = NN_DIRECTIONS[ev.path / 2];
            let centre_from_b: Vec<i8> = (0..3).map(|i| PATHS[ev.path].centre_quarter[i] - 2 * d[i]).collect();
            let rev = back
                .events()
                .into_iter()
                .find(|x| x.from == ev.to && x.to == ev.from && PATHS[x.path].centre_quarter[..] == centre_from_b[..])
                .unwrap();
            let ratio = ev.rate_per_s / rev.rate_per_s;
            let expect = (-(e[ev.to] - e[ev.from]) / kt).exp();
            assert!((ratio / expect - 1.0).abs() < 1e-9, "{ratio} vs {expect}");
            checked += 1;
        }
        assert!(checked > 10);
    }
}

#[test]
fn site_order_does_not_change_what_is_reported() {
    // The same state in the plain and in the tiled order: identical public views (a slab's
    // padding planes included in both).
    for geometry in [Geometry::Bulk, Geometry::Slab] {
        let lat = Lattice::new([3, 4, 2], 4.15, geometry).unwrap();
        let cfg = Configuration::random(lat, 30, &[25], vec!["Mn".into()], 12, 3, 8).unwrap();
        let mut model = BarrierModel::default();
        model.site_disorder_ev = 0.05;
        let plain = Kmc::with_tiles(&cfg, &model, 500.0, 1, 0).unwrap();
        for tile in [1, 2] {
            let tiled = Kmc::with_tiles(&cfg, &model, 500.0, 1, tile).unwrap();
            assert_eq!(plain.cations(), tiled.cations());
            assert_eq!(plain.anions(), tiled.anions());
            assert_eq!(plain.site_energies(), tiled.site_energies());
            assert_eq!(plain.escape_rates(), tiled.escape_rates());
            assert_eq!(plain.events(), tiled.events());
            assert_eq!(plain.observe(), tiled.observe());
        }
    }
}

#[test]
fn displacements_pack_exactly() {
    for r in [[0, 0, 0], [1, -1, 0], [-5, 7, -9], [(1 << 20) - 1, -(1 << 20), 12345], [-3, -(1 << 20), (1 << 20) - 1]] {
        assert_eq!(Disp::pack(r).unpack(), r);
    }
    let mut d = Disp::default();
    for k in 0..1000 {
        d = d.step(NN_DIRECTIONS[k % 12]);
        d = d.step(NN_DIRECTIONS[(k * 7) % 12]);
    }
    let mut expect = [0i32; 3];
    for k in 0..1000 {
        for o in [NN_DIRECTIONS[k % 12], NN_DIRECTIONS[(k * 7) % 12]] {
            for i in 0..3 {
                expect[i] += o[i] as i32;
            }
        }
    }
    assert_eq!(d.unpack(), expect);
}

#[test]
fn memory_is_at_most_32_bytes_per_site() {
    let lat = Lattice::new([16, 16, 16], 4.15, Geometry::Bulk).unwrap();
    let cfg = Configuration::random(lat, 4000, &[3000], vec!["Mn".into()], 0, 0, 1).unwrap();
    let k = Kmc::new(&cfg, &BarrierModel::default(), 300.0, 1).unwrap();
    let per_site = k.memory_bytes() as f64 / lat.n_cations() as f64;
    assert!(per_site <= 32.0, "{per_site} bytes per site");
}

#[test]
fn lattice_gas_jump_diffusivity_is_exact() {
    // Hard-core lattice gas at c = 1/2: D_J = D0·(1 − c) exactly, with D0 = 4·Γ_t·a_nn²
    // (docs/design.md#the-o-t-o-hop-and-its-channel), i.e. 8·Γ_t in (a/2)² units. Each
    // block's centre-of-mass MSD slope is one estimate; their mean must agree within 4
    // standard errors.
    let lat = Lattice::new([4, 4, 4], 4.0, Geometry::Bulk).unwrap();
    let n = lat.n_cations();
    let cfg = Configuration::random(lat, n / 2, &[], vec![], 0, 0, 3).unwrap();
    let mut k = Kmc::new(&cfg, &BarrierModel::uniform(0.3), 300.0, 5).unwrap();
    let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
    k.run(f64::INFINITY, 20_000, &[]).unwrap();
    let block = 4.0 / gamma_t;
    let estimates: Vec<f64> = (0..400)
        .map(|_| {
            k.reset_displacements();
            let t0 = k.time_s();
            let (_, obs) = k.run(t0 + block, u64::MAX, &[t0 + 0.25 * block, t0 + block]).unwrap();
            let com2 = |o: &Observation| o.sum_r.iter().map(|x| x * x).sum::<f64>() / o.n_li as f64;
            (com2(&obs[1]) - com2(&obs[0])) / (6.0 * 0.75 * block)
        })
        .collect();
    let m = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / m;
    let sem = (estimates.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0) / m).sqrt();
    let exact = 8.0 * gamma_t * 0.5;
    assert!(sem < 0.1 * exact, "too noisy: {sem} vs {exact}");
    assert!((mean - exact).abs() < 4.0 * sem, "D_J {mean} ± {sem}, exact {exact}");
}

#[test]
fn single_li_occupies_sites_with_boltzmann_weights() {
    // With one Li, detailed balance makes the stationary probability of site i exactly
    // exp(−E_i/kT)/Z: a chi-square test over widely spaced samples.
    let cfg = empty_lattice_with(3, &[0]);
    let mut model = BarrierModel::uniform(0.2);
    model.site_disorder_ev = 0.03;
    let kt = BOLTZMANN_EV_PER_K * 300.0;
    let mut k = Kmc::new(&cfg, &model, 300.0, 9).unwrap();
    let weights: Vec<f64> = k.site_energies().iter().map(|e| (-e / kt).exp()).collect();
    let z: f64 = weights.iter().sum();
    let samples = 20_000;
    let mut counts = vec![0usize; weights.len()];
    for _ in 0..samples {
        // About 40 hops between samples: many mixing times of a 108-site lattice.
        let dt = 40.0 / k.total_rate();
        k.run(k.time_s() + dt, u64::MAX, &[]).unwrap();
        counts[k.cations().iter().position(|&s| s == species::LI).unwrap()] += 1;
    }
    let chi2: f64 = counts
        .iter()
        .zip(&weights)
        .map(|(&c, &w)| {
            let e = samples as f64 * w / z;
            (c as f64 - e).powi(2) / e
        })
        .sum();
    let dof = (weights.len() - 1) as f64;
    assert!(chi2 < dof + 5.0 * (2.0 * dof).sqrt(), "chi2 {chi2} for {dof} degrees of freedom");
}

/// `li_sites` Li on an otherwise empty slab of `size` cells (all O anions).
fn empty_slab_with(size: [usize; 3], li_sites: &[usize]) -> Configuration {
    let lat = Lattice::new(size, 4.0, Geometry::Slab).unwrap();
    let mut cat = vec![species::VACANCY; lat.n_cations()];
    for &s in li_sites {
        cat[s] = species::LI;
    }
    Configuration::from_species(lat, &cat, &vec![species::O; lat.n_anions()], vec![]).unwrap()
}

#[test]
fn slab_surface_sites_lose_the_paths_beyond_the_surface() {
    // One Li on an open slab: inside, 12 neighbours × 2 tetrahedra = 24 paths; on a surface
    // plane the 4 neighbours beyond it are gone and the 4 in-plane neighbours keep only the
    // tetrahedron on the slab's side: 4 × 1 + 4 × 2 = 12 paths. Every path stays in the slab.
    let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
    let lat = Lattice::new([3, 3, 3], 4.0, Geometry::Slab).unwrap();
    let nz = lat.dims()[2];
    let z_of = |c: usize| lat.grid_coords(lat.cation_grid_index(c))[2];
    for z in 0..nz {
        let site = (0..lat.n_cations()).find(|&c| z_of(c) == z).unwrap();
        let k = Kmc::new(&empty_slab_with(lat.size(), &[site]), &BarrierModel::uniform(0.3), 300.0, 1).unwrap();
        let ev = k.events();
        let surface = z == 0 || z == nz - 1;
        assert_eq!(ev.len(), if surface { 12 } else { 24 }, "plane {z}");
        for e in &ev {
            assert!((e.rate_per_s / gamma_t - 1.0).abs() < 1e-12);
            assert!(z_of(e.to).abs_diff(z) <= 1, "hop across the z boundary from plane {z}");
            for s in PATHS[e.path].spectators {
                assert!(crate::lattice::inside_slab(z, s[2], nz), "tetrahedron outside the slab");
            }
        }
        let exact = ev.len() as f64 * gamma_t;
        assert!((k.escape_rates()[site] / exact - 1.0).abs() < 1e-12);
        let excess = k.total_rate() / exact - 1.0;
        assert!((-1e-15..=f32::EPSILON as f64).contains(&excess), "{excess}");
    }
}

#[test]
fn slab_li_never_leave_it_and_the_state_stays_exact() {
    // A DRX slab after many hops: every Li started inside the slab (current plane minus its
    // z displacement), and the site records equal those of an engine built afresh.
    let lat = Lattice::new([4, 4, 3], 4.15, Geometry::Slab).unwrap();
    let n = lat.n_cations();
    let tm = vec!["Mn".into(), "Ti".into()];
    let cfg = Configuration::random(lat, n * 3 / 10, &[n / 10, n / 10], tm, n / 5, 0, 4).unwrap();
    let model = BarrierModel { site_disorder_ev: 0.05, ..BarrierModel::default() };
    let mut k = Kmc::new(&cfg, &model, 900.0, 7).unwrap();
    let nz = lat.dims()[2] as i64;
    let mut planes_left = 0;
    for _ in 0..50 {
        k.run(f64::INFINITY, 2_000, &[]).unwrap();
        for (c, r) in k.displacements().iter().enumerate() {
            if k.cations()[c] == species::LI {
                let z = lat.grid_coords(lat.cation_grid_index(c))[2] as i64;
                assert!((0..nz).contains(&(z - r[2] as i64)), "Li on plane {z} moved {r:?}");
                planes_left += (r[2] != 0) as usize;
            }
        }
    }
    assert!(planes_left > 100, "Li hardly moved along z");
    assert_eq!(k.hops(), 100_000);
    let state = Configuration::from_species(lat, &k.cations(), &k.anions(), cfg.tm_names().to_vec()).unwrap();
    let again = Kmc::new(&state, &model, 900.0, 0).unwrap();
    let key = |s: &Site| (s.weight, s.li, s.vacant, s.cubes, s.cation, s.anion);
    assert!(k.sites.iter().zip(again.sites.iter()).all(|(a, b)| key(a) == key(b)));
    assert_stored_rates_bound_exact_ones(&k);
    // A checkpoint of a slab resumes bit-identically.
    let mut b = Kmc::from_checkpoint(k.checkpoint()).unwrap();
    k.run(f64::INFINITY, 5_000, &[]).unwrap();
    b.run(f64::INFINITY, 5_000, &[]).unwrap();
    assert_eq!(k.time_s().to_bits(), b.time_s().to_bits());
    assert_eq!(k.displacements(), b.displacements());
}

#[test]
fn single_li_in_a_slab_diffuses_in_plane_at_the_exact_rate() {
    // One Li on an open slab of nz cation planes. Uniform rates are symmetric, so it visits
    // every site equally often; each hop's in-plane step has zero mean (the slab keeps the
    // x → −x and y → −y mirrors), so ⟨|R_xy(t)|²⟩ = t·Σ_planes M(z)/nz, with M the rate-weighted
    // in-plane square step: inside 4 in-plane hops (|r_xy|² = 2) and 8 others (1) at 2Γ_t each,
    // 32·Γ_t; on a surface 4 × Γ_t × 2 + 4 × 2Γ_t × 1 = 16·Γ_t (units (a/2)²). Hence
    // D_xy = ⟨|R_xy|²⟩/4t = 8·Γ_t·(1 − 1/nz) (a/2)² = D0·(1 − 1/nz), D0 = 4·Γ_t·a_nn² the bulk
    // value.
    let cfg = empty_slab_with([2, 2, 2], &[3]);
    let nz = cfg.lattice().dims()[2] as f64;
    let mut k = Kmc::new(&cfg, &BarrierModel::uniform(0.3), 300.0, 5).unwrap();
    let gamma_t = 1e13 * (-0.3 / (BOLTZMANN_EV_PER_K * 300.0)).exp();
    k.run(f64::INFINITY, 1_000, &[]).unwrap();
    let block = 20.0 / (24.0 * gamma_t);
    let estimates: Vec<f64> = (0..4000)
        .map(|_| {
            k.reset_displacements();
            let t0 = k.time_s();
            let (_, obs) = k.run(t0 + block, u64::MAX, &[t0 + block]).unwrap();
            (obs[0].sum_r2 - obs[0].sum_rz2) / (4.0 * block)
        })
        .collect();
    let m = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / m;
    let sem = (estimates.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0) / m).sqrt();
    let exact = 8.0 * gamma_t * (1.0 - 1.0 / nz);
    assert!(sem < 0.03 * exact, "too noisy: {sem} vs {exact}");
    assert!((mean - exact).abs() < 4.0 * sem, "D_xy {mean} ± {sem}, exact {exact}");
}

#[test]
fn single_li_in_a_slab_occupies_sites_with_boltzmann_weights() {
    // Detailed balance holds on a slab too: with site disorder, the time a single Li spends on
    // each site is exp(−E_i/kT)/Z (chi-square over widely spaced samples).
    let cfg = empty_slab_with([3, 3, 2], &[0]);
    let mut model = BarrierModel::uniform(0.2);
    model.site_disorder_ev = 0.03;
    let kt = BOLTZMANN_EV_PER_K * 300.0;
    let mut k = Kmc::new(&cfg, &model, 300.0, 9).unwrap();
    let weights: Vec<f64> = k.site_energies().iter().map(|e| (-e / kt).exp()).collect();
    let z: f64 = weights.iter().sum();
    let samples = 20_000;
    let mut counts = vec![0usize; weights.len()];
    for _ in 0..samples {
        let dt = 40.0 / k.total_rate();
        k.run(k.time_s() + dt, u64::MAX, &[]).unwrap();
        counts[k.cations().iter().position(|&s| s == species::LI).unwrap()] += 1;
    }
    let chi2: f64 = counts
        .iter()
        .zip(&weights)
        .map(|(&c, &w)| {
            let e = samples as f64 * w / z;
            (c as f64 - e).powi(2) / e
        })
        .sum();
    let dof = (weights.len() - 1) as f64;
    assert!(chi2 < dof + 5.0 * (2.0 * dof).sqrt(), "chi2 {chi2} for {dof} degrees of freedom");
}

#[test]
fn li_ids_move_with_their_li_and_positions_follow_the_displacements_exactly() {
    let (cfg, model) = drx(4, 0.05, 5);
    let mut k = Kmc::new(&cfg, &model, 700.0, 3).unwrap();
    k.run(f64::INFINITY, 2_000, &[]).unwrap();
    k.enable_li_ids().unwrap();
    let n_li = k.cations().iter().filter(|&&s| s == species::LI).count();
    // At the start every Li sits at its unwrapped position (modulo nothing).
    let p0 = k.li_positions().unwrap();
    assert_eq!(p0.len(), n_li);
    for (i, p) in k.lattice().cation_points().enumerate() {
        if let Some(id) = k.li_ids().unwrap().get(i).filter(|&&id| id != NO_LI) {
            let r = k.displacements()[i];
            assert_eq!(p0[*id as usize], [0, 1, 2].map(|a| p[a] as i64), "{r:?}");
        }
    }
    k.reset_displacements();
    assert_eq!(k.li_positions().unwrap(), p0, "a reset moves displacements into the origins");
    for _ in 0..50 {
        let before_ids = k.li_ids().unwrap();
        let before = k.li_positions().unwrap();
        k.run(f64::INFINITY, 1, &[]).unwrap();
        let (ids, after) = (k.li_ids().unwrap(), k.li_positions().unwrap());
        // Exactly one id moved, by one nearest-neighbour step, and it is still on a Li.
        let moved: Vec<usize> = (0..n_li).filter(|&i| before[i] != after[i]).collect();
        assert_eq!(moved.len(), 1);
        let step: Vec<i64> = (0..3).map(|a| after[moved[0]][a] - before[moved[0]][a]).collect();
        assert!(NN_DIRECTIONS.iter().any(|d| (0..3).all(|a| d[a] as i64 == step[a])), "{step:?}");
        assert_eq!(ids.iter().filter(|&&i| i != NO_LI).count(), n_li);
        assert_eq!(before_ids.iter().filter(|&&i| i == moved[0] as u32).count(), 1);
    }
    k.run(f64::INFINITY, 20_000, &[]).unwrap();
    let mut ids: Vec<u32> = k.li_ids().unwrap().into_iter().filter(|&i| i != NO_LI).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..n_li as u32).collect::<Vec<_>>(), "ids are a permutation of 0..n_Li");
    // Unwrapped position − start = the engine's displacement since the reset, exactly.
    let now = k.li_positions().unwrap();
    let site_ids = k.li_ids().unwrap();
    for (i, r) in k.displacements().iter().enumerate() {
        if site_ids[i] != NO_LI {
            let id = site_ids[i] as usize;
            assert_eq!([0, 1, 2].map(|a| now[id][a] - p0[id][a]), r.map(|x| x as i64));
        }
    }
    assert!(k.displacements().iter().any(|r| *r != [0; 3]));
}

#[test]
fn frames_do_not_change_the_run_and_see_the_state_at_their_times() {
    let (cfg, model) = drx(4, 0.05, 6);
    let mut plain = Kmc::new(&cfg, &model, 700.0, 9).unwrap();
    let mut framed = Kmc::new(&cfg, &model, 700.0, 9).unwrap();
    framed.enable_channel_counts();
    let every = 20.0 / plain.total_rate();
    let times: Vec<f64> = (1..=400).map(|k| k as f64 * every).collect();
    let t_end = times[times.len() - 1] + 0.5 * every;
    // A small buffer: the run returns with Stop::Frames many times and is resumed.
    framed.set_frames(every, every, 7).unwrap();
    let (_, obs) = plain.run(t_end, u64::MAX, &times).unwrap();
    let mut frames = Vec::new();
    let mut returns = 0;
    loop {
        let (stop, _) = framed.run(t_end, u64::MAX, &[]).unwrap();
        frames.extend(framed.take_frames());
        if stop != Stop::Frames {
            break;
        }
        returns += 1;
    }
    assert!(returns > 10, "{returns}");
    assert_eq!(plain.time_s().to_bits(), framed.time_s().to_bits());
    assert_eq!(plain.cations(), framed.cations());
    assert_eq!(plain.displacements(), framed.displacements());
    // Expanded frames: one per sample time, with the observation's Σ|R|² (from the start).
    let origin = Kmc::new(&cfg, &model, 700.0, 9).unwrap().tap_ids().li_positions().unwrap();
    let mut expanded = Vec::new();
    for f in &frames {
        for j in 0..f.count {
            expanded.push((f.time_s + j as f64 * every, f.hops, &f.positions));
        }
    }
    assert_eq!(expanded.len(), times.len());
    for ((t, hops, pos), o) in expanded.iter().zip(&obs) {
        assert!((t / o.time_s - 1.0).abs() < 1e-12, "{t} vs {}", o.time_s);
        assert_eq!(*hops, o.hops);
        let r2: i64 = pos.iter().zip(&origin).map(|(p, q)| (0..3).map(|a| (p[a] - q[a]).pow(2)).sum::<i64>()).sum();
        assert_eq!(r2 as f64, o.sum_r2);
    }
    // Every hop was counted under its class; none through a closed (≥ 3-TM) tetrahedron.
    let counts = framed.class_hops().unwrap();
    assert_eq!(counts.iter().sum::<u64>(), framed.hops());
    for ((n_tm, _), c) in framed.class_descriptions().iter().zip(&counts) {
        assert!(*n_tm <= 2 || *c == 0);
    }
}

impl Kmc {
    /// This engine with Li ids on.
    fn tap_ids(mut self) -> Self {
        self.enable_li_ids().unwrap();
        self
    }
}

#[test]
fn ids_and_channel_counts_survive_a_checkpoint() {
    let (cfg, model) = drx(4, 0.05, 7);
    let mut a = Kmc::new(&cfg, &model, 700.0, 4).unwrap();
    a.enable_li_ids().unwrap();
    a.enable_channel_counts();
    a.run(f64::INFINITY, 5_000, &[]).unwrap();
    a.reset_displacements();
    a.run(f64::INFINITY, 5_000, &[]).unwrap();
    let cp = a.checkpoint();
    let bytes = crate::checkpoint::encode(&cp, None).unwrap();
    assert_eq!(bytes[8], 2, "tracking needs format 2");
    let mut b = Kmc::from_checkpoint(crate::checkpoint::decode(&bytes).unwrap().0).unwrap();
    assert_eq!(a.li_ids(), b.li_ids());
    assert_eq!(a.li_positions(), b.li_positions());
    assert_eq!(a.class_hops(), b.class_hops());
    a.run(f64::INFINITY, 5_000, &[]).unwrap();
    b.run(f64::INFINITY, 5_000, &[]).unwrap();
    assert_eq!(a.li_positions(), b.li_positions());
    assert_eq!(a.class_hops(), b.class_hops());
    // Without tracking the file stays at format 1, which older builds read.
    let plain = Kmc::new(&cfg, &model, 700.0, 4).unwrap();
    assert_eq!(crate::checkpoint::encode(&plain.checkpoint(), None).unwrap()[8], 1);
    assert_eq!(Kmc::from_checkpoint(plain.checkpoint()).unwrap().li_ids(), None);
}

#[test]
fn net_bond_fluxes_add_up_to_the_li_displacements() {
    // Σ over bonds of net hops × bond vector = Σ over Li of their displacements, exactly.
    let (cfg, model) = drx(4, 0.05, 8);
    let mut k = Kmc::new(&cfg, &model, 700.0, 5).unwrap();
    k.enable_bond_flux().unwrap();
    k.run(f64::INFINITY, 30_000, &[]).unwrap();
    let flux = k.bond_flux().unwrap();
    let lat = *k.lattice();
    let points: Vec<[usize; 3]> = lat.cation_points().collect();
    let mut from_flux = [0i64; 3];
    for &(from, to, net) in &flux {
        // The bond vector, from the two sites' grid coordinates (minimum image).
        let (a, b) = (points[from], points[to]);
        for ax in 0..3 {
            let n = lat.dims()[ax] as i64;
            let d = (b[ax] as i64 - a[ax] as i64).rem_euclid(n);
            let d = if d > n / 2 { d - n } else { d };
            assert!(d.abs() <= 1);
            from_flux[ax] += net as i64 * d;
        }
    }
    let mut from_disp = [0i64; 3];
    for r in k.displacements() {
        for ax in 0..3 {
            from_disp[ax] += r[ax] as i64;
        }
    }
    assert_eq!(from_flux, from_disp);
    assert!(flux.iter().map(|f| f.2.unsigned_abs() as u64).sum::<u64>() <= k.hops());
    assert!(flux.len() > 100);
    // Kept by a checkpoint.
    let back = Kmc::from_checkpoint(k.checkpoint()).unwrap();
    assert_eq!(back.bond_flux(), k.bond_flux());
}
