//! One 8-bit activation row against weight rows read straight from their
//! GGUF blocks (decode: m = 1), for the default model's formats. A decode
//! step reads each weight once, so unpacking it into a panel first (the
//! tile kernels' way) only adds a store and a load per value to a product
//! that should run at the speed memory delivers the blocks. Four weight
//! rows at a time share each activation load and keep four independent
//! accumulator chains in flight; 256-bit VNNI as in `avx512.rs`.
//!
//! The sums are those of the tile kernels (`avx2.rs`, `avx512.rs`): the
//! legacy formats fold their offset into signed weights (|w| on the
//! unsigned side of `vpdpbusd`, its sign moved onto the activation), the K
//! formats pair unsigned values with the activations, apply group scales in
//! `vpdpwssd`, and subtract each group's minimum times its activation sum.

use super::avx2::hsum;
use super::ActivationRow;
use crate::dtype::DType;
use std::arch::x86_64::*;

/// Whether `dot_rows` reads this format.
pub(crate) fn handles(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 | DType::Q4_K | DType::Q6_K
    )
}

/// `out[j] = Σ_k W_j[k] · a[k]` for the rows `W_j` of `w` (whole rows of
/// `a.q.len()` values in `dtype`, `out.len()` of them).
///
/// # Safety
/// The CPU supports AVX2, FMA, F16C and AVX-512 F, BW, VL and VNNI;
/// `handles(dtype)`; `w` holds exactly `out.len()` rows of `k = a.q.len()`
/// values, k a multiple of the format's block; `a.d` holds k / block scales
/// and, for K formats, `a.sums` k / 16 sums.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn dot_rows(dtype: DType, w: &[u8], a: ActivationRow<'_>, out: &mut [f32]) {
    // SAFETY: the caller's promise, passed on.
    unsafe {
        match dtype {
            DType::Q4_0 => rows::<Q4_0>(w, a, out),
            DType::Q5_0 => rows::<Q5_0>(w, a, out),
            DType::Q8_0 => rows::<Q8_0>(w, a, out),
            DType::Q4_K => rows::<Q4_K>(w, a, out),
            _ => rows::<Q6_K>(w, a, out),
        }
    }
}

// The formats `rows` is compiled for (a const parameter, so each gets its
// own loop).
const Q4_0: u8 = 0;
const Q5_0: u8 = 1;
const Q8_0: u8 = 2;
const Q4_K: u8 = 3;
const Q6_K: u8 = 4;

/// (values, bytes) of one block of format `F`.
const fn block_shape(f: u8) -> (usize, usize) {
    match f {
        Q4_0 => (32, 18),
        Q5_0 => (32, 22),
        Q8_0 => (32, 34),
        Q4_K => (256, 144),
        _ => (256, 210),
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows<const F: u8>(w: &[u8], a: ActivationRow<'_>, out: &mut [f32]) {
    const R: usize = 4;
    let (values, bytes) = block_shape(F);
    let nb = a.q.len() / values;
    let row_bytes = nb * bytes;
    debug_assert_eq!(w.len(), out.len() * row_bytes);
    let mut groups = out.chunks_exact_mut(R);
    let mut j = 0;
    for group in &mut groups {
        // SAFETY: rows j..j + R lie inside `w`.
        let sums = unsafe { row_group::<F, R>(w.as_ptr().add(j * row_bytes), row_bytes, nb, &a) };
        group.copy_from_slice(&sums);
        j += R;
    }
    for o in groups.into_remainder() {
        // SAFETY: row j lies inside `w`.
        *o = unsafe { row_group::<F, 1>(w.as_ptr().add(j * row_bytes), row_bytes, nb, &a) }[0];
        j += 1;
    }
}

/// The dot products of `R` consecutive rows, block by block: `acc` holds
/// each row's float sums of block products, `mins` the K formats' offsets.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn row_group<const F: u8, const R: usize>(
    w: *const u8,
    row_bytes: usize,
    nb: usize,
    a: &ActivationRow<'_>,
) -> [f32; R] {
    let bytes = block_shape(F).1;
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [_mm512_setzero_ps(); R];
    for b in 0..nb {
        for (r, (acc, mins)) in acc.iter_mut().zip(&mut mins).enumerate() {
            // SAFETY: block b of row r is inside the rows the caller passed,
            // and `a` covers block b.
            unsafe {
                let block = w.add(r * row_bytes + b * bytes);
                match F {
                    Q4_0 => q4_0(block, a, b, acc),
                    Q5_0 => q5_0(block, a, b, acc),
                    Q8_0 => q8_0(block, a, b, acc),
                    Q4_K => q4_k(block, a, b, acc, mins),
                    _ => q6_k(block, a, b, acc, mins),
                }
            }
        }
    }
    std::array::from_fn(|r| hsum(acc[r]) + _mm512_reduce_add_ps(mins[r]))
}

/// The f16 at `p` (any alignment), converted by F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: the caller points at two readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// 16 bytes of nibbles at `p` → 32 values: low nibbles, then high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: the caller points at 16 readable bytes.
    let qs = unsafe { _mm_loadu_si128(p.cast()) };
    let low = _mm_set1_epi8(0x0F);
    _mm256_set_m128i(
        _mm_and_si128(_mm_srli_epi16::<4>(qs), low),
        _mm_and_si128(qs, low),
    )
}

/// acc += d · Σ w·q over 32 signed weights, `d` the weight and activation
/// scales' product.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn signed_block(w: __m256i, a: &ActivationRow<'_>, b: usize, d: f32, acc: &mut __m256) {
    // SAFETY: the caller's `a` covers block b.
    let (q, da) = unsafe {
        (
            _mm256_loadu_si256(a.q.as_ptr().add(32 * b).cast()),
            *a.d.get_unchecked(b),
        )
    };
    let dot = _mm256_dpbusd_epi32(
        _mm256_setzero_si256(),
        _mm256_abs_epi8(w),
        _mm256_sign_epi8(q, w),
    );
    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d * da), *acc);
}

/// Accumulates one Q4_0 block (see `row_group`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_0(p: *const u8, a: &ActivationRow<'_>, b: usize, acc: &mut __m256) {
    // SAFETY: the block is whole: f16 scale, then 16 bytes of nibbles.
    unsafe {
        let w = _mm256_sub_epi8(nibbles(p.add(2)), _mm256_set1_epi8(8));
        signed_block(w, a, b, f16_at(p), acc);
    }
}

/// Accumulates one Q5_0 block (see `row_group`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q5_0(p: *const u8, a: &ActivationRow<'_>, b: usize, acc: &mut __m256) {
    // SAFETY: the block is whole: f16 scale, 32 fifth bits, 16 bytes of nibbles.
    unsafe {
        let high = p.add(2).cast::<u32>().read_unaligned();
        let v = nibbles(p.add(6));
        // Value i is nibble + 16 · bit i - 16: subtract 16 where the bit is clear.
        let w = _mm256_mask_sub_epi8(v, !high, v, _mm256_set1_epi8(16));
        signed_block(w, a, b, f16_at(p), acc);
    }
}

/// Accumulates one Q8_0 block (see `row_group`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q8_0(p: *const u8, a: &ActivationRow<'_>, b: usize, acc: &mut __m256) {
    // SAFETY: the block is whole: f16 scale, then 32 signed bytes.
    unsafe {
        let w = _mm256_loadu_si256(p.add(2).cast());
        signed_block(w, a, b, f16_at(p), acc);
    }
}

/// Accumulates one Q4_K block (see `row_group`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_k(p: *const u8, a: &ActivationRow<'_>, b: usize, acc: &mut __m256, mins: &mut __m512) {
    // SAFETY: the block is whole: d, dmin, 12 bytes of 6-bit scales and
    // minimums, 128 bytes of nibbles; `a` covers super-block b.
    unsafe {
        let (d, dmin) = (f16_at(p), f16_at(p.add(2)));
        let (scales, min) = scales_mins_k4(p.add(4));
        let q = a.q.as_ptr().add(256 * b);
        let low = _mm256_set1_epi8(0x0F);
        let mut dots = _mm256_setzero_si256();
        // Chunk c holds sub-blocks 2c (low nibbles) and 2c + 1 (high).
        for c in 0..4 {
            let x = _mm256_loadu_si256(p.add(16 + 32 * c).cast());
            let halves = [
                _mm256_and_si256(x, low),
                _mm256_and_si256(_mm256_srli_epi16::<4>(x), low),
            ];
            for (h, u) in halves.into_iter().enumerate() {
                let s = 2 * c + h;
                let av = _mm256_loadu_si256(q.add(32 * s).cast());
                let scale = _mm256_set1_epi16(((scales >> (8 * s)) & 0xFF) as i16);
                dots = _mm256_dpwssd_epi32(dots, _mm256_maddubs_epi16(u, av), scale);
            }
        }
        let da = *a.d.get_unchecked(b);
        *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_set1_ps(d * da), *acc);
        // Sub-block s's minimum applies to the activation sums 2s and 2s + 1.
        let m = _mm_cvtsi64_si128(min as i64);
        let per_group = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(m, m)));
        let sums = _mm512_loadu_ps(a.sums.as_ptr().add(16 * b));
        *mins = _mm512_fnmadd_ps(_mm512_mul_ps(per_group, _mm512_set1_ps(dmin)), sums, *mins);
    }
}

/// Q4_K's eight 6-bit scales and eight 6-bit minimums from their 12 bytes
/// at `p`, one per byte (sub-block s in byte s): the first four of each
/// sit in the low six bits of bytes 0–3 (scales) and 4–7 (minimums); the
/// last four in the nibbles of bytes 8–11, with their top two bits in the
/// top bits of bytes 0–3 (scales) and 4–7 (minimums).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn scales_mins_k4(p: *const u8) -> (u64, u64) {
    // SAFETY: the caller points at 12 readable bytes.
    let [w0, w1, w2] = unsafe { [0, 4, 8].map(|at| p.add(at).cast::<u32>().read_unaligned()) };
    let six = 0x3F3F_3F3F;
    let (nibble, top) = (0x0F0F_0F0F, 0x0303_0303);
    let scales_hi = (w2 & nibble) | (((w0 >> 6) & top) << 4);
    let mins_hi = ((w2 >> 4) & nibble) | (((w1 >> 6) & top) << 4);
    (
        (w0 & six) as u64 | (scales_hi as u64) << 32,
        (w1 & six) as u64 | (mins_hi as u64) << 32,
    )
}

/// Accumulates one Q6_K block (see `row_group`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q6_k(p: *const u8, a: &ActivationRow<'_>, b: usize, acc: &mut __m256, mins: &mut __m512) {
    // SAFETY: the block is whole: 128 bytes of low nibbles, 64 of top
    // bit pairs, 16 signed group scales, the f16 d; `a` covers
    // super-block b.
    unsafe {
        let d = f16_at(p.add(208));
        let scales = _mm_loadu_si128(p.add(192).cast());
        let scales16 = _mm256_cvtepi8_epi16(scales);
        let q = a.q.as_ptr().add(256 * b);
        let (low, top) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
        let mut dots = _mm256_setzero_si256();
        for half in 0..2 {
            let ql0 = _mm256_loadu_si256(p.add(64 * half).cast());
            let ql1 = _mm256_loadu_si256(p.add(64 * half + 32).cast());
            let qh = _mm256_loadu_si256(p.add(128 + 32 * half).cast());
            // Quarter t's top two bits are bits 2t, 2t+1 of qh, moved to bits 4, 5.
            let quarters = [
                (_mm256_and_si256(ql0, low), _mm256_slli_epi16::<4>(qh)),
                (_mm256_and_si256(ql1, low), _mm256_slli_epi16::<2>(qh)),
                (_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low), qh),
                (
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low),
                    _mm256_srli_epi16::<2>(qh),
                ),
            ];
            for (t, (l, h)) in quarters.into_iter().enumerate() {
                let u = _mm256_or_si256(l, _mm256_and_si256(h, top));
                let at = 128 * half + 32 * t;
                let av = _mm256_loadu_si256(q.add(at).cast());
                // Pairs 0–7 are group at / 16, pairs 8–15 the next group.
                let g = (at / 16) as i16;
                let pick = _mm256_setr_epi16(
                    g,
                    g,
                    g,
                    g,
                    g,
                    g,
                    g,
                    g,
                    g + 1,
                    g + 1,
                    g + 1,
                    g + 1,
                    g + 1,
                    g + 1,
                    g + 1,
                    g + 1,
                );
                let scale = _mm256_permutexvar_epi16(pick, scales16);
                dots = _mm256_dpwssd_epi32(dots, _mm256_maddubs_epi16(u, av), scale);
            }
        }
        let da = *a.d.get_unchecked(b);
        *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_set1_ps(d * da), *acc);
        // Values are stored plus 32: subtract 32 · d · scale_g per
        // activation group sum.
        let per_group = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(scales));
        let sums = _mm512_loadu_ps(a.sums.as_ptr().add(16 * b));
        *mins = _mm512_fnmadd_ps(
            _mm512_mul_ps(per_group, _mm512_set1_ps(32.0 * d)),
            sums,
            *mins,
        );
    }
}
