//! Finding special tokens (`<|im_start|>`, `<tool_call>`, …) in text, so that
//! they become one id each and the text between them goes through BPE.

/// A piece of input text: plain text for BPE, or one special token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Special(u32),
}

struct Entry {
    text: String,
    id: u32,
    /// User-defined tokens are matched even when control tokens are not,
    /// as llama.cpp does.
    always: bool,
}

pub(crate) struct SpecialTokens {
    entries: Vec<Entry>,
}

impl SpecialTokens {
    pub(crate) fn new() -> Self {
        SpecialTokens {
            entries: Vec::new(),
        }
    }

    /// Registers a token; empty texts can never be matched and are skipped.
    pub(crate) fn add(&mut self, text: &str, id: u32, always: bool) {
        if !text.is_empty() {
            self.entries.push(Entry {
                text: text.to_owned(),
                id,
                always,
            });
        }
    }

    /// Cuts `text` at every special token, leftmost first and, among tokens
    /// starting at the same place, longest first. Control tokens count only
    /// when `parse_control` is set.
    pub(crate) fn split<'a>(&self, text: &'a str, parse_control: bool) -> Vec<Segment<'a>> {
        let active: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.always || parse_control)
            .collect();
        // Where each token next occurs at or after the cursor; refreshed only
        // when the cursor passes it, so the whole scan stays linear per token.
        let mut next: Vec<Option<usize>> = active.iter().map(|e| text.find(&e.text)).collect();
        let mut segments = Vec::new();
        let mut cursor = 0;
        loop {
            let best = next
                .iter()
                .enumerate()
                .filter_map(|(i, pos)| pos.map(|p| (p, std::cmp::Reverse(active[i].text.len()), i)))
                .min();
            let Some((start, _, i)) = best else {
                break;
            };
            if start > cursor {
                segments.push(Segment::Text(&text[cursor..start]));
            }
            segments.push(Segment::Special(active[i].id));
            cursor = start + active[i].text.len();
            for (pos, entry) in next.iter_mut().zip(&active) {
                if matches!(*pos, Some(p) if p < cursor) {
                    *pos = text[cursor..].find(&entry.text).map(|p| p + cursor);
                }
            }
        }
        if cursor < text.len() {
            segments.push(Segment::Text(&text[cursor..]));
        }
        segments
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Special, Text};

    fn tokens() -> SpecialTokens {
        let mut s = SpecialTokens::new();
        s.add("<|im_start|>", 1, false);
        s.add("<|im_end|>", 2, false);
        s.add("<tool_call>", 3, true);
        s.add("<|im", 4, false);
        s
    }

    #[test]
    fn control_tokens_split_only_when_asked() {
        let s = tokens();
        let text = "<|im_start|>user\nhi<|im_end|>\n<tool_call>x";
        assert_eq!(
            s.split(text, true),
            vec![
                Special(1),
                Text("user\nhi"),
                Special(2),
                Text("\n"),
                Special(3),
                Text("x")
            ]
        );
        assert_eq!(
            s.split(text, false),
            vec![
                Text("<|im_start|>user\nhi<|im_end|>\n"),
                Special(3),
                Text("x")
            ]
        );
    }

    #[test]
    fn the_longest_token_wins_at_one_place_and_repeats_are_all_found() {
        let s = tokens();
        assert_eq!(
            s.split("<|im<|im_end|><|im_end|>a<|im", true),
            vec![Special(4), Special(2), Special(2), Text("a"), Special(4)]
        );
        assert_eq!(s.split("", true), vec![]);
        assert_eq!(s.split("plain", true), vec![Text("plain")]);
    }
}
