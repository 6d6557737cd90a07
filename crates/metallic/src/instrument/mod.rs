//! Dispatch instrumentation: each matrix product records what ran, where and
//! for how long; the records give a summary table and, optionally, a JSON
//! line per dispatch streamed to a file.
//!
//! Off by default. `METALLIC_PROFILE=1` turns it on; `METALLIC_PROFILE_JSONL=path`
//! turns it on and streams the records to `path`. When off, a caller pays one
//! load of a plain bool (`enabled()`) per dispatch and takes no timestamps.

mod record;
mod summary;

pub use record::DispatchRecord;
pub use summary::{ProfileSummary, SummaryRow};

use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

pub struct Instrumentation {
    enabled: bool,
    state: Mutex<State>,
}

struct State {
    records: Vec<DispatchRecord>,
    jsonl: Option<JsonlSink>,
}

struct JsonlSink {
    path: PathBuf,
    // Line-buffered: each record reaches the file as soon as it is written,
    // so a run that is interrupted still leaves every finished dispatch.
    out: LineWriter<File>,
}

impl Instrumentation {
    /// Reads `METALLIC_PROFILE` (`1`, `true`, `yes` or `on` enable) and
    /// `METALLIC_PROFILE_JSONL` (a path; enables and streams there). A JSONL
    /// file that cannot be created gets one warning; profiling stays on.
    pub fn from_env() -> Instrumentation {
        let flag = std::env::var("METALLIC_PROFILE").unwrap_or_default();
        let enabled = matches!(
            flag.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        );
        let jsonl = std::env::var_os("METALLIC_PROFILE_JSONL")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let wanted = enabled || jsonl.is_some();
        Instrumentation::new(wanted, jsonl).unwrap_or_else(|e| {
            tracing::warn!("METALLIC_PROFILE_JSONL: {e}; profiling without a JSONL file");
            Instrumentation::with_sink(true, None)
        })
    }

    /// `jsonl`: a file (created or truncated) to stream one JSON line per
    /// dispatch to; giving one enables the instrumentation.
    pub fn new(enabled: bool, jsonl: Option<PathBuf>) -> Result<Instrumentation> {
        let sink = match jsonl {
            None => None,
            Some(path) => {
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                Some(JsonlSink {
                    path,
                    out: LineWriter::new(file),
                })
            }
        };
        Ok(Instrumentation::with_sink(enabled || sink.is_some(), sink))
    }

    fn with_sink(enabled: bool, jsonl: Option<JsonlSink>) -> Instrumentation {
        Instrumentation {
            enabled,
            state: Mutex::new(State {
                records: Vec::new(),
                jsonl,
            }),
        }
    }

    /// Whether dispatches should be timed and recorded. Callers check this
    /// before taking a timestamp.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The JSONL file records stream to, if any.
    pub fn jsonl_path(&self) -> Option<PathBuf> {
        self.lock().jsonl.as_ref().map(|s| s.path.clone())
    }

    /// Keeps the record (and streams it as a JSON line) when enabled; does
    /// nothing otherwise. A failed JSONL write gets one warning and ends the
    /// streaming; the in-memory records go on.
    pub fn record(&self, r: DispatchRecord) {
        if !self.enabled {
            return;
        }
        let mut state = self.lock();
        if let Some(sink) = &mut state.jsonl {
            if let Err(e) = writeln!(sink.out, "{}", r.to_json_line()) {
                warn_write_failed(&sink.path, &e);
                state.jsonl = None;
            }
        }
        state.records.push(r);
    }

    /// Every record kept since construction or the last `clear`, in order.
    pub fn records(&self) -> Vec<DispatchRecord> {
        self.lock().records.clone()
    }

    pub fn summary(&self) -> ProfileSummary {
        ProfileSummary::from_records(&self.lock().records)
    }

    /// Forgets the kept records (lines already streamed stay in the file).
    pub fn clear(&self) {
        self.lock().records.clear();
    }

    // A panic while the lock was held cannot leave `State` half-updated (each
    // update is one push or one assignment), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn warn_write_failed(path: &Path, e: &std::io::Error) {
    tracing::warn!(
        "writing profile records to {}: {e}; JSONL streaming stopped",
        path.display()
    );
}

#[cfg(test)]
mod tests;
