//! `metallic generate`: continue a prompt (or answer it with `--chat`),
//! streaming the text to stdout, then a stats line on stderr. Ctrl-C stops
//! generation (even during a long prefill) and still reports.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use metallic::generate::{generate, GenerateOutput, GenerateRequest, StopReason};
use metallic::tokenizer::{ChatMessage, ChatTemplate};
use metallic::{Error, Result};

use super::run_options::RunOptions;
use super::sampling_args::SamplingArgs;
use crate::{interrupt, output};

/// The KV cache of generate and chat when --ctx-size is not given (capped at
/// the model's context length).
pub const DEFAULT_CONTEXT: usize = 4096;

/// Generate text from a prompt
///
/// Ctrl-C stops generation, prints what was generated and the stats (or the
/// JSON, with stop_reason "interrupted") and exits with status 130.
#[derive(clap::Args, Debug)]
#[command(mut_arg("ctx_size", |a| a.help(
    "Tokens the KV cache holds, at most the model's context length [default: 4096, or the model's context length if smaller]"
)))]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Apply the model's chat template to PROMPT as a user message
    #[arg(long)]
    chat: bool,
    /// System message (implies --chat)
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// Print one JSON object {prompt_ids, generated_ids, text, stop_reason,
    /// timings} instead of streaming text
    #[arg(long)]
    json: bool,
    /// Read the prompt from this file
    #[arg(short = 'f', long, value_name = "PATH", conflicts_with = "prompt")]
    file: Option<PathBuf>,
    /// The prompt; `-` reads it from standard input
    #[arg(value_name = "PROMPT", required_unless_present = "file")]
    prompt: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // From the start: a Ctrl-C while the model loads stops before prefill.
    interrupt::catch()?;
    let sampling = args.sampling.options()?;
    let prompt = match (&args.file, args.prompt) {
        (Some(file), _) => std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?,
        (None, Some(dash)) if dash == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io("<stdin>", e))?;
            text
        }
        (None, prompt) => prompt.unwrap_or_default(),
    };
    let mut loaded = args
        .run
        .load(|c| args.run.ctx_size_or(DEFAULT_CONTEXT, c))?;
    let text = if args.chat || args.system.is_some() {
        let template = ChatTemplate::from_gguf(&loaded.gguf, &loaded.tokenizer)?;
        let mut messages: Vec<ChatMessage> =
            args.system.into_iter().map(ChatMessage::system).collect();
        messages.push(ChatMessage::user(prompt));
        template.render(&messages, true)?
    } else {
        prompt
    };
    let request = GenerateRequest {
        prompt_ids: loaded.tokenizer.encode(&text, true)?,
        max_tokens: args.sampling.max_tokens,
        stop_strings: args.sampling.stop,
        sampling,
    };
    let json = args.json;
    let mut stream = TextStream::default();
    let generated = generate(
        &mut loaded.model,
        &loaded.ctx,
        &loaded.tokenizer,
        &request,
        |text| {
            if json {
                TextStream::stop_on_interrupt()
            } else {
                stream.show(text)
            }
        },
    )?;
    stream.result()?;
    if json {
        let line = serde_json::to_string(&generated)
            .map_err(|e| Error::InvalidArgument(format!("cannot write JSON: {e}")))?;
        output::println(&line)?;
    } else {
        output::println("")?;
        report(&generated, loaded.model.context_size());
    }
    args.run.report_profile(&loaded.ctx);
    Ok(if generated.stop_reason == StopReason::Interrupted {
        ExitCode::from(interrupt::EXIT_STATUS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Streamed text shown on stdout as it comes, until Ctrl-C or a failed
/// write stops generation; the write error is kept to be returned after.
#[derive(Default)]
pub struct TextStream {
    failed: Option<Error>,
}

impl TextStream {
    /// The generation callback: shows `text`, says whether to go on.
    pub fn show(&mut self, text: &str) -> ControlFlow<()> {
        TextStream::stop_on_interrupt()?;
        if let Err(e) = output::print(text) {
            self.failed = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// The callback when nothing is shown: only Ctrl-C stops.
    pub fn stop_on_interrupt() -> ControlFlow<()> {
        if interrupt::requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// The write error that stopped generation, if one did.
    pub fn result(self) -> Result<()> {
        self.failed.map_or(Ok(()), Err)
    }
}

/// The stats line (and why generation stopped, when it is worth saying) on
/// stderr.
pub fn report(generated: &GenerateOutput, context_size: usize) {
    if generated.stop_reason == StopReason::ContextFull {
        output::note(&format!(
            "metallic: the context of {context_size} tokens is full; generation stopped (raise --ctx-size)"
        ));
    }
    let t = &generated.timings;
    let decode = match t.decode_tokens_per_s {
        Some(rate) => format!("{rate:.1} tok/s"),
        None => "-".into(),
    };
    output::note(&format!(
        "metallic: {}, time to first token {:.0} ms, prefill {:.1} tok/s, decode {decode}; {} generated ({})",
        output::count(t.prompt_tokens, "prompt token"),
        t.ttft_ms,
        t.prefill_tokens_per_s,
        output::count(generated.generated_ids.len(), "token"),
        generated.stop_reason.describe()
    ));
}
