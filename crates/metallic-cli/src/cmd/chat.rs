//! `metallic chat`: an interactive conversation that keeps going past the
//! context (the oldest turns are dropped). Commands: see `chat_input::HELP`.

use std::process::ExitCode;

use metallic::fetch::cache_dir;
use metallic::generate::{ChatSession, ReplySettings, StopReason};
use metallic::tokenizer::ChatTemplate;
use metallic::Result;

use super::generate::{report, TextStream, DEFAULT_CONTEXT};
use super::run_options::RunOptions;
use super::sampling_args::SamplingArgs;
use crate::chat_input::{ChatInput, Input, HELP};
use crate::{interrupt, output};

/// Chat with the model interactively
///
/// When the conversation outgrows the context, the oldest turns are dropped
/// (the system message stays). The arrow keys recall earlier lines (kept in
/// $METALLIC_HOME/chat_history).
#[derive(clap::Args, Debug)]
#[command(after_help = format!("Commands:\n{HELP}"))]
#[command(mut_arg("ctx_size", |a| a.help(
    "Tokens the KV cache holds, at most the model's context length [default: 4096, or the model's context length if smaller]"
)))]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// System message
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// Print the stats line after each answer
    #[arg(long)]
    stats: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let settings = ReplySettings {
        sampling: args.sampling.options()?,
        max_tokens: args.sampling.max_tokens,
        stop_strings: args.sampling.stop.clone(),
    };
    let mut loaded = args
        .run
        .load(|c| args.run.ctx_size_or(DEFAULT_CONTEXT, c))?;
    let template = ChatTemplate::from_gguf(&loaded.gguf, &loaded.tokenizer)?;
    let mut session = ChatSession::new(template, args.system.clone());
    interrupt::catch()?;
    let history = cache_dir().ok().map(|dir| dir.join("chat_history"));
    let mut input = ChatInput::new(history)?;
    output::note(
        "metallic chat: /help lists the commands; /exit or Ctrl-D leaves, Ctrl-C stops an answer",
    );
    loop {
        let line = match input.next()? {
            Input::Leave => break,
            Input::Help => {
                output::note(HELP);
                continue;
            }
            Input::Reset => {
                session.reset();
                output::note("(conversation forgotten)");
                continue;
            }
            Input::Unknown(command) => {
                output::note(&format!(
                    "metallic: unknown command {command}; /help lists the commands"
                ));
                continue;
            }
            Input::Message(line) if line.trim().is_empty() => continue,
            Input::Message(line) => line,
        };
        interrupt::clear();
        let dropped_before = session.dropped_messages();
        let mut stream = TextStream::default();
        let answer = session.reply(
            &mut loaded.model,
            &loaded.ctx,
            &loaded.tokenizer,
            &line,
            &settings,
            |text| stream.show(text),
        );
        // A closed stdout ends the chat; a failed answer does not.
        stream.result()?;
        output::println("")?;
        if dropped_before == 0 && session.dropped_messages() > 0 {
            output::note(&format!(
                "metallic: the conversation outgrew the context of {} tokens; its oldest turns are dropped from now on (the system message stays)",
                loaded.model.context_size()
            ));
        }
        match answer {
            Ok(answer) => {
                if args.stats || answer.stop_reason == StopReason::ContextFull {
                    report(&answer, loaded.model.context_size());
                }
            }
            Err(e) => output::note(&format!(
                "metallic: error: {e} (/reset starts a new conversation)"
            )),
        }
    }
    args.run.report_profile(&loaded.ctx);
    Ok(ExitCode::SUCCESS)
}
