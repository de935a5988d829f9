//! Li site energies of the barrier model, one per cation site.
//!
//! E_A = n_F(A)·ε_F + n_Cl(A)·ε_Cl + n_TM(A)·ε_TM + σ·ξ_A, with n_F, n_Cl counted over the six
//! anions of the octahedron, n_TM over the twelve cation neighbours, and ξ_A a standard normal
//! number fixed by (`site_energy_seed`, A) alone: one site's energy can be recomputed after a
//! local change without replaying a random stream, and the same seed gives the same pattern of
//! disorder at any width σ.

use crate::config::{species, Configuration};
use crate::lattice::{inside_slab, offset_index, Geometry, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS};
use crate::model::BarrierModel;
use crate::random::mix64;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The standard normal ξ of cation site `site` under disorder seed `seed`.
pub fn site_noise(seed: u64, site: usize) -> f64 {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix64(seed) ^ mix64(site as u64 ^ 0x9e37_79b9_7f4a_7c15));
    StandardNormal.sample(&mut rng)
}

/// Li site energy (eV) of cation site `site` (cation index) of `config`; TM sites get the
/// value a Li would have there. In a slab only neighbours inside the slab count (a surface
/// site has 5 anions and 8 cation neighbours).
pub fn site_energy(config: &Configuration, model: &BarrierModel, site: usize) -> f64 {
    let l: &Lattice = config.lattice();
    let grid = config.grid();
    let p = l.grid_coords(l.cation_grid_index(site));
    let blk = l.block(p);
    let nz = l.dims()[2];
    let slab = l.geometry() == Geometry::Slab;
    let exists = |o: [i8; 3]| !slab || inside_slab(p[2], o[2], nz);
    let mut e = 0.0;
    for o in OCTAHEDRON_ANIONS.into_iter().filter(|&o| exists(o)) {
        match grid[offset_index(&blk, o)] {
            species::F => e += model.site_f_ev,
            species::CL => e += model.site_cl_ev,
            _ => {}
        }
    }
    for d in NN_DIRECTIONS.into_iter().filter(|&d| exists(d)) {
        if species::is_tm(grid[offset_index(&blk, d)]) {
            e += model.site_tm_ev;
        }
    }
    if model.site_disorder_ev != 0.0 {
        e += model.site_disorder_ev * site_noise(model.site_energy_seed, site);
    }
    e
}

/// Li site energy of every cation site, eV, in cation-index order.
pub fn site_energies(config: &Configuration, model: &BarrierModel) -> Vec<f64> {
    (0..config.lattice().n_cations()).map(|c| site_energy(config, model, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal_and_local() {
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|s| site_noise(3, s)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: 1/√n for the mean, √(2/n) for the variance.
        assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "{mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(), "{var}");
        // Neighbouring sites and seeds are uncorrelated.
        let c: f64 = xs.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / n as f64;
        assert!(c.abs() < 5.0 / (n as f64).sqrt(), "{c}");
        assert_ne!(site_noise(3, 7), site_noise(4, 7));
        assert_eq!(site_noise(3, 7), site_noise(3, 7));
    }

    #[test]
    fn energies_count_f_and_tm_neighbours() {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let mut cat = vec![species::LI; lat.n_cations()];
        cat[0] = species::FIRST_TM;
        let mut an = vec![species::O; lat.n_anions()];
        an[0] = species::F;
        let cfg = Configuration::from_species(lat, &cat, &an, vec!["Mn".into()]).unwrap();
        let m = BarrierModel { site_disorder_ev: 0.0, ..BarrierModel::default() };
        let e = site_energies(&cfg, &m);
        // Every cation site has 12 cation neighbours, of which the one TM counts for 12 sites;
        // the one F is shared by 6 octahedra.
        let total: f64 = e.iter().sum();
        assert!((total - (12.0 * m.site_tm_ev + 6.0 * m.site_f_ev)).abs() < 1e-12, "{total}");
    }

    #[test]
    fn slab_energies_count_no_neighbour_across_the_surface() {
        // The same TM and F on the bottom plane of a slab: the TM has 8 cation neighbours in
        // the slab (4 in its plane, 4 above), the F 5 cations (no octahedron below the slab).
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Slab).unwrap();
        let mut cat = vec![species::LI; lat.n_cations()];
        cat[0] = species::FIRST_TM;
        let mut an = vec![species::O; lat.n_anions()];
        an[0] = species::F;
        assert_eq!(lat.grid_coords(lat.cation_grid_index(0))[2], 0);
        assert_eq!(lat.grid_coords(lat.anion_grid_index(0))[2], 0);
        let cfg = Configuration::from_species(lat, &cat, &an, vec!["Mn".into()]).unwrap();
        let m = BarrierModel { site_disorder_ev: 0.0, ..BarrierModel::default() };
        let total: f64 = site_energies(&cfg, &m).iter().sum();
        assert!((total - (8.0 * m.site_tm_ev + 5.0 * m.site_f_ev)).abs() < 1e-12, "{total}");
    }
}
