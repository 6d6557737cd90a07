//! Every product the Qwen2.5-0.5B forward pass issues with float weights:
//! the projections as `x · Wᵀ` with W stored [N, K] (GGUF rows of K), at
//! decode (m = 1) and prefill (m = 128).

use super::support::*;
use metallic::testing::{fresh_seed, rng};
use metallic::DType;

/// (name, N, K) of the 0.5B model's projections.
const PROJECTIONS: [(&str, usize, usize); 4] = [
    ("qkv", 1152, 896),
    ("o", 896, 896),
    ("gate+up", 9728, 896),
    ("down", 896, 4864),
];

fn projections(m: usize) {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for (name, n, k) in PROJECTIONS {
        let x = random(r, DType::F32, &[m, k]);
        let w = random(r, DType::F32, &[n, k]);
        eprintln!("{name}: m {m}, n {n}, k {k}");
        check_matmul(&x, &w, false, true, seed);
    }
}

#[test]
fn projections_at_decode() {
    projections(1);
}

#[test]
fn projections_at_prefill() {
    projections(128);
}

/// The output projection over the 151936-token vocabulary, at decode only
/// (at m = 128 the float64 reference alone takes too long for a test).
#[test]
fn output_projection_at_decode() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    let x = random(r, DType::F32, &[1, 896]);
    let w = random(r, DType::F32, &[151936, 896]);
    check_matmul(&x, &w, false, true, seed);
}

/// Half-precision activations and weights on the decode shapes.
#[test]
fn half_precision_projections_at_decode() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in [DType::F16, DType::BF16] {
        for (_, n, k) in PROJECTIONS {
            let x = random(r, dtype, &[1, k]);
            let w = random(r, dtype, &[n, k]);
            check_matmul(&x, &w, false, true, seed);
        }
    }
}
