//! Running one case on one target: random inputs (never zero) made on the
//! host, rounded to their dtype and moved to the device; outputs poisoned
//! first, so an element left unwritten fails; the result read back and
//! compared with the float64 reference under the case's tolerance.

use super::cases::{Layout, Op, Product};
use crate::reference;
use half::f16;
use metallic::ops::{AttentionInput, KvShape};
use metallic::quant::quantize;
use metallic::testing::{check_close, random_vec, Tolerance, POISON};
use metallic::{Context, DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::Rng;

type Outcome = Result<(), String>;

fn err(e: metallic::Error) -> String {
    e.to_string()
}

fn f64s(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// A view `view` of a random backing buffer of `backing` values of `dtype`,
/// on `device`, with its values as the device sees them.
fn input(
    device: &Device,
    r: &mut StdRng,
    dtype: DType,
    backing: &[usize],
    view: impl FnOnce(Tensor) -> metallic::Result<Tensor>,
) -> Result<(Tensor, Vec<f64>), String> {
    let (on_device, host) = host_input(device, r, dtype, backing, view)?;
    Ok((on_device, f64s(&host.to_f32_vec().map_err(err)?)))
}

/// `input`, with the host view instead of its values (for operands too
/// large to hold as f64 twice over).
fn host_input(
    device: &Device,
    r: &mut StdRng,
    dtype: DType,
    backing: &[usize],
    view: impl FnOnce(Tensor) -> metallic::Result<Tensor>,
) -> Result<(Tensor, Tensor), String> {
    let host = if dtype.is_quantized() {
        random_blocks(r, dtype, backing)?
    } else {
        let t = Tensor::empty(&Device::Cpu, dtype, backing).map_err(err)?;
        t.write_f32(&random_vec(r, backing.iter().product()))
            .map_err(err)?;
        t
    };
    let host = view(host).map_err(err)?;
    Ok((host.to_device(device).map_err(err)?, host))
}

/// A poisoned f32 output viewed by `view`, on `device`.
fn output(
    device: &Device,
    backing: &[usize],
    view: impl FnOnce(Tensor) -> metallic::Result<Tensor>,
) -> Result<Tensor, String> {
    typed_output(device, DType::F32, backing, view)
}

/// A poisoned output of a float `dtype` viewed by `view`, on `device`.
fn typed_output(
    device: &Device,
    dtype: DType,
    backing: &[usize],
    view: impl FnOnce(Tensor) -> metallic::Result<Tensor>,
) -> Result<Tensor, String> {
    let host = Tensor::empty(&Device::Cpu, dtype, backing).map_err(err)?;
    host.write_f32(&vec![POISON; backing.iter().product()])
        .map_err(err)?;
    view(host).map_err(err)?.to_device(device).map_err(err)
}

/// Byte offsets of each block's f16 scales, as GGUF lays the blocks out.
fn f16_scale_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q6_K => &[208],
        _ => &[],
    }
}

/// Random GGUF blocks of `dtype`: quantized from random values where the
/// engine has a quantizer, else random bytes whose f16 scales are small and
/// finite (so every dequantized value is too).
fn random_blocks(r: &mut StdRng, dtype: DType, shape: &[usize]) -> Result<Tensor, String> {
    let n: usize = shape.iter().product();
    let len = dtype.bytes_for(n).ok_or("a shape of partial blocks")?;
    let mut bytes = vec![0u8; len];
    if quantize(dtype, &random_vec(r, n), &mut bytes).is_err() {
        r.fill(&mut bytes[..]);
        for block in bytes.chunks_exact_mut(dtype.block_bytes()) {
            for &at in f16_scale_fields(dtype) {
                let scale = f16::from_f32(r.random_range(0.001..0.02));
                block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
            }
        }
    }
    Tensor::from_bytes(&Device::Cpu, dtype, &bytes, shape).map_err(err)
}

/// `shape` with its last dimension `pad` longer, and the view back to it.
fn padded(
    shape: &[usize],
    layout: Layout,
) -> (Vec<usize>, impl Fn(Tensor) -> metallic::Result<Tensor>) {
    let pad = match layout {
        Layout::Contiguous => 0,
        Layout::Padded(pad) => pad,
    };
    let last = shape.len() - 1;
    let cols = shape[last];
    let mut backing = shape.to_vec();
    backing[last] += pad;
    (backing, move |t: Tensor| t.slice(last, 0..cols))
}

fn compare(out: &Tensor, expected: &[f64], tol: Tolerance) -> Outcome {
    check_close(&out.to_f32_vec().map_err(err)?, expected, tol)
}

/// Runs `op` on `ctx` and compares it with the reference.
pub fn check(ctx: &Context, r: &mut StdRng, op: &Op) -> Outcome {
    let device = ctx.device().clone();
    let d = &device;
    match *op {
        Op::Matmul(ref p) => matmul(ctx, r, p),
        Op::RmsNorm { rows, cols, layout } => {
            let (backing, view) = padded(&[rows, cols], layout);
            let (x, xv) = input(d, r, DType::F32, &backing, view)?;
            let (w, wv) = input(d, r, DType::F32, &[cols], Ok)?;
            let out = output(d, &[rows, cols], Ok)?;
            ctx.rms_norm(&x, &w, 1e-6, &out).map_err(err)?;
            compare(&out, &reference::rms_norm(&xv, &wv, 1e-6), Tolerance::F32)
        }
        Op::AddBias { rows, cols } => {
            let (a, av) = input(d, r, DType::F32, &[rows, cols], Ok)?;
            let (b, bv) = input(d, r, DType::F32, &[cols], Ok)?;
            let out = output(d, &[rows, cols], Ok)?;
            ctx.add(&a, &b, &out).map_err(err)?;
            compare(&out, &reference::add(&av, &bv), Tolerance::F32)
        }
        Op::Add { rows, cols } => {
            let (a, av) = input(d, r, DType::F32, &[rows, cols], Ok)?;
            let (b, bv) = input(d, r, DType::F32, &[rows, cols], Ok)?;
            let out = output(d, &[rows, cols], Ok)?;
            ctx.add(&a, &b, &out).map_err(err)?;
            compare(&out, &reference::add(&av, &bv), Tolerance::F32)
        }
        Op::Swiglu { rows, cols } => {
            let (g, gv) = input(d, r, DType::F32, &[rows, cols], Ok)?;
            let (u, uv) = input(d, r, DType::F32, &[rows, cols], Ok)?;
            let out = output(d, &[rows, cols], Ok)?;
            ctx.swiglu(&g, &u, &out).map_err(err)?;
            compare(&out, &reference::swiglu(&gv, &uv), Tolerance::F32)
        }
        Op::Rope {
            seq,
            heads,
            d: dim,
            start,
        } => {
            let (x, xv) = input(d, r, DType::F32, &[seq, heads, dim], Ok)?;
            let heads_major = output(d, &[heads, seq, dim], Ok)?;
            let out = heads_major.permute(&[1, 0, 2]).map_err(err)?;
            ctx.rope(&x, start, 1e6, &out).map_err(err)?;
            let expected = reference::rope(&xv, heads, dim, start, 1e6);
            compare(&out, &expected, Tolerance::F32)
        }
        Op::Softmax {
            heads,
            queries,
            keys,
            causal,
        } => {
            let shape = [heads, queries, keys];
            let (x, xv) = input(d, r, DType::F32, &shape, Ok)?;
            let out = output(d, &shape, Ok)?;
            ctx.softmax(&x, causal, &out).map_err(err)?;
            let expected = reference::softmax(&xv, keys, queries, causal);
            compare(&out, &expected, Tolerance::F32)
        }
        Op::Copy { seq, heads, d: dim } => {
            let (src, sv) = input(d, r, DType::F32, &[heads, seq, dim], |t| {
                t.permute(&[1, 0, 2])
            })?;
            let out = output(d, &[seq, heads, dim], Ok)?;
            ctx.copy(&src, &out).map_err(err)?;
            compare(&out, &sv, Tolerance::F32)
        }
        Op::Embedding {
            vocab,
            dim,
            dtype,
            ids,
        } => {
            let (table, tv) = input(d, r, dtype, &[vocab, dim], Ok)?;
            let ids: Vec<u32> = (0..ids).map(|_| r.random_range(0..vocab as u32)).collect();
            let out = output(d, &[ids.len(), dim], Ok)?;
            ctx.embedding(&table, &ids, &out).map_err(err)?;
            compare(&out, &reference::embedding(&tv, dim, &ids), Tolerance::F32)
        }
        Op::Attention {
            prefix,
            seq,
            heads,
            kv_heads,
            d: dim,
            capacity,
        } => attention(
            ctx,
            r,
            (prefix, seq),
            KvShape {
                layers: 1,
                heads,
                kv_heads,
                head_dim: dim,
                capacity,
            },
        ),
    }
}

/// The attention op over a fresh cache: `prefix` tokens, then `seq` more,
/// each call's output against the reference over every key and value
/// stored so far (rotated keys, biased values).
fn attention(
    ctx: &Context,
    r: &mut StdRng,
    (prefix, seq): (usize, usize),
    shape: KvShape,
) -> Outcome {
    let d = &ctx.device().clone();
    let KvShape {
        heads,
        kv_heads,
        head_dim: dim,
        capacity,
        ..
    } = shape;
    let base = 1e6;
    let mut cache = ctx.kv_cache(shape).map_err(err)?;
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    let mut start = 0;
    for count in [prefix, seq].into_iter().filter(|&n| n > 0) {
        let (q, qv) = input(d, r, DType::F32, &[count, heads, dim], Ok)?;
        let (k, kv) = input(d, r, DType::F32, &[count, kv_heads, dim], Ok)?;
        let (v, vv) = input(d, r, DType::F32, &[count, kv_heads, dim], Ok)?;
        let (bias, bias_v) = input(d, r, DType::F32, &[kv_heads * dim], Ok)?;
        let out = output(d, &[count, heads, dim], Ok)?;
        let mut step = ctx.step_input(count, 1, capacity).map_err(err)?;
        step.set(&vec![0; count], start).map_err(err)?;
        let input = AttentionInput {
            q: &q,
            k: &k,
            v: &v,
            v_bias: Some(&bias),
            rope_base: base as f32,
        };
        ctx.attention(&input, &mut cache, 0, &step, &out)
            .map_err(err)?;
        keys.extend(reference::rope(&kv, kv_heads, dim, start, base));
        values.extend(reference::add(&vv, &bias_v));
        let q_rotated = reference::rope(&qv, heads, dim, start, base);
        let expected =
            reference::attention(&q_rotated, &keys, &values, (heads, kv_heads, dim), start);
        compare(&out, &expected, Tolerance::F32)
            .map_err(|m| format!("{count} tokens after {start}: {m}"))?;
        start += count;
    }
    Ok(())
}

/// The tolerance for a float dtype's outputs of a K-long sum. Rounding in
/// the accumulation grows like a random walk, so the absolute part scales
/// with sqrt(K / 64) past 64 terms (the base tolerances' scale); near-zero
/// outputs of long sums need it, and any indexing error is orders larger.
fn sum_tolerance(dtype: DType, k: usize) -> Tolerance {
    let base = match dtype {
        DType::F16 => Tolerance::F16,
        DType::BF16 => Tolerance::BF16,
        _ => Tolerance::F32,
    };
    let growth = (k.max(64) as f64 / 64.0).sqrt();
    Tolerance::new(base.atol * growth, base.rtol)
}

/// For quantized weights, backends may quantize the activations to 8 bits
/// (as llama.cpp does): the sum's tolerance plus six standard deviations of
/// that rounding's error. Each rounding is uniform within half a step of
/// max|x|/127 (a per-block scale is never coarser), so output j's error has
/// deviation step/sqrt(12) · ||W_j||.
fn quantized_tolerance(x: &[f64], w: &[f64], k: usize, activations: DType) -> Tolerance {
    let step = x.iter().fold(0.0f64, |m, v| m.max(v.abs())) / 127.0;
    let largest_row = w
        .chunks(k)
        .map(|row| row.iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let base = sum_tolerance(activations, k);
    Tolerance::new(
        base.atol + 6.0 * step / 12f64.sqrt() * largest_row,
        base.rtol,
    )
}

/// Stored shape of a [batch.., rows, cols] operand, transposed or not.
fn stored(batch: &[usize], rows: usize, cols: usize, transposed: bool) -> Vec<usize> {
    let mut shape = batch.to_vec();
    shape.extend(if transposed {
        [cols, rows]
    } else {
        [rows, cols]
    });
    shape
}

fn matmul(ctx: &Context, r: &mut StdRng, p: &Product) -> Outcome {
    let d = &ctx.device().clone();
    let a_shape = stored(&p.a_batch, p.m, p.k, p.transpose_a);
    let (backing, view) = padded(&a_shape, p.a_layout);
    let (a, a_host) = host_input(d, r, p.a_dtype, &backing, view)?;
    let b_shape = stored(&p.b_batch, p.k, p.n, p.transpose_b);
    let (b, b_host) = host_input(d, r, p.b_dtype, &b_shape, Ok)?;
    let mut c_shape = if p.a_batch.len() >= p.b_batch.len() {
        p.a_batch.clone()
    } else {
        p.b_batch.clone()
    };
    c_shape.extend([p.m, p.n]);
    let (backing, view) = padded(&c_shape, p.c_layout);
    // The product is written in the activations' type.
    let (c, initial) = if p.beta == 0.0 {
        (typed_output(d, p.a_dtype, &backing, view)?, None)
    } else {
        let (c, cv) = input(d, r, p.a_dtype, &backing, view)?;
        let values: Vec<f32> = cv.iter().map(|&v| v as f32).collect();
        (c, Some(values))
    };
    let (_, expected) = reference::matmul(
        &a_host,
        &b_host,
        initial.as_deref(),
        p.transpose_a,
        p.transpose_b,
        f64::from(p.alpha),
        f64::from(p.beta),
    );
    ctx.matmul_alpha_beta(
        &a,
        &b,
        Some(&c),
        p.transpose_a,
        p.transpose_b,
        p.alpha,
        p.beta,
    )
    .map_err(err)?;
    let tol = if p.b_dtype.is_quantized() {
        let values = |t: &Tensor| t.to_f32_vec().map(|v| f64s(&v)).map_err(err);
        quantized_tolerance(&values(&a_host)?, &values(&b_host)?, p.k, p.a_dtype)
    } else {
        sum_tolerance(p.a_dtype, p.k)
    };
    compare(&c, &expected, tol)
}
