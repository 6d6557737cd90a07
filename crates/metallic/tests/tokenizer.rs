//! The tokenizer of the default model against llama.cpp's `llama-tokenize`
//! (tests/fixtures/tokenizer-llamacpp.json, copied from shared/fixtures) and the model's stated facts.

mod common;

use common::{default_tokenizer, fixture, ids};
use metallic::tokenizer::StreamDecoder;

fn cases() -> Vec<(String, Vec<u32>)> {
    let fixture = fixture("tokenizer-llamacpp.json");
    let cases = fixture["cases"].as_array().expect("cases").clone();
    assert!(!cases.is_empty());
    cases
        .iter()
        .map(|case| {
            let text = case["text"].as_str().expect("text").to_owned();
            (text, ids(&case["ids"]))
        })
        .collect()
}

#[test]
fn every_fixture_text_gives_llama_cpp_ids_and_decodes_back() {
    let tok = default_tokenizer();
    for (text, expected) in cases() {
        let ids = tok.encode(&text, true).unwrap();
        assert_eq!(ids, expected, "{text:?}");
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
}

#[test]
fn streaming_every_fixture_never_shows_half_a_character() {
    let tok = default_tokenizer();
    for (text, expected) in cases() {
        let mut stream = StreamDecoder::new(tok);
        let mut shown = String::new();
        for &id in &expected {
            let piece = stream.push(id).unwrap();
            assert!(!piece.contains('\u{FFFD}'), "{text:?}: {piece:?}");
            shown.push_str(&piece);
        }
        shown.push_str(&stream.finish());
        assert_eq!(shown, text);
    }
}

#[test]
fn vocabulary_and_end_of_generation_ids_match_the_model_facts() {
    // shared/fixtures/README.md: 151,936 tokens; BOS 151643, EOS 151645, no
    // BOS added; end of generation 151643, 151645 and 151662-151664.
    let tok = default_tokenizer();
    assert_eq!(tok.vocab_size(), 151_936);
    assert_eq!(tok.bos_id(), Some(151_643));
    assert_eq!(tok.eos_id(), Some(151_645));
    assert!(!tok.add_bos());
    assert_eq!(
        tok.eog_ids(),
        &[151_643, 151_645, 151_662, 151_663, 151_664]
    );
}

#[test]
fn special_tokens_are_text_unless_parsing_is_asked_for() {
    let tok = default_tokenizer();
    let plain = tok.encode("<|im_end|>", false).unwrap();
    assert!(plain.len() > 1 && !plain.contains(&151_645), "{plain:?}");
    assert_eq!(tok.encode("<|im_end|>", true).unwrap(), vec![151_645]);
    assert_eq!(tok.decode(&plain).unwrap(), "<|im_end|>");
}
