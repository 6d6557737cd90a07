//! The Qwen2 forward pass on tiny random-weight models written as GGUF
//! files: logits against a plain float64 forward pass written here (from
//! the same weights, dequantized), batched prefill against token-by-token
//! decode, prefix reuse, and the context limit.

mod tiny_qwen2;

use metallic::gguf::GgufFile;
use metallic::models::qwen2::Qwen2Model;
use metallic::ops::matmul::BackendChoice;
use metallic::testing::tiny_model::TinyDims;
use metallic::testing::{check_close, fresh_seed, rng, Tolerance};
use metallic::{Context, DType, Device};
use tiny_qwen2::{random_tokens, rms, rms_error, write_model, Reference, KQUANT, SMALL};

fn context(backend: BackendChoice) -> Context {
    Context::builder(Device::Cpu)
        .threads(Some(2))
        .backend(backend)
        .profile(Some(false))
        .build()
        .unwrap()
}

/// Tolerance of logits (unit-scale activations through two blocks) when
/// the arithmetic is f32 throughout.
const F32_LOGITS: Tolerance = Tolerance::new(2e-4, 1e-3);

/// The matrix types under test, with the dimensions their blocks allow.
const CASES: [(DType, TinyDims); 5] = [
    (DType::F32, SMALL),
    (DType::Q8_0, SMALL),
    (DType::Q5_0, SMALL),
    (DType::Q4_K, KQUANT),
    (DType::Q6_K, KQUANT),
];

/// Every matrix type, tied and separate output, on the default route
/// (the project's own kernels), against the reference.
#[test]
fn logits_match_the_float64_reference() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = context(BackendChoice::Auto);
    for (dtype, dims) in CASES {
        for tied in [false, true] {
            let model_file = write_model(dims, dtype, tied, seed);
            let gguf = GgufFile::open(&model_file.path).unwrap();
            let reference = Reference::load(&gguf, dims);
            let mut model = Qwen2Model::load(&gguf, &ctx, 32).unwrap();
            let tokens = random_tokens(&mut r, 11, dims.vocab);
            let logits = model.forward(&ctx, &tokens, true).unwrap();
            let (exact, rounded) = reference_logits(reference, dtype, &tokens);
            if let Err(msg) = check_own_kernels(dtype, &logits, &exact, &rounded) {
                panic!("{dtype} tied={tied}: {msg}");
            }
            assert_eq!(model.position(), tokens.len());
        }
    }
}

/// The vendor backend multiplies dequantized weights in f32: every matrix
/// type must then match the reference at f32 precision, and float weights
/// on the project's own kernels too.
#[test]
fn f32_arithmetic_matches_the_reference_at_f32_precision() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let runs = CASES
        .iter()
        .map(|&(dtype, dims)| (BackendChoice::Vendor, dtype, dims))
        .chain([(BackendChoice::Mlx, DType::F32, SMALL)]);
    for (backend, dtype, dims) in runs {
        let ctx = context(backend);
        let model_file = write_model(dims, dtype, dtype == DType::Q5_0, seed);
        let gguf = GgufFile::open(&model_file.path).unwrap();
        let reference = Reference::load(&gguf, dims);
        let tokens = random_tokens(&mut r, 7, dims.vocab);
        let expected: Vec<f64> = reference.logits(&tokens).concat();
        let mut model = Qwen2Model::load(&gguf, &ctx, 32).unwrap();
        let logits = model.forward(&ctx, &tokens, true).unwrap();
        if let Err(msg) = check_close(&logits, &expected, F32_LOGITS) {
            panic!("{backend:?} {dtype}: {msg}");
        }
    }
}

/// Logits of `tokens` from an empty cache one token per call.
fn decode_one_by_one(model: &mut Qwen2Model, ctx: &Context, tokens: &[u32]) -> Vec<f32> {
    model.truncate(0);
    tokens
        .iter()
        .flat_map(|&t| model.forward(ctx, &[t], false).unwrap())
        .collect()
}

/// The project's own kernels quantize activations to 8 bits (blocks of 32
/// with one scale, 256 against K formats, as llama.cpp does) before
/// multiplying quantized weights. That rounding adds noise of about 0.6%
/// (RMS, relative) to each product's inputs; over the 14 products of two
/// blocks it adds up to about 2% of the logits' RMS (1.3-1.7% measured, at
/// most 2.4% in 1,600 models): so the RMS error against the exact reference
/// is within 3% of the logits' RMS. Single logits are compared with the
/// reference that rounds the products' inputs as the kernels do
/// (`rounded`): the noise of one logit is not bounded by that RMS, as each
/// position's noise depends on its own activations (one model's positions
/// ranged from 1.1% to 3.9%) and its largest logit error reached 17% of
/// the RMS. Against the rounded reference what remains is f32 rounding and,
/// now and then, an activation whose f32 and f64 values round to adjacent
/// levels: one step on one input (at most 7% of the RMS in 1,600 models,
/// none in most): every logit within 15% of the RMS, and the RMS error
/// within 3%. A wrong rotation, mask or bias moves logits by a large
/// fraction of their scale. Float weights run in exact f32.
fn check_own_kernels(
    dtype: DType,
    actual: &[f32],
    exact: &[f64],
    rounded: &[f64],
) -> Result<(), String> {
    if dtype == DType::F32 {
        return check_close(actual, exact, F32_LOGITS);
    }
    let scale = rms(exact.iter().copied());
    for (reference, name) in [(exact, "exact"), (rounded, "rounded")] {
        let error = rms_error(actual, reference);
        if error > 0.03 * scale {
            return Err(format!(
                "RMS error {error} against the {name} reference's logits of RMS {scale}"
            ));
        }
    }
    check_close(actual, rounded, Tolerance::new(0.15 * scale, 0.0))
        .map_err(|e| format!("against the rounded reference: {e}"))
}

/// The reference's logits of `tokens`: exact, and with the products'
/// inputs rounded as the project's kernels round them for `dtype`.
fn reference_logits(reference: Reference, dtype: DType, tokens: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let exact = reference.logits(tokens).concat();
    let rounded = reference
        .with_8_bit_activations(dtype.block_size())
        .logits(tokens)
        .concat();
    (exact, rounded)
}

#[test]
fn own_kernels_match_the_reference_and_prefill_matches_decode() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = context(BackendChoice::Auto);
    for (dtype, dims) in CASES {
        let model_file = write_model(dims, dtype, false, seed);
        let gguf = GgufFile::open(&model_file.path).unwrap();
        let reference = Reference::load(&gguf, dims);
        let mut model = Qwen2Model::load(&gguf, &ctx, 16).unwrap();
        let tokens = random_tokens(&mut r, 9, dims.vocab);
        let batched = model.forward(&ctx, &tokens, true).unwrap();
        let (exact, rounded) = reference_logits(reference, dtype, &tokens);
        if let Err(msg) = check_own_kernels(dtype, &batched, &exact, &rounded) {
            panic!("{dtype} against the reference: {msg}");
        }
        // One token at a time. Float weights: the same f32 arithmetic as
        // the batch, so equal up to its rounding. Quantized weights: a
        // one-row product may run another kernel (AVX-512's row kernels)
        // that sums its floats in another order, and one activation of a
        // later product may then round to the adjacent 8-bit level, a step
        // the batch bound cannot hold; it meets the reference's bound as
        // the batch does.
        let stepped = decode_one_by_one(&mut model, &ctx, &tokens);
        let result = if dtype == DType::F32 {
            let batched64: Vec<f64> = batched.iter().map(|&v| f64::from(v)).collect();
            check_close(&stepped, &batched64, F32_LOGITS)
        } else {
            check_own_kernels(dtype, &stepped, &exact, &rounded)
        };
        if let Err(msg) = result {
            panic!("{dtype} decode against prefill: {msg}");
        }
    }
}

#[test]
fn a_cached_prefix_is_reused_after_truncate() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let mut r = rng(seed);
    let ctx = context(BackendChoice::Auto);
    let model_file = write_model(SMALL, DType::Q8_0, true, seed);
    let gguf = GgufFile::open(&model_file.path).unwrap();
    let mut model = Qwen2Model::load(&gguf, &ctx, 24).unwrap();
    let first = random_tokens(&mut r, 10, SMALL.vocab);
    let second = random_tokens(&mut r, 5, SMALL.vocab);
    // Evaluate first + a discarded tail, cut back to `first`, continue.
    model.forward(&ctx, &first, false).unwrap();
    model
        .forward(&ctx, &random_tokens(&mut r, 6, SMALL.vocab), false)
        .unwrap();
    model.truncate(first.len());
    assert_eq!(model.position(), first.len());
    let continued = model.forward(&ctx, &second, true).unwrap();
    model.truncate(0);
    let all: Vec<u32> = first.iter().chain(&second).copied().collect();
    let fresh = model.forward(&ctx, &all, true).unwrap();
    let tail: Vec<f64> = fresh[first.len() * SMALL.vocab..]
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    if let Err(msg) = check_close(&continued, &tail, F32_LOGITS) {
        panic!("{msg}");
    }
}

#[test]
fn the_context_limit_is_an_error_that_evaluates_nothing() {
    let seed = fresh_seed();
    let ctx = context(BackendChoice::Auto);
    let model_file = write_model(SMALL, DType::F32, false, seed);
    let gguf = GgufFile::open(&model_file.path).unwrap();
    assert!(Qwen2Model::load(&gguf, &ctx, SMALL.context + 1).is_err());
    assert!(Qwen2Model::load(&gguf, &ctx, 0).is_err());
    let mut model = Qwen2Model::load(&gguf, &ctx, 8).unwrap();
    assert_eq!(model.context_size(), 8);
    let first = model.forward(&ctx, &[1, 2, 3, 4, 5, 6], false).unwrap();
    assert_eq!(first.len(), SMALL.vocab);
    assert!(model.forward(&ctx, &[7, 8, 9], false).is_err());
    assert_eq!(model.position(), 6);
    assert!(model.forward(&ctx, &[SMALL.vocab as u32], false).is_err());
    assert!(model.forward(&ctx, &[], false).is_err());
    assert_eq!(model.position(), 6);
    let last = model.forward(&ctx, &[7, 8], true).unwrap();
    assert_eq!(last.len(), 2 * SMALL.vocab);
    assert_eq!(model.position(), 8);
    assert!(model.forward(&ctx, &[1], false).is_err());
}
