//! The default model against llama.cpp (tests/fixtures, copied from
//! shared/fixtures): greedy continuations of golden-llamacpp.json and the
//! perplexity of ppl_text.txt at context 128. The model is fetched into the
//! cache on first use (or taken from `$METALLIC_MODEL`). They run on the
//! CPU, or on the device `$METALLIC_TEST_DEVICE` names.

mod common;

use common::{default_gguf, default_tokenizer, fixture, fixtures_dir, ids};
use metallic::models::qwen2::Qwen2Model;
use metallic::{Context, Device};
use serde_json::Value;

/// A step where llama.cpp's top two logits are closer than this may go
/// either way: llama.cpp quantizes activations to 8 bits inside its dot
/// products and keeps an f16 KV cache, and its logits differ from an exact
/// float32 evaluation (transformers) by up to 0.19 on these very cases
/// (reference-transformers-fp32.json, `logits_vs_llamacpp_top5`). Twice
/// that is the margin below which a different argmax is not a bug. Every
/// step of the fixtures has a margin of at least 0.178, so most must match.
const TINY_MARGIN: f64 = 0.4;

/// How much noisier than llama.cpp's our logits may be, as a ratio of RMS
/// deviations from exact float32 logits (transformers). Both round
/// activations to 8 bits inside quantized products (llama.cpp also keeps an
/// f16 KV cache), so the deviations are of one kind and size; the per-case
/// RMS of llama.cpp's is in reference-transformers-fp32.json.
const NOISE_RATIO: f64 = 1.5;

/// A text fixture, from the directory the JSON ones come from.
fn text_fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CPU, or the device `METALLIC_TEST_DEVICE` names (`cuda`, `cuda:N`):
/// the GPU round runs these tests on the GPU that way, and fails, never
/// skips, when that device cannot be opened.
fn context() -> Context {
    let device = match std::env::var("METALLIC_TEST_DEVICE") {
        Ok(name) => Device::parse(&name).unwrap_or_else(|e| panic!("METALLIC_TEST_DEVICE: {e}")),
        Err(_) => Device::Cpu,
    };
    Context::new(device.clone()).unwrap_or_else(|e| panic!("a context on {device}: {e}"))
}

/// The largest logit's id, ties to the lower id.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn greedy_continuations_match_llama_cpp() {
    let golden: Value = fixture("golden-llamacpp.json");
    let ctx = context();
    let mut model = Qwen2Model::load(default_gguf(), &ctx, 512).unwrap();
    let mut unexplained = Vec::new();
    for case in golden["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap();
        let prompt = ids(&case["prompt_ids"]);
        let expected = ids(&case["generated_ids"]);
        let margins: Vec<f64> = case["top1_minus_top2_margin_per_step"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect();
        model.truncate(0);
        let mut logits = model.forward(&ctx, &prompt, false).unwrap();
        let mut generated = Vec::new();
        for (step, &want) in expected.iter().enumerate() {
            let got = argmax(&logits);
            if got != want {
                let (ours, theirs) = (logits[got as usize], logits[want as usize]);
                let report = format!(
                    "{name}: first divergence at step {step}: ours {got} (logit {ours:.4}) vs \
                     llama.cpp {want} (our logit {theirs:.4}, our margin {:.4}); llama.cpp's \
                     margin {:.4}",
                    ours - theirs,
                    margins[step]
                );
                println!("{report}");
                if margins[step] >= TINY_MARGIN {
                    unexplained.push(report);
                }
                break;
            }
            generated.push(got);
            logits = model.forward(&ctx, &[got], false).unwrap();
        }
        println!(
            "{name}: {} of {} ids equal",
            generated.len(),
            expected.len()
        );
    }
    assert!(
        unexplained.is_empty(),
        "divergences at comfortable margins: {unexplained:#?}"
    );
}

/// llama.cpp's method: whole chunks of `n` tokens (no BOS), each from an
/// empty cache; the logits at positions n/2 .. n−2 score the next token.
#[test]
fn perplexity_at_context_128_is_within_one_percent_of_llama_cpp() {
    const N: usize = 128;
    const LLAMA_CPP: f64 = 40.9306;
    let tokens = default_tokenizer()
        .encode(&text_fixture("ppl_text.txt"), false)
        .unwrap();
    let ctx = context();
    let mut model = Qwen2Model::load(default_gguf(), &ctx, N).unwrap();
    let vocab = model.config().vocab_size;
    let (mut nll, mut scored) = (0.0f64, 0usize);
    for chunk in tokens.chunks_exact(N) {
        model.truncate(0);
        let logits = model.forward(&ctx, chunk, true).unwrap();
        for i in N / 2..N - 1 {
            let row = &logits[i * vocab..(i + 1) * vocab];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_sum = row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln()
                + max;
            nll += log_sum - row[chunk[i + 1] as usize] as f64;
            scored += 1;
        }
        println!("running perplexity {:.4}", (nll / scored as f64).exp());
    }
    assert_eq!(scored, 4 * 63, "{} tokens", tokens.len());
    let ppl = (nll / scored as f64).exp();
    println!("perplexity {ppl:.4} (llama.cpp {LLAMA_CPP})");
    assert!((ppl / LLAMA_CPP - 1.0).abs() < 0.01, "perplexity {ppl}");
}

/// Teacher-forced on llama.cpp's continuation in one batch (prefill with
/// every position's logits): our logits of the top-5 ids at each step
/// against both references.
#[test]
fn teacher_forced_logits_stay_as_close_to_exact_as_llama_cpps() {
    let golden: Value = fixture("golden-llamacpp.json");
    let exact: Value = fixture("reference-transformers-fp32.json");
    let ctx = context();
    let mut model = Qwen2Model::load(default_gguf(), &ctx, 512).unwrap();
    let vocab = model.config().vocab_size;
    let mut too_noisy = Vec::new();
    for (case, exact_case) in golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(exact["cases"].as_array().unwrap())
    {
        let name = case["name"].as_str().unwrap();
        assert_eq!(exact_case["name"].as_str(), Some(name));
        let prompt = ids(&case["prompt_ids"]);
        let generated = ids(&case["generated_ids"]);
        let tokens: Vec<u32> = prompt
            .iter()
            .chain(&generated[..generated.len() - 1])
            .copied()
            .collect();
        model.truncate(0);
        let logits = model.forward(&ctx, &tokens, true).unwrap();
        let (mut to_llama, mut to_exact) = (Vec::new(), Vec::new());
        let steps = exact_case["teacher_forced"]["steps"].as_array().unwrap();
        for (step, llama_top5) in case["top5_logits_per_step"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let row = &logits[(prompt.len() - 1 + step) * vocab..][..vocab];
            let pairs = |top5: &Value| -> Vec<(usize, f64)> {
                top5.as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
                    .collect()
            };
            for (id, v) in pairs(llama_top5) {
                to_llama.push(f64::from(row[id]) - v);
            }
            for (id, v) in pairs(&steps[step]["top5"]) {
                to_exact.push(f64::from(row[id]) - v);
            }
        }
        let stats = |d: &[f64]| {
            let max = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let rms = (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt();
            (max, rms)
        };
        let (llama_max, llama_rms) = stats(&to_llama);
        let (exact_max, exact_rms) = stats(&to_exact);
        println!(
            "{name}: top-5 logits vs llama.cpp max {llama_max:.4} rms {llama_rms:.4}; \
             vs transformers fp32 max {exact_max:.4} rms {exact_rms:.4}"
        );
        let llama_rms_from_exact = exact_case["teacher_forced"]["logits_vs_llamacpp_top5"]
            ["rms_diff"]
            .as_f64()
            .unwrap();
        if exact_rms > NOISE_RATIO * llama_rms_from_exact {
            too_noisy.push(format!(
                "{name}: RMS {exact_rms:.4} from exact logits, llama.cpp's {llama_rms_from_exact}"
            ));
        }
    }
    assert!(too_noisy.is_empty(), "{too_noisy:#?}");
}
