//! AVX2 unpacking of the default model's weight formats (Q4_0, Q5_0, Q8_0,
//! Q4_K, Q6_K) into a panel: the same values `panel`'s portable unpacking
//! writes, an order of magnitude faster, which is what a one-token product
//! (each weight used once) needs. Used by the AVX2 and AVX-512 kernels alike
//! (AVX-512 only changes how Q5_0's fifth bits are spread).

use crate::dtype::DType;
use crate::quant::panel::PanelRow;
use std::arch::x86_64::*;

/// Whether `unpack_row` handles this format.
pub(crate) fn handles(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 | DType::Q4_K | DType::Q6_K
    )
}

/// Unpacks one weight row of `k = out.u.len()` values.
///
/// # Safety
/// The CPU supports AVX2, FMA and F16C; `handles(dtype)`; `row` holds
/// exactly the row's blocks and `out` is sized for it as `Panel` sizes rows.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn unpack_row(dtype: DType, row: &[u8], out: PanelRow<'_>) {
    unpack_row_with::<false>(dtype, row, out)
}

/// `unpack_row` with AVX-512's byte masks for Q5_0's fifth bits.
///
/// # Safety
/// As for `unpack_row`, and the CPU supports AVX-512 F, BW and VL.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn unpack_row_avx512(dtype: DType, row: &[u8], out: PanelRow<'_>) {
    unpack_row_with::<true>(dtype, row, out)
}

/// The body of both, compiled inside each (always inlined).
#[inline(always)]
unsafe fn unpack_row_with<const AVX512: bool>(dtype: DType, row: &[u8], out: PanelRow<'_>) {
    let k = out.u.len();
    let blocks = row.chunks_exact(dtype.block_bytes());
    debug_assert_eq!(blocks.len() * dtype.block_size(), k);
    // SAFETY (every pointer below): block b's bytes are `block`, and its
    // outputs lie at b · (values, scales, mins per block) inside `out`,
    // whose lengths `Panel` derives from k.
    match dtype {
        DType::Q4_0 | DType::Q5_0 => {
            let five = dtype == DType::Q5_0;
            for (b, block) in blocks.enumerate() {
                let d = f16(block, 0);
                let qs = if five { 6 } else { 2 };
                let mut v = nibbles16(_mm_loadu_si128(block.as_ptr().add(qs).cast()));
                if five {
                    let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                    v = if AVX512 {
                        add_fifth_bits_avx512(v, qh)
                    } else {
                        let fifth = _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(0x10));
                        _mm256_or_si256(v, fifth)
                    };
                }
                _mm256_storeu_si256(out.u.as_mut_ptr().add(32 * b).cast(), v);
                out.d[b] = d;
                out.min[b] = if five { -16.0 * d } else { -8.0 * d };
            }
        }
        DType::Q8_0 => {
            for (b, block) in blocks.enumerate() {
                let v = _mm256_loadu_si256(block.as_ptr().add(2).cast());
                _mm256_storeu_si256(out.u.as_mut_ptr().add(32 * b).cast(), v);
                out.d[b] = f16(block, 0);
                out.min[b] = 0.0;
            }
        }
        DType::Q4_K => {
            for (b, block) in blocks.enumerate() {
                let (d, dmin) = (f16(block, 0), f16(block, 2));
                let low = _mm256_set1_epi8(0x0F);
                for j in 0..4 {
                    let q = _mm256_loadu_si256(block.as_ptr().add(16 + 32 * j).cast());
                    let u = out.u.as_mut_ptr().add(256 * b + 64 * j);
                    _mm256_storeu_si256(u.cast(), _mm256_and_si256(q, low));
                    _mm256_storeu_si256(
                        u.add(32).cast(),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q), low),
                    );
                }
                out.d[b] = d;
                let s = &block[4..16];
                for c in 0..8 {
                    let (sc, m) = super::super::kquants::scale_min_k4(c, s);
                    _mm256_storeu_si256(
                        out.scales.as_mut_ptr().add(128 * b + 16 * c).cast(),
                        _mm256_set1_epi16(sc as i16),
                    );
                    let min = -(dmin * m as f32);
                    out.min[16 * b + 2 * c] = min;
                    out.min[16 * b + 2 * c + 1] = min;
                }
            }
        }
        _ => {
            for (b, block) in blocks.enumerate() {
                let p = block.as_ptr();
                let d = f16(block, 208);
                let (low, top) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
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
                        let v = _mm256_or_si256(l, _mm256_and_si256(h, top));
                        _mm256_storeu_si256(
                            out.u.as_mut_ptr().add(256 * b + 128 * half + 32 * t).cast(),
                            v,
                        );
                    }
                }
                out.d[b] = d;
                let sc = &block[192..208];
                for c in 0..8 {
                    let pair = _mm256_set_m128i(
                        _mm_set1_epi16(sc[2 * c + 1] as i8 as i16),
                        _mm_set1_epi16(sc[2 * c] as i8 as i16),
                    );
                    _mm256_storeu_si256(out.scales.as_mut_ptr().add(128 * b + 16 * c).cast(), pair);
                }
                let factor = _mm256_set1_ps(-32.0 * d);
                for half in 0..2 {
                    let s8 = _mm_loadl_epi64(sc.as_ptr().add(8 * half).cast());
                    let s = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8));
                    _mm256_storeu_ps(
                        out.min.as_mut_ptr().add(16 * b + 8 * half),
                        _mm256_mul_ps(s, factor),
                    );
                }
            }
        }
    }
}

/// The f16 at byte `at`, converted by F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16(block: &[u8], at: usize) -> f32 {
    let h = u16::from_le_bytes([block[at], block[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
}

/// 16 bytes of nibbles → 32 values: low nibbles, then high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles16(qs: __m128i) -> __m256i {
    let low = _mm_set1_epi8(0x0F);
    _mm256_set_m128i(
        _mm_and_si128(_mm_srli_epi16::<4>(qs), low),
        _mm_and_si128(qs, low),
    )
}

/// Adds 16 to byte i of `v` where bit i of `bits` is set: one masked add.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn add_fifth_bits_avx512(v: __m256i, bits: u32) -> __m256i {
    _mm256_mask_add_epi8(v, bits, v, _mm256_set1_epi8(0x10))
}

/// Byte i is 0xFF where bit i of `bits` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_from_bits(bits: u32) -> __m256i {
    // Byte i takes the source byte holding bit i (i / 8).
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
            3, 3, 3,
        ),
    );
    // Set every bit but bit i % 8; the byte is all ones iff that bit was set.
    let others = _mm256_set1_epi64x(0x7FBF_DFEF_F7FB_FDFE_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi8(-1))
}
