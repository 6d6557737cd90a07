//! The Qwen2 forward pass on a CUDA device: tiny random-weight models of
//! every matrix type against the float64 reference, and batched prefill
//! against token-by-token decode on the GPU. F32 weights multiply in f32;
//! other weights multiply activations rounded to f16 (see `check_logits`).
#![cfg(feature = "cuda")]

mod gpu_common;
mod tiny_qwen2;

use metallic::gguf::GgufFile;
use metallic::models::qwen2::Qwen2Model;
use metallic::testing::tiny_model::TinyDims;
use metallic::testing::{check_close, fresh_seed, rng, Tolerance};
use metallic::{Context, DType, Device};
use tiny_qwen2::{random_tokens, rms, rms_error, write_model, Reference, KQUANT};

/// The GPU attention kernel takes head sizes of 32·k: 4 heads of 32.
const SMALL: TinyDims = TinyDims {
    hidden: 128,
    ffn: 256,
    ..tiny_qwen2::SMALL
};

/// Logits of unit-scale activations through two blocks in f32 arithmetic
/// (the CPU tests' f32 bound).
const F32_LOGITS: Tolerance = Tolerance::new(2e-4, 1e-3);

/// Against f32 weights the GPU multiplies in f32: the CPU tests' f32 bound.
/// Other weights meet activations rounded to f16 (relative error at most
/// 2⁻¹¹, RMS about 2.8·10⁻⁴ per input), which adds about that relative
/// noise to each of the 14 products of two blocks: about 10⁻³ of the logits'
/// RMS in all. So: RMS error within 0.4% of the logits' RMS and every logit
/// within 2% of it (several standard deviations more); a wrong rotation,
/// mask or bias moves logits by a large fraction of their scale.
fn check_logits(dtype: DType, actual: &[f32], expected: &[f64]) -> Result<(), String> {
    if dtype == DType::F32 {
        return check_close(actual, expected, F32_LOGITS);
    }
    let scale = rms(expected.iter().copied());
    let error = rms_error(actual, expected);
    if error > 0.004 * scale {
        return Err(format!("RMS error {error} against logits of RMS {scale}"));
    }
    check_close(actual, expected, Tolerance::new(0.02 * scale, 0.0))
}

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
            if let Err(msg) = check_logits(dtype, &logits, &expected) {
                panic!("{dtype} tied={tied}: {msg}");
            }
            // The last token's logits alone, from a fresh cache.
            model.truncate(0);
            let last = model.forward(&ctx, &tokens, false).unwrap();
            let tail = &expected[expected.len() - dims.vocab..];
            if let Err(msg) = check_logits(dtype, &last, tail) {
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
        if let Err(msg) = check_logits(dtype, &decoded, &batched) {
            panic!("{dtype} decode vs prefill: {msg}");
        }
        // Steps after the second replay one captured graph.
        assert_eq!(model.decode_graph_unavailable(), None, "{dtype}");
        assert!(
            model.decode_graph_captured(),
            "{dtype}: decode not captured"
        );

        // A prefix kept, the rest prefilled after it.
        model.truncate(5);
        let rest = model.forward(&ctx, &tokens[5..], true).unwrap();
        if let Err(msg) = check_logits(dtype, &rest, &batched[5 * dims.vocab..]) {
            panic!("{dtype} prefill after a kept prefix: {msg}");
        }
        assert_eq!(model.position(), tokens.len());
    }
}
