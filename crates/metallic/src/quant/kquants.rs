//! The 256-value "K" block formats Q2_K … Q6_K and Q8_K: their byte layout,
//! dequantization, unpacking into the integer form the dot kernels take, and
//! the Q8_K quantizer.
//!
//! Every K format is a super-block of 256 values in sixteen groups of 16
//! (Q4_K and Q5_K scale groups of 32, i.e. pairs of groups), with an f16
//! super-block scale `d` (and `dmin` where groups have minimums):
//! - Q2_K `scales[16], qs[64], d, dmin`: q is 2 bits; group scale/min are
//!   the low/high nibble of `scales[g]`; x = d·sc·q − dmin·m.
//! - Q3_K `hmask[32], qs[64], scales[12], d`: q is 2 low bits plus a high
//!   bit from `hmask`; 6-bit signed scales (stored + 32); x = d·sc·(q − 4).
//! - Q4_K `d, dmin, scales[12], qs[128]`: 4-bit q; eight 6-bit scales and
//!   mins packed in 12 bytes; x = d·sc·q − dmin·m.
//! - Q5_K `d, dmin, scales[12], qh[32], qs[128]`: as Q4_K plus a fifth bit.
//! - Q6_K `ql[128], qh[64], scales[16] (i8), d`: 6-bit q; x = d·sc·(q − 32).
//! - Q8_K `d (f32), qs[256] (i8), bsums[16] (i16)`: x = d·q; `bsums` are
//!   the group sums of q (an activation format).
//!
//! Within each half of 128 values, the 2-bit fields of a byte (Q2_K, Q3_K)
//! belong to values 32 apart, as do the nibbles of a Q4_K/Q5_K byte within
//! 64 values.

use super::legacy::f16_at;
use super::panel::PanelRow;
use crate::dtype::DType;

/// Values per super-block.
pub(crate) const QK_K: usize = 256;
/// Values per scale group.
pub(crate) const GROUP: usize = 16;
const GROUPS: usize = QK_K / GROUP;

/// One super-block as unsigned values with per-group integer scales:
/// x = d·scale[g]·u + min[g].
struct Decoded {
    u: [u8; QK_K],
    d: f32,
    scale: [i16; GROUPS],
    min: [f32; GROUPS],
}

/// Q4_K/Q5_K's packed scale and min of 32-value group `j` (0..8).
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q3_K's 6-bit scale of group `g` (0..16), stored with a +32 bias.
#[inline(always)]
fn scale_q3k(g: usize, s: &[u8]) -> i16 {
    let low = if g < 8 { s[g] & 0x0F } else { s[g - 8] >> 4 };
    let high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
    (low | (high << 4)) as i16 - 32
}

/// Q2_K/Q3_K's 2-bit fields: in each half of 128 values, byte l of its 32
/// holds values l, l + 32, l + 64, l + 96 (written in this order so the
/// loops vectorize).
#[inline(always)]
fn two_bits(qs: &[u8], u: &mut [u8; QK_K]) {
    for (half, qs) in qs.chunks_exact(32).enumerate() {
        for shift in 0..4 {
            let out = &mut u[128 * half + 32 * shift..][..32];
            for (o, &b) in out.iter_mut().zip(qs) {
                *o = (b >> (2 * shift)) & 3;
            }
        }
    }
}

/// Q4_K/Q5_K's nibbles: in each run of 64 values, byte l of its 32 holds
/// value l (low nibble) and l + 32 (high).
#[inline(always)]
fn nibbles(qs: &[u8], u: &mut [u8; QK_K]) {
    for (chunk, qs) in qs.chunks_exact(32).enumerate() {
        let (lo, hi) = u[64 * chunk..64 * chunk + 64].split_at_mut(32);
        for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(qs) {
            *l = b & 0x0F;
            *h = b >> 4;
        }
    }
}

/// Adds one high bit per value: bit t of `bits[l]` belongs to value
/// 32·t + l, and lands at bit `at`.
#[inline(always)]
fn high_bits(bits: &[u8], at: u32, u: &mut [u8; QK_K]) {
    for (t, out) in u.chunks_exact_mut(32).enumerate() {
        for (o, &b) in out.iter_mut().zip(bits) {
            *o |= ((b >> t) & 1) << at;
        }
    }
}

#[inline(always)]
fn decode(dtype: DType, b: &[u8]) -> Decoded {
    let mut out = Decoded {
        u: [0; QK_K],
        d: 0.0,
        scale: [0; GROUPS],
        min: [0.0; GROUPS],
    };
    match dtype {
        DType::Q2_K => {
            let (scales, qs) = (&b[..16], &b[16..80]);
            let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
            two_bits(qs, &mut out.u);
            out.d = d;
            for ((scale, min), &s) in out.scale.iter_mut().zip(&mut out.min).zip(scales) {
                *scale = (s & 0x0F) as i16;
                *min = -(dmin * (s >> 4) as f32);
            }
        }
        DType::Q3_K => {
            let (hmask, qs, scales) = (&b[..32], &b[32..96], &b[96..108]);
            let d = f16_at(b, 108);
            two_bits(qs, &mut out.u);
            high_bits(hmask, 2, &mut out.u);
            out.d = d;
            for g in 0..GROUPS {
                out.scale[g] = scale_q3k(g, scales);
                out.min[g] = -4.0 * d * out.scale[g] as f32;
            }
        }
        DType::Q4_K | DType::Q5_K => {
            let (d, dmin, scales) = (f16_at(b, 0), f16_at(b, 2), &b[4..16]);
            if dtype == DType::Q4_K {
                nibbles(&b[16..144], &mut out.u);
            } else {
                nibbles(&b[48..176], &mut out.u);
                high_bits(&b[16..48], 4, &mut out.u);
            }
            out.d = d;
            for g in 0..GROUPS {
                let (sc, m) = scale_min_k4(g / 2, scales);
                out.scale[g] = sc as i16;
                out.min[g] = -(dmin * m as f32);
            }
        }
        _ => {
            let (ql, qh, scales) = (&b[..128], &b[128..192], &b[192..208]);
            let d = f16_at(b, 208);
            // In each half of 128 values, quarter t (32 values) takes its low
            // nibbles from ql[32·(t mod 2)..] (low nibble for t < 2, high
            // for t ≥ 2) and its top 2 bits from bits 2t of qh[..32].
            for half in 0..2 {
                let (ql, qh) = (
                    &ql[64 * half..64 * half + 64],
                    &qh[32 * half..32 * half + 32],
                );
                for t in 0..4 {
                    let low = &ql[32 * (t & 1)..][..32];
                    let out = &mut out.u[128 * half + 32 * t..][..32];
                    for ((o, &l), &h) in out.iter_mut().zip(low).zip(qh) {
                        *o = ((l >> (4 * (t >> 1))) & 0x0F) | (((h >> (2 * t)) & 3) << 4);
                    }
                }
            }
            out.d = d;
            for ((scale, min), &s) in out.scale.iter_mut().zip(&mut out.min).zip(scales) {
                *scale = s as i8 as i16;
                *min = -32.0 * d * *scale as f32;
            }
        }
    }
    out
}

/// Dequantizes whole super-blocks of Q2_K … Q6_K (checked by the caller),
/// in the arithmetic order of ggml's reference: (d·scale)·q − dmin·m.
pub(crate) fn dequantize(dtype: DType, src: &[u8], dst: &mut [f32]) {
    for (block, out) in src
        .chunks_exact(dtype.block_bytes())
        .zip(dst.chunks_exact_mut(QK_K))
    {
        if dtype == DType::Q8_K {
            let d = f32::from_le_bytes([block[0], block[1], block[2], block[3]]);
            for (o, &q) in out.iter_mut().zip(&block[4..4 + QK_K]) {
                *o = d * q as i8 as f32;
            }
            continue;
        }
        let s = decode(dtype, block);
        for (g, (out, u)) in out
            .chunks_exact_mut(GROUP)
            .zip(s.u.chunks_exact(GROUP))
            .enumerate()
        {
            let dl = s.d * s.scale[g] as f32;
            match dtype {
                DType::Q3_K => {
                    for (o, &q) in out.iter_mut().zip(u) {
                        *o = dl * (q as i32 - 4) as f32;
                    }
                }
                DType::Q6_K => {
                    for (o, &q) in out.iter_mut().zip(u) {
                        *o = dl * (q as i32 - 32) as f32;
                    }
                }
                _ => {
                    let ml = -s.min[g];
                    for (o, &q) in out.iter_mut().zip(u) {
                        *o = dl * q as f32 - ml;
                    }
                }
            }
        }
    }
}

/// Unpacks super-block `b` of a weight row for the dot kernels (see `panel`).
#[inline(always)]
pub(crate) fn unpack(dtype: DType, block: &[u8], row: PanelRow<'_>, b: usize) {
    let s = decode(dtype, block);
    row.u[b * QK_K..(b + 1) * QK_K].copy_from_slice(&s.u);
    row.d[b] = s.d;
    row.min[b * GROUPS..(b + 1) * GROUPS].copy_from_slice(&s.min);
    // Per 32-value chunk, 16 lanes: the chunk's first group's scale eight
    // times, then its second's, matching the lanes of a pairwise u8×i8 sum.
    let sv = &mut row.scales[b * QK_K / 2..][..QK_K / 2];
    for (c, lanes) in sv.chunks_exact_mut(GROUP).enumerate() {
        lanes[..8].fill(s.scale[2 * c]);
        lanes[8..].fill(s.scale[2 * c + 1]);
    }
}

/// Quantizes whole super-blocks to Q8_K: symmetric, 127 levels each side.
pub(crate) fn quantize_q8k(src: &[f32], dst: &mut [u8]) {
    for (x, block) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(DType::Q8_K.block_bytes()))
    {
        let mut q = [0i8; QK_K];
        let d = super::activation::quantize_i8(x, &mut q);
        block[..4].copy_from_slice(&d.to_le_bytes());
        for (b, &v) in block[4..4 + QK_K].iter_mut().zip(&q) {
            *b = v as u8;
        }
        for (g, sum) in q.chunks_exact(GROUP).enumerate() {
            let s: i16 = sum.iter().map(|&v| v as i16).sum();
            block[4 + QK_K + 2 * g..][..2].copy_from_slice(&s.to_le_bytes());
        }
    }
}
