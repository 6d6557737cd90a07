//! AVX-512 kernels on 256-bit registers (VL): VNNI's `vpdpbusd` sums four
//! u8×i8 products straight into i32 and `vpdpwssd` applies the K formats'
//! group scales to pairwise i16 sums in one step. 256-bit vectors keep the
//! tile in registers (32 of them) without the clock penalty some CPUs take
//! on 512-bit ones.

use super::avx2::add_mins_and_reduce;
use super::{dispatch_tile, ActivationTile, Compiled, TileOut, WeightTile};
use std::arch::x86_64::*;

/// Runs `task` with the AVX-512 features the kernels use enabled.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-512 F, BW, VL and VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn run<T: Compiled>(task: T) -> T::Output {
    task.run()
}

/// # Safety
/// The CPU supports the features of `run`; the tile's slices cover it
/// (`check_tile`).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn legacy_tile(
    signed: bool,
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    if signed {
        dispatch_tile!(a.rows, w.rows, legacy[true](w, a))
    } else {
        dispatch_tile!(a.rows, w.rows, legacy[false](w, a))
    }
}

/// # Safety
/// As for `legacy_tile`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn kquant_tile(w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    dispatch_tile!(a.rows, w.rows, kquant[](w, a))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn legacy<const RA: usize, const RW: usize, const SIGNED: bool>(
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    let (k, nb) = (w.k, w.k / 32);
    let (u, wd, q, ad) = (w.u.as_ptr(), w.d.as_ptr(), a.q.as_ptr(), a.d.as_ptr());
    let zero = _mm256_setzero_si256();
    let mut acc = [[_mm256_setzero_ps(); RW]; RA];
    for b in 0..nb {
        // SAFETY (all reads here): rows < RW/RA and b < nb stay within the
        // slices checked by `check_tile`.
        let wv: [__m256i; RW] =
            std::array::from_fn(|j| unsafe { _mm256_loadu_si256(u.add(j * k + 32 * b).cast()) });
        let wabs: [__m256i; RW] = std::array::from_fn(|j| {
            if SIGNED {
                _mm256_abs_epi8(wv[j])
            } else {
                wv[j]
            }
        });
        let ws: [__m256; RW] =
            std::array::from_fn(|j| unsafe { _mm256_set1_ps(*wd.add(j * nb + b)) });
        for (r, acc) in acc.iter_mut().enumerate() {
            let av = unsafe { _mm256_loadu_si256(q.add(r * k + 32 * b).cast()) };
            let ascale = unsafe { _mm256_set1_ps(*ad.add(r * nb + b)) };
            for (j, acc) in acc.iter_mut().enumerate() {
                let signed_a = if SIGNED {
                    _mm256_sign_epi8(av, wv[j])
                } else {
                    av
                };
                let dot = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(zero, wabs[j], signed_a));
                *acc = _mm256_fmadd_ps(dot, _mm256_mul_ps(ws[j], ascale), *acc);
            }
        }
    }
    // SAFETY: as above.
    unsafe { add_mins_and_reduce(acc, w, a) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn kquant<const RA: usize, const RW: usize>(
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    let (k, ns) = (w.k, w.k / 256);
    let (u, sc, wd, q, ad) = (
        w.u.as_ptr(),
        w.scales.as_ptr(),
        w.d.as_ptr(),
        a.q.as_ptr(),
        a.d.as_ptr(),
    );
    let mut acc = [[_mm256_setzero_ps(); RW]; RA];
    for s in 0..ns {
        let mut iacc = [[_mm256_setzero_si256(); RW]; RA];
        for c in 0..8 {
            let at = 256 * s + 32 * c;
            // SAFETY (all reads here): within the slices checked by `check_tile`.
            let wv: [__m256i; RW] =
                std::array::from_fn(|j| unsafe { _mm256_loadu_si256(u.add(j * k + at).cast()) });
            let sv: [__m256i; RW] = std::array::from_fn(|j| unsafe {
                _mm256_loadu_si256(sc.add(j * k / 2 + at / 2).cast())
            });
            for (r, iacc) in iacc.iter_mut().enumerate() {
                let av = unsafe { _mm256_loadu_si256(q.add(r * k + at).cast()) };
                for (j, iacc) in iacc.iter_mut().enumerate() {
                    *iacc = _mm256_dpwssd_epi32(*iacc, _mm256_maddubs_epi16(wv[j], av), sv[j]);
                }
            }
        }
        for (r, (acc, iacc)) in acc.iter_mut().zip(&iacc).enumerate() {
            let da = unsafe { *ad.add(r * ns + s) };
            for (j, (acc, &iacc)) in acc.iter_mut().zip(iacc).enumerate() {
                let scale = _mm256_set1_ps(unsafe { *wd.add(j * ns + s) } * da);
                *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc), scale, *acc);
            }
        }
    }
    // SAFETY: as above.
    unsafe { add_mins_and_reduce(acc, w, a) }
}
