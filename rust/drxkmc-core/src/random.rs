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

/// SplitMix64 finaliser (Steele, Lea, Flood, OOPSLA 2014): a bijective mix of 64 bits.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in (0, 1) fixed by (`seed`, `key`) alone: a random number attached to a
/// site that can be recomputed without replaying a stream.
pub fn keyed_unit(seed: u64, key: u64) -> f64 {
    let z = mix64(mix64(seed) ^ mix64(key ^ 0x9e37_79b9_7f4a_7c15));
    ((z >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}
