//! AVX2 + FMA kernels: u8×i8 products summed pairwise to i16
//! (`vpmaddubsw`), then to i32 (`vpmaddwd`), converted and scaled in f32.
//! Pairwise i16 sums cannot saturate: `u` is at most 63 (or, for Q8_0, its
//! magnitude is moved onto the unsigned side), and activations stay within ±127.

use super::{dispatch_tile, ActivationTile, Compiled, TileOut, WeightTile};
use std::arch::x86_64::*;

/// Runs `task` with AVX2 and FMA enabled.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn run<T: Compiled>(task: T) -> T::Output {
    task.run()
}

/// # Safety
/// The CPU supports AVX2, FMA and F16C; the tile's slices cover it (`check_tile`).
#[target_feature(enable = "avx2,fma,f16c")]
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
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn kquant_tile(w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    dispatch_tile!(a.rows, w.rows, kquant[](w, a))
}

/// Adds each group's minimum times its activations' sum to the tile's
/// accumulators, eight groups per vector (which lane takes a group does
/// not matter: the lanes are summed at the end), and reduces the tile.
///
/// # Safety
/// The tile's slices cover it (`check_tile`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn add_mins_and_reduce<const RA: usize, const RW: usize>(
    mut acc: [[__m256; RW]; RA],
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    let g = w.groups;
    let (min, sums) = (w.min.as_ptr(), a.sums.as_ptr());
    let full = g / 8 * 8;
    for g0 in (0..full).step_by(8) {
        // SAFETY (all reads here): rows < RW/RA and groups < g, within the
        // slices checked by `check_tile`.
        let mins: [__m256; RW] =
            std::array::from_fn(|j| unsafe { _mm256_loadu_ps(min.add(j * g + g0)) });
        for (r, acc) in acc.iter_mut().enumerate() {
            let s = unsafe { _mm256_loadu_ps(sums.add(r * g + g0)) };
            for (acc, &m) in acc.iter_mut().zip(&mins) {
                *acc = _mm256_fmadd_ps(m, s, *acc);
            }
        }
    }
    let mut out = TileOut::default();
    for (r, (o, acc)) in out.iter_mut().zip(&acc).enumerate() {
        for (j, (o, &v)) in o.iter_mut().zip(acc).enumerate() {
            let tail: f32 = (full..g)
                .map(|t| unsafe { *min.add(j * g + t) * *sums.add(r * g + t) })
                .sum();
            *o = hsum(v) + tail;
        }
    }
    out
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn legacy<const RA: usize, const RW: usize, const SIGNED: bool>(
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    let (k, nb) = (w.k, w.k / 32);
    let (u, wd, q, ad) = (w.u.as_ptr(), w.d.as_ptr(), a.q.as_ptr(), a.d.as_ptr());
    let ones = _mm256_set1_epi16(1);
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
                let pairs = _mm256_maddubs_epi16(wabs[j], signed_a);
                let dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                *acc = _mm256_fmadd_ps(dot, _mm256_mul_ps(ws[j], ascale), *acc);
            }
        }
    }
    // SAFETY: as above.
    unsafe { add_mins_and_reduce(acc, w, a) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
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
                    let pairs = _mm256_maddubs_epi16(wv[j], av);
                    *iacc = _mm256_add_epi32(*iacc, _mm256_madd_epi16(pairs, sv[j]));
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
