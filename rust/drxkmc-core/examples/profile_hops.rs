//! Profiling driver: `cargo run --release --example profile_hops -- CELLS HOPS [WARMUP]`.
//!
//! The full DRX model (Li0.6Mn0.4Ti0.4O1.6F0.4, 0.05 eV site disorder, 300 K) on CELLS³
//! conventional cells; prints hops per second of wall time, ns per hop of CPU time (on Linux,
//! from /proc/self/schedstat: not inflated when other processes share the cores) and the
//! engine's own bytes per cation site. `PROFILE_TRACK=ids` turns Li ids on, `=all` ids,
//! channel counts and trajectory frames (one per hop per Li on average: each frame reads
//! every site) too, to measure what
//! tracking costs.
use drxkmc_core::config::Configuration;
use drxkmc_core::engine::Kmc;
use drxkmc_core::lattice::{Geometry, Lattice};
use drxkmc_core::model::BarrierModel;

/// CPU time this thread has run, ns, where the OS reports it.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("CELLS HOPS [WARMUP]")).collect();
    let cells = args.first().copied().unwrap_or(30);
    let hops = args.get(1).copied().unwrap_or(2_000_000) as u64;
    let warmup = args.get(2).copied().unwrap_or(100_000) as u64;
    let lat = Lattice::new([cells; 3], 4.15, Geometry::Bulk).unwrap();
    let n = lat.n_cations();
    // Li0.6Mn0.4Ti0.4O1.6F0.4 on 2 cation sites per formula unit.
    let (n_li, n_tm) = (n * 3 / 10, n / 5);
    let cfg = Configuration::random(lat, n_li, &[n_tm, n_tm], vec!["Mn".into(), "Ti".into()], n / 5, 0, 1).unwrap();
    let model = BarrierModel { site_disorder_ev: 0.05, ..BarrierModel::default() };
    let mut k = Kmc::new(&cfg, &model, 300.0, 1).unwrap();
    k.run(f64::INFINITY, warmup, &[]).unwrap();
    let track = std::env::var("PROFILE_TRACK").unwrap_or_default();
    if track == "ids" || track == "all" {
        k.enable_li_ids().unwrap();
    }
    if track == "all" {
        k.enable_channel_counts();
        k.set_frames(k.time_s(), n_li as f64 / k.total_rate(), 64).unwrap();
    }
    let (t, cpu0) = (std::time::Instant::now(), cpu_ns());
    let target = k.hops() + hops;
    while k.hops() < target {
        k.run(f64::INFINITY, target - k.hops(), &[]).unwrap();
        k.take_frames();
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_ns().zip(cpu0).map(|(b, a)| (b - a) as f64 * 1e-9).unwrap_or(wall);
    println!(
        "{n} sites: {:.0} hops/s, {:.0} ns/hop wall, {:.0} ns/hop cpu, {:.1} bytes/site",
        hops as f64 / wall,
        wall / hops as f64 * 1e9,
        cpu / hops as f64 * 1e9,
        k.memory_bytes() as f64 / n as f64
    );
}
