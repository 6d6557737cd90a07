//! Options as llama.cpp users type them, the defaults `--help` shows, and
//! the small outputs (`bench`'s model columns, `tokenize --pieces`,
//! completions), on tiny random-weight models.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use metallic::gguf::GgufFile;
use metallic::testing::fresh_seed;
use metallic::testing::tiny_model::{TinyDims, TinyModelFile};
use metallic::DType;

fn metallic(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metallic"))
        .args(args)
        .env_remove("METALLIC_MODEL")
        .env_remove("METALLIC_THREADS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metallic runs");
    drop(child.stdin.take());
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

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&succeeded(output)).expect("one JSON value")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn short_flags_mean_what_the_long_ones_do() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let short = json(&metallic(&[
        "generate", "-m", path, "-n", "5", "-t", "1", "-s", "42", "-c", "64", "--json", "hello",
    ]));
    let long = json(&metallic(&[
        "generate",
        "--model",
        path,
        "--max-tokens",
        "5",
        "--threads",
        "1",
        "--seed",
        "42",
        "--ctx-size",
        "64",
        "--json",
        "hello",
    ]));
    assert_eq!(short["generated_ids"], long["generated_ids"]);
    assert!(short["generated_ids"].as_array().unwrap().len() <= 5);
}

#[test]
fn max_tokens_minus_one_runs_to_the_end_of_generation_or_of_the_context() {
    let dims = TinyDims {
        context: 1024,
        ..TinyDims::DEFAULT
    };
    let model = TinyModelFile::write(dims, DType::F32, false, fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let out = json(&metallic(&[
        "generate",
        "-m",
        path,
        "-n",
        "-1",
        "-c",
        "600",
        "--temperature",
        "0",
        "--json",
        "hi",
    ]));
    let generated = out["generated_ids"].as_array().unwrap().len();
    match out["stop_reason"].as_str().unwrap() {
        // The last token is sampled but finds no room to be evaluated.
        "context_full" => assert_eq!(2 + generated, 601),
        "end_of_generation" => assert!(2 + generated < 600),
        other => panic!("-n -1 stopped for {other}"),
    }
    let err = stderr(&metallic(&["generate", "-m", path, "-n", "-2", "x"]));
    assert!(err.contains("-2") && err.contains("-1"), "{err}");
}

#[test]
fn a_prompt_file_and_a_system_message_are_taken_as_given() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let file = std::env::temp_dir().join(format!("metallic-prompt-{}.txt", fresh_seed()));
    std::fs::File::create(&file)
        .unwrap()
        .write_all(b"once\nupon")
        .unwrap();
    let f = file.to_str().unwrap();
    let out = json(&metallic(&[
        "generate", "-m", path, "-n", "1", "-f", f, "--json",
    ]));
    let expected: Vec<u64> = b"once\nupon".iter().map(|&b| u64::from(b)).collect();
    assert_eq!(out["prompt_ids"], serde_json::json!(expected));
    let err = stderr(&metallic(&[
        "generate",
        "-m",
        path,
        "-f",
        f,
        "also a prompt",
    ]));
    assert!(err.contains("--file"), "{err}");
    let _ = std::fs::remove_file(&file);
    let err = stderr(&metallic(&["generate", "-m", path, "-f", f]));
    assert!(err.contains(f), "a missing prompt file is named: {err}");

    // --system alone applies the chat template: <|im_start|> (257) opens it.
    let out = json(&metallic(&[
        "generate", "-m", path, "-n", "1", "--system", "be brief", "--json", "hi",
    ]));
    let ids = out["prompt_ids"].as_array().unwrap();
    assert_eq!(ids[0], 257, "{out}");
}

#[test]
fn help_shows_the_real_defaults() {
    let help = |command: &str| succeeded(&metallic(&[command, "--help"]));
    assert!(
        help("perplexity").contains("[default: 512"),
        "{}",
        help("perplexity")
    );
    assert!(help("bench").contains("longest test"), "{}", help("bench"));
    assert!(
        help("generate").contains("[default: 4096"),
        "{}",
        help("generate")
    );
    assert!(help("generate").contains("-n, --max-tokens"));
}

#[test]
fn bench_skips_a_zero_test_and_names_the_model() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let run = |pp: &str, tg: &str| {
        json(&metallic(&[
            "bench",
            "-m",
            path,
            "--prompt-tokens",
            pp,
            "--gen-tokens",
            tg,
            "--repetitions",
            "1",
            "--json",
        ]))
    };
    let tests = |out: &serde_json::Value| -> Vec<String> {
        out["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["test"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tests(&run("0", "4")), ["tg4"]);
    let out = run("8", "0");
    assert_eq!(tests(&out), ["pp8"]);
    let gguf = GgufFile::open(&model.path).unwrap();
    let params: u64 = gguf
        .tensors()
        .iter()
        .map(|t| t.dims.iter().product::<u64>())
        .sum();
    let bytes: u64 = gguf.tensors().iter().map(|t| t.bytes as u64).sum();
    assert_eq!(out["model"]["params"], params);
    assert_eq!(out["model"]["size_bytes"], bytes);
    assert!(out["model"]["name"].is_string());
    let err = stderr(&metallic(&[
        "bench",
        "-m",
        path,
        "--prompt-tokens",
        "0",
        "--gen-tokens",
        "0",
    ]));
    assert!(err.contains("nothing to measure"), "{err}");
    let table = succeeded(&metallic(&[
        "bench",
        "-m",
        path,
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "0",
        "--repetitions",
        "1",
    ]));
    let header = table.lines().next().unwrap();
    for column in ["model", "size", "params"] {
        assert!(header.contains(column), "{table}");
    }
}

#[test]
fn threads_above_the_cores_are_capped_with_a_warning() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let output = metallic(&[
        "bench",
        "-m",
        model.path.to_str().unwrap(),
        "-t",
        "10000",
        "--prompt-tokens",
        "4",
        "--gen-tokens",
        "0",
        "--repetitions",
        "1",
        "--json",
    ]);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(json(&output)["threads"], cores);
    assert!(stderr(&output).contains("10000"), "{}", stderr(&output));
}

#[test]
fn tokenize_pieces_show_each_tokens_text() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let text = succeeded(&metallic(&[
        "tokenize",
        "-m",
        path,
        "--pieces",
        "a\n<|im_end|>",
    ]));
    assert_eq!(text, "97 \"a\"\n10 \"\\n\"\n258 \"<|im_end|>\"\n");
    let out = json(&metallic(&[
        "tokenize", "-m", path, "--pieces", "--json", "ab",
    ]));
    assert_eq!(
        out,
        serde_json::json!({ "ids": [97, 98], "pieces": ["a", "b"] })
    );
}

#[test]
fn one_token_is_said_in_the_singular() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let output = metallic(&[
        "generate",
        "-m",
        model.path.to_str().unwrap(),
        "-n",
        "1",
        "x",
    ]);
    succeeded(&output);
    let err = stderr(&output);
    assert!(err.contains("1 prompt token,"), "{err}");
    assert!(!err.contains("1 tokens"), "{err}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = succeeded(&metallic(&["completions", shell]));
        assert!(
            script.contains("max-tokens") && script.contains("perplexity"),
            "{shell}"
        );
    }
    let err = stderr(&metallic(&["completions", "cmd.exe"]));
    assert!(err.contains("cmd.exe"), "{err}");
}
