//! The few ways the core draws random numbers from its generator (Xoshiro256++), in one place.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Uniform f64 in [0, 1).
#[inline(always)]
pub fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform f64 in (0, 1]: safe under a logarithm.
#[inline(always)]
pub fn unit_open0(rng: &mut Xoshiro256PlusPlus) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in 0..n (n > 0), by multiply-shift (bias below n / 2⁶⁴).
#[inline(always)]
pub fn below(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}
