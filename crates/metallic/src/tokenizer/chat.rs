//! Chat prompts: the model's Jinja chat template (`tokenizer.chat_template`)
//! rendered with minijinja, configured like Hugging Face's renderer (blocks
//! trimmed, Python string methods available). A template comes from the
//! model file, so it is untrusted: each rendering has a budget of steps and
//! of output, and ends in an error past either.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::{context, Environment, ErrorKind};
use serde::Serialize;

use super::Tokenizer;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;

/// ChatML, which Qwen models speak; used when a model brings no template.
const CHATML: &str = "{%- for message in messages %}\
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const TEMPLATE_NAME: &str = "chat";

/// Template instructions one rendering may run (minijinja's fuel). Qwen's
/// template spends about a hundred per message; a loop that never ends
/// runs out in well under a second.
const RENDER_STEPS: u64 = 5_000_000;

/// Bytes one rendering may write: far past any prompt a context holds.
const RENDER_OUTPUT_BYTES: usize = 64 << 20;

/// The ChatML fallback is announced once per process, not per prompt.
static FALLBACK_ANNOUNCED: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage::new("assistant", content)
    }
}

pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` and `eos_token` are the texts the
    /// template sees under those names.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(RENDER_STEPS));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(template_error)?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The built-in ChatML template.
    pub fn chatml() -> ChatTemplate {
        // CHATML is a fixed, valid template: compiling it cannot fail.
        ChatTemplate::new(CHATML, "", "<|im_end|>").unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The model's template, or ChatML (a warning logged once) when the
    /// file has none.
    pub fn from_gguf(gguf: &GgufFile, tokenizer: &Tokenizer) -> Result<ChatTemplate> {
        let Some(value) = gguf.get("tokenizer.chat_template") else {
            if !FALLBACK_ANNOUNCED.swap(true, Ordering::Relaxed) {
                tracing::warn!("the model has no chat template; using ChatML");
            }
            return Ok(ChatTemplate::chatml());
        };
        let source = value.as_str().ok_or_else(|| Error::Config {
            key: "tokenizer.chat_template".into(),
            detail: "not a string".into(),
        })?;
        let text_of = |id: Option<u32>| -> Result<String> {
            match id {
                Some(id) => Ok(tokenizer.token_text(id)?.to_owned()),
                None => Ok(String::new()),
            }
        };
        ChatTemplate::new(
            source,
            &text_of(tokenizer.bos_id())?,
            &text_of(tokenizer.eos_id())?,
        )
    }

    /// The prompt for `messages`; with `add_generation_prompt` it ends by
    /// opening the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(template_error)?;
        let mut out = CappedOutput::default();
        let rendered = template.render_captured_to(
            context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            },
            &mut out,
        );
        match rendered {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| Error::Template("the output is not UTF-8".into())),
            Err(_) if out.overflowed => Err(Error::Template(format!(
                "the output passed {} MiB; the template is broken or hostile",
                RENDER_OUTPUT_BYTES >> 20
            ))),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(Error::Template(format!(
                "rendering ran past {RENDER_STEPS} steps; the template is broken or hostile"
            ))),
            Err(e) => Err(template_error(e)),
        }
    }
}

/// The rendered text, refusing to grow past `RENDER_OUTPUT_BYTES`.
#[derive(Default)]
struct CappedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > RENDER_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(io::Error::other("chat template output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Templates call `raise_exception(message)` to reject a conversation.
fn raise_exception(message: String) -> std::result::Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

fn template_error(e: minijinja::Error) -> Error {
    let mut text = e.to_string();
    if let Some(detail) = e.detail() {
        if !text.contains(detail) {
            text = format!("{text}: {detail}");
        }
    }
    Error::Template(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Vec<ChatMessage> {
        vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello."),
            ChatMessage::user("Bye"),
        ]
    }

    #[test]
    fn chatml_writes_each_turn_and_opens_the_assistant_turn_on_request() {
        let chatml = ChatTemplate::chatml();
        let turns = "<|im_start|>system\nBe brief.<|im_end|>\n\
                     <|im_start|>user\nHi<|im_end|>\n\
                     <|im_start|>assistant\nHello.<|im_end|>\n\
                     <|im_start|>user\nBye<|im_end|>\n";
        assert_eq!(chatml.render(&conversation(), false).unwrap(), turns);
        assert_eq!(
            chatml.render(&conversation(), true).unwrap(),
            format!("{turns}<|im_start|>assistant\n")
        );
    }

    #[test]
    fn python_string_methods_and_block_trimming_work_as_in_hugging_face() {
        let source = "{% for m in messages %}\n  {% if m.content.startswith('H') %}\n{{ m.content.upper() }}|{% endif %}\n{% endfor %}{{ bos_token }}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        assert_eq!(
            template.render(&conversation(), false).unwrap(),
            "HI|HELLO.|<s>"
        );
    }

    #[test]
    fn template_errors_are_reported_not_panicked() {
        let err = ChatTemplate::new("{% for %}", "", "").err().unwrap();
        assert!(matches!(err, Error::Template(_)), "{err}");
        let strict =
            ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let err = strict.render(&conversation(), true).unwrap_err();
        assert!(err.to_string().contains("roles must alternate"), "{err}");
    }

    #[test]
    fn a_template_that_never_ends_or_floods_is_stopped_with_a_clear_error() {
        let endless = "{% for a in range(100000) %}{% for b in range(100000) %}{{ '' }}{% endfor %}{% endfor %}";
        let err = ChatTemplate::new(endless, "", "")
            .unwrap()
            .render(&conversation(), true)
            .unwrap_err();
        assert!(err.to_string().contains("steps"), "{err}");
        let flood = "{% for a in range(100000) %}{{ 'x' * 10000000 }}{% endfor %}";
        let err = ChatTemplate::new(flood, "", "")
            .unwrap()
            .render(&conversation(), true)
            .unwrap_err();
        assert!(err.to_string().contains("MiB"), "{err}");
        // Both budgets are far above what a real conversation needs.
        let long: Vec<ChatMessage> = (0..2000)
            .map(|i| ChatMessage::user(format!("message {i} {}", "y".repeat(1000))))
            .collect();
        let text = ChatTemplate::chatml().render(&long, true).unwrap();
        assert!(text.ends_with("<|im_start|>assistant\n"));
    }
}
