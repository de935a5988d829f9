//! The machine's latency for one dependent memory load at a given working-set size:
//! `cargo run --release --example memory_latency -- BYTES [BYTES ...]`.
//!
//! A pointer chase through one random cycle over the cache lines of a buffer allocated like the
//! engine's (2 MiB-aligned, huge pages requested), so each load waits for the one before: the
//! cost the kMC pays for each cache miss it cannot overlap (choosing the next Li from the rate
//! tree, then reading its neighbourhood). `benchmarks/bench_throughput.py` prints it next to
//! the cost per hop of each lattice size.
use drxkmc_core::memory::HugeBuf;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// u64 slots per 64-byte cache line.
const LINE: usize = 8;

fn ns_per_load(bytes: usize) -> f64 {
    let lines = (bytes / 64).max(2);
    let mut order: Vec<usize> = (0..lines).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(1));
    let mut buf = HugeBuf::<u64>::zeroed(lines * LINE);
    for (k, &line) in order.iter().enumerate() {
        buf[line * LINE] = (order[(k + 1) % lines] * LINE) as u64;
    }
    let steps = 20_000_000usize;
    let mut at = order[0] * LINE;
    for _ in 0..lines.min(steps) {
        at = buf[at] as usize; // warm up: fault the pages in, fill the TLB and caches
    }
    let start = std::time::Instant::now();
    for _ in 0..steps {
        at = buf[at] as usize;
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / steps as f64;
    std::hint::black_box(at);
    ns
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("BYTES [BYTES ...]")).collect();
    let sizes = if sizes.is_empty() { vec![1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28] } else { sizes };
    for bytes in sizes {
        println!("{bytes} bytes: {:.1} ns per dependent load", ns_per_load(bytes));
    }
}
