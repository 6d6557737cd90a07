//! Chat prompts: the model's Jinja chat template (`tokenizer.chat_template`)
//! rendered with minijinja, configured like Hugging Face's renderer (blocks
//! trimmed, Python string methods available).

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

    /// The model's template, or ChatML (said once on stderr) when the file
    /// has none.
    pub fn from_gguf(gguf: &GgufFile, tokenizer: &Tokenizer) -> Result<ChatTemplate> {
        let Some(value) = gguf.get("tokenizer.chat_template") else {
            if !FALLBACK_ANNOUNCED.swap(true, Ordering::Relaxed) {
                eprintln!("metallic: the model has no chat template; using ChatML");
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
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(template_error)
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
}
