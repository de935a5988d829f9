//! SRO measures of any configuration: Warren–Cowley parameters of the first two shells,
//! tetrahedral sites by the content of their four cation octahedra, and anion environments.

use super::{cation_display_order, cation_name, FIELD_CHARGES};
use crate::config::{species, Configuration};
use crate::error::{Error, Result};
use crate::lattice::{offset_index, Lattice, NN_DIRECTIONS, OCTAHEDRON_ANIONS};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::collections::HashMap;

/// One Warren–Cowley parameter α_ij = 1 − P(j | neighbour of i) / c_j (serialised one row
/// per parameter).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WarrenCowley {
    /// "cation" or "anion".
    pub sublattice: &'static str,
    /// 1: the 12 neighbours at a/√2; 2: the 6 at a.
    pub shell: u8,
    #[serde(rename = "distance_A")]
    pub distance_angstrom: f64,
    pub species_i: String,
    pub species_j: String,
    pub alpha: f64,
    /// Directed (i, j) neighbour pairs counted.
    pub pairs: u64,
}

/// Neighbour offsets (units of a/2) of the first two shells of an FCC sublattice.
const SHELL2: [[i8; 3]; 6] = [[2, 0, 0], [-2, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 2], [0, 0, -2]];

/// Grid index of g + o with periodic wrapping, for any small offset.
#[inline]
fn shifted(l: &Lattice, g: usize, o: [i8; 3]) -> usize {
    let p = l.grid_coords(g);
    let d = l.dims();
    let mut q = [0usize; 3];
    for k in 0..3 {
        q[k] = (p[k] as i64 + o[k] as i64).rem_euclid(d[k] as i64) as usize;
    }
    l.grid_index(q)
}

/// Warren–Cowley parameters of the first two shells of the cation sublattice (Li, TMs, Va:
/// every present species) and, if it holds at least two species, of the anion sublattice.
/// Rows by sublattice, shell, then species in display order (Li, TMs alphabetically, Va;
/// O, F, Cl, Va).
pub fn warren_cowley(config: &Configuration) -> Vec<WarrenCowley> {
    let l = config.lattice();
    let grid = config.grid();
    let n_cat_codes = species::FIRST_TM as usize + config.tm_names().len();
    let mut out = Vec::new();
    let shells: [(u8, &[[i8; 3]], f64); 2] = [(1, &NN_DIRECTIONS, l.nn_distance()), (2, &SHELL2, l.a())];
    let cation_order = cation_display_order(config.tm_names());
    let anion_order: Vec<u8> = (0..species::N_ANION_KINDS as u8).collect();
    for (sublattice, n_codes, order) in
        [("cation", n_cat_codes, &cation_order), ("anion", species::N_ANION_KINDS, &anion_order)]
    {
        let sites: Vec<usize> = (0..l.n_cations())
            .map(|c| if sublattice == "cation" { l.cation_grid_index(c) } else { l.anion_grid_index(c) })
            .collect();
        let mut n = vec![0u64; n_codes];
        for &g in &sites {
            n[grid[g] as usize] += 1;
        }
        let present: Vec<u8> = order.iter().copied().filter(|&s| n[s as usize] > 0).collect();
        if sublattice == "anion" && present.len() < 2 {
            continue;
        }
        let total = sites.len() as f64;
        for &(shell, offsets, dist) in &shells {
            let mut counts = vec![0u64; n_codes * n_codes];
            for &g in &sites {
                let si = grid[g] as usize;
                if offsets.len() == 12 {
                    let blk = l.block(l.grid_coords(g));
                    for &o in offsets {
                        counts[si * n_codes + grid[offset_index(&blk, o)] as usize] += 1;
                    }
                } else {
                    for &o in offsets {
                        counts[si * n_codes + grid[shifted(l, g, o)] as usize] += 1;
                    }
                }
            }
            let z = offsets.len() as f64;
            for &i in &present {
                for &j in &present {
                    let (i, j) = (i as usize, j as usize);
                    let pairs = counts[i * n_codes + j];
                    let p = pairs as f64 / (n[i] as f64 * z);
                    let c = n[j] as f64 / total;
                    let name = |s: usize| {
                        if sublattice == "cation" {
                            cation_name(config.tm_names(), s as u8).to_string()
                        } else {
                            species::ANION_NAMES[s].to_string()
                        }
                    };
                    out.push(WarrenCowley {
                        sublattice,
                        shell,
                        distance_angstrom: dist,
                        species_i: name(i),
                        species_j: name(j),
                        alpha: 1.0 - p / c,
                        pairs,
                    });
                }
            }
        }
    }
    out
}

/// Tetrahedra (grid cubes) with a given cation content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TetrahedronCount {
    pub n_li: u8,
    pub n_tm: u8,
    pub n_va: u8,
    pub count: u64,
}

/// One row per content, led by its `label` (a derived column, hence written by hand).
impl Serialize for TetrahedronCount {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut row = s.serialize_struct("TetrahedronCount", 5)?;
        row.serialize_field("content", &self.label())?;
        row.serialize_field("n_Li", &self.n_li)?;
        row.serialize_field("n_TM", &self.n_tm)?;
        row.serialize_field("n_Va", &self.n_va)?;
        row.serialize_field("count", &self.count)?;
        row.end()
    }
}

impl TetrahedronCount {
    /// "Li4", "Li3TM1", "Li2TM1Va1", "TM4", ... (zero counts omitted).
    pub fn label(&self) -> String {
        let mut s = String::new();
        for (name, n) in [("Li", self.n_li), ("TM", self.n_tm), ("Va", self.n_va)] {
            if n > 0 {
                s.push_str(&format!("{name}{n}"));
            }
        }
        s
    }
}

/// Counts of tetrahedral sites by the content of their four face-sharing cation octahedra:
/// every (n_Li, n_TM, n_Va) with n_Li + n_TM + n_Va = 4 (15 rows, zero counts included),
/// ordered by n_TM then n_Va.
pub fn tetrahedra(config: &Configuration) -> Vec<TetrahedronCount> {
    let l = config.lattice();
    let grid = config.grid();
    let d = l.dims();
    let mut counts = [[0u64; 5]; 5]; // [n_tm][n_va]
    for z in 0..d[2] {
        for y in 0..d[1] {
            for x in 0..d[0] {
                let (mut n_tm, mut n_va) = (0usize, 0usize);
                for o in 0..8 {
                    let p = [(x + (o & 1)) % d[0], (y + ((o >> 1) & 1)) % d[1], (z + ((o >> 2) & 1)) % d[2]];
                    if Lattice::is_cation(p) {
                        let s = grid[l.grid_index(p)];
                        if species::is_tm(s) {
                            n_tm += 1;
                        } else if s == species::VACANCY {
                            n_va += 1;
                        }
                    }
                }
                counts[n_tm][n_va] += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(15);
    for n_tm in 0..=4u8 {
        for n_va in 0..=(4 - n_tm) {
            out.push(TetrahedronCount {
                n_li: 4 - n_tm - n_va,
                n_tm,
                n_va,
                count: counts[n_tm as usize][n_va as usize],
            });
        }
    }
    out
}

/// Anions of one species with one multiset of six cation neighbours (serialised one row per
/// environment; `cation_charge_e` only when charges were given).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AnionEnvironment {
    /// "O:Li3Mn3", "O:Li4Mn1Nb1", "F:Li6", "O:Li2Mn3Va1" (Li, TMs alphabetically, Va).
    #[serde(rename = "environment")]
    pub label: String,
    pub anion: &'static str,
    #[serde(rename = "n_Li")]
    pub n_li: u8,
    #[serde(rename = "n_TM")]
    pub n_tm: u8,
    #[serde(rename = "n_Va")]
    pub n_va: u8,
    /// Summed oxidation state of the six cations, e (if charges were given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cation_charge_e: Option<f64>,
    pub count: u64,
}

/// Histogram of anion environments (anion species + its six cation neighbours), most common
/// first (ties by label). `cation_charges` (per cation code, as for [`Hamiltonian::new`]) adds
/// the summed cation charge of each environment.
pub fn anion_environments(config: &Configuration, cation_charges: Option<&[f64]>) -> Result<Vec<AnionEnvironment>> {
    let l = config.lattice();
    let grid = config.grid();
    let n_codes = species::FIRST_TM as usize + config.tm_names().len();
    if let Some(q) = cation_charges {
        if q.len() != n_codes || q.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(FIELD_CHARGES, format!("needs {n_codes} finite cation charges")));
        }
    }
    let mut hist: HashMap<Vec<u8>, u64> = HashMap::new();
    for p in l.anion_points() {
        let g = l.grid_index(p);
        let blk = l.block(p);
        let mut key = vec![0u8; n_codes + 1];
        key[n_codes] = grid[g];
        for o in OCTAHEDRON_ANIONS {
            key[grid[offset_index(&blk, o)] as usize] += 1;
        }
        *hist.entry(key).or_insert(0) += 1;
    }
    let order = cation_display_order(config.tm_names());
    let mut out: Vec<AnionEnvironment> = hist
        .into_iter()
        .map(|(key, count)| {
            let anion = species::ANION_NAMES[key[n_codes] as usize];
            let mut label = format!("{anion}:");
            for &s in &order {
                let n = key[s as usize];
                if n > 0 {
                    label.push_str(&format!("{}{n}", cation_name(config.tm_names(), s)));
                }
            }
            let n_tm = (species::FIRST_TM as usize..n_codes).map(|s| key[s]).sum();
            AnionEnvironment {
                label,
                anion,
                n_li: key[species::LI as usize],
                n_tm,
                n_va: key[species::VACANCY as usize],
                cation_charge_e: cation_charges.map(|q| (0..n_codes).map(|s| key[s] as f64 * q[s]).sum()),
                count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    Ok(out)
}
