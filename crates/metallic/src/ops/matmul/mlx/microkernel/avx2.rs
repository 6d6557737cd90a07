//! AVX2+FMA kernels: 8-lane FMA, a 6×16 register tile (12 of the 16
//! registers hold accumulators).

use std::arch::x86_64::*;

super::simd_kernels! {
    feature: "avx2,fma", lanes: 8, mr: 6, nv: 2,
    zero: _mm256_setzero_ps, splat: _mm256_set1_ps, load: _mm256_loadu_ps,
    store: _mm256_storeu_ps, fma: _mm256_fmadd_ps, add: _mm256_add_ps,
    sum: sum_lanes
}

/// Horizontal sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn sum_lanes(v: __m256) -> f32 {
    let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair)))
}
