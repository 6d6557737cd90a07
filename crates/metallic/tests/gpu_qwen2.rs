//! The Qwen2 forward pass on a CUDA device: tiny random-weight models of
//! every matrix type against the float64 reference (the GPU multiplies f32
//! weights dequantized at load, in f32, so the tolerance is the CPU's f32
//! one), and batched prefill against token-by-token decode on the GPU.
#![cfg(feature = "cuda")]

mod gpu_common;
mod tiny_qwen2;

use metallic::gguf::GgufFile;
use metallic::models::qwen2::Qwen2Model;
use metallic::testing::tiny_model::TinyDims;
use metallic::testing::{check_close, fresh_seed, rng, Tolerance};
use metallic::{Context, DType, Device};
use tiny_qwen2::{random_tokens, write_model, Reference, KQUANT};

/// The GPU attention kernel takes head sizes of 32·k: 4 heads of 32.
const SMALL: TinyDims = TinyDims {
    hidden: 128,
    ffn: 256,
    ..tiny_qwen2::SMALL
};

/// Logits of unit-scale activations through two blocks in f32 arithmetic
/// (the CPU tests' f32 bound).
const F32_LOGITS: Tolerance = Tolerance::new(2e-4, 1e-3);

fn gpu_context() -> Context {
    Context::builder(Device::Cuda(gpu_common::device()))
        .profile(Some(false))
        .build()
        .unwrap()
}

#[test]
fn logits_on_the_gpu_match_the_float64_reference() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = gpu_context();
    let cases = [
        (DType::F32, SMALL),
        (DType::F16, SMALL),
        (DType::Q8_0, SMALL),
        (DType::Q5_0, SMALL),
        (DType::Q4_K, KQUANT),
        (DType::Q6_K, KQUANT),
    ];
    for (dtype, dims) in cases {
        for tied in [false, true] {
            let model_file = write_model(dims, dtype, tied, seed);
            let gguf = GgufFile::open(&model_file.path).unwrap();
            let reference = Reference::load(&gguf, dims);
            let mut model = Qwen2Model::load(&gguf, &ctx, 32).unwrap();
            let tokens = random_tokens(&mut r, 11, dims.vocab);
            let logits = model.forward(&ctx, &tokens, true).unwrap();
            let expected: Vec<f64> = reference.logits(&tokens).concat();
            if let Err(msg) = check_close(&logits, &expected, F32_LOGITS) {
                panic!("{dtype} tied={tied}: {msg}");
            }
            // The last token's logits alone, from a fresh cache.
            model.truncate(0);
            let last = model.forward(&ctx, &tokens, false).unwrap();
            let tail = &expected[expected.len() - dims.vocab..];
            if let Err(msg) = check_close(&last, tail, F32_LOGITS) {
                panic!("{dtype} tied={tied}, last token only: {msg}");
            }
        }
    }
}

#[test]
fn prefill_matches_decode_on_the_gpu() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = gpu_context();
    for (dtype, dims) in [(DType::Q8_0, SMALL), (DType::Q6_K, KQUANT)] {
        let model_file = write_model(dims, dtype, false, seed);
        let gguf = GgufFile::open(&model_file.path).unwrap();
        let mut model = Qwen2Model::load(&gguf, &ctx, 24).unwrap();
        let tokens = random_tokens(&mut r, 13, dims.vocab);
        let batched = model.forward(&ctx, &tokens, true).unwrap();
        let batched: Vec<f64> = batched.iter().map(|&v| f64::from(v)).collect();

        model.truncate(0);
        let decoded: Vec<f32> = tokens
            .iter()
            .flat_map(|&t| model.forward(&ctx, &[t], false).unwrap())
            .collect();
        if let Err(msg) = check_close(&decoded, &batched, F32_LOGITS) {
            panic!("{dtype} decode vs prefill: {msg}");
        }

        // A prefix kept, the rest prefilled after it.
        model.truncate(5);
        let rest = model.forward(&ctx, &tokens[5..], true).unwrap();
        if let Err(msg) = check_close(&rest, &batched[5 * dims.vocab..], F32_LOGITS) {
            panic!("{dtype} prefill after a kept prefix: {msg}");
        }
        assert_eq!(model.position(), tokens.len());
    }
}
