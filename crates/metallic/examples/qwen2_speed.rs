//! Prefill and decode speed of the Qwen2 forward pass, and peak memory:
//! `cargo run --release -p metallic --example qwen2_speed -- [--device
//! cpu|cuda|cuda:N] [--random TYPE [--tied]] [PROMPT_TOKENS] [GEN_TOKENS]
//! [CTX_SIZE]` (defaults cpu, 128, 64, 2048). The model is the default one
//! (fetched on first use) or `$METALLIC_MODEL`; with `--random TYPE` it is
//! a random-weight model of the default model's shapes with every matrix in
//! TYPE (Q8_0, Q5_0, F16, …), written to a temporary file that is removed
//! after; `--tied` leaves out its separate output matrix. One untimed
//! prefill and decode step come first (start-up: on a GPU, the kernels are
//! compiled or loaded from the disk cache then). With `METALLIC_PROFILE=1`,
//! the dispatch summaries of prefill and of decode follow.

use metallic::gguf::GgufFile;
use metallic::models::qwen2::Qwen2Model;
use metallic::testing::tiny_model::{TinyDims, TinyModelFile};
use metallic::{Context, DType, Device, Error, Result};
use std::time::Instant;

/// The default model's shapes (Qwen2.5-Coder-0.5B; its output matrix is
/// separate from the embedding table).
const DEFAULT_MODEL_DIMS: TinyDims = TinyDims {
    hidden: 896,
    heads: 14,
    kv_heads: 2,
    ffn: 4864,
    blocks: 24,
    vocab: 151_936,
    context: 32_768,
    rope_base: 1e6,
    rms_eps: 1e-6,
};

struct Options {
    device: Device,
    random: Option<DType>,
    tied: bool,
    prompt_tokens: usize,
    gen_tokens: usize,
    ctx_size: usize,
}

fn bad(what: impl Into<String>) -> Error {
    Error::InvalidArgument(what.into())
}

fn options() -> Result<Options> {
    let (mut device, mut random, mut tied, mut counts) = (Device::Cpu, None, false, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| bad(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--device" => device = Device::parse(&value()?)?,
            "--tied" => tied = true,
            "--random" => {
                let name = value()?;
                let dtype = DType::ALL
                    .into_iter()
                    .find(|t| t.name().eq_ignore_ascii_case(&name));
                random = Some(dtype.ok_or_else(|| bad(format!("unknown matrix type `{name}`")))?);
            }
            count => counts.push(
                count
                    .parse::<usize>()
                    .map_err(|_| bad(format!("`{count}` is neither an option nor a count")))?,
            ),
        }
    }
    if tied && random.is_none() {
        return Err(bad("--tied applies to a --random model"));
    }
    if counts.len() > 3 {
        return Err(bad("at most three counts: prompt, generated, context"));
    }
    let count = |i: usize, default: usize| counts.get(i).copied().unwrap_or(default);
    Ok(Options {
        device,
        random,
        tied,
        prompt_tokens: count(0, 128),
        gen_tokens: count(1, 64),
        ctx_size: count(2, 2048),
    })
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

#[cfg(feature = "cuda")]
fn print_kernel_stats(device: &Device) {
    if let Device::Cuda(gpu) = device {
        let s = gpu.kernel_stats();
        println!(
            "kernels: {} compiled ({:.2} s), {} loaded from disk ({:.2} s){}",
            s.compiled,
            s.compile_time.as_secs_f64(),
            s.loaded_from_disk,
            s.load_time.as_secs_f64(),
            s.disk_error
                .map(|e| format!("; disk cache: {e}"))
                .unwrap_or_default()
        );
    }
}

#[cfg(not(feature = "cuda"))]
fn print_kernel_stats(_: &Device) {}

fn main() -> Result<()> {
    let o = options()?;
    let random_file = match o.random {
        Some(dtype) => {
            let start = Instant::now();
            let file = TinyModelFile::write(DEFAULT_MODEL_DIMS, dtype, o.tied, 1)?;
            let bytes = std::fs::metadata(&file.path).map_err(|e| Error::io(&file.path, e))?;
            let mb = bytes.len() as f64 / 1e6;
            let secs = start.elapsed().as_secs_f64();
            println!("wrote a random {dtype} model of the default model's shapes ({mb:.0} MB) in {secs:.1} s");
            Some(file)
        }
        None => None,
    };
    let path = match &random_file {
        Some(file) => file.path.clone(),
        None => metallic::fetch::resolve_model(None)?,
    };
    let ctx = Context::new(o.device)?;

    let start = Instant::now();
    let gguf = GgufFile::open(&path)?;
    let mut model = Qwen2Model::load(&gguf, &ctx, o.ctx_size)?;
    let load = start.elapsed().as_secs_f64();
    let vocab = model.config().vocab_size as u32;
    // Ordinary text-like ids: a fixed spread over the vocabulary.
    let prompt: Vec<u32> = (0..o.prompt_tokens as u32)
        .map(|i| (i * 7919 + 13) % vocab.min(100_000))
        .collect();

    let start = Instant::now();
    let logits = model.forward(&ctx, &prompt, false)?;
    model.forward(&ctx, &[argmax(&logits)], false)?;
    model.truncate(0);
    let warm_up = start.elapsed().as_secs_f64();
    println!("load {load:.2} s; start-up (first prefill and decode step) {warm_up:.2} s");
    print_kernel_stats(ctx.device());
    ctx.instrumentation().clear();

    let start = Instant::now();
    let mut logits = model.forward(&ctx, &prompt, false)?;
    let prefill = start.elapsed().as_secs_f64();
    if ctx.instrumentation().enabled() {
        println!("prefill dispatches:\n{}", ctx.instrumentation().summary());
        ctx.instrumentation().clear();
    }

    let start = Instant::now();
    for _ in 0..o.gen_tokens {
        let next = argmax(&logits);
        logits = model.forward(&ctx, &[next], false)?;
    }
    let decode = start.elapsed().as_secs_f64();

    println!(
        "{}, threads {}, backend {}, ctx {}: prefill {} tokens {:.1} tok/s; decode {} tokens {:.2} tok/s; peak RSS {:.0} MB{}",
        ctx.device(),
        ctx.threads(),
        ctx.backend_choice().name(),
        o.ctx_size,
        o.prompt_tokens,
        o.prompt_tokens as f64 / prefill,
        o.gen_tokens,
        o.gen_tokens as f64 / decode,
        peak_rss_mb().unwrap_or(f64::NAN),
        // The writer holds the whole file in memory, twice.
        if o.random.is_some() { " (includes writing the random model)" } else { "" }
    );
    if ctx.instrumentation().enabled() {
        println!("decode dispatches:\n{}", ctx.instrumentation().summary());
    }
    Ok(())
}
