//! The row-wise ops against float64 references on fresh random inputs, with
//! poisoned outputs (often strided views, to cover padded rows and windows),
//! and their misuse errors.

use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Error;
use crate::ops::{AttentionInput, KvShape};
use crate::quant::{dequantize_f32, quantize};
use crate::tensor::Tensor;
use crate::testing::{assert_close, fresh_seed, random_vec, rng, Tolerance, POISON};

fn ctx() -> Context {
    Context::builder(Device::Cpu)
        .threads(Some(2))
        .profile(Some(false))
        .build()
        .unwrap()
}

fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(&Device::Cpu, values, shape).unwrap()
}

/// A poisoned f32 tensor of `shape`.
fn poisoned(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    tensor(&vec![POISON; n], shape)
}

/// A view of `shape` whose rows are padded to `padded` values (the rest of
/// each row is poison, and must not leak into results).
fn padded_view(values: &[f32], shape: [usize; 2], padded: usize) -> Tensor {
    let mut storage = vec![POISON; shape[0] * padded];
    for (r, row) in values.chunks(shape[1]).enumerate() {
        storage[r * padded..r * padded + shape[1]].copy_from_slice(row);
    }
    tensor(&storage, &[shape[0], padded])
        .slice(1, 0..shape[1])
        .unwrap()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn rms_norm_matches_reference_on_padded_rows() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let (rows, n, eps) = (5, 37, 1e-6f32);
    let x = random_vec(&mut r, rows * n);
    let w = random_vec(&mut r, n);
    let out = poisoned(&[rows, n]);
    ctx()
        .rms_norm(
            &padded_view(&x, [rows, n], 40),
            &tensor(&w, &[n]),
            eps,
            &out,
        )
        .unwrap();
    let mut expected = Vec::new();
    for row in x.chunks(n) {
        let ms = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n as f64;
        let scale = 1.0 / (ms + f64::from(eps)).sqrt();
        expected.extend(
            row.iter()
                .zip(&w)
                .map(|(&v, &g)| f64::from(v) * scale * f64::from(g)),
        );
    }
    assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);
}

#[test]
fn rope_rotates_halves_into_a_strided_window() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let (seq, heads, d, start, base) = (3, 4, 8, 5usize, 10_000f32);
    let x = random_vec(&mut r, seq * heads * d);
    // The output is a [seq, heads, d] window of a [heads, capacity, d] cache.
    let capacity = start + seq + 2;
    let cache = poisoned(&[heads, capacity, d]);
    let window = cache
        .narrow(1, start, seq)
        .unwrap()
        .permute(&[1, 0, 2])
        .unwrap();
    ctx()
        .rope(&tensor(&x, &[seq, heads, d]), start, base, &window)
        .unwrap();
    let half = d / 2;
    let mut expected = Vec::new();
    for t in 0..seq {
        for h in 0..heads {
            let v = &x[(t * heads + h) * d..][..d];
            let pos = (start + t) as f64;
            let mut row = vec![0.0; d];
            for i in 0..half {
                let angle = pos * f64::from(base).powf(-2.0 * i as f64 / d as f64);
                let (lo, hi) = (f64::from(v[i]), f64::from(v[i + half]));
                row[i] = lo * angle.cos() - hi * angle.sin();
                row[i + half] = hi * angle.cos() + lo * angle.sin();
            }
            expected.extend(row);
        }
    }
    assert_close(&window.to_f32_vec().unwrap(), &expected, Tolerance::F32);
    // Rows of the cache outside the window stay untouched (poison).
    let before = cache.narrow(1, 0, start).unwrap().to_f32_vec().unwrap();
    assert!(before.iter().all(|v| v.is_nan()));
}

fn softmax_reference(row: &[f32], visible: usize) -> Vec<f64> {
    let max = row[..visible]
        .iter()
        .map(|&v| f64::from(v))
        .fold(f64::MIN, f64::max);
    let exps: Vec<f64> = row[..visible]
        .iter()
        .map(|&v| (f64::from(v) - max).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    let mut out: Vec<f64> = exps.iter().map(|e| e / sum).collect();
    out.resize(row.len(), 0.0);
    out
}

#[test]
fn softmax_with_and_without_causal_mask() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = ctx();
    // Scaled up so the maximum matters for stability.
    let x: Vec<f32> = random_vec(&mut r, 4 * 9).iter().map(|v| v * 30.0).collect();
    let out = poisoned(&[4, 9]);
    ctx.softmax(&padded_view(&x, [4, 9], 12), None, &out)
        .unwrap();
    let expected: Vec<f64> = x
        .chunks(9)
        .flat_map(|row| softmax_reference(row, 9))
        .collect();
    assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);

    // Two heads of 3 queries after 4 cached tokens, 7 keys.
    let (heads, queries, keys, offset) = (2, 3, 7, 4);
    let x = random_vec(&mut r, heads * queries * keys);
    let out = poisoned(&[heads, queries, keys]);
    ctx.softmax(&tensor(&x, &[heads, queries, keys]), Some(offset), &out)
        .unwrap();
    let expected: Vec<f64> = x
        .chunks(keys)
        .enumerate()
        .flat_map(|(i, row)| softmax_reference(row, offset + i % queries + 1))
        .collect();
    assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);
    let too_many = ctx.softmax(&tensor(&x, &[heads, queries, keys]), Some(5), &out);
    assert!(matches!(too_many, Err(Error::Shape(_))));
}

#[test]
fn swiglu_and_bias_add_match_reference() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = ctx();
    let (rows, n) = (3, 10);
    let gate: Vec<f32> = random_vec(&mut r, rows * n)
        .iter()
        .map(|v| v * 6.0)
        .collect();
    let up = random_vec(&mut r, rows * n);
    let out = poisoned(&[rows, n]);
    ctx.swiglu(
        &tensor(&gate, &[rows, n]),
        &padded_view(&up, [rows, n], 11),
        &out,
    )
    .unwrap();
    let expected: Vec<f64> = gate
        .iter()
        .zip(&up)
        .map(|(&g, &u)| {
            let g = f64::from(g);
            g / (1.0 + (-g).exp()) * f64::from(u)
        })
        .collect();
    assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);

    let bias = random_vec(&mut r, n);
    let out = poisoned(&[rows, n]);
    ctx.add(&tensor(&up, &[rows, n]), &tensor(&bias, &[n]), &out)
        .unwrap();
    let expected: Vec<f64> = up
        .iter()
        .enumerate()
        .map(|(i, &u)| f64::from(u) + f64::from(bias[i % n]))
        .collect();
    assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);
}

#[test]
fn embedding_gathers_float_and_quantized_rows() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = ctx();
    let ids = [3u32, 0, 9, 3, 7];
    for (dtype, n) in [
        (DType::F32, 24),
        (DType::F16, 24),
        (DType::Q8_0, 64),
        (DType::Q5_0, 64),
    ] {
        let vocab = 10;
        let values = random_vec(&mut r, vocab * n);
        let mut bytes = vec![0u8; dtype.bytes_for(vocab * n).unwrap()];
        quantize(dtype, &values, &mut bytes).unwrap();
        let mut table_values = vec![0f32; vocab * n];
        dequantize_f32(dtype, &bytes, &mut table_values).unwrap();
        let table = Tensor::from_bytes(&Device::Cpu, dtype, &bytes, &[vocab, n]).unwrap();
        let out = poisoned(&[ids.len(), n]);
        ctx.embedding(&table, &ids, &out).unwrap();
        let expected: Vec<f64> = ids
            .iter()
            .flat_map(|&id| f64s(&table_values[id as usize * n..][..n]))
            .collect();
        assert_close(&out.to_f32_vec().unwrap(), &expected, Tolerance::F32);
        let bad = ctx.embedding(&table, &[1, 10], &poisoned(&[2, n]));
        assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{dtype}");
    }
}

#[test]
fn misuse_is_an_error() {
    let ctx = ctx();
    let x = tensor(&[1.0; 12], &[3, 4]);
    let w = tensor(&[1.0; 4], &[4]);
    // Wrong shapes.
    assert!(matches!(
        ctx.rms_norm(&x, &tensor(&[1.0; 3], &[3]), 1e-6, &poisoned(&[3, 4])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.rms_norm(&x, &w, 1e-6, &poisoned(&[4, 3])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.swiglu(&x, &tensor(&[1.0; 4], &[1, 4]), &poisoned(&[3, 4])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.rope(
            &tensor(&[1.0; 6], &[1, 2, 3]),
            0,
            1e4,
            &poisoned(&[1, 2, 3])
        ),
        Err(Error::Shape(_))
    ));
    assert!(ctx
        .add(&x, &tensor(&[1.0; 3], &[3]), &poisoned(&[3, 4]))
        .is_err());
    // An output that overlaps itself, one that is an input, a non-f32 one.
    let row = poisoned(&[4]).broadcast_to(&[3, 4]).unwrap();
    assert!(matches!(ctx.add(&x, &w, &row), Err(Error::Layout { .. })));
    assert!(ctx.add(&x, &w, &x).is_err());
    let half = Tensor::empty(&Device::Cpu, DType::F16, &[3, 4]).unwrap();
    assert!(matches!(
        ctx.swiglu(&x, &x, &half),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn ops_are_recorded_when_profiling() {
    let ctx = Context::builder(Device::Cpu)
        .threads(Some(1))
        .profile(Some(true))
        .build()
        .unwrap();
    let x = tensor(&[0.5; 8], &[2, 4]);
    ctx.rms_norm(&x, &tensor(&[1.0; 4], &[4]), 1e-6, &poisoned(&[2, 4]))
        .unwrap();
    let records = ctx.instrumentation().records();
    let last = records.last().expect("a record");
    assert_eq!(
        (last.op, last.backend, last.m, last.n),
        ("rms_norm", "cpu", 2, 4)
    );
}

#[test]
fn step_input_misuse_is_an_error_and_changes_nothing() {
    let ctx = ctx();
    assert!(ctx.step_input(0, 10, 8).is_err());
    assert!(ctx.step_input(9, 10, 8).is_err());
    let mut step = ctx.step_input(2, 10, 8).unwrap();
    step.set(&[3, 4], 5).unwrap();
    for (ids, start) in [(&[1][..], 0), (&[1, 10][..], 0), (&[1, 2][..], 7)] {
        assert!(matches!(
            step.set(ids, start),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!((step.ids(), step.start()), (&[3, 4][..], 5));
}

#[test]
fn attention_misuse_is_an_error() {
    let ctx = ctx();
    let shape = KvShape {
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
        capacity: 6,
    };
    assert!(ctx
        .kv_cache(KvShape {
            kv_heads: 3,
            ..shape
        })
        .is_err());
    let mut cache = ctx.kv_cache(shape).unwrap();
    let mut step = ctx.step_input(2, 5, 6).unwrap();
    step.set(&[1, 2], 0).unwrap();
    let q = tensor(&[0.5; 64], &[2, 4, 8]);
    let kv = tensor(&[0.5; 32], &[2, 2, 8]);
    let out = poisoned(&[2, 4, 8]);
    let input = AttentionInput {
        q: &q,
        k: &kv,
        v: &kv,
        v_bias: None,
        rope_base: 1e4,
    };
    ctx.attention(&input, &mut cache, 1, &step, &out).unwrap();
    // A layer past the cache's, queries of the wrong shape, a step over
    // more positions than the cache holds.
    assert!(matches!(
        ctx.attention(&input, &mut cache, 2, &step, &out),
        Err(Error::InvalidArgument(_))
    ));
    let wrong_q = AttentionInput { k: &q, ..input };
    assert!(matches!(
        ctx.attention(&wrong_q, &mut cache, 0, &step, &out),
        Err(Error::Shape(_))
    ));
    let long_step = ctx.step_input(2, 5, 7).unwrap();
    assert!(matches!(
        ctx.attention(&input, &mut cache, 0, &long_step, &out),
        Err(Error::Shape(_))
    ));
}
