//! Quantized B (GGUF weights): B is column-major, n rows of k values in
//! blocks, and the product runs in the quantized kernels
//! (`quant::matmul_quantized`), which read the blocks directly. This file
//! only maps the problem onto them: row-major A and C, one call per batch
//! matrix, f16/bf16 activations staged through f32, weight rows sliced
//! along k gathered into packed rows.

use super::args::elements;
use super::validate::check_operand;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{GemmProblem, Operand};
use crate::quant::{matmul_quantized, QuantizedProduct};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

pub(super) fn run(p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()> {
    let w_type = p.b.dtype;
    let (block, block_bytes) = (w_type.block_size(), w_type.block_bytes());
    let dtype = p.c.dtype;
    if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) || p.a.dtype != dtype {
        return Err(Error::Unsupported(format!(
            "quantized B needs A and C of one float type, got A {} and C {dtype}",
            p.a.dtype
        )));
    }
    for (name, operand) in [("a", &p.a), ("c", &p.c)] {
        if !operand.row_major {
            return Err(Error::Unsupported(format!(
                "quantized B needs row-major A and C, but `{name}` is column-major"
            )));
        }
    }
    // B column-major in whole blocks: the problem checks it with the rest.
    check_operand(p, Operand::A, a)?;
    check_operand(p, Operand::B, b)?;
    check_operand(p, Operand::C, c)?;
    if p.is_empty() {
        return Ok(());
    }
    let (row_bytes, ld_bytes) = (p.k / block * block_bytes, p.b.ld / block * block_bytes);
    let mut packed = Vec::new();
    for batch in 0..p.batch_count() {
        let start = p.batch_offset(&p.b, batch) / block * block_bytes;
        let w = weight_rows(b, start, p.n, row_bytes, ld_bytes, &mut packed);
        let (a_offset, c_offset) = (p.batch_offset(&p.a, batch), p.batch_offset(&p.c, batch));
        match dtype {
            DType::F16 => staged::<f16>(
                p,
                w,
                &elements(a)[a_offset..],
                &mut typed_mut(c)[c_offset..],
            )?,
            DType::BF16 => staged::<bf16>(
                p,
                w,
                &elements(a)[a_offset..],
                &mut typed_mut(c)[c_offset..],
            )?,
            _ => matmul_quantized(
                &QuantizedProduct {
                    w_type,
                    w,
                    n: p.n,
                    k: p.k,
                    a: &elements(a)[a_offset..],
                    lda: p.a.ld,
                    m: p.m,
                    ldc: p.c.ld,
                    alpha: p.alpha,
                    beta: p.beta,
                },
                &mut typed_mut(c)[c_offset..],
            )?,
        }
    }
    Ok(())
}

/// The `n` weight rows starting at byte `start`: the buffer itself when
/// rows are packed, else (rows sliced along k) their blocks copied
/// together into `packed`, still quantized, since the kernels take packed
/// rows.
fn weight_rows<'a>(
    b: &'a [u8],
    start: usize,
    n: usize,
    row_bytes: usize,
    ld_bytes: usize,
    packed: &'a mut Vec<u8>,
) -> &'a [u8] {
    if row_bytes == ld_bytes {
        return &b[start..start + n * row_bytes];
    }
    packed.clear();
    for row in 0..n {
        let from = start + row * ld_bytes;
        packed.extend_from_slice(&b[from..from + row_bytes]);
    }
    packed
}

/// The output buffer as elements (alignment was validated).
fn typed_mut<E: bytemuck::Pod>(bytes: &mut [u8]) -> &mut [E] {
    let whole = bytes.len() / size_of::<E>() * size_of::<E>();
    bytemuck::cast_slice_mut(&mut bytes[..whole])
}

/// One batch matrix with half-precision A and C: widened to packed f32
/// (sizes already bounded by the validated buffers), then rounded back.
fn staged<T>(p: &GemmProblem, w: &[u8], a: &[T], c: &mut [T]) -> Result<()>
where
    [T]: HalfFloatSliceExt,
{
    let (m, n, k) = (p.m, p.n, p.k);
    let mut a32 = vec![0.0f32; m * k];
    for (i, row) in a32.chunks_exact_mut(k).enumerate() {
        a[i * p.a.ld..i * p.a.ld + k].convert_to_f32_slice(row);
    }
    let mut c32 = vec![0.0f32; m * n];
    if p.beta != 0.0 {
        for (i, row) in c32.chunks_exact_mut(n).enumerate() {
            c[i * p.c.ld..i * p.c.ld + n].convert_to_f32_slice(row);
        }
    }
    let product = QuantizedProduct {
        w_type: p.b.dtype,
        w,
        n,
        k,
        a: &a32,
        lda: k,
        m,
        ldc: n,
        alpha: p.alpha,
        beta: p.beta,
    };
    matmul_quantized(&product, &mut c32)?;
    for (i, row) in c32.chunks_exact(n).enumerate() {
        c[i * p.c.ld..i * p.c.ld + n].convert_from_f32_slice(row);
    }
    Ok(())
}
