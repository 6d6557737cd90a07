//! The on-disk cache of compiled kernel modules, so a second process start
//! pays no compile. Files are named by a digest of everything that shapes the
//! machine code: the full source, the compile options, the architecture and
//! the driver and NVRTC versions. A file is written under a temporary name and
//! renamed into place, so a reader never sees half a file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where compiled modules live: `$METALLIC_HOME/kernels`, else
/// `$XDG_CACHE_HOME/metallic/kernels`, else `~/.cache/metallic/kernels`.
pub(crate) fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("METALLIC_HOME") {
        return Some(PathBuf::from(home).join("kernels"));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(cache).join("metallic").join("kernels"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache/metallic/kernels"))
}

/// Hex SHA-256 over `parts`, each prefixed by its length so that no two
/// different lists of parts give the same bytes.
pub(crate) fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        DiskCache { dir }
    }

    fn path(&self, name: &str, digest: &str) -> PathBuf {
        self.dir.join(format!("{name}-{digest}.cubin"))
    }

    /// The stored module, if there is one.
    pub(crate) fn load(&self, name: &str, digest: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(name, digest)).ok()
    }

    /// Stores a module: written to a unique temporary file, then renamed.
    pub(crate) fn store(&self, name: &str, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let final_path = self.path(name, digest);
        let temp = temp_path(&final_path);
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, &final_path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }
}

fn temp_path(final_path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name = final_path.as_os_str().to_owned();
    name.push(format!(".tmp.{}.{nanos}", std::process::id()));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_separates_parts() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_eq!(digest(&[b"x"]), digest(&[b"x"]));
    }

    #[test]
    fn store_then_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("metallic-kc-{}", std::process::id()));
        let cache = DiskCache::new(dir.clone());
        assert!(cache.load("k", "d").is_none());
        cache.store("k", "d", b"module").unwrap();
        assert_eq!(cache.load("k", "d").as_deref(), Some(&b"module"[..]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
