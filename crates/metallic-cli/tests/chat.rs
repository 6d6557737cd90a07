//! `metallic chat` driven through stdin on tiny random-weight models:
//! commands, multi-line messages, and a conversation past the context.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use metallic::testing::fresh_seed;
use metallic::testing::tiny_model::TinyModelFile;

fn chat(model: &TinyModelFile, extra: &[&str], stdin: &str) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metallic"))
        .args([
            "chat",
            "-m",
            model.path.to_str().unwrap(),
            "--temperature",
            "0",
            "--stats",
        ])
        .args(extra)
        .env_remove("METALLIC_MODEL")
        .env_remove("RUST_LOG")
        .env("METALLIC_HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("metallic runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn answers(stderr: &str) -> usize {
    stderr.matches("time to first token").count()
}

#[test]
fn commands_are_obeyed_and_unknown_ones_are_not_sent_to_the_model() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let err = stderr(&chat(
        &model,
        &["-n", "2"],
        "/help\n/sytem be brief\nhi\n/bye\nnot read\n",
    ));
    assert!(
        err.contains("/reset") && err.contains("/bye"),
        "/help lists: {err}"
    );
    assert!(err.contains("unknown command /sytem be brief"), "{err}");
    assert_eq!(answers(&err), 1, "{err}");
}

#[test]
fn triple_quotes_send_several_lines_as_one_message() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let err = stderr(&chat(
        &model,
        &["-n", "1"],
        "\"\"\"line one\nline two\n\"\"\"\n",
    ));
    assert_eq!(answers(&err), 1, "{err}");
    // ChatML around "line one\nline two" (17 byte tokens): 36 tokens.
    assert!(err.contains("36 prompt tokens"), "{err}");
}

#[test]
fn a_conversation_past_the_context_keeps_going_and_says_so_once() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let turns = "tell me more about it\n".repeat(8);
    let err = stderr(&chat(
        &model,
        &["-c", "96", "-n", "8", "--system", "be brief"],
        &turns,
    ));
    assert_eq!(answers(&err), 8, "{err}");
    assert_eq!(err.matches("outgrew the context").count(), 1, "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn chat_help_lists_the_commands() {
    let output = Command::new(env!("CARGO_BIN_EXE_metallic"))
        .args(["chat", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["/help", "/reset", "/exit", "/bye", "\"\"\""] {
        assert!(help.contains(command), "{command}: {help}");
    }
}
