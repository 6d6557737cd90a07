//! The binary's ends: a closed stdout is a quiet success, a full device a
//! clear error, Ctrl-C a clean stop that still reports (on tiny
//! random-weight models, no download needed).

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use metallic::testing::fresh_seed;
use metallic::testing::tiny_model::{TinyDims, TinyModelFile};
use metallic::DType;

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metallic"));
    command
        .args(args)
        .env_remove("METALLIC_MODEL")
        .env_remove("METALLIC_THREADS")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn feed(child: &mut Child, stdin: &str) {
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).unwrap();
}

/// Runs with stdout a pipe whose reading end is already closed, so that
/// every write fails with EPIPE, as under `| head` once head has left.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = command(args).stdout(writer).spawn().expect("metallic runs");
    feed(&mut child, "");
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_is_a_quiet_success_for_every_command_that_prints() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    let text = std::env::temp_dir().join(format!("metallic-pipe-{}.txt", fresh_seed()));
    std::fs::write(&text, "Closed pipes are a normal end. ".repeat(4)).unwrap();
    let cases: &[&[&str]] = &[
        &["generate", "--model", path, "--max-tokens", "8", "hello"],
        &[
            "generate",
            "--model",
            path,
            "--max-tokens",
            "8",
            "--json",
            "hi",
        ],
        &["inspect", "--model", path],
        &["inspect", "--json", "--model", path],
        &["tokenize", "--model", path, "hello"],
        &[
            "bench",
            "--model",
            path,
            "--prompt-tokens",
            "8",
            "--gen-tokens",
            "2",
            "--repetitions",
            "1",
        ],
        &[
            "perplexity",
            "--model",
            path,
            "--ctx-size",
            "16",
            "--file",
            text.to_str().unwrap(),
        ],
    ];
    for args in cases {
        let output = with_closed_stdout(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{args:?}: {:?} {stderr}",
            output.status
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error"),
            "{args:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_file(&text);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_device_is_one_clear_error() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let path = model.path.to_str().unwrap();
    for args in [
        &["generate", "--model", path, "--max-tokens", "4", "hello"][..],
        &["inspect", "--json", "--model", path][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut child = command(args).stdout(full).spawn().expect("metallic runs");
        feed(&mut child, "");
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("metallic: error: <stdout>"), "{stderr}");
        assert!(last.contains("No space left on device"), "{stderr}");
    }
}

/// A tiny model with room for a prompt long enough that its prefill lasts
/// far longer than the test waits before pressing Ctrl-C.
fn long_context_model() -> TinyModelFile {
    let dims = TinyDims {
        context: 1 << 17,
        ..TinyDims::DEFAULT
    };
    TinyModelFile::write(dims, DType::F32, false, fresh_seed()).unwrap()
}

fn interrupt_after(child: &mut Child, wait: Duration) {
    std::thread::sleep(wait);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_a_long_prefill_stops_generate_and_it_still_reports() {
    let model = long_context_model();
    let path = model.path.to_str().unwrap();
    let prompt = "abcdefgh".repeat(12_000);
    for json in [true, false] {
        let mut args = vec![
            "generate",
            "--model",
            path,
            "--threads",
            "1",
            "--ctx-size",
            "131072",
            "--max-tokens",
            "100000",
        ];
        if json {
            args.push("--json");
        }
        args.push("-");
        let mut child = command(&args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("metallic runs");
        feed(&mut child, &prompt);
        interrupt_after(&mut child, Duration::from_millis(1500));
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        if json {
            let value: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("the JSON still comes");
            assert_eq!(value["stop_reason"], "interrupted");
            assert_eq!(value["generated_ids"], serde_json::json!([]));
        } else {
            let stats = stderr.lines().last().unwrap_or_default();
            assert!(
                stats.contains("prompt tokens") && stats.contains("(interrupted)"),
                "{stderr}"
            );
        }
    }
}
