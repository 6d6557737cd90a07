//! The quick way in: [`Engine`] loads a model (the default one, fetched on
//! first use, or a GGUF file) and generates from a prompt; [`Chat`] holds a
//! conversation with it. Everything below (the [`Context`], the model, the
//! tokenizer, the generation loop) stays reachable for finer control.

use std::ops::ControlFlow;
use std::path::Path;

use crate::context::Context;
use crate::device::Device;
use crate::error::Result;
use crate::fetch::resolve_model;
use crate::generate::{
    generate, ChatSession, GenerateOutput, GenerateRequest, ReplySettings, SamplingOptions,
};
use crate::gguf::GgufFile;
use crate::models::qwen2::{Qwen2Config, Qwen2Model};
use crate::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

/// Positions the KV cache holds unless [`EngineOptions::context_size`] says
/// otherwise (capped at the model's context length).
pub const DEFAULT_CONTEXT_SIZE: usize = 4096;

/// How to load a model.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Where to run (default: the CPU).
    pub device: Device,
    /// Worker threads (default: every core, or `METALLIC_THREADS`).
    pub threads: Option<usize>,
    /// Positions the KV cache holds (default: [`DEFAULT_CONTEXT_SIZE`], or
    /// the model's context length when smaller).
    pub context_size: Option<usize>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            device: Device::Cpu,
            threads: None,
            context_size: None,
        }
    }
}

/// What to generate: limits and sampling. The default is llama.cpp's
/// sampling and at most 256 tokens.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Generation ends before the first of these in the text.
    pub stop: Vec<String>,
    /// Temperature, top-k/top-p/min-p, penalties, seed.
    pub sampling: SamplingOptions,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            stop: Vec::new(),
            sampling: SamplingOptions::default(),
        }
    }
}

/// A model loaded and ready to generate.
pub struct Engine {
    ctx: Context,
    gguf: GgufFile,
    tokenizer: Tokenizer,
    model: Qwen2Model,
}

impl Engine {
    /// Loads the GGUF file at `model`, or the default model when `None`
    /// (`$METALLIC_MODEL`, else Qwen2.5-Coder-0.5B-Instruct Q4_K_M, fetched
    /// into the cache once).
    pub fn load(model: Option<&Path>, options: &EngineOptions) -> Result<Engine> {
        let path = resolve_model(model.map(Path::to_path_buf))?;
        let ctx = Context::builder(options.device.clone())
            .threads(options.threads)
            .build()?;
        let gguf = GgufFile::open(&path)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let config = Qwen2Config::from_gguf(&gguf)?;
        let size = options
            .context_size
            .unwrap_or(DEFAULT_CONTEXT_SIZE.min(config.context_length));
        let model = Qwen2Model::load(&gguf, &ctx, size)?;
        Ok(Engine {
            ctx,
            gguf,
            tokenizer,
            model,
        })
    }

    /// Continues `prompt` (special tokens such as `<|im_start|>` written in
    /// it are parsed).
    pub fn generate(&mut self, prompt: &str, options: &GenerateOptions) -> Result<GenerateOutput> {
        self.generate_streaming(prompt, options, |_| ControlFlow::Continue(()))
    }

    /// `generate`, with the text passed to `on_text` as it comes;
    /// returning `Break` from it stops generation.
    pub fn generate_streaming(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerateOutput> {
        let request = GenerateRequest {
            prompt_ids: self.tokenizer.encode(prompt, true)?,
            max_tokens: options.max_tokens,
            stop_strings: options.stop.clone(),
            sampling: options.sampling.clone(),
        };
        generate(
            &mut self.model,
            &self.ctx,
            &self.tokenizer,
            &request,
            on_text,
        )
    }

    /// A conversation through the model's chat template, starting with
    /// `system` when given; each reply follows `options`.
    pub fn chat(&mut self, system: Option<&str>, options: &GenerateOptions) -> Result<Chat<'_>> {
        let template = ChatTemplate::from_gguf(&self.gguf, &self.tokenizer)?;
        Ok(Chat {
            session: ChatSession::new(template, system.map(str::to_owned)),
            settings: ReplySettings {
                max_tokens: options.max_tokens,
                stop_strings: options.stop.clone(),
                sampling: options.sampling.clone(),
            },
            engine: self,
        })
    }

    /// The tokenizer, to encode and decode by hand.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's metadata and tensors.
    pub fn gguf(&self) -> &GgufFile {
        &self.gguf
    }

    /// The device, threads and kernel caches the model runs with.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Positions the KV cache holds.
    pub fn context_size(&self) -> usize {
        self.model.context_size()
    }
}

/// A conversation with an [`Engine`]'s model. It keeps going past the
/// context by dropping the oldest turns (the system message stays).
pub struct Chat<'e> {
    engine: &'e mut Engine,
    session: ChatSession,
    settings: ReplySettings,
}

impl Chat<'_> {
    /// The model's answer to `message`.
    pub fn send(&mut self, message: &str) -> Result<String> {
        self.send_streaming(message, |_| ControlFlow::Continue(()))
            .map(|output| output.text)
    }

    /// `send`, with the answer passed to `on_text` as it comes; returning
    /// `Break` stops it (what was said so far stays in the conversation).
    pub fn send_streaming(
        &mut self,
        message: &str,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerateOutput> {
        let engine = &mut *self.engine;
        self.session.reply(
            &mut engine.model,
            &engine.ctx,
            &engine.tokenizer,
            message,
            &self.settings,
            on_text,
        )
    }

    /// The conversation so far, system message first.
    pub fn messages(&self) -> &[ChatMessage] {
        self.session.messages()
    }

    /// Forgets the conversation (the system message stays).
    pub fn reset(&mut self) {
        self.session.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_seed;
    use crate::testing::tiny_model::TinyModelFile;

    fn greedy(max_tokens: usize) -> GenerateOptions {
        GenerateOptions {
            max_tokens,
            sampling: SamplingOptions::greedy(),
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn an_engine_generates_and_chats_on_a_tiny_model() {
        let file = TinyModelFile::new(fresh_seed()).unwrap();
        let options = EngineOptions {
            threads: Some(1),
            context_size: Some(128),
            ..EngineOptions::default()
        };
        let mut engine = Engine::load(Some(&file.path), &options).unwrap();
        assert_eq!(engine.context_size(), 128);
        let first = engine.generate("hello", &greedy(6)).unwrap();
        assert!(first.generated_ids.len() <= 6);
        assert_eq!(first.prompt_ids, b"hello".map(u32::from));
        // Greedy from an empty cache is reproducible.
        let again = engine.generate("hello", &greedy(6)).unwrap();
        assert_eq!(first.generated_ids, again.generated_ids);

        let mut chat = engine.chat(Some("be brief"), &greedy(3)).unwrap();
        let answer = chat.send("hi").unwrap();
        chat.send("and then?").unwrap();
        let messages = chat.messages();
        assert_eq!(messages.len(), 5);
        assert_eq!(messages[2], ChatMessage::assistant(answer));
        chat.reset();
        assert_eq!(chat.messages(), [ChatMessage::system("be brief")]);
    }

    #[test]
    fn a_missing_model_file_is_an_error_naming_it() {
        let err = Engine::load(Some(Path::new("/no/such.gguf")), &EngineOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such.gguf"), "{err}");
    }
}
