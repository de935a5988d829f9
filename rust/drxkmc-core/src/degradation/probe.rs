//! Diffusivities measured on a cycled slab: the Li kMC (run from Python) measures D*, D_J and
//! D_chem of the slab as it is after a completed cycle, at a reference Li content; the run
//! keeps one record per measured cycle so that checkpoints carry them. A probe never touches
//! the run's state or random stream: only this list changes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One probe's result: the columns it adds to its cycle's row (names as in the Python frame).
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusivityRecord {
    /// The completed cycle the slab was measured after.
    pub cycle: u32,
    /// Li per formula unit (of the as-made material) and temperature of the measurement.
    pub diffusivity_li_per_fu: f64,
    pub diffusivity_temperature_K: f64,
    /// In-plane (x, y) diffusivities of the slab and their standard errors, cm²/s.
    pub D_tracer_cm2_s: f64,
    pub D_tracer_err_cm2_s: f64,
    pub D_jump_cm2_s: f64,
    pub D_jump_err_cm2_s: f64,
    pub D_chem_cm2_s: f64,
    pub D_chem_err_cm2_s: f64,
    pub thermodynamic_factor: f64,
    /// Li on clusters that span the slab in-plane, over all Li.
    pub diffusivity_mobile_fraction: f64,
    /// kMC hops the measurement took.
    pub diffusivity_hops: u64,
    /// Whether the measurement converged (linear MSD, stationary, precision reached).
    pub diffusivity_converged: bool,
}

impl DiffusivityRecord {
    /// A record that can follow `previous` (measured cycles strictly increasing) in a run of
    /// `cycle` completed cycles; errors name `field`.
    pub(crate) fn check(&self, previous: Option<&DiffusivityRecord>, cycle: u32, field: &str) -> Result<()> {
        if self.cycle == 0 || self.cycle > cycle || previous.is_some_and(|p| p.cycle >= self.cycle) {
            return Err(Error::invalid(
                field,
                format!(
                    "a diffusivity of cycle {} does not fit a run of {cycle} cycle(s) with probes up to cycle {}",
                    self.cycle,
                    previous.map_or(0, |p| p.cycle)
                ),
            ));
        }
        let positive = [self.diffusivity_li_per_fu, self.diffusivity_temperature_K];
        if !positive.iter().all(|x| x.is_finite() && *x >= 0.0) || self.diffusivity_temperature_K == 0.0 {
            return Err(Error::invalid(field, "Li content and temperature must be finite, the temperature > 0"));
        }
        Ok(())
    }
}

/// Check a list of records against a run of `cycle` completed cycles.
pub(crate) fn check_all(records: &[DiffusivityRecord], cycle: u32, field: &str) -> Result<()> {
    let mut previous = None;
    for r in records {
        r.check(previous, cycle, field)?;
        previous = Some(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DiffusivityRecord;
    use crate::config::{species, Configuration};
    use crate::degradation::model::{CyclingProtocol, DegradationModel};
    use crate::degradation::tests::{lmto_slab, probe};
    use crate::engine::Kmc;
    use crate::model::BarrierModel;
    use crate::percolation::{analyze, BondRule, Criterion};

    /// A slab whose grid plane z = 2 holds Li and vacancies (every other site) between planes
    /// z = 1 and z = 3 of empty sites, as made (`lost` false) or with those two planes lost to
    /// densification; (run, cation indices of plane 2).
    fn sandwich(lost: bool) -> (crate::degradation::Cycling, Vec<usize>) {
        let cfg = lmto_slab([3, 3, 6], 5);
        let l = *cfg.lattice();
        let mut cations = cfg.cations();
        let z = |c: usize| l.grid_coords(l.cation_grid_index(c))[2];
        let plane: Vec<usize> = (0..l.n_cations()).filter(|&c| z(c) == 2).collect();
        for (c, code) in cations.iter_mut().enumerate() {
            if z(c) == 1 || z(c) == 3 {
                *code = species::VACANCY;
            }
        }
        for (k, &c) in plane.iter().enumerate() {
            cations[c] = if k % 2 == 0 { species::LI } else { species::VACANCY };
        }
        let cfg = Configuration::from_species(l, &cations, &cfg.anions(), cfg.tm_names().to_vec()).unwrap();
        let mut run = probe(&cfg, &DegradationModel::default(), &CyclingProtocol::default());
        if lost {
            for c in 0..l.n_cations() {
                run.state.collapsed[c] = z(c) == 1 || z(c) == 3;
            }
        }
        (run, plane)
    }

    #[test]
    fn lost_sites_hold_no_li_and_close_tetrahedra_like_a_tm() {
        let (run, plane) = sandwich(true);
        let net = run.network_configuration().unwrap();
        let cations = net.cations();
        for (c, &gone) in run.lost_sites().iter().enumerate() {
            assert_eq!(species::is_tm(cations[c]), gone || species::is_tm(run.config().cations()[c]), "site {c}");
        }
        assert!(net.valences().is_empty());
        // In-plane Li hops of plane 2 cross tetrahedra whose two spectators lie in planes 1
        // and 3: all lost, so every such hop is 2-TM, and no hop leaves the plane (its
        // neighbours above and below are lost). The Li kMC sees exactly that.
        let kmc = Kmc::new(&net, &BarrierModel::default(), 600.0, 1).unwrap();
        let from_plane: Vec<_> = kmc.events().into_iter().filter(|e| plane.contains(&e.from)).collect();
        assert!(!from_plane.is_empty(), "the plane's Li must have in-plane hops to check");
        for e in &from_plane {
            assert!(plane.contains(&e.to) && e.n_tm == 2, "{e:?}");
        }
        // So on the 1-TM network each site of the plane is a cluster of its own that reaches
        // no surface; as made (planes 1 and 3 empty, not lost) they join the slab's network.
        let isolated = |cfg: &Configuration| {
            let p = analyze(cfg, &BondRule::MaxTm(1), Criterion::Surface).unwrap();
            plane.iter().all(|&c| {
                let lab = p.labels[c];
                lab >= 0 && p.cluster_sites[lab as usize] == 1 && !p.cluster_accessible[lab as usize]
            })
        };
        assert!(isolated(&net));
        let (made, _) = sandwich(false);
        let open = made.network_configuration().unwrap();
        assert_eq!(open.cations(), made.config().cations(), "no lost site: the slab as it is");
        assert!(!isolated(&open));
        let kmc = Kmc::new(&open, &BarrierModel::default(), 600.0, 1).unwrap();
        assert!(kmc.events().iter().any(|e| plane.contains(&e.from) && !plane.contains(&e.to)));
    }

    #[test]
    fn records_must_follow_the_cycles_they_measure() {
        let record = |cycle: u32| DiffusivityRecord {
            cycle,
            diffusivity_li_per_fu: 1.0,
            diffusivity_temperature_K: 600.0,
            D_tracer_cm2_s: 1e-9,
            D_tracer_err_cm2_s: 1e-10,
            D_jump_cm2_s: f64::NAN,
            D_jump_err_cm2_s: f64::NAN,
            D_chem_cm2_s: f64::NAN,
            D_chem_err_cm2_s: f64::NAN,
            thermodynamic_factor: f64::NAN,
            diffusivity_mobile_fraction: 0.5,
            diffusivity_hops: 10,
            diffusivity_converged: false,
        };
        let (mut run, _) = sandwich(false);
        // No cycle has run: nothing can be measured after one.
        assert_eq!(run.add_diffusivity(record(0)).unwrap_err().field(), "diffusivity");
        run.state.cycle = 3;
        run.add_diffusivity(record(2)).unwrap();
        for bad in [2, 4] {
            assert_eq!(run.add_diffusivity(record(bad)).unwrap_err().field(), "diffusivity");
        }
        let hot = DiffusivityRecord { diffusivity_temperature_K: f64::NAN, ..record(3) };
        assert!(run.add_diffusivity(hot).is_err());
        run.add_diffusivity(record(3)).unwrap();
        assert_eq!(run.diffusivity_records().len(), 2);
    }
}
