//! `generate`, `chat`, `perplexity` and `bench` on a tiny random-weight
//! model (no download needed), and option errors as one clear message
//! with a failing exit code.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use metallic::testing::fresh_seed;
use metallic::testing::tiny_model::TinyModelFile;

fn metallic(args: &[&str], stdin: &str) -> Output {
    metallic_with_env(args, stdin, &[])
}

fn metallic_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metallic"))
        .args(args)
        .env_remove("METALLIC_MODEL")
        .env_remove("METALLIC_THREADS")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metallic runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "should fail");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_options_are_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["generate", "--no-such-option", "x"], "--no-such-option"),
        (&["generate", "--temperature", "hot", "x"], "hot"),
        (&["generate", "--top-p", "1.5", "x"], "top-p"),
        (&["generate", "--temperature", "-1", "x"], "temperature"),
        (&["generate", "--ctx-size", "0", "x"], "ctx-size"),
        (&["generate", "--device", "tpu", "x"], "tpu"),
        (&["bench", "--prompt-tokens", "12,x"], "x"),
        (&["perplexity"], "--file"),
        (&["nonsense"], "nonsense"),
    ];
    for (args, named) in cases {
        let stderr = failed(&metallic(args, ""));
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_so() {
    let stderr = failed(&metallic(&["generate", "--device", "cuda", "x"], ""));
    assert!(stderr.contains("cuda"), "{stderr}");
}

#[test]
fn a_missing_model_file_is_one_line_and_a_failure() {
    let stderr = failed(&metallic(
        &["generate", "--model", "/no/such/model.gguf", "x"],
        "",
    ));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("metallic: error:"), "{stderr}");
}

#[test]
fn generate_json_on_a_tiny_model_has_every_key() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let args = [
        "generate",
        "--model",
        path,
        "--json",
        "--temperature",
        "0",
        "--max-tokens",
        "6",
        "--threads",
        "1",
        "hello",
    ];
    let stdout = succeeded(&metallic(&args, ""));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    // The tiny tokenizer has one token per byte.
    let prompt: Vec<u64> = b"hello".iter().map(|&b| u64::from(b)).collect();
    assert_eq!(json["prompt_ids"], serde_json::json!(prompt));
    let generated = json["generated_ids"].as_array().unwrap();
    assert!(generated.len() <= 6);
    assert!(json["text"].is_string());
    assert!(json["stop_reason"].is_string());
    for key in ["prefill_tokens_per_s", "ttft_ms"] {
        assert!(
            json["timings"][key].as_f64().is_some_and(f64::is_finite),
            "{key}"
        );
    }
    assert!(json["timings"].get("decode_tokens_per_s").is_some());
    // Greedy is reproducible.
    let again: serde_json::Value = serde_json::from_str(&succeeded(&metallic(&args, ""))).unwrap();
    assert_eq!(json["generated_ids"], again["generated_ids"]);
}

#[test]
fn generate_streams_text_and_ends_with_a_stats_line() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let output = metallic(
        &[
            "generate",
            "--model",
            path,
            "--max-tokens",
            "4",
            "--seed",
            "7",
            "--chat",
            "-",
        ],
        "hi",
    );
    succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stats = stderr.lines().last().unwrap_or_default();
    for part in ["prompt tokens", "time to first token", "prefill", "decode"] {
        assert!(stats.contains(part), "{stats}");
    }
}

#[test]
fn perplexity_on_a_tiny_model_is_finite() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let text = std::env::temp_dir().join(format!("metallic-ppl-{}.txt", fresh_seed()));
    std::fs::write(
        &text,
        "The quick brown fox jumps over the lazy dog. ".repeat(4),
    )
    .unwrap();
    let output = metallic(
        &[
            "perplexity",
            "--model",
            model.path.to_str().unwrap(),
            "--file",
            text.to_str().unwrap(),
            "--ctx-size",
            "32",
        ],
        "",
    );
    let _ = std::fs::remove_file(&text);
    let stdout = succeeded(&output);
    let last = stdout.lines().last().unwrap();
    let value: f64 = last
        .strip_prefix("perplexity: ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no perplexity in {stdout}"));
    // 180 bytes, chunks of 32: five chunks, each running value printed.
    assert!(value.is_finite() && value >= 1.0, "{value}");
    assert_eq!(stdout.matches('[').count(), 5, "{stdout}");
}

#[test]
fn bench_json_reports_each_test() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let stdout = succeeded(&metallic(
        &[
            "bench",
            "--model",
            model.path.to_str().unwrap(),
            "--prompt-tokens",
            "8,16",
            "--gen-tokens",
            "4",
            "--repetitions",
            "2",
            "--json",
        ],
        "",
    ));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let tests: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["test"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["pp8", "pp16", "tg4"]);
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["tokens_per_s"].as_array().unwrap().len(), 2);
        assert!(r["mean"].as_f64().is_some_and(|m| m > 0.0));
    }
}

#[test]
fn chat_answers_each_line_and_leaves_at_end_of_input() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let output = metallic(
        &[
            "chat",
            "--model",
            model.path.to_str().unwrap(),
            "--max-tokens",
            "3",
            "--temperature",
            "0",
            "--stats",
        ],
        "hi\n/reset\nhello again\n",
    );
    succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("time to first token").count(), 2, "{stderr}");
    assert!(stderr.contains("conversation forgotten"), "{stderr}");
}

#[test]
fn verbose_and_rust_log_show_the_engine_log_on_stderr() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let args = ["generate", "--model", path, "--max-tokens", "1", "x"];
    let logged = |output: Output| {
        succeeded(&output);
        String::from_utf8_lossy(&output.stderr).contains("INFO")
    };
    assert!(!logged(metallic(&args, "")), "quiet by default");
    let verbose: Vec<&str> = ["-v"].iter().chain(&args).copied().collect();
    assert!(logged(metallic(&verbose, "")));
    let output = metallic(&[&args[..], &["--verbose"]].concat(), "");
    assert!(String::from_utf8_lossy(&output.stderr).contains("loaded"));
    assert!(logged(metallic_with_env(
        &args,
        "",
        &[("RUST_LOG", "info")]
    )));
    // RUST_LOG decides over --verbose.
    assert!(!logged(metallic_with_env(
        &verbose,
        "",
        &[("RUST_LOG", "error")]
    )));
}
