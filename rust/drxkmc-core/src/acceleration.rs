//! Acceleration of Li rattling: a cap on the equilibrium flux of fast, quasi-equilibrated
//! hops.
//!
//! In a DRX cathode most hops are fast exchanges inside small groups of sites joined by open
//! 0-TM channels, while long-range transport waits for rare hops over slow bridges between
//! such groups. In equilibrium the pair of sites A, B is crossed (each way) at the flux
//!   g_AB = k_AB · f_A (1 − f_B) · exp(−(E_B − E_A)/2kT),
//! symmetric in A and B, with k_AB the KRA rate of its paths and f the Fermi–Dirac occupancy at
//! the Li chemical potential μ. By critical-path analysis (Ambegaokar, Halperin, Langer,
//! Phys. Rev. B 4, 2612 (1971), there for electron hopping with the same occupancy factors)
//! transport is set by the *critical flux* g*: the largest g such that the pairs with
//! g_AB ≥ g form a cluster that spans the periodic cell. Pairs crossed far more often than g*
//! only keep their groups in local equilibrium.
//!
//! The cap lowers the flux of every path above G = S·g* (S the time-scale separation kept) to
//! G by scaling both hop directions by the same factor: detailed balance, and so the
//! equilibrium distribution, is unchanged, and paths below G (the critical ones among them) are
//! untouched. Capped paths are still crossed at least S times as often as the critical ones,
//! so the groups they join stay equilibrated on the time scale of transport, and the long-time
//! diffusivities are unchanged up to corrections that vanish as S grows (the
//! time-scale-separation argument of Chatterjee & Voter, J. Chem. Phys. 132, 194101 (2010)
//! and Dybeck, Plaisance, Neurock, J. Chem. Theory Comput. 13, 1525 (2017), with the
//! separation fixed from the structure). What the cap removes is rattling: hops that carry no
//! transport. Tests compare capped and plain kMC on the same systems.

use crate::config::{species, Configuration};
use crate::equilibrium::chemical_potential;
use crate::error::{require_positive, Error, Result};
use crate::lattice::{inside_slab, offset_index, Geometry, Lattice, NN_DIRECTIONS, PATHS};
use crate::model::{BarrierModel, BOLTZMANN_EV_PER_K};
use crate::site_energy::site_energies;
use crate::union_find::{bond_image_shift, WrappingUnionFind};

/// One direction of each opposite pair of nearest-neighbour directions (`NN_DIRECTIONS[2m]`).
const FORWARD_DIRECTIONS: [usize; 6] = [0, 2, 4, 6, 8, 10];

/// The critical flux of a configuration and the μ it was computed at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CriticalFlux {
    /// g*, s⁻¹.
    pub flux_per_s: f64,
    /// μ of the Li over all non-TM sites at the configuration's Li count, eV.
    pub mu_ev: f64,
}

/// Fermi–Dirac occupancy.
fn fermi(e: f64, mu: f64, kt: f64) -> f64 {
    1.0 / (1.0 + ((e - mu) / kt).exp())
}

/// The critical flux g* of `config` under `model` at `temperature_k` (see the module doc):
/// pairs are added in order of decreasing equilibrium flux, with the path rates averaged over
/// the occupancy of their spectator sites, until a cluster wraps the cell. None when no
/// cluster ever wraps or there are no Li or no vacancies (nothing to accelerate). In a slab
/// no pair crosses a surface and no tetrahedron lies beyond one (the rules of percolation), so
/// the spanning cluster is one that wraps along x or y: the slab's own transport.
pub fn critical_flux(config: &Configuration, model: &BarrierModel, temperature_k: f64) -> Result<Option<CriticalFlux>> {
    require_positive("temperature_K", temperature_k)?;
    model.validate()?;
    let lattice = *config.lattice();
    let slab = lattice.geometry() == Geometry::Slab;
    // Up to six bonds per site (24 bytes each), site energies, cation codes and the union-find.
    let bytes_per_site = 6 * std::mem::size_of::<(f64, u32, u32, [i8; 3])>() + 8 + 1 + 24;
    crate::memory::require_available(
        "size",
        || format!("the acceleration's critical-flux analysis of {}", crate::memory::describe_lattice(&lattice)),
        (lattice.n_cations() * bytes_per_site) as u64,
    )?;
    let kt = BOLTZMANN_EV_PER_K * temperature_k;
    let energies = site_energies(config, model);
    let grid = config.grid();
    let cations = config.cations();
    let open: Vec<f64> = cations.iter().zip(&energies).filter(|(&c, _)| !species::is_tm(c)).map(|(_, &e)| e).collect();
    let mu = chemical_potential(&open, config.n_li() as f64, kt);
    if !mu.is_finite() {
        return Ok(None);
    }
    let occ = |c: usize| if species::is_tm(cations[c]) { 0.0 } else { fermi(energies[c], mu, kt) };
    let dims = lattice.dims();
    let mut bonds: Vec<(f64, u32, u32, [i8; 3])> = Vec::new();
    bonds.try_reserve(6 * lattice.n_cations()).map_err(|_| {
        Error::out_of_memory("size", "the acceleration's bond list could not be allocated; use a smaller lattice")
    })?;
    for (c, p) in lattice.cation_points().enumerate() {
        let g = lattice.grid_index(p);
        if species::is_tm(grid[g]) {
            continue;
        }
        let blk = lattice.block(p);
        let inside = |o: [i8; 3]| !slab || inside_slab(p[2], o[2], dims[2]);
        for &dir in &FORWARD_DIRECTIONS {
            let d = NN_DIRECTIONS[dir];
            if !inside(d) {
                continue;
            }
            let gb = offset_index(&blk, d);
            if species::is_tm(grid[gb]) {
                continue;
            }
            let b = Lattice::sublattice_index(gb);
            let mut k = 0.0;
            for side in 0..2 {
                let path = &PATHS[2 * dir + side];
                if !path.spectators.iter().all(|&o| inside(o)) {
                    continue; // the tetrahedron lies outside the slab
                }
                let [s1, s2] = path.spectators.map(|o| Lattice::sublattice_index(offset_index(&blk, o)));
                let n_tm = species::is_tm(cations[s1]) as usize + species::is_tm(cations[s2]) as usize;
                let corners = path.anions.map(|o| grid[offset_index(&blk, o)]);
                let (f1, f2) = (occ(s1), occ(s2));
                let p_li = [(1.0 - f1) * (1.0 - f2), f1 * (1.0 - f2) + f2 * (1.0 - f1), f1 * f2];
                for (n_li, pn) in p_li.iter().enumerate() {
                    let e = model.kra_barrier(lattice.a(), n_tm, n_li, corners);
                    k += pn * model.attempt_frequency_hz * (-e / kt).exp();
                }
            }
            let flux = k * occ(c) * (1.0 - occ(b)) * (-(energies[b] - energies[c]) / (2.0 * kt)).exp();
            if flux > 0.0 {
                bonds.push((flux, c as u32, b as u32, bond_image_shift(p, d, dims)));
            }
        }
    }
    bonds.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
    let mut uf = WrappingUnionFind::<i32>::new(lattice.n_cations());
    for (flux, a, b, shift) in bonds {
        uf.union(a, b, shift);
        if uf.wraps(a) != 0 {
            return Ok(Some(CriticalFlux { flux_per_s: flux, mu_ev: mu }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Lattice;

    #[test]
    fn open_lattice_critical_flux_is_the_lattice_gas_pair_flux() {
        // No TM, no site energies, c = 100/256: every pair has two paths at ν·exp(−E/kT) and
        // is crossed at 2Γ_t·c(1 − c) in equilibrium; μ = kT ln(c/(1 − c)).
        let lat = Lattice::new([4, 4, 4], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 100, &[], vec![], 0, 0, 1).unwrap();
        let m = BarrierModel::uniform(0.3);
        let kt = BOLTZMANN_EV_PER_K * 300.0;
        let crit = critical_flux(&cfg, &m, 300.0).unwrap().unwrap();
        let c: f64 = 100.0 / 256.0;
        let expect = 2.0 * 1e13 * (-0.3 / kt).exp() * c * (1.0 - c);
        assert!((crit.flux_per_s / expect - 1.0).abs() < 1e-9, "{crit:?} {expect}");
        assert!((crit.mu_ev - kt * (c / (1.0 - c)).ln()).abs() < 1e-9);
    }

    #[test]
    fn no_open_pair_means_no_critical_rate() {
        let m = BarrierModel::uniform(0.3);
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let all_tm = vec![species::FIRST_TM; lat.n_cations()];
        let tm =
            Configuration::from_species(lat, &all_tm, &vec![species::O; lat.n_anions()], vec!["Ti".into()]).unwrap();
        assert_eq!(critical_flux(&tm, &m, 300.0).unwrap(), None);
    }

    #[test]
    fn slab_critical_flux_spans_in_plane_without_crossing_a_surface() {
        // An open slab: pairs inside it have two paths (2Γ_t·c(1 − c), as in bulk), in-plane
        // pairs on a surface plane one; the interior planes wrap along x and y first.
        let m = BarrierModel::uniform(0.3);
        let kt = BOLTZMANN_EV_PER_K * 300.0;
        let slab = Lattice::new([4, 4, 3], 4.15, Geometry::Slab).unwrap();
        let cfg = Configuration::random(slab, 96, &[], vec![], 0, 0, 1).unwrap();
        let crit = critical_flux(&cfg, &m, 300.0).unwrap().unwrap();
        let c = 96.0 / slab.n_cations() as f64;
        let expect = 2.0 * 1e13 * (-0.3 / kt).exp() * c * (1.0 - c);
        assert!((crit.flux_per_s / expect - 1.0).abs() < 1e-9, "{crit:?} {expect}");
        // Only the two surface planes open (TM between them): they never join across the
        // z boundary, and their in-plane pairs have one path each (the other tetrahedron lies
        // outside the slab).
        let nz = slab.dims()[2];
        let cations: Vec<u8> = slab
            .cation_points()
            .map(|p| if p[2] == 0 || p[2] == nz - 1 { species::VACANCY } else { species::FIRST_TM })
            .collect();
        let mut cations = cations;
        let open: Vec<usize> = (0..cations.len()).filter(|&i| cations[i] == species::VACANCY).collect();
        for &i in open.iter().step_by(2) {
            cations[i] = species::LI;
        }
        let cfg =
            Configuration::from_species(slab, &cations, &vec![species::O; slab.n_anions()], vec!["Ti".into()]).unwrap();
        let crit = critical_flux(&cfg, &m, 300.0).unwrap().unwrap();
        let expect = 1e13 * (-0.3 / kt).exp() * 0.25;
        assert!((crit.flux_per_s / expect - 1.0).abs() < 1e-9, "{crit:?} {expect}");
    }

    #[test]
    fn empty_or_full_lattices_have_nothing_to_accelerate() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let m = BarrierModel::uniform(0.3);
        for n in [0, lat.n_cations()] {
            let cfg = Configuration::random(lat, n, &[], vec![], 0, 0, 1).unwrap();
            assert_eq!(critical_flux(&cfg, &m, 300.0).unwrap(), None);
        }
    }
}
