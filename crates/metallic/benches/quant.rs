//! `matmul_quantized` on the default model's weight shapes, in a 2-thread
//! pool like the engine's: m = 1 (decode; reported as weight bytes per
//! second) and m = 128 (prefill; reported as FLOP per second, 2·m·n·k),
//! one product at a time and all of a token's products together (every
//! layer's, with the model's mix of formats: the matrix-product part of a
//! decode step or of a 128-token prefill), and the machine's read bandwidth
//! in the same pool (the limit a decode step's 392 MB can reach).
//!
//! `cargo bench -p metallic --bench quant`

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use metallic::quant::{matmul_quantized, QuantizedProduct};
use metallic::testing::{random_vec, rng};
use metallic::DType;

fn main() {
    divan::main();
}

/// (name, weight type, n, k) of the default model's products.
const SHAPES: [(&str, DType, usize, usize); 6] = [
    ("qkv Q5_0 1152x896", DType::Q5_0, 1152, 896),
    ("o Q5_0 896x896", DType::Q5_0, 896, 896),
    ("gate+up Q5_0 9728x896", DType::Q5_0, 9728, 896),
    ("down Q4_K 896x4864", DType::Q4_K, 896, 4864),
    ("down Q6_K 896x4864", DType::Q6_K, 896, 4864),
    ("output Q8_0 151936x896", DType::Q8_0, 151936, 896),
];

const NAMES: [&str; 6] = [
    SHAPES[0].0,
    SHAPES[1].0,
    SHAPES[2].0,
    SHAPES[3].0,
    SHAPES[4].0,
    SHAPES[5].0,
];

/// Random weight bytes with small f16 scales at every block's start and
/// end (where the formats keep them), so values stay finite.
fn weights(dtype: DType, n: usize, k: usize) -> Vec<u8> {
    let mut r = rng(7);
    let mut w: Vec<u8> = (0..n * dtype.bytes_for(k).unwrap())
        .map(|_| rand::Rng::random(&mut r))
        .collect();
    let small = half::f16::from_f32(0.01).to_le_bytes();
    for block in w.chunks_mut(dtype.block_bytes()) {
        let len = block.len();
        block[..2].copy_from_slice(&small);
        block[len - 2..].copy_from_slice(&small);
    }
    w
}

fn run(bencher: Bencher, name: &str, m: usize) {
    let &(_, dtype, n, k) = SHAPES.iter().find(|s| s.0 == name).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let w = weights(dtype, n, k);
    let a = random_vec(&mut rng(8), m * k);
    let mut c = vec![0.0f32; m * n];
    let bencher = if m == 1 {
        bencher.counter(BytesCount::new(w.len()))
    } else {
        bencher.counter(ItemsCount::new(2 * m * n * k))
    };
    bencher.bench_local(|| {
        pool.install(|| matmul_quantized(&product(dtype, &w, n, k, &a, m), &mut c).unwrap());
    });
}

#[divan::bench(args = NAMES)]
fn decode_m1(bencher: Bencher, name: &str) {
    run(bencher, name, 1);
}

#[divan::bench(args = &NAMES[..5])]
fn prefill_m128_flops(bencher: Bencher, name: &str) {
    run(bencher, name, 128);
}

/// (type, n, k) of every product of one token: 24 layers of q, k, v, o,
/// gate, up, down with the default model's formats, then (decode only)
/// the output layer.
fn model_products(with_output: bool) -> Vec<(DType, usize, usize)> {
    let mut out = Vec::new();
    for layer in 0..24 {
        let (v, down) = if layer % 2 == 0 {
            (DType::Q5_0, DType::Q4_K)
        } else {
            (DType::Q8_0, DType::Q6_K)
        };
        out.extend([
            (DType::Q5_0, 896, 896),
            (DType::Q5_0, 128, 896),
            (v, 128, 896),
            (DType::Q5_0, 896, 896),
            (DType::Q5_0, 4864, 896),
            (DType::Q5_0, 4864, 896),
            (down, 896, 4864),
        ]);
    }
    if with_output {
        out.push((DType::Q8_0, 151936, 896));
    }
    out
}

fn run_model(bencher: Bencher, m: usize) {
    let products: Vec<_> = model_products(m == 1)
        .into_iter()
        .map(|(dtype, n, k)| (dtype, n, k, weights(dtype, n, k)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let a = random_vec(&mut rng(8), m * 4864);
    let mut c = vec![0.0f32; m * 151936];
    let bytes: usize = products.iter().map(|p| p.3.len()).sum();
    let flops: usize = products.iter().map(|p| 2 * m * p.1 * p.2).sum();
    let bencher = if m == 1 {
        bencher.counter(BytesCount::new(bytes))
    } else {
        bencher.counter(ItemsCount::new(flops))
    };
    bencher.bench_local(|| {
        pool.install(|| {
            for (dtype, n, k, w) in &products {
                matmul_quantized(&product(*dtype, w, *n, *k, &a, m), &mut c).unwrap();
            }
        })
    });
}

/// One decode step's products (392 MB of weights); tok/s = 1 / time.
#[divan::bench(sample_count = 20)]
fn model_decode_token(bencher: Bencher) {
    run_model(bencher, 1);
}

/// A 128-token prefill's products; tok/s = 128 / time.
#[divan::bench(sample_count = 5)]
fn model_prefill_128_flops(bencher: Bencher) {
    run_model(bencher, 128);
}

/// `C = A · Wᵀ` with packed rows (lda = k, ldc = n).
fn product<'a>(
    w_type: DType,
    w: &'a [u8],
    n: usize,
    k: usize,
    a: &'a [f32],
    m: usize,
) -> QuantizedProduct<'a> {
    QuantizedProduct {
        w_type,
        w,
        n,
        k,
        a,
        lda: k,
        m,
        ldc: n,
        alpha: 1.0,
        beta: 0.0,
    }
}

/// This machine's read bandwidth in the engine's 2-thread pool: 1 GiB (more
/// than the last-level cache) summed in parallel. A decode step reads
/// 392 MB of weights, so 392 MB over this rate is the fastest a token can be.
#[divan::bench(sample_count = 10)]
fn memory_read_2_threads(bencher: Bencher) {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let words: Vec<u64> = (0..(1u64 << 27)).collect();
    bencher
        .counter(BytesCount::new(words.len() * 8))
        .bench_local(|| {
            pool.install(|| {
                words
                    .par_chunks(1 << 16)
                    .map(|c| c.iter().fold(0u64, |s, &x| s.wrapping_add(x)))
                    .reduce(|| 0, u64::wrapping_add)
            })
        });
}
