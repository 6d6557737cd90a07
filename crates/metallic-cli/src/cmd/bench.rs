//! `metallic bench`: prefill and decode throughput, like llama-bench.

use std::process::ExitCode;

use std::path::Path;

use metallic::generate::bench::{bench, BenchResult};
use metallic::gguf::{GgufFile, Value};
use metallic::{Error, Result};
use serde::Serialize;

use super::inspect::file_type_of;
use super::run_options::RunOptions;
use crate::output;

/// Measure prefill and decode speed (tokens per second, mean ± sd)
#[derive(clap::Args, Debug)]
#[command(mut_arg("ctx_size", |a| a.help(
    "Tokens the KV cache holds, at most the model's context length [default: the longest test]"
)))]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    /// Prompt sizes to prefill, comma-separated (0 skips prefill tests)
    #[arg(
        short = 'p',
        long,
        value_name = "N,..",
        value_delimiter = ',',
        default_value = "128,512"
    )]
    prompt_tokens: Vec<usize>,
    /// Token counts to decode one at a time, comma-separated (0 skips
    /// decode tests)
    #[arg(long, value_name = "N,..", value_delimiter = ',', default_value = "64")]
    gen_tokens: Vec<usize>,
    /// Measured runs of each test (after one warm-up run)
    #[arg(short = 'r', long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Print one JSON object {model: {name, file_type, size_bytes, params},
    /// device, threads, results: [...]}
    #[arg(long)]
    json: bool,
}

/// What the results are of, as llama-bench names it.
#[derive(Serialize)]
struct ModelSummary {
    /// `general.name`, else the file's name.
    name: String,
    /// `Q4_K_M`, … (from `general.file_type`), when the file says.
    file_type: Option<&'static str>,
    /// Bytes of tensor data.
    size_bytes: u64,
    /// Weights, all tensors' elements.
    params: u64,
}

impl ModelSummary {
    fn of(path: &Path, gguf: &GgufFile) -> ModelSummary {
        let name = gguf
            .get("general.name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                path.file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            });
        ModelSummary {
            name,
            file_type: file_type_of(gguf),
            size_bytes: gguf.tensors().iter().map(|t| t.bytes as u64).sum(),
            params: gguf.tensors().iter().map(|t| t.n_elements()).sum(),
        }
    }

    fn label(&self) -> String {
        match self.file_type {
            Some(file_type) => format!("{} {file_type}", self.name),
            None => self.name.clone(),
        }
    }
}

/// `491.40 MB`, `1.20 GB`.
fn size_text(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.2} MB", bytes as f64 / 1e6)
    }
}

/// `494.03 M`, `1.54 B`.
fn params_text(params: u64) -> String {
    if params >= 1_000_000_000 {
        format!("{:.2} B", params as f64 / 1e9)
    } else {
        format!("{:.2} M", params as f64 / 1e6)
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    // The cache only needs to hold the longest test.
    let longest = args
        .prompt_tokens
        .iter()
        .chain(&args.gen_tokens)
        .copied()
        .max()
        .unwrap_or(0);
    if longest == 0 {
        return Err(Error::InvalidArgument(
            "nothing to measure: --prompt-tokens and --gen-tokens are all 0".into(),
        ));
    }
    let path = args.run.model_path()?;
    let mut loaded = args
        .run
        .load_from(&path, |c| args.run.ctx_size_or(longest, c))?;
    let model = ModelSummary::of(&path, &loaded.gguf);
    let threads = loaded.ctx.threads();
    let device = loaded.ctx.device().to_string();
    let json = args.json;
    let row = |cells: [&str; 7]| {
        format!(
            "| {:<w$} | {:>10} | {:>9} | {:>6} | {:>7} | {:<6} | {:>16} |",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            w = model.label().chars().count().max(5)
        )
    };
    if !json {
        output::println(&row([
            "model", "size", "params", "device", "threads", "test", "t/s",
        ]))?;
        let rule = row(["", "", "", "", "", "", ""]).replace(' ', "-");
        output::println(&rule)?;
    }
    let size = size_text(model.size_bytes);
    let params = params_text(model.params);
    let label = model.label();
    let threads_text = threads.to_string();
    // Kept to be returned after: the engine's callback cannot fail.
    let mut write_error = None;
    let results = bench(
        &mut loaded.model,
        &loaded.ctx,
        &args.prompt_tokens,
        &args.gen_tokens,
        args.repetitions as usize,
        |r: &BenchResult| {
            if !json && write_error.is_none() {
                let rate = format!("{:.2} ± {:.2}", r.mean, r.sd);
                let line = row([
                    &label,
                    &size,
                    &params,
                    &device,
                    &threads_text,
                    &r.test,
                    &rate,
                ]);
                write_error = output::println(&line).err();
            }
        },
    )?;
    write_error.map_or(Ok(()), Err)?;
    if json {
        output::json_line(&serde_json::json!({
            "model": model,
            "device": device,
            "threads": threads,
            "results": results,
        }))?;
    }
    args.run.report_profile(&loaded.ctx);
    Ok(ExitCode::SUCCESS)
}
