//! Prefill and decode speed of the Qwen2 forward pass, and peak memory:
//! `cargo run --release -p metallic --example qwen2_speed [PROMPT_TOKENS]
//! [GEN_TOKENS] [CTX_SIZE]` (defaults 128, 64, 2048). The model is the
//! default one (fetched on first use) or `$METALLIC_MODEL`. With
//! `METALLIC_PROFILE=1`, the dispatch summaries of prefill and of decode
//! follow.

use metallic::gguf::GgufFile;
use metallic::models::qwen2::Qwen2Model;
use metallic::{Context, Device, Result};
use std::time::Instant;

fn arg(index: usize, default: usize) -> usize {
    std::env::args()
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process (Linux), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn main() -> Result<()> {
    let (prompt_tokens, gen_tokens, ctx_size) = (arg(1, 128), arg(2, 64), arg(3, 2048));
    let path = metallic::fetch::resolve_model(None)?;
    let ctx = Context::new(Device::Cpu)?;
    let gguf = GgufFile::open(&path)?;
    let mut model = Qwen2Model::load(&gguf, &ctx, ctx_size)?;
    let vocab = model.config().vocab_size as u32;
    // Ordinary text-like ids: a fixed spread over the vocabulary.
    let prompt: Vec<u32> = (0..prompt_tokens as u32)
        .map(|i| (i * 7919 + 13) % vocab.min(100_000))
        .collect();

    let start = Instant::now();
    let mut logits = model.forward(&ctx, &prompt, false)?;
    let prefill = start.elapsed().as_secs_f64();
    if ctx.instrumentation().enabled() {
        println!("prefill dispatches:\n{}", ctx.instrumentation().summary());
        ctx.instrumentation().clear();
    }

    let start = Instant::now();
    for _ in 0..gen_tokens {
        let next = argmax(&logits);
        logits = model.forward(&ctx, &[next], false)?;
    }
    let decode = start.elapsed().as_secs_f64();

    println!(
        "threads {}, backend {}, ctx {ctx_size}: prefill {prompt_tokens} tokens {:.1} tok/s; decode {gen_tokens} tokens {:.2} tok/s; peak RSS {:.0} MB",
        ctx.threads(),
        ctx.backend_choice().name(),
        prompt_tokens as f64 / prefill,
        gen_tokens as f64 / decode,
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    if ctx.instrumentation().enabled() {
        println!("decode dispatches:\n{}", ctx.instrumentation().summary());
    }
    Ok(())
}
