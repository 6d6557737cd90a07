//! The kernel cache: a second device (as a second process would) loads every
//! module from disk instead of compiling it, and both give the same results.
//! Prints the start-up times of both (run with --nocapture to see them).
#![cfg(feature = "cuda")]

mod gpu_common;

use std::time::Instant;

use gpu_common::*;
use metallic::device::cuda::{CudaBuffer, CudaDevice};
use metallic::ops::cuda::{self as ops, AttentionShape, BatchIndices, RopeShape, RowLayout};
use metallic::testing::{fresh_seed, random_vec, rng};
use metallic::DType;

/// Runs the forward pass's ops once at Qwen2.5-0.5B sizes (f32 activations,
/// f16 weights after dequantizing every weight type) and returns the logits'
/// argmax and the final hidden state's bytes.
fn forward_ops(device: &CudaDevice, seed: u64) -> (Vec<u32>, Vec<u8>) {
    let mut r = rng(seed);
    let (dim, heads, kv_heads, head_dim, ff, tokens) = (896, 14, 2, 64, 4864, 4);
    let act = DType::F32;
    for dtype in [
        DType::Q8_0,
        DType::Q5_0,
        DType::Q4_K,
        DType::Q6_K,
        DType::F16,
        DType::F32,
    ] {
        let src = CudaBuffer::from_bytes(
            device,
            &if dtype.is_quantized() {
                random_blocks(&mut r, dtype, 1024)
            } else {
                encode(&random_vec(&mut r, 1024), dtype)
            },
        )
        .unwrap();
        let mut out = poisoned(device, 1024, DType::F16);
        ops::dequantize(&mut out, DType::F16, &src, dtype, 1024).unwrap();
    }
    let table =
        CudaBuffer::from_bytes(device, &random_blocks(&mut r, DType::Q8_0, 100 * dim)).unwrap();
    let mut x = poisoned(device, tokens * dim, act);
    let mut indices = BatchIndices::new(device, tokens, 100, tokens).unwrap();
    indices.set(&[1, 5, 7, 99], 0).unwrap();
    ops::embedding(&mut x, act, &table, DType::Q8_0, 100, dim, &indices).unwrap();
    let (w, _) = upload_random(device, &mut r, dim, DType::F32);
    let mut normed = poisoned(device, tokens * dim, act);
    ops::rms_norm(
        &mut normed,
        &x,
        act,
        RowLayout {
            rows: tokens,
            cols: dim,
            row_stride: dim,
        },
        &w,
        DType::F32,
        1e-6,
    )
    .unwrap();
    let (bias, _) = upload_random(device, &mut r, dim, DType::F32);
    ops::add_rows(
        &mut normed,
        act,
        RowLayout {
            rows: tokens,
            cols: dim,
            row_stride: dim,
        },
        &bias,
        DType::F32,
        0,
    )
    .unwrap();
    let rope_shape = RopeShape {
        tokens,
        heads,
        head_dim,
        token_stride: dim,
        head_stride: head_dim,
    };
    ops::rope(&mut normed, act, rope_shape, &indices, 1e6).unwrap();
    let (k, _) = upload_random(device, &mut r, tokens * kv_heads * head_dim, act);
    let (v, _) = upload_random(device, &mut r, tokens * kv_heads * head_dim, act);
    let mut attn = poisoned(device, tokens * dim, act);
    let s = AttentionShape {
        tokens,
        heads,
        kv_heads,
        head_dim,
        q_token_stride: dim,
        q_head_stride: head_dim,
        kv_pos_stride: kv_heads * head_dim,
        kv_head_stride: head_dim,
        out_token_stride: dim,
        out_head_stride: head_dim,
        scale: 0.125,
    };
    ops::attention(&mut attn, &normed, &k, &v, act, act, s, &indices).unwrap();
    let (gate, _) = upload_random(device, &mut r, tokens * ff, act);
    let (up, _) = upload_random(device, &mut r, tokens * ff, act);
    let mut hidden = poisoned(device, tokens * ff, act);
    ops::swiglu(&mut hidden, &gate, &up, act, tokens, ff).unwrap();
    ops::add_rows(
        &mut x,
        act,
        RowLayout {
            rows: tokens,
            cols: dim,
            row_stride: dim,
        },
        &attn,
        act,
        dim,
    )
    .unwrap();
    let mut ids = CudaBuffer::from_slice(device, &[0u32; 4]).unwrap();
    ops::argmax(&mut ids, &hidden, act, tokens, ff, ff).unwrap();
    (ids.to_vec().unwrap(), x.to_bytes().unwrap())
}

#[test]
fn second_start_loads_kernels_from_disk() {
    let ordinal = device().props().ordinal;
    let dir = std::env::temp_dir().join(format!(
        "metallic-kernels-{}-{}",
        std::process::id(),
        fresh_seed()
    ));
    let seed = fresh_seed();

    let started = Instant::now();
    let first = CudaDevice::with_kernel_dir(ordinal, Some(dir.clone())).unwrap();
    let opened = started.elapsed();
    let first_result = forward_ops(&first, seed);
    let first_total = started.elapsed();
    let first_stats = first.kernel_stats();

    let started = Instant::now();
    let second = CudaDevice::with_kernel_dir(ordinal, Some(dir.clone())).unwrap();
    let second_result = forward_ops(&second, seed);
    let second_total = started.elapsed();
    let second_stats = second.kernel_stats();

    println!(
        "device {:?}: open {opened:?}\n  cold: {first_total:?} total, {} modules compiled in {:?}, load {:?}\n  warm: {second_total:?} total, {} modules from disk in {:?}",
        first,
        first_stats.compiled,
        first_stats.compile_time,
        first_stats.load_time,
        second_stats.loaded_from_disk,
        second_stats.load_time,
    );
    assert!(
        first_stats.compiled > 0 && first_stats.loaded_from_disk == 0,
        "{first_stats:?}"
    );
    assert_eq!(first_stats.disk_error, None);
    assert_eq!(second_stats.compiled, 0, "{second_stats:?}");
    assert_eq!(second_stats.loaded_from_disk, first_stats.compiled);
    assert_eq!(first_result, second_result);
    std::fs::remove_dir_all(dir).unwrap();
}
