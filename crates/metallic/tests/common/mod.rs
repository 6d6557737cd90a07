//! What tests on the real default model share: the model (fetched into the
//! cache on first use, or `$METALLIC_MODEL`), its tokenizer, and the
//! reference fixtures in `tests/fixtures`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use metallic::gguf::GgufFile;
use metallic::tokenizer::Tokenizer;

pub fn default_model() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        metallic::fetch::resolve_model(None)
            .unwrap_or_else(|e| panic!("the default model is needed (or set METALLIC_MODEL): {e}"))
    })
}

pub fn default_gguf() -> &'static GgufFile {
    static GGUF: OnceLock<GgufFile> = OnceLock::new();
    GGUF.get_or_init(|| GgufFile::open(default_model()).expect("the default model opens"))
}

pub fn default_tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::from_gguf(default_gguf()).expect("its tokenizer loads"))
}

/// `$METALLIC_FIXTURES`, else this crate's `tests/fixtures` (copies of
/// `shared/fixtures`, committed so a fresh clone has them).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("METALLIC_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    }
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} (set METALLIC_FIXTURES): {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array of ids")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}
