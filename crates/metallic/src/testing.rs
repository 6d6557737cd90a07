//! Helpers shared by every numeric test: one tolerance rule against a
//! float64 reference, fresh random inputs, and a poison value that shows
//! unwritten outputs. Public so integration tests and benches use the same
//! rule; not part of the engine's API.

use rand::{Rng, SeedableRng};

pub mod tiny_model;

/// A value no kernel produces by accident: outputs are filled with it before
/// a run, so an element left unwritten fails the comparison.
pub const POISON: f32 = f32::NAN;

/// Absolute + relative tolerance: `|actual - expected| <= atol + rtol * |expected|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Tolerance {
    pub const F32: Tolerance = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };
    pub const F16: Tolerance = Tolerance {
        atol: 2e-3,
        rtol: 2e-3,
    };
    pub const BF16: Tolerance = Tolerance {
        atol: 1.6e-2,
        rtol: 1.6e-2,
    };

    pub const fn new(atol: f64, rtol: f64) -> Self {
        Tolerance { atol, rtol }
    }
}

/// Compares `actual` with the float64 `expected`, element by element. NaN
/// (an unwritten or broken element) never passes. Returns a message naming
/// the worst element on failure.
pub fn check_close(actual: &[f32], expected: &[f64], tol: Tolerance) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "length {} differs from the reference's {}",
            actual.len(),
            expected.len()
        ));
    }
    let mut failures = 0usize;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let a = a as f64;
        let allowed = tol.atol + tol.rtol * e.abs();
        let excess = if a.is_finite() {
            (a - e).abs() / allowed
        } else {
            f64::INFINITY
        };
        if excess.is_nan() || excess > 1.0 {
            failures += 1;
            if worst.is_none_or(|(_, w)| excess > w) {
                worst = Some((i, excess));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{failures} of {} elements out of tolerance (atol {}, rtol {}); worst at {i}: got {}, expected {}",
            actual.len(),
            tol.atol,
            tol.rtol,
            actual[i],
            expected[i]
        )),
    }
}

/// Panics with `check_close`'s message when the comparison fails.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f64], tol: Tolerance) {
    if let Err(msg) = check_close(actual, expected, tol) {
        panic!("{msg}");
    }
}

/// A seeded generator; tests draw a fresh seed and print it on failure.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// `len` values uniform in [-1, 1), none of them zero.
pub fn random_vec(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| loop {
            let v: f32 = rng.random_range(-1.0..1.0);
            if v != 0.0 {
                break v;
            }
        })
        .collect()
}

/// A fresh seed for one test run (time-based), so every run draws new inputs;
/// `METALLIC_TEST_SEED=<seed>` replays a printed seed instead (every test
/// of the run then draws that seed).
pub fn fresh_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    if let Ok(seed) = std::env::var("METALLIC_TEST_SEED") {
        return seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("METALLIC_TEST_SEED={seed:?} is not a u64"));
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed)
}

/// `values` (whole blocks) of `dtype` as random bytes: plain floats from
/// `random_vec`; quantized blocks with random quants and sub-scales and their
/// f16 (Q8_K: f32) super-scales set to small finite values, so that every
/// dequantized value is finite.
pub fn random_blocks(rng: &mut impl Rng, dtype: crate::DType, values: usize) -> Vec<u8> {
    use crate::DType::*;
    let mut floats = || random_vec(rng, values).into_iter();
    match dtype {
        F32 => return floats().flat_map(f32::to_le_bytes).collect(),
        F16 => {
            return floats()
                .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
                .collect()
        }
        BF16 => {
            return floats()
                .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
                .collect()
        }
        _ => {}
    }
    let bytes = dtype.block_bytes();
    let mut out: Vec<u8> = (0..values / dtype.block_size() * bytes)
        .map(|_| rng.random())
        .collect();
    // Byte offsets of the f16 scale fields in each block, as GGUF lays them out.
    let f16_fields: &[usize] = match dtype {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    };
    for block in out.chunks_exact_mut(bytes) {
        for &at in f16_fields {
            let scale = half::f16::from_f32(rng.random_range(0.001..0.02));
            block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
        }
        if dtype == Q8_K {
            block[..4].copy_from_slice(&rng.random_range(0.001f32..0.02).to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_excess_fail_exact_passes() {
        assert!(check_close(&[1.0, 2.0], &[1.0, 2.0], Tolerance::F32).is_ok());
        assert!(check_close(&[POISON], &[1.0], Tolerance::F32).is_err());
        assert!(check_close(&[1.1], &[1.0], Tolerance::F32).is_err());
        assert!(check_close(&[1.0], &[1.0, 2.0], Tolerance::F32).is_err());
    }
}
