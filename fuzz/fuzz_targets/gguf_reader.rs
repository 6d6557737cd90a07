//! Any bytes given to the GGUF reader must give a parsed file or an error,
//! never a panic, a hang or an allocation larger than the input warrants.
//! A parsed file's tensor views and its Qwen2 config must be safe to use.
//!
//! Run from fuzz/: `cargo +nightly fuzz run gguf_reader corpus seeds`
//! (seeds/ holds valid files written by `cargo run --example make_seeds`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use metallic::gguf::GgufFile;
use metallic::models::qwen2::config::Qwen2Config;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for info in file.tensors() {
        let bytes = file.tensor_data(info);
        assert_eq!(bytes.len(), info.bytes);
        assert_eq!(info.rows() * info.row_len(), info.n_elements());
    }
    for (_, value) in file.metadata() {
        let _ = value.to_json();
        let _ = value.to_string();
    }
    let _ = Qwen2Config::from_gguf(&file);
});
