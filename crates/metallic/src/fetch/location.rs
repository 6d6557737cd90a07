//! Where the model cache lives: `$METALLIC_HOME`, else
//! `$XDG_CACHE_HOME/metallic`, else `~/.cache/metallic`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};

pub fn cache_dir() -> Result<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// `cache_dir` with the environment passed in (empty values count as unset).
pub fn cache_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("METALLIC_HOME") {
        return Ok(home);
    }
    // The XDG spec says to ignore relative paths.
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("metallic"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".cache").join("metallic"));
    }
    Err(Error::Fetch(
        "no cache directory: set METALLIC_HOME (or HOME), or pass --model PATH".into(),
    ))
}
