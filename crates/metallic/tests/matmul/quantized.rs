//! The weight path `x · Wᵀ` with W a GGUF block type stored [N, K], for
//! every block type, against a float64 reference over the dequantized
//! weights. Backends may quantize the activations to 8 bits (as llama.cpp
//! does), so the tolerance adds that rounding's statistical bound.

use super::support::*;
use metallic::quant::quantize;
use metallic::testing::{check_close, fresh_seed, random_vec, rng, Tolerance};
use metallic::{DType, Tensor};
use rand::Rng;

/// Every GGUF block type the engine reads.
fn quantized_types() -> impl Iterator<Item = DType> {
    DType::ALL.into_iter().filter(|d| d.is_quantized())
}

/// Byte offsets of each block's f16 scales, as GGUF lays the blocks out.
fn f16_scale_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q6_K => &[208],
        _ => &[],
    }
}

/// `n` rows of `k` random weights of `dtype`: quantized from random values
/// where the engine has a quantizer, else random blocks whose f16 scales
/// are small and finite (so every dequantized value is too).
fn random_weights(r: &mut impl Rng, dtype: DType, n: usize, k: usize) -> Tensor {
    let mut bytes = vec![0u8; dtype.bytes_for(n * k).expect("whole blocks")];
    if quantize(dtype, &random_vec(r, n * k), &mut bytes).is_err() {
        r.fill(&mut bytes[..]);
        for block in bytes.chunks_exact_mut(dtype.block_bytes()) {
            for &at in f16_scale_fields(dtype) {
                let scale = half::f16::from_f32(r.random_range(0.001..0.02));
                block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
            }
        }
    }
    Tensor::from_bytes(&CPU, dtype, &bytes, &[n, k]).unwrap()
}

/// The activations' accumulation tolerance plus six standard deviations of the error
/// from rounding the activations to 8 bits: each rounding is uniform within
/// half a step of max|x|/127 (a per-block scale is never coarser), so output
/// j's error has deviation step/sqrt(12) · ||W_j||.
fn quantized_tolerance(x: &[f32], w: &[f32], k: usize, activations: DType) -> Tolerance {
    let step = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64 / 127.0;
    let largest_row = w
        .chunks(k)
        .map(|row| row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let base = tolerance(activations, k);
    Tolerance::new(
        base.atol + 6.0 * step / 12f64.sqrt() * largest_row,
        base.rtol,
    )
}

/// `x · Wᵀ` on every backend against the reference over dequantized W.
fn check_weights(x: &Tensor, w: &Tensor, seed: u64) {
    let (shape, expected) = reference(x, w, None, false, true, 1.0, 0.0);
    let k = x.shape()[x.rank() - 1];
    let tol = quantized_tolerance(
        &x.to_f32_vec().unwrap(),
        &w.to_f32_vec().unwrap(),
        k,
        x.dtype(),
    );
    for (name, ctx) in contexts() {
        let out = ctx
            .matmul(x, w.t())
            .unwrap_or_else(|e| panic!("{name} {}: {e} (seed {seed})", w.dtype()));
        assert_eq!(out.shape(), &shape[..]);
        assert_eq!(out.dtype(), x.dtype());
        if let Err(msg) = check_close(&out.to_f32_vec().unwrap(), &expected, tol) {
            panic!(
                "{name} {} {:?}: {msg} (seed {seed})",
                w.dtype(),
                out.shape()
            );
        }
    }
}

#[test]
fn every_block_type_on_small_shapes() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in quantized_types() {
        let k = 2 * dtype.block_size();
        let w = random_weights(r, dtype, 33, k);
        for m in [1, 5] {
            for activations in [DType::F32, DType::F16, DType::BF16] {
                check_weights(&random(r, activations, &[m, k]), &w, seed);
            }
        }
    }
}

#[test]
fn sliced_weights_padded_activations_and_batches() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in quantized_types() {
        let k = 2 * dtype.block_size();
        // Rows 3..20 of a weight matrix (an offset into the buffer), and the
        // second block of every row (a padded row stride).
        let w = random_weights(r, dtype, 24, k);
        let rows = w.slice(0, 3..20).unwrap();
        let x = padded(r, DType::F32, &[4, k], 7);
        check_weights(&x, &rows, seed);
        let half = w.slice(1, k / 2..k).unwrap();
        check_weights(&random(r, DType::F32, &[3, k / 2]), &half, seed);
        // A batch of activations sharing one weight matrix.
        check_weights(&random(r, DType::F32, &[2, 3, k]), &w, seed);
    }
}

/// The model's tensors with K = 896 use the 32-value formats; the
/// feed-forward down projection (K = 4864, 19 super-blocks) the K formats.
#[test]
fn qwen_weight_shapes_at_decode_and_prefill() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for (dtype, n, k, ms) in [
        (DType::Q5_0, 1152, 896, &[1, 128][..]),
        (DType::Q8_0, 896, 896, &[1, 128][..]),
        (DType::Q4_0, 9728, 896, &[1][..]),
        (DType::Q4_K, 896, 4864, &[1, 128][..]),
        (DType::Q6_K, 896, 4864, &[1, 128][..]),
        (DType::Q5_K, 896, 4864, &[1][..]),
    ] {
        let w = random_weights(r, dtype, n, k);
        for &m in ms {
            check_weights(&random(r, DType::F32, &[m, k]), &w, seed);
        }
    }
}
