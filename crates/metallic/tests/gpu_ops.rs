//! The GPU launchers of the forward pass's ops, below the Context: every
//! activation dtype (F32, F16, BF16) and strided layouts the Context does not
//! issue, against the one float64 reference (`reference`, shared with the
//! cross-backend matrix), on fresh random inputs, with poisoned outputs.
#![cfg(feature = "cuda")]

mod gpu_common;
mod reference;

use gpu_common::*;
use metallic::device::cuda::CudaBuffer;
use metallic::ops::cuda::{self as ops, AttentionShape, BatchIndices, RopeShape, RowLayout};
use metallic::testing::{check_close, fresh_seed, random_vec, rng};
use metallic::DType;
use rand::Rng;

fn contiguous(rows: usize, cols: usize) -> RowLayout {
    RowLayout {
        rows,
        cols,
        row_stride: cols,
    }
}

#[test]
fn rms_norm_matches_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    for act in FLOATS {
        for weight_dtype in [act, DType::F32] {
            for (rows, dim, stride) in [(5, 896, 896), (3, 100, 130), (1, 1, 1)] {
                let (x, xr) = upload_random(&device, &mut r, (rows - 1) * stride + dim, act);
                let (w, wr) = upload_random(&device, &mut r, dim, weight_dtype);
                let mut out = poisoned(&device, rows * dim, act);
                let eps = 1e-6;
                let shape = RowLayout {
                    rows,
                    cols: dim,
                    row_stride: stride,
                };
                ops::rms_norm(&mut out, &x, act, shape, &w, weight_dtype, eps).unwrap();
                let x_rows: Vec<f64> = (0..rows)
                    .flat_map(|row| xr[row * stride..row * stride + dim].iter().copied())
                    .collect();
                let expected = reference::rms_norm(&x_rows, &wr, f64::from(eps));
                check_close(&download(&out, act), &expected, tolerance(act)).unwrap_or_else(|m| {
                    panic!("{act} w {weight_dtype} {rows}x{dim} seed {seed}: {m}")
                });
            }
        }
    }
}

/// `reference::rope` on the heads `shape` places in the buffer `x`, in place
/// (the gaps between heads keep their values).
fn rope_ref(x: &mut [f64], shape: RopeShape, first_position: usize, base: f64) {
    let d = shape.head_dim;
    let head = |t: usize, h: usize| t * shape.token_stride + h * shape.head_stride;
    let packed: Vec<f64> = (0..shape.tokens)
        .flat_map(|t| (0..shape.heads).map(move |h| (t, h)))
        .flat_map(|(t, h)| x[head(t, h)..head(t, h) + d].to_vec())
        .collect();
    let rotated = reference::rope(&packed, shape.heads, d, first_position, base);
    for (i, values) in rotated.chunks(d).enumerate() {
        let at = head(i / shape.heads, i % shape.heads);
        x[at..at + d].copy_from_slice(values);
    }
}

#[test]
fn rope_matches_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    for act in FLOATS {
        // Packed Qwen heads, and padded heads inside padded tokens.
        for shape in [
            RopeShape {
                tokens: 7,
                heads: 14,
                head_dim: 64,
                token_stride: 14 * 64,
                head_stride: 64,
            },
            RopeShape {
                tokens: 3,
                heads: 2,
                head_dim: 128,
                token_stride: 300,
                head_stride: 140,
            },
        ] {
            let first = r.random_range(0..5000);
            let len = (shape.tokens - 1) * shape.token_stride
                + (shape.heads - 1) * shape.head_stride
                + shape.head_dim;
            let (mut x, mut expected) = upload_random(&device, &mut r, len, act);
            let positions = BatchIndices::positions(&device, shape.tokens, first).unwrap();
            ops::rope(&mut x, act, shape, &positions, 1_000_000.0).unwrap();
            rope_ref(&mut expected, shape, first, 1_000_000.0);
            check_close(&download(&x, act), &expected, tolerance(act))
                .unwrap_or_else(|m| panic!("{act} {shape:?} pos {first} seed {seed}: {m}"));
        }
    }
}

#[test]
fn attention_prefill_and_decode_match_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    let capacity = 300;
    for act in FLOATS {
        // Few tokens take the split kernel (a cluster of 8 blocks, each a
        // 16-warp share of the keys: 128 keys per round); 16 or more with
        // head sizes of 64 and 128 the tiled one (64 queries, 32 keys a tile).
        for (tokens, first_position, heads, kv_heads, head_dim) in [
            (9, 0, 14, 2, 64),   // prefill
            (1, 37, 14, 2, 64),  // decode
            (5, 11, 14, 2, 64),  // prefill continuing a cache
            (1, 70, 4, 4, 128),  // decode, no sharing, larger head
            (3, 2, 8, 1, 32),    // one KV head shared by all
            (2, 290, 14, 2, 64), // decode past several rounds of every split
            (1, 0, 14, 2, 64),   // the first token: most blocks see no key
            (70, 0, 14, 2, 64),  // tiled: a full and a partial query tile
            (16, 0, 4, 4, 128),  // tiled: the fewest tokens, larger head
            (40, 200, 8, 1, 64), // tiled, continuing a long cache
            (20, 9, 8, 2, 32), // many tokens, a head size the tiled kernel leaves to the split one
        ] {
            let s = AttentionShape {
                tokens,
                heads,
                kv_heads,
                head_dim,
                q_token_stride: heads * head_dim,
                q_head_stride: head_dim,
                kv_pos_stride: kv_heads * head_dim,
                kv_head_stride: head_dim,
                out_token_stride: heads * head_dim,
                out_head_stride: head_dim,
                scale: 1.0 / (head_dim as f32).sqrt(),
            };
            let (q, qr) = upload_random(&device, &mut r, tokens * heads * head_dim, act);
            // Cache positions past the last attended one hold NaN: reading
            // them (a causal-mask bug) poisons the output.
            let written = (first_position + tokens) * kv_heads * head_dim;
            let cache = |r: &mut rand::rngs::StdRng| {
                let mut values = random_vec(r, capacity * kv_heads * head_dim);
                values[written..].fill(f32::NAN);
                upload(&device, &values, act)
            };
            let (k, kr) = cache(&mut r);
            let (v, vr) = cache(&mut r);
            let mut out = poisoned(&device, tokens * heads * head_dim, act);
            let mut positions = BatchIndices::new(&device, tokens, 1, capacity).unwrap();
            positions.set(&vec![0; tokens], first_position).unwrap();
            ops::attention(&mut out, &q, &k, &v, act, act, s, &positions).unwrap();
            let shape = (heads, kv_heads, head_dim);
            let expected = reference::attention(&qr, &kr, &vr, shape, first_position);
            check_close(&download(&out, act), &expected, tolerance(act))
                .unwrap_or_else(|m| panic!("{act} {s:?} seed {seed}: {m}"));
        }
    }
}

#[test]
fn swiglu_and_add_rows_match_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    for act in FLOATS {
        let (rows, cols) = (6, 4864);
        let (gate, gr) = upload_random(&device, &mut r, rows * cols, act);
        let (up, ur) = upload_random(&device, &mut r, rows * cols, act);
        let mut out = poisoned(&device, rows * cols, act);
        ops::swiglu(&mut out, &gate, &up, act, rows, cols).unwrap();
        let expected = reference::swiglu(&gr, &ur);
        check_close(&download(&out, act), &expected, tolerance(act))
            .unwrap_or_else(|m| panic!("swiglu {act} seed {seed}: {m}"));

        // Residual (same shape) and bias (one F32 row broadcast) additions
        // into padded rows.
        for (y_dtype, y_stride) in [(act, 33), (DType::F32, 0)] {
            let (rows, cols, x_stride) = (4, 30, 31);
            let (mut x, xr) = upload_random(&device, &mut r, (rows - 1) * x_stride + cols, act);
            let y_len = if y_stride == 0 {
                cols
            } else {
                (rows - 1) * y_stride + cols
            };
            let (y, yr) = upload_random(&device, &mut r, y_len, y_dtype);
            ops::add_rows(
                &mut x,
                act,
                RowLayout {
                    rows,
                    cols,
                    row_stride: x_stride,
                },
                &y,
                y_dtype,
                y_stride,
            )
            .unwrap();
            let mut expected = xr.clone();
            for row in 0..rows {
                for c in 0..cols {
                    expected[row * x_stride + c] += yr[row * y_stride + c];
                }
            }
            check_close(&download(&x, act), &expected, tolerance(act))
                .unwrap_or_else(|m| panic!("add_rows {act} + {y_dtype} seed {seed}: {m}"));
        }
    }
}

#[test]
fn argmax_picks_the_first_largest() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    for act in FLOATS {
        let (rows, vocab, stride) = (3, 151_936, 152_000);
        let mut values = random_vec(&mut r, (rows - 1) * stride + vocab);
        // NaN never wins; a tie goes to the lower index.
        values[5] = f32::NAN;
        let top = r.random_range(0..vocab / 2);
        values[stride + top] = 4.0;
        values[stride + top + vocab / 2] = 4.0;
        let (logits, lr) = upload(&device, &values, act);
        let mut out = CudaBuffer::from_slice(&device, &vec![u32::MAX; rows]).unwrap();
        ops::argmax(&mut out, &logits, act, rows, vocab, stride).unwrap();
        let expected: Vec<u32> = (0..rows)
            .map(|row| {
                let v = &lr[row * stride..row * stride + vocab];
                let mut best = 0;
                for (i, &value) in v.iter().enumerate() {
                    if value > v[best] || v[best].is_nan() {
                        best = i;
                    }
                }
                best as u32
            })
            .collect();
        assert_eq!(out.to_vec::<u32>().unwrap(), expected, "{act} seed {seed}");
    }
}

const TABLE_TYPES: [DType; 7] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
];

/// A random table of `n` values of `dtype`: its bytes and exact values.
fn random_table(r: &mut impl Rng, dtype: DType, n: usize) -> (Vec<u8>, Vec<f64>) {
    if dtype.is_quantized() {
        let bytes = random_blocks(r, dtype, n);
        let values = dequantize_ref(&bytes, dtype);
        (bytes, values)
    } else {
        let values = random_vec(r, n);
        (encode(&values, dtype), round(&values, dtype))
    }
}

#[test]
fn dequantize_matches_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    for src_dtype in TABLE_TYPES {
        let n = 256 * 5;
        let (bytes, values) = random_table(&mut r, src_dtype, n);
        let src = CudaBuffer::from_bytes(&device, &bytes).unwrap();
        for out_dtype in FLOATS {
            let mut out = poisoned(&device, n, out_dtype);
            ops::dequantize(&mut out, out_dtype, &src, src_dtype, n).unwrap();
            check_close(&download(&out, out_dtype), &values, tolerance(out_dtype))
                .unwrap_or_else(|m| panic!("{src_dtype} -> {out_dtype} seed {seed}: {m}"));
        }
    }
}

#[test]
fn embedding_matches_reference() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    let (vocab, dim) = (50, 512);
    for table_dtype in TABLE_TYPES {
        let (bytes, values) = random_table(&mut r, table_dtype, vocab * dim);
        let table = CudaBuffer::from_bytes(&device, &bytes).unwrap();
        let ids: Vec<u32> = (0..9)
            .map(|_| r.random_range(0..vocab as u32))
            .chain([0, vocab as u32 - 1, 3, 3])
            .collect();
        for act in FLOATS {
            let mut out = poisoned(&device, ids.len() * dim, act);
            let mut indices = BatchIndices::new(&device, ids.len(), vocab, ids.len()).unwrap();
            indices.set(&ids, 0).unwrap();
            ops::embedding(&mut out, act, &table, table_dtype, vocab, dim, &indices).unwrap();
            let expected = reference::embedding(&values, dim, &ids);
            check_close(&download(&out, act), &expected, tolerance(act))
                .unwrap_or_else(|m| panic!("{table_dtype} -> {act} seed {seed}: {m}"));
        }
        let mut indices = BatchIndices::new(&device, 1, vocab, 1).unwrap();
        assert!(
            indices.set(&[vocab as u32], 0).is_err(),
            "an id past the vocabulary must be refused"
        );
        let wider = BatchIndices::new(&device, 1, vocab + 1, 1).unwrap();
        let mut out = poisoned(&device, dim, DType::F32);
        let bad = ops::embedding(
            &mut out,
            DType::F32,
            &table,
            table_dtype,
            vocab,
            dim,
            &wider,
        );
        assert!(bad.is_err(), "ids that may pass the table must be refused");
    }
}

#[test]
fn ops_refuse_buffers_too_small() {
    let device = device();
    let mut r = rng(fresh_seed());
    let x = CudaBuffer::from_slice(&device, &random_vec(&mut r, 99)).unwrap();
    let w = CudaBuffer::from_slice(&device, &random_vec(&mut r, 10)).unwrap();
    let mut out = poisoned(&device, 100, DType::F32);
    assert!(ops::rms_norm(
        &mut out,
        &x,
        DType::F32,
        contiguous(10, 10),
        &w,
        DType::F32,
        1e-6
    )
    .is_err());
    let mut y = CudaBuffer::from_slice(&device, &random_vec(&mut r, 100)).unwrap();
    let shape = RopeShape {
        tokens: 2,
        heads: 2,
        head_dim: 26,
        token_stride: 52,
        head_stride: 26,
    };
    let positions = BatchIndices::positions(&device, 2, 0).unwrap();
    assert!(ops::rope(&mut y, DType::F32, shape, &positions, 10_000.0).is_err());
    let three = BatchIndices::positions(&device, 3, 0).unwrap();
    let fits = RopeShape {
        tokens: 2,
        heads: 1,
        head_dim: 26,
        token_stride: 26,
        head_stride: 26,
    };
    assert!(
        ops::rope(&mut y, DType::F32, fits, &three, 10_000.0).is_err(),
        "positions for another number of tokens must be refused"
    );
    assert!(ops::rms_norm(
        &mut out,
        &x,
        DType::Q8_0,
        contiguous(1, 10),
        &w,
        DType::F32,
        1e-6
    )
    .is_err());
}

#[test]
fn store_rows_writes_rows_at_their_positions() {
    let device = device();
    let seed = fresh_seed();
    let mut r = rng(seed);
    let (capacity, kv_heads, head_dim) = (40, 2, 64);
    let cols = kv_heads * head_dim;
    for (dst_dtype, src_dtype) in [
        (DType::F32, DType::F32),
        (DType::F16, DType::F32),
        (DType::BF16, DType::BF16),
    ] {
        for (tokens, start, with_bias) in [(7, 0, true), (1, 39, false), (3, 20, true)] {
            let (dst, before) = upload_random(&device, &mut r, capacity * cols, dst_dtype);
            let mut dst = dst;
            let (src, src_values) = upload_random(&device, &mut r, tokens * cols, src_dtype);
            let (bias, bias_values) = upload_random(&device, &mut r, cols, DType::F32);
            let mut positions = BatchIndices::new(&device, tokens, 1, capacity).unwrap();
            positions.set(&vec![0; tokens], start).unwrap();
            ops::store_rows(
                &mut dst,
                dst_dtype,
                cols,
                &src,
                src_dtype,
                contiguous(tokens, cols),
                with_bias.then_some(&bias),
                &positions,
            )
            .unwrap();
            let mut expected = before.clone();
            for t in 0..tokens {
                for c in 0..cols {
                    let b = if with_bias { bias_values[c] } else { 0.0 };
                    expected[(start + t) * cols + c] = src_values[t * cols + c] + b;
                }
            }
            // Rows outside the batch's positions keep their values exactly.
            let got = download(&dst, dst_dtype);
            for (i, (&g, &e)) in got.iter().zip(&before).enumerate() {
                let row = i / cols;
                if row < start || row >= start + tokens {
                    assert_eq!(g as f64, e, "row {row} was touched, seed {seed}");
                }
            }
            check_close(&got, &expected, tolerance(dst_dtype))
                .unwrap_or_else(|m| panic!("{dst_dtype} <- {src_dtype} seed {seed}: {m}"));
        }
    }
    // Positions past the destination's rows are refused before any launch.
    let mut small = poisoned(&device, 10 * cols, DType::F32);
    let (src, _) = upload_random(&device, &mut r, cols, DType::F32);
    let far = BatchIndices::positions(&device, 1, 30).unwrap();
    let result = ops::store_rows(
        &mut small,
        DType::F32,
        cols,
        &src,
        DType::F32,
        contiguous(1, cols),
        None,
        &far,
    );
    assert!(
        result.is_err(),
        "a cache too short for the positions must be refused"
    );
}
