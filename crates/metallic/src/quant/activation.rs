//! Activations quantized to 8 bits for the integer dot kernels, as llama.cpp
//! does: each run of `scale_block` values gets one f32 scale `d` (32 values
//! against the 32-value weight formats, 256 against the K formats), and each
//! run of `sum_group` values the sum of its quantized values times `d`, which
//! the kernels pair with a weight group's minimum.

/// Rounds to the nearest integer (ties to even) with a float add, which
/// vectorizes where `f32::round` becomes a library call; exact for |x| < 2²².
#[inline(always)]
fn round_fast(x: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
    ((x + MAGIC) - MAGIC) as i32
}

/// Quantizes `x` symmetrically to ±127 levels into `q`; returns the scale.
/// A block of zeros gets scale 0 and zeros; a block holding a NaN or an
/// infinity gets a NaN scale, so products come out NaN as in float math.
#[inline(always)]
pub(crate) fn quantize_i8(x: &[f32], q: &mut [i8]) -> f32 {
    // Unlike `f32::max`, this keeps a NaN once seen.
    let amax = x.iter().fold(0.0f32, |m, v| {
        let a = v.abs();
        if a > m || a.is_nan() {
            a
        } else {
            m
        }
    });
    if amax == 0.0 || !amax.is_finite() {
        q.fill(0);
        return if amax == 0.0 { 0.0 } else { f32::NAN };
    }
    let id = 127.0 / amax;
    for (q, &v) in q.iter_mut().zip(x) {
        *q = round_fast(v * id).clamp(-127, 127) as i8;
    }
    amax / 127.0
}

/// `m` rows of `k` activations in 8-bit form.
pub(crate) struct QuantizedRows {
    pub k: usize,
    /// m × k quantized values.
    pub q: Vec<i8>,
    /// m × (k / scale_block) scales.
    pub d: Vec<f32>,
    /// m × (k / sum_group) scaled group sums, d · Σ q.
    pub sums: Vec<f32>,
}

impl QuantizedRows {
    /// Quantizes rows `i * lda .. i * lda + k` of `a` for `i < m`. The caller
    /// has checked that `k` is a multiple of `scale_block`, that
    /// `scale_block` is a multiple of `sum_group`, and that `a` holds the rows.
    pub(crate) fn new(
        a: &[f32],
        lda: usize,
        m: usize,
        k: usize,
        scale_block: usize,
        sum_group: usize,
    ) -> Self {
        use rayon::prelude::*;
        let mut rows = QuantizedRows {
            k,
            q: vec![0; m * k],
            d: vec![0.0; m * (k / scale_block)],
            sums: vec![0.0; m * (k / sum_group)],
        };
        let sums_per_block = scale_block / sum_group;
        rows.q
            .par_chunks_mut(k)
            .zip(rows.d.par_chunks_mut(k / scale_block))
            .zip(rows.sums.par_chunks_mut(k / sum_group))
            .enumerate()
            // Splitting pays only when there is real work per task.
            .with_min_len((1 << 16) / k.max(1) + 1)
            .for_each(|(i, ((q, d), sums))| {
                let x = &a[i * lda..i * lda + k];
                let blocks = x
                    .chunks_exact(scale_block)
                    .zip(q.chunks_exact_mut(scale_block));
                let scales = d.iter_mut().zip(sums.chunks_exact_mut(sums_per_block));
                for ((x, q), (d, sums)) in blocks.zip(scales) {
                    *d = quantize_i8(x, q);
                    for (s, g) in sums.iter_mut().zip(q.chunks_exact(sum_group)) {
                        *s = *d * g.iter().map(|&v| v as i32).sum::<i32>() as f32;
                    }
                }
            });
        rows
    }
}
