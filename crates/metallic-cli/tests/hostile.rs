//! Bad settings and faults around the binary: each a clear message, and a
//! killed `metallic` leaves no child behind.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use metallic::testing::fresh_seed;
use metallic::testing::tiny_model::TinyModelFile;

fn metallic(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metallic"));
    command
        .args(args)
        .env_remove("METALLIC_MODEL")
        .env_remove("METALLIC_THREADS")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The error line, which ends stderr.
fn failure(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let last = stderr.trim().lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("metallic: error:"), "{stderr}");
    last
}

#[test]
fn a_perplexity_chunk_too_small_says_so() {
    let model = TinyModelFile::new(fresh_seed()).unwrap();
    let text = std::env::temp_dir().join(format!("metallic-small-{}.txt", fresh_seed()));
    std::fs::write(&text, "some text to score ".repeat(8)).unwrap();
    let output = metallic(
        &[
            "perplexity",
            "-m",
            model.path.to_str().unwrap(),
            "-c",
            "3",
            "-f",
            text.to_str().unwrap(),
        ],
        &[],
    )
    .output()
    .unwrap();
    let _ = std::fs::remove_file(&text);
    let stderr = failure(output);
    assert!(
        stderr.contains("too small") && stderr.contains("at least 4"),
        "{stderr}"
    );
}

#[test]
fn metallic_home_naming_a_file_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("home-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let output = metallic(
        &["tokenize", "x"],
        &[("METALLIC_HOME", file.to_str().unwrap())],
    )
    .output()
    .unwrap();
    let stderr = failure(output);
    assert!(
        stderr.contains("not a directory") && stderr.contains("home-file"),
        "{stderr}"
    );
}

/// The child is gone, or a zombie that nobody has reaped yet.
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn pip_dies_with_a_killed_metallic() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let pid_file = tmp.path().join("pip.pid");
    // A pip that hangs, as a slow download does.
    let python = bin.join("python3");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 60\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = tmp.path().join("cache");
    let mut child = metallic(
        &["tokenize", "x"],
        &[("PATH", &path), ("METALLIC_HOME", cache.to_str().unwrap())],
    )
    .spawn()
    .unwrap();
    let started = Instant::now();
    let pip = loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            if !pid.trim().is_empty() {
                break pid.trim().to_owned();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "pip never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while !is_dead(&pip) {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "pip {pip} outlived metallic"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GGUF file with no tensors and one metadata key: `items` u8s.
fn file_with_a_large_array(items: usize) -> tempfile::NamedTempFile {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes()); // version
    bytes.extend_from_slice(&0u64.to_le_bytes()); // tensors
    bytes.extend_from_slice(&1u64.to_le_bytes()); // metadata keys
    bytes.extend_from_slice(&3u64.to_le_bytes());
    bytes.extend_from_slice(b"big");
    bytes.extend_from_slice(&9u32.to_le_bytes()); // array
    bytes.extend_from_slice(&0u32.to_le_bytes()); // of u8
    bytes.extend_from_slice(&(items as u64).to_le_bytes());
    bytes.resize(bytes.len() + items, 7);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &bytes).unwrap();
    file
}

/// The largest resident size of any child this process has waited for.
#[cfg(unix)]
fn children_max_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes the struct it is given, which is a
    // plain-old-data value valid when zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    // Linux reports kilobytes.
    usage.ru_maxrss as u64 * 1024
}

/// Metadata arrays the engine does not use stay as compact as in the file:
/// decoded, 30 M u8 items took about 1 GB, and a JSON tree of them 2 GB more.
#[cfg(target_os = "linux")]
#[test]
fn large_metadata_arrays_cost_about_their_size_in_the_file() {
    const ITEMS: usize = 30_000_000;
    let file = file_with_a_large_array(ITEMS);
    let path = file.path().to_str().unwrap();
    let summary = metallic(&["inspect", "-m", path], &[]).output().unwrap();
    assert!(
        summary.status.success(),
        "{}",
        String::from_utf8_lossy(&summary.stderr)
    );
    let text = String::from_utf8_lossy(&summary.stdout);
    assert!(
        text.contains(&format!(
            "big = [7, 7, 7, 7, 7, 7, 7, 7, … ({ITEMS} items)]"
        )),
        "{text}"
    );
    let json = metallic(&["inspect", "--json", "-m", path], &[])
        .output()
        .unwrap();
    assert!(json.status.success());
    // Counted rather than parsed: a JSON tree would cost this test 1 GB.
    let out = String::from_utf8_lossy(&json.stdout);
    assert!(
        out.starts_with("{\"metadata\":{\"big\":[7,7,"),
        "{}",
        &out[..40]
    );
    assert_eq!(out.matches('7').count(), ITEMS);
    let rss = children_max_rss_bytes();
    assert!(rss < 400 << 20, "a child reached {} MB", rss >> 20);
}
