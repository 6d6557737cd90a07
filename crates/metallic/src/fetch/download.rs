//! Assembling a file from parts into the cache, verified before it is
//! trusted.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A file to fetch: its name in the cache and what it must hash to.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub file_name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl Artifact {
    /// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (see shared/fixtures/README.md).
    pub fn default_model() -> Artifact {
        Artifact {
            file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf".into(),
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".into(),
        }
    }
}

/// Where the parts come from; the parts concatenated in order are the file.
pub trait PartSource {
    fn part_count(&self) -> usize;
    /// Writes part `index` to `sink`. `scratch` is an empty directory the
    /// source may use and that is removed afterwards.
    fn write_part(&self, index: usize, scratch: &Path, sink: &mut dyn Write) -> Result<()>;
}

/// What a fetch reports as it goes, for the caller to draw (the library
/// draws nothing).
#[derive(Clone, Copy, Debug)]
pub enum FetchEvent<'a> {
    /// Fetching `artifact` into `dir` begins.
    Started {
        artifact: &'a Artifact,
        dir: &'a Path,
    },
    /// Another process is fetching into `dir`; this one waits for it.
    Waiting { dir: &'a Path },
    /// Part `index` (from 0) of `count` is being fetched.
    Part { index: usize, count: usize },
    /// This many bytes of the artifact are written so far.
    Written(u64),
    /// The fetch is over, done or failed.
    Finished,
}

/// The receiver of a fetch's `FetchEvent`s.
pub type OnProgress<'a> = &'a mut dyn FnMut(FetchEvent<'_>);

/// The path of `artifact` in `dir`, fetched from `source` unless a verified
/// copy is already there.
pub fn ensure_cached(
    dir: &Path,
    artifact: &Artifact,
    source: &dyn PartSource,
    on_progress: OnProgress<'_>,
) -> Result<PathBuf> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Fetch(format!(
            "the model cache {} is not a directory (METALLIC_HOME names the cache directory)",
            dir.display()
        )));
    }
    let path = dir.join(&artifact.file_name);
    let marker = dir.join(format!("{}.sha256", artifact.file_name));
    if is_trusted(&path, &marker, artifact)? {
        return Ok(path);
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let _lock = lock_dir(dir, on_progress)?;
    // The fetch this one waited for may have left the file in place.
    if is_trusted(&path, &marker, artifact)? {
        return Ok(path);
    }
    remove_leftovers(dir, artifact);
    // Names of this process's own: a concurrent fetch into the same cache
    // cannot write into them, and each rename is atomic.
    let pid = std::process::id();
    let partial = dir.join(format!("{}{PARTIAL}{pid}", artifact.file_name));
    let scratch = dir.join(format!("{SCRATCH}{pid}"));
    tracing::info!(file = artifact.file_name, dir = %dir.display(), "fetching");
    on_progress(FetchEvent::Started { artifact, dir });
    let assembled = assemble(&partial, &scratch, artifact, source, on_progress);
    on_progress(FetchEvent::Finished);
    // Best effort: what is left here is never trusted, only untidy.
    let _ = fs::remove_dir_all(&scratch);
    if let Err(e) = assembled {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &path).map_err(|e| {
        Error::Fetch(format!(
            "moving {} to {}: {e}",
            partial.display(),
            path.display()
        ))
    })?;
    record_digest(&marker, artifact);
    Ok(path)
}

/// Locks the cache directory for this fetch (released when the handle
/// drops), so that a second process fetching into it waits and then finds
/// the file there rather than downloading it again. A lock on the directory
/// itself leaves nothing behind.
#[cfg(unix)]
fn lock_dir(dir: &Path, on_progress: OnProgress<'_>) -> Result<File> {
    let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match handle.try_lock() {
        Ok(()) => return Ok(handle),
        Err(fs::TryLockError::WouldBlock) => {}
        Err(fs::TryLockError::Error(e)) => return Err(Error::io(dir, e)),
    }
    on_progress(FetchEvent::Waiting { dir });
    handle.lock().map_err(|e| Error::io(dir, e))?;
    Ok(handle)
}

/// Where directories cannot be locked, concurrent fetches each download
/// (their names are their own, so the result is still right).
#[cfg(not(unix))]
fn lock_dir(_: &Path, _: OnProgress<'_>) -> Result<()> {
    Ok(())
}

/// Writes the marker that spares later runs the hashing. A cache that cannot
/// be written (read-only) still serves the verified file: a warning.
fn record_digest(marker: &Path, artifact: &Artifact) {
    if let Err(e) = fs::write(marker, format!("{}\n", artifact.sha256)) {
        tracing::warn!(
            "cannot record the verified digest in {}: {e}; the file will be hashed again next time",
            marker.display()
        );
    }
}

/// What a fetch writes before the process id: `<name>.partial.<pid>` and
/// `.fetch-<pid>`.
const PARTIAL: &str = ".partial.";
const SCRATCH: &str = ".fetch-";

/// Removes what fetches killed midway left behind (their process is gone).
/// Where running processes cannot be listed (no `/proc`), leaves it.
fn remove_leftovers(dir: &Path, artifact: &Artifact) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let partial_prefix = format!("{}{PARTIAL}", artifact.file_name);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&partial_prefix)
            .or_else(|| name.strip_prefix(SCRATCH))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new("/proc").join(pid.to_string()).exists() {
                // Best effort: a leftover is never trusted, only untidy.
                let _ = fs::remove_file(entry.path());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A file is trusted when it has the right size and its digest has been
/// checked: recorded in the marker at download, or computed now (once) for
/// a file put there by other means.
fn is_trusted(path: &Path, marker: &Path, artifact: &Artifact) -> Result<bool> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == artifact.size => {}
        _ => return Ok(false),
    }
    if let Ok(recorded) = fs::read_to_string(marker) {
        if recorded.trim() == artifact.sha256 {
            return Ok(true);
        }
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    if hex(&hasher.finalize()) != artifact.sha256 {
        return Ok(false);
    }
    record_digest(marker, artifact);
    Ok(true)
}

/// Writes every part into `partial` and checks size and digest.
fn assemble(
    partial: &Path,
    scratch: &Path,
    artifact: &Artifact,
    source: &dyn PartSource,
    on_progress: OnProgress<'_>,
) -> Result<()> {
    let file = File::create(partial).map_err(|e| Error::io(partial, e))?;
    let mut sink = VerifyingWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
        limit: artifact.size,
        on_progress,
    };
    let count = source.part_count();
    for index in 0..count {
        tracing::debug!(part = index + 1, of = count, "fetching part");
        (sink.on_progress)(FetchEvent::Part { index, count });
        fs::create_dir_all(scratch).map_err(|e| Error::io(scratch, e))?;
        source.write_part(index, scratch, &mut sink)?;
        fs::remove_dir_all(scratch).map_err(|e| Error::io(scratch, e))?;
    }
    let VerifyingWriter {
        out,
        hasher,
        written,
        ..
    } = sink;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(partial, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(partial, e))?;
    if written != artifact.size {
        return Err(Error::Fetch(format!(
            "{}: the parts hold {written} bytes, expected {}",
            artifact.file_name, artifact.size
        )));
    }
    let digest = hex(&hasher.finalize());
    if digest != artifact.sha256 {
        return Err(Error::Fetch(format!(
            "{}: SHA-256 is {digest}, expected {}; the download is corrupt and was deleted",
            artifact.file_name, artifact.sha256
        )));
    }
    Ok(())
}

/// Hashes and counts what passes through, and refuses to write past the
/// expected size (a wrong source cannot fill the disk).
struct VerifyingWriter<'a, W: Write> {
    out: W,
    hasher: Sha256,
    written: u64,
    limit: u64,
    on_progress: OnProgress<'a>,
}

impl<W: Write> Write for VerifyingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            return Err(io::Error::other(format!(
                "the parts hold more than the expected {} bytes",
                self.limit
            )));
        }
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        (self.on_progress)(FetchEvent::Written(self.written));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Copies `reader` into `sink`, naming `what` in errors.
pub(crate) fn copy_part(reader: &mut dyn Read, sink: &mut dyn Write, what: &str) -> Result<()> {
    io::copy(reader, sink)
        .map(drop)
        .map_err(|e| Error::Fetch(format!("{what}: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
