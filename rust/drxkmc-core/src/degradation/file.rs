//! Checkpoints of a cycling run, taken between cycles: the framed, checksummed layout of
//! `crate::checkpoint` around a MessagePack payload `{cycling: CellState}`. A resumed run
//! continues bit for bit (everything else is rebuilt at the next step). Errors name the field
//! `checkpoint`.

use super::cell::{tm_kinds, CellState, Cycling};
use crate::checkpoint::{bad, frame, in_checkpoint, unframe, FORMAT_VERSION};
use crate::config::{species, Configuration};
use crate::error::Result;
use crate::lattice::Lattice;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct PayloadRef<'a> {
    cycling: &'a CellState,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    cycling: CellState,
}

/// The checkpoint file of a cycling run.
pub fn encode(run: &Cycling) -> Result<Vec<u8>> {
    let payload = rmp_serde::to_vec_named(&PayloadRef { cycling: run.state() })
        .map_err(|e| bad(format!("could not be encoded: {e}")))?;
    Ok(frame(&payload, FORMAT_VERSION))
}

/// A cycling run from its checkpoint file, every field checked.
pub fn decode(data: &[u8]) -> Result<Cycling> {
    let (_, mut rest) = unframe(data)?;
    let payload = {
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        Payload::deserialize(&mut de).map_err(|e| {
            let text = e.to_string();
            // A diffusion run's checkpoint has no `cycling` part at all.
            let hint = if text.contains("`cycling`") { " (is it the checkpoint of a Li diffusion run?)" } else { "" };
            bad(format!("has an invalid payload{hint}: {text}"))
        })?
    };
    if !rest.is_empty() {
        return Err(bad(format!("has {} stray bytes after its payload", rest.len())));
    }
    let s = payload.cycling;
    validate(&s)?;
    Ok(Cycling::from_state(s))
}

fn validate(s: &CellState) -> Result<()> {
    let c = &s.config;
    let l = *c.lattice();
    // Deserialising bypasses the constructors: re-run them before indexing anything.
    let checked = Lattice::new(l.size(), l.a(), l.geometry()).map_err(in_checkpoint)?;
    if checked != l || c.grid().len() != l.n_grid() {
        return Err(bad("configuration does not fit its lattice"));
    }
    let rebuilt = Configuration::from_species(l, &c.cations(), &c.anions(), c.tm_names().to_vec())
        .and_then(|r| r.with_valences(c.valences().to_vec()))
        .and_then(|r| r.with_tetrahedral(c.tetrahedral().to_vec()))
        .map_err(in_checkpoint)?;
    if &rebuilt != c || c.valences().is_empty() {
        return Err(bad("configuration is not valid"));
    }
    s.barrier.validate().map_err(in_checkpoint)?;
    s.model.validate().map_err(in_checkpoint)?;
    s.protocol.validate().map_err(in_checkpoint)?;
    // The kinds (redox windows, barriers) are derived: they must be what the material and
    // model give, not whatever the file says.
    if tm_kinds(c, &s.composition, &s.model).map_err(in_checkpoint)? != s.kinds {
        return Err(bad("TM kinds do not match the configuration, material and model"));
    }
    let cations = c.cations();
    // Origins index cation sites, or n_cations + a tetrahedron for TMs made tetrahedral.
    let n_origins = cations.len() + l.n_tetrahedra();
    if s.origin.len() != cations.len()
        || s.origin
            .iter()
            .zip(&cations)
            .any(|(&o, &code)| (o == u32::MAX) == species::is_tm(code) || (o != u32::MAX && o as usize >= n_origins))
        || s.tet_origin.len() != c.tetrahedral().len()
        || c.tetrahedral().iter().any(|t| s.tet_origin.get(&t.tetrahedron).is_none_or(|&o| o as usize >= n_origins))
    {
        return Err(bad("TM origins do not match the configuration"));
    }
    if s.collapsed.len() != cations.len()
        || s.collapsed.iter().zip(&cations).any(|(&x, &code)| x && code != species::VACANCY)
    {
        return Err(bad("lost cation sites do not match the configuration"));
    }
    if c.tetrahedral().iter().any(|t| {
        c.tetrahedron_vertices(t.tetrahedron as usize).iter().any(|&g| s.collapsed[Lattice::sublattice_index(g)])
    }) {
        return Err(bad("a tetrahedral TM shares a face with a lost cation site"));
    }
    let finite = [s.formula_units, s.mah_g_per_electron, s.time_s].iter().all(|x| x.is_finite() && *x >= 0.0);
    if !finite || s.formula_units <= 0.0 || s.holes < 0 || s.holes > s.max_holes || s.max_holes < 0 {
        return Err(bad("run counters are out of range"));
    }
    if s.records.len() != s.cycle as usize || s.profiles.len() != s.cycle as usize {
        return Err(bad("cycle history does not match the cycle count"));
    }
    super::probe::check_all(&s.diffusivity, s.cycle, "checkpoint")?;
    if super::cell::charge_sum_of(s) != s.charge_offset || s.charge_offset.abs() > super::cell::MAX_CHARGE_OFFSET {
        return Err(bad("the cell is not charge neutral"));
    }
    Ok(())
}
