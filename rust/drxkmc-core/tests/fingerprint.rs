//! Regression guard for optimisations: a fixed-seed trajectory must stay bit-identical.
//!
//! The expected value lives in `tests/data/trajectory_fingerprint.txt` together with the
//! reason it was last regenerated. An optimisation that keeps the algorithm must not change
//! it; a deliberate change of the algorithm (a different random-number use, a different
//! event order) regenerates it with `DRXKMC_REGENERATE_FINGERPRINT=1 cargo test --release
//! --test fingerprint` and writes the reason into that file.

use drxkmc_core::config::Configuration;
use drxkmc_core::engine::Kmc;
use drxkmc_core::lattice::{Geometry, Lattice};
use drxkmc_core::model::BarrierModel;

fn fnv1a(bytes: impl IntoIterator<Item = u8>, mut h: u64) -> u64 {
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The fingerprint of a fixed-seed run, after `setup` has prepared the engine.
fn trajectory_fingerprint(setup: impl Fn(&mut Kmc)) -> u64 {
    let lat = Lattice::new([6, 6, 6], 4.15, Geometry::Bulk).unwrap();
    let n = lat.n_cations();
    let cfg = Configuration::random(lat, n * 3 / 10, &[n / 5, n / 5], vec!["Mn".into(), "Ti".into()], n / 5, n / 40, 7)
        .unwrap();
    let model = BarrierModel { site_disorder_ev: 0.05, ..BarrierModel::default() };
    let mut k = Kmc::new(&cfg, &model, 450.0, 2024).unwrap();
    setup(&mut k);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for _ in 0..20 {
        // A run that returns for its trajectory frames (Stop::Frames) is resumed.
        let target = k.hops() + 10_000;
        while k.hops() < target {
            k.run(f64::INFINITY, target - k.hops(), &[]).unwrap();
            k.take_frames();
        }
        h = fnv1a(k.time_s().to_bits().to_le_bytes(), h);
    }
    h = fnv1a(k.cations(), h);
    h = fnv1a(k.displacements().iter().flat_map(|r| r.iter().flat_map(|v| v.to_le_bytes())), h);
    h
}

#[test]
fn trajectory_is_unchanged() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/trajectory_fingerprint.txt");
    let got = format!("{:016x}", trajectory_fingerprint(|_| {}));
    if std::env::var_os("DRXKMC_REGENERATE_FINGERPRINT").is_some() {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let reasons: String = old.lines().filter(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
        std::fs::write(path, format!("{reasons}{got}\n")).unwrap();
        panic!("fingerprint regenerated as {got}: add a '# reason' line to {path} and rerun");
    }
    let expected = std::fs::read_to_string(path).expect("fingerprint file");
    let expected = expected.lines().find(|l| !l.starts_with('#')).unwrap_or("").trim();
    assert_eq!(got, expected, "a fixed-seed trajectory changed; see the comment at the top of this file");
}

#[test]
fn tracking_leaves_the_trajectory_unchanged() {
    // Li ids, channel counts, bond fluxes and trajectory frames only record: the same hops, times and
    // displacements as a run without them.
    let plain = trajectory_fingerprint(|_| {});
    let tracked = trajectory_fingerprint(|k| {
        k.enable_li_ids().unwrap();
        k.enable_channel_counts();
        k.enable_bond_flux().unwrap();
        k.set_frames(0.0, 1e-9, 3).unwrap();
    });
    assert_eq!(plain, tracked);
}
