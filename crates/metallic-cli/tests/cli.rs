//! The `metallic` binary on the default model: `inspect` and `tokenize`
//! output, stdin input, and errors as one line with a failing exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn model() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        metallic::fetch::resolve_model(None)
            .unwrap_or_else(|e| panic!("the default model is needed (or set METALLIC_MODEL): {e}"))
    })
}

fn metallic(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metallic"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metallic runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn json_of(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON value")
}

#[test]
fn inspect_json_lists_every_tensor_and_the_metadata() {
    let model = model().to_str().unwrap();
    let json = json_of(&metallic(&["inspect", "--json", "--model", model], None));
    assert_eq!(json["metadata"]["qwen2.block_count"], 24);
    assert_eq!(json["metadata"]["general.architecture"], "qwen2");
    let tensors = json["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 291);
    let mut by_type = BTreeMap::new();
    for t in tensors {
        for key in ["name", "type", "shape", "offset", "bytes"] {
            assert!(!t[key].is_null(), "{t} lacks {key}");
        }
        *by_type
            .entry(t["type"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    let expected: BTreeMap<String, i32> = [
        ("Q5_0", 133),
        ("F32", 121),
        ("Q8_0", 13),
        ("Q6_K", 12),
        ("Q4_K", 12),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(by_type, expected);
    let output = tensors
        .iter()
        .find(|t| t["name"] == "output.weight")
        .unwrap();
    assert_eq!(output["shape"], serde_json::json!([896, 151936]));
    assert_eq!(output["type"], "Q8_0");
}

#[test]
fn inspect_prints_a_summary_and_a_tensor_table() {
    let model = model().to_str().unwrap();
    let output = metallic(&["inspect", "--model", model], None);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("291 tensors"), "{text}");
    assert!(text.contains("qwen2.block_count = 24"));
    assert!(text.contains("file type Q4_K_M"), "{text}");
    assert!(text.contains("general.file_type = 15 (Q4_K_M)"), "{text}");
    assert!(text.contains("Q5_0 133, F32 121, Q8_0 13"));
    let row = text
        .lines()
        .find(|l| l.starts_with("output.weight "))
        .unwrap();
    assert!(
        row.contains("Q8_0") && row.contains("[896, 151936]"),
        "{row}"
    );
}

#[test]
fn tokenize_prints_ids_from_an_argument_or_stdin() {
    let model = model().to_str().unwrap();
    let text = "<|im_start|>user\nhi<|im_end|>\n";
    let expected = serde_json::json!({ "ids": [151644, 872, 198, 6023, 151645, 198] });
    let json = json_of(&metallic(
        &["tokenize", "--json", "--model", model, text],
        None,
    ));
    assert_eq!(json, expected);
    let json = json_of(&metallic(
        &["tokenize", "--json", "--model", model, "-"],
        Some(text),
    ));
    assert_eq!(json, expected);
    let plain = metallic(&["tokenize", "--model", model, "Hello, world!"], None);
    assert_eq!(String::from_utf8(plain.stdout).unwrap(), "9707 11 1879 0\n");
}

#[test]
fn a_missing_model_is_one_error_line_and_a_failing_exit() {
    let output = metallic(&["tokenize", "--model", "/nonexistent.gguf", "x"], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent.gguf"), "{stderr}");
}
