//! Checkpoint files: the exact state of a run (`Checkpoint`), framed so that a damaged or
//! foreign file is refused instead of resuming a different run.
//!
//! Layout (integers little-endian):
//!
//! | bytes   | content                                                          |
//! |---------|------------------------------------------------------------------|
//! | 8       | magic `\x89DRXKMC\n` (the high byte and newline catch text-mode or 7-bit copies, as in PNG) |
//! | 4       | format version: 1, or 2 when the run tracks Li ids or hop counts |
//! | 8       | payload length n                                                 |
//! | n       | payload: MessagePack of `{run, material}` with field names       |
//! | 4       | CRC-32 (IEEE) of everything before it                           |
//!
//! The file must end exactly after the checksum. The CRC detects every error burst of up to
//! 32 bits and any other corruption with probability 1 − 2⁻³²; after it, `validate` checks
//! every field on its own (species codes, lengths, finite times, displacements, generator
//! state) so that even a well-formed file written by something else cannot resume an
//! impossible state. Every error names the field `checkpoint`.

use crate::composition::{cation_symbols, Composition};
use crate::config::{species, Configuration};
use crate::engine::{LiIdState, NO_LI};
use crate::error::{Error, Result};
use crate::lattice::{Geometry, Lattice};
use crate::model::{BarrierModel, N_CLASSES};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// The field every checkpoint error names.
pub const FIELD: &str = "checkpoint";

/// First bytes of every checkpoint file.
pub const MAGIC: [u8; 8] = *b"\x89DRXKMC\n";

/// Newest version of the layout and payload schema this build writes and reads. Version 2
/// adds the optional `li_ids`, `class_hops` and `bond_flux` of a run that tracks them; a run that does
/// not is written as version 1, which drxkmc builds before version 2 read too.
pub const FORMAT_VERSION: u32 = 2;
/// The version written when none of them is present.
const PLAIN_VERSION: u32 = 1;

const HEADER_LEN: usize = MAGIC.len() + 4 + 8;
const CHECKSUM_LEN: usize = 4;

/// Displacements are stored exactly up to this many a/2 steps per component (the engine packs
/// three signed 21-bit digits).
pub const MAX_DISPLACEMENT: i32 = (1 << 20) - 1;

/// The exact, resumable state of a run (everything but what is derived from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: Configuration,
    pub model: BarrierModel,
    pub temperature_k: f64,
    /// Li displacements in cation-index order, units of a/2 (zero where there is no Li).
    pub disp: Vec<[i32; 3]>,
    pub rng: Xoshiro256PlusPlus,
    pub time_s: f64,
    pub hops: u64,
    /// The inner nodes of the sum tree (over the engine's site order), kept so a resumed run
    /// is bit-identical.
    pub tree_inner: Vec<Vec<f64>>,
    /// The unit of the stored escape rates, s⁻¹ (a power of two).
    pub rate_unit: f64,
    /// The tree total at the last exact recomputation of the inner sums.
    pub tree_rebuilt_total: f64,
    /// The acceleration's cap on the equilibrium flux of a path, s⁻¹ (∞: plain kMC), and the
    /// Li chemical potential of its occupancies, eV.
    pub rate_cap_per_s: f64,
    pub rate_cap_mu_ev: f64,
    /// Li ids and origins (`Kmc::enable_li_ids`), when the run tracks them (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub li_ids: Option<LiIdState>,
    /// Hops by tetrahedron class (`Kmc::enable_channel_counts`), when counted (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_hops: Option<Vec<u64>>,
    /// Net hops across the bonds of every cation site along its six even directions
    /// (`Kmc::enable_bond_flux`), in cation-index order, when counted (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_flux: Option<Vec<[i32; 6]>>,
}

impl Checkpoint {
    /// The format version of this checkpoint's file.
    fn version(&self) -> u32 {
        if self.li_ids.is_some() || self.class_hops.is_some() || self.bond_flux.is_some() {
            FORMAT_VERSION
        } else {
            PLAIN_VERSION
        }
    }
}

/// What a checkpoint file holds: the run and, optionally, the material it simulates (so that
/// capacities and formula units survive a restart).
#[derive(Serialize)]
struct PayloadRef<'a> {
    run: &'a Checkpoint,
    material: Option<&'a Composition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    run: Checkpoint,
    material: Option<Composition>,
}

pub(crate) fn bad(reason: impl Into<String>) -> Error {
    Error::invalid(FIELD, reason)
}

/// An error about one part of a checkpoint, reported under the field `checkpoint` with the
/// part's own name kept in the message.
pub fn in_checkpoint(err: Error) -> Error {
    if err.field() == FIELD {
        err
    } else {
        bad(err.to_string())
    }
}

/// The checkpoint file of `run` (and its material, if known).
pub fn encode(run: &Checkpoint, material: Option<&Composition>) -> Result<Vec<u8>> {
    let payload = rmp_serde::to_vec_named(&PayloadRef { run, material })
        .map_err(|e| bad(format!("could not be encoded: {e}")))?;
    Ok(frame(&payload, run.version()))
}

/// Header (with format `version`), `payload` and checksum: the file layout above (shared by
/// every kind of drxkmc checkpoint; the payload says which kind it is).
pub fn frame(payload: &[u8], version: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The format version and payload of a checkpoint file, after checking its header, length
/// and checksum.
pub fn unframe(data: &[u8]) -> Result<(u32, &[u8])> {
    if data.len() < MAGIC.len() || data[..MAGIC.len()] != MAGIC {
        return Err(bad("is not a drxkmc checkpoint (the file does not start with the drxkmc checkpoint header; \
             files written before drxkmc's checkpoint format 1 cannot be read)"));
    }
    if data.len() < HEADER_LEN {
        return Err(bad(format!("is truncated: {} bytes, shorter than the {HEADER_LEN}-byte header", data.len())));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if !(PLAIN_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(bad(format!(
            "has format version {version}, but this drxkmc reads versions {PLAIN_VERSION} to {FORMAT_VERSION}; \
             load it with the drxkmc version that wrote it"
        )));
    }
    let len = u64::from_le_bytes(data[12..20].try_into().expect("8 bytes"));
    let expected = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(HEADER_LEN + CHECKSUM_LEN))
        .ok_or_else(|| bad(format!("declares an impossible payload of {len} bytes")))?;
    if data.len() < expected {
        return Err(bad(format!("is truncated: {} bytes of the {expected} its header declares", data.len())));
    }
    if data.len() > expected {
        return Err(bad(format!(
            "has {} unexpected bytes after its end (the header declares {expected} bytes)",
            data.len() - expected
        )));
    }
    let body = expected - CHECKSUM_LEN;
    let stored = u32::from_le_bytes(data[body..].try_into().expect("4 bytes"));
    if crc32fast::hash(&data[..body]) != stored {
        return Err(bad("is corrupted: its checksum does not match its content"));
    }
    Ok((version, &data[HEADER_LEN..body]))
}

/// Read a checkpoint file: check its frame and checksum, decode it, and validate every field
/// of the run (`validate`) and the material. The engine still checks what only it can (the
/// rate tree against the state) in `Kmc::from_checkpoint`.
pub fn decode(data: &[u8]) -> Result<(Checkpoint, Option<Composition>)> {
    let (version, mut rest) = unframe(data)?;
    let payload = {
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        Payload::deserialize(&mut de).map_err(|e| bad(format!("has an invalid payload: {e}")))?
    };
    if !rest.is_empty() {
        return Err(bad(format!("has {} stray bytes after its payload", rest.len())));
    }
    if payload.run.version() != version {
        return Err(bad(format!("has format version {version} but a payload of version {}", payload.run.version())));
    }
    validate(&payload.run)?;
    Ok((payload.run, payload.material))
}

/// Check every field of a checkpoint that can be checked without building an engine.
pub fn validate(cp: &Checkpoint) -> Result<()> {
    let lattice = *cp.config.lattice();
    // Deserialising bypasses the constructors: re-run them.
    let checked = Lattice::new(lattice.size(), lattice.a(), lattice.geometry()).map_err(in_checkpoint)?;
    if checked != lattice {
        return Err(bad("lattice is not valid"));
    }
    if cp.config.grid().len() != lattice.n_grid() {
        return Err(bad(format!(
            "configuration has {} sites but its lattice has {}",
            cp.config.grid().len(),
            lattice.n_grid()
        )));
    }
    let names = cp.config.tm_names();
    let known = cation_symbols();
    for (k, name) in names.iter().enumerate() {
        if name == "Li" || !known.contains(&name.as_str()) {
            return Err(bad(format!("transition metal {k} is {name:?}, not a supported metal")));
        }
        if names[..k].contains(name) {
            return Err(bad(format!("transition metal {name:?} is listed twice")));
        }
    }
    let cations = cp.config.cations();
    let rebuilt = Configuration::from_species(lattice, &cations, &cp.config.anions(), names.to_vec())
        .and_then(|c| c.with_valences(cp.config.valences().to_vec()))
        .map_err(in_checkpoint)?;
    if rebuilt != cp.config {
        return Err(bad("configuration is not valid"));
    }
    cp.model.validate().map_err(in_checkpoint)?;
    crate::error::require_positive("temperature_K", cp.temperature_k).map_err(in_checkpoint)?;
    crate::error::require_non_negative("time_s", cp.time_s).map_err(in_checkpoint)?;
    validate_displacements(cp, &cations, &lattice)?;
    if let Some(ids) = &cp.li_ids {
        validate_li_ids(cp, ids, &cations)?;
    }
    if let Some(counts) = &cp.class_hops {
        if counts.len() != N_CLASSES {
            return Err(bad(format!("has {} channel hop counts for {N_CLASSES} classes", counts.len())));
        }
        if counts.iter().try_fold(0u64, |s, &c| s.checked_add(c)).is_none_or(|s| s > cp.hops) {
            return Err(bad(format!("channel hop counts add up to more than the {} hops made", cp.hops)));
        }
    }
    if let Some(flux) = &cp.bond_flux {
        if flux.len() != cations.len() {
            return Err(bad(format!("has {} bond fluxes for {} cation sites", flux.len(), cations.len())));
        }
        let total: u128 = flux.iter().flatten().map(|x| x.unsigned_abs() as u128).sum();
        if total > cp.hops as u128 {
            return Err(bad(format!("bond fluxes need more than the {} hops made", cp.hops)));
        }
    }
    let mut rng = cp.rng.clone();
    if (0..4).all(|_| rng.next_u64() == 0) {
        // All-zero is the one state xoshiro never leaves: it would draw 0 forever.
        return Err(bad("random generator state is all zero"));
    }
    if !(cp.rate_cap_per_s > 0.0) || (cp.rate_cap_per_s.is_finite() && !cp.rate_cap_mu_ev.is_finite()) {
        return Err(bad(format!(
            "rate cap must be > 0 s⁻¹ (inf: off) with a finite mu, got {} and {}",
            cp.rate_cap_per_s, cp.rate_cap_mu_ev
        )));
    }
    if !(cp.rate_unit > 0.0 && cp.rate_unit.is_finite() && cp.rate_unit.log2().fract() == 0.0) {
        return Err(bad(format!("rate unit must be a positive power of two, got {}", cp.rate_unit)));
    }
    if !(cp.tree_rebuilt_total >= 0.0 && cp.tree_rebuilt_total.is_finite()) {
        return Err(bad(format!("tree total must be finite and >= 0, got {}", cp.tree_rebuilt_total)));
    }
    Ok(())
}

/// Displacements: one per cation site, zero where there is no Li, within the packed range,
/// on the lattice (each hop changes x+y+z by an even number), in a slab from a start inside
/// it (no hop crosses a surface), and no more in total than the hops made since the start can
/// produce (each hop moves one Li by 2 in the 1-norm).
fn validate_displacements(cp: &Checkpoint, cations: &[u8], lattice: &Lattice) -> Result<()> {
    if cp.disp.len() != cations.len() {
        return Err(bad(format!("has {} displacements for {} cation sites", cp.disp.len(), cations.len())));
    }
    let mut travelled: u128 = 0;
    for (i, (r, &code)) in cp.disp.iter().zip(cations).enumerate() {
        if code != species::LI {
            if *r != [0; 3] {
                return Err(bad(format!("site {i} holds no Li but has displacement {r:?}")));
            }
            continue;
        }
        if r.iter().any(|x| x.unsigned_abs() > MAX_DISPLACEMENT as u32) {
            return Err(bad(format!("displacement {r:?} of site {i} is out of range")));
        }
        if (r[0] + r[1] + r[2]) % 2 != 0 {
            return Err(bad(format!("displacement {r:?} of site {i} is not a sum of hops")));
        }
        let z = lattice.grid_coords(lattice.cation_grid_index(i))[2] as i64;
        let nz = lattice.dims()[2] as i64;
        if lattice.geometry() == Geometry::Slab && !(0..nz).contains(&(z - r[2] as i64)) {
            return Err(bad(format!("displacement {r:?} of site {i} starts outside the slab")));
        }
        travelled += r.iter().map(|x| x.unsigned_abs() as u128).sum::<u128>();
    }
    if travelled > 2 * cp.hops as u128 {
        return Err(bad(format!("displacements need more than the {} hops made", cp.hops)));
    }
    Ok(())
}

/// Li ids: one per cation site, `NO_LI` exactly where there is no Li, the Li's ids 0..n_Li
/// each once, one origin per id, and each Li's unwrapped position (origin + displacement)
/// on its own site modulo the box.
fn validate_li_ids(cp: &Checkpoint, ids: &LiIdState, cations: &[u8]) -> Result<()> {
    if ids.ids.len() != cations.len() {
        return Err(bad(format!("has {} Li ids for {} cation sites", ids.ids.len(), cations.len())));
    }
    let n_li = cations.iter().filter(|&&c| c == species::LI).count();
    if ids.origin.len() != n_li {
        return Err(bad(format!("has {} Li origins for {n_li} Li", ids.origin.len())));
    }
    let mut seen = vec![false; n_li];
    let dims = cp.config.lattice().dims();
    // Far beyond any run (2^40 a/2 ≈ 200 km) and far from i64 overflow.
    const LIMIT: u64 = 1 << 40;
    for (i, ((&id, &code), p)) in ids.ids.iter().zip(cations).zip(cp.config.lattice().cation_points()).enumerate() {
        if code != species::LI {
            if id != NO_LI {
                return Err(bad(format!("site {i} holds no Li but has Li id {id}")));
            }
            continue;
        }
        let k = id as usize;
        if k >= n_li || seen[k] {
            return Err(bad(format!("Li id {id} of site {i} is out of range or repeated")));
        }
        seen[k] = true;
        let o = ids.origin[k];
        if o.iter().any(|x| x.unsigned_abs() > LIMIT) {
            return Err(bad(format!("origin {o:?} of Li id {id} is out of range")));
        }
        let r = cp.disp[i];
        for axis in 0..3 {
            if (o[axis] + r[axis] as i64).rem_euclid(dims[axis] as i64) != p[axis] as i64 {
                return Err(bad(format!("Li id {id} has an unwrapped position off its site {i}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Kmc;
    use rand::{RngExt, SeedableRng};

    /// A run of a small DRX cell after some hops, its checkpoint and material.
    fn sample() -> (Kmc, Checkpoint, Composition) {
        let lat = Lattice::new([3, 3, 3], 4.15, Geometry::Bulk).unwrap();
        let cfg = Configuration::random(lat, 40, &[20, 20], vec!["Mn".into(), "Ti".into()], 10, 0, 2).unwrap();
        let mut k = Kmc::new(&cfg, &BarrierModel::default(), 500.0, 3).unwrap();
        k.run(f64::INFINITY, 300, &[]).unwrap();
        let cp = k.checkpoint();
        (k, cp, Composition::parse("Li1.2Mn0.4Ti0.4O2", &[]).unwrap())
    }

    fn assert_rejected(data: &[u8]) -> Error {
        let err = match decode(data) {
            Ok((cp, _)) => Kmc::from_checkpoint(cp).err().expect("a damaged checkpoint loaded"),
            Err(e) => e,
        };
        assert_eq!(err.field(), FIELD, "{err}");
        err
    }

    #[test]
    fn round_trip_keeps_state_and_material() {
        let (k, cp, mat) = sample();
        let bytes = encode(&cp, Some(&mat)).unwrap();
        assert_eq!(bytes[..8], MAGIC);
        let (back, material) = decode(&bytes).unwrap();
        assert_eq!(material, Some(mat));
        let resumed = Kmc::from_checkpoint(back).unwrap();
        assert_eq!(resumed.cations(), k.cations());
        assert_eq!(resumed.displacements(), k.displacements());
        assert_eq!((resumed.time_s(), resumed.hops()), (k.time_s(), k.hops()));
        let (_, none) = decode(&encode(&cp, None).unwrap()).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn every_single_bit_flip_truncation_and_extension_is_rejected() {
        let (_, cp, mat) = sample();
        let bytes = encode(&cp, Some(&mat)).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        // Every bit of the header and trailer, and 2000 random bits of the payload.
        let edges = (0..HEADER_LEN * 8).chain((bytes.len() - CHECKSUM_LEN) * 8..bytes.len() * 8);
        let random = (0..2000).map(|_| rng.random_range(0..bytes.len() * 8));
        for bit in edges.chain(random) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_rejected(&bad);
        }
        for cut in [0, 1, 7, 8, 19, 20, bytes.len() / 2, bytes.len() - 4, bytes.len() - 1] {
            assert_rejected(&bytes[..cut]);
        }
        for junk in [&b"\0"[..], b"junk", &bytes[..]] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(junk);
            let err = assert_rejected(&longer);
            assert!(err.to_string().contains("after its end"), "{err}");
        }
    }

    #[test]
    fn other_versions_and_foreign_files_are_named() {
        let (_, cp, _) = sample();
        let mut bytes = encode(&cp, None).unwrap();
        bytes[8] = 3;
        assert!(assert_rejected(&bytes).to_string().contains("format version 3"));
        // The unframed MessagePack of the first releases.
        let old = rmp_serde::to_vec(&cp).unwrap();
        assert!(assert_rejected(&old).to_string().contains("header"));
    }

    /// A checkpoint changed by `edit`, framed with a correct checksum: only validation can
    /// catch it.
    fn reframed(edit: impl FnOnce(&mut Checkpoint)) -> Vec<u8> {
        let (_, mut cp, _) = sample();
        edit(&mut cp);
        encode(&cp, None).unwrap()
    }

    #[test]
    fn well_framed_but_impossible_states_are_rejected() {
        let lat = |size: [usize; 3]| Lattice::new(size, 4.15, Geometry::Bulk).unwrap();
        type Edit<'a> = Box<dyn FnOnce(&mut Checkpoint) + 'a>;
        let edits: Vec<(&str, Edit<'_>)> = vec![
            ("time_s", Box::new(|c| c.time_s = f64::NAN)),
            ("time_s", Box::new(|c| c.time_s = -1.0)),
            ("time_s", Box::new(|c| c.time_s = f64::INFINITY)),
            ("temperature_K", Box::new(|c| c.temperature_k = 0.0)),
            ("temperature_K", Box::new(|c| c.temperature_k = f64::NAN)),
            ("attempt_frequency_hz", Box::new(|c| c.model.attempt_frequency_hz = f64::NAN)),
            ("power of two", Box::new(|c| c.rate_unit = 3.0)),
            ("rate unit does not fit", Box::new(|c| c.rate_unit = f64::MIN_POSITIVE)),
            ("tree total", Box::new(|c| c.tree_rebuilt_total = f64::INFINITY)),
            ("rate tree", Box::new(|c| c.tree_inner[0][0] += 1e30)),
            ("rate tree", Box::new(|c| c.tree_inner[0][1] = f64::NAN)),
            (
                "rate tree",
                Box::new(|c| {
                    c.tree_inner.pop();
                }),
            ),
            (
                "displacements for",
                Box::new(|c| {
                    c.disp.pop();
                }),
            ),
            ("sum of hops", Box::new(|c| c.disp[c.config.cations().iter().position(|&s| s == 1).unwrap()][0] += 1)),
            (
                "out of range",
                Box::new(|c| c.disp[c.config.cations().iter().position(|&s| s == 1).unwrap()] = [1 << 21, 0, 0]),
            ),
            ("holds no Li", Box::new(|c| c.disp[c.config.cations().iter().position(|&s| s == 0).unwrap()] = [1, 1, 0])),
            ("hops made", Box::new(|c| c.hops = 0)),
            ("generator", Box::new(|c| c.rng = serde_zero_rng())),
            ("sites but its lattice", Box::new(|c| c.config = replace_lattice(&c.config, lat([4, 3, 3])))),
        ];
        for (expected, edit) in edits {
            let err = assert_rejected(&reframed(edit));
            assert!(err.to_string().contains(expected), "{err} (expected {expected:?})");
        }
    }

    #[test]
    fn impossible_li_ids_and_channel_counts_are_rejected() {
        let (mut k, _, _) = sample();
        k.enable_li_ids().unwrap();
        k.enable_channel_counts();
        k.enable_bond_flux().unwrap();
        k.run(f64::INFINITY, 300, &[]).unwrap();
        let cp = k.checkpoint();
        decode(&encode(&cp, None).unwrap()).unwrap();
        let li = cp.config.cations().iter().position(|&s| s == species::LI).unwrap();
        let empty = cp.config.cations().iter().position(|&s| s == species::VACANCY).unwrap();
        type Edit = Box<dyn Fn(&mut Checkpoint)>;
        fn ids(c: &mut Checkpoint) -> &mut LiIdState {
            c.li_ids.as_mut().unwrap()
        }
        let edits: Vec<(&str, Edit)> = vec![
            (
                "Li ids for",
                Box::new(move |c| {
                    ids(c).ids.pop();
                }),
            ),
            (
                "Li origins for",
                Box::new(move |c| {
                    ids(c).origin.pop();
                }),
            ),
            ("holds no Li but has Li id", Box::new(move |c| ids(c).ids[empty] = 0)),
            ("out of range or repeated", Box::new(move |c| ids(c).ids[li] = NO_LI)),
            ("off its site", Box::new(move |c| ids(c).origin[0][0] += 2)),
            ("out of range", Box::new(move |c| ids(c).origin[0][1] = i64::MIN)),
            (
                "channel hop counts for",
                Box::new(|c| {
                    c.class_hops.as_mut().unwrap().pop();
                }),
            ),
            ("more than the", Box::new(|c| c.class_hops.as_mut().unwrap()[0] = u64::MAX)),
            (
                "bond fluxes for",
                Box::new(|c| {
                    c.bond_flux.as_mut().unwrap().pop();
                }),
            ),
            ("bond fluxes need", Box::new(|c| c.bond_flux.as_mut().unwrap()[0][0] = i32::MIN)),
        ];
        for (expected, edit) in edits {
            let mut c = cp.clone();
            edit(&mut c);
            let err = assert_rejected(&encode(&c, None).unwrap());
            assert!(err.to_string().contains(expected), "{err} (expected {expected:?})");
        }
        // Tracking fields in a file that says version 1.
        let mut bytes = encode(&cp, None).unwrap();
        bytes[8] = 1;
        let n = bytes.len() - CHECKSUM_LEN;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        assert!(assert_rejected(&bytes).to_string().contains("payload of version 2"));
    }

    #[test]
    fn species_codes_beyond_the_transition_metals_are_rejected() {
        // A code for a third TM where the checkpoint names two: once panicked in the model.
        let (_, cp, _) = sample();
        for code in [4u8, 9, 255] {
            let mut cations = cp.config.cations();
            cations[3] = code;
            let cfg = forge_configuration(&cp.config, &cations, &cp.config.anions(), cp.config.tm_names());
            let mut c = cp.clone();
            c.config = cfg;
            let err = assert_rejected(&encode(&c, None).unwrap());
            assert!(err.to_string().contains("species code"), "{err}");
        }
        let mut anions = cp.config.anions();
        anions[0] = 4;
        let mut c = cp.clone();
        c.config = forge_configuration(&cp.config, &cp.config.cations(), &anions, cp.config.tm_names());
        assert_rejected(&encode(&c, None).unwrap());
        for names in [vec!["Mn".to_string()], vec!["Mn".into(), "Mn".into()], vec!["Mn".into(), "Xx".into()]] {
            let mut c = cp.clone();
            c.config = forge_configuration(&cp.config, &cp.config.cations(), &cp.config.anions(), &names);
            assert_rejected(&encode(&c, None).unwrap());
        }
    }

    /// A configuration deserialised from arbitrary species, bypassing `from_species` (as a
    /// forged file would).
    fn forge_configuration(cfg: &Configuration, cations: &[u8], anions: &[u8], names: &[String]) -> Configuration {
        let lat = *cfg.lattice();
        let mut grid = cfg.grid().to_vec();
        for (c, &s) in cations.iter().enumerate() {
            grid[lat.cation_grid_index(c)] = s;
        }
        for (c, &s) in anions.iter().enumerate() {
            grid[lat.anion_grid_index(c)] = s;
        }
        #[derive(Serialize)]
        struct Raw<'a> {
            lattice: Lattice,
            grid: Vec<u8>,
            tm_names: &'a [String],
        }
        let bytes = rmp_serde::to_vec(&Raw { lattice: lat, grid, tm_names: names }).unwrap();
        rmp_serde::from_slice(&bytes).unwrap()
    }

    fn replace_lattice(cfg: &Configuration, lat: Lattice) -> Configuration {
        #[derive(Serialize)]
        struct Raw<'a> {
            lattice: Lattice,
            grid: &'a [u8],
            tm_names: &'a [String],
        }
        let bytes = rmp_serde::to_vec(&Raw { lattice: lat, grid: cfg.grid(), tm_names: cfg.tm_names() }).unwrap();
        rmp_serde::from_slice(&bytes).unwrap()
    }

    fn serde_zero_rng() -> Xoshiro256PlusPlus {
        #[derive(Serialize)]
        struct Raw {
            s: [u64; 4],
        }
        rmp_serde::from_slice(&rmp_serde::to_vec(&Raw { s: [0; 4] }).unwrap()).unwrap()
    }

    #[test]
    fn a_material_that_does_not_parse_is_rejected() {
        let (_, cp, _) = sample();
        #[derive(Serialize)]
        struct Forged<'a> {
            run: &'a Checkpoint,
            material: (&'a str, Vec<(String, f64)>),
        }
        let payload = rmp_serde::to_vec_named(&Forged { run: &cp, material: ("Li2Ti1O2", vec![]) }).unwrap();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_rejected(&out);
    }
}
