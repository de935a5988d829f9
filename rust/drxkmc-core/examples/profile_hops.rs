//! Profiling driver: `cargo run --release --example profile_hops -- CELLS HOPS`.
use drxkmc_core::config::Configuration;
use drxkmc_core::engine::Kmc;
use drxkmc_core::lattice::{Geometry, Lattice};
use drxkmc_core::model::BarrierModel;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (cells, hops) = (args.first().copied().unwrap_or(30), args.get(1).copied().unwrap_or(2_000_000));
    let lat = Lattice::new([cells; 3], 4.15, Geometry::Bulk).unwrap();
    let n = lat.n_cations();
    // Li0.6Mn0.4Ti0.4O1.6F0.4 on 2 cation sites per formula unit.
    let (n_li, n_tm) = (n * 3 / 10, n / 5);
    let cfg = Configuration::random(lat, n_li, &[n_tm, n_tm], vec!["Mn".into(), "Ti".into()], n / 5, 0, 1).unwrap();
    let mut model = BarrierModel::default();
    model.site_disorder_ev = 0.05;
    let mut k = Kmc::new(&cfg, &model, 300.0, 1).unwrap();
    k.run(f64::INFINITY, 100_000, &[]).unwrap();
    let t = std::time::Instant::now();
    k.run(f64::INFINITY, hops as u64, &[]).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!("{n} sites: {:.0} hops/s, {:.0} ns/hop", hops as f64 / s, s / hops as f64 * 1e9);
}
