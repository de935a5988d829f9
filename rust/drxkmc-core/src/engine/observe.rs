//! What the engine reports: `Observation` snapshots of the Li displacements, the possible hops
//! (`Event`), and the state in the cation- and anion-index order of `Lattice`.

use super::site::{Disp, Hood, PATH_SPECTATORS};
use super::Kmc;
use crate::config::species;
use crate::lattice::{offset_index, padded, Lattice, NN_DIRECTIONS, N_PATHS};
use crate::model::{KraTable, BOLTZMANN_EV_PER_K, CLOSED_CLASS};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A snapshot of the Li displacements, taken by `Kmc::observe`.
/// Displacements are since the last `reset_displacements`, in units of a/2.
/// Serialised (one row per observation) under the names the Python layer reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Observation {
    pub time_s: f64,
    pub hops: u64,
    pub n_li: u64,
    /// Σ_i |R_i|², (a/2)².
    pub sum_r2: f64,
    /// Σ_i R_i, a/2 (serialised as `sum_rx`, `sum_ry`, `sum_rz`).
    #[serde(flatten, serialize_with = "axis_sums")]
    pub sum_r: [f64; 3],
    /// Σ_i R_z,i², (a/2)²: the part of `sum_r2` across a slab's planes, which its in-plane
    /// diffusivities leave out.
    pub sum_rz2: f64,
    /// Li with |R_i| larger than one nearest-neighbour distance.
    pub n_beyond_one_hop: u64,
    /// Li in each octant of the box (index x_hi + 2 y_hi + 4 z_hi).
    pub octant_li: [u64; 8],
    /// Σ of the site energies of the Li, eV: a stationarity trace.
    #[serde(rename = "li_energy_ev")]
    pub sum_li_energy_ev: f64,
}

fn axis_sums<S: Serializer>(r: &[f64; 3], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(3))?;
    m.serialize_entry("sum_rx", &r[0])?;
    m.serialize_entry("sum_ry", &r[1])?;
    m.serialize_entry("sum_rz", &r[2])?;
    m.end()
}

/// One possible hop: from cation `from` to cation `to` through tetrahedron side `path`.
/// Serialised (one row per event) under the names of `Simulation.events()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Event {
    #[serde(rename = "from_site")]
    pub from: usize,
    #[serde(rename = "to_site")]
    pub to: usize,
    /// Path index 0..24 (= 2·direction + side; serialised as `path` and `direction`).
    #[serde(flatten, serialize_with = "path_and_direction")]
    pub path: usize,
    /// TM among the spectators (serialised as `channel`).
    #[serde(rename = "channel", serialize_with = "small")]
    pub n_tm: usize,
    #[serde(rename = "barrier_eV")]
    pub barrier_ev: f64,
    pub rate_per_s: f64,
}

fn path_and_direction<S: Serializer>(path: &usize, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("path", &(*path as u8))?;
    m.serialize_entry("direction", &((*path / 2) as u8))?;
    m.end()
}

/// A count below 256 as a u8 (a channel's TM count).
fn small<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(*n as u8)
}

impl Kmc {
    /// Li site energy of every cation site, eV.
    pub fn site_energies(&self) -> Vec<f64> {
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        self.cation_pairs().map(|c| self.energy_ref_ev - two_kt * (self.sites[c].weight as f64).ln()).collect()
    }

    // An index loop below: the iterator form clippy prefers changes the machine code of
    // `Kmc::run`, which inlines this function next to the hop loop.
    #[allow(clippy::needless_range_loop)]
    pub(super) fn observe_at(&self, time_s: f64) -> Observation {
        let mut o = Observation { time_s, hops: self.hops, ..Default::default() };
        let [nx, ny, nz] = self.lattice.dims();
        let two_kt = 2.0 * BOLTZMANN_EV_PER_K * self.temperature_k;
        let mut sum_ln_weight = 0.0;
        for p in self.lattice.cation_points() {
            let c = self.order.index(padded(p)) >> 1;
            if self.sites[c].cation != species::LI {
                continue;
            }
            sum_ln_weight += (self.sites[c].weight as f64).ln();
            let r = self.disp[c].unpack();
            let r2 = (r[0] as i64).pow(2) + (r[1] as i64).pow(2) + (r[2] as i64).pow(2);
            o.n_li += 1;
            o.sum_r2 += r2 as f64;
            o.sum_rz2 += (r[2] as i64).pow(2) as f64;
            for k in 0..3 {
                o.sum_r[k] += r[k] as f64;
            }
            // One NN hop is |R|² = 2 in (a/2)² units.
            o.n_beyond_one_hop += (r2 > 2) as u64;
            let octant = (2 * p[0] >= nx) as usize + 2 * (2 * p[1] >= ny) as usize + 4 * (2 * p[2] >= nz) as usize;
            o.octant_li[octant] += 1;
        }
        // w = exp(−(E − E_ref)/2kT) per Li.
        o.sum_li_energy_ev = o.n_li as f64 * self.energy_ref_ev - two_kt * sum_ln_weight;
        o
    }

    /// Observation of the current state.
    pub fn observe(&self) -> Observation {
        self.observe_at(self.time_s)
    }

    /// Zero every Li displacement (start of a new measuring block).
    pub fn reset_displacements(&mut self) {
        self.fold_displacements_into_origins();
        self.disp.fill(Disp::default());
    }

    /// Cation species in cation-index order.
    pub fn cations(&self) -> Vec<u8> {
        self.cation_pairs().map(|c| self.sites[c].cation).collect()
    }
    /// Anion species in anion-index order.
    pub fn anions(&self) -> Vec<u8> {
        self.lattice.anion_points().map(|p| self.sites[self.order.index(padded(p)) >> 1].anion).collect()
    }
    /// Displacement (units of a/2) of the Li on each cation site since the last reset
    /// (zero where there is no Li), in cation-index order.
    pub fn displacements(&self) -> Vec<[i32; 3]> {
        self.cation_pairs()
            .map(|c| if self.sites[c].cation == species::LI { self.disp[c].unpack() } else { [0; 3] })
            .collect()
    }
    /// Exact escape rate of every cation site (0 where there is no Li), s⁻¹, in cation-index
    /// order.
    pub fn escape_rates(&self) -> Vec<f64> {
        self.lattice
            .cation_points()
            .map(|p| {
                let q = padded(p);
                if self.site(self.order.index(q)).cation == species::LI {
                    self.escape_rate_now(q)
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Every possible hop of the current state, with its barrier and rate, by start site
    /// (cation index) and path.
    pub fn events(&self) -> Vec<Event> {
        let kt = BOLTZMANN_EV_PER_K * self.temperature_k;
        let l = &self.lattice;
        let mut out = Vec::new();
        for (from, p) in l.cation_points().enumerate() {
            let b = Hood::new(&self.order, padded(p));
            let me = self.site(b.centre());
            if me.cation != species::LI {
                continue;
            }
            let blk = l.block(p);
            for path in 0..N_PATHS {
                let dir = path / 2;
                if me.vacant & (1 << dir) == 0 {
                    continue;
                }
                let cube = b.cube(path);
                let class = self.site(cube).cubes[cube & 1];
                if class == CLOSED_CLASS {
                    continue; // beyond a slab's surface: no tetrahedron there
                }
                let [s1, s2] = PATH_SPECTATORS[path & 31];
                let n_li = (((me.li >> s1) & 1) + ((me.li >> s2) & 1)) as usize;
                let (w_a, w_b) = (me.weight as f64, self.site(b.nn(dir)).weight as f64);
                let ratio = w_b / w_a;
                let k = self.table.rate(class, n_li);
                // Under the rate cap the KRA rate is lowered, i.e. E_KRA raised by kT·ln(k/k_eff).
                let k_eff = k.min(self.kra_limit(w_a, w_b));
                let raised = if k_eff < k { kt * (k / k_eff).ln() } else { 0.0 };
                out.push(Event {
                    from,
                    to: Lattice::sublattice_index(offset_index(&blk, NN_DIRECTIONS[dir])),
                    path,
                    n_tm: KraTable::n_tm(class),
                    barrier_ev: self.table.barrier(class, n_li) + raised - kt * ratio.ln(),
                    rate_per_s: k_eff * ratio,
                });
            }
        }
        out
    }
}
