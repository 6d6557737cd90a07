//! Tokenizer behaviour on a tiny hand-made vocabulary. Agreement with
//! llama.cpp on the real model is checked in tests/tokenizer.rs.

use proptest::prelude::*;

use super::byte_level::byte_to_char;
use super::*;

const MERGES: &[&str] = &[
    "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "2 0",
];
const SPECIALS: &[(&str, i32)] = &[
    ("<|endoftext|>", 3),
    ("<|im_start|>", 3),
    ("<|im_end|>", 3),
    ("<tool_call>", 4),
    ("[PAD1]", 5),
    ("<|file_sep|>", 3),
];

/// Every byte, then each merge's result, then the special tokens.
fn parts() -> TokenizerParts {
    let mut tokens: Vec<String> = byte_to_char().iter().map(|c| c.to_string()).collect();
    tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    let mut token_types = vec![1; tokens.len()];
    for (text, kind) in SPECIALS {
        tokens.push(text.to_string());
        token_types.push(*kind);
    }
    let eos = tokens.iter().position(|t| t == "<|im_end|>").unwrap() as u32;
    let bos = tokens.iter().position(|t| t == "<|endoftext|>").unwrap() as u32;
    TokenizerParts {
        tokens,
        merges: MERGES.iter().map(|m| m.to_string()).collect(),
        token_types,
        pre: "qwen2".into(),
        bos_id: Some(bos),
        eos_id: Some(eos),
        eot_ids: Vec::new(),
        add_bos: false,
    }
}

fn tiny() -> Tokenizer {
    Tokenizer::from_parts(parts()).unwrap()
}

fn id(tok: &Tokenizer, text: &str) -> u32 {
    (0..tok.vocab_size() as u32)
        .find(|&i| tok.token_text(i).unwrap() == text)
        .unwrap_or_else(|| panic!("{text:?} not in the vocabulary"))
}

#[test]
fn merges_apply_and_words_keep_their_leading_space() {
    let tok = tiny();
    assert_eq!(
        tok.encode("hello world", true).unwrap(),
        vec![id(&tok, "hello"), id(&tok, "Ġworld")]
    );
    assert_eq!(tok.encode("hell", true).unwrap(), vec![id(&tok, "hell")]);
}

#[test]
fn digits_split_one_at_a_time_even_where_a_merge_exists() {
    let tok = tiny();
    let digits: Vec<u32> = ["2", "0", "2", "4"].iter().map(|d| id(&tok, d)).collect();
    assert_eq!(tok.encode("2024", false).unwrap(), digits);
}

#[test]
fn control_tokens_parse_only_when_asked_user_defined_always() {
    let tok = tiny();
    let text = "<|im_start|>hello<|im_end|><tool_call>";
    let parsed = tok.encode(text, true).unwrap();
    assert_eq!(
        parsed,
        vec![
            id(&tok, "<|im_start|>"),
            id(&tok, "hello"),
            id(&tok, "<|im_end|>"),
            id(&tok, "<tool_call>")
        ]
    );
    let plain = tok.encode(text, false).unwrap();
    assert!(!plain.contains(&id(&tok, "<|im_start|>")));
    assert_eq!(plain.last(), Some(&id(&tok, "<tool_call>")));
    assert_eq!(tok.decode(&plain).unwrap(), text);
    // Unused tokens are never matched in text.
    assert!(!tok
        .encode("[PAD1]", true)
        .unwrap()
        .contains(&id(&tok, "[PAD1]")));
}

#[test]
fn bos_is_added_only_when_the_model_asks() {
    let mut with_bos = parts();
    with_bos.add_bos = true;
    let tok = Tokenizer::from_parts(with_bos).unwrap();
    let ids = tok.encode("hello", true).unwrap();
    assert_eq!(ids, vec![id(&tok, "<|endoftext|>"), id(&tok, "hello")]);
    assert_eq!(tiny().encode("", true).unwrap(), Vec::<u32>::new());
}

#[test]
fn end_of_generation_ids_come_from_eos_metadata_and_token_texts() {
    let mut with_eot = parts();
    let eot = id(&tiny(), "hell");
    with_eot.eot_ids = vec![eot];
    let tok = Tokenizer::from_parts(with_eot).unwrap();
    let mut expected = [
        id(&tok, "<|endoftext|>"),
        id(&tok, "<|im_end|>"),
        id(&tok, "<|file_sep|>"),
        eot,
    ];
    expected.sort_unstable();
    assert_eq!(tok.eog_ids(), &expected[..]);
    assert!(tok.is_eog(eot) && !tok.is_eog(id(&tok, "<|im_start|>")));
}

/// Spoils one thing in otherwise good parts.
type Spoil = fn(&mut TokenizerParts);

#[test]
fn bad_parts_are_errors_that_say_what_is_wrong() {
    let cases: [(Spoil, &str); 8] = [
        (|p| p.token_types.truncate(10), "token types"),
        (|p| p.token_types[3] = 9, "unknown token type 9"),
        (|p| p.eos_id = Some(1 << 20), "EOS id"),
        (|p| p.pre = "gpt-4o".into(), "gpt-4o"),
        (|p| p.tokens[40] = "日本".into(), "byte-level"),
        (|p| p.merges.push("hello".into()), "merge"),
        (|p| p.merges.push("x yz".into()), "BPE"),
        (|p| p.tokens.clear(), "empty"),
    ];
    for (spoil, needle) in cases {
        let mut p = parts();
        spoil(&mut p);
        let err = Tokenizer::from_parts(p).err().expect(needle);
        assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
    }
    let tok = tiny();
    assert!(tok.decode(&[tok.vocab_size() as u32]).is_err());
    assert!(tok.token_piece(u32::MAX).is_err());
}

#[test]
fn a_character_split_across_tokens_streams_out_whole() {
    let tok = tiny();
    // No merges touch these bytes: each of the emoji's four bytes is a token.
    let ids = tok.encode("a👍", false).unwrap();
    assert_eq!(ids.len(), 5);
    let mut stream = StreamDecoder::new(&tok);
    let out: Vec<String> = ids.iter().map(|&i| stream.push(i).unwrap()).collect();
    assert_eq!(out, ["a", "", "", "", "👍"]);
    assert_eq!(stream.finish(), "");
}

#[test]
fn a_stream_cut_mid_character_or_holding_invalid_bytes_shows_replacements() {
    let tok = tiny();
    let byte = |b: u8| id(&tok, &byte_to_char()[b as usize].to_string());
    let mut stream = StreamDecoder::new(&tok);
    // A lone continuation byte can never become text.
    assert_eq!(stream.push(byte(0x80)).unwrap(), "\u{FFFD}");
    assert_eq!(stream.push(byte(0xF0)).unwrap(), "");
    assert_eq!(stream.push(byte(0x9F)).unwrap(), "");
    assert_eq!(stream.push(byte(b'x')).unwrap(), "\u{FFFD}x");
    assert_eq!(stream.push(byte(0xE2)).unwrap(), "");
    assert_eq!(stream.finish(), "\u{FFFD}");
}

proptest! {
    #[test]
    fn any_text_round_trips_and_streams_to_the_same_text(text in "\\PC{0,40}|[ \t\n\r0-9a-z'👍é你]{0,40}") {
        let tok = tiny();
        let ids = tok.encode(&text, false).unwrap();
        prop_assert_eq!(&tok.decode(&ids).unwrap(), &text);
        let mut stream = StreamDecoder::new(&tok);
        let mut streamed = String::new();
        for &i in &ids {
            streamed.push_str(&stream.push(i).unwrap());
        }
        streamed.push_str(&stream.finish());
        prop_assert_eq!(streamed, text);
    }
}
