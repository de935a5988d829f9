//! Occupancy of a rocksalt supercell: which cation sits on each octahedral site and which
//! anion on each anion site, stored as one byte per grid point (see `lattice`).

use crate::error::{Error, Result};
use crate::lattice::{offset_index, Lattice, PATHS};
use crate::memory::{describe_lattice, require_available, try_filled};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Species codes. Cation and anion codes overlap; the grid parity says which applies.
pub mod species {
    /// Empty cation site (Li vacancy or intrinsic cation vacancy).
    pub const VACANCY: u8 = 0;
    pub const LI: u8 = 1;
    /// Transition metal `k` (index into `Configuration::tm_names`) has code `FIRST_TM + k`.
    pub const FIRST_TM: u8 = 2;
    pub const MAX_TM_KINDS: usize = (u8::MAX - FIRST_TM) as usize;
    /// Anion codes, also the index of the per-corner anion parameters of the barrier model.
    pub const O: u8 = 0;
    pub const F: u8 = 1;
    pub const CL: u8 = 2;
    pub const ANION_VACANCY: u8 = 3;
    pub const N_ANION_KINDS: usize = 4;
    pub const ANION_NAMES: [&str; N_ANION_KINDS] = ["O", "F", "Cl", "Va"];

    #[inline(always)]
    pub fn is_tm(code: u8) -> bool {
        code >= FIRST_TM
    }
}

/// Species on every site of a supercell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    lattice: Lattice,
    grid: Vec<u8>,
    tm_names: Vec<String>,
    /// Oxidation state of the TM on each cation site (cation-index order; 0 on Li and
    /// vacancies), once a cycling run has made them site-resolved; empty before, when every TM
    /// of a kind carries the composition's average state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    valences: Vec<i8>,
    /// TMs on tetrahedral sites (a TM caught between two octahedra, or resting there as
    /// in a spinel-like δ phase), sorted by tetrahedron; empty for a plain rocksalt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tetrahedral: Vec<TetrahedralTm>,
}

/// A TM on a tetrahedral site: the tetrahedron (the grid index of its cube's lowest corner,
/// `lattice` module docs), the TM's species code and oxidation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TetrahedralTm {
    pub tetrahedron: u32,
    pub code: u8,
    pub valence: i8,
}

impl Configuration {
    /// Build from explicit per-site codes (cations in cation-index order, anions in
    /// anion-index order; see `Lattice::cation_grid_index`).
    pub fn from_species(lattice: Lattice, cations: &[u8], anions: &[u8], tm_names: Vec<String>) -> Result<Self> {
        if cations.len() != lattice.n_cations() {
            return Err(Error::invalid(
                "cations",
                format!("has {} entries but the lattice has {} cation sites", cations.len(), lattice.n_cations()),
            ));
        }
        if anions.len() != lattice.n_anions() {
            return Err(Error::invalid(
                "anions",
                format!("has {} entries but the lattice has {} anion sites", anions.len(), lattice.n_anions()),
            ));
        }
        if tm_names.len() > species::MAX_TM_KINDS {
            return Err(Error::invalid("tm_names", "too many transition-metal kinds"));
        }
        let max_cation = species::FIRST_TM as usize + tm_names.len();
        if let Some((i, &c)) = cations.iter().enumerate().find(|(_, &c)| c as usize >= max_cation) {
            return Err(Error::invalid("cations", format!("site {i} has unknown species code {c}")));
        }
        if let Some((i, &c)) = anions.iter().enumerate().find(|(_, &c)| c as usize >= species::N_ANION_KINDS) {
            return Err(Error::invalid("anions", format!("site {i} has unknown species code {c}")));
        }
        require_available(
            "size",
            || format!("a configuration of {}", describe_lattice(&lattice)),
            Self::memory_estimate(&lattice, false),
        )?;
        let mut grid = try_filled(lattice.n_grid(), 0u8, "size")?;
        for (c, &code) in cations.iter().enumerate() {
            grid[lattice.cation_grid_index(c)] = code;
        }
        for (c, &code) in anions.iter().enumerate() {
            grid[lattice.anion_grid_index(c)] = code;
        }
        Ok(Configuration { lattice, grid, tm_names, valences: Vec::new(), tetrahedral: Vec::new() })
    }

    /// Random (uncorrelated) placement of `n_li` Li and `tm_counts[k]` of each TM on the cation
    /// sites (the rest vacant), and `n_f` F, `n_cl` Cl on the anion sites (the rest O).
    pub fn random(
        lattice: Lattice,
        n_li: usize,
        tm_counts: &[usize],
        tm_names: Vec<String>,
        n_f: usize,
        n_cl: usize,
        seed: u64,
    ) -> Result<Self> {
        if tm_counts.len() != tm_names.len() {
            return Err(Error::invalid("tm_counts", "needs one count per transition-metal name"));
        }
        let n_cat = lattice.n_cations();
        let occupied = tm_counts.iter().try_fold(n_li, |acc, &n| acc.checked_add(n));
        if occupied.is_none_or(|n| n > n_cat) {
            return Err(Error::invalid(
                "li_content",
                format!("Li and transition metals need more than the {n_cat} cation sites of the lattice"),
            ));
        }
        if n_f.checked_add(n_cl).is_none_or(|n| n > lattice.n_anions()) {
            return Err(Error::invalid("anions", "more F and Cl than anion sites"));
        }
        require_available(
            "size",
            || format!("a configuration of {}", describe_lattice(&lattice)),
            Self::memory_estimate(&lattice, true),
        )?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut cations = try_filled(n_cat, species::VACANCY, "size")?;
        let mut at = 0;
        for (code, n) in std::iter::once((species::LI, n_li))
            .chain(tm_counts.iter().enumerate().map(|(k, &n)| (species::FIRST_TM + k as u8, n)))
        {
            cations[at..at + n].fill(code);
            at += n;
        }
        cations.shuffle(&mut rng);
        let mut anions = try_filled(lattice.n_anions(), species::O, "size")?;
        anions[..n_f].fill(species::F);
        anions[n_f..n_f + n_cl].fill(species::CL);
        anions.shuffle(&mut rng);
        Self::from_species(lattice, &cations, &anions, tm_names)
    }

    /// Peak bytes allocated while building a configuration of `lattice`: the one-byte grid,
    /// plus (`random`) the per-sublattice code arrays it is filled from.
    pub fn memory_estimate(lattice: &Lattice, random: bool) -> u64 {
        let grid = lattice.n_grid() as u64;
        if random {
            2 * grid
        } else {
            grid
        }
    }

    /// The same configuration with a site-resolved oxidation state for every TM (`valences` in
    /// cation-index order: 1..=8 on TM sites, 0 elsewhere). An empty list removes them.
    pub fn with_valences(mut self, valences: Vec<i8>) -> Result<Self> {
        if !valences.is_empty() {
            if valences.len() != self.lattice.n_cations() {
                return Err(Error::invalid(
                    "valences",
                    format!(
                        "has {} entries but the lattice has {} cation sites",
                        valences.len(),
                        self.lattice.n_cations()
                    ),
                ));
            }
            for (c, &v) in valences.iter().enumerate() {
                let tm = species::is_tm(self.grid[self.lattice.cation_grid_index(c)]);
                if tm != (1..=8).contains(&v) {
                    return Err(Error::invalid(
                        "valences",
                        format!("site {c} has valence {v}; TM sites need 1..8 and other sites 0"),
                    ));
                }
            }
        }
        self.valences = valences;
        Ok(self)
    }
    /// The same configuration with TMs on tetrahedral sites. Each tetrahedron must lie inside
    /// the cell (a slab has none across its surfaces), appear once, hold a known TM with a
    /// state 1..=8, and share faces only with empty octahedra (a cation on a face-sharing
    /// octahedron sits 2.0 Å away: no such structure is stable).
    pub fn with_tetrahedral(mut self, mut tms: Vec<TetrahedralTm>) -> Result<Self> {
        let l = self.lattice;
        let d = l.dims();
        let n_codes = species::FIRST_TM as usize + self.tm_names.len();
        tms.sort_by_key(|t| t.tetrahedron);
        for (k, t) in tms.iter().enumerate() {
            let bad = |why: String| Error::invalid("tetrahedral", format!("tetrahedron {}: {why}", t.tetrahedron));
            if t.tetrahedron as usize >= l.n_tetrahedra() {
                return Err(bad(format!("the cell has {} tetrahedra", l.n_tetrahedra())));
            }
            if k > 0 && tms[k - 1].tetrahedron == t.tetrahedron {
                return Err(bad("is listed twice".into()));
            }
            if !species::is_tm(t.code) || t.code as usize >= n_codes {
                return Err(bad(format!("species code {} is not a TM of this configuration", t.code)));
            }
            if !(1..=8).contains(&t.valence) {
                return Err(bad(format!("valence {} is not 1..8", t.valence)));
            }
            let p = l.grid_coords(t.tetrahedron as usize);
            if l.geometry() == crate::lattice::Geometry::Slab && p[2] + 1 >= d[2] {
                return Err(bad("crosses the slab's surface".into()));
            }
            for c in self.tetrahedron_vertices(t.tetrahedron as usize) {
                if self.grid[c] != species::VACANCY {
                    return Err(bad("shares a face with an occupied octahedron".into()));
                }
            }
        }
        self.tetrahedral = tms;
        Ok(self)
    }
    /// TMs on tetrahedral sites (see `with_tetrahedral`).
    pub fn tetrahedral(&self) -> &[TetrahedralTm] {
        &self.tetrahedral
    }
    /// Refuse a configuration with tetrahedral TMs in an engine that models octahedral
    /// occupancy only (the Li kMC, percolation, equilibrium sampling).
    pub fn require_octahedral(&self, what: &str) -> Result<()> {
        if self.tetrahedral.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            "config",
            format!(
                "has {} TM(s) on tetrahedral sites; {what} models octahedral occupancy only \
                 (each tetrahedral TM closes its tetrahedron and empties its four face-sharing octahedra)",
                self.tetrahedral.len()
            ),
        ))
    }
    /// Grid indices of the four cation vertices (face-sharing octahedra) of tetrahedron `t`
    /// (the grid cube whose lowest corner is `t`).
    pub fn tetrahedron_vertices(&self, t: usize) -> [usize; 4] {
        let l = &self.lattice;
        let d = l.dims();
        let p = l.grid_coords(t);
        let mut out = [0usize; 4];
        let mut k = 0;
        for dz in 0..2 {
            for dy in 0..2 {
                for dx in 0..2 {
                    let q = [(p[0] + dx) % d[0], (p[1] + dy) % d[1], (p[2] + dz) % d[2]];
                    if Lattice::is_cation(q) {
                        out[k] = l.grid_index(q);
                        k += 1;
                    }
                }
            }
        }
        out
    }
    /// Put a TM on a tetrahedral site, keeping the list sorted (crate-internal: the engine
    /// that moves it keeps the face-sharing octahedra empty).
    pub(crate) fn insert_tetrahedral(&mut self, t: TetrahedralTm) {
        let at = self.tetrahedral.partition_point(|x| x.tetrahedron < t.tetrahedron);
        self.tetrahedral.insert(at, t);
    }
    /// Take the TM off tetrahedron `t` (crate-internal).
    pub(crate) fn remove_tetrahedral(&mut self, t: u32) -> Option<TetrahedralTm> {
        let at = self.tetrahedral.binary_search_by_key(&t, |x| x.tetrahedron).ok()?;
        Some(self.tetrahedral.remove(at))
    }
    /// The TM on tetrahedron `t`, if any.
    pub fn tetrahedral_at(&self, t: u32) -> Option<&TetrahedralTm> {
        if self.tetrahedral.is_empty() {
            return None;
        }
        self.tetrahedral.binary_search_by_key(&t, |x| x.tetrahedron).ok().map(|k| &self.tetrahedral[k])
    }
    /// Set the valence of the TM on tetrahedron `t` (crate-internal, as `set_code`).
    pub(crate) fn set_tetrahedral_valence(&mut self, t: u32, v: i8) {
        if let Ok(k) = self.tetrahedral.binary_search_by_key(&t, |x| x.tetrahedron) {
            self.tetrahedral[k].valence = v;
        }
    }
    /// The same configuration without its tetrahedral TMs (crate-internal: callers mark what
    /// they block themselves).
    pub(crate) fn clear_tetrahedral(&mut self) {
        self.tetrahedral.clear();
    }
    /// Site-resolved TM oxidation states (see `with_valences`); empty if not tracked.
    pub fn valences(&self) -> &[i8] {
        &self.valences
    }
    /// Set the species at grid index `g` (crate-internal: engines that move TMs or anions keep
    /// the grid consistent themselves).
    pub(crate) fn set_code(&mut self, g: usize, code: u8) {
        self.grid[g] = code;
    }
    /// Set the valence of cation `c` (crate-internal, as `set_code`).
    pub(crate) fn set_valence_slot(&mut self, c: usize, v: i8) {
        if self.valences.is_empty() {
            self.valences = vec![0; self.lattice.n_cations()];
        }
        self.valences[c] = v;
    }
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }
    pub fn grid(&self) -> &[u8] {
        &self.grid
    }
    pub fn tm_names(&self) -> &[String] {
        &self.tm_names
    }
    /// Cation codes in cation-index order.
    pub fn cations(&self) -> Vec<u8> {
        (0..self.lattice.n_cations()).map(|c| self.grid[self.lattice.cation_grid_index(c)]).collect()
    }
    /// Anion codes in anion-index order.
    pub fn anions(&self) -> Vec<u8> {
        (0..self.lattice.n_anions()).map(|c| self.grid[self.lattice.anion_grid_index(c)]).collect()
    }
    /// Channel count of every tetrahedron shared by a nearest-neighbour pair of Li:
    /// `[0-TM, 1-TM, 2-TM]`, each unordered pair counted once with its two tetrahedra.
    pub fn li_pair_channel_counts(&self) -> [u64; 3] {
        let mut counts = [0u64; 3];
        for c in 0..self.lattice.n_cations() {
            let g = self.lattice.cation_grid_index(c);
            if self.grid[g] != species::LI {
                continue;
            }
            let blk = self.lattice.block(self.lattice.grid_coords(g));
            for path in PATHS.iter() {
                let b = offset_index(&blk, path.target);
                // Count each unordered pair from its lower-index end only.
                if b <= g || self.grid[b] != species::LI {
                    continue;
                }
                let n_tm =
                    path.spectators.iter().filter(|&&o| species::is_tm(self.grid[offset_index(&blk, o)])).count();
                counts[n_tm] += 1;
            }
        }
        counts
    }

    /// Number of Li on cation sites.
    pub fn n_li(&self) -> usize {
        (0..self.lattice.n_cations()).filter(|&c| self.grid[self.lattice.cation_grid_index(c)] == species::LI).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Geometry;

    #[test]
    fn random_placement_keeps_counts_and_is_seeded() {
        let l = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let names = vec!["Mn".to_string(), "Ti".to_string()];
        let c = Configuration::random(l, 50, &[20, 10], names.clone(), 7, 3, 42).unwrap();
        let cat = c.cations();
        assert_eq!(cat.iter().filter(|&&s| s == species::LI).count(), 50);
        assert_eq!(cat.iter().filter(|&&s| s == species::FIRST_TM).count(), 20);
        assert_eq!(cat.iter().filter(|&&s| s == species::FIRST_TM + 1).count(), 10);
        let an = c.anions();
        assert_eq!(an.iter().filter(|&&s| s == species::F).count(), 7);
        assert_eq!(an.iter().filter(|&&s| s == species::CL).count(), 3);
        assert_eq!(c, Configuration::random(l, 50, &[20, 10], names.clone(), 7, 3, 42).unwrap());
        assert_ne!(c, Configuration::random(l, 50, &[20, 10], names, 7, 3, 43).unwrap());
    }

    #[test]
    fn round_trip_through_species_arrays() {
        let l = Lattice::new([2, 2, 3], 4.15, Geometry::Bulk).unwrap();
        let c = Configuration::random(l, 10, &[5], vec!["Mn".into()], 4, 0, 1).unwrap();
        let back = Configuration::from_species(l, &c.cations(), &c.anions(), c.tm_names().to_vec()).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn tetrahedral_tms_need_empty_face_sharing_octahedra() {
        let l = Lattice::new([2, 2, 3], 4.15, Geometry::Slab).unwrap();
        let empty =
            Configuration::from_species(l, &vec![0; l.n_cations()], &vec![0; l.n_anions()], vec!["Mn".into()]).unwrap();
        let t = TetrahedralTm { tetrahedron: 0, code: species::FIRST_TM, valence: 2 };
        let c = empty.clone().with_tetrahedral(vec![t]).unwrap();
        assert_eq!(c.tetrahedral(), &[t]);
        // Every vertex is a cation site, four distinct ones.
        let v = c.tetrahedron_vertices(0);
        assert!(v.iter().all(|&g| Lattice::is_cation(l.grid_coords(g))));
        assert_eq!(v.iter().collect::<std::collections::BTreeSet<_>>().len(), 4);
        assert_eq!(c.require_octahedral("the Li kMC").unwrap_err().field(), "config");
        // Occupied vertex, duplicate, unknown code, bad valence, across the surface.
        let mut cat = vec![0; l.n_cations()];
        cat[Lattice::sublattice_index(v[0])] = species::LI;
        let occupied = Configuration::from_species(l, &cat, &vec![0; l.n_anions()], vec!["Mn".into()]).unwrap();
        for (cfg, tms) in [
            (occupied, vec![t]),
            (empty.clone(), vec![t, t]),
            (empty.clone(), vec![TetrahedralTm { code: species::FIRST_TM + 1, ..t }]),
            (empty.clone(), vec![TetrahedralTm { valence: 0, ..t }]),
            (empty.clone(), vec![TetrahedralTm { tetrahedron: (l.n_grid() - 1) as u32, ..t }]),
        ] {
            assert_eq!(cfg.with_tetrahedral(tms).unwrap_err().field(), "tetrahedral");
        }
    }

    #[test]
    fn bad_arrays_name_their_field() {
        let l = Lattice::new([2, 2, 2], 4.15, Geometry::Bulk).unwrap();
        let n = l.n_cations();
        let e = Configuration::from_species(l, &vec![0; n - 1], &vec![0; n], vec![]).unwrap_err();
        assert_eq!(e.field(), "cations");
        let e = Configuration::from_species(l, &vec![2; n], &vec![0; n], vec![]).unwrap_err();
        assert_eq!(e.field(), "cations");
        let e = Configuration::from_species(l, &vec![0; n], &vec![4; n], vec![]).unwrap_err();
        assert_eq!(e.field(), "anions");
        let e = Configuration::random(l, n, &[1], vec!["Mn".into()], 0, 0, 0).unwrap_err();
        assert_eq!(e.field(), "li_content");
    }
}
