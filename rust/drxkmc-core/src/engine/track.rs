//! Bookkeeping a run does only when asked, kept out of the per-site records so that it costs
//! one predictable branch per hop when off: an id for every Li that moves with it (for
//! trajectories), trajectory frames taken at fixed simulated times, hop counts by
//! tetrahedron class (which channels carry the hops) and the net hops across every
//! nearest-neighbour bond (which paths carry the flux).

use super::site::Hood;
use super::Kmc;
use crate::config::species;
use crate::error::{Error, Result};
use crate::lattice::{offset_index, padded, Lattice, NN_DIRECTIONS};
use crate::memory;
use crate::model::{KraTable, N_CLASSES};

/// Id of a cation site that holds no Li.
pub const NO_LI: u32 = u32::MAX;

/// Each Li's id, by index pair of the site order (`NO_LI` where there is none), and where each
/// id's unwrapped position is measured from.
pub(super) struct LiIds {
    pub(super) by_pair: Vec<u32>,
    /// Unwrapped position of Li `id` minus its current displacement (`Kmc::disp`), in a/2:
    /// where it was at the last displacement reset, or when ids were given. Unwrapped
    /// position = origin + displacement, exactly, in integers.
    pub(super) origin: Vec<[i64; 3]>,
}

/// Li ids in a checkpoint: by cation index (`NO_LI` where there is no Li), and each id's
/// origin (see `Kmc::li_positions`), a/2.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiIdState {
    pub ids: Vec<u32>,
    pub origin: Vec<[i64; 3]>,
}

/// `count` trajectory frames at `time_s`, `time_s + every_s`, …, all of one state (no hop
/// happened between them): the unwrapped position of every Li by id, in a/2.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub time_s: f64,
    pub count: u64,
    pub hops: u64,
    pub positions: Vec<[i64; 3]>,
}

/// Frames due at `next_s`, `next_s + every_s`, …, buffered until `take_frames`.
pub(super) struct FrameSchedule {
    next_s: f64,
    /// Frames taken so far, so that frame k is at start + k·every_s without accumulated
    /// rounding.
    start_s: f64,
    taken: u64,
    every_s: f64,
    /// `run` returns (`Stop::Frames`) before a step once this many frames are buffered.
    capacity: usize,
    frames: Vec<Frame>,
}

impl FrameSchedule {
    pub(super) fn is_full(&self) -> bool {
        self.frames.len() >= self.capacity
    }
}

impl Kmc {
    /// Give every Li an id (0, 1, … in cation-index order) that moves with it from now on;
    /// does nothing if they have ids already. Costs 4 bytes per site and 24 per Li.
    pub fn enable_li_ids(&mut self) -> Result<()> {
        if self.li_ids.is_some() {
            return Ok(());
        }
        let mut by_pair = memory::try_filled(self.sites.len(), NO_LI, "size")?;
        let mut origin = Vec::new();
        for p in self.lattice.cation_points() {
            let c = self.order.index(padded(p)) >> 1;
            if self.sites[c].cation == species::LI {
                by_pair[c] = origin.len() as u32;
                let r = self.disp[c].unpack();
                origin.push([0, 1, 2].map(|k| p[k] as i64 - r[k] as i64));
            }
        }
        origin.shrink_to_fit();
        self.li_ids = Some(Box::new(LiIds { by_pair, origin }));
        self.tracks_hops = true;
        Ok(())
    }

    /// Whether Li carry ids (`enable_li_ids`).
    pub fn li_ids_enabled(&self) -> bool {
        self.li_ids.is_some()
    }

    /// The id of the Li on every cation site (`NO_LI` where none), in cation-index order;
    /// None when ids are off.
    pub fn li_ids(&self) -> Option<Vec<u32>> {
        let ids = self.li_ids.as_deref()?;
        Some(self.cation_pairs().map(|c| ids.by_pair[c]).collect())
    }

    /// Unwrapped position of every Li by id, in a/2 (multiply by a/2 for Å); None when ids
    /// are off. Its change over any interval equals the change of the Li's displacement
    /// (`displacements`) exactly.
    pub fn li_positions(&self) -> Option<Vec<[i64; 3]>> {
        let ids = self.li_ids.as_deref()?;
        let mut out = ids.origin.clone();
        for c in self.cation_pairs() {
            let id = ids.by_pair[c];
            if id != NO_LI {
                let r = self.disp[c].unpack();
                let o = &mut out[id as usize];
                *o = [0, 1, 2].map(|k| o[k] + r[k] as i64);
            }
        }
        Some(out)
    }

    /// Before the displacements are zeroed: move them into the origins, so that unwrapped
    /// positions do not change.
    pub(super) fn fold_displacements_into_origins(&mut self) {
        if let Some(ids) = self.li_ids.as_deref_mut() {
            for (c, &id) in ids.by_pair.iter().enumerate() {
                if id != NO_LI {
                    let r = self.disp[c].unpack();
                    let o = &mut ids.origin[id as usize];
                    *o = [0, 1, 2].map(|k| o[k] + r[k] as i64);
                }
            }
        }
    }

    /// Take a trajectory frame at `start_s`, `start_s + every_s`, … (s) while the engine runs
    /// (turning Li ids on). `run` returns with `Stop::Frames` before a step once
    /// `capacity` frames wait to be taken (`take_frames`), so memory stays bounded;
    /// returning there is exact (no random number is drawn or discarded), so a run with
    /// frames makes the same hops as one without.
    pub fn set_frames(&mut self, start_s: f64, every_s: f64, capacity: usize) -> Result<()> {
        if !(every_s > 0.0 && every_s.is_finite()) {
            return Err(Error::invalid("every_s", format!("must be a positive number of seconds, got {every_s}")));
        }
        if !start_s.is_finite() {
            return Err(Error::invalid("start_s", format!("must be finite, got {start_s}")));
        }
        self.enable_li_ids()?;
        self.frames = Some(Box::new(FrameSchedule {
            next_s: start_s,
            start_s,
            taken: 0,
            every_s,
            capacity: capacity.max(1),
            frames: Vec::new(),
        }));
        Ok(())
    }

    /// Stop taking frames (buffered ones are dropped; Li keep their ids).
    pub fn clear_frames(&mut self) {
        self.frames = None;
    }

    /// The frames buffered since the last call.
    pub fn take_frames(&mut self) -> Vec<Frame> {
        self.frames.as_deref_mut().map(|f| std::mem::take(&mut f.frames)).unwrap_or_default()
    }

    /// Record the frames due in [now, `until`) and at most `t_end_s` (the state holds there).
    pub(super) fn record_frames(&mut self, until: f64, t_end_s: f64) {
        let Some(f) = self.frames.as_deref() else { return };
        let (first, every) = (f.next_s, f.every_s);
        if !(first < until && first <= t_end_s) {
            return;
        }
        // Frames k = taken, taken + 1, … with start + k·every in the window.
        let last = until.min(t_end_s);
        if !last.is_finite() {
            return; // no hop will ever happen and no end: nothing to sample up to
        }
        // Frames k = taken, taken + 1, … at start + k·every: count those in the window, from
        // an estimate corrected by a step or two (a window may span many frames).
        let ok = |k: u64| {
            let t = f.start_s + k as f64 * every;
            t < until && t <= t_end_s
        };
        let estimate = ((last - f.start_s) / every).floor();
        let mut end = if estimate >= 0.0 { (estimate as u64).saturating_add(1) } else { 0 }.max(f.taken + 1);
        while ok(end) {
            end += 1;
        }
        while end > f.taken + 1 && !ok(end - 1) {
            end -= 1;
        }
        let count = end - f.taken;
        let positions = self.li_positions().unwrap_or_default();
        let hops = self.hops;
        let f = self.frames.as_deref_mut().expect("checked above");
        f.frames.push(Frame { time_s: first, count, hops, positions });
        f.taken += count;
        f.next_s = f.start_s + f.taken as f64 * every;
    }

    /// Count the hops of every tetrahedron class from now on (`channel_hops`).
    pub fn enable_channel_counts(&mut self) {
        if self.class_hops.is_none() {
            self.class_hops = Some(Box::new([0; 256]));
        }
        self.tracks_hops = true;
    }

    /// Count the net hops across every nearest-neighbour bond from now on (`bond_flux`):
    /// 24 bytes per site.
    pub fn enable_bond_flux(&mut self) -> Result<()> {
        if self.bond_flux.is_none() {
            self.bond_flux = Some(memory::try_filled(self.sites.len(), [0i32; 6], "size")?);
        }
        self.tracks_hops = true;
        Ok(())
    }

    /// Net hops across every bond that carried any since `enable_bond_flux`, as (from, to,
    /// hops from → to minus to → from) with cation indices, each bond once (pointing from
    /// the site along an even direction of `NN_DIRECTIONS`); None when not counted.
    pub fn bond_flux(&self) -> Option<Vec<(usize, usize, i32)>> {
        let flux = self.bond_flux.as_ref()?;
        let mut out = Vec::new();
        for (from, p) in self.lattice.cation_points().enumerate() {
            let counts = flux[self.order.index(padded(p)) >> 1];
            if counts == [0; 6] {
                continue;
            }
            let blk = self.lattice.block(p);
            for (k, &net) in counts.iter().enumerate() {
                if net != 0 {
                    let to = Lattice::sublattice_index(offset_index(&blk, NN_DIRECTIONS[2 * k]));
                    out.push((from, to, net));
                }
            }
        }
        Some(out)
    }

    /// The bond counts in cation-index order, for a checkpoint.
    pub(super) fn bond_flux_state(&self) -> Option<Vec<[i32; 6]>> {
        let flux = self.bond_flux.as_ref()?;
        Some(self.cation_pairs().map(|c| flux[c]).collect())
    }

    /// Hops made through each tetrahedron class since `enable_channel_counts`, by class
    /// (`KraTable::class`; `N_CLASSES` entries); None when not counted.
    pub fn class_hops(&self) -> Option<Vec<u64>> {
        self.class_hops.as_deref().map(|h| h[..N_CLASSES].to_vec())
    }

    /// TM count and anion corners (species codes, sorted) of each tetrahedron class.
    pub fn class_descriptions(&self) -> Vec<(usize, [u8; 4])> {
        (0..N_CLASSES as u8).map(|c| (KraTable::n_tm(c), self.table.corners(c))).collect()
    }

    /// After the Li on index pair `a` hopped to pair `b` through path `path` of the
    /// neighbourhood `hood` (of `a`): move its id, count its tetrahedron class and the net
    /// flux across its bond.
    #[inline(never)]
    pub(super) fn track_hop(&mut self, hood: &Hood, path: usize, a: usize, b: usize) {
        if let Some(flux) = self.bond_flux.as_mut() {
            // Each bond is counted at the site from which it points along an even direction
            // (the odd ones are their opposites, `opposite(d) = d ^ 1`).
            let dir = path / 2;
            if dir % 2 == 0 {
                flux[a][dir / 2] = flux[a][dir / 2].saturating_add(1);
            } else {
                flux[b][dir / 2] = flux[b][dir / 2].saturating_sub(1);
            }
        }
        if let Some(ids) = self.li_ids.as_deref_mut() {
            ids.by_pair[b] = ids.by_pair[a];
            ids.by_pair[a] = NO_LI;
        }
        if let Some(h) = self.class_hops.as_deref_mut() {
            let cube = hood.cube(path);
            h[self.sites[cube >> 1].cubes[cube & 1] as usize] += 1;
        }
    }

    /// The tracked state for a checkpoint.
    pub(super) fn li_id_state(&self) -> Option<LiIdState> {
        let ids = self.li_ids.as_deref()?;
        Some(LiIdState { ids: self.li_ids()?, origin: ids.origin.clone() })
    }

    /// Restore ids and class counts from a checkpoint (validated by `checkpoint::validate`).
    pub(super) fn restore_tracking(
        &mut self,
        ids: Option<&LiIdState>,
        class_hops: Option<&[u64]>,
        bond_flux: Option<&[[i32; 6]]>,
    ) -> Result<()> {
        if let Some(state) = ids {
            let mut by_pair = memory::try_filled(self.sites.len(), NO_LI, "size")?;
            for (p, &id) in self.lattice.cation_points().zip(&state.ids) {
                by_pair[self.order.index(padded(p)) >> 1] = id;
            }
            self.li_ids = Some(Box::new(LiIds { by_pair, origin: state.origin.clone() }));
            self.tracks_hops = true;
        }
        if let Some(counts) = class_hops {
            let mut h = Box::new([0u64; 256]);
            h[..counts.len()].copy_from_slice(counts);
            self.class_hops = Some(h);
            self.tracks_hops = true;
        }
        if let Some(counts) = bond_flux {
            let mut flux = memory::try_filled(self.sites.len(), [0i32; 6], "size")?;
            for (p, c) in self.lattice.cation_points().zip(counts) {
                flux[self.order.index(padded(p)) >> 1] = *c;
            }
            self.bond_flux = Some(flux);
            self.tracks_hops = true;
        }
        Ok(())
    }
}
