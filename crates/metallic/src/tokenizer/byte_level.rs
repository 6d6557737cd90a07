//! GPT-2's byte-level alphabet: every byte is shown as one printable char so
//! that a BPE vocabulary of strings can hold arbitrary bytes. Printable
//! Latin-1 bytes stand for themselves; the other 68 bytes (controls, space,
//! DEL, NBSP, soft hyphen …) are moved to U+0100 and up, in byte order.

/// The char that stands for each byte.
pub(crate) fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_shifted = 0u32;
    for (byte, slot) in table.iter_mut().enumerate() {
        let printable = matches!(byte, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            byte as u32
        } else {
            next_shifted += 1;
            0xff + next_shifted
        };
        // Every code here is below U+0200, hence a valid char.
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    table
}

/// Maps byte-level chars back to the bytes they stand for.
pub(crate) struct ByteDecoder {
    /// Indexed by char code; the alphabet lies entirely below U+0200.
    bytes: [Option<u8>; 0x200],
}

impl ByteDecoder {
    pub(crate) fn new() -> Self {
        let mut bytes = [None; 0x200];
        for (byte, ch) in byte_to_char().into_iter().enumerate() {
            bytes[ch as usize] = Some(byte as u8);
        }
        ByteDecoder { bytes }
    }

    /// The bytes a vocabulary entry stands for, or `None` when it holds a
    /// char outside the byte-level alphabet.
    pub(crate) fn decode(&self, text: &str) -> Option<Vec<u8>> {
        text.chars()
            .map(|ch| self.bytes.get(ch as usize).copied().flatten())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_is_a_bijection_onto_256_distinct_chars() {
        let table = byte_to_char();
        let mut seen = std::collections::HashSet::new();
        for ch in table {
            assert!(
                ch != '\0' && !ch.is_whitespace() && !ch.is_control(),
                "{ch:?}"
            );
            assert!(seen.insert(ch), "{ch:?} stands for two bytes");
        }
        let decoder = ByteDecoder::new();
        let all: String = table.iter().collect();
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decoder.decode(&all), Some(bytes));
    }

    #[test]
    fn well_known_pieces_decode_to_their_bytes() {
        let decoder = ByteDecoder::new();
        // 'Ġ' is the space, 'Ċ' the newline, as in every GPT-2 style vocabulary.
        assert_eq!(decoder.decode("Ġworld").as_deref(), Some(&b" world"[..]));
        assert_eq!(decoder.decode("ĊĊ").as_deref(), Some(&b"\n\n"[..]));
        assert_eq!(
            decoder.decode("<|im_end|>").as_deref(),
            Some(&b"<|im_end|>"[..])
        );
        assert_eq!(decoder.decode("日本"), None);
    }
}
