//! The 32-value block formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0: their byte
//! layout, dequantization, the reference quantizers (rounding exactly as
//! ggml does, so files we write match llama.cpp's), and unpacking into the
//! integer form the dot kernels take.
//!
//! Layouts (little-endian, `d` and `m` are f16):
//! - Q4_0 `d, qs[16]`: value i < 16 is the low nibble of `qs[i]`, value
//!   i + 16 its high nibble; x = d·(q − 8).
//! - Q4_1 `d, m, qs[16]`: as Q4_0; x = d·q + m.
//! - Q5_0 `d, qh[4], qs[16]`: as Q4_0 plus a fifth bit, bit i of the u32
//!   `qh` for value i; x = d·(q − 16).
//! - Q5_1 `d, m, qh[4], qs[16]`: x = d·q + m.
//! - Q8_0 `d, qs[32]` (i8): x = d·q.

use super::panel::PanelRow;
use crate::dtype::DType;
use half::f16;

/// Values per block.
pub(crate) const QK: usize = 32;

pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// The 4-bit values of `qs[16]`: low nibbles first, then high nibbles.
#[inline(always)]
fn nibbles(qs: &[u8]) -> [u8; QK] {
    let mut u = [0u8; QK];
    let (lo, hi) = u.split_at_mut(QK / 2);
    for ((l, h), &b) in lo.iter_mut().zip(hi.iter_mut()).zip(&qs[..QK / 2]) {
        *l = b & 0x0F;
        *h = b >> 4;
    }
    u
}

/// The 5-bit values of `qh[4], qs[16]`.
#[inline(always)]
fn five_bit(qh: &[u8], qs: &[u8]) -> [u8; QK] {
    let mut u = nibbles(qs);
    let high = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    for (i, v) in u.iter_mut().enumerate() {
        *v |= (((high >> i) & 1) as u8) << 4;
    }
    u
}

/// The unsigned values of one block (for Q8_0, the i8 bytes as they are).
#[inline(always)]
fn values(dtype: DType, block: &[u8]) -> [u8; QK] {
    match dtype {
        DType::Q4_0 => nibbles(&block[2..]),
        DType::Q4_1 => nibbles(&block[4..]),
        DType::Q5_0 => five_bit(&block[2..6], &block[6..]),
        DType::Q5_1 => five_bit(&block[4..8], &block[8..]),
        _ => {
            let mut u = [0u8; QK];
            u.copy_from_slice(&block[2..2 + QK]);
            u
        }
    }
}

/// Dequantizes whole blocks; `dtype` is one of this file's formats and the
/// lengths match (checked by the caller).
pub(crate) fn dequantize(dtype: DType, src: &[u8], dst: &mut [f32]) {
    for (block, out) in src
        .chunks_exact(dtype.block_bytes())
        .zip(dst.chunks_exact_mut(QK))
    {
        let u = values(dtype, block);
        let d = f16_at(block, 0);
        match dtype {
            DType::Q4_0 | DType::Q5_0 => {
                let offset = if dtype == DType::Q4_0 { 8 } else { 16 };
                for (o, &q) in out.iter_mut().zip(&u) {
                    *o = d * (q as i32 - offset) as f32;
                }
            }
            DType::Q4_1 | DType::Q5_1 => {
                let m = f16_at(block, 2);
                for (o, &q) in out.iter_mut().zip(&u) {
                    *o = d * q as f32 + m;
                }
            }
            _ => {
                for (o, &q) in out.iter_mut().zip(&u) {
                    *o = q as i8 as f32 * d;
                }
            }
        }
    }
}

/// Unpacks one block for the dot kernels: `u` gets the unsigned values
/// (Q8_0: the signed bytes), and the block's value is
/// `d·u + min` with `min` per unit of activation sum (see `panel`).
#[inline(always)]
pub(crate) fn unpack(dtype: DType, block: &[u8], row: PanelRow<'_>, b: usize) {
    row.u[b * QK..(b + 1) * QK].copy_from_slice(&values(dtype, block));
    let d = f16_at(block, 0);
    row.d[b] = d;
    row.min[b] = match dtype {
        DType::Q4_0 => -8.0 * d,
        DType::Q5_0 => -16.0 * d,
        DType::Q4_1 | DType::Q5_1 => f16_at(block, 2),
        _ => 0.0,
    };
}

/// The block's element of largest magnitude, with its sign (the first one
/// on ties), as ggml's reference quantizers pick it.
fn signed_absmax(x: &[f32]) -> f32 {
    let mut best = 0.0f32;
    for &v in x {
        if v.abs() > best.abs() {
            best = v;
        }
    }
    best
}

fn reciprocal_or_zero(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// Packs 32 values below 32 as `qs[16]` (low 4 bits) and, when `qh` is
/// given, their fifth bits.
fn pack(q: &[u8; QK], qs: &mut [u8], qh: Option<&mut [u8]>) {
    for i in 0..QK / 2 {
        qs[i] = (q[i] & 0x0F) | (q[i + QK / 2] << 4);
    }
    if let Some(qh) = qh {
        let bits = q
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &v)| acc | (((v >> 4) as u32) << i));
        qh.copy_from_slice(&bits.to_le_bytes());
    }
}

/// Quantizes whole blocks with ggml's reference rounding; `dtype` is one of
/// this file's formats and the lengths match (checked by the caller).
pub(crate) fn quantize(dtype: DType, src: &[f32], dst: &mut [u8]) {
    for (x, block) in src
        .chunks_exact(QK)
        .zip(dst.chunks_exact_mut(dtype.block_bytes()))
    {
        let mut q = [0u8; QK];
        match dtype {
            DType::Q4_0 | DType::Q5_0 => {
                let levels = if dtype == DType::Q4_0 { 8.0f32 } else { 16.0 };
                let d = signed_absmax(x) / -levels;
                let id = reciprocal_or_zero(d);
                for (q, &v) in q.iter_mut().zip(x) {
                    *q = ((v * id + (levels + 0.5)).trunc() as u8).min(2 * levels as u8 - 1);
                }
                block[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                if dtype == DType::Q4_0 {
                    pack(&q, &mut block[2..], None);
                } else {
                    let (qh, qs) = block[2..].split_at_mut(4);
                    pack(&q, qs, Some(qh));
                }
            }
            DType::Q4_1 | DType::Q5_1 => {
                let levels = if dtype == DType::Q4_1 { 15.0f32 } else { 31.0 };
                let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let min = x.iter().copied().fold(f32::INFINITY, f32::min);
                let d = (max - min) / levels;
                let id = reciprocal_or_zero(d);
                for (q, &v) in q.iter_mut().zip(x) {
                    *q = (((v - min) * id + 0.5).trunc() as u8).min(levels as u8);
                }
                block[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                block[2..4].copy_from_slice(&f16::from_f32(min).to_le_bytes());
                if dtype == DType::Q4_1 {
                    pack(&q, &mut block[4..], None);
                } else {
                    let (qh, qs) = block[4..].split_at_mut(4);
                    pack(&q, qs, Some(qh));
                }
            }
            _ => {
                let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = reciprocal_or_zero(d);
                block[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                for (b, &v) in block[2..].iter_mut().zip(x) {
                    *b = (v * id).round() as i8 as u8;
                }
            }
        }
    }
}
