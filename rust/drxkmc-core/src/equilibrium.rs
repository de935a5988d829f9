//! Equilibrium Li arrangements and electrochemical (de)lithiation.
//!
//! In the barrier model Li interact with the host only through their site energies (the
//! spectator term δ_Li enters E_KRA, which is the same for a hop and its reverse), so the
//! equilibrium of Li over a set of sites that exchange Li is that of non-interacting fermions:
//! Fermi–Dirac occupancies f_i = 1/(1 + exp((E_i − μ)/kT)) in the grand-canonical ensemble,
//! and the canonical ensemble at fixed Li count, sampled here exactly in the limit by
//! Metropolis swaps of a Li and a vacancy anywhere in the set (a symmetric proposal).
//!
//! Which sites exchange Li is a question of time scale: a path carries Li over a time τ when
//! its intrinsic rate ν·exp(−E_KRA/kT) is at least 1/τ, i.e. E_KRA < kT·ln(ντ) (the same
//! argument that makes the 0-TM network decide capacity when 1-TM barriers are high: Lee et
//! al., Science 343, 519 (2014); Urban, Lee, Ceder, Adv. Energy Mater. 4, 1400478 (2014)).
//! The clusters of that *kinetic network* (percolation's barrier rule) are the sets that
//! equilibrate internally. An electrode exchanges Li with the electrolyte only through the
//! clusters that are accessible (wrap the periodic cell, or reach a slab surface); together they
//! form one reservoir at the electrode's chemical potential μ. Clusters that are not accessible
//! keep the Li they had (at synthesis: full).

use crate::config::{species, Configuration};
use crate::error::{require_positive, Error, Result};
use crate::model::{BarrierModel, BOLTZMANN_EV_PER_K};
use crate::percolation::{analyze, BondRule, Criterion, Percolation};
use crate::random::{below, unit};
use crate::site_energy::site_energies;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

/// The barrier below which a path fires at least once, on average, in `timescale_s`:
/// kT·ln(ν·τ), eV.
pub fn cutoff_for_timescale(model: &BarrierModel, temperature_k: f64, timescale_s: f64) -> Result<f64> {
    require_positive("temperature_K", temperature_k)?;
    require_positive("timescale_s", timescale_s)?;
    model.validate()?;
    let cut = BOLTZMANN_EV_PER_K * temperature_k * (model.attempt_frequency_hz * timescale_s).ln();
    if !(cut > 0.0) {
        return Err(Error::invalid(
            "timescale_s",
            format!("{timescale_s} s is shorter than one attempt period (1/ν); no path can fire"),
        ));
    }
    Ok(cut)
}

/// The kinetic network on `timescale_s` and its accessible clusters.
pub fn kinetic_network(
    config: &Configuration,
    model: &BarrierModel,
    temperature_k: f64,
    timescale_s: f64,
) -> Result<Percolation> {
    let cut = cutoff_for_timescale(model, temperature_k, timescale_s)?;
    analyze(config, &BondRule::barrier(model.clone(), cut)?, Criterion::Auto)
}

/// Mean Li count of a reservoir of sites with energies `energies` at chemical potential μ.
pub fn mean_occupancy(energies: &[f64], mu_ev: f64, kt: f64) -> f64 {
    energies.iter().map(|&e| fermi(e, mu_ev, kt)).sum()
}

#[inline]
fn fermi(e: f64, mu: f64, kt: f64) -> f64 {
    let x = (e - mu) / kt;
    // exp overflows to inf for large x, giving 0: the right limit.
    1.0 / (1.0 + x.exp())
}

/// The μ (eV) at which the mean Li count of the reservoir is `n` (±∞ when empty or full).
pub fn chemical_potential(energies: &[f64], n: f64, kt: f64) -> f64 {
    let m = energies.len() as f64;
    if n <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if n >= m {
        return f64::INFINITY;
    }
    let (lo, hi) = energies.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &e| (a.min(e), b.max(e)));
    // Σf is increasing in μ and moves from ~0 to ~m over [lo − 60kT, hi + 60kT].
    let (mut a, mut b) = (lo - 60.0 * kt, hi + 60.0 * kt);
    for _ in 0..200 {
        let mid = 0.5 * (a + b);
        if mean_occupancy(energies, mid, kt) < n {
            a = mid;
        } else {
            b = mid;
        }
        if b - a <= 1e-14 * (1.0 + mid.abs()) {
            break;
        }
    }
    0.5 * (a + b)
}

/// Metropolis sampling of the canonical distribution of the Li on `sites` (cation indices)
/// over their energies: `sweeps` × |sites| attempted swaps of a random Li and a random vacancy.
fn sample_canonical(
    cations: &mut [u8],
    sites: &[u32],
    energies: &[f64],
    kt: f64,
    sweeps: u32,
    rng: &mut Xoshiro256PlusPlus,
) {
    let (mut li, mut vac): (Vec<u32>, Vec<u32>) =
        sites.iter().copied().partition(|&s| cations[s as usize] == species::LI);
    if li.is_empty() || vac.is_empty() {
        return;
    }
    let attempts = sweeps as u64 * sites.len() as u64;
    for _ in 0..attempts {
        let i = below(rng, li.len() as u64) as usize;
        let j = below(rng, vac.len() as u64) as usize;
        let de = energies[vac[j] as usize] - energies[li[i] as usize];
        if de <= 0.0 || unit(rng) < (-de / kt).exp() {
            std::mem::swap(&mut li[i], &mut vac[j]);
        }
    }
    for &s in &li {
        cations[s as usize] = species::LI;
    }
    for &s in &vac {
        cations[s as usize] = species::VACANCY;
    }
}

/// What `equilibrate` did (serialised without the configuration: the counts and μ).
#[derive(Debug, Clone, Serialize)]
pub struct Equilibrium {
    #[serde(skip)]
    pub config: Configuration,
    /// μ of the accessible reservoir, eV on the site-energy scale (NaN if nothing is
    /// accessible; ±∞ if it is empty or full).
    pub mu_ev: f64,
    /// Li on accessible clusters after equilibration.
    pub n_accessible_li: u64,
    /// Non-TM sites on accessible clusters.
    pub n_accessible_sites: u64,
    /// Li on clusters of the kinetic network that wrap the cell or reach a surface (the same
    /// as accessible) over all Li.
    pub accessible_li_fraction: f64,
}

/// Settings of `equilibrate`.
#[derive(Debug, Clone, Copy)]
pub struct EquilibrateSpec {
    pub temperature_k: f64,
    /// Time scale of the kinetic network, s.
    pub timescale_s: f64,
    /// Li count wanted in the whole cell; `None` keeps the current count.
    pub target_li: Option<usize>,
    /// Metropolis sweeps (attempted swaps per site of each reservoir).
    pub sweeps: u32,
    pub seed: u64,
}

/// Peak bytes `equilibrate` allocates: the kinetic network's percolation analysis, and per
/// cation site a site energy, a reservoir entry (and, at worst, one reservoir per site), a
/// cation code, an ordering entry, an accessible site energy and the new configuration.
pub fn memory_estimate(lattice: &crate::lattice::Lattice) -> u64 {
    let per_site = 8 + 4 + std::mem::size_of::<Vec<u32>>() + 1 + 4 + 8 + 4;
    crate::percolation::memory_estimate(lattice) + lattice.n_cations() as u64 * per_site as u64
}

/// Draw the Li arrangement from the model's equilibrium: canonical within every cluster of the
/// kinetic network, with the accessible clusters pooled into one reservoir. With `target_li`,
/// the Li count changes in the accessible reservoir only (electrochemical (de)lithiation):
/// removal takes the least-bound Li first and then the reservoir is equilibrated at its new
/// count. Errors name the field; the input is not changed.
pub fn equilibrate(config: &Configuration, model: &BarrierModel, spec: EquilibrateSpec) -> Result<Equilibrium> {
    if spec.sweeps == 0 {
        return Err(Error::invalid("sweeps", "must be at least 1"));
    }
    let lattice = config.lattice();
    crate::memory::require_available(
        "size",
        || format!("the equilibrium sampling of {}", crate::memory::describe_lattice(lattice)),
        memory_estimate(lattice),
    )?;
    let net = kinetic_network(config, model, spec.temperature_k, spec.timescale_s)?;
    let energies = site_energies(config, model);
    let kt = BOLTZMANN_EV_PER_K * spec.temperature_k;
    let n_clusters = net.n_clusters();
    // Reservoir 0 is every accessible cluster together; the others are one per cluster.
    let reservoir_of = |label: usize| if net.cluster_accessible[label] { 0 } else { label + 1 };
    let mut reservoirs: Vec<Vec<u32>> = vec![Vec::new(); n_clusters + 1];
    for (site, &label) in net.labels.iter().enumerate() {
        if label >= 0 {
            reservoirs[reservoir_of(label as usize)].push(site as u32);
        }
    }
    let mut cations = config.cations();
    let n_li = net.n_li as i64;
    let accessible = &reservoirs[0];
    let acc_li = net.n_accessible_li as i64;
    if let Some(target) = spec.target_li {
        let want = acc_li + target as i64 - n_li;
        if want < 0 || want > accessible.len() as i64 {
            let (lo, hi) = (n_li - acc_li, n_li - acc_li + accessible.len() as i64);
            return Err(Error::invalid(
                "li_content",
                format!(
                    "{target} Li cannot be reached electrochemically: the Li that no path on the \
                     {} s time scale connects to the {} fix the count between {lo} and {hi} Li in this cell",
                    spec.timescale_s,
                    if config.lattice().geometry() == crate::lattice::Geometry::Bulk {
                        "percolating network"
                    } else {
                        "surfaces"
                    }
                ),
            ));
        }
        // Ground-state order first (least-bound Li leave, deepest vacancies fill), then
        // Metropolis at the temperature.
        let mut order = accessible.clone();
        order.sort_by(|&a, &b| energies[a as usize].total_cmp(&energies[b as usize]));
        for (k, &s) in order.iter().enumerate() {
            cations[s as usize] = if (k as i64) < want { species::LI } else { species::VACANCY };
        }
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    for sites in &reservoirs {
        sample_canonical(&mut cations, sites, &energies, kt, spec.sweeps, &mut rng);
    }
    let n_acc_li = accessible.iter().filter(|&&s| cations[s as usize] == species::LI).count();
    let acc_energies: Vec<f64> = accessible.iter().map(|&s| energies[s as usize]).collect();
    let mu_ev = if accessible.is_empty() { f64::NAN } else { chemical_potential(&acc_energies, n_acc_li as f64, kt) };
    let total_li = cations.iter().filter(|&&c| c == species::LI).count();
    let config =
        Configuration::from_species(*config.lattice(), &cations, &config.anions(), config.tm_names().to_vec())?;
    Ok(Equilibrium {
        config,
        mu_ev,
        n_accessible_li: n_acc_li as u64,
        n_accessible_sites: accessible.len() as u64,
        accessible_li_fraction: if total_li > 0 { n_acc_li as f64 / total_li as f64 } else { f64::NAN },
    })
}

/// Equilibrium Li count against μ of an electrode made from `config` (its current Li count is
/// taken as the synthesis state): for each μ, the Li fixed on clusters that are not accessible
/// plus the exact grand-canonical mean over the accessible reservoir.
pub fn li_at_potentials(
    config: &Configuration,
    model: &BarrierModel,
    temperature_k: f64,
    timescale_s: f64,
    mus_ev: &[f64],
) -> Result<Vec<f64>> {
    if let Some(m) = mus_ev.iter().find(|m| m.is_nan()) {
        return Err(Error::invalid("mu_eV", format!("must not be NaN, got {m}")));
    }
    let net = kinetic_network(config, model, temperature_k, timescale_s)?;
    let energies = site_energies(config, model);
    let kt = BOLTZMANN_EV_PER_K * temperature_k;
    let acc: Vec<f64> = net
        .labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l >= 0 && net.cluster_accessible[l as usize])
        .map(|(s, _)| energies[s])
        .collect();
    let fixed = (net.n_li - net.n_accessible_li) as f64;
    Ok(mus_ev.iter().map(|&mu| fixed + mean_occupancy(&acc, mu, kt)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::{Geometry, Lattice};

    fn open_lattice(l: usize, n_li: usize, seed: u64) -> Configuration {
        let lat = Lattice::new([l, l, l], 4.15, Geometry::Bulk).unwrap();
        Configuration::random(lat, n_li, &[], vec![], 0, 0, seed).unwrap()
    }

    #[test]
    fn chemical_potential_inverts_the_fermi_sum() {
        let e: Vec<f64> = (0..500).map(|i| 0.001 * i as f64 - 0.2).collect();
        for n in [1.0, 17.5, 250.0, 499.0] {
            let mu = chemical_potential(&e, n, 0.025);
            assert!((mean_occupancy(&e, mu, 0.025) - n).abs() < 1e-9, "{n}");
        }
        assert_eq!(chemical_potential(&e, 0.0, 0.025), f64::NEG_INFINITY);
        assert_eq!(chemical_potential(&e, 500.0, 0.025), f64::INFINITY);
    }

    #[test]
    fn ideal_lattice_gas_is_nernstian() {
        // All site energies equal (ε = 0): μ = ε + kT ln(c/(1−c)) exactly.
        let e = vec![0.0; 1000];
        let kt = 0.0258;
        for c in [0.1f64, 0.5, 0.77] {
            let mu = chemical_potential(&e, c * 1000.0, kt);
            assert!((mu - kt * (c / (1.0 - c)).ln()).abs() < 1e-10, "{c}");
        }
    }

    #[test]
    fn canonical_sampling_matches_exact_two_level_occupancy() {
        // Two site energies, n Li: the exact canonical occupancy of a low site follows from the
        // binomial weights of how many Li sit on the low sites.
        let m = 8; // low sites
        let k = 8; // high sites
        let n = 6; // Li
        let de = 0.03;
        let kt = 0.025;
        let energies: Vec<f64> = (0..m + k).map(|i| if i < m { 0.0 } else { de }).collect();
        let binom = |a: usize, b: usize| -> f64 {
            if b > a {
                return 0.0;
            }
            (0..b).fold(1.0, |acc, i| acc * (a - i) as f64 / (i + 1) as f64)
        };
        let (mut z, mut zl) = (0.0, 0.0);
        for j in 0..=n {
            let w = binom(m, j) * binom(k, n - j) * (-((n - j) as f64) * de / kt).exp();
            z += w;
            zl += j as f64 * w;
        }
        let exact_low = zl / z / m as f64;
        let sites: Vec<u32> = (0..(m + k) as u32).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let mut cations = vec![species::VACANCY; m + k];
        cations[m..m + n].fill(species::LI);
        let samples = 20_000;
        let mut low = 0.0;
        for _ in 0..samples {
            sample_canonical(&mut cations, &sites, &energies, kt, 2, &mut rng);
            low += cations[..m].iter().filter(|&&c| c == species::LI).count() as f64 / m as f64;
        }
        let got = low / samples as f64;
        assert!((got - exact_low).abs() < 0.01, "{got} vs {exact_low}");
    }

    #[test]
    fn delithiation_keeps_count_and_only_touches_accessible_sites() {
        let cfg = open_lattice(4, 256, 1);
        let model = BarrierModel::default();
        let spec =
            EquilibrateSpec { temperature_k: 300.0, timescale_s: 3600.0, target_li: Some(100), sweeps: 20, seed: 2 };
        let eq = equilibrate(&cfg, &model, spec).unwrap();
        assert_eq!(eq.config.n_li(), 100);
        // An all-Li host (no TM) is one accessible cluster and ideal: μ = kT ln(c/(1−c)).
        let kt = BOLTZMANN_EV_PER_K * 300.0;
        let c: f64 = 100.0 / 256.0;
        assert!((eq.mu_ev - kt * (c / (1.0 - c)).ln()).abs() < 1e-9);
        let err = equilibrate(&cfg, &model, EquilibrateSpec { target_li: Some(257), ..spec }).unwrap_err();
        assert_eq!(err.field(), "li_content");
        assert_eq!(equilibrate(&cfg, &model, EquilibrateSpec { sweeps: 0, ..spec }).unwrap_err().field(), "sweeps");
        let err = equilibrate(&cfg, &model, EquilibrateSpec { timescale_s: f64::NAN, ..spec }).unwrap_err();
        assert_eq!(err.field(), "timescale_s");
    }

    #[test]
    fn slab_delithiation_reaches_through_the_surfaces_only() {
        // An open slab with one Li in the middle plane whose 12 neighbours are TM: the open
        // sites all reach a surface (accessible, one ideal reservoir), the caged Li does not.
        let lat = Lattice::new([4, 4, 3], 4.15, Geometry::Slab).unwrap();
        let mut cat = vec![species::LI; lat.n_cations()];
        let centre = (0..lat.n_cations()).find(|&c| lat.grid_coords(lat.cation_grid_index(c))[2] == 2).unwrap();
        let blk = lat.block(lat.grid_coords(lat.cation_grid_index(centre)));
        for d in crate::lattice::NN_DIRECTIONS {
            cat[Lattice::sublattice_index(crate::lattice::offset_index(&blk, d))] = species::FIRST_TM;
        }
        let cfg = Configuration::from_species(lat, &cat, &vec![species::O; lat.n_anions()], vec!["Ti".into()]).unwrap();
        let model = BarrierModel::uniform(0.3);
        let open = lat.n_cations() - 13;
        let spec =
            EquilibrateSpec { temperature_k: 300.0, timescale_s: 3600.0, target_li: Some(41), sweeps: 20, seed: 2 };
        let eq = equilibrate(&cfg, &model, spec).unwrap();
        assert_eq!(eq.config.cations()[centre], species::LI);
        assert_eq!((eq.config.n_li(), eq.n_accessible_li, eq.n_accessible_sites), (41, 40, open as u64));
        let kt = BOLTZMANN_EV_PER_K * 300.0;
        let c = 40.0 / open as f64;
        assert!((eq.mu_ev - kt * (c / (1.0 - c)).ln()).abs() < 1e-9);
        // Fewer than the caged Li cannot be reached.
        let err = equilibrate(&cfg, &model, EquilibrateSpec { target_li: Some(0), ..spec }).unwrap_err();
        assert!(err.to_string().contains("surfaces"), "{err}");
    }

    #[test]
    fn isolated_li_is_never_removed() {
        // A Li whose 12 neighbours are all TM has no path: it stays whatever μ is.
        let lat = Lattice::new([4, 4, 4], 4.15, Geometry::Bulk).unwrap();
        let mut cat = vec![species::LI; lat.n_cations()];
        let l = &lat;
        let centre = 0usize;
        let blk = l.block(l.grid_coords(l.cation_grid_index(centre)));
        for d in crate::lattice::NN_DIRECTIONS {
            let g = crate::lattice::offset_index(&blk, d);
            cat[crate::lattice::Lattice::sublattice_index(g)] = species::FIRST_TM;
        }
        let cfg = Configuration::from_species(lat, &cat, &vec![species::O; lat.n_anions()], vec!["Ti".into()]).unwrap();
        let model = BarrierModel::default();
        let spec =
            EquilibrateSpec { temperature_k: 300.0, timescale_s: 3600.0, target_li: Some(1), sweeps: 5, seed: 0 };
        let eq = equilibrate(&cfg, &model, spec).unwrap();
        assert_eq!(eq.config.cations()[centre], species::LI);
        assert_eq!(eq.n_accessible_li, 0);
        let mus = li_at_potentials(&cfg, &model, 300.0, 3600.0, &[-10.0, 10.0]).unwrap();
        assert!((mus[0] - 1.0).abs() < 1e-12, "{mus:?}");
    }
}
