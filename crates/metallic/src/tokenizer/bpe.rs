//! The byte-level BPE pipeline, built from a GGUF vocabulary with the
//! `tokenizers` crate: the pre-tokenizer's regex split, the byte-level
//! alphabet, then BPE merges by rank.

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::SplitDelimiterBehavior;

use crate::error::{Error, Result};

/// The split regex of `tokenizer.ggml.pre = "qwen2"`, as in Qwen2's
/// tokenizer.json (llama.cpp runs a case-expanded copy of it). Unlike GPT-4's,
/// digits split one at a time (`\p{N}`, not `\p{N}{1,3}`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split_pattern(pre: &str) -> Result<&'static str> {
    match pre {
        "qwen2" => Ok(QWEN2_SPLIT),
        other => Err(Error::Tokenizer(format!(
            "unknown pre-tokenizer `{other}` (tokenizer.ggml.pre); supported: qwen2"
        ))),
    }
}

/// Text (without special tokens) to ids.
pub(crate) struct Bpe {
    pipeline: tokenizers::Tokenizer,
}

impl Bpe {
    /// `merges` are GGUF's `"left right"` strings, highest priority first.
    pub(crate) fn new(tokens: &[String], merges: &[String], pre: &str) -> Result<Self> {
        let pattern = split_pattern(pre)?;
        let mut vocab = Vocab::default();
        vocab.reserve(tokens.len());
        for (id, text) in tokens.iter().enumerate() {
            let id = u32::try_from(id)
                .map_err(|_| Error::Tokenizer("vocabulary larger than 2^32 tokens".into()))?;
            // A repeated text keeps its first id, as llama.cpp's lookup does.
            vocab.entry(text.clone()).or_insert(id);
        }
        let merges = merges
            .iter()
            .enumerate()
            .map(|(rank, merge)| parse_merge(rank, merge))
            .collect::<Result<Vec<_>>>()?;
        let model = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building BPE from the vocabulary: {e}")))?;
        let split = Split::new(
            SplitPattern::Regex(pattern.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| Error::Tokenizer(format!("pre-tokenizer `{pre}` regex: {e}")))?;
        // The regex already split the text; ByteLevel only maps bytes to chars.
        let byte_level = ByteLevel::new(false, false, false);
        let mut pipeline = tokenizers::Tokenizer::new(model);
        pipeline.with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])));
        Ok(Bpe { pipeline })
    }

    /// Appends the ids of `text`, which must hold no special tokens.
    pub(crate) fn encode_into(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        let encoding = self
            .pipeline
            .encode_fast(text, false)
            .map_err(|e| Error::Tokenizer(format!("encoding text: {e}")))?;
        ids.extend_from_slice(encoding.get_ids());
        Ok(())
    }
}

/// Splits a merge at its separating space. Byte-level pieces hold no spaces,
/// but the search starts after the first char, as llama.cpp's does.
fn parse_merge(rank: usize, merge: &str) -> Result<(String, String)> {
    let first_len = merge.chars().next().map_or(0, char::len_utf8);
    match merge[first_len..].find(' ') {
        Some(at) => {
            let at = first_len + at;
            Ok((merge[..at].to_owned(), merge[at + 1..].to_owned()))
        }
        None => Err(Error::Tokenizer(format!(
            "merge {rank} ({merge:?}) has no space between its two pieces"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_split_at_the_first_space_after_the_first_char() {
        assert_eq!(parse_merge(0, "Ġ t").unwrap(), ("Ġ".into(), "t".into()));
        assert_eq!(parse_merge(0, "ab cd").unwrap(), ("ab".into(), "cd".into()));
        assert!(parse_merge(7, "abc")
            .unwrap_err()
            .to_string()
            .contains("merge 7"));
        assert!(parse_merge(0, "").is_err());
    }

    #[test]
    fn an_unknown_pre_tokenizer_is_named_in_the_error() {
        let err = Bpe::new(&[], &[], "llama-bpe").err().unwrap();
        assert!(err.to_string().contains("llama-bpe"), "{err}");
    }
}
