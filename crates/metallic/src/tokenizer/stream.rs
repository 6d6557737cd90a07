//! Decoding ids one at a time for display: text comes out only once it is
//! whole UTF-8, so a character split across two tokens is never shown half.

use super::Tokenizer;
use crate::error::Result;

/// The longest UTF-8 sequence is four bytes; a held-back tail is shorter.
const MAX_INCOMPLETE: usize = 3;

pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    /// Bytes of a character whose remaining bytes have not arrived yet.
    pending: Vec<u8>,
}

impl<'t> StreamDecoder<'t> {
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        StreamDecoder {
            tokenizer,
            pending: Vec::with_capacity(MAX_INCOMPLETE + 16),
        }
    }

    /// Adds one token and returns the text it completes (possibly empty).
    /// Bytes that can never become UTF-8 come out as U+FFFD.
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.pending
            .extend_from_slice(self.tokenizer.token_piece(id)?);
        let mut text = String::new();
        let mut rest = &self.pending[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid_up_to` marks a boundary of valid UTF-8.
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        // A character cut short at the end: wait for more.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.copy_within(start.., 0);
        self.pending.truncate(keep);
        Ok(text)
    }

    /// Ends the stream: any incomplete character left comes out as U+FFFD.
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}
