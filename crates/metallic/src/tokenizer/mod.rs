//! Text to token ids and back: byte-level BPE from a GGUF vocabulary, special
//! tokens found in text, streaming decode, and the chat template.
//!
//! It follows llama.cpp: ids agree with `llama-tokenize` on the same model.

mod bpe;
pub(crate) mod byte_level;
pub mod chat;
mod special;
pub mod stream;

pub use chat::{ChatMessage, ChatTemplate};
pub use stream::StreamDecoder;

use crate::error::{Error, Result};
use crate::gguf::{Array, GgufFile, Value};
use bpe::Bpe;
use byte_level::ByteDecoder;
use special::{Segment, SpecialTokens};

/// A vocabulary entry's kind (`tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    /// Written by templates, never produced from text by BPE (`<|im_end|>`).
    Control,
    /// Matched in text as a whole even when control tokens are not.
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(id: usize, code: i32) -> Result<TokenType> {
        Ok(match code {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            other => {
                return Err(Error::Tokenizer(format!(
                    "token {id} has unknown token type {other}"
                )))
            }
        })
    }
}

/// Token texts that end generation whatever their id, as in llama.cpp (which
/// also decides this by text: GGUF has no key for it).
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    // Fill-in-the-middle pad, repository and file separators.
    "<|fim_pad|>",
    "<fim-pad>",
    "<|fim_repo|>",
    "<fim-repo>",
    "<|repo_name|>",
    "<|file_sep|>",
];

/// Everything a tokenizer is built from, as plain data (GGUF's
/// `tokenizer.ggml.*` keys).
#[derive(Clone, Debug, Default)]
pub struct TokenizerParts {
    pub tokens: Vec<String>,
    /// `"left right"` pairs, highest priority first.
    pub merges: Vec<String>,
    /// GGUF token type codes, one per token; empty means all normal.
    pub token_types: Vec<i32>,
    /// The pre-tokenizer's name; only `qwen2` is known.
    pub pre: String,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// Further ids the metadata says end a turn or message (eot, eom).
    pub eot_ids: Vec<u32>,
    /// Whether encoding starts with the BOS token.
    pub add_bos: bool,
}

pub struct Tokenizer {
    bpe: Bpe,
    special: SpecialTokens,
    tokens: Vec<String>,
    types: Vec<TokenType>,
    /// Every token's bytes back to back; token `i` ends at `piece_ends[i]`.
    pieces: Vec<u8>,
    piece_ends: Vec<usize>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
    eog_ids: Vec<u32>,
}

impl Tokenizer {
    pub fn from_parts(parts: TokenizerParts) -> Result<Tokenizer> {
        let TokenizerParts {
            tokens,
            merges,
            token_types,
            pre,
            bos_id,
            eos_id,
            eot_ids,
            add_bos,
        } = parts;
        let n = tokens.len();
        if n == 0 {
            return Err(Error::Tokenizer("the vocabulary is empty".into()));
        }
        let types = if token_types.is_empty() {
            vec![TokenType::Normal; n]
        } else if token_types.len() != n {
            return Err(Error::Tokenizer(format!(
                "{} token types for {n} tokens",
                token_types.len()
            )));
        } else {
            token_types
                .iter()
                .enumerate()
                .map(|(id, &code)| TokenType::from_gguf(id, code))
                .collect::<Result<Vec<_>>>()?
        };
        for (what, id) in [("BOS", bos_id), ("EOS", eos_id)]
            .into_iter()
            .chain(eot_ids.iter().map(|&id| ("end-of-turn", Some(id))))
        {
            if let Some(id) = id {
                if id as usize >= n {
                    return Err(Error::Tokenizer(format!(
                        "{what} id {id} is outside the vocabulary of {n} tokens"
                    )));
                }
            }
        }
        let bpe = Bpe::new(&tokens, &merges, &pre)?;

        let byte_decoder = ByteDecoder::new();
        let mut special = SpecialTokens::new();
        let mut pieces = Vec::new();
        let mut piece_ends = Vec::with_capacity(n);
        for (id, (text, &kind)) in tokens.iter().zip(&types).enumerate() {
            // `n` fits u32: Bpe::new checked it.
            let id32 = id as u32;
            match kind {
                TokenType::Normal => match byte_decoder.decode(text) {
                    Some(bytes) => pieces.extend_from_slice(&bytes),
                    None => {
                        return Err(Error::Tokenizer(format!(
                            "token {id} ({text:?}) is not in the byte-level alphabet"
                        )))
                    }
                },
                TokenType::Control | TokenType::Unknown => {
                    special.add(text, id32, false);
                    pieces.extend_from_slice(text.as_bytes());
                }
                TokenType::UserDefined => {
                    special.add(text, id32, true);
                    pieces.extend_from_slice(text.as_bytes());
                }
                TokenType::Unused | TokenType::Byte => pieces.extend_from_slice(text.as_bytes()),
            }
            piece_ends.push(pieces.len());
        }

        let mut eog_ids: Vec<u32> = eos_id.into_iter().chain(eot_ids).collect();
        eog_ids.extend(
            tokens
                .iter()
                .enumerate()
                .filter(|(_, text)| END_OF_GENERATION_TEXTS.contains(&text.as_str()))
                .map(|(id, _)| id as u32),
        );
        eog_ids.sort_unstable();
        eog_ids.dedup();

        Ok(Tokenizer {
            bpe,
            special,
            tokens,
            types,
            pieces,
            piece_ends,
            bos_id,
            eos_id,
            add_bos,
            eog_ids,
        })
    }

    /// Reads the `tokenizer.ggml.*` keys of a GGUF file. Only GPT-2 style
    /// byte-level BPE (`tokenizer.ggml.model = "gpt2"`) is supported.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Tokenizer> {
        let model = required(gguf, "tokenizer.ggml.model")?;
        let model = model
            .as_str()
            .ok_or_else(|| config("tokenizer.ggml.model", "not a string"))?;
        if model != "gpt2" {
            return Err(Error::Unsupported(format!(
                "tokenizer model `{model}` (tokenizer.ggml.model); only `gpt2` byte-level BPE is supported"
            )));
        }
        let optional_id = |key: &str| -> Result<Option<u32>> {
            gguf.get(key)
                .map(|v| {
                    v.as_u64()
                        .and_then(|id| u32::try_from(id).ok())
                        .ok_or_else(|| config(key, "not a token id"))
                })
                .transpose()
        };
        let token_types = match gguf.get("tokenizer.ggml.token_type") {
            None => Vec::new(),
            Some(v) => array(v, "tokenizer.ggml.token_type")?
                .iter()
                .map(|t| {
                    t.as_i64()
                        .and_then(|t| i32::try_from(t).ok())
                        .ok_or_else(|| config("tokenizer.ggml.token_type", "holds a non-integer"))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let pre = match gguf.get("tokenizer.ggml.pre") {
            None => {
                return Err(config(
                    "tokenizer.ggml.pre",
                    "missing: the pre-tokenizer must be named (e.g. qwen2)",
                ))
            }
            Some(v) => v
                .as_str()
                .ok_or_else(|| config("tokenizer.ggml.pre", "not a string"))?
                .to_owned(),
        };
        let add_bos = match gguf.get("tokenizer.ggml.add_bos_token") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| config("tokenizer.ggml.add_bos_token", "not a bool"))?,
        };
        let eot_ids = ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
            .into_iter()
            .filter_map(|key| optional_id(key).transpose())
            .collect::<Result<Vec<_>>>()?;
        Tokenizer::from_parts(TokenizerParts {
            tokens: strings(gguf, "tokenizer.ggml.tokens")?,
            merges: strings(gguf, "tokenizer.ggml.merges")?,
            token_types,
            pre,
            bos_id: optional_id("tokenizer.ggml.bos_token_id")?,
            eos_id: optional_id("tokenizer.ggml.eos_token_id")?,
            eot_ids,
            add_bos,
        })
    }

    /// The ids of `text`, starting with BOS when the model asks for it.
    /// With `parse_special`, control tokens written in the text (such as
    /// `<|im_start|>`) become their ids; without it they are plain text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.add_bos {
            ids.extend(self.bos_id);
        }
        for segment in self.special.split(text, parse_special) {
            match segment {
                Segment::Text(text) => self.bpe.encode_into(text, &mut ids)?,
                Segment::Special(id) => ids.push(id),
            }
        }
        Ok(ids)
    }

    /// The text of `ids`, special tokens written out; bytes that do not form
    /// UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_piece(id)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The bytes token `id` stands for. One token may hold part of a
    /// multi-byte character, so this is bytes, not text.
    pub fn token_piece(&self, id: u32) -> Result<&[u8]> {
        let i = self.check_id(id)?;
        let start = if i == 0 { 0 } else { self.piece_ends[i - 1] };
        Ok(&self.pieces[start..self.piece_ends[i]])
    }

    /// The vocabulary entry of `id` as stored in the model (byte-level chars
    /// for normal tokens).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        Ok(&self.tokens[self.check_id(id)?])
    }

    pub fn token_type(&self, id: u32) -> Result<TokenType> {
        Ok(self.types[self.check_id(id)?])
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Whether `encode` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Ids that end generation (EOS, end of turn, FIM separators), sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog_ids
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids.binary_search(&id).is_ok()
    }

    fn check_id(&self, id: u32) -> Result<usize> {
        let i = id as usize;
        if i < self.tokens.len() {
            Ok(i)
        } else {
            Err(Error::Tokenizer(format!(
                "token id {id} is outside the vocabulary of {} tokens",
                self.tokens.len()
            )))
        }
    }
}

fn config(key: &str, detail: &str) -> Error {
    Error::Config {
        key: key.to_owned(),
        detail: detail.to_owned(),
    }
}

fn required<'a>(gguf: &'a GgufFile, key: &str) -> Result<&'a Value> {
    gguf.get(key).ok_or_else(|| config(key, "missing"))
}

fn array<'a>(value: &'a Value, key: &str) -> Result<&'a Array> {
    value.as_array().ok_or_else(|| config(key, "not an array"))
}

fn strings(gguf: &GgufFile, key: &str) -> Result<Vec<String>> {
    array(required(gguf, key)?, key)?
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(config(key, "holds a non-string")),
        })
        .collect()
}

#[cfg(test)]
mod tests;
