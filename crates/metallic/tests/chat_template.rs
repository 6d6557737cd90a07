//! The default model's chat template against llama.cpp's prompt for the chat
//! case of tests/fixtures/golden-llamacpp.json.

mod common;

use common::{default_gguf, default_tokenizer, fixture, ids};
use metallic::tokenizer::{ChatMessage, ChatTemplate};

#[test]
fn the_chat_case_renders_to_llama_cpp_prompt_ids() {
    let golden = fixture("golden-llamacpp.json");
    let case = golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["mode"] == "chat_template")
        .expect("a chat case");
    let messages: Vec<ChatMessage> = case["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            ChatMessage::new(
                m["role"].as_str().expect("role"),
                m["content"].as_str().expect("content"),
            )
        })
        .collect();
    let expected = ids(&case["prompt_ids"]);
    assert_eq!(expected.len(), 29);

    let tok = default_tokenizer();
    let template = ChatTemplate::from_gguf(default_gguf(), tok).unwrap();
    let prompt = template.render(&messages, true).unwrap();
    if let Some(text) = case["prompt_text"].as_str() {
        assert_eq!(prompt, text);
    }
    assert_eq!(tok.encode(&prompt, true).unwrap(), expected);
}

#[test]
fn without_a_system_message_the_template_supplies_its_own() {
    let tok = default_tokenizer();
    let template = ChatTemplate::from_gguf(default_gguf(), tok).unwrap();
    let prompt = template.render(&[ChatMessage::user("hi")], true).unwrap();
    assert!(
        prompt.starts_with("<|im_start|>system\nYou are Qwen"),
        "{prompt}"
    );
    assert!(prompt.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
}
