//! AVX-512F kernels: 16-lane FMA, an 8×32 register tile (16 accumulators).

use std::arch::x86_64::*;

super::simd_kernels! {
    feature: "avx512f", lanes: 16, mr: 8, nv: 2,
    zero: _mm512_setzero_ps, splat: _mm512_set1_ps, load: _mm512_loadu_ps,
    store: _mm512_storeu_ps, fma: _mm512_fmadd_ps, add: _mm512_add_ps,
    sum: _mm512_reduce_add_ps
}
