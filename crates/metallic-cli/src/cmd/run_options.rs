//! Options every command that runs the model shares, and loading the model
//! with them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use metallic::gguf::GgufFile;
use metallic::models::qwen2::{Qwen2Config, Qwen2Model};
use metallic::tokenizer::Tokenizer;
use metallic::{Context, Device, Result};

use crate::model_arg::ModelArg;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct RunOptions {
    #[command(flatten)]
    model: ModelArg,
    /// Worker threads, at most the number of cores [default: every core]
    #[arg(short = 't', long, value_name = "N", env = "METALLIC_THREADS", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Where to run: cpu, cuda or cuda:N (cuda needs a build with
    /// `--features cuda`)
    #[arg(long, value_name = "DEVICE", default_value = "cpu", value_parser = parse_device)]
    device: Device,
    /// Print the matmul dispatch summary at the end
    #[arg(long)]
    profile: bool,
    /// Tokens the KV cache holds, at most the model's context length
    /// (each command's help shows its default)
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    ctx_size: Option<u32>,
}

/// More threads than cores only makes them wait on each other (10000 turns
/// a 0.3 s run into 100 s): the count is capped at the cores, with a
/// warning.
fn capped_threads(asked: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if asked > cores {
        tracing::warn!("--threads {asked} is more than the {cores} cores here; using {cores}");
        cores
    } else {
        asked
    }
}

fn parse_device(spec: &str) -> std::result::Result<Device, String> {
    Device::parse(spec).map_err(|e| e.to_string())
}

/// A model ready to run.
pub struct Loaded {
    pub ctx: Context,
    pub gguf: GgufFile,
    pub tokenizer: Tokenizer,
    pub model: Qwen2Model,
}

impl RunOptions {
    /// The context size asked for, else `default` capped at the model's.
    pub fn ctx_size_or(&self, default: usize, config: &Qwen2Config) -> usize {
        match self.ctx_size {
            Some(n) => n as usize,
            None => default.min(config.context_length),
        }
    }

    /// Resolves (fetching if needed) and loads the model, showing a spinner
    /// meanwhile; `ctx_size` picks the KV cache size from the config.
    pub fn load(&self, ctx_size: impl FnOnce(&Qwen2Config) -> usize) -> Result<Loaded> {
        self.load_from(&self.model_path()?, ctx_size)
    }

    /// The model file (fetching the default model if needed).
    pub fn model_path(&self) -> Result<PathBuf> {
        self.model.resolve()
    }

    /// `load` of the model at `path`.
    pub fn load_from(
        &self,
        path: &Path,
        ctx_size: impl FnOnce(&Qwen2Config) -> usize,
    ) -> Result<Loaded> {
        let spinner =
            ProgressBar::new_spinner().with_message(format!("loading {}", path.display()));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            spinner.set_style(style);
        }
        spinner.enable_steady_tick(Duration::from_millis(100));
        let loaded = self.open(path, ctx_size);
        spinner.finish_and_clear();
        if let Ok(loaded) = &loaded {
            tracing::info!(
                "loaded {} in {:.2} s: {} threads on {}, context of {} tokens",
                path.display(),
                spinner.elapsed().as_secs_f64(),
                loaded.ctx.threads(),
                loaded.ctx.device(),
                loaded.model.context_size()
            );
        }
        loaded
    }

    fn open(&self, path: &Path, ctx_size: impl FnOnce(&Qwen2Config) -> usize) -> Result<Loaded> {
        let ctx = Context::builder(self.device.clone())
            .threads(self.threads.map(|n| capped_threads(n as usize)))
            .profile(self.profile.then_some(true))
            .build()?;
        let gguf = GgufFile::open(path)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let size = ctx_size(&Qwen2Config::from_gguf(&gguf)?);
        let model = Qwen2Model::load(&gguf, &ctx, size)?;
        Ok(Loaded {
            ctx,
            gguf,
            tokenizer,
            model,
        })
    }

    /// With `--profile` (or `METALLIC_PROFILE`), the dispatch summary on
    /// stderr.
    pub fn report_profile(&self, ctx: &Context) {
        if ctx.instrumentation().enabled() {
            output::note(&ctx.instrumentation().summary().to_string());
        }
    }
}
