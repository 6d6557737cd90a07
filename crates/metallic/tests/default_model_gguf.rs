//! The reader and config on the default model (facts from
//! shared/fixtures/README.md). Needs the model file:
//! `METALLIC_TEST_MODEL=/path/to/qwen.gguf cargo test -p metallic --test default_model_gguf -- --ignored`

use std::collections::BTreeMap;
use std::path::PathBuf;

use metallic::gguf::GgufFile;
use metallic::models::qwen2::config::Qwen2Config;
use metallic::DType;

#[test]
#[ignore = "needs the default model: set METALLIC_TEST_MODEL"]
fn default_model_index_and_config() {
    let path = PathBuf::from(std::env::var("METALLIC_TEST_MODEL").expect("METALLIC_TEST_MODEL"));
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.tensors().len(), 291);
    let mut by_type = BTreeMap::new();
    for t in f.tensors() {
        *by_type.entry(t.dtype).or_insert(0) += 1;
        assert_eq!(f.tensor_data(t).len(), t.bytes);
    }
    let expected = [
        (DType::F32, 121),
        (DType::Q5_0, 133),
        (DType::Q8_0, 13),
        (DType::Q4_K, 12),
        (DType::Q6_K, 12),
    ];
    assert_eq!(by_type, BTreeMap::from(expected));
    assert_eq!(
        f.get("qwen2.block_count").and_then(|v| v.as_u64()),
        Some(24)
    );
    let tokens = f.get("tokenizer.ggml.tokens").and_then(|v| v.as_array());
    assert_eq!(tokens.map(metallic::gguf::Array::len), Some(151_936));
    let template = f.get("tokenizer.chat_template").and_then(|v| v.as_str());
    assert_eq!(template.map(|t| t.chars().count()), Some(2507));
    let output = f.tensor("output.weight").unwrap();
    assert_eq!(
        (output.dtype, output.dims.as_slice()),
        (DType::Q8_0, &[896u64, 151_936][..])
    );

    let c = Qwen2Config::from_gguf(&f).unwrap();
    assert_eq!(
        (
            c.block_count,
            c.hidden_size,
            c.ffn_size,
            c.n_heads,
            c.n_kv_heads,
            c.head_dim
        ),
        (24, 896, 4864, 14, 2, 64)
    );
    assert_eq!((c.rope_base, c.rms_eps), (1e6, 1e-6));
    assert_eq!(
        (c.context_length, c.vocab_size, c.tied_embeddings),
        (32_768, 151_936, false)
    );
}
